package workshop.checks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;

import workshop.Reading;
import workshop.check.LabCheck;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;

/** Lab 01: one run of the learner's sendAll, then facts about the broker and the sends. */
class Lab01FireAndForgetCheck extends LabCheck {

    static final int READINGS = 200;

    static String topic;
    static List<Reading> readings;
    static WatchedProducer producer;
    static int unacknowledgedAtReturn;
    static Throwable thrown;

    @BeforeAll
    static void sendAll() {
        topic = createTopic("readings", 3);
        readings = Reading.sample(READINGS, 4);
        Properties config = producerConfig();
        // Like a producer tuned for batching: records wait up to 50 ms for company.
        config.put(ProducerConfig.LINGER_MS_CONFIG, 50);
        producer = new WatchedProducer(new KafkaProducer<>(config)).watching(topic);
        try {
            lab().call("sendAll", producer, topic, readings);
            unacknowledgedAtReturn = producer.inFlight();
        } catch (Throwable e) {
            thrown = e;
        }
    }

    @Test
    @Order(1)
    @DisplayName("every reading lands exactly once, with its key")
    void everyReadingLandsOnceWithItsKey() {
        rethrow(thrown);
        List<ConsumerRecord<String, String>> landed = readRecords(topic, READINGS, Duration.ofSeconds(15));
        List<String> expected = readings.stream().map(r -> r.key() + "=" + r.value()).toList();
        List<String> actual = landed.stream().map(r -> r.key() + "=" + r.value()).toList();
        assertThat(actual)
                .as("%d readings were sent; the topic should hold each once as key=value (the key is the sensor id); found %d records",
                        READINGS, landed.size())
                .containsExactlyInAnyOrderElementsOf(expected);
    }

    @Test
    @Order(2)
    @DisplayName("each sensor's readings stay in the order they were sent")
    void perSensorOrder() {
        rethrow(thrown);
        List<ConsumerRecord<String, String>> landed = readRecords(topic, READINGS, Duration.ofSeconds(15));
        Map<String, List<String>> expected = new LinkedHashMap<>();
        readings.forEach(r -> expected.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value()));
        Map<String, List<String>> actual = new LinkedHashMap<>();
        landed.stream()
                .sorted(Comparator.comparingInt((ConsumerRecord<String, String> r) -> r.partition()).thenComparingLong(ConsumerRecord::offset))
                .forEach(r -> actual.computeIfAbsent(String.valueOf(r.key()), k -> new ArrayList<>()).add(r.value()));
        assertThat(actual)
                .as("Records with the same key go to the same partition, in order: each sensor's readings should read back in send order")
                .isEqualTo(expected);
    }

    @Test
    @Order(3)
    @DisplayName("nothing is left in the producer's buffer when sendAll returns")
    void nothingLeftInTheBuffer() {
        rethrow(thrown);
        assertThat(unacknowledgedAtReturn)
                .as("%d of %d records were still waiting in the producer's buffer when sendAll returned. A program that "
                    + "exits now loses them: flush the producer before returning", unacknowledgedAtReturn, READINGS)
                .isZero();
    }

    @Test
    @Order(4)
    @DisplayName("sends are not awaited one by one")
    void sendsAreNotAwaited() {
        rethrow(thrown);
        assertThat(producer.unboundedGets() + producer.boundedGets())
                .as("sendAll waited on %d send Futures with get(): fire-and-forget sends and moves on",
                        producer.unboundedGets() + producer.boundedGets())
                .isZero();
        assertThat(producer.maxInFlight())
                .as("Only one record was ever in flight: each send was awaited before the next")
                .isGreaterThan(1);
    }
}
