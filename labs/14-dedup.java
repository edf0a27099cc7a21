///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.RecordHandler;
import workshop.Workshop;

/**
 * Lab 14: the idempotent consumer.
 *
 * Kafka delivers at least once: a caller that sends again after a timeout, or a consumer that
 * reads a batch again after a failure, puts the same message in front of the work twice, at
 * another offset. Each order carries a message id in a header; the consumer applies an id once,
 * and remembers the ids it applied in a store with a bound, because memory has one.
 *
 * Stages, mirrored in main:
 *   1. a store of seen ids that keeps the newest ones and forgets the oldest first;
 *   2. apply a record unless its id was seen, and mark the id seen once the work succeeded;
 *   3. orders sent by a caller that retries: one arrives twice, one after its successor;
 *   4. a duplicate that comes back after more ids than the store keeps: applied again;
 *   5. retrying a failed record: a seek inside the record loop, then stop-and-seek-back.
 */
class Dedup {

    /** The header that carries each message's id, set once by whoever created the message. */
    static final String MESSAGE_ID = "message-id";

    /** The ids seen most recently, at most {@code capacity} of them; adding one more forgets the oldest. */
    static Set<String> seenIds(int capacity) {
        // TODO 1: return a Set that never holds more than `capacity` ids: when a new id would make
        //         it hold more, it forgets the id it was given longest ago (and only that one).
        throw Workshop.todo(1, "a set of seen ids that keeps the newest `capacity` ids");
    }

    /** Applies the record unless its message id was seen; returns whether it was applied. */
    static boolean applyOnce(ConsumerRecord<String, String> record, Set<String> seen, RecordHandler handler) throws Exception {
        // TODO 2: read the record's id from its MESSAGE_ID header (UTF-8 bytes: decode them). If
        //         `seen` holds it, skip the record (return false); otherwise hand it to the handler
        //         and remember the id. What if the handler throws? And what if a record has no id?
        throw Workshop.todo(2, "apply each message id once");
    }

    // ---- the scenario: given code ----------------------------------------------------------------

    static ProducerRecord<String, String> order(String topic, String id, String customer, String payload) {
        ProducerRecord<String, String> record = new ProducerRecord<>(topic, customer, payload);
        record.headers().add(MESSAGE_ID, id.getBytes(StandardCharsets.UTF_8));
        return record;
    }

    static String idOf(ConsumerRecord<String, String> record) {
        Header header = record.headers().lastHeader(MESSAGE_ID);
        return header == null ? "(no id)" : new String(header.value(), StandardCharsets.UTF_8);
    }

    static Properties consumerConfig(Cluster cluster) {
        Properties config = cluster.clientConfig();
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // The demo reads its own fresh topic from the start, with no group and no commits.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return config;
    }

    /** One pass over a topic's single partition, from an offset to its end. */
    interface Loop {
        void poll(Consumer<String, String> consumer) throws Exception;
    }

    static void read(Cluster cluster, String topic, long from, Loop loop) throws Exception {
        try (Consumer<String, String> consumer = new KafkaConsumer<>(consumerConfig(cluster))) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seek(partition, from);
            long end = consumer.endOffsets(List.of(partition)).get(partition);
            while (consumer.position(partition) < end) {
                loop.poll(consumer);
            }
        }
    }

    /** A common snippet's retry: seek back inside the loop over the batch, and carry on with the loop. */
    static void seekInsideTheLoop(Consumer<String, String> consumer, Set<String> seen, RecordHandler handler) {
        for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
            try {
                applyOnce(record, seen, handler);
            } catch (Exception e) {
                consumer.seek(new TopicPartition(record.topic(), record.partition()), record.offset());
                // ...and the for loop goes on with the records after the failed one
            }
        }
    }

    /** Stop the partition at the failed record, seek back to it, and let the next poll start there. */
    static void stopAndSeekBack(Consumer<String, String> consumer, Set<String> seen, RecordHandler handler) {
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
        for (TopicPartition partition : records.partitions()) {
            for (ConsumerRecord<String, String> record : records.records(partition)) {
                try {
                    applyOnce(record, seen, handler);
                } catch (Exception e) {
                    // A record that fails every time would come back here forever: count the attempts,
                    // and after a few, send it to a dead-letter topic and move on.
                    consumer.seek(partition, record.offset());
                    break; // nothing after the failed record runs before it
                }
            }
        }
    }

    public static void main(String[] args) {
        Workshop.run("14-dedup", args, cluster -> {
            String run = Long.toString(System.currentTimeMillis()); // fresh topics: what is printed is this run's
            Properties producerConfig = cluster.clientConfig();
            producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());

            System.out.println("Stage 3: a caller that retries. Its first send of order-4 landed, but the answer timed out,");
            System.out.println("so it sent order-4 again; its first send of order-7 failed, and it sent it again after order-8.");
            String orders = "dedup-orders-" + run;
            cluster.ensureTopic(orders, 1); // one partition: the log order is the only order there is
            try (Producer<String, String> producer = new KafkaProducer<>(producerConfig)) {
                for (int n : new int[] {1, 2, 3, 4, 5, 6, 4, 8, 7, 9, 10}) {
                    producer.send(order(orders, "order-" + n, "customer-42", "{\"order\":" + n + "}"));
                }
            }
            Set<String> seen = seenIds(100);
            List<String> applied = new ArrayList<>();
            read(cluster, orders, 0, consumer -> {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    boolean first = applyOnce(record, seen, r -> applied.add(idOf(r)));
                    System.out.printf("  offset %2d  %-9s %s%n", record.offset(), idOf(record), first ? "applied" : "skipped: seen before");
                }
            });
            System.out.println("  applied, in this order: " + String.join(" ", applied));

            System.out.println("Stage 4: the store keeps the last 100 ids. 150 new orders, then order-4 once more:");
            try (Producer<String, String> producer = new KafkaProducer<>(producerConfig)) {
                for (int n = 11; n <= 160; n++) {
                    producer.send(order(orders, "order-" + n, "customer-" + n % 7, "{\"order\":" + n + "}"));
                }
                producer.send(order(orders, "order-4", "customer-42", "{\"order\":4}")); // a replay from far back
            }
            int before = applied.size();
            read(cluster, orders, 11, consumer -> {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(500))) {
                    applyOnce(record, seen, r -> applied.add(idOf(r)));
                }
            });
            System.out.printf("  151 records, %d applied; the last: %s, for the second time. The store holds %d ids: %s, ..., %s%n",
                    applied.size() - before, applied.get(applied.size() - 1), seen.size(),
                    seen.iterator().next(), new ArrayList<>(seen).get(seen.size() - 1));

            System.out.println("Stage 5: the handler fails once, on order-3, and the loop retries it:");
            String retries = "dedup-retries-" + run;
            cluster.ensureTopic(retries, 1);
            try (Producer<String, String> producer = new KafkaProducer<>(producerConfig)) {
                for (int n = 1; n <= 8; n++) {
                    producer.send(order(retries, "order-" + n, "customer-42", "{\"order\":" + n + "}"));
                }
            }
            for (String way : List.of("seek inside the loop, no store", "seek inside the loop", "stop and seek back")) {
                Set<String> ids = seenIds(way.endsWith("no store") ? 0 : 100); // a store of 0 ids remembers nothing
                List<String> attempts = new ArrayList<>();
                List<String> done = new ArrayList<>();
                boolean[] failedOnce = {false};
                RecordHandler flaky = record -> {
                    String id = idOf(record);
                    attempts.add(id);
                    if (id.equals("order-3") && !failedOnce[0]) {
                        failedOnce[0] = true;
                        throw new IllegalStateException("the payment service timed out"); // once; the retry succeeds
                    }
                    done.add(id);
                };
                read(cluster, retries, 0, consumer -> {
                    if (way.startsWith("seek inside")) {
                        seekInsideTheLoop(consumer, ids, flaky);
                    } else {
                        stopAndSeekBack(consumer, ids, flaky);
                    }
                });
                System.out.printf("  %-31s handler calls: %s%n", way + ":", String.join(" ", attempts).replace("order-", ""));
                System.out.printf("  %-31s applied:       %s%n", "", String.join(" ", done).replace("order-", ""));
            }
        });
        // Check your work: ./jbang grade 14
    }
}
