///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.AckCounter;
import workshop.Reading;
import workshop.Workshop;

/**
 * Lab 01: fire and forget.
 *
 * send() does not send: it appends the record to a buffer and returns at once, and the
 * producer's I/O thread ships the buffer in batches. That is why fire-and-forget is fast, and
 * also why a program that exits right after its loop loses what is still in the buffer.
 *
 * Stages, mirrored in main:
 *   1. send every reading, keyed by sensor, without waiting for any of them;
 *   2. before returning, make sure the buffer is empty.
 */
class FireAndForget {

    static final String TOPIC = "sensor-readings";

    static void sendAll(Producer<String, String> producer, String topic, List<Reading> readings) {
        // TODO 1: send every reading to the topic (key = reading.key(), value = reading.value())
        //         without waiting for it: no get(), no callback needed here. Send them in order,
        //         from this thread, and leave the partition to the producer.
        // TODO 2: the caller may exit as soon as this method returns: make sure no record is
        //         still waiting in the producer's buffer by then (without a sleep, and without
        //         closing the producer: it is the caller's, and the caller goes on using it).
        throw Workshop.todo(1, "send every reading without waiting");
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
        Workshop.run("01-fire-and-forget", args, cluster -> {
            cluster.ensureTopic(TOPIC, 3);
            Properties config = producerConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());
            List<Reading> readings = Reading.sample(10_000, 5);
            // Counts what the broker acknowledged, to be read the instant sendAll returns.
            AckCounter.addTo(config);
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                long start = System.nanoTime();
                sendAll(producer, TOPIC, readings);
                long landed = AckCounter.acknowledged();
                double seconds = (System.nanoTime() - start) / 1e9;
                System.out.printf("Sent %,d readings in %.2f s (%,.0f records/s), nothing awaited one by one.%n",
                        readings.size(), seconds, readings.size() / seconds);
                System.out.printf("%s %,d of the %,d readings were acknowledged when sendAll returned%s%n",
                        landed == readings.size() ? "✓" : "✗", landed, readings.size(),
                        landed == readings.size() ? "." : ": the rest were still on their way.");
                try {
                    // The caller goes on with its producer: one more reading.
                    producer.send(new ProducerRecord<>(TOPIC, "sensor-0", "kitchen,41"));
                } catch (IllegalStateException e) {
                    System.out.println("✗ The caller's producer no longer works after sendAll: " + e.getMessage());
                }
            }
            // close() above also flushes, but sendAll cannot know its caller will close: it flushes itself.
        });
        // Check your work: ./jbang grade 01
    }
}
