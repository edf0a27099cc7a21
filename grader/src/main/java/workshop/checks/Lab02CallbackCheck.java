package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import workshop.Reading;
import workshop.SendCounts;
import workshop.check.LabCheck;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Lab 02: one run of the learner's sendWithCallbacks with chosen sends failed, then facts about
 * what reached the broker and how the sends were made.
 */
class Lab02CallbackCheck extends LabCheck {

    static final int READINGS = 40;
    /** Sends the checker fails: spread over the run and over all four sensors. */
    static final Set<Integer> FAILED = Set.of(3, 9, 14, 22, 35);

    static String topic;
    static List<Reading> readings;
    static WatchedProducer producer;
    static SendCounts counts;
    static Throwable thrown;

    @BeforeAll
    static void sendWithSomeFailures() {
        topic = createTopic("readings", 3);
        createTopicNamed(topic + ".DLQ", 1);
        String sink = createTopic("injected-failures", 1);
        readings = Reading.sample(READINGS, 4);
        Properties config = producerConfig();
        // A blocked I/O thread must fail this check in seconds, not after the 60 s default.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 2_000);
        producer = new WatchedProducer(new KafkaProducer<>(config)).failing(topic, FAILED, sink,
                () -> new RecordTooLargeException("The record is larger than the topic accepts (failure chosen by the checker)"));
        try {
            counts = lab().call("sendWithCallbacks", producer, topic, readings);
        } catch (Throwable e) {
            thrown = e;
        }
    }

    static void requireReturned() {
        rethrow(thrown);
        assertThat(counts).as("sendWithCallbacks returned null instead of the counts").isNotNull();
    }

    @Test
    @Order(1)
    @DisplayName("every good reading lands, in order per sensor")
    void goodReadingsLandInOrderPerSensor() {
        requireReturned();
        List<ConsumerRecord<String, String>> landed = readRecords(topic, READINGS - FAILED.size(), Duration.ofSeconds(15));
        Map<String, List<String>> expected = new LinkedHashMap<>();
        for (int i = 0; i < readings.size(); i++) {
            if (!FAILED.contains(i)) {
                expected.computeIfAbsent(readings.get(i).key(), k -> new ArrayList<>()).add(readings.get(i).value());
            }
        }
        Map<String, List<String>> actual = new LinkedHashMap<>();
        landed.stream()
                .sorted(java.util.Comparator.comparingInt((ConsumerRecord<String, String> r) -> r.partition()).thenComparingLong(ConsumerRecord::offset))
                .forEach(r -> actual.computeIfAbsent(String.valueOf(r.key()), k -> new ArrayList<>()).add(r.value()));
        assertThat(landed.size())
                .as("%d readings were sent and %d of them failed, so %d should be on %s; found %d",
                        READINGS, FAILED.size(), READINGS - FAILED.size(), "the topic", landed.size())
                .isEqualTo(READINGS - FAILED.size());
        assertThat(actual)
                .as("Each sensor's readings (the record key) should land in the order they were sent")
                .isEqualTo(expected);
    }

    @Test
    @Order(2)
    @DisplayName("every failed reading lands in <topic>.DLQ with its key, value and an \"error\" header")
    void failedReadingsLandInTheDlq() {
        requireReturned();
        List<ConsumerRecord<String, String>> dead = readRecords(topic + ".DLQ", FAILED.size(), Duration.ofSeconds(15));
        List<String> expected = FAILED.stream().sorted().map(i -> readings.get(i).key() + "=" + readings.get(i).value()).toList();
        List<String> actual = dead.stream().map(r -> r.key() + "=" + r.value()).sorted().toList();
        assertThat(actual)
                .as("The checker failed %d sends; the callback should put each of those records on %s.DLQ "
                    + "(same key and value) when its exception is not null", FAILED.size(), "<topic>")
                .containsExactlyInAnyOrderElementsOf(expected);
        for (ConsumerRecord<String, String> record : dead) {
            Header error = record.headers().lastHeader("error");
            if (error == null) {
                fail("The DLQ record for " + record.key() + " has no \"error\" header: add the exception's text to it, "
                     + "so whoever reads the DLQ knows why it failed");
            }
            assertThat(new String(error.value(), StandardCharsets.UTF_8))
                    .as("The \"error\" header should carry the exception the callback received")
                    .contains("RecordTooLargeException");
        }
    }

    @Test
    @Order(3)
    @DisplayName("the returned counts match what the broker acknowledged and what failed")
    void countsAreRight() {
        requireReturned();
        assertThat(counts)
                .as("With %d readings and %d failures chosen by the checker, sendWithCallbacks should return "
                    + "acked=%d, failed=%d once every callback has run (flush before reading the counters)",
                        READINGS, FAILED.size(), READINGS - FAILED.size(), FAILED.size())
                .isEqualTo(new SendCounts(READINGS - FAILED.size(), FAILED.size()));
    }

    @Test
    @Order(4)
    @DisplayName("every send has a callback")
    void everySendHasACallback() {
        requireReturned();
        assertThat(producer.sendsWithoutCallback())
                .as("%d of %d sends had no callback, so their failures would go unseen: use send(record, callback)",
                        producer.sendsWithoutCallback(), producer.sends())
                .isZero();
    }

    @Test
    @Order(5)
    @DisplayName("the callback never blocks the producer's I/O thread")
    void callbackNeverBlocks() {
        requireReturned();
        assertThat(producer.getsOnIoThread())
                .as("The callback called get() on a send's Future. Callbacks run on the producer's I/O thread, "
                    + "which that Future is waiting for: the producer stalls. Send to the DLQ without waiting")
                .isZero();
        assertThat(producer.slowestCallback())
                .as("The slowest callback took %d ms. Callbacks run on the producer's I/O thread: while one runs, "
                    + "no send completes. (A send() to a topic whose metadata is not cached waits for that thread: "
                    + "call producer.partitionsFor(dlqTopic) before the loop)", producer.slowestCallback().toMillis())
                .isLessThan(Duration.ofMillis(500));
    }

    @Test
    @Order(6)
    @DisplayName("sends are not awaited one by one")
    void sendsAreNotAwaitedOneByOne() {
        requireReturned();
        assertThat(producer.unboundedGets() + producer.boundedGets())
                .as("sendWithCallbacks waited on %d send Futures with get(): the callback already reports "
                    + "the result, so send and move on", producer.unboundedGets() + producer.boundedGets())
                .isZero();
        assertThat(producer.maxInFlight())
                .as("At most %d record was in flight at any time: each send was awaited before the next. "
                    + "Send them all, and let the callbacks report", producer.maxInFlight())
                .isGreaterThan(1);
    }
}
