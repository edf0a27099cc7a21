package workshop.checks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.check.LabCheck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Lab 13. {@code lag} is asked about a prepared group on two topics whose truth the checker
 * knows: partitions with commits (one of them fully caught up), partitions without any commit
 * (one of them with its oldest records deleted, so its log start offset is not 0), and records
 * written in transactions, so end offsets are not record counts.
 *
 * <p>{@code consumeSlowly} runs once (see {@link Lab13SlowRun}) with a real consumer of a real
 * group, a short {@code max.poll.interval.ms}, a buffer the checker hands over, and a handler
 * that is slow and stalls once for longer than that interval. The later checks read what that
 * run saw: rebalances and the gaps between polls, how many records the code held at most,
 * whether every record was handled once, and every commit against what was handled by then.
 */
class Lab13LagBackpressureCheck extends LabCheck {

    // ---- the prepared group for lag() ------------------------------------------------------------

    /** Records per partition, per topic: none alike. */
    static final int[] RECORDS_A = {29, 18, 23};
    static final int[] RECORDS_B = {14, 9};
    /** Records per partition and transaction: a commit marker after each round, so end offsets exceed the counts. */
    static final int[] TXN_A = {4, 5, 3};
    static final int[] TXN_B = {6, 9};
    /** Records deleted from the front of A-2: its log start offset. */
    static final long DELETED_A2 = 7;

    private static Prepared prepared;

    /** The slow consumer's run needs nothing from the lag checks: it starts at once, beside them. */
    @BeforeAll
    static void startSlowRunAhead() {
        Lab13SlowRun.startAhead();
    }

    /** What the checker knows about the prepared group: its commits, and each partition's offsets. */
    record Prepared(String group, String topicA, String topicB, Map<TopicPartition, Long> committed,
                    Map<TopicPartition, Long> starts, Map<TopicPartition, Long> ends) {

        List<TopicPartition> partitions() {
            return new ArrayList<>(ends.keySet());
        }

        long truth(TopicPartition tp) {
            Long commit = committed.get(tp);
            return ends.get(tp) - (commit != null ? commit : starts.get(tp));
        }
    }

    static final Comparator<TopicPartition> BY_PARTITION =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    private static synchronized Prepared prepared() throws Exception {
        if (prepared != null) {
            return prepared;
        }
        String topicA = uniqueName("lag-orders");
        String topicB = uniqueName("lag-payments");
        String group = uniqueName("lag-group");
        createTopicsAndWait(Map.of(topicA, RECORDS_A.length, topicB, RECORDS_B.length));
        Properties config = producerConfig();
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, uniqueName("lag-writer"));
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(config)) {
            producer.initTransactions();
            write(producer, topicA, topicB);
        }
        TopicPartition a0 = new TopicPartition(topicA, 0);
        TopicPartition a1 = new TopicPartition(topicA, 1);
        TopicPartition a2 = new TopicPartition(topicA, 2);
        TopicPartition b0 = new TopicPartition(topicB, 0);
        TopicPartition b1 = new TopicPartition(topicB, 1);
        List<TopicPartition> all = List.of(a0, a1, a2, b0, b1);
        Map<TopicPartition, Long> ends;
        Map<TopicPartition, Long> starts;
        try (Admin admin = admin()) {
            admin.deleteRecords(Map.of(a2, RecordsToDelete.beforeOffset(DELETED_A2))).all().get(30, TimeUnit.SECONDS);
            try (KafkaConsumer<String, String> reader = plainConsumer()) {
                ends = new TreeMap<>(BY_PARTITION);
                ends.putAll(reader.endOffsets(all, Duration.ofSeconds(30)));
                starts = new TreeMap<>(BY_PARTITION);
                starts.putAll(reader.beginningOffsets(all, Duration.ofSeconds(30)));
            }
            // A-0 a third of the way in, A-1 at its end (caught up), B-0 near the start; A-2 and B-1 never committed.
            Map<TopicPartition, Long> committed = new TreeMap<>(BY_PARTITION);
            committed.put(a0, 13L);
            committed.put(a1, ends.get(a1));
            committed.put(b0, 5L);
            Map<TopicPartition, OffsetAndMetadata> commits = new LinkedHashMap<>();
            committed.forEach((tp, offset) -> commits.put(tp, new OffsetAndMetadata(offset)));
            admin.alterConsumerGroupOffsets(group, commits).all().get(30, TimeUnit.SECONDS);
            if (ends.get(a0) <= RECORDS_A[0] || starts.get(a2) != DELETED_A2) {
                throw new IllegalStateException("the prepared topics are not as planned: ends " + ends + ", starts " + starts);
            }
            prepared = new Prepared(group, topicA, topicB, committed, starts, ends);
        }
        return prepared;
    }

    /**
     * Writes both topics in rounds, one transaction per round: each partition gets its next few
     * records (its own number per round) and, with each commit, a marker that takes an offset.
     */
    private static void write(KafkaProducer<String, String> producer, String topicA, String topicB) {
        for (int round = 0; ; round++) {
            boolean more = false;
            producer.beginTransaction();
            more |= writeRound(producer, topicA, RECORDS_A, TXN_A, round);
            more |= writeRound(producer, topicB, RECORDS_B, TXN_B, round);
            producer.commitTransaction();
            if (!more) {
                return;
            }
        }
    }

    /** Sends this round's records of each partition; true if any partition has records left after it. */
    private static boolean writeRound(KafkaProducer<String, String> producer, String topic, int[] records, int[] perRound, int round) {
        boolean more = false;
        for (int p = 0; p < records.length; p++) {
            int first = round * perRound[p];
            for (int i = first; i < Math.min(records[p], first + perRound[p]); i++) {
                producer.send(new ProducerRecord<>(topic, p, "order-" + i, "value-" + i));
            }
            more |= first + perRound[p] < records[p];
        }
        return more;
    }

    static KafkaConsumer<String, String> plainConsumer() {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return new KafkaConsumer<>(config);
    }

    private static Map<TopicPartition, Long> callLag(Prepared p) {
        try (Admin admin = admin()) {
            Map<TopicPartition, Long> lag;
            try {
                lag = lab().call("lag", admin, p.group(), List.of(p.topicA(), p.topicB()));
            } catch (NullPointerException e) {
                throw new AssertionError("lag threw " + e + ". A partition the group never committed has no entry in what "
                        + "listConsumerGroupOffsets returns (get() gives null): count its lag from its log start offset "
                        + "(TODO 1)", e);
            }
            assertThat(lag).as("lag returned null: return a map from each partition to its lag (TODO 1)").isNotNull();
            return lag;
        }
    }

    @Test
    @Order(1)
    @Timeout(60)
    @DisplayName("lag is the end offset minus the group's committed offset, on every partition with a commit")
    void lagOfCommittedPartitions() throws Exception {
        Prepared p = prepared();
        Map<TopicPartition, Long> lag = callLag(p);
        List<String> wrong = new ArrayList<>();
        List<TopicPartition> missing = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        for (TopicPartition tp : p.committed().keySet()) {
            Long seen = lag.get(tp);
            if (seen == null) {
                missing.add(tp);
            } else if (seen != p.truth(tp)) {
                wrong.add(tp + ": " + seen + " instead of " + p.truth(tp) + " (end offset " + p.ends().get(tp) + " − committed "
                          + p.committed().get(tp) + ")");
                reasons.add(whyWrong(p, tp, seen));
            }
        }
        String asked = "lag(admin, \"" + p.group() + "\", [" + p.topicA() + ", " + p.topicB() + "])";
        if (!missing.isEmpty()) {
            Set<String> topicsSeen = lag.keySet().stream().map(TopicPartition::topic).collect(Collectors.toSet());
            String missingTopics = missing.stream().map(TopicPartition::topic).filter(t -> !topicsSeen.contains(t)).distinct()
                    .collect(Collectors.joining(", "));
            fail(asked + " returned no lag for " + missing + ", where the group has committed offsets. "
                 + (missingTopics.isEmpty() ? "" : "Nothing at all for topic " + missingTopics + ": the group reads both topics it "
                    + "was asked about; look up every topic of `topics`, not only the first. ")
                 + "It returned: " + show(lag) + " (TODO 1)");
        }
        if (!wrong.isEmpty()) {
            // One reason for all of them is said once; different ones stay beside their partition.
            boolean oneReason = reasons.stream().distinct().count() == 1;
            List<String> lines = new ArrayList<>();
            for (int i = 0; i < wrong.size(); i++) {
                lines.add(wrong.get(i) + (oneReason ? "" : reasons.get(i)));
            }
            String reason = oneReason && !reasons.get(0).isEmpty() ? "\n" + (wrong.size() > 1 ? "All of them" : "That value") + reasons.get(0) + "." : "";
            fail(asked + " got the lag of partitions with a commit wrong. The truth is the partition's end offset (the offset the "
                 + "next record written will get) minus the group's committed offset (the next record it will read):\n  "
                 + String.join("\n  ", lines) + reason + "\n(The records were written in transactions, so each partition's "
                 + "offsets include commit markers, and " + p.topicA() + "-2 lost its first " + DELETED_A2 + " offsets to "
                 + "deleteRecords.) (TODO 1)");
        }
    }

    /** The mistake a wrong value matches, as a sentence. */
    private static String whyWrong(Prepared p, TopicPartition tp, long seen) {
        long end = p.ends().get(tp);
        long start = p.starts().get(tp);
        Long commit = p.committed().get(tp);
        long from = commit != null ? commit : start;
        if (seen == end - from - 1 || seen == end - from + 1) {
            return ": off by one. The end offset is already the NEXT offset, and the committed offset the next to read: "
                   + "subtract them as they are";
        }
        if (seen == start - from || seen == from - start) {
            return ": that is the log start offset (OffsetSpec.earliest()) where the end offset (OffsetSpec.latest()) belongs";
        }
        if (commit != null && seen == end - start) {
            return ": that counts every record still in the partition, as if the group had no commit there";
        }
        if (seen == end) {
            return ": that is the end offset alone";
        }
        if (commit != null && seen == 0 && end != commit) {
            return ": the group is " + (end - commit) + " offsets behind here";
        }
        return "";
    }

    @Test
    @Order(2)
    @DisplayName("a partition the group never committed lags by every record it still holds")
    void lagOfPartitionsWithoutCommit() throws Exception {
        Prepared p = prepared();
        Map<TopicPartition, Long> lag = callLag(p);
        List<TopicPartition> uncommitted = p.partitions().stream().filter(tp -> !p.committed().containsKey(tp)).toList();
        List<TopicPartition> missing = uncommitted.stream().filter(tp -> !lag.containsKey(tp)).toList();
        if (!missing.isEmpty()) {
            fail("lag returned nothing for " + missing + ": the group has no committed offset there yet, but it reads those "
                 + "partitions too, and with auto.offset.reset=earliest every record in them is still to be read. Return a lag "
                 + "for every partition of the topics (admin.describeTopics gives them), not only for those "
                 + "listConsumerGroupOffsets lists. It returned: " + show(lag) + " (TODO 1)");
        }
        List<String> wrong = new ArrayList<>();
        for (TopicPartition tp : uncommitted) {
            long seen = lag.get(tp);
            long end = p.ends().get(tp);
            long start = p.starts().get(tp);
            if (seen == end - start) {
                continue;
            }
            String why = seen == 0 ? ": no commit is not no lag. A stuck member that never committed would show 0 while "
                                     + "nothing is read"
                    : seen == end && start > 0 ? ": that counts from offset 0, but the records before the log start offset "
                                                 + start + " were deleted and will never be read (OffsetSpec.earliest() gives it)"
                    : seen == -start ? ": that is the log start offset where the end offset belongs"
                    : seen == end - start - 1 || seen == end - start + 1 ? ": off by one" : "";
            wrong.add(tp + ": " + seen + " instead of " + (end - start) + " (end offset " + end + " − log start offset " + start + ")" + why);
        }
        if (!wrong.isEmpty()) {
            fail("On a partition the group never committed, a consumer of the group starts at the log start offset (the "
                 + "oldest record still kept: auto.offset.reset=earliest), so every record still there is lag:\n  "
                 + String.join("\n  ", wrong) + " (TODO 1)");
        }
    }

    // ---- the slow consumer --------------------------------------------------------------------

    @Test
    @Order(3)
    @Timeout(90)
    @DisplayName("a slow consumer stays in its group: no rebalance while one record's work outlasts max.poll.interval.ms")
    void memberIsNeverEvicted() {
        Lab13SlowRun run = Lab13SlowRun.get();
        if (!run.evicted()) {
            run.rethrowFailure();
            return;
        }
        StringBuilder message = new StringBuilder((run.rebalanceHistory().isEmpty() ? "The consumer left its group while it worked."
                : "The consumer lost its partitions while it worked: " + run.rebalanceHistory() + ".")
                + " The group evicts a member that does not call poll() for max.poll.interval.ms (" + Lab13SlowRun.MAX_POLL_INTERVAL_MS
                + " ms here) and gives its partitions to another; here one record's work took " + Lab13SlowRun.STALL.toSeconds()
                + " s, and the poll thread went " + seconds(run.longestGap()) + " s without calling poll().\n");
        if (run.handlerOnPollThread()) {
            message.append("The handler ran on the poll thread: slow work inside the poll loop holds up the next poll() for as long "
                           + "as it takes. Hand the records to the worker through the buffer (buffer.offer) and let it do the work "
                           + "(TODO 2)");
        } else if (run.blockedIn() != null) {
            message.append("While it did not poll, the poll thread was waiting in " + run.blockedIn() + ". A full buffer must never "
                           + "make the poll thread wait (put() waits for room): use offer(), keep what does not fit, and pause the "
                           + "partitions until it fits (TODO 2)");
        } else {
            message.append("Keep the poll thread free of anything that waits: offer() to the buffer, pause() when it is full, and "
                           + "poll again (TODO 2)");
        }
        if (run.failure() != null) {
            message.append("\nAfterwards, consumeSlowly threw ").append(workshop.check.LearnerMessages.chain(run.failure()));
        }
        fail(message.toString());
    }

    @Test
    @Order(4)
    @DisplayName("the records held in memory never exceed the buffer plus one poll")
    void heldRecordsStayBounded() {
        Lab13SlowRun run = Lab13SlowRun.get();
        run.rethrowFailure();
        int bound = Lab13SlowRun.bound();
        if (run.maxHeld() <= bound) {
            return;
        }
        String paused = run.pausedAtMax().isEmpty() ? "no partition was paused"
                : "paused were " + partitions(run.pausedAtMax()) + " of " + partitions(run.assignedAtMax());
        String cause;
        if (run.pauseCalls() == 0) {
            cause = "pause() was never called: poll() then goes on returning records that have nowhere to go but a list that grows. "
                    + "Pause the partitions while records wait for room, and resume them once they are all in the buffer";
        } else if (!run.pausedAtMax().isEmpty() && !run.pausedAtMax().containsAll(run.assignedAtMax())) {
            cause = "a partition that is not paused goes on fetching: pause every assigned partition (consumer.assignment()), not "
                    + "only those of the last batch";
        } else {
            cause = "records polled while earlier ones still waited for room: resume only once everything waiting is in the buffer, "
                    + "and pause as soon as something is left over";
        }
        fail("Your code held up to " + run.maxHeld() + " records at once (polled, not yet finished by the handler), with "
             + run.stillToDoAtMax() + " records still to do; the buffer holds " + Lab13SlowRun.BUFFER + ", one poll returns at most "
             + Lab13SlowRun.MAX_POLL_RECORDS + " (max.poll.records), and the worker has one in hand: at most " + bound
             + ". When it went over, " + paused + ": " + cause + " (TODO 2)");
    }

    @Test
    @Order(5)
    @DisplayName("every record is handled once, each fetched about once, and consumeSlowly returns when told to stop")
    void everyRecordHandledOnce() {
        Lab13SlowRun run = Lab13SlowRun.get();
        run.rethrowFailure();
        if (!run.unhandled().isEmpty()) {
            String paused = run.pausedAtEnd().isEmpty() ? "" : " The partitions paused at the end: " + partitions(run.pausedAtEnd())
                    + ": a paused partition returns nothing until resume() is called. Resume them once everything waiting is in "
                    + "the buffer.";
            fail(run.unhandled().size() + " of " + run.total() + " records never reached the handler (partition@offset): "
                 + first(run.unhandled()) + "; nothing more was handled for " + seconds(Lab13SlowRun.IDLE.toMillis()) + " s." + paused
                 + " (TODO 2)");
        }
        if (!run.handledTwice().isEmpty()) {
            fail("The handler got " + run.handledTwice().size() + " records twice, in one run without a rebalance: "
                 + first(run.handledTwice()) + ". Each record polled goes into the buffer once (TODO 2)");
        }
        assertThat(run.refetched())
                .as("poll() returned %d records again that it had returned before (%d records in the topic): while the buffer is "
                    + "full, the consumer fetched the same records over and over, in a busy loop. Seeking back without pausing does "
                    + "that: pause the partitions, so that poll() returns nothing until there is room (TODO 2)",
                        run.refetched(), run.total())
                .isLessThanOrEqualTo(2L * run.total());
        assertThat(run.returned())
                .as("consumeSlowly did not return within %d s after keepGoing turned false: the loop must end when "
                    + "keepGoing.getAsBoolean() is false", Lab13SlowRun.RETURN_BOUND.toSeconds())
                .isTrue();
    }

    @Test
    @Order(6)
    @DisplayName("the group's commits follow the work: never ahead of it, and made while it runs")
    void commitsFollowTheWork() {
        Lab13SlowRun run = Lab13SlowRun.get();
        run.rethrowFailure();
        if (run.commitAhead() != null) {
            fail(run.commitAhead() + ". Records polled but not finished were committed as done: a crash now loses them, and the "
                 + "lag the group shows (end offset − committed offset) counts from the consumer's position, hiding every record "
                 + "in the buffer. Commit what the worker finished: worker.takeFinished() (TODO 2)");
        }
        if (run.commitBehindDuringStall() != null) {
            fail("While one record's work took " + Lab13SlowRun.STALL.toSeconds() + " s, the group's committed offsets stayed at "
                 + (run.commitBehindDuringStall().isEmpty() ? "nothing (no commit yet)" : show(run.commitBehindDuringStall())) + ", behind what the worker had finished before it (" + show(run.doneAtStall())
                 + "). Commit what the worker finished in the loop, every time round (worker.takeFinished()), so that the lag the "
                 + "group shows falls as the work gets done, not only at the end (TODO 2)");
        }
        assertThat(run.finalCommitted())
                .as("After consumeSlowly returned, the group's committed offsets are %s; every record was handled, so they should be "
                    + "the end offsets %s", show(run.finalCommitted()), show(run.ends()))
                .isEqualTo(run.ends());
    }

    // ---- formatting ----------------------------------------------------------------------------

    static String show(Map<TopicPartition, Long> offsets) {
        Map<TopicPartition, Long> sorted = new TreeMap<>(BY_PARTITION);
        sorted.putAll(offsets);
        return sorted.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(", ", "{", "}"));
    }

    static String partitions(Set<TopicPartition> partitions) {
        return partitions.stream().sorted(BY_PARTITION).map(tp -> "p" + tp.partition()).collect(Collectors.joining(", ", "[", "]"));
    }

    static String first(List<String> items) {
        return items.stream().limit(10).collect(Collectors.joining(", ")) + (items.size() > 10 ? ", ..." : "");
    }

    static String seconds(long millis) {
        return String.format(java.util.Locale.ROOT, "%.1f", millis / 1000.0);
    }

    /** The buffer the checker hands the lab: the bound it must keep to. */
    static BlockingQueue<ConsumerRecord<String, String>> buffer() {
        return new ArrayBlockingQueue<>(Lab13SlowRun.BUFFER);
    }
}
