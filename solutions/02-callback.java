///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

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
            cluster.ensureTopic(TOPIC, 3);
            cluster.ensureTopic(TOPIC + ".DLQ", 1);
            Properties config = producerConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                SendCounts counts = sendWithCallbacks(producer, TOPIC, Reading.sample(10, 3));
                System.out.printf("%d acknowledged, %d sent to %s.DLQ%n", counts.acked(), counts.failed(), TOPIC);
            }
        });
        // Check your work: ./jbang grade 02
    }
}
