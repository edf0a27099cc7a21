package workshop.checks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.KafkaCluster;
import workshop.Reading;
import workshop.SendCounts;
import workshop.check.FreezableProxy;
import workshop.check.ForwardingProducer;
import workshop.check.LabCheck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 08 on a cluster of its own: three brokers in three JVMs, whose replication runs through
 * relays this checker can freeze. The failover is made so that durability is decided, not
 * left to luck: replication from the leader is frozen while the lab sends, then the leader's
 * JVM is killed. Records the leader acknowledged alone (acks=1 or 0) are then on no surviving
 * broker and vanish, every time; with acks=all nothing is acknowledged while frozen, and the
 * producer's own retries deliver everything to the new leader.
 */
class Lab08DurabilityCheck extends LabCheck {

    static final int BROKERS = 3;
    /** Acknowledged before replication is frozen: the cluster was healthy until then. */
    static final int HEALTHY_ACKS = 100;
    /** The source hands out no reading past these before the freeze, and before the crash. */
    static final int FREEZE_GATE = 200;
    static final int CRASH_GATE = 500;
    static final int READINGS = 900;
    /** This reading's send fails with a RecordTooLargeException, a failure no retry can fix. */
    static final int TOO_LARGE = 50;
    static final long PACE_NANOS = TimeUnit.MILLISECONDS.toNanos(4);
    /** Long enough for many acks to come back if the leader acknowledges alone; far under replica.lag.time.max.ms (30 s). */
    static final Duration FROZEN = Duration.ofMillis(1_500);
    /** An election here takes 5-10 s (a 4 s broker session, then metadata): the lab must ride it out. */
    static final Duration SEND_BOUND = Duration.ofSeconds(75);

    static volatile KafkaCluster cluster;
    static final Map<Integer, FreezableProxy> relays = new ConcurrentHashMap<>();
    static Scenario scenario;

    static final Object STARTING = new Object();

    static KafkaCluster cluster() {
        synchronized (STARTING) {
            if (cluster != null) {
                return cluster;
            }
            Map<Integer, FreezableProxy> byPort = new HashMap<>();
            cluster = KafkaCluster.startTemporary(BROKERS, port -> {
                FreezableProxy relay = new FreezableProxy(port);
                byPort.put(port, relay);
                return relay.port();
            }, Duration.ofSeconds(90));
            cluster.nodes().forEach(node -> relays.put(node.id(), byPort.get(node.replicationPort())));
            return cluster;
        }
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
        relays.values().forEach(FreezableProxy::close);
    }

    static Admin clusterAdmin() {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cluster().bootstrapServers());
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        return Admin.create(config);
    }

    @Test
    @Order(1)
    @Timeout(150)
    @DisplayName("the topic has 3 replicas per partition and min.insync.replicas=2")
    void topicIsReplicated() throws Exception {
        String topic = uniqueName("durable-readings");
        try (Admin admin = clusterAdmin()) {
            lab().call("createDurableTopic", admin, topic, 3);
            TopicDescription description = describeWhenReady(admin, topic);
            assertThat(description.partitions())
                    .as("createDurableTopic(admin, \"%s\", 3) should create 3 partitions", topic)
                    .hasSize(3);
            for (TopicPartitionInfo partition : description.partitions()) {
                assertThat(partition.replicas().size())
                        .as("Partition %d of %s has %d replica(s): this lab needs 3, so that any one broker can die while two copies"
                                + " remain. Create the topic with a replication factor of 3 (TODO 1).",
                                partition.partition(), topic, partition.replicas().size())
                        .isEqualTo(3);
            }
            // Any broker may answer, and one may not know the new topic yet for a moment.
            Config config = await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                    .until(() -> admin.describeConfigs(List.of(new ConfigResource(ConfigResource.Type.TOPIC, topic)))
                            .all().get(5, TimeUnit.SECONDS).values().iterator().next(), Objects::nonNull);
            String minInSync = config.get(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG).value();
            if (Integer.parseInt(minInSync) >= description.partitions().get(0).replicas().size()) {
                fail("The topic's min.insync.replicas is " + minInSync + ", as many as there are replicas: with one broker down, every"
                        + " acks=all write is refused (NotEnoughReplicas) until it is back. With 2 of 3, writes go on through one"
                        + " failure, and no acknowledgement ever rests on a single copy (TODO 1).");
            }
            if (!minInSync.equals("2")) {
                fail("The topic's min.insync.replicas is " + minInSync + ": with acks=all, a write is then acknowledged even when only "
                        + minInSync + " broker(s) have it. Set the topic config min.insync.replicas=2 when you create it (TODO 1).");
            }
        }
    }

    @Test
    @Order(2)
    @Timeout(150)
    @DisplayName("every acknowledged record survives the crash of the partition's leader")
    void acknowledgedRecordsSurvive() throws Exception {
        Scenario run = scenario();
        if (run.lost().isEmpty()) {
            return;
        }
        String sample = run.lost().stream().limit(3).collect(Collectors.joining(", "));
        if (run.ackedWithoutOffset() > 0) {
            fail(run.lost().size() + " acknowledged records are gone after broker " + run.leader + " crashed (" + sample + ", ...), and "
                    + run.ackedWithoutOffset() + " acknowledgements came without an offset: that is acks=0, where the producer"
                    + " does not wait for the broker at all. Use acks=all (TODO 2).");
        }
        if (run.ackedWhileFrozen.get() > 0) {
            fail("While no follower could copy the leader's records, the leader still acknowledged " + run.ackedWhileFrozen.get()
                    + " of them: it answered alone, which is acks=1. Broker " + run.leader + " then crashed, another broker took over"
                    + " without those records, and " + run.lost().size() + " acknowledged records are gone (" + sample + ", ...)."
                    + " With acks=all an acknowledgement waits until every in-sync replica has the record (TODO 2).");
        }
        fail(run.lost().size() + " acknowledged records are not in the topic after the failover (" + sample + ", ...).");
    }

    @Test
    @Order(3)
    @Timeout(150)
    @DisplayName("the producer rides out the failover: nothing fails but a record too large, nothing is written twice, no retry by hand")
    void producerRecovers() throws Exception {
        Scenario run = scenario();
        Map<String, Exception> failover = run.failover();
        if (!failover.isEmpty()) {
            Map.Entry<String, Exception> first = failover.entrySet().iterator().next();
            fail(failover.size() + " records failed during the failover; the first, " + first.getKey() + ", with a "
                    + first.getValue().getClass().getSimpleName() + ". Here an election takes " + run.electionSeconds() + " and the producer retries by itself for as long as"
                    + " delivery.timeout.ms allows (your setting: " + run.deliveryTimeout + "; retries: " + run.retries + ")."
                    + " Give records far longer than an election, and keep retries at their default (TODO 2).");
        }
        Map<String, Integer> resent = run.sends.entrySet().stream().filter(e -> e.getValue().get() > 1)
                .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().get()));
        assertThat(resent)
                .as("sendAll sent these readings more than once: the producer already retries within delivery.timeout.ms, and a"
                        + " resend by hand is a new record that idempotence cannot recognise (TODO 3)")
                .isEmpty();
        assertThat(run.duplicates)
                .as("These readings are in the topic more than once after the failover: keep the producer idempotent (TODO 2)")
                .isEmpty();
        assertThat(run.sends.size())
                .as("sendAll should send each of the %d readings once", READINGS)
                .isEqualTo(READINGS);
        assertThat(run.failed)
                .as("The send of reading %d fails with a RecordTooLargeException: the callback should see that failure", TOO_LARGE)
                .containsKey(Scenario.TOO_LARGE_VALUE);
        assertThat(run.counts)
                .as("sendAll returned %s, but the producer acknowledged %d records and failed %d (reading %d is too large for the"
                        + " topic, on purpose): count in the callback, and return after flush(), once every callback has run (TODO 3)",
                        run.counts, run.acked.size(), run.failed.size(), TOO_LARGE)
                .isEqualTo(new SendCounts(run.acked.size(), run.failed.size()));
    }

    static synchronized Scenario scenario() throws Exception {
        if (scenario == null) {
            scenario = new Scenario();
            try {
                scenario.run();
            } catch (Throwable t) {
                scenario.thrown = t;
            }
        }
        scenario.rethrow();
        return scenario;
    }

    static TopicDescription describeWhenReady(Admin admin, String topic) {
        return await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                .until(() -> admin.describeTopics(List.of(topic)).allTopicNames().get(5, TimeUnit.SECONDS).get(topic),
                        d -> d.partitions().stream().allMatch(p -> p.leader() != null));
    }

    /** One run of the lab's producer across a frozen, then crashed, leader. */
    static final class Scenario {
        final String topic = uniqueName("failover");
        /** Where the failed reading really travels, so its failure still takes a round trip to the cluster. */
        final String sinkTopic = topic + "-refused";
        final Map<String, AtomicInteger> sends = new ConcurrentHashMap<>();
        final Map<String, Long> acked = new ConcurrentHashMap<>();
        final Map<String, Exception> failed = new ConcurrentHashMap<>();
        final AtomicInteger ackedWhileFrozen = new AtomicInteger();
        final AtomicLong frozenAt = new AtomicLong();
        final AtomicLong killedAt = new AtomicLong();
        final AtomicLong electedAt = new AtomicLong();
        volatile boolean frozen;
        int leader;
        Object deliveryTimeout;
        Object retries;
        SendCounts counts;
        List<String> readBack = List.of();
        Set<String> duplicates = Set.of();
        Throwable thrown;

        void run() throws Exception {
            Properties config;
            try (Admin admin = clusterAdmin()) {
                admin.createTopics(List.of(new NewTopic(topic, 1, (short) BROKERS)
                        .configs(Map.of(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, "2")),
                        new NewTopic(sinkTopic, 1, (short) BROKERS))).all().get(30, TimeUnit.SECONDS);
                leader = describeWhenReady(admin, topic).partitions().get(0).leader().id();
                config = lab().call("producerConfig", cluster().bootstrapServers());
                deliveryTimeout = config.getOrDefault(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000 (the default)");
                retries = config.getOrDefault(ProducerConfig.RETRIES_CONFIG, "the default");
                CompletableFuture<SendCounts> result = new CompletableFuture<>();
                try (Producer<String, String> producer = new Watched(new KafkaProducer<>(config))) {
                    Thread sender = new Thread(() -> {
                        try {
                            result.complete(lab().call("sendAll", producer, topic, (Iterable<Reading>) this::readings));
                        } catch (Throwable t) {
                            result.completeExceptionally(t);
                        }
                    }, "lab-08-sendAll");
                    sender.setDaemon(true);
                    sender.start();
                    try {
                        counts = result.get(SEND_BOUND.toSeconds(), TimeUnit.SECONDS);
                    } catch (ExecutionException e) {
                        thrown = e.getCause();
                        return;
                    } catch (TimeoutException e) {
                        thrown = new AssertionError("sendAll did not return within " + SEND_BOUND.toSeconds() + " s of the leader's crash"
                                + " (" + acked.size() + " of " + READINGS + " acknowledged, " + failed.size() + " failed). Does it wait"
                                + " for something that never comes, or retry forever?");
                        return;
                    } finally {
                        relays.values().forEach(FreezableProxy::thaw);
                    }
                    producer.close(Duration.ofSeconds(10));
                }
                // The old leader comes back and truncates to the new leader's log, as after a real
                // crash. The readers never depend on it: they read from the elected leader, which
                // holds every committed record, and the old one cannot lead again before it has
                // truncated and caught up. So a restart slowed by a loaded machine costs time only.
                cluster().restart(leader);
                try {
                    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(250)).ignoreExceptions()
                            .until(() -> describeWhenReady(admin, topic).partitions().get(0).isr().size() == BROKERS);
                } catch (ConditionTimeoutException stillCatchingUp) {
                    // read from the elected leader all the same
                }
            }
            readBack = readAll();
            Set<String> seen = new LinkedHashSet<>();
            duplicates = readBack.stream().filter(v -> !seen.add(v)).collect(Collectors.toCollection(LinkedHashSet::new));
        }

        void rethrow() {
            LabCheck.rethrow(thrown);
        }

        /** The checker's source: readings at a steady pace, whatever the lab does with them. */
        Iterator<Reading> readings() {
            return new Iterator<>() {
                int next;
                long due = System.nanoTime();

                @Override
                public boolean hasNext() {
                    return next < READINGS;
                }

                @Override
                public Reading next() {
                    if (!hasNext()) {
                        throw new NoSuchElementException();
                    }
                    if (next == 0) {
                        startFailover();
                    }
                    // However slow the machine, some readings are sent while frozen and some after the crash.
                    if (next == FREEZE_GATE) {
                        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(5)).until(() -> frozenAt.get() != 0);
                    }
                    if (next == CRASH_GATE) {
                        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(5)).until(() -> killedAt.get() != 0);
                        due = System.nanoTime();
                    }
                    due += PACE_NANOS;
                    LockSupport.parkNanos(due - System.nanoTime());
                    int i = next++;
                    return reading(i);
                }
            };
        }

        /**
         * Once replication has proven healthy, cut it from the leader for a while, then kill the
         * leader: on a clock of its own, so a lab that sends slowly meets the same failover.
         */
        void startFailover() {
            Thread failover = new Thread(() -> {
                try {
                    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(10))
                            .until(() -> acked.size() + failed.size() >= HEALTHY_ACKS || sends.size() >= FREEZE_GATE);
                } catch (RuntimeException stillNothing) {
                    // a lab that never gets an ack still meets the failover; its checks say why
                }
                relays.get(leader).freeze();
                frozen = true;
                frozenAt.set(System.nanoTime());
                LockSupport.parkNanos(FROZEN.toNanos());
                frozen = false;
                killedAt.set(System.nanoTime());
                cluster().kill(leader);
                relays.get(leader).thaw();
                // When the cluster has a new leader: what an election costs here, for the messages.
                try (Admin admin = clusterAdmin()) {
                    await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(100)).ignoreExceptions()
                            .until(() -> {
                                TopicPartitionInfo partition = admin.describeTopics(List.of(topic)).allTopicNames()
                                        .get(5, TimeUnit.SECONDS).get(topic).partitions().get(0);
                                return partition.leader() != null && partition.leader().id() != leader;
                            });
                    electedAt.set(System.nanoTime());
                } catch (RuntimeException noNewLeader) {
                    // the messages then say "several seconds"
                }
            }, "lab-08-failover");
            failover.setDaemon(true);
            failover.start();
        }

        static Reading reading(int i) {
            return new Reading("sensor-" + i % 6, "hall-" + i, 40 + i % 50);
        }

        static final String TOO_LARGE_VALUE = reading(TOO_LARGE).value();

        /** Failures other than the reading no broker accepts. */
        Map<String, Exception> failover() {
            Map<String, Exception> others = new java.util.LinkedHashMap<>(failed);
            others.remove(TOO_LARGE_VALUE);
            return others;
        }

        List<String> lost() {
            Set<String> present = new java.util.HashSet<>(readBack);
            return acked.keySet().stream().filter(v -> !present.contains(v))
                    .sorted((a, b) -> Integer.compare(number(a), number(b))).toList();
        }

        long ackedWithoutOffset() {
            return acked.values().stream().filter(offset -> offset < 0).count();
        }

        String electionSeconds() {
            long elected = electedAt.get();
            return elected == 0 ? "several seconds" : String.format("about %.0f s", (elected - killedAt.get()) / 1e9);
        }

        static int number(String value) {
            return Integer.parseInt(value.substring("hall-".length(), value.indexOf(',')));
        }

        List<String> readAll() {
            Properties config = new Properties();
            config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster().bootstrapServers());
            config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            List<String> values = new ArrayList<>();
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
                TopicPartition partition = new TopicPartition(topic, 0);
                consumer.assign(List.of(partition));
                consumer.seekToBeginning(List.of(partition));
                long end = consumer.endOffsets(List.of(partition), Duration.ofSeconds(30)).get(partition);
                await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ZERO).until(() -> {
                    for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                        values.add(record.value());
                    }
                    return consumer.position(partition) >= end;
                });
            }
            return values;
        }

        /** The lab's producer, with every send and every outcome recorded by reading. */
        final class Watched extends ForwardingProducer<String, String> {
            Watched(Producer<String, String> real) {
                super(real);
            }

            @Override
            public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
                return send(record, null);
            }

            @Override
            public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
                String value = record.value();
                sends.computeIfAbsent(value, v -> new AtomicInteger()).incrementAndGet();
                if (value.equals(TOO_LARGE_VALUE)) {
                    RecordTooLargeException refused = new RecordTooLargeException("The message is larger than the topic's max.message.bytes");
                    CompletableFuture<RecordMetadata> result = new CompletableFuture<>();
                    super.send(new ProducerRecord<>(sinkTopic, record.key(), value), (metadata, exception) -> {
                        failed.putIfAbsent(value, refused);
                        if (callback != null) {
                            callback.onCompletion(new RecordMetadata(new TopicPartition(record.topic(), 0), -1, 0, -1, -1, -1), refused);
                        }
                        result.completeExceptionally(refused);
                    });
                    return result;
                }
                return super.send(record, (metadata, exception) -> {
                    if (exception == null) {
                        acked.put(value, metadata.hasOffset() ? metadata.offset() : -1L);
                        if (frozen) {
                            ackedWhileFrozen.incrementAndGet();
                        }
                    } else {
                        failed.putIfAbsent(value, exception);
                    }
                    if (callback != null) {
                        callback.onCompletion(metadata, exception);
                    }
                });
            }
        }
    }
}
