package workshop.checks;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Reading;
import workshop.check.LabCheck;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/** Lab 03: synchronous sends against the live broker, then against a dead one. */
class Lab03SyncSendCheck extends LabCheck {

    static final int READINGS = 30;
    static final Duration DEAD_BROKER_BOUND = Duration.ofSeconds(15);

    static String topic;
    static List<Reading> readings;
    static WatchedProducer producer;
    static List<RecordMetadata> acknowledged;
    static Throwable thrown;

    @BeforeAll
    static void sendSynchronously() {
        topic = createTopic("readings", 3);
        readings = Reading.sample(READINGS, 3);
        // The checker's own configuration: TODO 2 is graded even before TODO 1 is done.
        producer = new WatchedProducer(new KafkaProducer<>(producerConfig())).watching(topic);
        try {
            acknowledged = lab().call("sendSync", producer, topic, readings, Duration.ofSeconds(10));
        } catch (Throwable e) {
            thrown = e;
        } finally {
            producer.close(Duration.ofSeconds(5));
        }
    }

    @Test
    @Order(1)
    @DisplayName("sendSync returns each record's metadata, in input order")
    void metadataInInputOrder() {
        rethrow(thrown);
        assertThat(acknowledged).as("sendSync should return one RecordMetadata per reading").hasSize(READINGS);
        Map<String, String> landed = new HashMap<>();
        for (ConsumerRecord<String, String> r : readRecords(topic, READINGS, Duration.ofSeconds(15))) {
            landed.put(r.partition() + "@" + r.offset(), r.key() + "=" + r.value());
        }
        for (int i = 0; i < READINGS; i++) {
            RecordMetadata metadata = acknowledged.get(i);
            String where = metadata.partition() + "@" + metadata.offset();
            assertThat(landed.get(where))
                    .as("Metadata #%d says partition %d, offset %d, where the broker holds %s; it should be reading #%d (%s=%s)",
                            i, metadata.partition(), metadata.offset(), landed.get(where), i, readings.get(i).key(), readings.get(i).value())
                    .isEqualTo(readings.get(i).key() + "=" + readings.get(i).value());
        }
    }

    @Test
    @Order(2)
    @DisplayName("at most one record is in flight at a time")
    void oneRecordInFlight() {
        rethrow(thrown);
        assertThat(producer.maxInFlight())
                .as("Up to %d records were in flight at once: a synchronous send waits for each acknowledgement "
                    + "before the next send", producer.maxInFlight())
                .isEqualTo(1);
    }

    @Test
    @Order(3)
    @DisplayName("every wait has a bound")
    void everyWaitIsBounded() {
        rethrow(thrown);
        assertThat(producer.unboundedGets())
                .as("%d acknowledgements were awaited with get() and no timeout: on a stalled broker that waits forever. "
                    + "Use get(timeout.toMillis(), TimeUnit.MILLISECONDS)", producer.unboundedGets())
                .isZero();
        assertThat(producer.boundedGets()).as("Each of the %d sends should be awaited with get(timeout, unit)", READINGS)
                .isEqualTo(READINGS);
    }

    @Test
    @Order(4)
    @Timeout(40)
    @DisplayName("with the broker gone, sendSync fails within 15 s")
    void deadBrokerFailsInTime() {
        Properties config = lab().call("producerConfig", deadBootstrap());
        Producer<String, String> dead = new KafkaProducer<>(config);
        long start = System.nanoTime();
        try {
            AssertionError returned = assertTimeoutPreemptively(DEAD_BROKER_BOUND.plusSeconds(5), () -> {
                try {
                    lab().call("sendSync", dead, uniqueName("readings"), Reading.sample(3, 1), Duration.ofSeconds(3));
                    return new AssertionError("sendSync returned normally with no broker to acknowledge anything: it should throw");
                } catch (RuntimeException e) {
                    return null;
                }
            }, () -> "With no broker, sendSync was still blocked after " + DEAD_BROKER_BOUND.plusSeconds(5).toSeconds()
                     + " s. get(timeout) only bounds the wait for the acknowledgement; send() itself waits for metadata up to "
                     + ProducerConfig.MAX_BLOCK_MS_CONFIG + " (60 s by default): bound it in producerConfig");
            if (returned != null) {
                throw returned;
            }
        } finally {
            dead.close(Duration.ZERO);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(took)
                .as("With no broker, sendSync failed only after %d s: bound %s in producerConfig", took.toSeconds(), ProducerConfig.MAX_BLOCK_MS_CONFIG)
                .isLessThanOrEqualTo(DEAD_BROKER_BOUND);
    }
}
