package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Reading;
import workshop.check.ForwardingProducer;
import workshop.check.WaitWatchedFuture;
import workshop.check.LabCheck;

import static org.awaitility.Awaitility.await;

/**
 * Lab 01: one run of the learner's sendAll, on its own thread and watched while it runs, then
 * facts about the sends and about what landed on the broker.
 *
 * <p>The producer lingers {@value #LINGER_MS} ms and its batches never fill: a record leaves the
 * buffer only when something flushes it. So no sleep outwaits the acks, and any wait for one
 * record before the next send is stuck, which the watcher sees while it happens.
 */
class Lab01FireAndForgetCheck extends LabCheck {

    /** Prime: no batch size, and no "flush every N", divides it. */
    static final int READINGS = 241;
    static final int SENSORS = 7;
    static final int PARTITIONS = 3;
    static final int LINGER_MS = 60_000;
    /** A correct sendAll of 241 records returns in well under a second, even on a loaded machine. */
    static final Duration SEND_ALL_BOUND = Duration.ofSeconds(10);
    /** A flush in progress is waited for longer: on a loaded machine the broker may be slow to answer. */
    static final Duration FLUSH_BOUND = Duration.ofSeconds(30);
    /** Waiting this long with no new send, mid-loop, is waiting for a record. */
    static final Duration STALL = Duration.ofMillis(2_000);
    /** Flushes before the last send, each with one record in flight: enough to call it a send awaited one by one. */
    static final int ONE_BY_ONE_FLUSHES = 3;
    /** The first send waits this long for a second sending thread, so senders that race do race. */
    static final Duration FIRST_SEND_HOLD = Duration.ofMillis(500);
    static final String PROBE_HEADER = "checker-probe";

    static String topic;
    static List<Reading> readings;
    static KafkaProducer<String, String> kafka;
    static SendWatcher producer;

    static volatile boolean returned;
    static volatile Throwable thrown;
    static volatile int sendsAtReturn;
    static volatile int inFlightAtReturn;
    /** Set when sendAll did not return: what its thread was doing, and where. */
    static String stuck;
    static int stuckSends;
    static int stuckInFlight;
    static Duration stuckFor;
    /** Null when the checker could send through the producer after sendAll; otherwise why not. */
    static String probeFailure;
    static List<ConsumerRecord<String, String>> landed;

    @BeforeAll
    @Timeout(60)
    static void runSendAll() throws InterruptedException {
        topic = createTopic("readings", PARTITIONS);
        readings = readings();
        Set<Integer> partitionsHit = readings.stream().map(r -> partitionFor(r.key())).collect(Collectors.toSet());
        if (partitionsHit.size() != PARTITIONS) {
            throw new IllegalStateException("The checker's sensor ids hash to partitions " + partitionsHit + " only");
        }
        Properties config = producerConfig();
        // A record waits for company a whole minute: only a flush (or close) sends it sooner.
        config.put(ProducerConfig.LINGER_MS_CONFIG, LINGER_MS);
        // Batches never fill up, so none leaves early on its own.
        config.put(ProducerConfig.BATCH_SIZE_CONFIG, 1 << 20);
        kafka = new KafkaProducer<>(config);
        // Metadata up front: the lab's first send must not wait for it, so any wait seen is the lab's.
        kafka.partitionsFor(topic);
        producer = new SendWatcher(kafka, topic, READINGS);

        CountDownLatch done = new CountDownLatch(1);
        Thread lab = new Thread(() -> {
            try {
                lab().call("sendAll", producer, topic, readings);
            } catch (Throwable e) {
                thrown = e;
            } finally {
                sendsAtReturn = producer.sends.get();
                inFlightAtReturn = producer.inFlight.get();
                returned = true;
                done.countDown();
            }
        }, "lab-sendAll");
        lab.setDaemon(true);
        long start = System.nanoTime();
        lab.start();
        int lastSends = -1;
        long lastProgress = System.nanoTime();
        while (!done.await(10, TimeUnit.MILLISECONDS)) {
            long now = System.nanoTime();
            int sends = producer.sends.get();
            if (sends != lastSends) {
                lastSends = sends;
                lastProgress = now;
            }
            Thread.State state = lab.getState();
            boolean waiting = state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING;
            // The checker's own hold and a flush under way are not the lab stalling: a loaded broker may be slow to answer.
            boolean stalledMidLoop = sends < READINGS && waiting && !producer.holding && producer.flushing.get() == 0
                    && Duration.ofNanos(now - lastProgress).compareTo(STALL) > 0;
            Duration running = Duration.ofNanos(now - start);
            boolean overdue = running.compareTo(producer.flushing.get() > 0 ? FLUSH_BOUND : SEND_ALL_BOUND) > 0;
            if (producer.midLoopWaits.get() > 0 || producer.oneByOne() || stalledMidLoop || overdue) {
                stuck = state + where(lab);
                stuckSends = sends;
                stuckInFlight = producer.inFlight.get();
                stuckFor = Duration.ofNanos(now - start);
                return;
            }
        }
        try {
            kafka.send(new ProducerRecord<>(topic, null, "probe", "probe",
                    List.of(new org.apache.kafka.common.header.internals.RecordHeader(PROBE_HEADER, new byte[0]))));
            // Sends what the lab left lingering too, so what landed can be checked whatever sendAll did.
            kafka.flush();
        } catch (IllegalStateException e) {
            probeFailure = e.toString();
        }
    }

    @AfterAll
    static void closeProducer() {
        if (kafka != null) {
            // A lab thread still waiting on a record is released: its pending sends fail.
            kafka.close(returned ? Duration.ofSeconds(5) : Duration.ZERO);
        }
    }

    @Test
    @Order(1)
    @DisplayName("sends are not awaited one by one")
    void sendsAreNotAwaited() {
        rethrowIfReturned();
        if (producer.midLoopWaits.get() > 0) {
            throw new AssertionError("sendAll waited on a send's Future with get() after " + producer.firstMidLoopWaitAt + " of "
                    + READINGS + " sends, before sending the rest: fire and forget sends every reading, then flushes once. "
                    + "A get() per record is a synchronous send in disguise.");
        }
        if (!returned && stuckSends < READINGS && !producer.oneByOne()) {
            throw new AssertionError("sendAll sent " + stuckSends + " of " + READINGS + " readings, then waited "
                    + STALL.toMillis() + " ms without sending another (its thread was " + stuck + "). Fire and forget does not "
                    + "wait for a record before sending the next: is it waiting for each send's acknowledgement (a callback "
                    + "and a latch or future, a sleep, a flush per record)?");
        }
        // Sends made after sendAll returned are the next check's concern.
        if (producer.oneByOne() || returned && sendsAtReturn == READINGS && producer.maxInFlight.get() <= 1) {
            throw new AssertionError("Only one record was ever in flight: each send was awaited before the next "
                    + "(a flush() or another wait per record?). Fire and forget sends every reading, then flushes once.");
        }
    }

    @Test
    @Order(2)
    @DisplayName("nothing is left in the producer's buffer when sendAll returns")
    void nothingLeftInTheBuffer() {
        rethrowIfReturned();
        if (!returned) {
            throw new AssertionError("After all " + READINGS + " sends, sendAll was still running " + stuckFor.toSeconds()
                    + " s later, with " + stuckInFlight + " records not yet acknowledged (its thread was " + stuck + "). "
                    + "This producer lingers up to " + LINGER_MS / 1000 + " s before it sends a batch: a sleep or a wait does "
                    + "not send it, flush() does, at once.");
        }
        if (sendsAtReturn < READINGS && sentAfterReturn()) {
            throw new AssertionError("sendAll returned after " + sendsAtReturn + " of " + READINGS + " sends; the others were "
                    + "sent from another thread after it had returned, so its flush came too early for them and its caller "
                    + "cannot know they are coming. Send every reading, then flush, then return.");
        }
        if (inFlightAtReturn > 0) {
            throw new AssertionError(inFlightAtReturn + " of " + sendsAtReturn + " records were still waiting in the producer's "
                    + "buffer when sendAll returned. A program that exits now loses them: flush() the producer after the last "
                    + "send (a sleep is not enough: this producer lingers up to " + LINGER_MS / 1000 + " s before it sends a batch).");
        }
    }

    @Test
    @Order(3)
    @DisplayName("the caller's producer still works after sendAll")
    void producerStillOpen() {
        requireReturned();
        if (probeFailure != null) {
            throw new AssertionError("sendAll closed the producer it was given: the checker's send afterwards threw "
                    + probeFailure + ". The caller created the producer and may keep sending with it: flush() empties the "
                    + "buffer and leaves the producer open; closing it is the owner's job.");
        }
    }

    @Test
    @Order(4)
    @DisplayName("every reading lands exactly once, with its key")
    void everyReadingLandsOnceWithItsKey() {
        requireReturned();
        List<ConsumerRecord<String, String>> records = landed();
        Map<String, String> sensorOf = readings.stream().collect(Collectors.toMap(Reading::value, Reading::key));
        Map<String, Long> timesLanded = records.stream().collect(Collectors.groupingBy(ConsumerRecord::value, Collectors.counting()));
        List<String> missing = readings.stream().map(Reading::value).filter(v -> !timesLanded.containsKey(v)).toList();
        List<String> twice = timesLanded.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).toList();
        List<ConsumerRecord<String, String>> stranger = records.stream().filter(r -> !sensorOf.containsKey(r.value())).toList();
        if (!stranger.isEmpty() && stranger.stream().allMatch(r -> sensorOf.containsKey(r.key()))) {
            throw new AssertionError("The records' keys and values are swapped: " + stranger.size() + " records have a "
                    + "reading's value as their key (e.g. key \"" + stranger.get(0).key() + "\", value \"" + stranger.get(0).value()
                    + "\"). The key is the sensor id: new ProducerRecord<>(topic, reading.key(), reading.value())");
        }
        if (!stranger.isEmpty()) {
            throw new AssertionError(stranger.size() + " records on the topic are no reading that was sent (e.g. key "
                    + quoted(stranger.get(0).key()) + ", value " + quoted(stranger.get(0).value()) + "): send reading.value() "
                    + "as each record's value.");
        }
        if (!missing.isEmpty()) {
            throw new AssertionError(READINGS + " readings were sent, " + records.size() + " records landed, and "
                    + missing.size() + (missing.size() == 1 ? " reading" : " readings") + " never did (e.g. "
                    + sensorOf.get(missing.get(0)) + "=" + missing.get(0)
                    + "). Does sendAll send every reading of the list (the loop's bounds), and wait for each send it "
                    + "started before it returns?");
        }
        if (!twice.isEmpty()) {
            throw new AssertionError(twice.size() + " readings landed more than once (e.g. " + sensorOf.get(twice.get(0)) + "="
                    + twice.get(0) + "): each reading should be sent once.");
        }
        List<ConsumerRecord<String, String>> wrongKey = records.stream()
                .filter(r -> !sensorOf.get(r.value()).equals(r.key())).toList();
        if (!wrongKey.isEmpty()) {
            ConsumerRecord<String, String> example = wrongKey.get(0);
            throw new AssertionError("Every reading landed once, but " + wrongKey.size() + " of them carry another key than "
                    + "their sensor id (e.g. \"" + example.value() + "\" came with key " + quoted(example.key()) + ", its sensor is "
                    + sensorOf.get(example.value()) + "). The key is reading.key(): new ProducerRecord<>(topic, reading.key(), "
                    + "reading.value())");
        }
    }

    @Test
    @Order(5)
    @DisplayName("each record is on the partition its key hashes to")
    void partitionFollowsTheKey() {
        requireReturned();
        List<ConsumerRecord<String, String>> elsewhere = landed().stream()
                .filter(r -> r.key() != null && r.partition() != partitionFor(r.key())).toList();
        if (!elsewhere.isEmpty()) {
            ConsumerRecord<String, String> example = elsewhere.get(0);
            throw new AssertionError(elsewhere.size() + " of " + READINGS + " records are not on the partition their key picks: "
                    + "Kafka's default partitioner puts key " + example.key() + " on partition " + partitionFor(example.key())
                    + " (the murmur2 hash of the key's bytes, modulo " + PARTITIONS + "), but it landed on "
                    + example.partition() + ". Let the producer choose: no partition number in the ProducerRecord, none "
                    + "computed by hand.");
        }
    }

    @Test
    @Order(6)
    @DisplayName("each sensor's readings stay in the order they were sent")
    void perSensorOrder() {
        requireReturned();
        producer.threadsPerKey.entrySet().stream().filter(e -> e.getValue().size() > 1).findFirst().ifPresent(e -> {
            List<String> names = new ArrayList<>(new TreeSet<>(e.getValue()));
            String shown = names.size() <= 3 ? String.join(", ", names) : String.join(", ", names.subList(0, 3)) + ", …";
            throw new AssertionError("The readings of " + e.getKey() + " were sent from " + names.size() + " threads ("
                    + shown + "). Threads race: which of them appends first is luck, so one sensor's readings can land "
                    + "out of order. Send them from one thread, in the list's order.");
        });
        Map<String, List<String>> expected = new LinkedHashMap<>();
        readings.forEach(r -> expected.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value()));
        Map<String, List<String>> actual = new LinkedHashMap<>();
        landed().stream()
                .sorted(Comparator.comparingInt((ConsumerRecord<String, String> r) -> r.partition()).thenComparingLong(ConsumerRecord::offset))
                .forEach(r -> actual.computeIfAbsent(String.valueOf(r.key()), k -> new ArrayList<>()).add(r.value()));
        for (Map.Entry<String, List<String>> sensor : expected.entrySet()) {
            List<String> read = actual.getOrDefault(sensor.getKey(), List.of());
            if (!read.equals(sensor.getValue())) {
                throw new AssertionError(sensor.getKey() + "'s readings read back as " + abbreviated(read) + ", but were sent as "
                        + abbreviated(sensor.getValue()) + ". Records with the same key go to the same partition, in send "
                        + "order: send them one after the other, from one thread.");
            }
        }
    }

    private static String abbreviated(List<String> values) {
        return values.size() <= 4 ? values.toString() : values.subList(0, 4).toString().replace("]", ", …]");
    }

    /** Whether sends go on once sendAll has returned (readings it merely skipped never come). */
    private static boolean sentAfterReturn() {
        try {
            await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
                    .until(() -> producer.sends.get() > sendsAtReturn);
            return true;
        } catch (ConditionTimeoutException e) {
            return false;
        }
    }

    private static void rethrowIfReturned() {
        if (returned) {
            rethrow(thrown);
        }
    }

    private static void requireReturned() {
        rethrowIfReturned();
        if (!returned) {
            throw new AssertionError("Not checked: sendAll did not return (see the checks above).");
        }
    }

    /** The partition Kafka's default partitioner picks for a String key: murmur2 of its UTF-8 bytes. */
    static int partitionFor(String key) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % PARTITIONS;
    }

    /** Sensors in no regular rotation, each value unique, so every record says which reading it is. */
    static List<Reading> readings() {
        String[] rooms = {"kitchen", "bedroom", "garage", "outside", "cellar", "attic", "hall"};
        List<Reading> list = new ArrayList<>(READINGS);
        for (int i = 0; i < READINGS; i++) {
            int sensor = (i * i + i / 3) % SENSORS;
            list.add(new Reading("sensor-" + sensor, rooms[sensor], 1_000 + i));
        }
        return list;
    }

    private static String quoted(String key) {
        return key == null ? "null" : "\"" + key + "\"";
    }

    private static String where(Thread thread) {
        for (StackTraceElement frame : thread.getStackTrace()) {
            if (frame.getClassName().indexOf('.') < 0) {
                return " at " + lab().file() + ":" + frame.getLineNumber() + " (" + frame.getMethodName() + ")";
            }
        }
        return "";
    }

    /** Everything on the topic, read once up to its end offsets, without the checker's probe. */
    private static synchronized List<ConsumerRecord<String, String>> landed() {
        if (landed != null) {
            return landed;
        }
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // Assigned, not subscribed: no group to join, so nothing to wait for but the fetches.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                partitions.add(new TopicPartition(topic, p));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            // Every acknowledged record is below these offsets: reading up to them misses none and waits for nothing else.
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (partitions.stream().anyMatch(tp -> consumer.position(tp, Duration.ofSeconds(30)) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("The checker could not read " + topic + " up to its end offsets " + end
                            + " within 30 s");
                }
                consumer.poll(Duration.ofMillis(100)).forEach(records::add);
            }
        }
        records.removeIf(r -> r.headers().lastHeader(PROBE_HEADER) != null);
        landed = records;
        return landed;
    }

    /**
     * The producer handed to the lab: a real one, seen while the lab uses it. It counts sends and
     * records in flight, notes which threads send each key, and notices a wait on a record that
     * is not yet acknowledged. A wait once every reading was sent is a lawful way to wait for all
     * of them, so it flushes first, as if the linger had run out.
     */
    static final class SendWatcher extends ForwardingProducer<String, String> {
        final Producer<String, String> delegate;
        final String topic;
        final int expected;
        final AtomicInteger sends = new AtomicInteger();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        final AtomicInteger midLoopWaits = new AtomicInteger();
        /** Flushes under way: the wait that is the lab's job, given time on a slow broker. */
        final AtomicInteger flushing = new AtomicInteger();
        final AtomicInteger midLoopFlushes = new AtomicInteger();
        volatile boolean holding;
        volatile int firstMidLoopWaitAt;
        final Map<String, Set<String>> threadsPerKey = new ConcurrentHashMap<>();
        final CountDownLatch secondSender = new CountDownLatch(1);
        volatile Thread firstSender;

        /** Several flushes before the last send, and never more than one record in flight. */
        boolean oneByOne() {
            return midLoopFlushes.get() >= ONE_BY_ONE_FLUSHES && maxInFlight.get() <= 1;
        }

        SendWatcher(Producer<String, String> delegate, String topic, int expected) {
            super(delegate);
            this.delegate = delegate;
            this.topic = topic;
            this.expected = expected;
        }

        @Override
        public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
            return send(record, null);
        }

        @Override
        public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
            if (!topic.equals(record.topic())) {
                return delegate.send(record, callback);
            }
            Thread me = Thread.currentThread();
            threadsPerKey.computeIfAbsent(String.valueOf(record.key()), k -> ConcurrentHashMap.newKeySet()).add(me.getName());
            if (sends.getAndIncrement() == 0) {
                firstSender = me;
                holding = true;
                try {
                    secondSender.await(FIRST_SEND_HOLD.toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    me.interrupt();
                } finally {
                    holding = false;
                }
            } else if (firstSender != me) {
                secondSender.countDown();
            }
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                return new Watched(delegate.send(record, (metadata, exception) -> {
                    inFlight.decrementAndGet();
                    if (callback != null) {
                        callback.onCompletion(metadata, exception);
                    }
                }));
            } catch (RuntimeException e) {
                inFlight.decrementAndGet();
                throw e;
            }
        }

        private final class Watched extends WaitWatchedFuture<RecordMetadata> {
            Watched(Future<RecordMetadata> future) {
                super(future);
            }

            @Override
            protected void beforeWait(long timeout, TimeUnit unit) {
                if (future.isDone()) {
                    return;
                }
                int sent = sends.get();
                if (sent < expected) {
                    if (midLoopWaits.getAndIncrement() == 0) {
                        firstMidLoopWaitAt = sent;
                    }
                } else {
                    flush();
                }
            }
        }

        @Override
        public void flush() {
            if (sends.get() < expected) {
                midLoopFlushes.incrementAndGet();
            }
            flushing.incrementAndGet();
            try {
                delegate.flush();
            } finally {
                flushing.decrementAndGet();
            }
        }

    }
}
