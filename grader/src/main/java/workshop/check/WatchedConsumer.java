package workshop.check;

import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.consumer.OffsetCommitCallback;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.metrics.KafkaMetric;

/**
 * A real consumer with a checker's eyes on it: it notes every record {@code poll()} handed out,
 * every commit (sync or async, with its offsets, and inside which rebalance callback), and every
 * rebalance callback, and keeps a copy of its assignment that other threads may read while the
 * consumer's own thread polls. Nothing is faked: every call goes to the real consumer.
 *
 * <p>A listener passed to {@code subscribe} is wrapped, so the checker learns when partitions
 * were revoked, assigned or lost, and which commits the listener made. Events of all watched
 * consumers share one sequence, so a checker can tell what happened after what.
 */
public final class WatchedConsumer<K, V> implements Consumer<K, V> {

    private static final AtomicLong SEQUENCE = new AtomicLong();

    /** Where a commit was made: in the caller's own code, or inside a rebalance callback. */
    public enum Context { POLL_LOOP, REVOKED, ASSIGNED, LOST }

    /** A record that {@code poll()} returned to this consumer. */
    public record Polled(long sequence, String consumer, TopicPartition partition, long offset) {
        public String id() {
            return "p" + partition.partition() + "@" + offset;
        }
    }

    /** A commit call: {@code offsets} is null for the no-argument forms (commit the positions). */
    public record Commit(long sequence, String consumer, boolean sync, Context context, Map<TopicPartition, OffsetAndMetadata> offsets) {
    }

    /** A rebalance callback that ran: partitions revoked, assigned or lost. */
    public record Rebalance(long sequence, String consumer, Context kind, Set<TopicPartition> partitions) {
    }

    private final Consumer<K, V> delegate;
    private final String name;
    private final List<Polled> polled = new CopyOnWriteArrayList<>();
    private final List<Commit> commits = new CopyOnWriteArrayList<>();
    private final List<Rebalance> rebalances = new CopyOnWriteArrayList<>();
    private volatile Set<TopicPartition> assignment = Set.of();
    private volatile Context context = Context.POLL_LOOP;
    private volatile boolean closed;

    public WatchedConsumer(Consumer<K, V> delegate, String name) {
        this.delegate = delegate;
        this.name = name;
    }

    /** The next number of the shared sequence: events after this call have a larger one. */
    public static long mark() {
        return SEQUENCE.incrementAndGet();
    }

    public String name() {
        return name;
    }

    public List<Polled> polled() {
        return List.copyOf(polled);
    }

    public List<Commit> commits() {
        return List.copyOf(commits);
    }

    public List<Rebalance> rebalances() {
        return List.copyOf(rebalances);
    }

    /**
     * The partitions this consumer owns, as its rebalance callbacks (or {@code assign}) said; safe
     * from any thread. Revoked partitions leave it before the consumer lets the group know they are
     * free, so two consumers of one group never show the same partition.
     */
    public Set<TopicPartition> assignmentSnapshot() {
        return assignment;
    }

    public boolean isClosed() {
        return closed;
    }

    private ConsumerRebalanceListener watch(ConsumerRebalanceListener listener) {
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                during(Context.REVOKED, partitions, () -> listener.onPartitionsRevoked(partitions));
                Set<TopicPartition> now = new HashSet<>(assignment);
                now.removeAll(partitions);
                assignment = Set.copyOf(now);
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                Set<TopicPartition> now = new HashSet<>(assignment);
                now.addAll(partitions);
                assignment = Set.copyOf(now);
                during(Context.ASSIGNED, partitions, () -> listener.onPartitionsAssigned(partitions));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                during(Context.LOST, partitions, () -> listener.onPartitionsLost(partitions));
                Set<TopicPartition> now = new HashSet<>(assignment);
                now.removeAll(partitions);
                assignment = Set.copyOf(now);
            }
        };
    }

    private void during(Context kind, Collection<TopicPartition> partitions, Runnable callback) {
        rebalances.add(new Rebalance(SEQUENCE.incrementAndGet(), name, kind, Set.copyOf(partitions)));
        context = kind;
        try {
            callback.run();
        } finally {
            context = Context.POLL_LOOP;
        }
    }

    private void noteCommit(boolean sync, Map<TopicPartition, OffsetAndMetadata> offsets) {
        commits.add(new Commit(SEQUENCE.incrementAndGet(), name, sync, context, offsets == null ? null : Map.copyOf(offsets)));
    }

    @Override
    public ConsumerRecords<K, V> poll(Duration timeout) {
        ConsumerRecords<K, V> records = delegate.poll(timeout);
        for (ConsumerRecord<K, V> record : records) {
            polled.add(new Polled(SEQUENCE.incrementAndGet(), name, new TopicPartition(record.topic(), record.partition()), record.offset()));
        }
        // The snapshot follows the rebalance callbacks, not assignment(): right after a revocation
        // callback, the consumer of KIP-848 may still list the revoked partitions for a moment.
        return records;
    }

    @Override
    public void subscribe(Collection<String> topics, ConsumerRebalanceListener listener) {
        delegate.subscribe(topics, watch(listener));
    }

    /** For the subscribe forms without a listener: the snapshot still needs the callbacks. */
    private static final ConsumerRebalanceListener NO_LISTENER = new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        }
    };

    @Override
    public void subscribe(Collection<String> topics) {
        delegate.subscribe(topics, watch(NO_LISTENER));
    }

    @Override
    public void subscribe(Pattern pattern, ConsumerRebalanceListener listener) {
        delegate.subscribe(pattern, watch(listener));
    }

    @Override
    public void subscribe(Pattern pattern) {
        delegate.subscribe(pattern, watch(NO_LISTENER));
    }

    @Override
    public void subscribe(SubscriptionPattern pattern, ConsumerRebalanceListener listener) {
        delegate.subscribe(pattern, watch(listener));
    }

    @Override
    public void subscribe(SubscriptionPattern pattern) {
        delegate.subscribe(pattern, watch(NO_LISTENER));
    }

    @Override
    public void commitSync() {
        noteCommit(true, null);
        delegate.commitSync();
    }

    @Override
    public void commitSync(Duration timeout) {
        noteCommit(true, null);
        delegate.commitSync(timeout);
    }

    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets) {
        noteCommit(true, offsets);
        delegate.commitSync(offsets);
    }

    @Override
    public void commitSync(Map<TopicPartition, OffsetAndMetadata> offsets, Duration timeout) {
        noteCommit(true, offsets);
        delegate.commitSync(offsets, timeout);
    }

    @Override
    public void commitAsync() {
        noteCommit(false, null);
        delegate.commitAsync();
    }

    @Override
    public void commitAsync(OffsetCommitCallback callback) {
        noteCommit(false, null);
        delegate.commitAsync(callback);
    }

    @Override
    public void commitAsync(Map<TopicPartition, OffsetAndMetadata> offsets, OffsetCommitCallback callback) {
        noteCommit(false, offsets);
        delegate.commitAsync(offsets, callback);
    }

    @Override
    public void close() {
        try {
            delegate.close();
        } finally {
            closed();
        }
    }

    @Override
    @SuppressWarnings("deprecation")
    public void close(Duration timeout) {
        try {
            delegate.close(timeout);
        } finally {
            closed();
        }
    }

    @Override
    public void close(CloseOptions option) {
        try {
            delegate.close(option);
        } finally {
            closed();
        }
    }

    private void closed() {
        closed = true;
        assignment = Set.of();
    }

    @Override
    public Set<TopicPartition> assignment() {
        return delegate.assignment();
    }

    @Override
    public Set<String> subscription() {
        return delegate.subscription();
    }

    @Override
    public void assign(Collection<TopicPartition> partitions) {
        delegate.assign(partitions);
        assignment = Set.copyOf(partitions);
    }

    @Override
    public void unsubscribe() {
        delegate.unsubscribe();
        assignment = Set.copyOf(delegate.assignment());
    }

    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {
        delegate.registerMetricForSubscription(metric);
    }

    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
        delegate.unregisterMetricFromSubscription(metric);
    }

    @Override
    public void seek(TopicPartition partition, long offset) {
        delegate.seek(partition, offset);
    }

    @Override
    public void seek(TopicPartition partition, OffsetAndMetadata offsetAndMetadata) {
        delegate.seek(partition, offsetAndMetadata);
    }

    @Override
    public void seekToBeginning(Collection<TopicPartition> partitions) {
        delegate.seekToBeginning(partitions);
    }

    @Override
    public void seekToEnd(Collection<TopicPartition> partitions) {
        delegate.seekToEnd(partitions);
    }

    @Override
    public long position(TopicPartition partition) {
        return delegate.position(partition);
    }

    @Override
    public long position(TopicPartition partition, Duration timeout) {
        return delegate.position(partition, timeout);
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions) {
        return delegate.committed(partitions);
    }

    @Override
    public Map<TopicPartition, OffsetAndMetadata> committed(Set<TopicPartition> partitions, Duration timeout) {
        return delegate.committed(partitions, timeout);
    }

    @Override
    public Uuid clientInstanceId(Duration timeout) {
        return delegate.clientInstanceId(timeout);
    }

    @Override
    public Map<MetricName, ? extends Metric> metrics() {
        return delegate.metrics();
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        return delegate.partitionsFor(topic);
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic, Duration timeout) {
        return delegate.partitionsFor(topic, timeout);
    }

    @Override
    public Map<String, List<PartitionInfo>> listTopics() {
        return delegate.listTopics();
    }

    @Override
    public Map<String, List<PartitionInfo>> listTopics(Duration timeout) {
        return delegate.listTopics(timeout);
    }

    @Override
    public Set<TopicPartition> paused() {
        return delegate.paused();
    }

    @Override
    public void pause(Collection<TopicPartition> partitions) {
        delegate.pause(partitions);
    }

    @Override
    public void resume(Collection<TopicPartition> partitions) {
        delegate.resume(partitions);
    }

    @Override
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestampsToSearch) {
        return delegate.offsetsForTimes(timestampsToSearch);
    }

    @Override
    public Map<TopicPartition, OffsetAndTimestamp> offsetsForTimes(Map<TopicPartition, Long> timestampsToSearch, Duration timeout) {
        return delegate.offsetsForTimes(timestampsToSearch, timeout);
    }

    @Override
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions) {
        return delegate.beginningOffsets(partitions);
    }

    @Override
    public Map<TopicPartition, Long> beginningOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return delegate.beginningOffsets(partitions, timeout);
    }

    @Override
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions) {
        return delegate.endOffsets(partitions);
    }

    @Override
    public Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        return delegate.endOffsets(partitions, timeout);
    }

    @Override
    public OptionalLong currentLag(TopicPartition partition) {
        return delegate.currentLag(partition);
    }

    @Override
    public ConsumerGroupMetadata groupMetadata() {
        return delegate.groupMetadata();
    }

    @Override
    public void enforceRebalance() {
        delegate.enforceRebalance();
    }

    @Override
    public void enforceRebalance(String reason) {
        delegate.enforceRebalance(reason);
    }

    @Override
    public void wakeup() {
        delegate.wakeup();
    }
}
