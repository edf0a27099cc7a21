package workshop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The labs' mains' plumbing, not a TODO: a topic with settings of its own, and reading back what a
 * run wrote, so the console shows what landed on the broker (not only what the code meant to send).
 */
public final class LabTopics {

    private LabTopics() {
    }

    /**
     * Creates the topic with {@code settings} (topic configs such as max.message.bytes) unless it
     * exists; a topic kept from an earlier run gets the settings set on it.
     */
    public static void ensureTopic(Cluster cluster, String topic, int partitions, Map<String, String> settings) {
        try (Admin admin = cluster.admin()) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1).configs(settings))).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
                List<AlterConfigOp> set = settings.entrySet().stream()
                        .map(s -> new AlterConfigOp(new ConfigEntry(s.getKey(), s.getValue()), AlterConfigOp.OpType.SET))
                        .toList();
                admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.TOPIC, topic), set))
                        .all().get(30, TimeUnit.SECONDS);
            }
        } catch (ExecutionException e) {
            throw new Workshop.WorkshopException("Could not create topic " + topic + ": " + e.getCause().getMessage());
        } catch (Exception e) {
            throw new Workshop.WorkshopException("Could not create topic " + topic + ": " + e);
        }
    }

    /** Where each partition of the topic ends now: read from here to see what a run adds. */
    public static Map<TopicPartition, Long> endOffsets(Cluster cluster, String topic) {
        try (Consumer<String, String> consumer = reader(cluster)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(15)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition()))
                    .toList();
            return consumer.endOffsets(partitions, Duration.ofSeconds(15));
        }
    }

    /** The records from {@code from} up to each partition's end, in partition then offset order; stops after {@code bound}. */
    public static List<ConsumerRecord<String, String>> readFrom(Cluster cluster, Map<TopicPartition, Long> from, Duration bound) {
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try (Consumer<String, String> consumer = reader(cluster)) {
            Collection<TopicPartition> partitions = from.keySet();
            consumer.assign(partitions);
            from.forEach(consumer::seek);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, bound);
            long deadline = System.nanoTime() + bound.toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p)) && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
        }
        records.sort((a, b) -> a.partition() != b.partition() ? Integer.compare(a.partition(), b.partition()) : Long.compare(a.offset(), b.offset()));
        return records;
    }

    private static Consumer<String, String> reader(Cluster cluster) {
        Properties config = cluster.clientConfig();
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // A reader that only looks: no group, nothing committed.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Room for a record as large as the topics here accept.
        config.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * 1024 * 1024);
        return new KafkaConsumer<>(config);
    }
}
