///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.Reading;
import workshop.RecordHandler;
import workshop.Workshop;

/**
 * Lab 10: commit order.
 *
 * A committed offset says "everything before this is done". Commit it before the work and a
 * crash in between loses records (at most once); commit it after the work and a crash in
 * between repeats them (at least once). Only the second never loses anything.
 *
 * Stages, mirrored in main:
 *   1. a consumer that commits only when told to;
 *   2. poll, process every record, then commit offset + 1 per partition;
 *   3. the same crash, once with commit-before and once with commit-after.
 */
class CommitOrder {

    static Properties consumerConfig(String bootstrapServers, String groupId) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // TODO 1: join the group `groupId`, start from the beginning when the group has no
        //         committed offset yet, and make sure nothing is committed unless your code says so.
        throw Workshop.todo(1, "configure a consumer that commits only when told to");
    }

    static int processBatch(Consumer<String, String> consumer, RecordHandler handler) throws Exception {
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
        // TODO 2: hand every record to the handler, then commit what was processed, so that a
        //         crash at any point loses nothing (at-least-once). Which offset marks a record as
        //         done? (The one a restart reads next, per partition.) A handler that throws must
        //         not be caught and must leave its record uncommitted. Return how many records the
        //         poll returned.
        throw Workshop.todo(2, "process the batch, then commit it");
    }

    /** The tempting order, kept for the comparison in main: commit first, then work. */
    static int processBatchCommitFirst(Consumer<String, String> consumer, RecordHandler handler) throws Exception {
        ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(500));
        consumer.commitSync(); // commits the position after this whole batch, before any work
        for (ConsumerRecord<String, String> record : records) {
            handler.handle(record);
        }
        return records.count();
    }

    interface Step {
        int run(Consumer<String, String> consumer, RecordHandler handler) throws Exception;
    }

    static final class Crash extends RuntimeException {
        Crash() {
            super("the process died here");
        }
    }

    /** Processes the topic with one crash after {@code crashAfter} records; returns how often each record was handled. */
    static Map<String, Integer> runWithOneCrash(Cluster cluster, String topic, Step step, int crashAfter) throws Exception {
        String group = "commit-demo-" + System.nanoTime();
        Map<String, Integer> handled = new HashMap<>();
        int[] count = {0};
        RecordHandler work = record -> {
            if (++count[0] == crashAfter) {
                throw new Crash(); // like kill -9 in the middle of a batch
            }
            handled.merge(record.partition() + "@" + record.offset(), 1, Integer::sum);
        };
        Properties config = consumerConfig(cluster.bootstrapServers(), group);
        config.putAll(cluster.clientConfig());
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        for (int instance = 1; instance <= 2; instance++) {
            try (Consumer<String, String> consumer = new KafkaConsumer<>(config)) {
                consumer.subscribe(List.of(topic));
                int idle = 0;
                while (idle < 4) {
                    idle = step.run(consumer, work) == 0 ? idle + 1 : 0;
                }
            } catch (Crash crash) {
                System.out.printf("  instance %d crashed after handling %d records; a new one takes over%n", instance, crashAfter - 1);
            }
        }
        return handled;
    }

    public static void main(String[] args) {
        Workshop.run("10-commit-order", args, cluster -> {
            String topic = "commit-demo-" + System.currentTimeMillis(); // a fresh topic: the counts are this run's
            cluster.ensureTopic(topic, 1);
            int total = 200;
            Properties producerConfig = cluster.clientConfig();
            producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (Producer<String, String> producer = new KafkaProducer<>(producerConfig)) {
                Reading.sample(total, 4).forEach(r -> producer.send(new ProducerRecord<>(topic, r.key(), r.value())));
            }
            int crashAfter = 37;
            System.out.println("Commit BEFORE processing (at most once):");
            report(runWithOneCrash(cluster, topic, CommitOrder::processBatchCommitFirst, crashAfter), total);
            System.out.println("Commit AFTER processing (at least once):");
            report(runWithOneCrash(cluster, topic, CommitOrder::processBatch, crashAfter), total);
            System.out.println("Commit AFTER processing, a clean shutdown, then a restart:");
            List<String> again = handledAfterCleanRestart(cluster, topic);
            if (again.isEmpty()) {
                System.out.println("  nothing processed again: the restart went on where the first instance stopped");
            }
            for (String record : again) {
                System.out.printf("  ✗ record %s processed again after a clean restart: the committed offset must be "
                        + "the NEXT record's, offset + 1%n", record);
            }
        });
        // Check your work: ./jbang grade 10
    }

    /**
     * Processes the topic with processBatch, stops without a crash, and starts a new instance of
     * the same group: returns what that one handled (partition@offset), which should be nothing.
     */
    static List<String> handledAfterCleanRestart(Cluster cluster, String topic) {
        String group = "clean-restart-" + System.nanoTime();
        Properties config = consumerConfig(cluster.bootstrapServers(), group);
        config.putAll(cluster.clientConfig());
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        List<String> handledByRestart = new ArrayList<>();
        for (int instance = 1; instance <= 2; instance++) {
            RecordHandler work = instance == 1 ? record -> { }
                    : record -> handledByRestart.add(record.partition() + "@" + record.offset());
            try (Consumer<String, String> consumer = new KafkaConsumer<>(config)) {
                consumer.subscribe(List.of(topic));
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                int idle = 0;
                // Idle polls count once the group has assigned the partition: a join can outlast a few of them.
                while (idle < 3 && System.nanoTime() < deadline) {
                    int polled = processBatch(consumer, work);
                    idle = polled == 0 && !consumer.assignment().isEmpty() ? idle + 1 : 0;
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }
        return handledByRestart;
    }

    static void report(Map<String, Integer> handled, int total) {
        long distinct = handled.size();
        long duplicates = handled.values().stream().mapToInt(n -> n - 1).sum();
        System.out.printf("  %d records: %d lost, %d processed twice%n", total, Math.max(0, total - distinct), duplicates);
    }
}
