///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Reading;
import workshop.Workshop;

/**
 * Lab 03: synchronous sends, and what they cost.
 *
 * send(record).get() turns the asynchronous producer into a synchronous one: the next record
 * leaves only after the broker acknowledged this one. Sometimes that is what you want (a record
 * that must be stored before you answer); it is never free, and it must never wait unbounded.
 *
 * Stages, mirrored in main:
 *   1. a producer configuration whose waits are all bounded;
 *   2. send each record and wait, with a timeout, for its acknowledgement;
 *   3. measure fire-and-forget against synchronous sends in the same run.
 */
class SyncSend {

    static final String TOPIC = "sensor-readings";

    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Keys and values are strings: sensor id and "room,humidity".
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // TODO 1: with the broker gone, a synchronous send must fail within seconds. get(timeout)
        //         bounds the wait for the acknowledgement, but send() itself can block before that.
        //         Which ProducerConfig setting bounds it? And is linger.ms worth its default here?
        throw Workshop.todo(1, "bound every wait of a synchronous send");
    }

    static List<RecordMetadata> sendSync(Producer<String, String> producer, String topic, List<Reading> readings, Duration timeout)
            throws InterruptedException, ExecutionException, TimeoutException {
        List<RecordMetadata> acknowledged = new ArrayList<>(readings.size());
        // TODO 2: send each reading (key = reading.key(), value = reading.value()) and wait for its
        //         acknowledgement before sending the next, never longer than `timeout`. Return the
        //         metadata in the order of the readings. A send that times out ends the call with
        //         its exception: do not catch it, send again or wait once more.
        throw Workshop.todo(2, "send each reading and wait for its acknowledgement, with a bound");
    }

    /** Records per second of one way of sending, measured on the broker at hand. */
    static double throughput(Properties config, int count, boolean synchronous) throws Exception {
        List<Reading> readings = Reading.sample(count, 5);
        try (Producer<String, String> producer = new KafkaProducer<>(config)) {
            producer.partitionsFor(TOPIC); // fetch metadata before the clock starts
            long start = System.nanoTime();
            if (synchronous) {
                sendSync(producer, TOPIC, readings, Duration.ofSeconds(10));
            } else {
                readings.forEach(r -> producer.send(new ProducerRecord<>(TOPIC, r.key(), r.value())));
                producer.flush();
            }
            return count / ((System.nanoTime() - start) / 1e9);
        }
    }

    public static void main(String[] args) {
        Workshop.run("03-sync-send", args, cluster -> {
            cluster.ensureTopic(TOPIC, 3);
            Properties tuned = producerConfig(cluster.bootstrapServers());
            tuned.putAll(cluster.clientConfig());
            try (Producer<String, String> producer = new KafkaProducer<>(tuned)) {
                for (RecordMetadata m : sendSync(producer, TOPIC, Reading.sample(3, 3), Duration.ofSeconds(10))) {
                    System.out.printf("acknowledged: partition %d, offset %d%n", m.partition(), m.offset());
                }
            }
            // The broker gone (here: an address where none runs): how long until sendSync gives up?
            String nowhere = "127.0.0.1:1";
            long start = System.nanoTime();
            try (Producer<String, String> lost = new KafkaProducer<>(producerConfig(nowhere))) {
                sendSync(lost, TOPIC, Reading.sample(1, 1), Duration.ofSeconds(10));
                System.out.println("✗ sendSync returned though no broker runs at " + nowhere);
            } catch (ExecutionException | TimeoutException | RuntimeException e) {
                Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
                System.out.printf("With no broker at %s, sendSync failed after %.1f s with %s; grading allows 15 s.%n",
                        nowhere, (System.nanoTime() - start) / 1e9, cause.getClass().getSimpleName());
            }

            Properties defaults = new Properties();
            defaults.putAll(tuned);
            defaults.remove(ProducerConfig.LINGER_MS_CONFIG); // back to Kafka 4's default of 5 ms

            System.out.println();
            System.out.println("Measuring on this broker...");
            double async = throughput(defaults, 50_000, false);
            double syncDefault = throughput(defaults, 300, true);
            double syncNoLinger = throughput(tuned, 1_000, true);
            System.out.printf("  %-38s %,12.0f records/s%n", "fire-and-forget, then flush", async);
            System.out.printf("  %-38s %,12.0f records/s%n", "send().get(), linger.ms=5 (default)", syncDefault);
            System.out.printf("  %-38s %,12.0f records/s%n", "send().get(), linger.ms=0", syncNoLinger);
            System.out.printf("Async is %,.0fx the synchronous default and %,.0fx synchronous with linger.ms=0.%n",
                    async / syncDefault, async / syncNoLinger);
            System.out.println("Why: a synchronous send waits a full round trip per record, so nothing is batched.");
            System.out.println("And since Kafka 4.0 linger.ms defaults to 5 ms: a record sent alone first waits 5 ms");
            System.out.println("for company that never comes, on every single send. linger.ms=0 removes that wait;");
            System.out.println("the round trip stays. Asynchronous sends fill batches while earlier ones are in flight.");
        });
        // Check your work: ./jbang grade 03
    }

}
