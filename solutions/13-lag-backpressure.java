///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.RecordHandler;
import workshop.Workshop;

/**
 * Lab 13: lag and backpressure.
 *
 * A consumer whose work is slower than the producers falls behind: its lag grows. Lag is what
 * an operator watches, from outside, with the Admin client. The consumer itself must keep
 * calling poll() however slow the work is, or its group evicts it; so the work runs on a
 * worker thread behind a bounded buffer, and when that buffer is full the consumer pauses its
 * partitions instead of waiting.
 *
 * Stages, mirrored in main:
 *   1. lag per partition: the group's committed offset against the partition's end offset;
 *   2. a slow consumer: poll, hand records to a worker through a bounded buffer, pause when it
 *      is full, resume when it has room, commit what the worker finished;
 *   3. producers write in bursts, one record's work stalls for longer than max.poll.interval.ms,
 *      and a chart of the lag per partition, one line per second, shows it falling and rising.
 */
class LagBackpressure {

    /** How long poll() may wait for records: also how soon the loop gets back to pause, resume and commit. */
    static final Duration POLL_TIMEOUT = Duration.ofMillis(100);

    // tag::lag[]
    // tag::lag-partitions[]
    /**
     * The group's lag on every partition of these topics: how many offsets lie between where
     * the group would resume (its committed offset) and the partition's end offset. A partition
     * the group never committed counts from its log start offset: with auto.offset.reset=earliest,
     * every record still in it is still to be read.
     */
    static Map<TopicPartition, Long> lag(Admin admin, String groupId, Collection<String> topics) throws Exception {
        // Every partition of every topic: a partition without a commit is behind too, not absent.
        List<TopicPartition> partitions = new ArrayList<>();
        for (TopicDescription topic : admin.describeTopics(topics).allTopicNames().get().values()) {
            topic.partitions().forEach(p -> partitions.add(new TopicPartition(topic.name(), p.partition())));
        }
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get();
        // end::lag-partitions[]
        // tag::lag-offsets[]
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
        for (TopicPartition tp : partitions) {
            latest.put(tp, OffsetSpec.latest()); // the end offset: the offset the NEXT record will get
            earliest.put(tp, OffsetSpec.earliest()); // the log start offset: the oldest record still kept
        }
        Map<TopicPartition, ListOffsetsResultInfo> ends = admin.listOffsets(latest).all().get();
        Map<TopicPartition, ListOffsetsResultInfo> starts = admin.listOffsets(earliest).all().get();
        Map<TopicPartition, Long> lag = new TreeMap<>(BY_PARTITION);
        for (TopicPartition tp : partitions) {
            OffsetAndMetadata commit = committed.get(tp);
            // The committed offset is the next record to read, the end offset the next to be written: no +1 or -1.
            long from = commit != null ? commit.offset() : starts.get(tp).offset();
            lag.put(tp, ends.get(tp).offset() - from);
        }
        return lag;
    }
    // end::lag-offsets[]
    // end::lag[]

    // tag::slow-consumer[]
    /**
     * Reads the consumer's partitions until {@code keepGoing} turns false, with the work done by
     * a worker thread that takes records from {@code buffer}. The poll thread never waits for the
     * work: it stays a member of its group however slow the work is.
     */
    static void consumeSlowly(Consumer<String, String> consumer, BlockingQueue<ConsumerRecord<String, String>> buffer,
                              RecordHandler work, BooleanSupplier keepGoing) throws Exception {
        // Records poll() returned that did not fit into the buffer yet: at most one poll's worth.
        Deque<ConsumerRecord<String, String>> waiting = new ArrayDeque<>();
        Worker worker = new Worker(buffer, work);
        try {
            while (keepGoing.getAsBoolean()) {
                // tag::backpressure[]
                // poll() never waits for the work: that is what keeps the member in its group.
                consumer.poll(POLL_TIMEOUT).forEach(waiting::add);
                // offer(), never put(): a full buffer must not block the poll thread.
                while (!waiting.isEmpty() && buffer.offer(waiting.peekFirst())) {
                    waiting.removeFirst();
                }
                if (waiting.isEmpty()) {
                    consumer.resume(consumer.paused());
                } else {
                    // Every partition: one still fetching would keep adding records the buffer has no room for.
                    consumer.pause(consumer.assignment());
                }
                Map<TopicPartition, OffsetAndMetadata> done = worker.takeFinished();
                if (!done.isEmpty()) {
                    consumer.commitSync(done); // what the worker finished, not what poll() returned
                }
                // end::backpressure[]
            }
        } finally {
            worker.close();
        }
        Map<TopicPartition, OffsetAndMetadata> done = worker.takeFinished(); // the last records the worker finished
        if (!done.isEmpty()) {
            consumer.commitSync(done);
        }
    }
    // end::slow-consumer[]

    /**
     * The worker thread, given: takes records from the buffer one at a time, does the slow work,
     * and notes per partition the offset after the last record it finished.
     */
    static final class Worker implements AutoCloseable {
        private final Map<TopicPartition, OffsetAndMetadata> finished = new ConcurrentHashMap<>();
        private final AtomicReference<Exception> failure = new AtomicReference<>();
        private final Thread thread;

        Worker(BlockingQueue<ConsumerRecord<String, String>> buffer, RecordHandler work) {
            thread = new Thread(() -> {
                try {
                    while (true) {
                        ConsumerRecord<String, String> record = buffer.take();
                        work.handle(record);
                        // Done: the group may skip it from now on. The next offset, as always (lab 10).
                        finished.put(new TopicPartition(record.topic(), record.partition()), new OffsetAndMetadata(record.offset() + 1));
                    }
                } catch (InterruptedException stop) {
                    // close() stops the worker; records still in the buffer are read again by the group's next owner
                } catch (Exception e) {
                    failure.set(e);
                }
            }, "slow-worker");
            thread.setDaemon(true);
            thread.start();
        }

        /**
         * Per partition, the offset after the last record the worker finished since the last call
         * (empty when it finished nothing new). Throws what the work threw, if it failed.
         */
        Map<TopicPartition, OffsetAndMetadata> takeFinished() throws Exception {
            Exception failed = failure.get();
            if (failed != null) {
                throw failed;
            }
            Map<TopicPartition, OffsetAndMetadata> taken = new HashMap<>();
            for (TopicPartition tp : List.copyOf(finished.keySet())) {
                OffsetAndMetadata offset = finished.remove(tp);
                if (offset != null) {
                    taken.put(tp, offset);
                }
            }
            return taken;
        }

        @Override
        public void close() throws InterruptedException {
            thread.interrupt();
            thread.join(10_000);
        }
    }

    static final java.util.Comparator<TopicPartition> BY_PARTITION =
            java.util.Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    // ---- the demo: bursts, a stall, and the lag drawn once a second ---------------------------

    static final int PARTITIONS = 3;
    static final int BUFFER = 50;
    static final Duration MAX_POLL_INTERVAL = Duration.ofSeconds(3);
    static final Duration WORK_PER_RECORD = Duration.ofMillis(4);
    static final Duration STALL = Duration.ofSeconds(5);

    static Properties consumerConfig(Cluster cluster, String groupId) {
        Properties config = cluster.clientConfig();
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // Only the code commits, and only what the worker finished.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // A new group starts at the beginning: the first burst is already waiting.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // 5 minutes by default; short here, so that a poll thread stuck for seconds would be evicted in the demo.
        config.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, (int) MAX_POLL_INTERVAL.toMillis());
        // At most this many records per poll: with the buffer, what the consumer ever holds in memory.
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 100);
        return config;
    }

    public static void main(String[] args) {
        Workshop.run("13-lag-backpressure", args, cluster -> {
            String topic = "lag-demo-" + System.currentTimeMillis(); // a fresh topic and group: the lag is this run's
            String group = topic;
            cluster.ensureTopic(topic, PARTITIONS);
            try (Admin admin = cluster.admin();
                 Producer<String, String> producer = new KafkaProducer<>(producerConfig(cluster))) {
                // 1. Bursts: more than the consumer can do at once, on purpose uneven across partitions.
                burst(producer, topic, 450, 300, 150);
                System.out.println("Stage 1: lag of group " + group + " before it starts: " + lag(admin, group, List.of(topic)).values());

                // 2. The slow consumer, on a thread of its own; the record stalls for longer than max.poll.interval.ms.
                AtomicBoolean running = new AtomicBoolean(true);
                AtomicInteger handled = new AtomicInteger();
                AtomicInteger rebalances = new AtomicInteger();
                int stallAt = 1500;
                RecordHandler slowWork = record -> {
                    int n = handled.incrementAndGet();
                    Thread.sleep(n == stallAt ? STALL.toMillis() : WORK_PER_RECORD.toMillis());
                };
                BlockingQueue<ConsumerRecord<String, String>> buffer = new ArrayBlockingQueue<>(BUFFER);
                ExecutorService pollThread = Executors.newSingleThreadExecutor();
                Future<?> consuming = pollThread.submit(() -> {
                    try (Consumer<String, String> consumer = new KafkaConsumer<>(consumerConfig(cluster, group))) {
                        consumer.subscribe(List.of(topic), countRebalances(rebalances));
                        consumeSlowly(consumer, buffer, slowWork, running::get);
                    }
                    return null;
                });

                // 3. One chart line per second until the last burst is done; more bursts at 9 s and 14 s; the stall comes on its own.
                System.out.printf("Stage 2 and 3: %d ms of work per record, buffer of %d, max.poll.interval.ms %d; record #%d takes %d s%n",
                        WORK_PER_RECORD.toMillis(), BUFFER, MAX_POLL_INTERVAL.toMillis(), stallAt, STALL.toSeconds());
                long start = System.nanoTime();
                for (int second = 1; second <= 40; second++) {
                    waitUntil(start, second, consuming);
                    if (second == 9) {
                        burst(producer, topic, 100, 400, 250);
                    }
                    if (second == 14) {
                        burst(producer, topic, 300, 0, 300);
                    }
                    Map<TopicPartition, Long> lag = lag(admin, group, List.of(topic));
                    System.out.println(chartLine(second, lag, buffer.size(), handled.get(), second == 9 || second == 14));
                    if (second > 14 && lag.values().stream().allMatch(l -> l == 0)) {
                        break; // the last burst is done
                    }
                }
                int rebalancesSeen = rebalances.get(); // before close(), which revokes the partitions on the way out
                running.set(false);
                consuming.get(30, TimeUnit.SECONDS);
                pollThread.shutdown();
                System.out.printf("Rebalances while the work was slow: %d (through a %d s stall, with max.poll.interval.ms at %d)%n",
                        rebalancesSeen, STALL.toSeconds(), MAX_POLL_INTERVAL.toMillis());
                System.out.println("Lag at the end: " + lag(admin, group, List.of(topic)).values());
            }
        });
        // Check your work: ./jbang grade 13
    }

    /** Waits until {@code second} seconds after start; surfaces at once what the consumer's thread threw. */
    static void waitUntil(long start, int second, Future<?> consuming) throws Exception {
        while (System.nanoTime() - start < second * 1_000_000_000L) {
            if (consuming.isDone()) {
                try {
                    consuming.get();
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException runtime) {
                        throw runtime; // an unfinished step, reported as the lab reports it
                    }
                    throw e;
                }
                throw new Workshop.WorkshopException("consumeSlowly returned while it should still be consuming");
            }
            Thread.sleep(20);
        }
    }

    static ConsumerRebalanceListener countRebalances(AtomicInteger rebalances) {
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                if (!partitions.isEmpty()) {
                    rebalances.incrementAndGet();
                }
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                rebalances.incrementAndGet();
            }
        };
    }

    static Properties producerConfig(Cluster cluster) {
        Properties config = cluster.clientConfig();
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return config;
    }

    /** Writes this many readings to each partition, in one go. */
    static void burst(Producer<String, String> producer, String topic, int... perPartition) {
        for (int p = 0; p < perPartition.length; p++) {
            for (int i = 0; i < perPartition[p]; i++) {
                producer.send(new ProducerRecord<>(topic, p, "sensor-" + p, "reading " + i));
            }
        }
        producer.flush();
    }

    /** Full bar: this much lag. */
    static final int SCALE = 500;
    static final int BAR = 20;

    /** One line of the chart: the lag of each partition as a bar and a number, side by side. */
    static String chartLine(int second, Map<TopicPartition, Long> lag, int buffered, int handled, boolean burst) {
        StringBuilder line = new StringBuilder(String.format("%3d s ", second));
        for (Map.Entry<TopicPartition, Long> e : lag.entrySet()) {
            line.append(String.format("p%d %s %4d │ ", e.getKey().partition(), bar(e.getValue()), e.getValue()));
        }
        line.append(String.format("buffer %2d/%d, done %4d", buffered, BUFFER, handled));
        return burst ? line + "  ◀ burst" : line.toString();
    }

    static String bar(long value) {
        String[] eighths = {"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"};
        long units = Math.min(BAR * 8L, Math.round(value * BAR * 8.0 / SCALE));
        String bar = "█".repeat((int) (units / 8)) + eighths[(int) (units % 8)];
        return bar + " ".repeat(BAR - bar.length());
    }
}
