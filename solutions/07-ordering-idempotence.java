///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.OrderEvent;
import workshop.SendCounts;
import workshop.Workshop;

/**
 * Lab 07: ordering and idempotence.
 *
 * A web shop publishes every change to an order as an event: CREATED, ITEM_ADDED, PAID... A
 * consumer that sees an order's events out of order, or one of them twice, computes the wrong
 * order. Kafka keeps order within a partition only, so the key decides which events stay in
 * order; and a producer that retries keeps order and writes each event once only when it is
 * idempotent.
 *
 * Stages, mirrored in main:
 *   1. key each event by its order, so an order's events share one partition, in order;
 *   2. configure an idempotent producer, and see on the broker the producer id and the
 *      sequence numbers it tracks to recognise a batch sent twice;
 *   3. the trap: acks=1 (or max.in.flight > 5, or retries=0) silently turns idempotence off;
 *   4. events without a key scatter each order over every partition.
 */
class OrderingLab {

    static final String TOPIC = "order-events";
    static final int PARTITIONS = 4;

    // tag::record-for[]
    static ProducerRecord<String, String> recordFor(String topic, OrderEvent event) {
        // The key picks the partition (murmur2 of the key's bytes): every event of one order
        // lands on the same partition, where Kafka keeps their order. The order id, not the
        // event id: a key unique to each event would scatter the order over every partition.
        return new ProducerRecord<>(topic, event.orderId(), event.value());
    }
    // end::record-for[]

    // tag::producer-config[]
    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Keys and values are strings: the order id and "order-3#4 PAID".
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // Idempotence is the default, but only while nothing conflicts with it: say it, so a
        // conflicting setting fails at construction instead of silently turning it off.
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        // Idempotence needs every in-sync replica to have the write (acks=1 or 0 turn it off).
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        // At most 5 requests in flight per broker: the broker deduplicates and orders the
        // last 5 batches of each producer and partition, no more.
        config.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        return config;
    }
    // end::producer-config[]

    // tag::send-all[]
    /** Sends the events in order, without waiting on any send, then waits for all of them. */
    static SendCounts sendAll(Producer<String, String> producer, String topic, List<OrderEvent> events) {
        AtomicInteger acked = new AtomicInteger();
        AtomicInteger failed = new AtomicInteger();
        for (OrderEvent event : events) {
            producer.send(recordFor(topic, event), (metadata, exception) -> {
                if (exception == null) {
                    acked.incrementAndGet();
                } else if (failed.incrementAndGet() == 1) {
                    System.out.println("✗ " + event.value() + " failed: " + exception);
                }
            });
        }
        producer.flush();
        return new SendCounts(acked.get(), failed.get());
    }
    // end::send-all[]

    public static void main(String[] args) {
        Workshop.run("07-ordering-idempotence", args, cluster -> {
            cluster.ensureTopic(TOPIC, PARTITIONS);
            List<OrderEvent> events = OrderEvent.sample(9, 3);
            List<ProducerRecord<String, String>> records = events.stream().map(e -> recordFor(TOPIC, e)).toList();
            Properties config = producerConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());

            System.out.println("1. Three orders, keyed by order id:");
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                for (ProducerRecord<String, String> record : records) {
                    producer.send(record, (m, e) -> System.out.printf("   %-22s key %-8s → %s%n", record.value(), record.key(),
                            e == null ? "partition " + m.partition() + ", offset " + m.offset() : e.toString()));
                }
                producer.flush();
            }

            System.out.println("2. The broker tracks this producer's id and sequence numbers, per partition:");
            printProducers(cluster, sendToFreshTopic(cluster, config, OrderingLab::recordFor));

            System.out.println("3. The same producer with one setting changed (enable.idempotence left unset):");
            for (String[] change : new String[][] {{ProducerConfig.ACKS_CONFIG, "1"},
                    {ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "6"}, {ProducerConfig.RETRIES_CONFIG, "0"}}) {
                Properties changed = new Properties();
                changed.putAll(config);
                changed.remove(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG);
                changed.put(change[0], change[1]);
                System.out.println("   " + change[0] + "=" + change[1] + ":");
                try {
                    printProducers(cluster, sendToFreshTopic(cluster, changed, OrderingLab::recordFor));
                } catch (KafkaException e) {
                    System.out.println("      " + e.getClass().getSimpleName() + ": " + e.getMessage());
                }
            }
            System.out.println("   ... and with enable.idempotence=true set, the same change fails at once:");
            Properties conflicting = new Properties();
            conflicting.putAll(config);
            conflicting.put(ProducerConfig.ACKS_CONFIG, "1");
            try (Producer<String, String> producer = new KafkaProducer<>(conflicting)) {
                System.out.println("   the producer was created");
            } catch (KafkaException e) {
                System.out.println("   acks=1: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            }

            System.out.println("4. Without a key, where did each order's events go?");
            String keyless = sendToFreshTopic(cluster, config, (topic, event) -> new ProducerRecord<>(topic, event.value()));
            Map<String, TreeSet<Integer>> partitionsByOrder = new TreeMap<>();
            for (ConsumerRecord<String, String> r : readAll(cluster, keyless)) {
                partitionsByOrder.computeIfAbsent(r.value().substring(0, r.value().indexOf('#')), k -> new TreeSet<>()).add(r.partition());
            }
            partitionsByOrder.forEach((order, partitions) -> System.out.println("   " + order + ": partitions " + partitions));
            try (Admin admin = cluster.admin()) {
                admin.deleteTopics(demoTopics).all().get(30, TimeUnit.SECONDS);
            }
        });
        // Check your work: ./jbang grade 07
    }

    /**
     * Sends 2,000 events of 8 orders to a new topic with this configuration and returns the topic.
     * Small batches, as a busy producer makes: the sticky partitioner moves keyless records on to
     * another partition with each new batch.
     */
    static final List<String> demoTopics = new ArrayList<>();

    static String sendToFreshTopic(Cluster cluster, Properties config,
                                   BiFunction<String, OrderEvent, ProducerRecord<String, String>> recordMaker) throws Exception {
        String topic = TOPIC + "-" + Long.toHexString(System.nanoTime());
        cluster.ensureTopic(topic, PARTITIONS);
        demoTopics.add(topic);
        Properties small = new Properties();
        small.putAll(config);
        small.put(ProducerConfig.BATCH_SIZE_CONFIG, 1024);
        try (Producer<String, String> producer = new KafkaProducer<>(small)) {
            for (OrderEvent event : OrderEvent.sample(2_000, 8)) {
                producer.send(recordMaker.apply(topic, event));
            }
            producer.flush();
        }
        return topic;
    }

    /** Admin.describeProducers: the idempotent producers the broker tracks, per partition. */
    static void printProducers(Cluster cluster, String topic) throws Exception {
        List<TopicPartition> partitions = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            partitions.add(new TopicPartition(topic, p));
        }
        try (Admin admin = cluster.admin()) {
            var described = admin.describeProducers(partitions).all().get(30, TimeUnit.SECONDS);
            List<String> lines = new ArrayList<>();
            described.forEach((partition, producers) -> {
                Collection<ProducerState> active = producers.activeProducers();
                active.forEach(s -> lines.add("partition " + partition.partition() + ": producer id " + s.producerId()
                        + ", epoch " + s.producerEpoch() + ", last sequence " + s.lastSequence()));
            });
            lines.sort(null);
            if (lines.isEmpty()) {
                System.out.println("      no producer id on any partition: idempotence is off");
            }
            lines.forEach(line -> System.out.println("      " + line));
        }
    }

    static List<ConsumerRecord<String, String>> readAll(Cluster cluster, String topic) {
        Properties config = new Properties();
        config.putAll(cluster.clientConfig());
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic).stream().map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
            while (partitions.stream().anyMatch(p -> consumer.position(p) < ends.get(p))) {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
        }
        return records;
    }
}
