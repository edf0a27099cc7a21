package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Reading;
import workshop.SendCounts;
import workshop.check.GatedProducer;
import workshop.check.LabCheck;
import workshop.check.LearnerMessages;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 02: one run of the learner's sendWithCallbacks against a broker whose acknowledgements come
 * late, with chosen sends failed, then facts about what reached the broker, what the callbacks
 * did on the producer's I/O thread, and what was returned.
 *
 * <p>The acknowledgements are held until the learner's thread waits for them (a flush, a future,
 * a latch: anything but a sleep), so counts read before the callbacks ran are caught whatever
 * sleep comes first. The failures are spread over the run, two in a row, the first and the last
 * send among them, and 37 readings of 4 sensors over 3 partitions make no regular pattern.
 */
class Lab02CallbackCheck extends LabCheck {

    static final int READINGS = 37;
    static final int PARTITIONS = 3;
    /** Sends the checker fails. */
    static final Set<Integer> FAILED = Set.of(0, 7, 13, 14, 29, 36);
    static final int GOOD = READINGS - FAILED.size();
    /** How long the broker's answers may be held when the learner's thread never waits for them. */
    static final Duration HOLD_BACKSTOP = Duration.ofSeconds(5);
    /** Far above what any answer that waits for its callbacks needs, even under load. */
    static final Duration CALL_BOUND = Duration.ofSeconds(12);
    static final Duration MAX_BLOCK = Duration.ofSeconds(2);
    static final Duration SLOW_CALLBACK = Duration.ofMillis(500);
    static final String NEVER_BLOCKS = "the callback never blocks the producer's I/O thread";

    static String topic;
    static String dlq;
    static String sink;
    static List<Reading> readings;
    static GatedProducer gated;
    static WatchedProducer producer;
    static SendCounts counts;
    static Throwable thrown;
    static List<ConsumerRecord<String, String>> landed;
    static List<ConsumerRecord<String, String>> dead;
    /** Callbacks of the readings' sends that had finished when sendWithCallbacks returned. */
    static int callbacksAtReturn = -1;
    /** Set when sendWithCallbacks did not return: where its thread and the I/O thread were. */
    static String hung;
    static StackTraceElement[] hungIoStack;

    @BeforeAll
    // Every wait inside is bounded on its own; this only has to outlast them on a loaded machine.
    @Timeout(90)
    static void sendWithSomeFailures() throws Exception {
        topic = uniqueName("readings");
        dlq = topic + ".DLQ";
        sink = uniqueName("injected-failures");
        createTopicsAndWait(Map.of(topic, PARTITIONS, dlq, 1, sink, 1));
        readings = Reading.sample(READINGS, 4);
        Properties config = producerConfig();
        // A blocked I/O thread must fail this check in seconds, not after the 60 s default.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) MAX_BLOCK.toMillis());
        gated = new GatedProducer(new KafkaProducer<>(config)).watching(topic, sink);
        // The checker's own topics are known before the learner's code runs; the DLQ is the learner's.
        gated.partitionsFor(topic);
        gated.partitionsFor(sink);
        AtomicInteger failures = new AtomicInteger();
        List<Integer> failedInOrder = FAILED.stream().sorted().toList();
        producer = new WatchedProducer(gated).failing(topic, FAILED, sink, () -> new RecordTooLargeException(
                "The record is larger than the topic accepts (send #" + failedInOrder.get(Math.min(failures.getAndIncrement(), failedInOrder.size() - 1))
                + " failed on purpose by the checker)"));

        CompletableFuture<SendCounts> result = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                SendCounts returned = lab().call("sendWithCallbacks", producer, topic, readings);
                callbacksAtReturn = gated.completions(topic) + gated.completions(sink);
                result.complete(returned);
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, "lab-caller");
        caller.setDaemon(true);
        gated.holdAcks(0, caller, HOLD_BACKSTOP);
        caller.start();
        try {
            counts = result.get(CALL_BOUND.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            thrown = e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            hungIoStack = gated.inCallback() && gated.ioThread() != null ? gated.ioThread().getStackTrace() : null;
            hung = "sendWithCallbacks did not return within " + CALL_BOUND.toSeconds() + " s; its thread was " + where(caller.getStackTrace());
        }
        gated.release();
        if (hung == null) {
            // The callbacks still to come send to the DLQ: let them all run while the producer is open.
            try {
                await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10))
                        .until(() -> gated.completions(topic) + gated.completions(sink) >= READINGS);
            } catch (org.awaitility.core.ConditionTimeoutException e) {
                // a callback is stuck: the checks below say where
            }
        }
        boolean allDone = gated.completions(topic) + gated.completions(sink) >= READINGS;
        gated.close(allDone ? Duration.ofSeconds(10) : Duration.ZERO);
        if (hung == null && thrown == null) {
            Map<String, List<ConsumerRecord<String, String>>> read = readToEnd(Duration.ofSeconds(15), topic, dlq);
            landed = read.get(topic);
            dead = read.get(dlq);
        }
    }

    static void requireReturned() {
        if (hung != null && hungIoStack != null) {
            throw failBecause(NEVER_BLOCKS, hung + ", waiting for the producer's I/O thread, which was stuck in a callback");
        }
        if (hung != null) {
            fail(hung);
        }
        rethrow(thrown);
        assertThat(counts).as("sendWithCallbacks returned null instead of the counts").isNotNull();
    }

    @Test
    @Order(1)
    @DisplayName(NEVER_BLOCKS)
    void callbackNeverBlocks() {
        rethrow(thrown);
        assertThat(producer.getsOnIoThread())
                .as("The callback called get() on a send's Future. Callbacks run on the producer's I/O thread, "
                    + "which that Future is waiting for: the producer stalls. Send to the DLQ without waiting")
                .isZero();
        assertThat(gated.flushesInCallbacks())
                .as("The callback called flush(). It runs on the producer's I/O thread, where Kafka refuses flush() with a "
                    + "KafkaException and the rest of the callback is skipped. Call flush() once, after the loop, on your thread")
                .isZero();
        StackTraceElement[] evidence = hungIoStack != null ? hungIoStack : gated.waitSample();
        if (evidence != null && waitsForMetadata(evidence)) {
            fail("A callback's send() waited for the DLQ topic's metadata, " + where(evidence) + ". Only the I/O thread "
                 + "fetches metadata, and it was busy running that callback: each such wait lasts max.block.ms, and that "
                 + "DLQ record is lost. Fetch the metadata before the loop, on your thread: producer.partitionsFor(dlqTopic)");
        }
        if (hungIoStack != null) {
            fail("The producer's I/O thread is stuck in your callback, " + where(hungIoStack)
                 + ": while a callback waits, no send of this producer completes, so a wait there for one of its own sends "
                 + "never ends. Send to the DLQ and return, without waiting");
        }
        if (gated.waitingCallbacks() > 0) {
            fail("In " + gated.waitingCallbacks() + " callback(s) the producer's I/O thread waited (the longest took "
                 + gated.longestWaitingCallback().toMillis() + " ms)" + (evidence == null ? "" : ", " + where(evidence))
                 + ". While a callback waits, no other send of this producer completes. Likely causes: Thread.sleep, "
                 + "a latch or a lock, join() or get() on a future. Hand the record to the DLQ with a plain send and return");
        }
        assertThat(producer.slowestCallback())
                .as("The slowest callback took %d ms without waiting for anything: it kept the producer's I/O thread busy, "
                    + "and while a callback runs no send completes. Keep callbacks short: count, send to the DLQ, return",
                        producer.slowestCallback().toMillis())
                .isLessThan(SLOW_CALLBACK);
    }

    @Test
    @Order(2)
    @DisplayName("every send has a callback")
    void everySendHasACallback() {
        rethrow(thrown);
        assertThat(producer.sendsWithoutCallback())
                .as("%d of %d sends had no callback, so their failures would go unseen: use send(record, callback)",
                        producer.sendsWithoutCallback(), producer.sends())
                .isZero();
    }

    @Test
    @Order(3)
    @DisplayName("the callback handles a failure instead of throwing it")
    void callbackDoesNotThrow() {
        rethrow(thrown);
        Throwable threw = gated.callbackThrew();
        if (threw != null) {
            fail("Your callback threw " + LearnerMessages.chain(threw) + "\n    " + where(threw.getStackTrace())
                 + "\nThe producer catches what a callback throws, logs it and goes on: nobody else sees it, and the rest of "
                 + "that callback is skipped. Handle the failure in the callback: count it and send the record to the DLQ");
        }
    }

    @Test
    @Order(4)
    @DisplayName("sends are not awaited one by one")
    void sendsAreNotAwaitedOneByOne() {
        requireReturned();
        assertThat(gated.maxInFlight())
                .as("At most %d record was in flight at any time: each send was awaited before the next one (get() on "
                    + "a send's future %d times, flush() %d times). Send them all, let the callbacks report, and wait once at the end",
                        gated.maxInFlight(), producer.unboundedGets() + producer.boundedGets(), producer.flushes())
                .isGreaterThan(1);
    }

    @Test
    @Order(5)
    @DisplayName("every good reading lands with its sensor as key, on that key's partition, in order per sensor")
    void goodReadingsLandInOrderPerSensor() {
        requireReturned();
        List<String> failedReadings = FAILED.stream().sorted().map(i -> text(readings.get(i))).toList();
        List<String> resent = landed.stream().map(r -> r.key() + "=" + r.value()).filter(failedReadings::contains).toList();
        if (!resent.isEmpty()) {
            fail(resent.size() + " of the " + FAILED.size() + " failed readings were sent to the topic again (" + resent
                 + "), so they are on it after all. A failed send was already retried by the producer as long as retrying "
                 + "made sense: put it on <topic>.DLQ instead");
        }
        List<ConsumerRecord<String, String>> keyless = landed.stream().filter(r -> r.key() == null).toList();
        assertThat(keyless.size())
                .as("%d of the %d records on the topic have no key. The key is the sensor id (reading.key()): it keeps each "
                    + "sensor's readings on one partition, in order", keyless.size(), landed.size())
                .isZero();
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < readings.size(); i++) {
            if (!FAILED.contains(i)) {
                expected.add(text(readings.get(i)));
            }
        }
        List<String> actual = landed.stream().map(r -> r.key() + "=" + r.value()).toList();
        List<String> missing = new ArrayList<>(expected);
        actual.forEach(missing::remove);
        List<String> unexpected = new ArrayList<>(actual);
        expected.forEach(unexpected::remove);
        assertThat(missing.isEmpty() && unexpected.isEmpty())
                .as("%d readings were sent and the checker failed %d of them, so the topic should hold the other %d as "
                    + "sensor=value records; it holds %d. Missing: %s. Not expected: %s",
                        READINGS, FAILED.size(), GOOD, actual.size(), missing, unexpected)
                .isTrue();
        for (ConsumerRecord<String, String> r : landed) {
            int hashed = BuiltInPartitioner.partitionForKey(r.key().getBytes(StandardCharsets.UTF_8), PARTITIONS);
            assertThat(r.partition())
                    .as("The reading %s=%s is on partition %d, but the producer's partitioner puts key %s on partition %d "
                        + "(murmur2 of the key): leave the partition to the producer", r.key(), r.value(), r.partition(), r.key(), hashed)
                    .isEqualTo(hashed);
        }
        Map<String, List<String>> expectedOrder = new LinkedHashMap<>();
        for (int i = 0; i < readings.size(); i++) {
            if (!FAILED.contains(i)) {
                expectedOrder.computeIfAbsent(readings.get(i).key(), k -> new ArrayList<>()).add(readings.get(i).value());
            }
        }
        Map<String, List<String>> actualOrder = new LinkedHashMap<>();
        landed.stream()
                .sorted(Comparator.comparingInt((ConsumerRecord<String, String> r) -> r.partition()).thenComparingLong(ConsumerRecord::offset))
                .forEach(r -> actualOrder.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value()));
        assertThat(actualOrder)
                .as("Each sensor's readings (the record key) should land in the order they were sent")
                .isEqualTo(expectedOrder);
    }

    @Test
    @Order(6)
    @DisplayName("every failed reading lands in <topic>.DLQ with its key, value and an \"error\" header")
    void failedReadingsLandInTheDlq() {
        requireReturned();
        if (dead.isEmpty()) {
            Map<String, Integer> elsewhere = gated.sendsByTopic().entrySet().stream()
                    .filter(e -> !e.getKey().equals(topic) && !e.getKey().equals(sink) && !e.getKey().equals(dlq))
                    .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
            if (!elsewhere.isEmpty()) {
                fail("Nothing reached <topic>.DLQ (" + dlq + "); the callback sent to " + elsewhere + " instead. "
                     + "The dead letter topic is topic + \".DLQ\"");
            }
            fail("None of the " + FAILED.size() + " failed readings reached <topic>.DLQ, and nothing was sent anywhere else. "
                 + "The callback's failure branch never sent them. Likely causes: it tests metadata instead of the exception "
                 + "(metadata is never null: test exception != null), or it counts the failure and sends nothing");
        }
        if (dead.size() < FAILED.size() && ioThreadWaited()) {
            throw failBecause(NEVER_BLOCKS, dead.size() + " of the " + FAILED.size() + " failed readings reached <topic>.DLQ. "
                    + "The DLQ sends are made in callbacks that waited on the producer's I/O thread: a send that waits there "
                    + "for as long as max.block.ms fails, and its record is lost");
        }
        Map<String, Reading> failedByValue = new LinkedHashMap<>();
        FAILED.stream().sorted().forEach(i -> failedByValue.put(readings.get(i).value(), readings.get(i)));
        for (ConsumerRecord<String, String> record : dead) {
            Reading reading = failedByValue.get(record.value());
            if (reading == null) {
                fail("The DLQ holds a record " + record.key() + "=" + record.value() + " that is none of the failed readings "
                     + failedByValue.values().stream().map(Lab02CallbackCheck::text).toList()
                     + ": the DLQ record carries the failed record's value unchanged");
            }
            assertThat(record.key())
                    .as("The DLQ record for the failed reading %s has key %s: give it the failed record's key, so whoever "
                        + "reads the DLQ knows which sensor it came from", text(reading), record.key() == null ? "null (no key)" : record.key())
                    .isEqualTo(reading.key());
            Header error = record.headers().lastHeader("error");
            if (error == null || error.value() == null) {
                fail("The DLQ record for " + text(reading) + " has no \"error\" header: add the exception's text to it, "
                     + "so whoever reads the DLQ knows why it failed");
            }
            String header = new String(error.value(), StandardCharsets.UTF_8);
            assertThat(header.contains("RecordTooLargeException") || header.contains("failed on purpose by the checker"))
                    .as("The \"error\" header of the DLQ record for %s reads \"%s\": it should carry the exception the callback "
                        + "received (its toString() or its message)", text(reading), header)
                    .isTrue();
        }
        List<String> expected = failedByValue.values().stream().map(Lab02CallbackCheck::text).toList();
        List<String> actual = dead.stream().map(r -> r.key() + "=" + r.value()).sorted().toList();
        assertThat(actual)
                .as("The checker failed %d sends; the callback should put each of those records on <topic>.DLQ once "
                    + "(same key and value) when its exception is not null", FAILED.size())
                .containsExactlyInAnyOrderElementsOf(expected);
    }

    @Test
    @Order(7)
    @DisplayName("the returned counts match what the broker acknowledged and what failed")
    void countsAreRight() {
        requireReturned();
        SendCounts right = new SendCounts(GOOD, FAILED.size());
        if (!counts.equals(right) && ioThreadWaited()) {
            throw failBecause(NEVER_BLOCKS, "sendWithCallbacks returned acked=" + counts.acked() + ", failed=" + counts.failed()
                    + " instead of acked=" + GOOD + ", failed=" + FAILED.size() + ", while callbacks waited on the producer's I/O "
                    + "thread: no acknowledgement is handled while a callback waits");
        }
        if (callbacksAtReturn < READINGS && !counts.equals(right)) {
            fail("sendWithCallbacks returned acked=" + counts.acked() + ", failed=" + counts.failed() + " instead of acked="
                 + GOOD + ", failed=" + FAILED.size() + ": when it returned, only " + callbacksAtReturn + " of the " + READINGS
                 + " callbacks had run (the checker's broker answers late, as a busy one does). The counts are only final "
                 + "once every callback has run: wait for them (producer.flush() after the loop), then read the counters");
        }
        assertThat(counts)
                .as("sendWithCallbacks returned acked=%d, failed=%d instead of acked=%d, failed=%d, though every callback had run "
                    + "by the time it returned. Likely causes: the counters were read before the wait for the callbacks "
                    + "ended, a callback counts the wrong way (a failure as acked, or both), or a plain int lost updates "
                    + "made from the I/O thread", counts.acked(), counts.failed(), GOOD, FAILED.size())
                .isEqualTo(right);
    }

    /** Whether a callback made the producer's I/O thread wait: what the first check fails on. */
    static boolean ioThreadWaited() {
        StackTraceElement[] evidence = hungIoStack != null ? hungIoStack : gated.waitSample();
        return hungIoStack != null || gated.waitingCallbacks() > 0 || evidence != null && waitsForMetadata(evidence);
    }

    static String text(Reading reading) {
        return reading.key() + "=" + reading.value();
    }

    static boolean waitsForMetadata(StackTraceElement[] stack) {
        return Arrays.stream(stack).anyMatch(f -> f.getMethodName().equals("waitOnMetadata")
                || f.getClassName().endsWith("ProducerMetadata") && f.getMethodName().equals("awaitUpdate"));
    }

    /** The innermost wait, the call the lab made to get there, and the lab's line, as a learner reads them. */
    static String where(StackTraceElement[] stack) {
        if (stack.length == 0) {
            return "at an unknown place";
        }
        int labFrame = -1;
        for (int i = 0; i < stack.length; i++) {
            if (stack[i].getClassName().indexOf('.') < 0) {
                labFrame = i;
                break;
            }
        }
        StringBuilder text = new StringBuilder("in ").append(simple(stack[0]));
        if (labFrame == 0) {
            return "at " + lab().file() + ":" + stack[0].getLineNumber();
        }
        if (labFrame > 1) {
            text.append(" (inside ").append(simple(stack[labFrame - 1])).append(')');
        }
        if (labFrame >= 0) {
            text.append(", called at ").append(lab().file()).append(':').append(stack[labFrame].getLineNumber());
        }
        return text.toString();
    }

    /** Thread.sleep, CountDownLatch.await; the checker's producer wrappers read as the producer the lab was given. */
    private static String simple(StackTraceElement frame) {
        String type = frame.getClassName();
        if (type.startsWith("workshop.check.")) {
            return "producer." + frame.getMethodName();
        }
        return type.substring(type.lastIndexOf('.') + 1) + "." + frame.getMethodName();
    }
}
