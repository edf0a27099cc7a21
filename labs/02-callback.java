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

    static SendCounts sendWithCallbacks(Producer<String, String> producer, String topic, List<Reading> readings) {
        String dlqTopic = topic + ".DLQ";
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        // TODO 1: send every reading as a record (key = sensor id, value = reading.value()) with a
        //         callback, without waiting on the send. In the callback, on success count it in
        //         `acked` and print the partition and offset.
        // TODO 2: in the same callback, on failure count it in `failed` and send the record to
        //         dlqTopic with its key and value and a header "error" holding the exception's text.
        //         The callback runs on the producer's I/O thread: never block there.
        // TODO 3: make sure every callback has run before the counts are read.
        throw Workshop.todo(1, "send every reading with a callback");
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
