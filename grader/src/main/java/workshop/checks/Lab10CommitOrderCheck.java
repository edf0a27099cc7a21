package workshop.checks;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
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
 * Lab 10: the learner's consumer is crashed, for real, at random points (a JVM halted like
 * kill -9: no close, no last commit), restarted, and crashed again; then what was processed is
 * compared with what was sent.
 */
class Lab10CommitOrderCheck extends LabCheck {

    static final int PARTITIONS = 3;
    static final int RECORDS_PER_PARTITION = 60;
    static final int CRASHES = 8;
    static final Duration ONE_INSTANCE = Duration.ofSeconds(40);

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
    @Timeout(240)
    @DisplayName("with " + CRASHES + " crashes at random points, no record is lost")
    void noRecordLostAcrossCrashes() {
        String topic = producedTopic();
        String group = uniqueName("group");
        long seed = System.nanoTime();
        Random random = new Random(seed);
        Set<String> processed = new TreeSet<>();
        List<String> crashes = new ArrayList<>();
        for (int round = 0; round < CRASHES; round++) {
            // Round 0 dies before handling its first record: right after poll, the sharpest test.
            String mode = round % 2 == 0 ? "before-handle" : "at-commit";
            int at = round == 0 ? 1 : mode.equals("before-handle") ? 1 + random.nextInt(60) : 1 + random.nextInt(4);
            LabProcess.Outcome outcome = LabProcess.run(Worker.class, ONE_INSTANCE, topic, group, mode, Integer.toString(at));
            requireCrashOrFinish(outcome);
            processed.addAll(outcome.records());
            crashes.add(outcome.crashed() ? describe(mode, at) : "no crash (caught up first)");
        }
        LabProcess.Outcome last = LabProcess.run(Worker.class, ONE_INSTANCE, topic, group, "none", "0");
        requireCrashOrFinish(last);
        processed.addAll(last.records());

        Set<String> lost = new TreeSet<>(allRecords());
        lost.removeAll(processed);
        assertThat(lost)
                .as("After crashes (%s) and a final run, %d of %d records were never processed: the group's committed offset "
                    + "had moved past them before they were handled. Commit only after processing (at-least-once). "
                    + "Lost (partition@offset): %s (random seed %d)",
                        String.join("; ", crashes), lost.size(), PARTITIONS * RECORDS_PER_PARTITION, first(lost), seed)
                .isEmpty();
    }

    @Test
    @Order(3)
    @Timeout(120)
    @DisplayName("after a clean shutdown, a restart reprocesses nothing")
    void cleanRestartReprocessesNothing() {
        String topic = producedTopic();
        String group = uniqueName("group");
        LabProcess.Outcome first = LabProcess.run(Worker.class, ONE_INSTANCE, topic, group, "none", "0");
        requireCrashOrFinish(first);
        assertThat(first.records()).as("The first run should process all %d records", PARTITIONS * RECORDS_PER_PARTITION)
                .hasSize(PARTITIONS * RECORDS_PER_PARTITION);
        LabProcess.Outcome restart = LabProcess.run(Worker.class, ONE_INSTANCE, topic, group, "none", "0");
        requireCrashOrFinish(restart);
        assertThat(restart.records())
                .as("After a clean shutdown the restarted consumer processed %d records again (%s). A committed offset is "
                    + "the NEXT record to read: commit record.offset() + 1, not record.offset()",
                        restart.records().size(), first(new TreeSet<>(restart.records())))
                .isEmpty();
    }

    private static String describe(String mode, int at) {
        return mode.equals("before-handle") ? "killed before handling record #" + at : "killed at commit #" + at;
    }

    private static void requireCrashOrFinish(LabProcess.Outcome outcome) {
        if (outcome.timedOut()) {
            fail("A consumer instance did not catch up with the topic within " + ONE_INSTANCE.toSeconds()
                 + " s: does processBatch poll, process and return?");
        }
        if (outcome.exitCode() == LabProcess.THREW) {
            String why = outcome.output().lines().filter(l -> l.startsWith("THREW ")).findFirst().orElse("THREW ?").substring(6);
            fail(why);
        }
        if (!outcome.crashed() && !outcome.completed()) {
            fail("The consumer's JVM ended with exit code " + outcome.exitCode() + ": does the lab call System.exit?");
        }
    }

    private static String first(Set<String> items) {
        return items.stream().limit(12).toList() + (items.size() > 12 ? " ..." : "");
    }

    private static Set<String> allRecords() {
        Set<String> all = new TreeSet<>();
        for (int p = 0; p < PARTITIONS; p++) {
            for (int o = 0; o < RECORDS_PER_PARTITION; o++) {
                all.add(p + "@" + o);
            }
        }
        return all;
    }

    private static String producedTopic() {
        String topic = createTopic("readings", PARTITIONS);
        try (Producer<String, String> producer = newProducer()) {
            for (int p = 0; p < PARTITIONS; p++) {
                for (int o = 0; o < RECORDS_PER_PARTITION; o++) {
                    producer.send(new ProducerRecord<>(topic, p, "sensor-" + p, "reading-" + o));
                }
            }
        }
        return topic;
    }

    /**
     * One consumer instance, in its own JVM: processes until it has caught up with the topic,
     * unless the mode kills it first (before handling record #n, or on its n-th commit).
     */
    public static final class Worker implements LabProcess.Body {
        @Override
        public void run(String[] args) throws Exception {
            String topic = args[0];
            String group = args[1];
            String mode = args[2];
            int at = Integer.parseInt(args[3]);
            LabUnderTest lab = LabUnderTest.current();
            Properties config = lab.call("consumerConfig", lab.bootstrapServers(), group);
            // Small batches: many polls and commits per instance, so crashes land all over the topic.
            config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 20);
            KafkaConsumer<String, String> real = new KafkaConsumer<>(config);
            List<TopicPartition> partitions = real.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            // assign(): no group membership to wait for; offsets are still the group's.
            real.assign(partitions);
            Consumer<String, String> consumer = mode.equals("at-commit") ? crashOnCommit(real, at) : real;
            AtomicInteger handled = new AtomicInteger();
            RecordHandler handler = record -> {
                if (mode.equals("before-handle") && handled.incrementAndGet() == at) {
                    LabProcess.crash();
                }
                LabProcess.record(record.partition() + "@" + record.offset());
            };
            Map<TopicPartition, Long> end = real.endOffsets(partitions, Duration.ofSeconds(30));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (partitions.stream().anyMatch(tp -> real.position(tp, Duration.ofSeconds(10)) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("processBatch did not get through the topic in 30 s");
                }
                lab.call("processBatch", consumer, handler);
            }
            real.close(); // a clean shutdown: what a crash never gets to do
        }

        private static Consumer<String, String> crashOnCommit(KafkaConsumer<String, String> real, int at) {
            AtomicInteger commits = new AtomicInteger();
            @SuppressWarnings("unchecked")
            Consumer<String, String> proxy = (Consumer<String, String>) Proxy.newProxyInstance(
                    Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class}, (self, method, args) -> {
                        if ((method.getName().equals("commitSync") || method.getName().equals("commitAsync"))
                                && commits.incrementAndGet() == at) {
                            LabProcess.crash(); // processed, not yet committed
                        }
                        try {
                            return method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            return proxy;
        }
    }
}
