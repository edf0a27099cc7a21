///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Reading;
import workshop.SendCounts;
import workshop.Workshop;

/**
 * Lab 08: durability across a failover.
 *
 * An acknowledged record is a promise: the producer may forget it, the sensor may drop it. The
 * promise holds only if the record is on more than one broker when the ack comes back, because
 * the broker that leads a partition can die at any moment. Here it does: halfway through the
 * readings, the partition's leader is stopped like a crash (its JVM killed), another broker
 * takes over, and the producer carries on by itself.
 *
 * Stages, mirrored in main:
 *   1. a topic with three replicas, of which at least two must have a record before it counts;
 *   2. a producer whose acknowledgement means exactly that;
 *   3. send every reading, count acknowledged and failed, and leave retries to the producer;
 *   4. stop the leader mid-stream, then read everything back and compare.
 */
class Durability {

    static final int REPLICAS = 3;
    static final int MIN_IN_SYNC = 2;

    static void createDurableTopic(Admin admin, String topic, int partitions) throws Exception {
        // TODO 1: create the topic with REPLICAS (3) replicas of each partition, and the topic config
        //  min.insync.replicas = MIN_IN_SYNC (2), so that no write is acknowledged with a single copy.
        //  Wait for the creation, bounded.
        throw Workshop.todo(1, "create a topic with 3 replicas and min.insync.replicas=2");
    }

    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // TODO 2: make an acknowledgement mean "every in-sync replica has it" (acks), keep the
        //  producer idempotent, and give each record long enough to outlast a leader election,
        //  retries included (delivery.timeout.ms). The broker never loses what it acknowledged
        //  only if acks says so: a leader that answers alone can die before anyone copied it.
        throw Workshop.todo(2, "configure acks, idempotence and delivery.timeout.ms for a failover");
    }

    static SendCounts sendAll(Producer<String, String> producer, String topic, Iterable<Reading> readings) {
        // TODO 3: send every reading (key = reading.key(), value = reading.value()) with a callback
        //  that counts acknowledged and failed records; flush, then return the counts. Do not retry
        //  in the callback: the producer retries by itself within delivery.timeout.ms.
        throw Workshop.todo(3, "send every reading and count acknowledged and failed");
    }

    public static void main(String[] args) {
        Workshop.run("08-durability", args, REPLICAS, cluster -> {
            String topic = "durable-readings-" + System.currentTimeMillis() % 1_000_000;
            int total = 3_000;
            List<Reading> readings = new ArrayList<>();
            for (int i = 0; i < total; i++) {
                readings.add(new Reading("sensor-" + i % 6, "hall-" + i, 40 + i % 50));
            }

            // 1. The topic: three replicas, two needed.
            try (Admin admin = cluster.admin()) {
                createDurableTopic(admin, topic, 1);
                TopicDescription description = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
                int leader = description.partitions().get(0).leader().id();
                System.out.printf("Topic %s: replicas on brokers %s, leader broker %d, min.insync.replicas=%d.%n", topic,
                        description.partitions().get(0).replicas().stream().map(n -> n.id()).toList(), leader, MIN_IN_SYNC);

                // 2 and 3. Send at about 300 readings/s; the leader dies after the first third.
                Map<String, Boolean> sent = new ConcurrentHashMap<>();
                long start = System.nanoTime();
                Iterable<Reading> paced = () -> readings.stream().peek(r -> {
                    LockSupport.parkNanos(3_300_000);
                    sent.put(r.value(), true);
                    if (sent.size() == total / 3) {
                        stopLeader(cluster, leader, start);
                    }
                    if (sent.size() % 500 == 0) {
                        System.out.printf("  %5.1f s: %d readings sent%n", (System.nanoTime() - start) / 1e9, sent.size());
                    }
                }).iterator();
                SendCounts counts;
                try (Producer<String, String> producer = new KafkaProducer<>(producerConfig(cluster.bootstrapServers()))) {
                    counts = sendAll(producer, topic, paced);
                    producer.close(Duration.ofSeconds(10));
                }
                System.out.printf("  %5.1f s: all sent and flushed.%n", (System.nanoTime() - start) / 1e9);

                // 4. What survived: read the partition from its new leader.
                List<String> readBack = readAll(cluster.clientConfig(), topic);
                Set<String> distinct = new HashSet<>(readBack);
                System.out.println();
                System.out.printf("Sent %d, acknowledged %d, failed %d, read back %d (%d duplicates, %d missing).%n",
                        total, counts.acked(), counts.failed(), readBack.size(), readBack.size() - distinct.size(),
                        readings.stream().filter(r -> !distinct.contains(r.value())).count());
                System.out.println(counts.acked() == total && distinct.size() == total && readBack.size() == total
                        ? "✓ Every acknowledged reading survived the leader's crash, each exactly once."
                        : "✗ Acknowledged readings went missing or failed: look at acks and delivery.timeout.ms in producerConfig.");
            }
        });
        // Check your work: ./jbang grade 08
    }

    private static void stopLeader(workshop.Cluster cluster, int leader, long start) {
        if (cluster.stopBroker(leader)) {
            System.out.printf("  %5.1f s: ✗ broker %d, the partition's leader, was killed. Sending on...%n",
                    (System.nanoTime() - start) / 1e9, leader);
        } else {
            System.out.printf("  %5.1f s: this run cannot stop broker %d (not a cluster started from this folder): stop it yourself now.%n",
                    (System.nanoTime() - start) / 1e9, leader);
        }
    }

    private static List<String> readAll(Properties clientConfig, String topic) {
        Properties config = new Properties();
        config.putAll(clientConfig);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long end = consumer.endOffsets(List.of(partition), Duration.ofSeconds(30)).get(partition);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (consumer.position(partition) < end && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    values.add(record.value());
                }
            }
        }
        return values;
    }
}
