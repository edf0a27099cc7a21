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
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.LabTopics;
import workshop.Reading;
import workshop.SendCounts;
import workshop.Workshop;

/**
 * Lab 02: send with a callback.
 *
 * A callback is how an asynchronous send reports back: the broker's acknowledgement (partition
 * and offset) or the error. Without one, a failed send is silent. Here a failed reading is not
 * dropped: it goes to a dead letter topic, {@code <topic>.DLQ}, with the error in a header.
 *
 * Stages, mirrored in main:
 *   1. send every reading with a callback, never waiting on a send;
 *   2. in the callback, count the result; a failure goes to the DLQ;
 *   3. flush, so every callback has run before the counts are read.
 */
class CallbackLab {

    static final String TOPIC = "sensor-readings";

    // tag::callback[]
    // tag::callback-send[]
    static SendCounts sendWithCallbacks(Producer<String, String> producer, String topic, List<Reading> readings) {
        String dlqTopic = topic + ".DLQ";
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        // The callback runs on the producer's I/O thread. A send() there for a topic whose
        // metadata is not cached yet waits for that same thread: fetch it now, on ours.
        producer.partitionsFor(dlqTopic);
        for (Reading reading : readings) {
            ProducerRecord<String, String> record = new ProducerRecord<>(topic, reading.key(), reading.value());
            producer.send(record, (metadata, exception) -> {
                if (exception == null) {
                    acked.incrementAndGet();
                    System.out.printf("✓ %s → partition %d, offset %d%n", record.key(), metadata.partition(), metadata.offset());
                // end::callback-send[]
                // tag::callback-failure[]
                } else {
                    failed.incrementAndGet();
                    // Never block here (no get()): hand the record to the DLQ and return.
                    ProducerRecord<String, String> dead = new ProducerRecord<>(dlqTopic, record.key(), record.value());
                    dead.headers().add("error", exception.toString().getBytes(StandardCharsets.UTF_8));
                    producer.send(dead);
                    System.out.printf("✗ %s failed (%s): sent to %s%n", record.key(), exception.getMessage(), dlqTopic);
                }
            });
        }
        // flush() returns once every send above is complete, callbacks included.
        producer.flush();
        return new SendCounts(acked.get(), failed.get());
    }
    // end::callback-failure[]
    // end::callback[]

    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Keys and values are strings: sensor id and "room,humidity".
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return config;
    }

    public static void main(String[] args) {
        Workshop.run("02-callback", args, cluster -> {
            String dlqTopic = TOPIC + ".DLQ";
            cluster.ensureTopic(TOPIC, 3);
            // The DLQ takes records up to 4 MB, so the oversized reading below fits there.
            LabTopics.ensureTopic(cluster, dlqTopic, 1, Map.of(TopicConfig.MAX_MESSAGE_BYTES_CONFIG, String.valueOf(4 << 20)));
            List<Reading> readings = new ArrayList<>(Reading.sample(10, 3));
            // A faulty sensor sends 1.2 MB of noise: more than the broker takes in one record (1 MB by default).
            readings.add(5, new Reading("sensor-9", "#".repeat(1_200_000), 0));
            Properties config = producerConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());
            // Let the oversized reading leave the producer (1 MB by default): the broker refuses it, the callback hears why.
            config.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 4 << 20);
            // A send stuck waiting for metadata (the DLQ trap) gives up after 5 s, not 60.
            config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5_000);
            Map<TopicPartition, Long> dlqBefore = LabTopics.endOffsets(cluster, dlqTopic);
            SendCounts counts;
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                long start = System.nanoTime();
                counts = sendWithCallbacks(producer, TOPIC, readings);
                System.out.printf("%d acknowledged, %d sent to %s in %d ms%n",
                        counts.acked(), counts.failed(), dlqTopic, (System.nanoTime() - start) / 1_000_000);
            }
            // Closed: the DLQ sends the callbacks made are complete. What reached the DLQ?
            List<ConsumerRecord<String, String>> dead = LabTopics.readFrom(cluster, dlqBefore, Duration.ofSeconds(10));
            System.out.printf("%s now holds %d new record(s):%n", dlqTopic, dead.size());
            for (ConsumerRecord<String, String> record : dead) {
                Header error = record.headers().lastHeader("error");
                System.out.printf("  offset %d: %s = %s, error: %s%n", record.offset(), record.key(), shortened(record.value()),
                        error == null ? "(no \"error\" header)" : new String(error.value(), StandardCharsets.UTF_8));
            }
            if (dead.size() != counts.failed()) {
                System.out.printf("✗ %d reading(s) failed, but %d reached %s. ./jbang grade 02 tells why.%n",
                        counts.failed(), dead.size(), dlqTopic);
            }
        });
        // Check your work: ./jbang grade 02
    }

    static String shortened(String value) {
        return value == null || value.length() <= 40 ? value : value.substring(0, 12) + "... (" + value.length() + " characters)";
    }
}
