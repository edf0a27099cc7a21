package workshop.checks;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToLongFunction;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.RemoteService;
import workshop.check.LabCheck;
import workshop.check.LabProcess;
import workshop.check.LabUnderTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 12: the learner's async processor runs against a remote service the checker controls.
 * The service sleeps a latency the checker sets (per record), holds chosen calls, and notes per
 * key when each call started and ended: overlap within a key and offsets out of order show there,
 * whatever the processor's code looks like. The consumer handed to the processor is the real
 * one behind a thin wrapper that notes every poll (and the gaps between polls), pause, resume and
 * commit, and from which thread each call came.
 */
class Lab12AsyncProcessorCheck extends LabCheck {

    /** The speedup over one call at a time that the processor must reach (ideal here: WORKERS_FAST). */
    static final double MIN_SPEEDUP = 6.0;
    static final int WORKERS_FAST = 32;
    /** A long call, so that the ratio measures overlap, not how much CPU a loaded machine leaves the checker. */
    static final int FAST_LATENCY_MS = 20;
    static final int FAST_KEYS = 128;
    static final String LOOP_THREAD = "poll-loop";
    static final Duration SPEEDUP_WINDOW = Duration.ofSeconds(5);
    /** max.poll.interval.ms in the checks that look for eviction: far above a healthy loop's gaps, below the slow work. */
    static final int MAX_POLL_INTERVAL_MS = 3000;
    static final Duration RUN_BOUND = Duration.ofSeconds(12);
    static final int CRASH_ROUNDS = 5;
    static final Duration ONE_INSTANCE = Duration.ofSeconds(40);

    // topics, made and filled once for all checks
    static final String ORDER = "order", FAST = "fast", SLOW = "slow", PAUSE = "pause", PREFIX = "prefix", DRAIN = "drain", CRASH = "crash";
    static final Map<String, Topic> TOPICS = new LinkedHashMap<>();

    /** The killed instances' JVMs, booted ahead (two once the first check passed, the rest after the speedup check). */
    private static final List<LabProcess.Started> CRASH_JVMS = new ArrayList<>();
    private static String crashGroup;

    /** A topic's records by partition: offset to key. */
    record Topic(String name, int partitions, Map<Integer, TreeMap<Long, String>> records) {
        int total() {
            return records.values().stream().mapToInt(Map::size).sum();
        }

        Set<String> ids() {
            Set<String> ids = new TreeSet<>(BY_ID);
            records.forEach((p, r) -> r.keySet().forEach(o -> ids.add(id(p, o))));
            return ids;
        }

        long end(int partition) {
            TreeMap<Long, String> r = records.get(partition);
            return r == null || r.isEmpty() ? 0 : r.lastKey() + 1;
        }
    }

    static final java.util.Comparator<String> BY_ID = java.util.Comparator.comparingInt((String r) -> Integer.parseInt(r.substring(1, r.indexOf('@'))))
            .thenComparingLong(r -> Long.parseLong(r.substring(r.indexOf('@') + 1)));

    static String id(int partition, long offset) {
        return "p" + partition + "@" + offset;
    }

    static String id(ConsumerRecord<?, ?> record) {
        return id(record.partition(), record.offset());
    }

    @BeforeAll
    static void makeTopics() {
        Map<String, Integer> partitions = new LinkedHashMap<>();
        // Many keys sharing few partitions: per-key concurrency shows, per-partition does not.
        partitions.put(ORDER, 2);
        partitions.put(FAST, 2);
        partitions.put(SLOW, 1);
        partitions.put(PAUSE, 1);
        partitions.put(PREFIX, 2);
        partitions.put(DRAIN, 2);
        partitions.put(CRASH, 3);
        Map<String, String> names = new LinkedHashMap<>();
        partitions.keySet().forEach(k -> names.put(k, uniqueName("async-" + k)));
        Map<String, Integer> byName = new LinkedHashMap<>();
        partitions.forEach((k, n) -> byName.put(names.get(k), n));
        createTopicsAndWait(byName);
        try (KafkaProducer<String, String> producer = newProducer()) {
            TOPICS.put(ORDER, produce(producer, names.get(ORDER), 2, 96, 8, false));
            TOPICS.put(FAST, produce(producer, names.get(FAST), 2, 1600, FAST_KEYS, false));
            TOPICS.put(SLOW, produce(producer, names.get(SLOW), 1, 12, 3, false));
            TOPICS.put(PAUSE, produce(producer, names.get(PAUSE), 1, 60, 4, false));
            TOPICS.put(PREFIX, produce(producer, names.get(PREFIX), 2, 24, 4, true));
            TOPICS.put(DRAIN, produce(producer, names.get(DRAIN), 2, 64, 8, false));
            TOPICS.put(CRASH, produce(producer, names.get(CRASH), 3, 300, 30, false));
        }
        crashGroup = uniqueName("group");
    }

    @AfterAll
    static void stopUnusedJvm() {
        CRASH_JVMS.forEach(jvm -> {
            if (jvm != null) {
                jvm.close();
            }
        });
        CRASH_JVMS.clear();
    }

    /**
     * Writes {@code count} records whose keys take turns ("k0", "k1", ...). With {@code explicit},
     * each partition gets its own keys (partition 0: a0, a1..., partition 1: b0, b1...), in turn.
     */
    static Topic produce(KafkaProducer<String, String> producer, String topic, int partitions, int count, int keys, boolean explicit) {
        Map<Integer, TreeMap<Long, String>> records = new TreeMap<>();
        List<Future<org.apache.kafka.clients.producer.RecordMetadata>> sends = new ArrayList<>();
        List<String> sentKeys = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String key;
            ProducerRecord<String, String> record;
            if (explicit) {
                int p = i % partitions;
                int n = i / partitions;
                key = (char) ('a' + p) + String.valueOf(n % keys);
                record = new ProducerRecord<>(topic, p, key, "value-" + i);
            } else {
                key = "k" + (i % keys);
                record = new ProducerRecord<>(topic, key, "value-" + i);
            }
            sentKeys.add(key);
            sends.add(producer.send(record));
        }
        producer.flush();
        try {
            for (int i = 0; i < sends.size(); i++) {
                var meta = sends.get(i).get(30, TimeUnit.SECONDS);
                records.computeIfAbsent(meta.partition(), p -> new TreeMap<>()).put(meta.offset(), sentKeys.get(i));
            }
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not write its records to " + topic + ": " + e, e);
        }
        return new Topic(topic, partitions, records);
    }

    // ---- the checks ----------------------------------------------------------------------------

    @Test
    @Order(1)
    @DisplayName("each key's calls run one at a time, in offset order")
    void perKeyOrder() throws Exception {
        Topic topic = TOPICS.get(ORDER);
        Remote remote = new Remote(r -> 10);
        Watched watched = Watched.assign(topic, uniqueName("group"), Map.of());
        try (watched) {
            Run run = Run.start(watched, remote, 16, 200);
            run.awaitFinished(topic, RUN_BOUND, "all " + topic.total() + " records of " + topic.partitions() + " partitions");
            run.stop();
            requireHealthy(watched, remote);
            remote.requireEachOnce(topic);
        }
        // The processor works: the first killed instances' JVMs boot now, while the other checks run. (A lab that
        // fails here boots them only if the last check is reached, so a wrong answer is graded without their cost.)
        bootCrashJvms(2);
    }

    @Test
    @Order(2)
    @DisplayName("calls overlap: at least 6x faster than one call at a time") // MIN_SPEEDUP
    void speedup() throws Exception {
        Topic topic = TOPICS.get(FAST);
        Remote remote = new Remote(r -> FAST_LATENCY_MS);
        // The reference: the checker's own poll-call-commit loop, one call at a time, over the same records and
        // AT THE SAME TIME, so that both see the same load on the machine.
        Remote sequential = new Remote(r -> FAST_LATENCY_MS);
        AtomicBoolean processorDone = new AtomicBoolean();
        ExecutorService reference = Executors.newSingleThreadExecutor();
        Watched watched = Watched.assign(topic, uniqueName("group"), Map.of());
        try (watched; KafkaConsumer<String, String> plain = newConsumer(uniqueName("group"), Map.of())) {
            plain.assign(partitions(topic));
            Future<?> oneAtATime = reference.submit(() -> {
                while (!processorDone.get()) {
                    for (ConsumerRecord<String, String> record : plain.poll(Duration.ofMillis(20))) {
                        if (processorDone.get()) {
                            break;
                        }
                        sequential.call(record);
                    }
                    plain.commitSync();
                }
                return null;
            });
            Run run = Run.start(watched, remote, WORKERS_FAST, 8 * WORKERS_FAST);
            Set<String> all = topic.ids();
            try {
                // A right answer needs about a second; a slow one is measured over this window, not waited for.
                await().atMost(SPEEDUP_WINDOW).pollInterval(Duration.ofMillis(10))
                        .until(() -> run.done() || remote.finished.keySet().containsAll(all) || run.stalled());
            } catch (ConditionTimeoutException e) {
                // measured below
            } finally {
                processorDone.set(true);
                oneAtATime.get(10, TimeUnit.SECONDS);
                reference.shutdownNow();
            }
            run.requireRunning();
            requireHealthy(watched, remote);
            String stalled = stallStory(watched, remote);
            if (stalled != null) {
                run.stop.set(true);
                fail(stalled);
            }
            double one = sequential.rate();
            double yours = remote.finished.keySet().containsAll(all) ? remote.rate()
                    : remote.finished.size() * 1e9 / Math.max(1, System.nanoTime() - remote.firstStart.get());
            double speedup = yours / one;
            if (speedup < MIN_SPEEDUP) {
                run.stop.set(true); // no waiting for a slow answer's drain: the check has failed already
            } else {
                run.stop();
            }
            String seen = String.format("%d records over %d keys and %d partitions, %d ms per call, %d workers: %.0f records/s, "
                                        + "against %.0f records/s one call at a time (measured alongside): %.1fx (ideal about %dx; "
                                        + "at most %d call(s) ran at once)", topic.total(), FAST_KEYS, topic.partitions(), FAST_LATENCY_MS,
                    WORKERS_FAST, yours, one, speedup, WORKERS_FAST, remote.maxConcurrent.get());
            if (speedup < MIN_SPEEDUP) {
                fail(seen + ".\n" + whySlow(remote, topic, watched));
            }
        } finally {
            reference.shutdownNow();
        }
    }

    @Test
    @Order(3)
    @DisplayName("the consumer keeps polling while calls are slow: never evicted by max.poll.interval.ms")
    void keepsPolling() throws Exception {
        Topic topic = TOPICS.get(SLOW);
        // Three keys, four records each, 1 s per call: each key's work takes 4 s, the group allows 3 s between polls.
        Remote remote = new Remote(r -> 1000);
        Watched watched = Watched.subscribe(topic, uniqueName("group"), Map.of(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, MAX_POLL_INTERVAL_MS));
        watched.gapLimitMs = MAX_POLL_INTERVAL_MS;
        // The speedup is measured: the other killed instances' JVMs may boot now, while this check mostly waits.
        if (!CRASH_JVMS.isEmpty()) {
            bootCrashJvms(CRASH_ROUNDS);
        }
        try (watched) {
            Run run = Run.start(watched, remote, 8, 100);
            run.awaitFinished(topic, RUN_BOUND, "all " + topic.total() + " records (three keys, 4 s of calls each)");
            run.stop();
            requireHealthy(watched, remote);
            requireKeptPolling(watched, remote);
            assertThat(watched.rebalances)
                    .as("The group took the partition away and gave it back (%s): the member was evicted. %s",
                            watched.rebalances, watched.gapStory())
                    .isEmpty();
        }
    }

    @Test
    @Order(4)
    @DisplayName("with maxInFlight records unfinished it pauses, keeps polling, and resumes")
    void pausesAndResumes() throws Exception {
        Topic topic = TOPICS.get(PAUSE);
        // Four keys in turn; the record at offset 4 (key k0) takes 3.5 s, so k0's later records pile up behind it.
        Remote remote = new Remote(r -> r.offset() == 4 ? 3500 : 20);
        int maxInFlight = 8;
        int maxPollRecords = 4;
        Watched watched = Watched.subscribe(topic, uniqueName("group"), Map.of(
                ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, MAX_POLL_INTERVAL_MS,
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, maxPollRecords));
        watched.gapLimitMs = MAX_POLL_INTERVAL_MS;
        try (watched) {
            Run run = Run.start(watched, remote, 8, maxInFlight);
            run.awaitFinished(topic, RUN_BOUND, "all " + topic.total() + " records");
            int pauses = watched.pauses.get();
            int resumes = watched.resumes.get();
            run.stop();
            requireHealthy(watched, remote);
            requireKeptPolling(watched, remote);
            assertThat(watched.maxUnfinished.get())
                    .as("With maxInFlight = %d and max.poll.records = %d, at most %d records may be handed out and unfinished "
                        + "at once; the checker saw %d (%s). Pause the assigned partitions once maxInFlight records are "
                        + "unfinished, and resume only when fewer are (TODO 3)",
                            maxInFlight, maxPollRecords, maxInFlight + maxPollRecords, watched.maxUnfinished.get(),
                            pauses == 0 ? "pause() was never called"
                                    : "pause() was called " + pauses + " times, resume() " + resumes + " times")
                    .isLessThanOrEqualTo(maxInFlight + maxPollRecords);
        }
    }

    @Test
    @Order(5)
    @DisplayName("commits only the finished prefix: never past a call still running")
    void commitsFinishedPrefix() throws Exception {
        Topic topic = TOPICS.get(PREFIX);
        long held = 5;
        String heldId = id(0, held);
        Remote remote = new Remote(r -> 10);
        remote.hold(heldId);
        String group = uniqueName("group");
        Watched watched = Watched.assign(topic, group, Map.of());
        try (watched) {
            Run run = Run.start(watched, remote, 8, 100);
            // p0@5 is held; p0@9 has its key (a1) and waits behind it; everything else finishes.
            Set<String> others = topic.ids();
            others.remove(heldId);
            others.remove(id(0, 9));
            run.awaitFinished(others, RUN_BOUND, "every record except " + heldId + " (held by the checker) and p0@9 (same key, queued behind it)");
            try {
                await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20))
                        .until(() -> watched.committed(0) == held && watched.committed(1) == topic.end(1) || watched.passed(0, held));
            } catch (ConditionTimeoutException e) {
                // described below
            }
            String passing = watched.commitPassing(0, held);
            if (passing != null) {
                fail("While " + heldId + " was still running (the checker held it), the consumer committed " + passing
                     + ". A crash now would lose " + heldId + " and p0@9 behind it: the next instance starts after them. "
                     + "Commit, per partition, the offset of its FIRST unfinished record, not the highest finished one + 1 (TODO 2)");
            }
            assertThat(watched.committed(0))
                    .as("p0@0 to p0@4 finished and %s runs: the group's committed offset for partition 0 must reach %d, the "
                        + "first unfinished record, while it runs; the last commit was %s. Commit each partition's finished "
                        + "prefix on every turn of the loop, not only when nothing is in flight (TODO 2)%s",
                            heldId, held, watched.lastCommitStory(), watched.committed(0) == held - 1
                                    ? ". It is one less: the committed offset is the next record to read, here the first unfinished one" : "")
                    .isEqualTo(held);
            assertThat(watched.committed(1))
                    .as("Partition 1's records all finished while %s (partition 0) ran: partition 1's committed offset must "
                        + "reach %d; the last commit was %s. %s (TODO 2)",
                            heldId, topic.end(1), watched.lastCommitStory(), watched.committed(1) == topic.end(1) - 1
                                    ? "That is the offset of the last finished record, not the next one to read (offset + 1)"
                                    : "Each partition's prefix is its own")
                    .isEqualTo(topic.end(1));
            remote.release();
            try {
                await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(20))
                        .until(() -> watched.committed(0) == topic.end(0));
            } catch (ConditionTimeoutException e) {
                // described below
            }
            long after = watched.committed(0);
            assertThat(after)
                    .as("After %s was released every record of partition 0 finished (its last offset is %d): the committed "
                        + "offset must become %d, the next offset to read. It is %s%s (TODO 2)", heldId, topic.end(0) - 1,
                            topic.end(0), after < 0 ? "not committed" : after,
                            after == topic.end(0) - 1 ? ": the offset of the last finished record, not the next one (offset + 1)" : "")
                    .isEqualTo(topic.end(0));
            run.stop();
            requireHealthy(watched, remote);
        }
        Map<Integer, Long> onBroker = committedOffsets(group);
        assertThat(onBroker)
                .as("the group's committed offsets on the broker after run() returned")
                .isEqualTo(Map.of(0, topic.end(0), 1, topic.end(1)));
    }

    @Test
    @Order(6)
    @DisplayName("shutdown lets running calls finish, then commits them")
    void shutdownDrains() throws Exception {
        Topic topic = TOPICS.get(DRAIN);
        Remote remote = new Remote(r -> 100);
        String group = uniqueName("group");
        Watched watched = Watched.assign(topic, group, Map.of());
        Run run;
        int inFlightAtReturn;
        try (watched) {
            run = Run.start(watched, remote, 8, 24);
            await().atMost(RUN_BOUND).pollInterval(Duration.ofMillis(10)).until(() -> remote.ended.get() >= 12 || run.done());
            try {
                run.stop();
            } catch (Exception | AssertionError e) {
                if (!remote.interrupted.isEmpty()) {
                    fail(interruptedStory(remote));
                }
                throw e;
            }
            inFlightAtReturn = remote.inFlightAtStop;
            requireHealthy(watched, remote);
        }
        assertThat(remote.interrupted).as(interruptedStory(remote)).isEmpty();
        assertThat(inFlightAtReturn)
                .as("run() returned with calls still running: on stop, drainAndCommit must wait until every record "
                    + "handed out has finished, then commit (TODO 4)")
                .isZero();
        Map<Integer, Long> committed = committedOffsets(group);
        Set<String> finished = remote.finishedIds();
        List<String> repeated = new ArrayList<>();
        List<String> lost = new ArrayList<>();
        for (int p = 0; p < topic.partitions(); p++) {
            long c = committed.getOrDefault(p, 0L);
            for (long o : topic.records().get(p).keySet()) {
                boolean done = finished.contains(id(p, o));
                if (o >= c && done) {
                    repeated.add(id(p, o));
                } else if (o < c && !done) {
                    lost.add(id(p, o));
                }
            }
        }
        assertThat(lost)
                .as("After stop, the group's committed offsets %s cover records that never finished: a restart would skip them. "
                    + "Commit only the finished prefix (TODO 2, TODO 4)", committed)
                .isEmpty();
        assertThat(repeated)
                .as("After stop, the group's committed offsets are %s, but %d records at or after them had finished (%s): a "
                    + "restart would process them again. drainAndCommit must commit once the calls have finished (TODO 4)",
                        committed.isEmpty() ? "none" : committed, repeated.size(), first(repeated))
                .isEmpty();
    }

    static String interruptedStory(Remote remote) {
        return "run() left while calls were still running: " + remote.interrupted.size() + " call(s) were interrupted ("
               + first(remote.interrupted) + ") when the pool shut down. On stop, let every record handed out finish before "
               + "leaving run(): drainAndCommit must wait, polling, until none is in flight, then commit (TODO 4)";
    }

    // ---- crash -------------------------------------------------------------------------------

    static final long crashSeed = System.nanoTime();

    @Test
    @Order(7)
    @Timeout(90)
    @DisplayName("killed (kill -9) mid-batch at random points, many times: no record is lost")
    void noLossAcrossKills() throws Exception {
        Topic topic = TOPICS.get(CRASH);
        List<String> story = new ArrayList<>();
        List<List<String>> logs = new ArrayList<>();
        for (int round = 0; round < CRASH_ROUNDS; round++) {
            bootCrashJvms(Math.min(round + 2, CRASH_ROUNDS)); // started already, unless an earlier check failed
            // Booted ahead: a restart waits for nothing but the kill.
            LabProcess.Started current = CRASH_JVMS.set(round, null);
            LabProcess.Outcome outcome;
            try (current) {
                current.go();
                outcome = current.finish(ONE_INSTANCE);
            }
            if (outcome.timedOut()) {
                fail("Instance " + (round + 1) + " (in a JVM of its own) neither was killed nor finished within "
                     + ONE_INSTANCE.toSeconds() + " s: does run() poll, dispatch and commit?");
            }
            if (outcome.exitCode() == LabProcess.THREW) {
                fail(outcome.output().lines().filter(l -> l.startsWith("THREW ")).findFirst().orElse("THREW ?").substring(6));
            }
            List<String> lines = outcome.records();
            logs.add(lines);
            String killedAt = lines.stream().filter(l -> l.startsWith("K ")).map(l -> l.substring(2)).findFirst().orElse(null);
            long finished = lines.stream().filter(l -> l.startsWith("F ")).count();
            story.add("instance " + (round + 1) + (killedAt != null ? " (killed at its call #" + killedAt + ", " + finished + " calls finished)"
                    : " (" + finished + " calls finished, not killed)"));
        }
        // A last, clean instance in this JVM runs until the group has committed the end of every partition.
        Remote remote = new Remote(r -> 2);
        Map<Integer, Long> before = committedOffsets(crashGroup);
        Watched watched = Watched.assign(topic, crashGroup, Map.of());
        watched.committed.putAll(before); // partitions the killed instances finished see no new commit
        boolean caughtUp;
        try (watched) {
            Run run = Run.start(watched, remote, 8, 32);
            try {
                await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(50))
                        .until(() -> run.done() || allCommitted(watched, topic));
            } catch (ConditionTimeoutException e) {
                // described below
            }
            caughtUp = allCommitted(watched, topic);
            run.stop();
            requireHealthy(watched, remote);
        }
        story.add("a last instance (" + remote.ended.get() + " calls, " + (caughtUp ? "caught up" : "did not catch up within 15 s") + ")");
        Set<String> done = new TreeSet<>(BY_ID);
        logs.forEach(l -> l.stream().filter(s -> s.startsWith("F ")).forEach(s -> done.add(s.substring(2))));
        done.addAll(remote.finishedIds());
        Set<String> lost = topic.ids();
        lost.removeAll(done);
        if (!lost.isEmpty()) {
            fail(lost.size() + " of " + topic.total() + " records never finished a call: " + first(lost) + "\n"
                 + "The group's instances, one after the other: " + String.join(", ", story) + " (random seed " + crashSeed + ")\n"
                 + whyLost(logs, lost));
        }
    }

    static boolean allCommitted(Watched watched, Topic topic) {
        for (int p = 0; p < topic.partitions(); p++) {
            if (watched.committed(p) < topic.end(p)) {
                return false;
            }
        }
        return true;
    }

    /** The first commit, in any killed instance, that covered a record no instance had finished by then. */
    static String whyLost(List<List<String>> logs, Set<String> lost) {
        Set<String> finishedSoFar = new TreeSet<>();
        for (int i = 0; i < logs.size(); i++) {
            for (String line : logs.get(i)) {
                if (line.startsWith("F ")) {
                    finishedSoFar.add(line.substring(2));
                } else if (line.startsWith("C ")) {
                    for (String part : line.substring(2).split(",")) {
                        if (part.isBlank()) {
                            continue;
                        }
                        String[] kv = part.split("=");
                        int p = Integer.parseInt(kv[0]);
                        long offset = Long.parseLong(kv[1]);
                        String ahead = lost.stream().filter(id -> id.startsWith("p" + p + "@"))
                                .filter(id -> Long.parseLong(id.substring(id.indexOf('@') + 1)) < offset)
                                .filter(id -> !finishedSoFar.contains(id)).findFirst().orElse(null);
                        if (ahead != null) {
                            return "Instance " + (i + 1) + " committed offset " + offset + " for partition " + p + " while " + ahead
                                   + " had not finished; the kill came before it did. Commit only each partition's finished prefix (TODO 2)";
                        }
                    }
                }
            }
        }
        return "The group's committed offsets moved past them before their calls finished. Commit only each partition's "
               + "finished prefix, after the calls (TODO 2)";
    }

    /** Starts the JVMs of the first {@code count} killed instances that are not started yet. */
    static void bootCrashJvms(int count) {
        while (CRASH_JVMS.size() < count) {
            CRASH_JVMS.add(startCrashJvm(CRASH_JVMS.size()));
        }
    }

    static LabProcess.Started startCrashJvm(int round) {
        Random random = new Random(crashSeed + round);
        // Killed at one of its first 40 calls: five instances cannot get through 300 records, so each is killed mid-work.
        int killAt = 5 + random.nextInt(36);
        Topic topic = TOPICS.get(CRASH);
        return LabProcess.start(CrashWorker.class, topic.name(), String.valueOf(topic.partitions()), crashGroup, String.valueOf(killAt));
    }

    /** One instance in a JVM of its own: runs the lab's processor and is halted at the start of its n-th call. */
    public static final class CrashWorker implements LabProcess.Body {
        @Override
        public void run(String[] args) throws Exception {
            String topicName = args[0];
            int partitions = Integer.parseInt(args[1]);
            int killAt = Integer.parseInt(args[3]);
            List<TopicPartition> assigned = new ArrayList<>();
            for (int p = 0; p < partitions; p++) {
                assigned.add(new TopicPartition(topicName, p));
            }
            AtomicInteger calls = new AtomicInteger();
            RemoteService service = record -> {
                if (calls.incrementAndGet() == killAt) {
                    LabProcess.record("K " + killAt);
                    LabProcess.crash(); // the other calls in flight die with it
                }
                Thread.sleep(2);
                LabProcess.record("F " + id(record));
            };
            Properties config = LabUnderTest.current().call("consumerConfig", LabUnderTest.current().bootstrapServers(), args[2]);
            try (KafkaConsumer<String, String> real = new KafkaConsumer<>(config)) {
                real.assign(assigned);
                Consumer<String, String> consumer = Watched.proxy(real, null, (name, commit) -> LabProcess.record("C " + commit));
                LabProcess.awaitGo();
                AtomicBoolean stop = new AtomicBoolean();
                ExecutorService loop = Executors.newSingleThreadExecutor();
                Future<?> running = loop.submit(() -> {
                    LabUnderTest.current().call("run", consumer, service, 8, 32, stop);
                    return null;
                });
                try {
                    running.get(30, TimeUnit.SECONDS);
                } catch (TimeoutException e) {
                    stop.set(true); // never killed: the work ran out first
                    running.get(10, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof Error error) {
                        throw error;
                    }
                    throw e.getCause() instanceof Exception ex ? ex : e;
                }
            }
        }
    }

    // ---- what every run must also respect ---------------------------------------------------------

    /** Facts every run must keep, checked after each: one thread on the consumer, the loop kept polling, per-key order. */
    static void requireHealthy(Watched watched, Remote remote) {
        requireForeignFree(watched);
        remote.requireKeyOrder();
    }

    /** A processor that paused, has nothing in flight, and has not resumed for a while: stuck for good. */
    static String stallStory(Watched watched, Remote remote) {
        boolean stuck = !watched.pausedNow.isEmpty() && remote.inFlight.get() == 0
                        && System.nanoTime() - remote.lastEnd.get() > Duration.ofSeconds(1).toNanos();
        return !stuck ? null : "The consumer paused " + watched.pausedNow + " and never resumed: every call handed out has finished ("
                + remote.ended.get() + " so far), and poll() returns nothing for a paused partition. Resume once the number "
                + "of unfinished records has dropped (TODO 3)";
    }

    static void requireForeignFree(Watched watched) {
        assertThat(watched.foreign)
                .as("The consumer was called from a thread other than the poll loop's: %s. KafkaConsumer is not thread-safe "
                    + "(it throws ConcurrentModificationException when two threads use it at once): only run()'s thread may "
                    + "poll, commit, pause or resume; a pool thread only marks its record finished", first(watched.foreign))
                .isEmpty();
    }

    /** Where the checker set max.poll.interval.ms: the loop never went that long without polling. */
    static void requireKeptPolling(Watched watched, Remote remote) {
        if (watched.gapLimitMs > 0 && watched.maxGapMs() > watched.gapLimitMs) {
            fail(watched.gapStory() + (remote.maxConcurrent.get() <= 1
                    ? " No two calls ever overlapped: the records were processed one at a time, on the loop's thread or waited for by it."
                    : ""));
        }
    }

    static String whySlow(Remote remote, Topic topic, Watched watched) {
        String stalled = stallStory(watched, remote);
        if (stalled != null) {
            return stalled;
        }
        if (remote.maxConcurrent.get() <= 1 && remote.onLoopThread.get() > 0) {
            return "No two calls ever ran at the same time: they ran on the poll loop's own thread, one after the other. "
                   + "callInKeyOrder must hand the call to the pool (thenRunAsync(..., pool)) and return at once (TODO 1)";
        }
        if (remote.maxConcurrent.get() <= topic.partitions()) {
            return "At most " + remote.maxConcurrent.get() + " call(s) ran at once, on pool threads, although " + WORKERS_FAST
                   + " workers were there and each partition here holds " + FAST_KEYS / topic.partitions() + " keys whose calls "
                   + "may run side by side. Only the records of one key must wait for each other: chain each record behind the "
                   + "last call of its own key, not of its partition, and never wait for a call before handing out the next (TODO 1)";
        }
        return "Calls did overlap (at most " + remote.maxConcurrent.get() + " at once), but not enough: do pool threads wait for "
               + "other calls (a lock per key, join() or get() inside a task), or does the loop wait before polling again?";
    }

    // ---- the remote service the checker hands the lab ---------------------------------------------

    /** The checker's remote service: sleeps its latency and notes, per key, the order and overlap of calls. */
    static final class Remote implements RemoteService {
        final ToLongFunction<ConsumerRecord<String, String>> latencyMs;
        final Map<String, AtomicInteger> perKeyInFlight = new ConcurrentHashMap<>();
        final Map<String, Long> lastOffsetPerKey = new ConcurrentHashMap<>();
        final Map<String, AtomicInteger> finished = new ConcurrentHashMap<>();
        final List<String> overlaps = new CopyOnWriteArrayList<>();
        final List<String> outOfOrder = new CopyOnWriteArrayList<>();
        final List<String> interrupted = new CopyOnWriteArrayList<>();
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger onLoopThread = new AtomicInteger();
        final AtomicInteger maxConcurrent = new AtomicInteger();
        final AtomicInteger ended = new AtomicInteger();
        final AtomicLong firstStart = new AtomicLong();
        final AtomicLong lastEnd = new AtomicLong();
        volatile String held;
        final CountDownLatch release = new CountDownLatch(1);
        volatile int inFlightAtStop;

        Remote(ToLongFunction<ConsumerRecord<String, String>> latencyMs) {
            this.latencyMs = latencyMs;
        }

        void hold(String id) {
            held = id;
        }

        void release() {
            release.countDown();
        }

        @Override
        public void call(ConsumerRecord<String, String> record) throws Exception {
            String id = id(record);
            String key = record.key();
            firstStart.compareAndSet(0, System.nanoTime());
            if (Thread.currentThread().getName().equals(LOOP_THREAD)) {
                onLoopThread.incrementAndGet();
            }
            int now = inFlight.incrementAndGet();
            maxConcurrent.accumulateAndGet(now, Math::max);
            AtomicInteger mine = perKeyInFlight.computeIfAbsent(key, k -> new AtomicInteger());
            if (mine.incrementAndGet() > 1) {
                overlaps.add("key " + key + ": " + id + " started while an earlier call of the same key was still running");
            }
            Long previous = lastOffsetPerKey.put(key, record.offset());
            if (previous != null && previous > record.offset()) {
                outOfOrder.add("key " + key + ": " + id + " was called after " + id(record.partition(), previous));
            }
            try {
                if (id.equals(held)) {
                    release.await(30, TimeUnit.SECONDS);
                }
                Thread.sleep(latencyMs.applyAsLong(record));
                finished.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
            } catch (InterruptedException e) {
                interrupted.add(id);
                throw e;
            } finally {
                mine.decrementAndGet();
                inFlight.decrementAndGet();
                ended.incrementAndGet();
                lastEnd.set(System.nanoTime());
            }
        }

        Set<String> finishedIds() {
            Set<String> ids = new TreeSet<>(BY_ID);
            ids.addAll(finished.keySet());
            return ids;
        }

        double rate() {
            return finished.values().stream().mapToInt(AtomicInteger::get).sum() * 1e9 / Math.max(1, lastEnd.get() - firstStart.get());
        }

        void requireKeyOrder() {
            assertThat(overlaps)
                    .as("Two calls of one key ran at the same time (%d times): %s. At most one call per key may be in flight: "
                        + "chain each record behind the previous call of its key (TODO 1)", overlaps.size(), first(overlaps))
                    .isEmpty();
            assertThat(outOfOrder)
                    .as("A key's records were called out of offset order (%d times): %s. Each key's records must run in the "
                        + "order of their offsets: queue a record behind the previous call of its key, not on a lock a pool "
                        + "thread waits for (TODO 1)", outOfOrder.size(), first(outOfOrder))
                    .isEmpty();
        }

        void requireEachOnce(Topic topic) {
            List<String> twice = finished.entrySet().stream().filter(e -> e.getValue().get() > 1).map(Map.Entry::getKey).sorted(BY_ID).toList();
            assertThat(twice)
                    .as("In one run with no crash, each record must be called once; these were called more often: %s (TODO 1)", first(twice))
                    .isEmpty();
        }
    }

    // ---- the processor under test, run on a thread of the checker --------------------------------

    static final class Run {
        final Future<?> future;
        final AtomicBoolean stop = new AtomicBoolean();
        final ExecutorService thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, LOOP_THREAD);
            t.setDaemon(true);
            return t;
        });
        final Watched watched;
        final Remote remote;

        private Run(Watched watched, Remote remote, int workers, int maxInFlight) {
            this.watched = watched;
            this.remote = remote;
            watched.remote = remote;
            this.future = thread.submit(() -> {
                watched.loopThread = Thread.currentThread();
                lab().call("run", watched.consumer, remote, workers, maxInFlight, stop);
                return null;
            });
        }

        static Run start(Watched watched, Remote remote, int workers, int maxInFlight) {
            return new Run(watched, remote, workers, maxInFlight);
        }

        boolean done() {
            return future.isDone();
        }

        boolean stalled() {
            return stallStory(watched, remote) != null;
        }

        /** Fails with what run() threw, or because it returned before stop was set. */
        void requireRunning() throws Exception {
            if (done()) {
                rethrow();
                fail("run() returned before stop was set: it must keep polling until the caller sets stop");
            }
        }

        void awaitFinished(Topic topic, Duration bound, String what) throws Exception {
            awaitFinished(topic.ids(), bound, what);
        }

        void awaitFinished(Set<String> ids, Duration bound, String what) throws Exception {
            try {
                await().atMost(bound).pollInterval(Duration.ofMillis(10))
                        .until(() -> done() || remote.finished.keySet().containsAll(ids) || stalled());
            } catch (ConditionTimeoutException e) {
                // described below
            }
            if (done()) {
                rethrow();
                fail("run() returned before stop was set: it must keep polling until the caller sets stop");
            }
            Set<String> missing = new TreeSet<>(BY_ID);
            missing.addAll(ids);
            missing.removeAll(remote.finished.keySet());
            if (!missing.isEmpty()) {
                requireHealthy(watched, remote);
                requireKeptPolling(watched, remote);
                String stalled = stallStory(watched, remote);
                if (stalled != null) {
                    fail(stalled);
                }
                fail("Within " + bound.toSeconds() + " s the processor should have finished " + what + "; " + missing.size()
                     + " never finished a call: " + first(missing) + " (" + remote.ended.get() + " calls ended, "
                     + remote.inFlight.get() + " running, " + watched.handedOut.get() + " records handed out by poll(), partitions "
                     + (watched.pausedNow.isEmpty() ? "not paused" : "paused: " + watched.pausedNow) + ")");
            }
        }

        /** Sets stop; run() must drain and return within the bound. */
        void stop() throws Exception {
            stop.set(true);
            try {
                future.get(RUN_BOUND.toSeconds(), TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                future.cancel(true);
                // A run that never returns may be a consequence too: a commit from a pool thread that threw there.
                requireForeignFree(watched);
                fail("run() did not return within " + RUN_BOUND.toSeconds() + " s after stop was set (" + remote.inFlight.get()
                     + " calls still running): on stop, drain (every record handed out finishes), commit, and return (TODO 4)");
            } catch (ExecutionException e) {
                rethrow();
            } finally {
                remote.inFlightAtStop = remote.inFlight.get();
                thread.shutdownNow();
            }
        }

        private void rethrow() throws Exception {
            // What the lab threw may be a consequence: a consumer used by two threads, a member evicted after a long wait.
            requireForeignFree(watched);
            requireKeptPolling(watched, remote);
            try {
                future.get(0, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof Exception ex) {
                    throw ex;
                }
                if (cause instanceof Error err) {
                    throw err;
                }
                throw e;
            }
        }
    }

    // ---- the consumer, watched -----------------------------------------------------------------

    interface CommitLog {
        void commit(String method, String offsets);
    }

    static final class Watched implements AutoCloseable {
        final KafkaConsumer<String, String> real;
        final Consumer<String, String> consumer;
        volatile Thread loopThread;
        final List<String> foreign = new CopyOnWriteArrayList<>();
        final AtomicLong handedOut = new AtomicLong();
        final AtomicLong maxUnfinished = new AtomicLong();
        final AtomicInteger pauses = new AtomicInteger();
        final AtomicInteger resumes = new AtomicInteger();
        volatile Set<TopicPartition> pausedNow = Set.of();
        final Map<Integer, Long> committed = new ConcurrentHashMap<>();
        final List<String> commits = new CopyOnWriteArrayList<>();
        final List<String> rebalances = new CopyOnWriteArrayList<>();
        final AtomicLong lastPollEnd = new AtomicLong();
        final AtomicLong maxGapNanos = new AtomicLong();
        final AtomicInteger polls = new AtomicInteger();
        volatile String passing;
        Remote remote;

        private Watched(KafkaConsumer<String, String> real) {
            this.real = real;
            this.consumer = proxy(real, this, null);
        }

        static Watched assign(Topic topic, String group, Map<String, Object> overrides) {
            Watched w = new Watched(newConsumer(group, overrides));
            w.real.assign(partitions(topic));
            return w;
        }

        static Watched subscribe(Topic topic, String group, Map<String, Object> overrides) {
            Watched w = new Watched(newConsumer(group, overrides));
            w.real.subscribe(List.of(topic.name()), new ConsumerRebalanceListener() {
                boolean assigned;

                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    if (!partitions.isEmpty() && !w.closing) {
                        w.rebalances.add("revoked " + partitions);
                    }
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    if (!w.closing) {
                        w.rebalances.add("lost " + partitions);
                    }
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    if (assigned && !partitions.isEmpty()) {
                        w.rebalances.add("assigned again " + partitions);
                    }
                    assigned |= !partitions.isEmpty();
                }
            });
            return w;
        }

        volatile boolean closing;

        long committed(int partition) {
            return committed.getOrDefault(partition, -1L);
        }

        boolean passed(int partition, long offset) {
            return committed(partition) > offset;
        }

        String commitPassing(int partition, long offset) {
            return passing;
        }

        String lastCommitStory() {
            return commits.isEmpty() ? "none (nothing was committed)" : commits.get(commits.size() - 1);
        }

        volatile int gapLimitMs;

        void noteGap() {
            long end = lastPollEnd.get();
            if (end != 0) {
                maxGapNanos.accumulateAndGet(System.nanoTime() - end, Math::max);
            }
        }

        long maxGapMs() {
            return maxGapNanos.get() / 1_000_000;
        }

        String gapStory() {
            return "The poll loop went " + maxGapMs() + " ms without calling poll(), with max.poll.interval.ms = "
                   + gapLimitMs + ": the group takes such a member for dead and gives its partitions away (its next commit "
                   + "fails with CommitFailedException). The loop must never wait for calls: hand records to the pool and poll again (calls run on the pool, "
                   + "commits cover what has finished, a full pool pauses the partitions instead of waiting)";
        }

        void noteCommit(Map<?, ?> offsets) {
            StringBuilder s = new StringBuilder();
            Map<Integer, Long> these = new TreeMap<>();
            offsets.forEach((tp, om) -> these.put(((TopicPartition) tp).partition(), ((OffsetAndMetadata) om).offset()));
            these.forEach((p, o) -> s.append(s.length() == 0 ? "" : ",").append(p).append('=').append(o));
            if (remote != null && remote.held != null && remote.release.getCount() > 0) {
                these.forEach((p, o) -> {
                    int hp = Integer.parseInt(remote.held.substring(1, remote.held.indexOf('@')));
                    long ho = Long.parseLong(remote.held.substring(remote.held.indexOf('@') + 1));
                    if (p == hp && o > ho && passing == null) {
                        passing = "offset " + o + " for partition " + p;
                    }
                });
            }
            committed.putAll(these);
            commits.add("commit of " + these);
        }

        @Override
        public void close() {
            closing = true;
            try {
                real.close(CloseOptions.timeout(Duration.ofSeconds(5)));
            } catch (java.util.ConcurrentModificationException e) {
                // the lab's loop still runs on it (a check already failed for that): leave it
            }
        }

        static Consumer<String, String> proxy(KafkaConsumer<String, String> real, Watched w, CommitLog log) {
            @SuppressWarnings("unchecked")
            Consumer<String, String> proxy = (Consumer<String, String>) Proxy.newProxyInstance(
                    Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class}, (self, method, args) -> {
                        String name = method.getName();
                        if (w != null && w.loopThread != null && Thread.currentThread() != w.loopThread && !name.equals("wakeup")) {
                            w.foreign.add(name + "() from thread " + Thread.currentThread().getName());
                        }
                        boolean poll = name.equals("poll");
                        if (w != null) {
                            w.noteGap(); // a wait before this call (a commit, a pause) counts, not only one before poll()
                        }
                        Map<?, ?> offsets = null;
                        if (name.startsWith("commit")) {
                            offsets = args == null ? null : java.util.Arrays.stream(args).filter(a -> a instanceof Map<?, ?>)
                                    .map(a -> (Map<?, ?>) a).findFirst().orElse(null);
                            if (offsets == null) {
                                Map<TopicPartition, OffsetAndMetadata> positions = new LinkedHashMap<>();
                                for (TopicPartition tp : real.assignment()) {
                                    positions.put(tp, new OffsetAndMetadata(real.position(tp)));
                                }
                                offsets = positions;
                            }
                        }
                        Object result;
                        try {
                            result = method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                        if (offsets != null) {
                            if (w != null) {
                                w.noteCommit(offsets);
                            }
                            if (log != null) {
                                StringBuilder s = new StringBuilder();
                                offsets.forEach((tp, om) -> s.append(s.length() == 0 ? "" : ",")
                                        .append(((TopicPartition) tp).partition()).append('=').append(((OffsetAndMetadata) om).offset()));
                                log.commit(name, s.toString());
                            }
                        }
                        if (w != null) {
                            if (poll) {
                                w.polls.incrementAndGet();
                                if (result instanceof ConsumerRecords<?, ?> records) {
                                    long out = w.handedOut.addAndGet(records.count());
                                    if (w.remote != null) {
                                        w.maxUnfinished.accumulateAndGet(out - w.remote.ended.get(), Math::max);
                                    }
                                }
                                w.lastPollEnd.set(System.nanoTime());
                            } else {
                                w.noteGap(); // a commit that took long counts too
                            }
                            if (name.equals("pause") || name.equals("resume")) {
                                (name.equals("pause") ? w.pauses : w.resumes).incrementAndGet();
                                w.pausedNow = Set.copyOf(real.paused());
                            }
                        }
                        return result;
                    });
            return proxy;
        }
    }

    // ---- small helpers -------------------------------------------------------------------------

    static KafkaConsumer<String, String> newConsumer(String group, Map<String, Object> overrides) {
        Properties config = lab().call("consumerConfig", bootstrapServers(), group);
        config.putAll(overrides);
        return new KafkaConsumer<>(config);
    }

    static List<TopicPartition> partitions(Topic topic) {
        List<TopicPartition> list = new ArrayList<>();
        for (int p = 0; p < topic.partitions(); p++) {
            list.add(new TopicPartition(topic.name(), p));
        }
        return list;
    }

    static Map<Integer, Long> committedOffsets(String group) throws Exception {
        try (Admin admin = admin()) {
            Map<Integer, Long> offsets = new TreeMap<>();
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
                    .forEach((tp, om) -> {
                        if (om != null) {
                            offsets.put(tp.partition(), om.offset());
                        }
                    });
            return offsets;
        }
    }

    static String first(Collection<String> items) {
        return items.stream().limit(8).collect(Collectors.joining("; ")) + (items.size() > 8 ? "; ..." : "");
    }
}
