///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
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
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.Reading;
import workshop.Workshop;

/**
 * Lab 11: exactly once, consume-transform-produce.
 *
 * A processor reads humidity readings, rates each room's comfort and writes the result to
 * another topic. Lab 10 could only choose between losing and repeating work across a crash.
 * Here the output records and the input offsets are committed in ONE transaction: after any
 * crash, either both happened or neither did, and readers with read_committed never see the rest.
 *
 * Stages, mirrored in main:
 *   1. a transactional producer, and a consumer that leaves committing to the transaction;
 *   2. per poll batch: begin, send the results, add the input offsets, commit;
 *   3. on an error: abort, rewind to the committed offsets, and read the batch again;
 *   4. read the output twice: read_committed, and read_uncommitted for comparison.
 */
class ExactlyOnce {

    static final Duration POLL_TIMEOUT = Duration.ofMillis(300);

    /** The work, given: "kitchen,47" becomes "kitchen,47,ok". */
    static String comfort(String reading) {
        int humidity = Integer.parseInt(reading.substring(reading.lastIndexOf(',') + 1));
        String verdict = humidity < 40 ? "dry" : humidity <= 60 ? "ok" : "damp";
        return reading + "," + verdict;
    }

    // tag::producer-config[]
    static Properties producerConfig(String bootstrapServers, String transactionalId) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // Makes the producer transactional (and idempotent). The id must stay the same across
        // restarts: that is how a new instance finds, and finishes, what a crashed one left open.
        config.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        return config;
    }
    // end::producer-config[]

    // tag::consumer-config[]
    static Properties consumerConfig(String bootstrapServers, String groupId) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // The group whose committed offsets the transactions move forward.
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // A group with no committed offset yet starts at the beginning.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Offsets are committed by the transaction, with the output: never by the consumer.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Skip records of open and aborted transactions (the default, read_uncommitted, shows them).
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        return config;
    }
    // end::consumer-config[]

    // tag::start[]
    static void startTransactions(Producer<String, String> producer) {
        // Once per producer, before its first transaction. The coordinator bumps the epoch of this
        // transactional.id: an older producer with the same id is fenced from now on, and a
        // transaction it left open is aborted before this returns.
        producer.initTransactions();
    }
    // end::start[]

    // tag::process-batch[]
    // tag::process-batch-commit[]
    static int processBatch(Consumer<String, String> consumer, Producer<String, String> producer, String outputTopic,
                            UnaryOperator<String> transform) {
        ConsumerRecords<String, String> records = consumer.poll(POLL_TIMEOUT);
        if (records.isEmpty()) {
            return 0;
        }
        producer.beginTransaction();
        try {
            Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
            for (ConsumerRecord<String, String> record : records) {
                producer.send(new ProducerRecord<>(outputTopic, record.key(), transform.apply(record.value())));
                // The offset to commit is the NEXT record to read: this one's offset + 1.
                next.put(new TopicPartition(record.topic(), record.partition()), new OffsetAndMetadata(record.offset() + 1));
            }
            // The input offsets become part of the transaction, with the group's identity.
            producer.sendOffsetsToTransaction(next, consumer.groupMetadata());
            // Outputs and offsets: all visible, or none. A failed send surfaces here too.
            producer.commitTransaction();
            return records.count();
        // end::process-batch-commit[]
        // tag::process-batch-abort[]
        } catch (ProducerFencedException e) {
            throw e; // a newer instance owns our transactional.id: stop, and leave the work to it
        } catch (RuntimeException e) {
            System.out.printf("  batch of %d failed (%s): aborted, reading it again%n", records.count(), e.getMessage());
            producer.abortTransaction(); // throws too if the producer cannot go on: then we stop
            rewind(consumer);
            return 0;
        }
    }
    // end::process-batch-abort[]
    // end::process-batch[]

    // tag::rewind[]
    /** Puts every assigned partition back at its committed offset: the aborted batch is read again. */
    static void rewind(Consumer<String, String> consumer) {
        Set<TopicPartition> assigned = consumer.assignment();
        Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(assigned);
        for (TopicPartition partition : assigned) {
            OffsetAndMetadata offset = committed.get(partition);
            if (offset != null) {
                consumer.seek(partition, offset);
            } else {
                consumer.seekToBeginning(List.of(partition)); // nothing committed yet: "earliest"
            }
        }
    }
    // end::rewind[]

    public static void main(String[] args) {
        Workshop.run("11-exactly-once", args, cluster -> {
            String input = "readings-" + System.currentTimeMillis(); // fresh topics: the counts are this run's
            String output = input + ".comfort";
            cluster.ensureTopic(input, 3);
            cluster.ensureTopic(output, 3);
            int total = 30;
            Properties plain = cluster.clientConfig();
            plain.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            plain.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            try (Producer<String, String> producer = new KafkaProducer<>(plain)) {
                Reading.sample(total, 4).forEach(r -> producer.send(new ProducerRecord<>(input, r.key(), r.value())));
            }
            System.out.printf("%d readings written to %s. Processing them, with one failure in the middle of a batch:%n", total, input);
            process(cluster, input, output, total);
            long committed = count(cluster, output, "read_committed");
            long uncommitted = count(cluster, output, "read_uncommitted");
            System.out.printf("%d readings in; %s holds %d results for read_committed, %d records for read_uncommitted "
                              + "(%d of them from the aborted transaction)%n", total, output, committed, uncommitted, uncommitted - committed);
        });
        // Check your work: ./jbang grade 11
    }

    // tag::main-loop[]
    static void process(Cluster cluster, String input, String output, int total) {
        Properties producerConfig = producerConfig(cluster.bootstrapServers(), "comfort-processor-" + input);
        producerConfig.putAll(cluster.clientConfig());
        Properties consumerConfig = consumerConfig(cluster.bootstrapServers(), "comfort-" + input);
        consumerConfig.putAll(cluster.clientConfig());
        consumerConfig.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 8); // small batches: several transactions
        int[] calls = {0};
        UnaryOperator<String> flakyComfort = reading -> {
            if (++calls[0] == 13) {
                sleep(Duration.ofMillis(200)); // long enough for the batch's first sends to reach the log
                throw new UncheckedIOException(new IOException("the comfort service timed out"));
            }
            return comfort(reading);
        };
        try (Consumer<String, String> consumer = new KafkaConsumer<>(consumerConfig);
             Producer<String, String> producer = new KafkaProducer<>(producerConfig)) {
            consumer.subscribe(List.of(input));
            startTransactions(producer);
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            for (int done = 0; done < total && System.nanoTime() < deadline; ) {
                int committed = processBatch(consumer, producer, output, flakyComfort);
                if (committed > 0) {
                    done += committed;
                    System.out.printf("  committed a transaction of %d results%n", committed);
                }
            }
        }
    }
    // end::main-loop[]

    static long count(Cluster cluster, String topic, String isolationLevel) throws Exception {
        Properties config = consumerConfig(cluster.bootstrapServers(), "count-" + System.nanoTime());
        config.putAll(cluster.clientConfig());
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolationLevel);
        try (Admin admin = cluster.admin(); Consumer<String, String> reader = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = reader.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            reader.assign(partitions);
            reader.seekToBeginning(partitions);
            // Read to the end of the log. read_committed gets there only once every transaction in
            // it has ended: commitTransaction() can return before its commit markers are written.
            Map<TopicPartition, ListOffsetsResultInfo> end = admin.listOffsets(partitions.stream()
                    .collect(Collectors.toMap(p -> p, p -> OffsetSpec.latest()))).all().get();
            long seen = 0;
            while (partitions.stream().anyMatch(p -> reader.position(p) < end.get(p).offset())) {
                seen += reader.poll(POLL_TIMEOUT).count();
            }
            return seen;
        }
    }

    static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
