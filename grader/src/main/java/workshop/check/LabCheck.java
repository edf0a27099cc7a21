package workshop.check;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.extension.ExtendWith;

import static org.awaitility.Awaitility.await;

/**
 * What every checker shares: the lab under test, the grading broker, unique topic names and
 * real clients. Checks wait with explicit bounds, never with sleeps.
 */
@ExtendWith(HangGuard.class)
public abstract class LabCheck {

    protected static LabUnderTest lab() {
        return LabUnderTest.current();
    }

    protected static String bootstrapServers() {
        return lab().bootstrapServers();
    }

    /** A topic name no other check of any run uses. */
    protected static String uniqueName(String base) {
        return base + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    protected static Admin admin() {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        return Admin.create(config);
    }

    /** Creates a topic with a unique name that starts with {@code base}. */
    protected static String createTopic(String base, int partitions) {
        return createTopicNamed(uniqueName(base), partitions);
    }

    protected static String createTopicNamed(String topic, int partitions) {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not create topic " + topic + ": " + e, e);
        }
        return topic;
    }

    /**
     * Creates these topics (name to partitions) with one admin client, then waits until the
     * broker describes them all: only then does it answer a client's metadata request for them.
     */
    protected static void createTopicsAndWait(java.util.Map<String, Integer> partitions) {
        try (Admin admin = admin()) {
            admin.createTopics(partitions.entrySet().stream().map(e -> new NewTopic(e.getKey(), e.getValue(), (short) 1)).toList())
                    .all().get(30, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(20)).ignoreExceptions()
                    .until(() -> admin.describeTopics(partitions.keySet()).allTopicNames().get(5, TimeUnit.SECONDS).size() == partitions.size());
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not create topics " + partitions.keySet() + ": " + e, e);
        }
    }

    protected static Properties producerConfig() {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return config;
    }

    /** A consumer of {@code group} that starts at the beginning and commits only when told to. */
    protected static Properties groupConsumerConfig(String group) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return config;
    }

    protected static KafkaProducer<String, String> newProducer() {
        return new KafkaProducer<>(producerConfig());
    }

    /** Reads a topic from the start until {@code expected} records arrived, or the bound passed. */
    protected static List<ConsumerRecord<String, String>> readRecords(String topic, int expected, Duration bound) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            try {
                await().atMost(bound).pollInterval(Duration.ZERO).until(() -> {
                    consumer.poll(Duration.ofMillis(200)).forEach(records::add);
                    return records.size() >= expected;
                });
            } catch (ConditionTimeoutException e) {
                // the caller compares what arrived with what it expected and says what is missing
            }
            // Anything beyond the expected count would be a duplicate: give it a moment to show.
            consumer.poll(Duration.ofMillis(300)).forEach(records::add);
        }
        return records;
    }

    /**
     * Reads everything these topics hold right now, up to their end offsets, with one consumer:
     * for topics whose producers are closed, so nothing more can arrive and no wait has to guess.
     */
    protected static java.util.Map<String, List<ConsumerRecord<String, String>>> readToEnd(Duration bound, String... topics) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        java.util.Map<String, List<ConsumerRecord<String, String>>> records = new java.util.LinkedHashMap<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (String topic : topics) {
                records.put(topic, new ArrayList<>());
                consumer.partitionsFor(topic, bound).forEach(p -> partitions.add(new TopicPartition(topic, p.partition())));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            java.util.Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, bound);
            await().atMost(bound).pollInterval(Duration.ZERO).until(() -> {
                consumer.poll(Duration.ofMillis(100)).forEach(r -> records.get(r.topic()).add(r));
                return partitions.stream().allMatch(p -> consumer.position(p) >= ends.get(p));
            });
        }
        return records;
    }

    /**
     * Fails this check as a consequence of another one, named by its {@code @DisplayName}: the
     * report points the learner at that check first. Only for a cause the check has isolated.
     */
    protected static FailedBecause failBecause(String causeCheck, String message) {
        throw new FailedBecause(causeCheck, message);
    }

    /** Rethrows what a lab call threw in a {@code @BeforeAll}, so each check reports it. */
    protected static void rethrow(Throwable thrown) {
        if (thrown instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (thrown instanceof Error error) {
            throw error;
        }
        if (thrown != null) {
            throw new LabUnderTest.LabThrew(thrown);
        }
    }

    /** A loopback port with nothing listening: a dead broker address. */
    protected static String deadBootstrap() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return "127.0.0.1:" + socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
