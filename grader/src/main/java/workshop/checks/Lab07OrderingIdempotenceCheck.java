package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.DescribeProducersResult.PartitionProducerState;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.OrderEvent;
import workshop.SendCounts;
import workshop.check.LabCheck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Lab 07: one run of the learner's sendAll, with the learner's recordFor and producerConfig, on a
 * producer that reaches the broker through a proxy that loses one acknowledgement: the broker
 * writes the batch, the producer never hears so, and retries it (a NetworkException). Then facts
 * about what landed (keys, partitions, order, duplicates) and what the broker tracks for the
 * producer (its id and sequence numbers, per partition).
 *
 * <p>637 events of 9 orders over 5 partitions (the lab uses 4), in batches of 512 bytes so that
 * many requests carry each partition's events and keyless records change partition often.
 */
class Lab07OrderingIdempotenceCheck extends LabCheck {

    static final int EVENTS = 637;
    static final int ORDERS = 9;
    static final int PARTITIONS = 5;
    /** Far above what any right answer needs, even under load; far below delivery.timeout.ms. */
    static final Duration CALL_BOUND = Duration.ofSeconds(30);

    static String topic;
    static List<OrderEvent> events;
    static Properties config;
    static Throwable configThrew;
    static KafkaException constructionFailed;
    static Lab07LostAcksProxy proxy;
    static SendCounts counts;
    static Throwable sendThrew;
    static String hung;
    static double retries;
    static List<ConsumerRecord<String, String>> landed = List.of();
    static Map<TopicPartition, PartitionProducerState> producers = Map.of();

    @BeforeAll
    // Every wait inside is bounded on its own; this only has to outlast them on a loaded machine.
    @Timeout(90)
    static void sendThroughALostAcknowledgement() throws Exception {
        topic = uniqueName("order-events");
        createTopicsAndWait(Map.of(topic, PARTITIONS));
        events = OrderEvent.sample(EVENTS, ORDERS);
        proxy = new Lab07LostAcksProxy(bootstrapServers(), 1, 4);
        try {
            // TODO 1 first, as the lab's main meets it.
            lab().call("recordFor", topic, events.get(0));
            config = new Properties();
            config.putAll(lab().<Properties>call("producerConfig", proxy.bootstrapServers()));
        } catch (Throwable e) {
            configThrew = e;
            return;
        }
        Properties steered = new Properties();
        steered.putAll(config);
        // The checker's: small batches, so many requests carry each partition's events.
        steered.put(ProducerConfig.BATCH_SIZE_CONFIG, 512);
        KafkaProducer<String, String> producer;
        try {
            producer = new KafkaProducer<>(steered);
        } catch (KafkaException e) {
            constructionFailed = e;
            return;
        }
        CompletableFuture<SendCounts> result = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                result.complete(lab().call("sendAll", producer, topic, events));
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, "lab-caller");
        caller.setDaemon(true);
        caller.start();
        try {
            counts = result.get(CALL_BOUND.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            sendThrew = e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            hung = "sendAll did not return within " + CALL_BOUND.toSeconds() + " s";
        }
        retries = producer.metrics().entrySet().stream()
                .filter(e -> e.getKey().name().equals("record-retry-total") && e.getKey().group().equals("producer-metrics"))
                .mapToDouble(e -> ((Number) e.getValue().metricValue()).doubleValue()).sum();
        producer.close(hung == null ? Duration.ofSeconds(5) : Duration.ZERO);
        landed = readToEnd(Duration.ofSeconds(15), topic).get(topic);
        List<TopicPartition> partitions = IntStream.range(0, PARTITIONS).mapToObj(p -> new TopicPartition(topic, p)).toList();
        try (Admin admin = admin()) {
            producers = admin.describeProducers(partitions).all().get(30, TimeUnit.SECONDS);
        }
    }

    @AfterAll
    static void closeProxy() {
        if (proxy != null) {
            proxy.close();
        }
    }

    static void requireProducer() {
        rethrow(configThrew);
        assertThat(config).as("producerConfig returned null instead of the producer's settings").isNotNull();
        if (constructionFailed != null) {
            fail(whyRefused(constructionFailed));
        }
    }

    static void requireLanded() {
        requireProducer();
        if (landed.isEmpty()) {
            rethrow(sendThrew);
            fail("None of the " + EVENTS + " events reached the topic" + (hung == null ? "" : " (" + hung + ")")
                 + ". recordFor must return a record for the topic it is given");
        }
        Set<String> values = events.stream().map(OrderEvent::value).collect(Collectors.toSet());
        List<String> strange = landed.stream().map(ConsumerRecord::value).filter(v -> !values.contains(v)).limit(3).toList();
        assertThat(strange)
                .as("The topic holds records whose value is no event's value(), such as %s: recordFor keeps the value as "
                    + "event.value() (TODO 1)", strange)
                .isEmpty();
    }

    static void requireKeyed() {
        requireLanded();
        assertThat(landed.stream().filter(r -> r.key() == null).count())
                .as("Records without a key landed (see the check \"every event lands with a key\"): key each event by its order (TODO 1)")
                .isZero();
    }

    static void requireReturned() {
        if (hung != null) {
            fail(hung + ": the producer was still retrying (" + (long) retries + " retries so far). The checker lost one "
                 + "acknowledgement of the broker; an idempotent producer retries that batch once and goes on");
        }
        rethrow(sendThrew);
        assertThat(counts).as("sendAll returned null instead of the counts").isNotNull();
    }

    @Test
    @Order(1)
    @DisplayName("producerConfig gives a producer Kafka accepts")
    void producerIsCreated() {
        requireProducer();
    }

    @Test
    @Order(2)
    @DisplayName("every event lands with a key, its value unchanged")
    void everyEventHasAKey() {
        requireLanded();
        long keyless = landed.stream().filter(r -> r.key() == null).count();
        if (keyless > 0) {
            Map<String, TreeSet<Integer>> spread = partitionsByOrder();
            Map.Entry<String, TreeSet<Integer>> widest = spread.entrySet().stream()
                    .max(Comparator.comparingInt(e -> e.getValue().size())).orElseThrow();
            fail(keyless + " of the " + landed.size() + " records have no key (TODO 1). Without a key the producer spreads "
                 + "records over the partitions as it likes: " + widest.getKey() + "'s events landed on partitions "
                 + widest.getValue() + ", and Kafka keeps order only within one partition. Key each record by its order: "
                 + "new ProducerRecord<>(topic, event.orderId(), event.value())");
        }
    }

    @Test
    @Order(3)
    @DisplayName("each order has one key, its own")
    void oneKeyPerOrder() {
        requireKeyed();
        Map<String, TreeSet<String>> keysByOrder = new TreeMap<>();
        landed.forEach(r -> keysByOrder.computeIfAbsent(orderOf(r), k -> new TreeSet<>()).add(r.key()));
        for (Map.Entry<String, TreeSet<String>> order : keysByOrder.entrySet()) {
            if (order.getValue().size() > 1) {
                fail("The events of " + order.getKey() + " carry " + order.getValue().size() + " different keys ("
                     + order.getValue().stream().limit(4).collect(Collectors.joining(", ")) + (order.getValue().size() > 4 ? ", ..." : "")
                     + "), so they land on partitions " + partitionsByOrder().get(order.getKey()) + " and no consumer sees them in "
                     + "order. The key picks the partition: use the same key for every event of an order, event.orderId() (TODO 1)");
            }
        }
        Map<String, List<String>> ordersByKey = new TreeMap<>();
        keysByOrder.forEach((order, keys) -> ordersByKey.computeIfAbsent(keys.first(), k -> new ArrayList<>()).add(order));
        ordersByKey.forEach((key, orders) -> assertThat(orders)
                .as("Orders %s all use the key %s: their events share one partition and one consumer, and the other partitions "
                    + "stay idle. The key is what identifies the entity whose events must stay in order: event.orderId() (TODO 1)",
                        orders, key)
                .hasSize(1));
    }

    @Test
    @Order(4)
    @DisplayName("each order's events land on the partition of its key")
    void onTheKeysPartition() {
        requireKeyed();
        for (ConsumerRecord<String, String> r : landed) {
            int hashed = BuiltInPartitioner.partitionForKey(r.key().getBytes(StandardCharsets.UTF_8), PARTITIONS);
            assertThat(r.partition())
                    .as("The event %s is on partition %d, but the producer's partitioner puts key %s on partition %d of this "
                        + "topic's %d (murmur2 of the key). A partition chosen by hand (hashCode() %% n, a fixed count) "
                        + "disagrees with every other producer of the topic and breaks when partitions are added: leave the "
                        + "partition to the producer (TODO 1)", r.value(), r.partition(), r.key(), hashed, PARTITIONS)
                    .isEqualTo(hashed);
        }
    }

    @Test
    @Order(5)
    @DisplayName("every event lands exactly once, though the broker's acknowledgement of a write was lost")
    void exactlyOnce() {
        requireKeyed();
        requireReturned();
        if (proxy.lostAcks() == 0) {
            if (producers.values().stream().allMatch(p -> p.activeProducers().isEmpty())) {
                fail("The checker meant to lose one of the broker's acknowledgements, but none came. " + idempotenceOff());
            }
            throw new IllegalStateException("The checker could not lose an acknowledgement: " + proxy.produceRequests()
                    + " produce requests, none alone in flight");
        }
        Map<String, List<ConsumerRecord<String, String>>> byValue = new LinkedHashMap<>();
        landed.forEach(r -> byValue.computeIfAbsent(r.value(), v -> new ArrayList<>()).add(r));
        List<List<ConsumerRecord<String, String>>> twice = byValue.values().stream().filter(l -> l.size() > 1).toList();
        if (!twice.isEmpty()) {
            List<ConsumerRecord<String, String>> first = twice.get(0);
            fail(twice.size() + " events landed more than once, " + first.get(0).value() + " at offsets "
                 + first.stream().map(r -> String.valueOf(r.offset())).collect(Collectors.joining(" and ")) + " of partition "
                 + first.get(0).partition() + ". The checker lost one acknowledgement: the broker had written the batch, the "
                 + "producer never heard so and sent it again (" + (long) retries + " records retried), and nothing on the broker "
                 + "recognised the repeat. " + idempotenceOff());
        }
        List<String> missing = events.stream().map(OrderEvent::value).filter(v -> !byValue.containsKey(v)).toList();
        String cause = isZero(config.get(ProducerConfig.RETRIES_CONFIG))
                ? "Your configuration sets retries=0: the producer gives up at the first retriable error, and with "
                  + "enable.idempotence unset it quietly turns idempotence off too. Leave retries at its default (TODO 2)"
                : "A lost acknowledgement is a retriable error: the producer retries it unless its settings forbid it. Leave "
                  + "retries and delivery.timeout.ms at their defaults (TODO 2)";
        assertThat(missing)
                .as("%d of the %d events never landed, such as %s; sendAll counted %d failed sends. %s",
                        missing.size(), EVENTS, missing.stream().limit(3).toList(), counts.failed(), cause)
                .isEmpty();
        assertThat(counts.failed())
                .as("All %d events landed, yet %d sends reported a failure: the producer gave up on the batch whose "
                    + "acknowledgement the checker lost, though the broker had written it. %s", EVENTS, counts.failed(), cause)
                .isZero();
    }

    @Test
    @Order(6)
    @DisplayName("each order's events land in the order they happened, retries included")
    void inOrderPerOrder() {
        requireKeyed();
        requireReturned();
        Map<String, List<Integer>> steps = new TreeMap<>();
        landed.stream()
                .sorted(Comparator.comparingInt((ConsumerRecord<String, String> r) -> r.partition()).thenComparingLong(ConsumerRecord::offset))
                .forEach(r -> steps.computeIfAbsent(orderOf(r), k -> new ArrayList<>()).add(stepOf(r)));
        steps.forEach((order, seen) -> {
            List<Integer> expected = IntStream.range(0, seen.size()).boxed().toList();
            int at = IntStream.range(0, seen.size()).filter(i -> !seen.get(i).equals(expected.get(i))).findFirst().orElse(-1);
            if (at >= 0) {
                // The sentence names the first step out of place: the whole list of steps, twice over, would bury it.
                fail(String.format("%s's events are out of order on the topic: its step %s comes where step %s belongs (position %d). "
                        + "sendAll sends them in order; what reorders them is a retried batch landing after later ones, which an "
                        + "idempotent producer prevents (TODO 2)", order, seen.get(at), at, at));
            }
        });
    }

    @Test
    @Order(7)
    @DisplayName("the broker tracks your producer's id and sequence numbers: idempotence is on")
    void idempotenceIsOn() {
        requireKeyed();
        requireReturned();
        Map<Integer, Long> perPartition = landed.stream().collect(Collectors.groupingBy(ConsumerRecord::partition, TreeMap::new, Collectors.counting()));
        for (Map.Entry<Integer, Long> partition : perPartition.entrySet()) {
            List<ProducerState> active = producers.get(new TopicPartition(topic, partition.getKey())).activeProducers();
            if (active.isEmpty()) {
                fail("The broker tracks no producer id on partition " + partition.getKey() + ", which holds " + partition.getValue()
                     + " of your records. " + idempotenceOff());
            }
            assertThat(active.get(0).lastSequence())
                    .as("On partition %d, which holds %d records, the broker's last sequence number for your producer is %d, "
                        + "not %d: the producer's sequence numbers skipped or repeated", partition.getKey(), partition.getValue(),
                        active.get(0).lastSequence(), partition.getValue() - 1)
                    .isEqualTo(partition.getValue() - 1);
        }
    }

    /** Why the broker tracks no producer id, named only by what the configuration sets. */
    static String idempotenceOff() {
        String acks = String.valueOf(config.get(ProducerConfig.ACKS_CONFIG)).trim();
        Object idempotence = config.get(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG);
        String base = "The broker tracks no producer id and no sequence numbers for your producer: idempotence is off";
        if (idempotence != null && "false".equalsIgnoreCase(String.valueOf(idempotence).trim())) {
            return base + ", because your configuration sets enable.idempotence=false. Set it to true (TODO 2)";
        }
        if (acks.equals("1") || acks.equals("0")) {
            return base + ". Your configuration sets acks=" + acks + ": with enable.idempotence unset, Kafka quietly turns "
                   + "idempotence off instead of failing (it needs acks=all). Use acks=all, and set enable.idempotence=true so "
                   + "that a conflicting setting fails at once (TODO 2)";
        }
        if (isZero(config.get(ProducerConfig.RETRIES_CONFIG))) {
            return base + ". Your configuration sets retries=0: with enable.idempotence unset, Kafka quietly turns idempotence "
                   + "off instead of failing. Leave retries at its default and set enable.idempotence=true (TODO 2)";
        }
        return base + ". Idempotence is the default unless a setting conflicts with it: look for acks, retries or "
               + "max.in.flight.requests.per.connection in producerConfig, and set enable.idempotence=true (TODO 2)";
    }

    static String whyRefused(KafkaException e) {
        String message = String.valueOf(e.getMessage());
        String says = "Kafka refused your producerConfig: " + e.getClass().getSimpleName() + ": " + message;
        if (message.contains("acks")) {
            return says + "\nAn idempotent producer needs acks=all: each write must be on every in-sync replica before "
                   + "it counts. Set acks to \"all\" (TODO 2)";
        }
        if (message.contains("max.in.flight")) {
            return says + "\nThe broker remembers the last 5 batches of each producer and partition, so an idempotent producer "
                   + "may have at most 5 requests in flight per connection (TODO 2)";
        }
        if (message.contains("retries")) {
            return says + "\nAn idempotent producer must retry: leave retries at its default (TODO 2)";
        }
        return says;
    }

    static boolean isZero(Object value) {
        return value != null && String.valueOf(value).trim().equals("0");
    }

    static String orderOf(ConsumerRecord<String, String> r) {
        return r.value().substring(0, r.value().indexOf('#'));
    }

    static int stepOf(ConsumerRecord<String, String> r) {
        return Integer.parseInt(r.value().substring(r.value().indexOf('#') + 1, r.value().indexOf(' ')));
    }

    static Map<String, TreeSet<Integer>> partitionsByOrder() {
        Map<String, TreeSet<Integer>> spread = new TreeMap<>();
        landed.forEach(r -> spread.computeIfAbsent(orderOf(r), k -> new TreeSet<>()).add(r.partition()));
        return spread;
    }
}
