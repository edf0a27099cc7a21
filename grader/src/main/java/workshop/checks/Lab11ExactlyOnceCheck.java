package workshop.checks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Reading;
import workshop.check.LabCheck;
import workshop.check.LabProcess;
import workshop.check.LabUnderTest;
import workshop.check.LearnerMessages;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 11: the learner's consume-transform-produce loop. A set-up run in this JVM fails twice on
 * purpose (the transform throws mid-batch; later a send fails, which surfaces at the commit), with
 * batches that span partitions, and the group's committed offsets compared with the consumer's
 * position after every call. Then two instances with their own transactional ids work side by side,
 * a second instance with the same id fences the first, and the processor is killed for real (a JVM
 * halted like kill -9) at chosen points of its transactions and restarted. The output is always read
 * with the checker's own read_committed consumer and compared with the inputs: each result exactly once.
 */
class Lab11ExactlyOnceCheck extends LabCheck {

    static final int PARTITIONS = 3;
    static final int INPUTS = 48;
    /**
     * max.poll.records set by the checker. The consumer handed to the lab adds a second poll of the
     * other partitions to a batch of one partition, so most batches span two partitions.
     */
    static final int BATCH = 3;
    /** In the set-up run, the transform throws once: on this reading of the 2nd transaction. */
    static final int FAILING_READING = 3;
    /** In the set-up run, the last send of this transaction fails (a record too large to send). */
    static final int REFUSED_TRANSACTION = 5;
    /** Larger than the producer's max.request.size (1 MB by default): the producer refuses it. */
    static final int TOO_LARGE = 1_100_000;
    static final Comparator<TopicPartition> BY_PARTITION =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);
    // Bounds that only a wrong answer (one that never returns, or never moves on) reaches, with room
    // for a machine so loaded that a JVM takes 10 s to start: a right answer never waits for them.
    static final Duration ONE_INSTANCE = Duration.ofSeconds(60);
    static final Duration CATCH_UP = Duration.ofSeconds(45);
    /** Where each killed instance dies: a point of the producer's transaction, and its count in that JVM. */
    static final List<String[]> KILLS = List.of(
            new String[] {"send", "2"},
            new String[] {"before-commit", "2"},
            new String[] {"offsets", "1"},
            new String[] {"after-commit", "1"},
            new String[] {"send", "11"},
            new String[] {"before-commit", "1"},
            new String[] {"after-commit", "2"});

    // The set-up run: one instance, in this JVM, with a failing transform and a failing send.
    static List<Reading> inputs;
    static String output;
    static String setupGroup;
    static Transactions transactions;
    static Watched setupConsumer;
    static AtomicInteger transformCalls = new AtomicInteger();
    static AtomicBoolean failed = new AtomicBoolean();
    static Throwable thrown;
    /** The first call after which the committed offsets were not where the consumer goes on reading. */
    static String offsetsProblem;
    static int offsetsChecked;
    /** What happened after each injected failure: how the transaction ended, and where the consumer stood. */
    static Aftermath afterTransformFailure;
    static Aftermath afterRefusedSend;

    /** What processBatch did after a failure the checker injected. */
    static final class Aftermath {
        /** "commit", "abort", or null when the transaction was neither committed nor aborted. */
        String ended;
        Throwable threw;
        Integer returned;
        /** Null when every partition's position is its committed offset after processBatch returned. */
        String positions;
        boolean rewoundTooFar;
    }

    @BeforeAll
    @Timeout(120)
    static void processWithTwoFailures() {
        inputs = Reading.sample(INPUTS, 4);
        String input = producedInputs(inputs);
        output = createTopic("comfort", PARTITIONS);
        setupGroup = uniqueName("comfort-group");
        transactions = new Transactions();
        UnaryOperator<String> failingOnce = reading -> {
            transformCalls.incrementAndGet();
            boolean due = transactions.begins.get() >= 2 && transactions.callsInTransaction.incrementAndGet() == FAILING_READING;
            if (due && failed.compareAndSet(false, true)) {
                transactions.events.add("transform-failed");
                transactions.failedInTransaction = true;
                throw new UncheckedIOException(new IOException("the comfort service timed out (a failure injected by the checker)"));
            }
            return comfort(reading);
        };
        Producer<String, String> producer = null;
        Properties producerConfig = null;
        try {
            producerConfig = lab().call("producerConfig", bootstrapServers(), uniqueName("comfort-processor"));
            KafkaProducer<String, String> real = new KafkaProducer<>(producerConfig);
            setupConsumer = new Watched(consumer(setupGroup, input));
            // The last send of a batch, so that the failure surfaces after the sends: in sendOffsetsToTransaction or the commit.
            transactions.refuse = () -> transactions.begins.get() >= REFUSED_TRANSACTION && !transactions.failedInTransaction
                                        && transactions.sendsInTransaction.get() == setupConsumer.lastBatch.count();
            producer = transactions.wrap(real, (point, n, p) -> { });
            try (KafkaConsumer<String, String> offsets = committedReader(setupGroup)) {
                lab().call("startTransactions", producer);
                setupRun(setupConsumer, producer, offsets, failingOnce);
            }
        } catch (Throwable e) {
            thrown = e;
        } finally {
            if (producer != null) {
                producer.close(Duration.ofSeconds(5));
            }
            if (setupConsumer != null) {
                setupConsumer.real.close(CloseOptions.timeout(Duration.ZERO));
            }
            abortLeftOpen(producerConfig);
        }
    }

    /**
     * Calls processBatch until the consumer reaches the end of the input. After each call, the group's
     * committed offsets (read with require_stable) must be the consumer's position in every partition:
     * a committed batch moved both, an aborted and rewound one neither.
     */
    static void setupRun(Watched watched, Producer<String, String> producer, KafkaConsumer<String, String> offsets,
                         UnaryOperator<String> transform) {
        KafkaConsumer<String, String> real = watched.real;
        List<TopicPartition> partitions = List.copyOf(real.assignment());
        Map<TopicPartition, Long> end = real.endOffsets(partitions, Duration.ofSeconds(15));
        long deadline = System.nanoTime() + CATCH_UP.toNanos();
        while (partitions.stream().anyMatch(p -> real.position(p, Duration.ofSeconds(15)) < end.get(p))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("processBatch did not get through " + INPUTS + " readings in " + CATCH_UP.toSeconds()
                                         + " s: does it return after each batch, and does a committed batch move the consumer on?");
            }
            int from = transactions.events.size();
            Aftermath aftermath = null;
            Integer returned = null;
            try {
                returned = lab().call("processBatch", watched.proxy, producer, output, transform);
            } catch (Throwable e) {
                aftermath = aftermathOf(from);
                if (aftermath != null) {
                    aftermath.threw = e;
                }
                throw e;
            }
            List<String> events = transactions.events.subList(from, transactions.events.size());
            aftermath = aftermathOf(from);
            Map<TopicPartition, Long> positions = new TreeMap<>(BY_PARTITION);
            partitions.forEach(p -> positions.put(p, real.position(p, Duration.ofSeconds(15))));
            Map<TopicPartition, Long> committed = committed(offsets, partitions);
            String mismatch = mismatch(positions, committed);
            if (aftermath != null) {
                aftermath.returned = returned;
                aftermath.positions = mismatch;
                aftermath.rewoundTooFar = partitions.stream().anyMatch(p -> positions.get(p) < committed.get(p));
            } else if (events.contains("commit-ok") && offsetsProblem == null) {
                // Only the batch's partitions: another one may still be off after a failure, which its own check judges.
                Set<TopicPartition> batch = watched.lastBatch.partitions();
                Map<TopicPartition, Long> inBatch = new TreeMap<>(BY_PARTITION);
                batch.forEach(p -> inBatch.put(p, positions.get(p)));
                if (mismatch(inBatch, committed) != null) {
                    offsetsProblem = offsetsDiagnosis(watched.lastBatch, inBatch, committed);
                }
            }
            if (aftermath == null && events.contains("commit-ok")) {
                offsetsChecked++;
            }
        }
    }

    /** The aftermath of the failure injected in the events since {@code from}, if one was. */
    static Aftermath aftermathOf(int from) {
        List<String> events = List.copyOf(transactions.events.subList(from, transactions.events.size()));
        for (String injected : List.of("transform-failed", "refused")) {
            int at = events.indexOf(injected);
            if (at >= 0) {
                Aftermath aftermath = injected.equals("refused")
                        ? (afterRefusedSend == null ? afterRefusedSend = new Aftermath() : afterRefusedSend)
                        : (afterTransformFailure == null ? afterTransformFailure = new Aftermath() : afterTransformFailure);
                // How the failed transaction ended: committed anyway, aborted, or left open.
                aftermath.ended = events.subList(at, events.size()).stream()
                        .filter(e -> e.equals("commit-ok") || e.equals("abort-call"))
                        .map(e -> e.equals("commit-ok") ? "commit" : "abort").findFirst().orElse(null);
                return aftermath;
            }
        }
        return null;
    }

    static Map<TopicPartition, Long> committed(KafkaConsumer<String, String> offsets, List<TopicPartition> partitions) {
        Map<TopicPartition, OffsetAndMetadata> found = offsets.committed(Set.copyOf(partitions), Duration.ofSeconds(15));
        Map<TopicPartition, Long> committed = new TreeMap<>(BY_PARTITION);
        // Nothing committed yet: the consumer starts at the beginning, offset 0 in a new topic.
        partitions.forEach(p -> committed.put(p, found.get(p) == null ? 0L : found.get(p).offset()));
        return committed;
    }

    static String mismatch(Map<TopicPartition, Long> positions, Map<TopicPartition, Long> committed) {
        List<String> differ = positions.keySet().stream().filter(p -> !positions.get(p).equals(committed.get(p)))
                .map(p -> "partition " + p.partition() + ": position " + positions.get(p) + ", committed " + committed.get(p))
                .toList();
        return differ.isEmpty() ? null : String.join("; ", differ);
    }

    /** Why the committed offsets are not the consumer's position after a committed batch: as far as the checker can tell. */
    static String offsetsDiagnosis(ConsumerRecords<String, String> batch, Map<TopicPartition, Long> positions,
                                   Map<TopicPartition, Long> committed) {
        Map<TopicPartition, Long> last = new TreeMap<>(BY_PARTITION);
        batch.forEach(r -> last.merge(new TopicPartition(r.topic(), r.partition()), r.offset(), Math::max));
        Map<TopicPartition, OffsetAndMetadata> sent = transactions.lastOffsets;
        String seen = "processBatch committed a batch of " + batch.count() + " readings (" + describe(batch) + "), and then the "
                      + "group's committed offsets were not where the consumer goes on reading (" + mismatch(positions, committed) + ")";
        String group = setupConsumer.real.groupMetadata().groupId();
        if (transactions.lastGroup != null && !transactions.lastGroup.equals(group)) {
            return seen + ": sendOffsetsToTransaction was given the metadata of group \"" + transactions.lastGroup + "\", but the "
                   + "consumer's group is \"" + group + "\", whose offsets never move. Pass consumer.groupMetadata() (TODO 4).";
        }
        for (Map.Entry<TopicPartition, Long> entry : last.entrySet()) {
            TopicPartition p = entry.getKey();
            long lastOffset = entry.getValue();
            OffsetAndMetadata offset = sent.get(p);
            if (offset == null) {
                return seen + ": the batch held records of " + numbers(last.keySet()) + ", but the offsets given to "
                       + "sendOffsetsToTransaction covered " + numbers(sent.keySet()) + " only. A batch can span "
                       + "partitions: commit the next offset of EVERY partition in it, not one offset for the whole batch (TODO 4).";
            }
            if (offset.offset() == lastOffset) {
                return seen + ": for partition " + p.partition() + " the transaction committed offset " + lastOffset + ", the "
                       + "offset of the batch's last record there. A committed offset is the NEXT record to read: "
                       + "record.offset() + 1 (TODO 4).";
            }
            if (offset.offset() < lastOffset) {
                return seen + ": for partition " + p.partition() + " the transaction committed offset " + offset.offset() + ", but "
                       + "the batch's records there went up to offset " + lastOffset + ". Commit, per partition, the offset after "
                       + "its LAST record in the batch: " + (lastOffset + 1) + " (TODO 4).";
            }
            if (offset.offset() > lastOffset + 1) {
                return seen + ": for partition " + p.partition() + " the transaction committed offset " + offset.offset() + ", past "
                       + "the batch's last record there (" + lastOffset + "): a restarted instance would skip readings (TODO 4).";
            }
        }
        return seen + ". The offsets given to sendOffsetsToTransaction (" + sent + ") look right for the batch: were they "
               + "committed in the same transaction as its results, for the consumer's group (TODO 4)?";
    }

    /** A checker producer with the learner's transactional.id aborts what the set-up run may have left open. */
    static void abortLeftOpen(Properties learnerConfig) {
        Object id = learnerConfig == null ? null : learnerConfig.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG);
        if (id == null || !transactions.mayBeOpen()) {
            return;
        }
        Properties config = producerConfig();
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, String.valueOf(id));
        // Bounded: the set-up's verdicts do not depend on this, it only spares later reads a wait.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
        try (KafkaProducer<String, String> cleaner = new KafkaProducer<>(config)) {
            cleaner.initTransactions();
        } catch (RuntimeException e) {
            // the reads that follow are bounded and say what they miss
        }
    }

    @Test
    @Order(1)
    @Timeout(60)
    @DisplayName("a consumer with consumerConfig reads committed records only, never aborted ones")
    void readerSkipsAbortedRecords() {
        String topic = createTopic("comfort", 1);
        Properties config = producerConfig();
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, uniqueName("checker-writer"));
        try (KafkaProducer<String, String> writer = new KafkaProducer<>(config)) {
            writer.initTransactions();
            writeTransaction(writer, topic, List.of("committed-1", "committed-2", "committed-3"), true);
            writeTransaction(writer, topic, List.of("aborted-1", "aborted-2", "aborted-3"), false);
            writeTransaction(writer, topic, List.of("committed-4", "committed-5"), true);
        }
        Properties readerConfig = lab().call("consumerConfig", bootstrapServers(), uniqueName("reader"));
        List<String> seen = read(topic, readerConfig).stream().map(ConsumerRecord::value).toList();
        assertThat(seen.stream().filter(v -> v.startsWith("aborted")).toList())
                .as("The checker wrote 5 records in two committed transactions and 3 in an aborted one. A consumer built from "
                    + "consumerConfig read the aborted ones too: the default isolation level, read_uncommitted, shows every "
                    + "record in the log. Set ConsumerConfig.ISOLATION_LEVEL_CONFIG to \"read_committed\" (TODO 2)")
                .isEmpty();
        assertThat(seen)
                .as("A consumer built from consumerConfig should read exactly the 5 committed records, in order")
                .containsExactly("committed-1", "committed-2", "committed-3", "committed-4", "committed-5");
    }

    @Test
    @Order(2)
    @DisplayName("input offsets are committed by the transaction, never by the consumer")
    void offsetsGoThroughTheTransaction() {
        Properties config = lab().call("consumerConfig", bootstrapServers(), uniqueName("group"));
        assertThat(String.valueOf(config.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG)))
                .as("consumerConfig leaves %s on (true by default): the consumer then commits its position every 5 s by "
                    + "itself, outside any transaction, even for a batch whose transaction is later aborted. Set it to false "
                    + "(TODO 2)", ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG)
                .isEqualToIgnoringCase("false");
        if (transactions.commits.get() == 0 && thrown != null) {
            fail(why(thrown));
        }
        int consumerCommits = setupConsumer == null ? 0 : setupConsumer.commits.get();
        assertThat(consumerCommits)
                .as("processBatch called commitSync/commitAsync on the consumer %d times. Offsets committed by the consumer "
                    + "are not part of the transaction: a crash between the two commits repeats or loses a batch. Add them "
                    + "to the transaction with producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata()) (TODO 4)",
                        consumerCommits)
                .isZero();
        if (transactions.offsetsFailure != null) {
            fail("processBatch called sendOffsetsToTransaction, and it threw: " + why(transactions.offsetsFailure)
                 + "\nThe offsets belong inside the transaction: after beginTransaction() and the sends, before "
                 + "commitTransaction() (TODO 4).");
        }
        assertThat(transactions.offsets.get())
                .as("processBatch committed %d transactions without ever calling sendOffsetsToTransaction: the group's "
                    + "offsets never move, so a restarted processor does every batch again. Add the next offsets "
                    + "(offset + 1 per partition) to each transaction (TODO 4)", transactions.commits.get())
                .isPositive();
    }

    @Test
    @Order(3)
    @DisplayName("after each committed batch, the group's offsets are the next records to read, in every partition")
    void committedOffsetsFollowTheBatches() {
        if (offsetsChecked == 0 && offsetsProblem == null) {
            fail(thrown != null ? why(thrown) : "processBatch never committed a batch without a failure in it, so the checker "
                                                + "could not compare the group's offsets with the consumer's position (TODO 4)");
        }
        if (offsetsProblem != null) {
            fail("After a committed batch, a restarted instance starts from the group's committed offsets, so they must be "
                 + "where this one goes on reading. But " + offsetsProblem);
        }
    }

    @Test
    @Order(4)
    @DisplayName("a failure of the transform mid-batch aborts the transaction, and the batch is read again")
    void transformFailureAborts() {
        Aftermath after = afterTransformFailure;
        if (after == null) {
            if (thrown != null) {
                fail(why(thrown));
            }
            fail("The checker's transform fails on the " + ordinal(FAILING_READING) + " reading of the 2nd transaction, but for "
                 + INPUTS + " readings processBatch began " + transactions.begins.get() + " transactions and called the transform "
                 + transformCalls.get() + " times: one transaction per batch, and transform.apply(record.value()) for each record (TODO 4)");
        }
        String failure = "The transform threw (an IOException from the comfort service, injected by the checker) on the "
                         + ordinal(FAILING_READING) + " reading of the 2nd transaction, after two of its results were sent";
        if ("commit".equals(after.ended)) {
            fail(failure + ", and processBatch committed that transaction anyway (commitTransaction() with no "
                 + "abortTransaction() before it): a half-done batch, without that reading's result, is now visible to every "
                 + "read_committed reader. An error in any record must fail the whole transaction: do not catch it per record "
                 + "or commit in a finally; catch it around the transaction, abort, rewind, and return 0 (TODO 5).");
        }
        if (after.ended == null) {
            fail(failure + ", and processBatch did not call producer.abortTransaction(): the transaction stays open with those "
                 + "results in it" + (after.threw != null ? " (processBatch let the error out)" : ", and the next beginTransaction() fails")
                 + ". Catch the error, abort, rewind, and return 0 (TODO 5)" + (thrown == null ? "." : ".\n" + why(thrown)));
        }
        if (after.threw != null) {
            fail(failure + "; processBatch aborted, then: " + why(after.threw)
                 + "\nAn aborted batch is not fatal: rewind and return 0, so that the next call reads the batch again (TODO 5).");
        }
        if (after.positions != null) {
            fail(failure + "; processBatch aborted and returned " + after.returned + ", but then the consumer's position was not "
                 + "the group's committed offset (" + after.positions + "). " + (after.rewoundTooFar
                        ? "The consumer went back further than the committed offsets: batches already committed are read and "
                          + "sent again. Seek each partition to its committed offset, consumer.committed(...) (TODO 6)."
                        : "The consumer is still past the aborted batch, which is then never read again: rewind it to the "
                          + "committed offsets (consumer.seek, TODO 6)."));
        }
    }

    @Test
    @Order(5)
    @DisplayName("a failed send fails the commit: the transaction is aborted, and the batch is read again")
    void failedSendAborts() {
        Aftermath after = afterRefusedSend;
        if (after == null) {
            fail(thrown != null ? why(thrown) : "The checker makes the last send of the " + ordinal(REFUSED_TRANSACTION)
                    + " transaction fail, but processBatch began only " + transactions.begins.get() + " transactions");
        }
        String failure = "The checker made the last send of the " + ordinal(REFUSED_TRANSACTION) + " transaction fail (a record "
                         + "too large to send: RecordTooLargeException, reported by the send's future, not thrown). The producer "
                         + "then refuses to go on with that transaction: sendOffsetsToTransaction() or commitTransaction() throws";
        if (!"abort".equals(after.ended)) {
            fail(failure + ", and processBatch let that exception out without calling producer.abortTransaction()"
                 + (after.threw == null ? "" : ": " + LearnerMessages.chain(after.threw)) + ".\nA failed send is a failed "
                 + "transaction too: catch errors around the whole transaction (sends, sendOffsetsToTransaction and "
                 + "commitTransaction), not only the transform's; abort, rewind, and return 0 (TODO 5).");
        }
        if (after.threw != null) {
            fail(failure + "; processBatch aborted, then: " + why(after.threw)
                 + "\nAn aborted batch is not fatal: rewind and return 0, so that the next call reads the batch again (TODO 5).");
        }
        if (after.positions != null) {
            fail(failure + "; processBatch aborted and returned " + after.returned + ", but then the consumer's position was not "
                 + "the group's committed offset (" + after.positions + "): rewind every assigned partition to its committed "
                 + "offset after an abort (TODO 6).");
        }
    }

    @Test
    @Order(6)
    @Timeout(60)
    @DisplayName("after both failures, the output holds each result exactly once")
    void setupOutputExactlyOnce() {
        if (thrown != null) {
            fail("The set-up run stopped early: " + why(thrown));
        }
        String problem = exactlyOnce(read(output, readCommitted(uniqueName("checker"))));
        if (problem != null) {
            fail("With one transform failure and one failed send, each aborted and retried, the output (read with "
                 + "read_committed) should hold each of the " + INPUTS + " readings' results exactly once, but " + problem + "."
                 + likelyCauses(problem, setupConsumer == null ? 0 : setupConsumer.commits.get()));
        }
    }

    @Test
    @Order(7)
    @Timeout(120)
    @DisplayName("two instances with their own transactional.ids and partitions work side by side")
    void twoInstancesSideBySide() {
        List<Reading> readings = inputs.subList(0, 24);
        String input = producedInputs(readings);
        String out = createTopic("comfort", PARTITIONS);
        String group = uniqueName("comfort-group");
        String[] ids = {uniqueName("comfort-processor-a"), uniqueName("comfort-processor-b")};
        List<List<Integer>> owned = List.of(List.of(0), List.of(1, 2));
        List<Producer<String, String>> producers = new ArrayList<>();
        List<KafkaConsumer<String, String>> consumers = new ArrayList<>();
        List<Properties> configs = new ArrayList<>();
        Throwable threw = null;
        int threwIn = -1;
        try {
            for (int i = 0; i < 2; i++) {
                configs.add(lab().call("producerConfig", bootstrapServers(), ids[i]));
                producers.add(new KafkaProducer<>(configs.get(i)));
                consumers.add(consumer(group, input, owned.get(i)));
            }
            for (int i = 0; i < 2; i++) {
                threwIn = i;
                lab().call("startTransactions", producers.get(i));
            }
            long deadline = System.nanoTime() + CATCH_UP.toNanos();
            while (consumers.stream().anyMatch(c -> !caughtUp(c))) {
                if (System.nanoTime() > deadline) {
                    fail("Two instances, each with its own partitions, did not get through " + readings.size() + " readings in "
                         + CATCH_UP.toSeconds() + " s");
                }
                for (int i = 0; i < 2; i++) {
                    threwIn = i;
                    lab().call("processBatch", consumers.get(i), producers.get(i), out, comfortFromTheLab());
                }
            }
        } catch (Throwable e) {
            threw = e;
        } finally {
            producers.forEach(p -> p.close(Duration.ofSeconds(5)));
            consumers.forEach(c -> c.close(CloseOptions.timeout(Duration.ZERO)));
        }
        if (threw instanceof AssertionError && !fencedIn(threw)) {
            throw (AssertionError) threw;
        }
        if (threw != null) {
            String seen = "Two instances ran side by side, instance A with transactionalId \"" + ids[0] + "\" on input partition 0, "
                          + "instance B with \"" + ids[1] + "\" on partitions 1 and 2 (a scale-out: they share no work). Instance "
                          + (threwIn == 0 ? "A" : "B") + " failed: " + why(threw);
            Object a = configs.size() > 0 ? configs.get(0).get(ProducerConfig.TRANSACTIONAL_ID_CONFIG) : null;
            Object b = configs.size() > 1 ? configs.get(1).get(ProducerConfig.TRANSACTIONAL_ID_CONFIG) : null;
            if (fencedIn(threw) && a != null && a.equals(b)) {
                fail(seen + "\nproducerConfig gave both producers the same transactional.id, \"" + a + "\", so the second fenced "
                     + "the first. Use the transactionalId parameter, unchanged, as ProducerConfig.TRANSACTIONAL_ID_CONFIG "
                     + "(TODO 1): one id per instance, kept across its restarts.");
            }
            fail(seen);
        }
        String problem = exactlyOnce(read(out, readCommitted(uniqueName("checker"))), expected(readings));
        if (problem != null) {
            fail("Two instances with their own transactional ids, each on its own input partitions, should together write "
                 + "each of the " + readings.size() + " readings' results exactly once (read_committed), but " + problem + "."
                 + likelyCauses(problem, 0));
        }
    }

    @Test
    @Order(8)
    @Timeout(120)
    @DisplayName("a second instance with the same transactional.id fences the first, which stops")
    void secondInstanceFencesTheFirst() {
        List<Reading> readings = inputs.subList(0, 24);
        String input = producedInputs(readings);
        String out = createTopic("comfort", PARTITIONS);
        String group = uniqueName("comfort-group");
        String transactionalId = uniqueName("comfort-processor");
        AtomicReference<Producer<String, String>> second = new AtomicReference<>();
        Transactions first = new Transactions();
        Producer<String, String> firstProducer = null;
        Integer returnedAfterFence = null;
        Throwable firstThrew = null;
        try {
            firstProducer = first.wrap(new KafkaProducer<>(lab().<Properties>call("producerConfig", bootstrapServers(), transactionalId)),
                    (point, n, real) -> {
                        if (point.equals("before-commit") && n == 2) {
                            real.flush(); // the batch is in the log, uncommitted
                            // A second instance starts (a restart, a scale-out, a "dead" one coming back).
                            second.set(new KafkaProducer<>(lab().<Properties>call("producerConfig", bootstrapServers(), transactionalId)));
                            lab().call("startTransactions", second.get());
                        }
                    });
            try (KafkaConsumer<String, String> consumer = consumer(group, input)) {
                lab().call("startTransactions", firstProducer);
                for (int call = 0; call < 12 && returnedAfterFence == null; call++) {
                    int done = lab().call("processBatch", consumer, firstProducer, out, comfortFromTheLab());
                    if (second.get() != null) {
                        returnedAfterFence = done;
                    }
                }
            }
        } catch (Throwable e) {
            firstThrew = e;
        } finally {
            if (firstProducer != null) {
                firstProducer.close(Duration.ZERO);
            }
        }
        if (second.get() == null) {
            if (firstThrew != null) {
                fail(why(firstThrew));
            }
            fail("The first instance never reached its second commitTransaction(), where the checker starts a second instance");
        }
        try {
            assertThat(first.commitFailure)
                    .as("A second producer made with producerConfig and the same transactionalId called initTransactions() while "
                        + "the first was in a transaction, and the first one's commitTransaction() still succeeded: it did not "
                        + "fence the first. Pass the transactionalId parameter unchanged as ProducerConfig.TRANSACTIONAL_ID_CONFIG "
                        + "(TODO 1): a restarted instance must use the id of the one it replaces")
                    .isNotNull();
            assertThat(returnedAfterFence)
                    .as("A second instance with the same transactional.id started while the first was in a transaction; the "
                        + "first one's commitTransaction() then threw %s, and processBatch returned %s instead of stopping. A "
                        + "fenced producer can never commit again, and another instance now owns this work: let "
                        + "ProducerFencedException out of processBatch (TODO 5)", name(first.commitFailure), returnedAfterFence)
                    .isNull();
            assertThat(fencedIn(firstThrew))
                    .as("After being fenced, processBatch should have thrown ProducerFencedException (or an exception caused by "
                        + "it), but: %s", firstThrew == null ? "it threw nothing" : why(firstThrew))
                    .isTrue();
            // The second instance takes over from the committed offsets.
            try (KafkaConsumer<String, String> consumer = consumer(group, input)) {
                catchUp(consumer, consumer, second.get(), out, comfortFromTheLab());
            }
        } finally {
            second.get().close(Duration.ofSeconds(5));
        }
        String problem = exactlyOnce(read(out, readCommitted(uniqueName("checker"))), expected(readings));
        if (problem != null) {
            fail("After the first instance was fenced and the second finished the work, the output (read_committed) should "
                 + "hold each of the 24 readings' results exactly once, but " + problem + "." + likelyCauses(problem, 0));
        }
    }

    @Test
    @Order(9)
    @Timeout(200)
    @DisplayName("killed mid-transaction 7 times, the processor's output holds each result exactly once")
    void killedManyTimesExactlyOnce() {
        String input = uniqueName("readings");
        String out = uniqueName("comfort");
        String group = uniqueName("comfort-group");
        String transactionalId = uniqueName("comfort-processor");
        List<String> story = new ArrayList<>();
        int consumerCommitsSeen = 0;
        String firstId = null;
        List<String[]> rounds = new ArrayList<>(KILLS);
        rounds.add(new String[] {"none", "0"});
        // Each instance's JVM starts while the one before it still runs: the restart waits only for the crash.
        LabProcess.Started next = LabProcess.start(Instance.class, input, out, group, transactionalId, rounds.get(0)[0], rounds.get(0)[1]);
        try {
            createTopicNamed(out, PARTITIONS);
            producedInputs(inputs, createTopicNamed(input, PARTITIONS));
            for (int i = 0; i < rounds.size(); i++) {
                String[] kill = rounds.get(i);
                LabProcess.Started current = next;
                current.go();
                next = i + 1 < rounds.size()
                        ? LabProcess.start(Instance.class, input, out, group, transactionalId, rounds.get(i + 1)[0], rounds.get(i + 1)[1])
                        : null;
                LabProcess.Outcome outcome;
                try (current) {
                    outcome = current.finish(ONE_INSTANCE);
                }
                String id = outcome.records().stream().filter(r -> r.startsWith("transactional.id=")).findFirst()
                        .map(r -> r.substring("transactional.id=".length())).orElse(null);
                if (firstId == null) {
                    firstId = id;
                } else if (id != null && !id.equals(firstId)) {
                    fail("Every instance of the processor got the same transactionalId (\"" + transactionalId + "\"), but producerConfig "
                         + "made transactional.id \"" + firstId + "\" in the first JVM and \"" + id + "\" in the " + ordinal(i + 1)
                         + " one. A restarted instance with another id neither fences the one it replaces nor aborts the "
                         + "transaction it left open, which then holds back every read_committed reader. Use the transactionalId "
                         + "parameter, unchanged (TODO 1): no process id, host name, time or random part.");
                }
                requireCrashOrFinish(outcome, story);
                consumerCommitsSeen += (int) outcome.records().stream().filter("consumer-commit"::equals).count();
                if (i < KILLS.size()) {
                    story.add(outcome.crashed() ? "killed " + describe(kill) : "not killed (it never reached " + describe(kill) + ")");
                }
            }
        } finally {
            if (next != null) {
                next.close();
            }
        }
        String problem = exactlyOnce(read(out, readCommitted(uniqueName("checker"))));
        int inLog = read(out, readUncommitted()).size();
        if (problem != null) {
            fail("The processor ran as " + KILLS.size() + " instances in turn, all with the same transactionalId and group ("
                 + String.join("; ", story) + "), then one more ran to the end. The output, read with read_committed, should "
                 + "then hold each of the " + INPUTS + " readings' results exactly once, but " + problem + ". (The log holds "
                 + inLog + " records in all, aborted ones included.)" + likelyCauses(problem, consumerCommitsSeen));
        }
    }

    /**
     * One instance of the processor, in its own JVM: prepares its clients, waits to be let go, then works
     * through the input until it has caught up, unless the kill point strikes first. Arguments: input,
     * output, group, transactional id, kill point ("send", "offsets", "before-commit", "after-commit" or
     * "none"), and its count.
     */
    public static final class Instance implements LabProcess.Body {
        @Override
        public void run(String[] args) throws Exception {
            String point = args[4];
            int at = Integer.parseInt(args[5]);
            LabUnderTest lab = LabUnderTest.current();
            Properties config = lab.call("producerConfig", lab.bootstrapServers(), args[3]);
            LabProcess.record("transactional.id=" + config.get(ProducerConfig.TRANSACTIONAL_ID_CONFIG));
            // initTransactions() retries while the coordinator aborts what the killed instance left open: retry soon.
            config.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 20);
            Producer<String, String> producer = new Transactions().wrap(new KafkaProducer<>(config), (p, n, real) -> {
                // A processor that never adds offsets to its transactions dies where that would have happened.
                boolean offsetsSkipped = point.equals("offsets") && p.equals("before-commit");
                if ((p.equals(point) || offsetsSkipped) && n == at) {
                    if (p.equals("before-commit")) {
                        real.flush(); // the whole batch is in the log, in a transaction this instance never ends
                    }
                    LabProcess.crash();
                }
            });
            try (KafkaConsumer<String, String> consumer = unassignedConsumer(args[2])) {
                Watched watched = new Watched(consumer);
                watched.onCommit = () -> LabProcess.record("consumer-commit");
                // Ready: the clients are built, and connected (a first connection loads half the client's
                // classes). The topics may not exist until the checker says go.
                consumer.listTopics(Duration.ofSeconds(15));
                LabProcess.awaitGo();
                assign(consumer, args[0], null);
                lab.call("startTransactions", producer);
                catchUp(consumer, watched.proxy, producer, args[1], comfortFromTheLab());
            }
            producer.close(Duration.ofSeconds(5));
        }
    }

    /** What a processor's producer did, as the checker saw it; a hook at each point of a transaction; a send made to fail. */
    static final class Transactions {
        final AtomicInteger begins = new AtomicInteger();
        final AtomicInteger callsInTransaction = new AtomicInteger();
        final AtomicInteger sendsInTransaction = new AtomicInteger();
        final AtomicInteger sends = new AtomicInteger();
        final AtomicInteger offsets = new AtomicInteger();
        final AtomicInteger commits = new AtomicInteger();
        final AtomicInteger commitCalls = new AtomicInteger();
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        /** The offsets given to sendOffsetsToTransaction in the current (or last) transaction, and for which group. */
        volatile Map<TopicPartition, OffsetAndMetadata> lastOffsets = new HashMap<>();
        volatile String lastGroup;
        volatile Throwable commitFailure;
        volatile Throwable offsetsFailure;
        /** When true for a send, that send's record is made too large to send, once. */
        volatile java.util.function.BooleanSupplier refuse = () -> false;
        final AtomicBoolean refused = new AtomicBoolean();
        volatile boolean refusedInTransaction;
        volatile boolean failedInTransaction;

        interface Hook {
            void at(String point, int count, Producer<String, String> real);
        }

        /** A transaction was begun and not (successfully) ended. */
        boolean mayBeOpen() {
            synchronized (events) {
                for (int i = events.size() - 1; i >= 0; i--) {
                    String e = events.get(i);
                    if (e.equals("begin")) {
                        return true;
                    }
                    if (e.equals("commit-ok") || e.equals("abort-ok")) {
                        return false;
                    }
                }
                return false;
            }
        }

        @SuppressWarnings("unchecked")
        Producer<String, String> wrap(Producer<String, String> real, Hook hook) {
            return (Producer<String, String>) Proxy.newProxyInstance(Producer.class.getClassLoader(), new Class<?>[] {Producer.class},
                    (self, method, args) -> {
                        String name = method.getName();
                        switch (name) {
                            case "commitTransaction" -> {
                                events.add("commit-call");
                                hook.at("before-commit", commitCalls.incrementAndGet(), real);
                            }
                            case "abortTransaction" -> events.add("abort-call");
                            case "beginTransaction" -> {
                                begins.incrementAndGet();
                                callsInTransaction.set(0);
                                sendsInTransaction.set(0);
                                refusedInTransaction = false;
                                failedInTransaction = false;
                                lastOffsets = new HashMap<>();
                                lastGroup = null;
                                events.add("begin");
                            }
                            case "send" -> {
                                sendsInTransaction.incrementAndGet();
                                if (refuse.getAsBoolean() && refused.compareAndSet(false, true)) {
                                    ProducerRecord<String, String> record = (ProducerRecord<String, String>) args[0];
                                    args[0] = new ProducerRecord<>(record.topic(), record.partition(), record.key(), "x".repeat(TOO_LARGE));
                                    events.add("refused");
                                    refusedInTransaction = true;
                                }
                            }
                            case "sendOffsetsToTransaction" -> {
                                Map<TopicPartition, OffsetAndMetadata> given = new HashMap<>(lastOffsets);
                                given.putAll((Map<TopicPartition, OffsetAndMetadata>) args[0]);
                                lastOffsets = given;
                                lastGroup = args[1] instanceof ConsumerGroupMetadata metadata ? metadata.groupId() : null;
                            }
                            default -> { }
                        }
                        Object result;
                        try {
                            result = method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            switch (name) {
                                case "commitTransaction" -> commitFailure = e.getCause();
                                case "sendOffsetsToTransaction" -> {
                                    if (offsetsFailure == null && !refusedInTransaction && e.getCause() instanceof IllegalStateException) {
                                        offsetsFailure = e.getCause(); // called outside a transaction
                                    }
                                }
                                default -> { }
                            }
                            throw e.getCause();
                        }
                        switch (name) {
                            case "send" -> hook.at("send", sends.incrementAndGet(), real);
                            case "sendOffsetsToTransaction" -> hook.at("offsets", offsets.incrementAndGet(), real);
                            case "commitTransaction" -> {
                                events.add("commit-ok");
                                hook.at("after-commit", commits.incrementAndGet(), real);
                            }
                            case "abortTransaction" -> events.add("abort-ok");
                            default -> { }
                        }
                        return result;
                    });
        }
    }

    /**
     * The consumer handed to the lab: the real one, telling the checker about every commit it is asked
     * for and remembering the last batch. A poll that returns records of one partition only is topped
     * up with a second poll of the other partitions (the first one's paused): batches span partitions,
     * as they do in production, so "one offset for the whole batch" shows.
     */
    static final class Watched {
        final KafkaConsumer<String, String> real;
        final AtomicInteger commits = new AtomicInteger();
        volatile Runnable onCommit = () -> { };
        volatile ConsumerRecords<String, String> lastBatch = ConsumerRecords.empty();
        final Consumer<String, String> proxy;

        @SuppressWarnings("unchecked")
        Watched(KafkaConsumer<String, String> real) {
            this.real = real;
            this.proxy = (Consumer<String, String>) Proxy.newProxyInstance(Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class},
                    (self, method, args) -> {
                        String name = method.getName();
                        if (name.equals("commitSync") || name.equals("commitAsync")) {
                            commits.incrementAndGet();
                            onCommit.run();
                        }
                        if (name.equals("poll") && args.length == 1 && args[0] instanceof Duration timeout) {
                            lastBatch = spanning(timeout);
                            return lastBatch;
                        }
                        try {
                            return method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }

        ConsumerRecords<String, String> spanning(Duration timeout) {
            ConsumerRecords<String, String> first = real.poll(timeout);
            if (first.partitions().size() != 1) {
                return first;
            }
            Set<TopicPartition> paused = first.partitions();
            real.pause(paused);
            ConsumerRecords<String, String> more;
            try {
                more = real.poll(Duration.ofMillis(50));
            } finally {
                real.resume(paused);
            }
            if (more.isEmpty()) {
                return first;
            }
            Map<TopicPartition, List<ConsumerRecord<String, String>>> records = new LinkedHashMap<>();
            Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>(first.nextOffsets());
            next.putAll(more.nextOffsets());
            for (ConsumerRecords<String, String> part : List.of(first, more)) {
                part.partitions().forEach(p -> records.computeIfAbsent(p, k -> new ArrayList<>()).addAll(part.records(p)));
            }
            return new ConsumerRecords<>(records, next);
        }
    }

    /** A processor's consumer: the lab's configuration, small batches, every input partition assigned. */
    static KafkaConsumer<String, String> consumer(String group, String input) {
        return consumer(group, input, null);
    }

    /** A processor's consumer on the given input partitions (all when null). */
    static KafkaConsumer<String, String> consumer(String group, String input, List<Integer> only) {
        KafkaConsumer<String, String> consumer = unassignedConsumer(group);
        assign(consumer, input, only);
        return consumer;
    }

    static KafkaConsumer<String, String> unassignedConsumer(String group) {
        Properties config = lab().call("consumerConfig", bootstrapServers(), group);
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, BATCH);
        // Bounded waits for offsets a dead instance's open transaction holds: a clear failure, not a hang.
        config.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000);
        // Offsets still pending in a transaction being aborted are asked again: soon, not after 100 ms.
        config.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, 20);
        return new KafkaConsumer<>(config);
    }

    static void assign(KafkaConsumer<String, String> consumer, String input, List<Integer> only) {
        // assign(), not subscribe(): no group membership, so a killed instance holds no partitions
        // for a session timeout. The offsets are still the group's, committed by the transactions.
        consumer.assign(partitions(consumer, input).stream().filter(p -> only == null || only.contains(p.partition())).toList());
    }

    /** The checker's view of a group's committed offsets: read_committed, so it waits for pending transactional offsets. */
    static KafkaConsumer<String, String> committedReader(String group) {
        Properties config = readCommitted(group);
        // Offsets still pending in a transaction are retried: a short back-off keeps each look quick.
        config.put(ConsumerConfig.RETRY_BACKOFF_MS_CONFIG, 20);
        return new KafkaConsumer<>(config);
    }

    static boolean caughtUp(KafkaConsumer<String, String> consumer) {
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), Duration.ofSeconds(15));
        return consumer.assignment().stream().allMatch(p -> consumer.position(p, Duration.ofSeconds(15)) >= end.get(p));
    }

    /** Calls processBatch until the consumer's position reaches the end of the input. */
    static void catchUp(KafkaConsumer<String, String> real, Consumer<String, String> given, Producer<String, String> producer,
                        String output, UnaryOperator<String> transform) {
        List<TopicPartition> partitions = List.copyOf(real.assignment());
        Map<TopicPartition, Long> end = real.endOffsets(partitions, Duration.ofSeconds(15));
        long deadline = System.nanoTime() + CATCH_UP.toNanos();
        while (partitions.stream().anyMatch(p -> real.position(p, Duration.ofSeconds(15)) < end.get(p))) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("processBatch did not get through " + INPUTS + " readings in " + CATCH_UP.toSeconds()
                                         + " s: does it return after each batch, and does a committed batch move the consumer on?");
            }
            lab().call("processBatch", given, producer, output, transform);
        }
    }

    static UnaryOperator<String> comfortFromTheLab() {
        return Lab11ExactlyOnceCheck::comfort;
    }

    static String comfort(String reading) {
        return lab().call("comfort", reading);
    }

    static String producedInputs(List<Reading> readings) {
        return producedInputs(readings, createTopic("readings", PARTITIONS));
    }

    static String producedInputs(List<Reading> readings, String topic) {
        try (Producer<String, String> producer = newProducer()) {
            for (int i = 0; i < readings.size(); i++) {
                producer.send(new ProducerRecord<>(topic, i % PARTITIONS, readings.get(i).key(), readings.get(i).value()));
            }
        }
        return topic;
    }

    static void writeTransaction(KafkaProducer<String, String> writer, String topic, List<String> values, boolean commit) {
        writer.beginTransaction();
        values.forEach(v -> writer.send(new ProducerRecord<>(topic, "sensor-0", v)));
        writer.flush();
        if (commit) {
            writer.commitTransaction();
        } else {
            writer.abortTransaction();
        }
    }

    static Properties readCommitted(String group) {
        Properties config = readUncommitted();
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        return config;
    }

    static Properties readUncommitted() {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return config;
    }

    /**
     * Reads a topic from its beginning to the end of its log. A read_committed reader gets there
     * once every transaction in the log has ended, commit markers included: commitTransaction()
     * returns before the markers are written, so the last stable offset may lag a moment behind.
     */
    static List<ConsumerRecord<String, String>> read(String topic, Properties config) {
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try (KafkaConsumer<String, String> reader = new KafkaConsumer<>(config); Admin admin = admin()) {
            List<TopicPartition> partitions = partitions(reader, topic);
            reader.assign(partitions);
            reader.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = new HashMap<>();
            admin.listOffsets(partitions.stream().collect(Collectors.toMap(p -> p, p -> OffsetSpec.latest())))
                    .all().get(15, TimeUnit.SECONDS).forEach((p, info) -> end.put(p, info.offset()));
            try {
                await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ZERO).until(() -> {
                    reader.poll(Duration.ofMillis(200)).forEach(records::add);
                    return partitions.stream().allMatch(p -> reader.position(p) >= end.get(p));
                });
            } catch (ConditionTimeoutException e) {
                // the caller compares what arrived with what it expected
            }
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("The checker could not find the end of " + topic + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return records;
    }

    static List<TopicPartition> partitions(Consumer<String, String> consumer, String topic) {
        return consumer.partitionsFor(topic, Duration.ofSeconds(15)).stream().map(p -> new TopicPartition(topic, p.partition())).toList();
    }

    static List<String> expected(List<Reading> readings) {
        return readings.stream().map(r -> r.key() + "=" + comfort(r.value())).toList();
    }

    static String exactlyOnce(List<ConsumerRecord<String, String>> outputs) {
        return exactlyOnce(outputs, expected(inputs));
    }

    /** Null when every expected result is there exactly once and nothing else is; otherwise what is wrong. */
    static String exactlyOnce(List<ConsumerRecord<String, String>> outputs, List<String> expected) {
        Map<String, Long> seen = outputs.stream().map(r -> r.key() + "=" + r.value())
                .collect(Collectors.groupingBy(s -> s, LinkedHashMap::new, Collectors.counting()));
        List<String> missing = expected.stream().filter(e -> !seen.containsKey(e)).toList();
        List<String> repeated = seen.entrySet().stream().filter(e -> e.getValue() > 1).map(e -> e.getKey() + " (" + e.getValue() + "x)").toList();
        Set<String> known = new HashSet<>(expected);
        List<String> unknown = seen.keySet().stream().filter(s -> !known.contains(s)).map(Lab11ExactlyOnceCheck::shortened).toList();
        List<String> problems = new ArrayList<>();
        if (!missing.isEmpty()) {
            problems.add(count(missing.size(), "result is", "results are") + " never there (" + first(missing) + ")");
        }
        if (!repeated.isEmpty()) {
            problems.add(count(repeated.size(), "result is", "results are") + " there more than once (" + first(repeated) + ")");
        }
        if (!unknown.isEmpty()) {
            problems.add(count(unknown.size(), "record is", "records are") + " not the result of any reading (" + first(unknown)
                         + "): send each record's key with transform.apply(record.value())");
        }
        return problems.isEmpty() ? null : String.join(", and ", problems);
    }

    static String shortened(String text) {
        return text.length() > 60 ? text.substring(0, 60) + "..." : text;
    }

    static String count(int n, String one, String many) {
        return n + " " + (n == 1 ? one : many);
    }

    /** What the checker saw that explains a wrong output, or else the usual causes: it does not guess one. */
    static String likelyCauses(String problem, int consumerCommitsSeen) {
        if (problem == null) {
            return "";
        }
        Properties config = lab().call("consumerConfig", bootstrapServers(), "any");
        if (!"false".equalsIgnoreCase(String.valueOf(config.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG)))) {
            return "\nWith enable.auto.commit on, the consumer commits its position by itself (every 5 s, and when it "
                   + "closes), outside the transactions: a batch whose transaction was aborted or fenced is then skipped (TODO 2).";
        }
        if (consumerCommitsSeen > 0) {
            return "\nThe processor committed offsets with the consumer (" + consumerCommitsSeen + " times): a kill between that "
                   + "commit and the transaction's repeats or loses a batch. Put the offsets in the transaction: "
                   + "sendOffsetsToTransaction(offsets, consumer.groupMetadata()) (TODO 4).";
        }
        return "\nLikely causes: results sent outside the transaction, or committed in one transaction and their offsets in "
               + "another; offsets that are not, per partition, the next record to read (TODO 4); an aborted batch not read "
               + "again, or read again from the wrong place (TODO 5, 6).";
    }

    static void requireCrashOrFinish(LabProcess.Outcome outcome, List<String> story) {
        String before = story.isEmpty() ? "" : " (after these instances: " + String.join("; ", story) + ")";
        if (outcome.timedOut()) {
            fail("An instance of the processor did not finish within " + ONE_INSTANCE.toSeconds() + " s" + before
                 + ": does processBatch return after each batch?");
        }
        if (outcome.exitCode() == LabProcess.THREW) {
            int at = outcome.output().indexOf("THREW ");
            String threw = at < 0 ? "?" : outcome.output().substring(at + "THREW ".length()).strip();
            String hint = hintFor(threw);
            fail("An instance of the processor failed" + before + ": " + threw + (hint == null ? "" : "\n" + hint));
        }
        if (!outcome.crashed() && !outcome.completed()) {
            fail("An instance's JVM ended with exit code " + outcome.exitCode() + ": does the lab call System.exit?");
        }
    }

    static String describe(String[] kill) {
        String nth = ordinal(Integer.parseInt(kill[1]));
        return switch (kill[0]) {
            case "send" -> "right after its " + nth + " send";
            case "offsets" -> "right after its " + nth + " sendOffsetsToTransaction";
            case "before-commit" -> "just before its " + nth + " commitTransaction (the batch flushed to the log)";
            case "after-commit" -> "right after its " + nth + " commitTransaction";
            default -> kill[0];
        };
    }

    /** "partition 0: offsets 3-5, partition 1: offsets 0-2". */
    static String describe(ConsumerRecords<String, String> batch) {
        return batch.partitions().stream().sorted(BY_PARTITION).map(p -> {
            List<ConsumerRecord<String, String>> records = batch.records(p);
            return "partition " + p.partition() + ": offsets " + records.get(0).offset() + "-" + records.get(records.size() - 1).offset();
        }).collect(Collectors.joining(", "));
    }

    static String numbers(Set<TopicPartition> partitions) {
        return (partitions.size() == 1 ? "partition " : "partitions ") + partitions.stream().map(TopicPartition::partition).sorted().map(String::valueOf).collect(Collectors.joining(", "));
    }

    static String ordinal(int n) {
        return n + (n == 1 ? "st" : n == 2 ? "nd" : n == 3 ? "rd" : "th");
    }

    static String why(Throwable e) {
        String text = LearnerMessages.describe(e);
        String hint = hintFor(text);
        return hint == null ? text : text + "\n" + hint;
    }

    /** What the producer's own words usually mean in this lab. */
    static String hintFor(String text) {
        if (text.contains("non-transactional producer")) {
            return "The producer is not transactional: set ProducerConfig.TRANSACTIONAL_ID_CONFIG in producerConfig (TODO 1).";
        }
        if (text.contains("from state UNINITIALIZED")) {
            return "The producer's transactions were never initialized: startTransactions must call producer.initTransactions() (TODO 3).";
        }
        if (text.contains("to state INITIALIZING")) {
            return "initTransactions() runs once per producer, in startTransactions, before the first transaction: not per batch.";
        }
        if (text.contains("IN_TRANSACTION to state IN_TRANSACTION")) {
            return "A transaction was still open when the next one began: after an error, abort it with producer.abortTransaction() (TODO 5).";
        }
        if (text.contains("position for partition") || text.contains("committed offset")) {
            return "The group's offsets are held by a transaction that nobody finishes. A killed instance's open transaction is "
                   + "aborted when a new producer with the SAME transactional.id calls initTransactions(): keep the id given to "
                   + "producerConfig (TODO 1).";
        }
        if (text.contains("READY to state ABORTING_TRANSACTION") || text.contains("READY to state COMMITTING_TRANSACTION")) {
            return "abortTransaction() and commitTransaction() end the transaction that beginTransaction() started: each once per batch.";
        }
        return null;
    }

    static boolean fencedIn(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof InvalidProducerEpochException) {
                return true;
            }
        }
        return false;
    }

    static String name(Throwable e) {
        return e == null ? "nothing" : e.getClass().getSimpleName();
    }

    static String first(List<String> items) {
        return items.stream().limit(6).collect(Collectors.joining(", ")) + (items.size() > 6 ? ", ..." : "");
    }

}
