package workshop.room;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.StringDeserializer;
import workshop.Room;
import workshop.check.LearnerMessages;

/**
 * Reads the room's progress topic from its beginning into a {@link DashboardState}, on a thread of
 * its own, until closed. Read-only: it joins no consumer group and commits nothing, so any number of
 * dashboards (and each restart) see every grade, and none of them changes what another reads.
 *
 * <ol>
 *   <li>Wait for the topic: no learner may have graded yet. Look again every second.</li>
 *   <li>Assign every partition and seek to the beginning; note where each ends now.</li>
 *   <li>Poll; each record is a grade, or counted as malformed and skipped.</li>
 *   <li>Once past the ends noted in 2, the dashboard has caught up with the room.</li>
 * </ol>
 */
final class ProgressReader implements Runnable, AutoCloseable {

    static final Duration TOPIC_CHECK_WHILE_MISSING = Duration.ofSeconds(1);
    static final Duration TOPIC_CHECK = Duration.ofSeconds(10); // partitions added to the topic later are read too
    static final Duration POLL = Duration.ofMillis(500);
    static final Duration BACK_OFF = Duration.ofSeconds(2);

    private final String bootstrap;
    private final Properties clientConfig;
    private final DashboardState state;
    private final CountDownLatch stop = new CountDownLatch(1);
    private final CountDownLatch caughtUp = new CountDownLatch(1);
    private final Thread thread;
    private volatile KafkaConsumer<String, String> consumer;

    ProgressReader(String bootstrap, Properties clientConfig, DashboardState state) {
        this.bootstrap = bootstrap;
        this.clientConfig = clientConfig;
        this.state = state;
        this.thread = new Thread(this, "dashboard-reader");
        this.thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Waits at most {@code bound} for the grades that were in the topic at the start; true once read. */
    boolean awaitCaughtUp(Duration bound) throws InterruptedException {
        return caughtUp.await(bound.toMillis(), TimeUnit.MILLISECONDS);
    }

    Properties consumerConfig() {
        Properties config = new Properties();
        config.putAll(clientConfig); // the login, when the room's broker wants one
        // The room's broker.
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // Keys are learner ids, values one grade event as JSON text.
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // No group.id: the dashboard assigns itself every partition, so it commits nowhere and
        // shares nothing with another dashboard. Said out loud so no default ever tries to commit.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Reading must not create the topic: the first learner's grade does, with the broker's defaults.
        config.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        // A position lost (the topic deleted and made again) starts over at the beginning, like the first read.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // How the broker's logs name this client.
        config.put(ConsumerConfig.CLIENT_ID_CONFIG, "workshop-dashboard");
        // partitionsFor, endOffsets and position give up in 10 s, not 60: the loop then tries again.
        config.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000);
        return config;
    }

    @Override
    public void run() {
        try (KafkaConsumer<String, String> client = new KafkaConsumer<>(consumerConfig())) {
            consumer = client;
            Set<TopicPartition> assigned = Set.of();
            Map<TopicPartition, Long> endsAtStart = null;
            long nextTopicCheck = System.nanoTime();
            while (stop.getCount() > 0) {
                try {
                    if (System.nanoTime() - nextTopicCheck >= 0) {
                        Set<TopicPartition> partitions = partitions(client);
                        if (!partitions.isEmpty() && !partitions.equals(assigned)) {
                            Set<TopicPartition> added = new HashSet<>(partitions);
                            added.removeAll(assigned);
                            client.assign(partitions);
                            client.seekToBeginning(added);
                            assigned = partitions;
                            if (endsAtStart == null) {
                                endsAtStart = client.endOffsets(partitions);
                            }
                        }
                        state.topicFound(!assigned.isEmpty());
                        nextTopicCheck = System.nanoTime() + (assigned.isEmpty() ? TOPIC_CHECK_WHILE_MISSING : TOPIC_CHECK).toNanos();
                    }
                    if (assigned.isEmpty()) {
                        state.problem(null);
                        caughtUp.countDown(); // nothing to catch up with: no grade yet
                        stop.await(TOPIC_CHECK_WHILE_MISSING.toMillis(), TimeUnit.MILLISECONDS);
                        continue;
                    }
                    for (ConsumerRecord<String, String> record : client.poll(POLL)) {
                        read(record);
                    }
                    state.problem(null);
                    if (caughtUp.getCount() > 0 && reached(client, endsAtStart)) {
                        caughtUp.countDown();
                    }
                } catch (WakeupException e) {
                    // close() woke the poll: the loop's condition ends it
                } catch (KafkaException e) {
                    // a login refused, a broker gone: show why on the page and try again
                    state.problem("cannot read " + Room.PROGRESS_TOPIC + " at " + bootstrap + ": " + rootMessage(e));
                    stop.await(BACK_OFF.toMillis(), TimeUnit.MILLISECONDS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (KafkaException e) {
            state.problem("cannot read " + Room.PROGRESS_TOPIC + " at " + bootstrap + ": " + rootMessage(e));
        } finally {
            caughtUp.countDown();
        }
    }

    private void read(ConsumerRecord<String, String> record) {
        if (record.value() == null) {
            state.skipMalformed();
            return;
        }
        GradeEvent event;
        try {
            event = GradeEvent.parse(record.value());
        } catch (IllegalArgumentException e) {
            state.skipMalformed(); // a learner's client is old or broken; the room goes on
            return;
        }
        state.accept(event);
    }

    private static Set<TopicPartition> partitions(KafkaConsumer<String, String> client) {
        List<PartitionInfo> infos = client.partitionsFor(Room.PROGRESS_TOPIC, Duration.ofSeconds(5));
        if (infos == null) {
            return Set.of();
        }
        return infos.stream().map(info -> new TopicPartition(info.topic(), info.partition())).collect(Collectors.toUnmodifiableSet());
    }

    private static boolean reached(KafkaConsumer<String, String> client, Map<TopicPartition, Long> ends) {
        if (ends == null) {
            return false;
        }
        for (Map.Entry<TopicPartition, Long> end : ends.entrySet()) {
            if (client.position(end.getKey(), Duration.ofSeconds(5)) < end.getValue()) {
                return false;
            }
        }
        return true;
    }

    static String rootMessage(Throwable failure) {
        List<Throwable> causes = LearnerMessages.causes(failure);
        Throwable root = causes.get(causes.size() - 1);
        String message = root.getMessage() != null ? root.getMessage() : root.getClass().getSimpleName();
        return message.lines().findFirst().orElse(message);
    }

    /** Stops reading and closes the consumer, waiting at most 10 s for it. */
    @Override
    public void close() {
        stop.countDown();
        KafkaConsumer<String, String> client = consumer;
        if (client != null) {
            client.wakeup();
        }
        try {
            thread.join(Duration.ofSeconds(10).toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
