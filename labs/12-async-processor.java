///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
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
import workshop.RemoteService;
import workshop.Workshop;

/**
 * Lab 12: an async processor.
 *
 * Each record needs a remote call of a few milliseconds. One at a time, a partition moves at
 * 1 / latency records per second, however idle the machine is. The processor below runs the
 * calls of one partition concurrently on a bounded pool, yet keeps what Kafka promised: each
 * key's records in offset order, one at a time, and a committed offset that never passes a
 * record still being worked on.
 *
 * Stages, mirrored in main:
 *   1. the benchmark: remote latencies of 1, 2 and 5 ms, pools of 1 to 64 workers, against a
 *      plain poll-call-commit loop;
 *   2. one slow call: the committed offset waits at it while later records finish.
 */
class AsyncProcessor {

    static final Duration POLL_TIMEOUT = Duration.ofMillis(20);

    static Properties consumerConfig(String bootstrapServers, String groupId) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Committed offsets belong to a group: a restart resumes at the group's completed prefix.
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // Auto-commit would commit the position: records still queued for the pool would count as done.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // A group with no committed offset yet starts at the beginning, not at the end.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return config;
    }

    /** One partition's records handed to the pool: which are unfinished, and the offset after the last one. */
    static final class Offsets {
        /** Offsets handed out and not finished yet; workers remove theirs, the poll loop reads. */
        final ConcurrentSkipListSet<Long> unfinished = new ConcurrentSkipListSet<>();
        /** The offset after the last record handed out (poll loop only). */
        long next = -1;
        /** The offset last committed for this partition (poll loop only). */
        long committed = -1;

        void handedOut(long offset) {
            unfinished.add(offset);
            next = offset + 1;
        }

        void finished(long offset) {
            unfinished.remove(offset);
        }
    }

    /**
     * Polls, hands each record to the pool, commits what is finished, and applies backpressure,
     * until {@code stop} is set; then drains and commits. Only this thread touches the consumer.
     */
    static void run(Consumer<String, String> consumer, RemoteService service, int workers, int maxInFlight,
                    AtomicBoolean stop) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        Map<String, CompletableFuture<Void>> lastCallPerKey = new ConcurrentHashMap<>();
        Map<TopicPartition, Offsets> partitions = new HashMap<>();
        AtomicInteger inFlight = new AtomicInteger();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        try {
            while (!stop.get() && failed.get() == null) {
                for (ConsumerRecord<String, String> record : consumer.poll(POLL_TIMEOUT)) {
                    Offsets offsets = partitions.computeIfAbsent(new TopicPartition(record.topic(), record.partition()),
                            tp -> new Offsets());
                    offsets.handedOut(record.offset());
                    inFlight.incrementAndGet();
                    callInKeyOrder(record, service, pool, lastCallPerKey).whenComplete((ok, error) -> {
                        if (error == null) {
                            offsets.finished(record.offset());
                        } else {
                            failed.compareAndSet(null, error); // never marked finished: never committed
                        }
                        inFlight.decrementAndGet();
                    });
                }
                if (!partitions.isEmpty()) { // nothing handed out yet: nothing to commit or to hold back
                    commitFinishedPrefix(consumer, partitions);
                    applyBackpressure(consumer, inFlight.get(), maxInFlight);
                }
            }
            drainAndCommit(consumer, partitions, inFlight);
        } finally {
            pool.shutdownNow();
        }
        if (failed.get() != null) {
            throw new IllegalStateException("a remote call failed; the group's offset stays before it", failed.get());
        }
    }

    /** The remote call for one record, as a task for the pool: if it throws, the task's future fails. */
    static Runnable task(RemoteService service, ConsumerRecord<String, String> record) {
        return () -> {
            try {
                service.call(record);
            } catch (Exception e) {
                throw new CompletionException(e);
            }
        };
    }

    /** Runs the call for {@code record} on the pool, after the previous call for the same key has finished. */
    static CompletableFuture<Void> callInKeyOrder(ConsumerRecord<String, String> record, RemoteService service,
                                                  ExecutorService pool, Map<String, CompletableFuture<Void>> lastCallPerKey) {
        // TODO 1: run task(service, record) on the pool, but only after the previous call for the same key
        //         has finished: no two calls of one key at once, and a key's records in offset order.
        //         Records of other keys must not wait for it, and no pool thread may sit waiting.
        //         Keep each key's last call in lastCallPerKey; return the future of this record's call.
        throw Workshop.todo(1, "run the call on the pool, behind the previous call of its key");
    }

    /** Commits, per partition, the offset of its first unfinished record, or the next offset if all are finished. */
    static void commitFinishedPrefix(Consumer<String, String> consumer, Map<TopicPartition, Offsets> partitions) {
        // TODO 2: for each partition, commit the offset up to which every record handed out has finished:
        //         the offset of its first unfinished record, or offsets.next when none is unfinished.
        //         Commit only partitions that moved on since their last commit, and remember what you committed.
        throw Workshop.todo(2, "commit each partition's finished prefix");
    }

    /** Pauses fetching while {@code maxInFlight} records are unfinished; resumes once half of them are done. */
    static void applyBackpressure(Consumer<String, String> consumer, int inFlight, int maxInFlight) {
        // TODO 3: when maxInFlight records are unfinished, stop fetching without leaving the loop (the
        //         group must keep seeing polls); start fetching again once half of them have finished.
        throw Workshop.todo(3, "pause the partitions when the pool is full, resume when it drains");
    }

    /** On the way out: no new records, every call handed out finishes, and the last prefix is committed. */
    static void drainAndCommit(Consumer<String, String> consumer, Map<TopicPartition, Offsets> partitions,
                               AtomicInteger inFlight) {
        // TODO 4: on the way out: fetch nothing new, wait until no record handed out is unfinished (keep
        //         polling meanwhile, and commit what finishes), then commit the last prefix.
        throw Workshop.todo(4, "drain the calls in flight, then commit");
    }

    // ---- the demo ------------------------------------------------------------------------------

    static final int KEYS = 1024;
    static final int PARTITIONS = 8;
    static final int RECORDS = 60_000;

    public static void main(String[] args) {
        Workshop.run("12-async-processor", args, cluster -> {
            String topic = "async-demo-" + System.currentTimeMillis();
            cluster.ensureTopic(topic, PARTITIONS);
            produce(cluster, topic, RECORDS, KEYS);

            System.out.println("1. Throughput against remote latency (" + KEYS + " keys, " + PARTITIONS + " partitions):");
            System.out.println("   latency  workers   records/s  speedup  of ideal");
            for (int latency : new int[] {1, 2, 5}) {
                double sequential = sequentialRate(cluster, topic, latency, 600 / latency);
                System.out.printf("   %4d ms  sequential %8.0f     1.0x%n", latency, sequential);
                for (int workers : new int[] {1, 8, 32, 64}) {
                    double ideal = workers * 1000.0 / latency;
                    int records = (int) Math.min(RECORDS, Math.max(300, ideal * 1.5));
                    double rate = processorRate(cluster, topic, latency, workers, records);
                    System.out.printf("   %4d ms  %7d  %10.0f  %6.1fx  %7.2f%n", latency, workers, rate, rate / sequential, rate / ideal);
                }
            }
            System.out.println("   (the seed's product: 3x at 1 ms, 5.5x at 2 ms)");

            System.out.println("2. One slow call (1.2 s) among fast ones, one partition:");
            slowCallDemo(cluster);
        });
        // Check your work: ./jbang grade 12
    }

    static void produce(Cluster cluster, String topic, int count, int keys) {
        Properties config = cluster.clientConfig();
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (Producer<String, String> producer = new KafkaProducer<>(config)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, "sensor-" + (i % keys), "reading-" + i));
            }
        }
    }

    static KafkaConsumer<String, String> consumer(Cluster cluster, String topic) {
        Properties config = consumerConfig(cluster.bootstrapServers(), "async-demo-" + System.nanoTime());
        config.putAll(cluster.clientConfig());
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config);
        List<TopicPartition> partitions = new ArrayList<>();
        consumer.partitionsFor(topic).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
        consumer.assign(partitions);
        return consumer;
    }

    /** Times calls from the first one's start to the moment the {@code records}-th finished; then sets {@code stop}. */
    static final class Clock {
        final AtomicInteger done = new AtomicInteger();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicLong firstStart = new AtomicLong();
        volatile long end;

        RemoteService timing(int latencyMs, int records) {
            return record -> {
                firstStart.compareAndSet(0, System.nanoTime());
                Thread.sleep(latencyMs);
                if (done.incrementAndGet() == records) {
                    end = System.nanoTime();
                    stop.set(true);
                }
            };
        }

        /** The calls counted up to the stop; those the drain finishes after it are not. */
        double rate(int records) {
            return records * 1e9 / (end - firstStart.get());
        }
    }

    /** The plain loop: poll, call the service for each record in turn, commit. Records per second. */
    static double sequentialRate(Cluster cluster, String topic, int latencyMs, int records) throws Exception {
        Clock clock = new Clock();
        RemoteService service = clock.timing(latencyMs, records);
        try (KafkaConsumer<String, String> consumer = consumer(cluster, topic)) {
            while (!clock.stop.get()) {
                for (ConsumerRecord<String, String> record : consumer.poll(POLL_TIMEOUT)) {
                    service.call(record);
                    if (clock.stop.get()) {
                        break;
                    }
                }
                consumer.commitSync();
            }
        }
        return clock.rate(records);
    }

    /** The async processor over the same topic until {@code records} calls finished. Records per second. */
    static double processorRate(Cluster cluster, String topic, int latencyMs, int workers, int records) throws Exception {
        Clock clock = new Clock();
        // Enough records queued to keep every worker busy while the loop waits in one poll.
        int maxInFlight = Math.max(100, 40 * workers);
        try (KafkaConsumer<String, String> consumer = consumer(cluster, topic)) {
            run(consumer, clock.timing(latencyMs, records), workers, maxInFlight, clock.stop);
        }
        return clock.rate(records);
    }

    static void slowCallDemo(Cluster cluster) throws Exception {
        String topic = "async-slow-" + System.currentTimeMillis();
        cluster.ensureTopic(topic, 1);
        produce(cluster, topic, 40, 8);
        long slowOffset = 7;
        ConcurrentSkipListSet<Long> finished = new ConcurrentSkipListSet<>();
        RemoteService service = record -> {
            Thread.sleep(record.offset() == slowOffset ? 1200 : 5);
            finished.add(record.offset());
        };
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService loop = Executors.newSingleThreadExecutor();
        try (KafkaConsumer<String, String> consumer = consumer(cluster, topic)) {
            String group = consumer.groupMetadata().groupId();
            Future<?> running = loop.submit(() -> {
                run(consumer, service, 8, 32, stop);
                return null;
            });
            try (var admin = cluster.admin()) {
                for (int i = 0; i < 4; i++) {
                    Thread.sleep(500); // a demo that samples over time, not a wait for an effect
                    OffsetAndMetadata committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                            .get().get(new TopicPartition(topic, 0));
                    System.out.printf("   after %4d ms: %2d of 40 calls finished (offset %d %s), committed offset %s%n",
                            (i + 1) * 500, finished.size(), slowOffset, finished.contains(slowOffset) ? "finished" : "still running",
                            committed == null ? "none" : committed.offset());
                }
            }
            stop.set(true);
            running.get(30, TimeUnit.SECONDS);
        } finally {
            loop.shutdownNow();
        }
        System.out.println("   A crash while offset " + slowOffset + " ran would repeat the records finished after it: never lose it.");
    }
}
