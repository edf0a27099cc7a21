package workshop.checks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
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
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
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
 * Lab 11: the learner's consume-transform-produce loop, with a failure in the middle of a batch,
 * killed for real (a JVM halted like kill -9) at chosen points of its transactions and restarted,
 * and fenced by a second instance with its transactional.id. The output is always read with the
 * checker's own read_committed consumer and compared with the inputs: each result exactly once.
 */
class Lab11ExactlyOnceCheck extends LabCheck {

    static final int PARTITIONS = 3;
    static final int INPUTS = 48;
    /** max.poll.records set by the checker: small batches, so many transactions per run. */
    static final int BATCH = 4;
    /** In the set-up run, the transform fails once: on this reading of the 2nd transaction. */
    static final int FAILING_READING = 3;
    static final Duration ONE_INSTANCE = Duration.ofSeconds(30);
    static final Duration CATCH_UP = Duration.ofSeconds(20);
    /** Where each killed instance dies: a point of the producer's transaction, and its count in that JVM. */
    static final List<String[]> KILLS = List.of(
            new String[] {"send", "2"},
            new String[] {"before-commit", "2"},
            new String[] {"offsets", "1"},
            new String[] {"after-commit", "1"},
            new String[] {"send", "11"},
            new String[] {"before-commit", "1"},
            new String[] {"after-commit", "2"});

    // The set-up run: one instance, in this JVM, whose transform fails once mid-batch.
    static List<Reading> inputs;
    static String output;
    static Transactions transactions;
    static AtomicInteger consumerCommits = new AtomicInteger();
    static AtomicInteger transformCalls = new AtomicInteger();
    static AtomicBoolean failed = new AtomicBoolean();
    static Throwable thrown;

    @BeforeAll
    @Timeout(60)
    static void processWithAFailureInTheMiddleOfABatch() {
        inputs = Reading.sample(INPUTS, 4);
        String input = producedInputs(inputs);
        output = createTopic("comfort", PARTITIONS);
        transactions = new Transactions();
        UnaryOperator<String> failingOnce = reading -> {
            transformCalls.incrementAndGet();
            boolean due = transactions.begins.get() >= 2 && transactions.callsInTransaction.incrementAndGet() == FAILING_READING;
            if (due && failed.compareAndSet(false, true)) {
                throw new UncheckedIOException(new IOException("the comfort service timed out (a failure injected by the checker)"));
            }
            return comfort(reading);
        };
        Producer<String, String> producer = null;
        try {
            Properties config = lab().call("producerConfig", bootstrapServers(), uniqueName("comfort-processor"));
            producer = transactions.wrap(new KafkaProducer<>(config), (point, n, real) -> { });
            try (KafkaConsumer<String, String> consumer = consumer(uniqueName("comfort-group"), input)) {
                lab().call("startTransactions", producer);
                catchUp(consumer, watched(consumer, consumerCommits::incrementAndGet), producer, output, failingOnce);
            }
        } catch (Throwable e) {
            thrown = e;
        } finally {
            if (producer != null) {
                producer.close(Duration.ofSeconds(5));
            }
        }
    }

    @Test
    @Order(1)
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
        assertThat(consumerCommits.get())
                .as("processBatch called commitSync/commitAsync on the consumer %d times. Offsets committed by the consumer "
                    + "are not part of the transaction: a crash between the two commits repeats or loses a batch. Add them "
                    + "to the transaction with producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata()) (TODO 4)",
                        consumerCommits.get())
                .isZero();
        assertThat(transactions.offsets.get())
                .as("processBatch committed %d transactions without ever calling sendOffsetsToTransaction: the group's "
                    + "offsets never move, so a restarted processor does every batch again. Add the next offsets "
                    + "(offset + 1 per partition) to each transaction (TODO 4)", transactions.commits.get())
                .isPositive();
    }

    @Test
    @Order(3)
    @DisplayName("a failure in the middle of a batch aborts its transaction, and the batch is done again, once")
    void failureMidBatchAborts() {
        if (!failed.get()) {
            if (thrown != null) {
                fail(why(thrown));
            }
            fail("The checker's transform fails on the " + ordinal(FAILING_READING) + " reading of the 2nd transaction, but for "
                 + INPUTS + " readings processBatch began " + transactions.begins.get() + " transactions and called the transform "
                 + transformCalls.get() + " times: one transaction per batch, and transform.apply(record.value()) for each record (TODO 4)");
        }
        assertThat(transactions.abortsAfterFailure.get())
                .as("The transform failed (%s) on the %s reading of the 2nd transaction, after two of its results were sent, "
                    + "and processBatch did not call producer.abortTransaction(): the transaction stays open with those results "
                    + "in it, and the next beginTransaction() fails. Catch the error, abort, rewind, and return 0 (TODO 5)%s",
                        "an IOException from the comfort service", ordinal(FAILING_READING), thrown == null ? "" : ".\n" + why(thrown))
                .isPositive();
        if (thrown != null) {
            fail("After the failure in the 2nd transaction processBatch aborted, then: " + why(thrown)
                 + "\nAn aborted batch is not fatal: rewind and return 0, so that the next call reads the batch again (TODO 5).");
        }
        String problem = exactlyOnce(read(output, readCommitted(uniqueName("checker"))));
        assertThat(problem)
                .as("With one failure mid-batch, aborted and retried, the output (read with read_committed) should hold each of "
                    + "the %d readings' results exactly once, but %s.%s", INPUTS, problem,
                        problem != null && problem.contains("never") ? "\nAfter abortTransaction(), the consumer is still past the "
                        + "aborted batch: rewind it to the committed offsets (consumer.seek, TODO 6) so the batch is read again."
                        : advice(problem, consumerCommits.get()))
                .isNull();
    }

    @Test
    @Order(4)
    @Timeout(150)
    @DisplayName("killed mid-transaction 7 times, the processor's output holds each result exactly once")
    void killedManyTimesExactlyOnce() {
        String input = producedInputs(inputs);
        String out = createTopic("comfort", PARTITIONS);
        String group = uniqueName("comfort-group");
        String transactionalId = uniqueName("comfort-processor");
        List<String> story = new ArrayList<>();
        int consumerCommitsSeen = 0;
        for (String[] kill : KILLS) {
            LabProcess.Outcome outcome = LabProcess.run(Instance.class, ONE_INSTANCE, input, out, group, transactionalId, kill[0], kill[1]);
            requireCrashOrFinish(outcome, story);
            consumerCommitsSeen += (int) outcome.records().stream().filter("consumer-commit"::equals).count();
            story.add(outcome.crashed() ? "killed " + describe(kill) : "not killed (it never reached " + describe(kill) + ")");
        }
        LabProcess.Outcome last = LabProcess.run(Instance.class, ONE_INSTANCE, input, out, group, transactionalId, "none", "0");
        requireCrashOrFinish(last, story);
        consumerCommitsSeen += (int) last.records().stream().filter("consumer-commit"::equals).count();

        String problem = exactlyOnce(read(out, readCommitted(uniqueName("checker"))));
        int inLog = read(out, readUncommitted()).size();
        assertThat(problem)
                .as("The processor ran as %d instances in turn, all with the same transactional.id and group (%s), then one more "
                    + "ran to the end. The output, read with read_committed, should then hold each of the %d readings' results "
                    + "exactly once, but %s. (The log holds %d records in all, aborted ones included.)%s",
                        KILLS.size(), String.join("; ", story), INPUTS, problem, inLog, advice(problem, consumerCommitsSeen))
                .isNull();
    }

    @Test
    @Order(5)
    @Timeout(60)
    @DisplayName("a second instance with the same transactional.id fences the first, which stops")
    void secondInstanceFencesTheFirst() {
        String input = producedInputs(inputs.subList(0, 24));
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
        List<String> expected = inputs.subList(0, 24).stream().map(r -> r.key() + "=" + comfort(r.value())).toList();
        String problem = exactlyOnce(read(out, readCommitted(uniqueName("checker"))), expected);
        assertThat(problem)
                .as("After the first instance was fenced and the second finished the work, the output (read_committed) should "
                    + "hold each of the 24 readings' results exactly once, but %s.%s", problem, advice(problem, 0))
                .isNull();
    }

    /**
     * One instance of the processor, in its own JVM: works through the input until it has caught
     * up, unless the kill point strikes first. Arguments: input, output, group, transactional id,
     * kill point ("send", "offsets", "before-commit", "after-commit" or "none"), and its count.
     */
    public static final class Instance implements LabProcess.Body {
        @Override
        public void run(String[] args) throws Exception {
            String point = args[4];
            int at = Integer.parseInt(args[5]);
            LabUnderTest lab = LabUnderTest.current();
            Properties config = lab.call("producerConfig", lab.bootstrapServers(), args[3]);
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
            try (KafkaConsumer<String, String> consumer = consumer(args[2], args[0])) {
                lab.call("startTransactions", producer);
                catchUp(consumer, watched(consumer, () -> LabProcess.record("consumer-commit")), producer, args[1], comfortFromTheLab());
            }
            producer.close(Duration.ofSeconds(5));
        }
    }

    /** What a processor's producer did, as the checker saw it; and a hook at each point of a transaction. */
    static final class Transactions {
        final AtomicInteger begins = new AtomicInteger();
        final AtomicInteger callsInTransaction = new AtomicInteger();
        final AtomicInteger sends = new AtomicInteger();
        final AtomicInteger offsets = new AtomicInteger();
        final AtomicInteger commits = new AtomicInteger();
        final AtomicInteger commitCalls = new AtomicInteger();
        final AtomicInteger abortsAfterFailure = new AtomicInteger();
        volatile Throwable commitFailure;

        interface Hook {
            void at(String point, int count, Producer<String, String> real);
        }

        @SuppressWarnings("unchecked")
        Producer<String, String> wrap(Producer<String, String> real, Hook hook) {
            return (Producer<String, String>) Proxy.newProxyInstance(Producer.class.getClassLoader(), new Class<?>[] {Producer.class},
                    (self, method, args) -> {
                        String name = method.getName();
                        if (name.equals("commitTransaction")) {
                            hook.at("before-commit", commitCalls.incrementAndGet(), real);
                        }
                        if (name.equals("beginTransaction")) {
                            begins.incrementAndGet();
                            callsInTransaction.set(0);
                        }
                        if (name.equals("abortTransaction") && failed.get()) {
                            abortsAfterFailure.incrementAndGet();
                        }
                        Object result;
                        try {
                            result = method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            if (name.equals("commitTransaction")) {
                                commitFailure = e.getCause();
                            }
                            throw e.getCause();
                        }
                        switch (name) {
                            case "send" -> hook.at("send", sends.incrementAndGet(), real);
                            case "sendOffsetsToTransaction" -> hook.at("offsets", offsets.incrementAndGet(), real);
                            case "commitTransaction" -> hook.at("after-commit", commits.incrementAndGet(), real);
                            default -> { }
                        }
                        return result;
                    });
        }
    }

    /** The consumer handed to the lab: the real one, telling the checker about every commit it is asked for. */
    @SuppressWarnings("unchecked")
    static Consumer<String, String> watched(KafkaConsumer<String, String> real, Runnable onCommit) {
        return (Consumer<String, String>) Proxy.newProxyInstance(Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class},
                (self, method, args) -> {
                    if (method.getName().equals("commitSync") || method.getName().equals("commitAsync")) {
                        onCommit.run();
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    /** A processor's consumer: the lab's configuration, small batches, every input partition assigned. */
    static KafkaConsumer<String, String> consumer(String group, String input) {
        Properties config = lab().call("consumerConfig", bootstrapServers(), group);
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, BATCH);
        KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config);
        // assign(), not subscribe(): no group membership, so a killed instance holds no partitions
        // for a session timeout. The offsets are still the group's, committed by the transactions.
        consumer.assign(partitions(consumer, input));
        return consumer;
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
        String topic = createTopic("readings", PARTITIONS);
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

    static String exactlyOnce(List<ConsumerRecord<String, String>> outputs) {
        return exactlyOnce(outputs, inputs.stream().map(r -> r.key() + "=" + comfort(r.value())).toList());
    }

    /** Null when every expected result is there exactly once and nothing else is; otherwise what is wrong. */
    static String exactlyOnce(List<ConsumerRecord<String, String>> outputs, List<String> expected) {
        Map<String, Long> seen = outputs.stream().map(r -> r.key() + "=" + r.value())
                .collect(Collectors.groupingBy(s -> s, LinkedHashMap::new, Collectors.counting()));
        List<String> missing = expected.stream().filter(e -> !seen.containsKey(e)).toList();
        List<String> repeated = seen.entrySet().stream().filter(e -> e.getValue() > 1).map(e -> e.getKey() + " (" + e.getValue() + "x)").toList();
        List<String> unknown = seen.keySet().stream().filter(s -> !expected.contains(s)).toList();
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

    static String count(int n, String one, String many) {
        return n + " " + (n == 1 ? one : many);
    }

    static String advice(String problem, int consumerCommitsSeen) {
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
        if (problem.contains("more than once")) {
            return "\nA restarted instance starts from the offsets committed in the last transaction: add the NEXT offset "
                   + "(record.offset() + 1) of each partition to every transaction, before commitTransaction() (TODO 4).";
        }
        return "";
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
        if (text.contains("position for partition")) {
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
        for (Throwable t = e; t != null; t = t.getCause()) {
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
