///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.LabTopics;
import workshop.Reading;
import workshop.Workshop;

/**
 * Lab 04: a CompletableFuture around send.
 *
 * send() returns a plain Future: the only way to use its result is to block on get(). A
 * CompletableFuture completed in the send's callback gives the same result without blocking
 * anyone, and composes: a batch of sends, a send that needs the offset of another, a bound on
 * the whole wait. This is Java's answer to async/await.
 *
 * Stages, mirrored in main:
 *   1. adapt send() to a CompletableFuture that completes on the broker's answer;
 *   2. send a batch, results in the order of the readings, bounded by a timeout;
 *   3. a dependent send: an alert that carries the partition and offset of its reading;
 *   4. a batch the broker never acknowledges fails after its timeout instead of hanging.
 */
class Futures {

    static final String TOPIC = "sensor-readings";
    static final String ALERTS = "sensor-alerts";

    static CompletableFuture<RecordMetadata> sendAsync(Producer<String, String> producer, ProducerRecord<String, String> record) {
        // TODO 1: return a CompletableFuture that completes when the broker has answered: send the
        //         record with a callback that completes the future with the metadata, or completes
        //         it exceptionally with the send's exception. Return at once: no get(), no join().
        throw Workshop.todo(1, "adapt send() to a CompletableFuture completed in the callback");
    }

    static CompletableFuture<List<RecordMetadata>> sendAll(Producer<String, String> producer, String topic,
                                                           List<Reading> readings, Duration timeout) {
        List<CompletableFuture<RecordMetadata>> sends = new ArrayList<>(readings.size());
        // TODO 2: send every reading (key = reading.key(), value = reading.value()) with sendAsync,
        //         wait for all of them with CompletableFuture.allOf (without blocking), and complete
        //         with their metadata in the order of the readings, not the order the acks came in.
        // TODO 3: if the broker has not acknowledged them all within `timeout`, the returned future
        //         must fail with a TimeoutException instead of waiting forever (fail it, not
        //         complete it with a default; and keep the bound to the millisecond).
        throw Workshop.todo(2, "send a batch and collect the metadata in input order");
    }

    static CompletableFuture<RecordMetadata> sendWithAlert(Producer<String, String> producer, String topic,
                                                           String alertTopic, Reading reading) {
        // TODO 4: send the reading; once the broker has acknowledged it, send
        //         alertFor(alertTopic, reading, metadata), and return the alert's future. Chain the
        //         two futures, never wait. Mind the thread a stage runs on: the one that completed
        //         the future before it, here the producer's I/O thread. A failed reading sends no
        //         alert, and the returned future fails with that send's own exception.
        throw Workshop.todo(4, "send an alert that points at its stored reading");
    }

    /** The alert for a reading: it says where the reading is stored, so a reader can fetch it. */
    static ProducerRecord<String, String> alertFor(String alertTopic, Reading reading, RecordMetadata stored) {
        ProducerRecord<String, String> alert = new ProducerRecord<>(alertTopic, reading.key(),
                "humidity " + reading.humidity() + "% in the " + reading.room());
        alert.headers().add("reading-partition", String.valueOf(stored.partition()).getBytes(StandardCharsets.UTF_8));
        alert.headers().add("reading-offset", String.valueOf(stored.offset()).getBytes(StandardCharsets.UTF_8));
        return alert;
    }

    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Keys and values are strings: sensor id and "room,humidity".
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return config;
    }

    public static void main(String[] args) {
        Workshop.run("04-futures", args, cluster -> {
            cluster.ensureTopic(TOPIC, 3);
            cluster.ensureTopic(ALERTS, 1);
            Properties config = producerConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                // 1. One send as a future. main is the edge of the program: the one place that waits.
                Reading one = Reading.sample(1, 1).get(0);
                RecordMetadata m = sendAsync(producer, new ProducerRecord<>(TOPIC, one.key(), one.value())).join();
                System.out.printf("1. %s acknowledged: partition %d, offset %d%n", one.key(), m.partition(), m.offset());
                // 2. A batch, in input order.
                List<Reading> readings = Reading.sample(8, 4);
                List<RecordMetadata> batch = sendAll(producer, TOPIC, readings, Duration.ofSeconds(10)).join();
                for (int i = 0; i < batch.size(); i++) {
                    System.out.printf("2. #%d %s → partition %d, offset %d%n", i, readings.get(i).key(), batch.get(i).partition(), batch.get(i).offset());
                }
                // 3. An alert that points at its reading.
                Reading humid = new Reading("sensor-3", "cellar", 91);
                RecordMetadata alert = sendWithAlert(producer, TOPIC, ALERTS, humid).join();
                System.out.printf("3. alert at %s offset %d points at %s's reading%n", ALERTS, alert.offset(), humid.key());
                // 3b. A reading that fails (2 MB: over the producer's max.request.size) must send no alert.
                Reading garbled = new Reading("sensor-4", "#".repeat(2_000_000), 99);
                Map<TopicPartition, Long> alertsBefore = LabTopics.endOffsets(cluster, ALERTS);
                try {
                    sendWithAlert(producer, TOPIC, ALERTS, garbled).get(10, TimeUnit.SECONDS);
                    System.out.println("3. ✗ sendWithAlert completed for a reading the producer refused");
                } catch (ExecutionException e) {
                    System.out.println("3. a refused reading failed sendWithAlert with " + e.getCause().getClass().getSimpleName());
                }
                producer.flush();
                long alerted = LabTopics.endOffsets(cluster, ALERTS).entrySet().stream()
                        .mapToLong(end -> end.getValue() - alertsBefore.get(end.getKey())).sum();
                System.out.printf("3. %s alerts sent for the refused reading: %d%n", alerted == 0 ? "✓" : "✗", alerted);
            }
            // 4. To your code, a producer that holds its records for a minute looks like a broker
            //    that does not answer.
            Properties holding = new Properties();
            holding.putAll(config);
            holding.put(ProducerConfig.LINGER_MS_CONFIG, 60_000);
            try (Producer<String, String> stalled = new KafkaProducer<>(holding)) {
                long start = System.nanoTime();
                try {
                    sendAll(stalled, TOPIC, Reading.sample(3, 3), Duration.ofSeconds(2)).get(10, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    System.out.printf("4. stalled batch failed after %.1f s with %s%n", (System.nanoTime() - start) / 1e9, e.getCause());
                } catch (TimeoutException e) {
                    System.out.println("4. stalled batch still pending after 10 s: nothing bounds the wait in sendAll");
                }
            } // close() sends the held records anyway: a timeout cancels nothing.
        });
        // Check your work: ./jbang grade 04
    }
}
