package workshop.checks;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.RecordHandler;
import workshop.check.LabCheck;
import workshop.check.LabProcess;
import workshop.check.LabUnderTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Lab 10: the learner's consumer runs as a series of instances of one group over one topic.
 * A clean shutdown and restart must reprocess nothing; instances whose handler throws, and an
 * instance killed for real (a JVM halted like kill -9: no catch, no finally, no close, no last
 * commit), must lose nothing.
 *
 * <p>The topic is made so that simple answers behave differently: the partitions hold
 * different numbers of records, none a multiple of the batch size, and a small fetch size
 * makes each poll return records of two or three partitions; the records were written in
 * transactions, so the offsets of a partition have gaps (the commit markers) and no two
 * partitions have the same offsets. Every poll, handler call and commit is logged; when
 * records are lost or repeated, the log says which commit did it and when.
 */
class Lab10CommitOrderCheck extends LabCheck {

    /** Records per partition: none a multiple of the batch size, so batches cross partitions. */
    static final int[] RECORDS = {23, 37, 31};
    /** max.poll.records for every instance: many polls and commits per run. */
    static final int BATCH = 10;
    /**
     * Records per partition in one transaction: a commit marker (an offset gap) after every few,
     * and a different rhythm per partition, so that no two partitions have the same offsets.
     */
    static final int[] PER_TRANSACTION = {3, 5, 4};
    /** Bytes per partition and fetch: one transaction's records and marker, not two. */
    static final int FETCH_BYTES = 800;
    /** How long one instance may take to catch up; a loaded machine needs seconds, a broken answer never gets there. */
    static final Duration INSTANCE_BOUND = Duration.ofSeconds(45);
    /** The killed instance's JVM, from its go: its own bound plus time to start its work. */
    static final Duration ONE_INSTANCE = INSTANCE_BOUND.plusSeconds(15);
    static final int THROW_ROUNDS = 3;
    /** How long a one-partition batch waits for records of the other partitions to join it. */
    static final Duration TOP_UP_BOUND = Duration.ofSeconds(3);

    /** Records as "partition@offset", in partition then offset order. */
    static final Comparator<String> BY_RECORD = Comparator.comparingInt((String r) -> Integer.parseInt(r.split("@")[0]))
            .thenComparingLong(r -> Long.parseLong(r.split("@")[1]));

    private static Topic shared;
    /** The instance the last check kills, in a JVM started as soon as the topic exists: it boots while the other checks run. */
    private static LabProcess.Started killed;
    private static String killedGroup;
    private static long killSeed;
    private static int killAt;

    @Test
    @Order(1)
    @DisplayName("auto-commit is off: only your code commits")
    void autoCommitIsOff() {
        Properties config = lab().call("consumerConfig", bootstrapServers(), uniqueName("group"));
        assertThat(String.valueOf(config.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG)))
                .as("consumerConfig leaves %s on (it is true by default): the consumer then commits whatever poll() "
                    + "returned every 5 s, processed or not, and a crash loses the rest. Set it to false",
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG)
                .isEqualToIgnoringCase("false");
    }

    @Test
    @Order(2)
    @Timeout(75)
    @DisplayName("after a clean shutdown, a restart reprocesses nothing")
    void cleanRestartReprocessesNothing() throws Exception {
        Topic topic = topic();
        String group = uniqueName("group");
        Instance.INSTANCES.set(0);
        // The first instance subscribes, as the lab's own main does; the restart is assigned the partitions.
        Run first = Instance.inProcess(topic, group, true, Mode.NONE, 0);
        Set<String> missed = records(topic.all());
        missed.removeAll(first.handled());
        if (!missed.isEmpty()) {
            fail(firstRunMissed(topic, first, missed));
        }
        Map<Integer, Long> committed = committedOffsets(group);
        Run restart = Instance.inProcess(topic, group, false, Mode.NONE, 0);
        if (!restart.handled().isEmpty()) {
            fail("After a clean shutdown the restarted consumer processed " + count(restart.handled().size()) + " again: "
                 + first(restart.handled()) + "\n" + whyRepeated(topic, first, committed));
        }
    }

    @Test
    @Order(3)
    @Timeout(75)
    @DisplayName("when the handler throws, no record is lost")
    void noRecordLostWhenHandlerThrows() throws Exception {
        Topic topic = topic();
        String group = uniqueName("group");
        Instance.INSTANCES.set(0);
        long seed = System.nanoTime();
        Random random = new Random(seed);
        List<Run> runs = new ArrayList<>();
        for (int round = 0; round < THROW_ROUNDS; round++) {
            // The first instance fails on the very first record it is given; the others mid-batch, further on.
            int at = round == 0 ? 1 : 2 + random.nextInt(2 * BATCH);
            runs.add(Instance.inProcess(topic, group, false, Mode.THROW, at));
        }
        runs.add(Instance.inProcess(topic, group, false, Mode.NONE, 0));
        requireNoLoss(topic, runs, seed);
    }

    @Test
    @Order(4)
    @Timeout(75)
    @DisplayName("with the consumer killed (kill -9) at random points, no record is lost")
    void noRecordLostAcrossKills() throws Exception {
        Topic topic = topic();
        Instance.INSTANCES.set(0);
        List<Run> runs = new ArrayList<>();
        // Killed before one of the first records it is given: whatever it committed ahead of its work by then is lost.
        // A kill runs no catch and no finally, so an answer that commits first and undoes it on an exception fails here.
        try (LabProcess.Started jvm = killed) {
            killed = null;
            jvm.go();
            runs.add(Instance.killed(jvm.finish(ONE_INSTANCE), killAt));
        }
        runs.add(Instance.inProcess(topic, killedGroup, false, Mode.NONE, 0));
        requireNoLoss(topic, runs, killSeed);
    }

    @AfterAll
    static void stopUnusedJvm() {
        if (killed != null) {
            killed.close();
            killed = null;
        }
    }

    // ---- what a failed check says --------------------------------------------------------------

    private static String firstRunMissed(Topic topic, Run first, Set<String> missed) {
        if (first.handled().isEmpty()) {
            Properties config = lab().call("consumerConfig", bootstrapServers(), uniqueName("group"));
            Object reset = config.get(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG);
            if (!"earliest".equalsIgnoreCase(String.valueOf(reset))) {
                return "A consumer of a new group processed none of the " + topic.total() + " records already in the topic: "
                       + ConsumerConfig.AUTO_OFFSET_RESET_CONFIG + " is " + (reset == null ? "not set (default \"latest\")" : "\"" + reset + "\"")
                       + ", so a group with no committed offset starts at the end of each partition. Set it to \"earliest\" (TODO 1)";
            }
        }
        return "In one run over the whole topic, with no crash, " + missed.size() + " of " + topic.total()
               + " records never reached the handler: " + first(missed) + ". processBatch must hand every record "
               + "that poll() returned to handler.handle (TODO 2)";
    }

    /** Why a restart read records again: the committed offsets compared with what was handled, per partition. */
    private static String whyRepeated(Topic topic, Run first, Map<Integer, Long> committed) {
        Map<Integer, Long> expected = new TreeMap<>();
        for (int p = 0; p < RECORDS.length; p++) {
            expected.put(p, topic.last(p) + 1);
        }
        String seen = "Committed offsets per partition: " + show(committed) + "; after every record was handled: "
                      + show(expected) + ", the offset after each partition's last record.\n";
        if (committed.isEmpty()) {
            return seen + "Nothing was committed: processBatch must commit, after handling the batch (TODO 2)";
        }
        List<String> matches = new ArrayList<>();
        for (Strategy strategy : Strategy.WRONG) {
            if (strategy.replay(first.batches()).equals(committed)) {
                matches.add(strategy.explanation);
            }
        }
        if (matches.size() == 1) {
            return seen + matches.get(0);
        }
        if (matches.size() > 1) {
            return seen + "Your commits match each of these mistakes: " + String.join(" Or: ", matches);
        }
        return seen + "Likely causes: an offset that is not the last handled record's offset + 1; one offset used for "
               + "every partition of a batch (a batch here holds records of two or three partitions); only one partition of a "
               + "batch committed; an offset computed from a count (offsets have gaps here: transaction markers)";
    }

    private static void requireNoLoss(Topic topic, List<Run> runs, long seed) {
        Set<String> handled = new LinkedHashSet<>();
        runs.forEach(r -> handled.addAll(r.handled()));
        Set<String> lost = records(topic.all());
        lost.removeAll(handled);
        if (lost.isEmpty()) {
            return;
        }
        String history = runs.stream().map(Run::describe).collect(Collectors.joining(", "));
        fail(lost.size() + " of " + topic.total() + " records were never processed (partition@offset): " + first(lost) + "\n"
             + "The group's instances, one after the other: " + history + " (random seed " + seed + ")\n"
             + whyLost(topic, runs, lost));
    }

    /**
     * Finds the commit that moved the group past a lost record while that record was not yet
     * handled, and says when it was made: that moment tells the mistakes apart.
     */
    private static String whyLost(Topic topic, List<Run> runs, Set<String> lost) {
        Set<String> handledSoFar = new TreeSet<>();
        for (Run run : runs) {
            List<String> events = run.events();
            int lastPoll = -1;
            for (int i = 0; i < events.size(); i++) {
                String event = events.get(i);
                if (event.startsWith("P ")) {
                    lastPoll = i;
                } else if (event.startsWith("H ")) {
                    handledSoFar.add(event.substring(2));
                } else if (event.startsWith("C ")) {
                    Commit commit = Commit.parse(event);
                    Set<String> ahead = new TreeSet<>(BY_RECORD);
                    commit.offsets().forEach((p, offset) -> topic.offsets(p).stream()
                            .filter(o -> o < offset).map(o -> p + "@" + o)
                            .filter(r -> !handledSoFar.contains(r)).forEach(ahead::add));
                    Set<String> aheadLost = records(ahead);
                    aheadLost.retainAll(lost);
                    if (!aheadLost.isEmpty()) {
                        return "In " + run.name() + ", " + commit.method() + " committed " + show(commit.offsets())
                               + " while " + first(aheadLost) + " had not been handled:\n" + when(run, events, lastPoll, i, ahead);
                    }
                }
            }
        }
        return "The group's committed offsets moved past them before they were handled. Likely causes: a commit before "
               + "the work, a commit in a finally block or after a caught handler exception, or a commit by a consumer "
               + "with auto-commit on. Commit only what was handled, after handling it";
    }

    private static String when(Run run, List<String> events, int lastPoll, int commitAt, Set<String> ahead) {
        List<String> sincePoll = events.subList(lastPoll + 1, commitAt);
        String failedCovered = events.subList(0, commitAt).stream().filter(e -> e.startsWith("F ")).map(e -> e.substring(2))
                .filter(ahead::contains).findFirst().orElse(null);
        if (failedCovered != null && !run.escaped()) {
            return "The handler threw on " + failedCovered + " (a failure the checker injected), processBatch did not let the "
                   + "exception escape, and this commit then covered " + failedCovered + ", which was never processed. A failed "
                   + "record is not done: let the exception escape so that the next instance handles it again (or commit only "
                   + "the records before it, and seek() back to it)";
        }
        String failedInBatch = sincePoll.stream().filter(e -> e.startsWith("F ")).map(e -> e.substring(2)).findFirst().orElse(null);
        if (failedInBatch != null) {
            return "This commit came after the handler threw on " + failedInBatch + " (a failure the checker injected), before "
                   + "the exception escaped processBatch: a commit in a finally block (or a catch) commits records that "
                   + "failed or were never handed to the handler. Commit only after the work succeeded";
        }
        String next = events.subList(commitAt + 1, events.size()).stream()
                .filter(e -> e.startsWith("H ") || e.startsWith("F ")).findFirst().orElse("");
        if (ahead.size() == 1 && next.length() > 2 && ahead.contains(next.substring(2))) {
            return "Each record was committed just before it was handled, so a crash between the two loses it. "
                   + "Commit a record after handling it (TODO 2)";
        }
        if (sincePoll.stream().noneMatch(e -> e.startsWith("H ") || e.startsWith("F "))) {
            return "This commit came right after poll(), before any record of the batch was handled: committing "
                   + "first is at-most-once. Handle the batch, then commit (TODO 2)";
        }
        return "A commit covered records of the batch that were not handled yet. Commit only after handling them (TODO 2)";
    }

    // ---- the scenario ---------------------------------------------------------------------------

    /** The topic every check reads (each with its own group): written once per grading. */
    private static synchronized Topic topic() throws Exception {
        if (shared == null) {
            shared = Topic.produce(createTopic("readings", RECORDS.length));
            killSeed = System.nanoTime();
            killAt = 1 + new Random(killSeed).nextInt(BATCH);
            killedGroup = uniqueName("group");
            killed = LabProcess.start(Worker.class, shared.name(), killedGroup, shared.lastOffsets(), Integer.toString(killAt));
        }
        return shared;
    }

    private static Map<Integer, Long> committedOffsets(String group) throws Exception {
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
            Map<Integer, Long> byPartition = new TreeMap<>();
            offsets.forEach((tp, om) -> {
                if (om != null) {
                    byPartition.put(tp.partition(), om.offset());
                }
            });
            return byPartition;
        }
    }

    /** The offsets of the data records per partition (transaction markers take the offsets in between). */
    record Topic(String name, Map<Integer, List<Long>> records) {

        static Topic produce(String name) throws Exception {
            Properties config = producerConfig();
            // Transactions leave a commit marker in each partition they wrote to: offsets with gaps, as in real topics.
            config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, name);
            Map<Integer, List<Future<RecordMetadata>>> sent = new TreeMap<>();
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
                producer.initTransactions();
                int[] next = new int[RECORDS.length];
                while (java.util.stream.IntStream.range(0, RECORDS.length).anyMatch(p -> next[p] < RECORDS[p])) {
                    producer.beginTransaction();
                    for (int p = 0; p < RECORDS.length; p++) {
                        for (int end = Math.min(next[p] + PER_TRANSACTION[p], RECORDS[p]); next[p] < end; next[p]++) {
                            sent.computeIfAbsent(p, k -> new ArrayList<>()).add(producer.send(
                                    new ProducerRecord<>(name, p, "sensor-" + p, String.format("%-100s", "reading-" + next[p]))));
                        }
                    }
                    producer.commitTransaction();
                }
            }
            Map<Integer, List<Long>> records = new TreeMap<>();
            for (var e : sent.entrySet()) {
                List<Long> offsets = new ArrayList<>();
                for (Future<RecordMetadata> f : e.getValue()) {
                    offsets.add(f.get(30, TimeUnit.SECONDS).offset());
                }
                records.put(e.getKey(), offsets);
            }
            return new Topic(name, records);
        }

        static Topic parse(String name, String lastOffsets) {
            // In a lab JVM only the last offsets are needed: which records exist is the checker's business.
            Map<Integer, List<Long>> records = new TreeMap<>();
            String[] last = lastOffsets.split(",");
            for (int p = 0; p < last.length; p++) {
                records.put(p, List.of(Long.parseLong(last[p])));
            }
            return new Topic(name, records);
        }

        String lastOffsets() {
            return records.keySet().stream().map(p -> Long.toString(last(p))).collect(Collectors.joining(","));
        }

        List<Long> offsets(int partition) {
            return records.getOrDefault(partition, List.of());
        }

        long last(int partition) {
            List<Long> offsets = offsets(partition);
            return offsets.get(offsets.size() - 1);
        }

        int total() {
            return records.values().stream().mapToInt(List::size).sum();
        }

        Set<String> all() {
            Set<String> all = new TreeSet<>(BY_RECORD);
            records.forEach((p, offsets) -> offsets.forEach(o -> all.add(p + "@" + o)));
            return all;
        }

        List<TopicPartition> partitions() {
            return records.keySet().stream().map(p -> new TopicPartition(name, p)).toList();
        }
    }

    enum Mode { NONE, THROW, HALT }

    /**
     * What one instance did, as a log: "P 0@1,0@2" a poll's records, "H 0@1" a record handled,
     * "F 0@2" the handler threw on a record, "C commitSync 0=3,1=0" a commit call with the offsets
     * it commits.
     */
    record Run(String name, String crash, List<String> events, boolean escaped) {

        Set<String> handled() {
            return events.stream().filter(e -> e.startsWith("H ")).map(e -> e.substring(2))
                    .collect(Collectors.toCollection(() -> new TreeSet<>(BY_RECORD)));
        }

        List<List<String>> batches() {
            return events.stream().filter(e -> e.startsWith("P ")).map(e -> List.of(e.substring(2).split(","))).toList();
        }

        String describe() {
            return name + " " + crash;
        }
    }

    record Commit(String method, Map<Integer, Long> offsets) {
        static Commit parse(String event) {
            String[] parts = event.split(" ");
            Map<Integer, Long> offsets = new TreeMap<>();
            if (parts.length > 2 && !parts[2].isEmpty()) {
                for (String entry : parts[2].split(",")) {
                    String[] kv = entry.split("=");
                    offsets.put(Integer.parseInt(kv[0]), Long.parseLong(kv[1]));
                }
            }
            return new Commit(parts[1], offsets);
        }
    }

    /** A wrong way to pick the offsets to commit after a batch, to compare the group's offsets with. */
    enum Strategy {
        SAME_OFFSET("Each is the offset of the partition's last handled record. A committed offset is the NEXT record to "
                    + "read: commit record.offset() + 1, not record.offset()",
                batch -> perPartition(batch, (first, last) -> last, c -> 0)),
        LAST_PARTITION_ONLY("They match committing only the partition of each batch's last record. A batch holds records of "
                            + "several partitions; commit each of them, at the offset after its own last record",
                batch -> {
                    String[] last = batch.get(batch.size() - 1).split("@");
                    return Map.of(Integer.parseInt(last[0]), Long.parseLong(last[1]) + 1);
                }),
        ONE_OFFSET_FOR_ALL("They match committing one offset (the batch's last record's + 1) for every partition of the batch. "
                           + "Offsets are per partition: commit, for each partition, the offset after its own last record",
                batch -> {
                    long last = Long.parseLong(batch.get(batch.size() - 1).split("@")[1]);
                    return perPartition(batch, (first, l) -> last + 1, c -> 0);
                }),
        HIGHEST_OFFSET_FOR_ALL("They match committing the highest offset of the batch + 1 for every partition of it. Offsets "
                               + "are per partition: commit, for each partition, the offset after its own last record",
                batch -> {
                    long max = batch.stream().mapToLong(r -> Long.parseLong(r.split("@")[1])).max().orElse(-1);
                    return perPartition(batch, (first, l) -> max + 1, c -> 0);
                }),
        FIRST_PLUS_COUNT("They match the first offset of each partition's records in the batch plus their count. Offsets "
                         + "in a partition have gaps (here: transaction markers), so a count falls short: commit the last "
                         + "handled record's offset + 1",
                batch -> perPartition(batch, (first, last) -> first, c -> c));

        static final List<Strategy> WRONG = List.of(values());

        final String explanation;
        private final Function<List<String>, Map<Integer, Long>> afterBatch;

        Strategy(String explanation, Function<List<String>, Map<Integer, Long>> afterBatch) {
            this.explanation = explanation;
            this.afterBatch = afterBatch;
        }

        Map<Integer, Long> replay(List<List<String>> batches) {
            Map<Integer, Long> committed = new TreeMap<>();
            batches.forEach(b -> committed.putAll(afterBatch.apply(b)));
            return committed;
        }

        private static Map<Integer, Long> perPartition(List<String> batch, java.util.function.BinaryOperator<Long> firstLast,
                                                       java.util.function.IntUnaryOperator countTerm) {
            Map<Integer, long[]> span = new TreeMap<>(); // first, last, count
            for (String record : batch) {
                String[] r = record.split("@");
                long offset = Long.parseLong(r[1]);
                long[] s = span.computeIfAbsent(Integer.parseInt(r[0]), k -> new long[] {offset, offset, 0});
                s[1] = offset;
                s[2]++;
            }
            Map<Integer, Long> offsets = new TreeMap<>();
            span.forEach((p, s) -> offsets.put(p, firstLast.apply(s[0], s[1]) + countTerm.applyAsInt((int) s[2])));
            return offsets;
        }
    }

    /** One consumer instance of the group: reads until it has caught up with the topic, unless it is made to fail. */
    static final class Instance {

        static final AtomicInteger INSTANCES = new AtomicInteger();

        /** In the checker's JVM: a clean run, or one whose handler throws on its {@code at}-th record. */
        static Run inProcess(Topic topic, String group, boolean subscribe, Mode mode, int at) throws Exception {
            List<String> events = Collections.synchronizedList(new ArrayList<>());
            boolean escaped = run(lab(), topic, group, subscribe, mode, at, events::add, () -> { });
            boolean threw = events.stream().anyMatch(e -> e.startsWith("F "));
            String crash = !threw ? (mode == Mode.THROW ? "(caught up before its handler was to throw)" : "(no crash)")
                    : "(its handler threw on record #" + at + (escaped ? ")" : ", and processBatch carried on)");
            return new Run(name(), crash, List.copyOf(events), escaped);
        }

        /** What an instance in a JVM of its own did, halted before handling its {@code at}-th record. */
        static Run killed(LabProcess.Outcome outcome, int at) {
            if (outcome.timedOut()) {
                fail("A consumer instance did not catch up with the topic within " + ONE_INSTANCE.toSeconds()
                     + " s: does processBatch poll, process and return?");
            }
            if (outcome.exitCode() == LabProcess.THREW) {
                fail(outcome.output().lines().filter(l -> l.startsWith("THREW ")).findFirst().orElse("THREW ?").substring(6));
            }
            if (!outcome.crashed() && !outcome.completed()) {
                fail("The consumer's JVM ended with exit code " + outcome.exitCode() + ": does the lab call System.exit?");
            }
            String crash = outcome.crashed() ? "(killed before handling record #" + at + ")" : "(caught up before its kill)";
            return new Run(name(), crash, outcome.records(), false);
        }

        private static String name() {
            return "instance " + INSTANCES.incrementAndGet();
        }

        /** Runs the instance; true if the injected failure escaped processBatch (the instance died of it). */
        static boolean run(LabUnderTest lab, Topic topic, String group, boolean subscribe, Mode mode, int at,
                           java.util.function.Consumer<String> log, Runnable ready) throws Exception {
            Properties config = lab.call("consumerConfig", lab.bootstrapServers(), group);
            // Small batches: many polls and commits per instance, and polls that cross partitions.
            config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, BATCH);
            // One transaction's records (at most about 650 bytes) and its marker per partition and fetch: a poll then
            // drains a few records of each partition, so batches hold records of two or three partitions.
            config.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, FETCH_BYTES);
            // The records are all there: a fetch for partitions already read to the end must not hold up the others.
            config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10);
            List<TopicPartition> partitions = topic.partitions();
            AtomicInteger calls = new AtomicInteger();
            RecordHandler handler = record -> {
                String id = record.partition() + "@" + record.offset();
                int n = calls.incrementAndGet();
                if (n == at && mode == Mode.HALT) {
                    LabProcess.crash();
                }
                if (n == at && mode == Mode.THROW) {
                    log.accept("F " + id);
                    throw new IllegalStateException("the handler failed on " + id + " (a failure the checker injected)");
                }
                log.accept("H " + id);
            };
            try (KafkaConsumer<String, String> real = new KafkaConsumer<>(config)) {
                if (subscribe) {
                    real.subscribe(List.of(topic.name()));
                } else {
                    // No group membership to wait for; the offsets are still the group's.
                    real.assign(partitions);
                }
                Consumer<String, String> consumer = watched(real, log);
                ready.run();
                // Far above what the work needs (a second or two): only a loop that never gets anywhere reaches it.
                long deadline = System.nanoTime() + INSTANCE_BOUND.toNanos();
                while (!caughtUp(real, topic)) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("processBatch did not get through the topic in " + INSTANCE_BOUND.toSeconds()
                                                 + " s: does it poll, hand every record to the handler, and return?");
                    }
                    try {
                        lab.call("processBatch", consumer, handler);
                    } catch (RuntimeException e) {
                        if (mode == Mode.THROW && injected(e)) {
                            return true; // the instance dies of it; try-with-resources closes it, as in the lab's main
                        }
                        throw e;
                    }
                }
            }
            return false;
        }

        private static boolean injected(Throwable e) {
            for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
                if (t instanceof IllegalStateException && String.valueOf(t.getMessage()).endsWith("(a failure the checker injected)")) {
                    return true;
                }
            }
            return false;
        }

        /** Caught up: every partition is assigned and its position is past its last record (markers may follow). */
        private static boolean caughtUp(KafkaConsumer<String, String> real, Topic topic) {
            Set<TopicPartition> assigned = real.assignment();
            for (TopicPartition tp : topic.partitions()) {
                if (!assigned.contains(tp) || real.position(tp, INSTANCE_BOUND) <= topic.last(tp.partition())) {
                    return false;
                }
            }
            return true;
        }

        /** The consumer handed to processBatch: the real one, with each poll and commit logged. */
        private static Consumer<String, String> watched(KafkaConsumer<String, String> real, java.util.function.Consumer<String> log) {
            @SuppressWarnings("unchecked")
            Consumer<String, String> proxy = (Consumer<String, String>) Proxy.newProxyInstance(
                    Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class}, (self, method, args) -> {
                        String name = method.getName();
                        if (name.equals("commitSync") || name.equals("commitAsync")) {
                            log.accept("C " + name + " " + committing(real, args));
                        }
                        Object result;
                        try {
                            result = method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                        if (name.equals("poll") && result instanceof ConsumerRecords<?, ?> first && first.partitions().size() == 1) {
                            // How a fetch splits into polls depends on timing: make every batch that can span
                            // partitions span them, so "one offset for the batch" never passes by luck.
                            @SuppressWarnings("unchecked")
                            ConsumerRecords<String, String> batch = (ConsumerRecords<String, String>) first;
                            result = spanPartitions(real, batch);
                        }
                        if (result instanceof ConsumerRecords<?, ?> several && several.partitions().size() > 1) {
                            @SuppressWarnings("unchecked")
                            ConsumerRecords<String, String> batch = (ConsumerRecords<String, String>) several;
                            result = furthestFromEndLast(real, batch);
                        }
                        if (result instanceof ConsumerRecords<?, ?> records && !records.isEmpty()) {
                            List<String> ids = new ArrayList<>();
                            for (ConsumerRecord<?, ?> r : records) {
                                ids.add(r.partition() + "@" + r.offset());
                            }
                            log.accept("P " + String.join(",", ids));
                        }
                        return result;
                    });
            return proxy;
        }

        /**
         * Adds to a batch of one partition what a second, short poll of the other partitions returns:
         * the batch then ends on another partition than the one its first records came from.
         */
        private static ConsumerRecords<String, String> spanPartitions(KafkaConsumer<String, String> real,
                                                                      ConsumerRecords<String, String> batch) {
            Set<TopicPartition> only = batch.partitions();
            Set<TopicPartition> rest = new java.util.HashSet<>(real.assignment());
            rest.removeAll(only);
            if (rest.isEmpty()) {
                return batch;
            }
            // On a busy machine the other partitions' fetch can take longer than one short poll: keep polling
            // them, within a bound, while any of them still has records to read.
            Map<TopicPartition, Long> ends = real.endOffsets(rest, INSTANCE_BOUND);
            long deadline = System.nanoTime() + TOP_UP_BOUND.toNanos();
            real.pause(only);
            ConsumerRecords<String, String> others;
            try {
                do {
                    others = real.poll(Duration.ofMillis(200));
                } while (others.isEmpty() && System.nanoTime() < deadline
                         && rest.stream().anyMatch(tp -> real.position(tp, INSTANCE_BOUND) < ends.get(tp)));
            } finally {
                real.resume(only);
            }
            if (others.isEmpty()) {
                return batch;
            }
            Map<TopicPartition, List<ConsumerRecord<String, String>>> merged = new java.util.LinkedHashMap<>();
            Map<TopicPartition, OffsetAndMetadata> next = new java.util.LinkedHashMap<>(batch.nextOffsets());
            for (ConsumerRecords<String, String> part : List.of(batch, others)) {
                for (TopicPartition tp : part.partitions()) {
                    merged.put(tp, part.records(tp));
                }
            }
            next.putAll(others.nextOffsets());
            return new ConsumerRecords<>(merged, next);
        }

        /**
         * Puts the partition with the most records still to read last in the batch, so a partition whose last
         * records these are is never the batch's last: an offset taken from the batch's last record is then
         * wrong for the partitions that finish here, and no later batch of theirs corrects it.
         */
        private static ConsumerRecords<String, String> furthestFromEndLast(KafkaConsumer<String, String> real,
                                                                           ConsumerRecords<String, String> batch) {
            Map<TopicPartition, Long> ends = real.endOffsets(batch.partitions(), INSTANCE_BOUND);
            Comparator<TopicPartition> byRemaining = Comparator.comparingLong(tp -> {
                List<ConsumerRecord<String, String>> records = batch.records(tp);
                return ends.get(tp) - records.get(records.size() - 1).offset();
            });
            Map<TopicPartition, List<ConsumerRecord<String, String>>> ordered = new java.util.LinkedHashMap<>();
            batch.partitions().stream().sorted(byRemaining).forEach(tp -> ordered.put(tp, batch.records(tp)));
            return new ConsumerRecords<>(ordered, batch.nextOffsets());
        }

        /** The offsets a commit call commits: its map, or else the consumer's positions. */
        private static String committing(KafkaConsumer<String, String> real, Object[] args) {
            Map<Integer, Long> offsets = new TreeMap<>();
            Map<?, ?> given = args == null ? null
                    : java.util.Arrays.stream(args).filter(a -> a instanceof Map<?, ?>).map(a -> (Map<?, ?>) a).findFirst().orElse(null);
            if (given != null) {
                given.forEach((tp, om) -> offsets.put(((TopicPartition) tp).partition(), ((OffsetAndMetadata) om).offset()));
            } else {
                for (TopicPartition tp : real.assignment()) {
                    offsets.put(tp.partition(), real.position(tp, INSTANCE_BOUND));
                }
            }
            return offsets.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(","));
        }
    }

    /**
     * One instance in a JVM of its own, halted before its n-th record: args topic, group, last
     * offsets, n. It builds its consumer, then waits for the checker's go.
     */
    public static final class Worker implements LabProcess.Body {
        @Override
        public void run(String[] args) throws Exception {
            Instance.run(LabUnderTest.current(), Topic.parse(args[0], args[2]), args[1], false, Mode.HALT,
                    Integer.parseInt(args[3]), LabProcess::record, LabProcess::awaitGo);
        }
    }

    private static String show(Map<Integer, Long> offsets) {
        return new TreeMap<>(offsets).toString();
    }

    private static String count(int records) {
        return records == 1 ? "1 record" : records + " records";
    }

    private static Set<String> records(Set<String> items) {
        Set<String> sorted = new TreeSet<>(BY_RECORD);
        sorted.addAll(items);
        return sorted;
    }

    private static String first(Set<String> items) {
        return items.stream().limit(12).collect(Collectors.joining(", ")) + (items.size() > 12 ? ", ..." : "");
    }
}
