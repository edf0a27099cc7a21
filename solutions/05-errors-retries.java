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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.AlertService;
import workshop.EmbeddedKafka;
import workshop.Reading;
import workshop.SendCounts;
import workshop.Workshop;

/**
 * Lab 05: errors, retries and shutdown.
 *
 * A send fails in one of two ways. A retriable error (too few in-sync replicas, a leader that
 * moved, a lost answer) may clear by itself, and the producer retries it on its own until
 * delivery.timeout.ms runs out. A fatal one (a record larger than the topic accepts) fails the
 * same way every time. Your callback only sees what the producer gave up on: it parks that record
 * on <topic>.DLQ, marked retriable or not, and pages the on-call through a slow alert service,
 * both off the producer's I/O thread. At the end, everything shuts down within a bound.
 *
 * Stages, mirrored in main:
 *   1. bound how long the producer may retry: delivery.timeout.ms, with request.timeout.ms inside it;
 *   2. tell a retriable error from a fatal one;
 *   3. send with a callback: a failure is parked on the DLQ and alerted, on a pool, never re-sent;
 *   4. shut down: drain the pool, then close the producer, each within the bound.
 */
class ErrorsRetries {

    static final String TOPIC = "lab05-readings";

    // tag::config[]
    static Properties producerConfig(String bootstrapServers, Duration deliveryTimeout) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Keys and values are strings: sensor id and "room,humidity".
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // The producer retries retriable errors by itself (retries defaults to "forever"): this is
        // the one bound on how long a record may take, from send() to its callback, retries included.
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) deliveryTimeout.toMillis());
        // How long one attempt waits for the broker's answer. Kafka refuses a delivery.timeout.ms
        // below linger.ms + request.timeout.ms (30 s by default); half the budget leaves room to retry.
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.min(30_000, deliveryTimeout.toMillis() / 2));
        return config;
    }
    // end::config[]

    // tag::classify[]
    static boolean isRetriable(Exception error) {
        // Kafka marks every error that may clear by itself as a RetriableException (too few
        // in-sync replicas, a moved leader, a timeout). Anything else fails the same way again.
        return error instanceof RetriableException;
    }
    // end::classify[]

    // tag::send[]
    // tag::send-callback[]
    static SendCounts sendAll(Producer<String, String> producer, List<ProducerRecord<String, String>> records,
                              AlertService alerts, ExecutorService failurePool) {
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        // Fetch the DLQs' metadata now, so the first failure's DLQ send need not wait for it.
        records.stream().map(r -> r.topic() + ".DLQ").distinct().forEach(producer::partitionsFor);
        for (ProducerRecord<String, String> record : records) {
            producer.send(record, (metadata, exception) -> {
                if (exception == null) {
                    acked.incrementAndGet();
                    return;
                }
                failed.incrementAndGet();
                // This runs on the producer's I/O thread: nothing slow or blocking here. The alert is
                // a slow remote call, and even send() blocks (up to max.block.ms) when the producer
                // has lost the topic's metadata, as it does when no broker answers. Hand both over.
                failurePool.execute(() -> {
                    // end::send-callback[]
                    // tag::send-dlq-and-alert[]
                    // The producer already retried for as long as delivery.timeout.ms allowed: never
                    // send the record to its topic again (a fatal error would loop forever). Park it.
                    ProducerRecord<String, String> dead = new ProducerRecord<>(record.topic() + ".DLQ", record.key(), record.value());
                    dead.headers().add("error", exception.toString().getBytes(StandardCharsets.UTF_8));
                    dead.headers().add("retriable", Boolean.toString(isRetriable(exception)).getBytes(StandardCharsets.UTF_8));
                    producer.send(dead, (m, e) -> {
                        if (e != null) {
                            System.err.printf("✗ %s could not even be parked on the DLQ: %s%n", record.key(), e);
                        }
                    });
                    alerts.alert(record.key(), exception);
                });
            });
        }
        // flush() returns once every send above is complete, callbacks included: the counts are final.
        producer.flush();
        return new SendCounts(acked.get(), failed.get());
    }
    // end::send-dlq-and-alert[]
    // end::send[]

    // tag::shutdown[]
    static void shutdown(Producer<String, String> producer, ExecutorService failurePool, Duration bound) throws InterruptedException {
        // The pool first: its tasks still send to the DLQ, so the producer must stay open for them.
        failurePool.shutdown();
        if (!failurePool.awaitTermination(bound.toMillis(), TimeUnit.MILLISECONDS)) {
            failurePool.shutdownNow();
        }
        // close(bound) sends what it can within the bound, then fails what is left (their callbacks
        // run). close() with no bound waits as long as any record may still be retried.
        producer.close(bound);
    }
    // end::shutdown[]

    public static void main(String[] args) {
        Workshop.run("05-errors-retries", args, cluster -> {
            try (Admin admin = cluster.admin()) {
                // The topic takes batches of up to 4 KB: a larger record fails, every time (fatal).
                topic(admin, TOPIC, 3, Map.of("max.message.bytes", "4096"));
                topic(admin, TOPIC + ".DLQ", 1, Map.of());
            }
            AlertService alerts = AlertService.withLatency(200);

            System.out.println("1. 1,000 readings and one firmware dump larger than " + TOPIC + " accepts:");
            List<ProducerRecord<String, String>> records = new ArrayList<>();
            Reading.sample(1_000, 4).forEach(r -> records.add(new ProducerRecord<>(TOPIC, r.key(), r.value())));
            records.add(500, new ProducerRecord<>(TOPIC, "sensor-0", "firmware-dump," + "x".repeat(8_000)));
            ExecutorService failurePool = Executors.newFixedThreadPool(2, task -> new Thread(task, "failure-pool"));
            Properties config = producerConfig(cluster.bootstrapServers(), Duration.ofSeconds(30));
            config.putAll(cluster.clientConfig());
            Producer<String, String> producer = new KafkaProducer<>(config);
            long start = System.nanoTime();
            SendCounts counts = sendAll(producer, records, alerts, failurePool);
            System.out.printf("   %,d acknowledged, %d failed, in %d ms: the 200 ms alert ran on the pool, not in the callback%n",
                    counts.acked(), counts.failed(), millis(start));
            start = System.nanoTime();
            shutdown(producer, failurePool, Duration.ofSeconds(5));
            System.out.printf("   shutdown: the alert finished, the record parked on %s.DLQ, producer closed, in %d ms%n", TOPIC, millis(start));

            System.out.println("2. A broker that goes away with records still waiting; shutdown bounded to 1 s:");
            EmbeddedKafka doomed = EmbeddedKafka.startTemporary();
            try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, doomed.bootstrapServers()))) {
                topic(admin, "doomed", 1, Map.of());
            }
            Properties doomedConfig = producerConfig(doomed.bootstrapServers(), Duration.ofMinutes(2));
            // send() waits up to max.block.ms for metadata, which a client with no broker left forgets.
            doomedConfig.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 1_000);
            Producer<String, String> patient = new KafkaProducer<>(doomedConfig);
            patient.partitionsFor("doomed");
            doomed.close();
            AtomicInteger dropped = new AtomicInteger();
            Reading.sample(3, 3).forEach(r -> patient.send(new ProducerRecord<>("doomed", r.key(), r.value()), (m, e) -> {
                if (e != null && dropped.getAndIncrement() == 0) {
                    System.out.println("   a record still waiting failed with: " + e);
                }
            }));
            start = System.nanoTime();
            shutdown(patient, Executors.newSingleThreadExecutor(), Duration.ofSeconds(1));
            System.out.printf("   shutdown returned after %d ms, with %d records failed, not after delivery.timeout.ms (2 min)%n",
                    millis(start), dropped.get());
        });
        // Check your work: ./jbang grade 05
    }

    /** Creates the topic with these settings, or sets them on the topic left by an earlier run. */
    static void topic(Admin admin, String name, int partitions, Map<String, String> settings) throws Exception {
        try {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(settings))).all().get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
            settings.forEach((key, value) -> alter(admin, name, key, value));
        }
    }

    static long millis(long startNanos) {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    static void alter(Admin admin, String topic, String key, String value) {
        try {
            admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topic),
                    List.of(new AlterConfigOp(new ConfigEntry(key, value), AlterConfigOp.OpType.SET)))).all().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new Workshop.WorkshopException("Could not set " + key + " on " + topic + ": " + e);
        }
    }
}
