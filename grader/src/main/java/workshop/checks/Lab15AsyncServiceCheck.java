package workshop.checks;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.RecordHandler;
import workshop.check.LabCheck;
import workshop.check.LabUnderTest;
import workshop.check.LearnerMessages;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 15: the learner's handler runs behind a JDK HttpServer with two server threads, in front of
 * a real producer that the checker can slow down (acknowledgements held) or make fail; the
 * checker's HttpClient posts orders on loopback, every request bounded in time. The worker runs
 * on a thread of its own against a real consumer whose commits the checker watches.
 */
class Lab15AsyncServiceCheck extends LabCheck {

    /** The work per order, as the task fixes it. */
    static final Duration WORK = Duration.ofMillis(100);
    /** The service's p99 bound, as the task fixes it. */
    static final double P99_BOUND_MS = 20;
    static final int CONCURRENT = 200;
    static final int WARM_UP = 50;
    static final int MEASURED_WAVES = 3;
    /** Requests posted while the acknowledgements are held: more than the server has threads, several times over. */
    static final int HELD = 20;
    /** Every request of a check is answered within this, or counts as never answered. */
    static final Duration REQUEST_BOUND = Duration.ofSeconds(10);
    /** How long a free server takes to hand 20 requests to send(): well under a second; a blocked one never does. */
    static final Duration DISPATCH_BOUND = Duration.ofSeconds(5);
    /** A failed send calls back after one round trip; a right answer comes in milliseconds. */
    static final Duration FAILURE_BOUND = Duration.ofSeconds(5);
    static final Pattern ACCEPTED = Pattern.compile("accepted (\\S+) at (.+)-(\\d+)@(\\d+)\\s*");

    private static KafkaProducer<String, String> kafka;
    private static String sink;

    @BeforeAll
    static void producer() {
        sink = uniqueName("orders-failed-on-purpose");
        createTopicNamed(sink, 1);
        Properties config = producerConfig();
        // The client's defaults (acks=all, idempotence, linger.ms=5): the checker's producer, so no setting can buy latency.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
        kafka = new KafkaProducer<>(config);
        kafka.partitionsFor(sink);
    }

    @AfterAll
    static void closeProducer() {
        if (kafka != null) {
            kafka.close(Duration.ofSeconds(5));
        }
    }

    /** A fresh topic of 3 partitions, ready for the lab's sends. */
    private static String ordersTopic() throws Exception {
        String topic = uniqueName("orders");
        createTopicsAndWait(Map.of(topic, 3));
        prime(kafka, topic);
        return topic;
    }

    /**
     * One record per partition, each acknowledged before the next is sent: the producer's first write to a
     * partition it has never written is then alone in flight. (An idempotent producer's first batch to a just
     * created partition can be refused as not ready while its next batch is taken; the broker then never takes
     * the first one, whose sequence number is now behind, and its send hangs until delivery.timeout.ms.)
     */
    private static void prime(org.apache.kafka.clients.producer.Producer<String, String> producer, String topic) throws Exception {
        for (int p = 0; p < 3; p++) {
            String id = PRIMER + "-" + p;
            producer.send(new ProducerRecord<>(topic, p, id, "id=" + id + "&item=none&qty=1")).get(30, TimeUnit.SECONDS);
        }
    }

    static final String PRIMER = "primer";

    private static Lab15OrderProducer producerFor(String topic) {
        return new Lab15OrderProducer(kafka, sink);
    }

    private static String order(String id) {
        return "id=" + id + "&item=book&qty=" + (1 + Math.floorMod(id.hashCode(), 9));
    }

    // ---- TODO 1 -----------------------------------------------------------------------------------

    @Test
    @Order(1)
    @Timeout(60)
    @DisplayName("a malformed order answers 400 and publishes nothing")
    void malformedOrdersAnswer400() throws Exception {
        String topic = ordersTopic();
        Lab15OrderProducer producer = producerFor(topic);
        List<String> malformed = List.of("", "hello", "id=m-1&item=book", "id=m-2&item=book&qty=two", "id=&item=book&qty=1",
                "id=m-3&item=book&qty=0", "id=m-4&item=book&qty=1&id=m-5");
        try (Lab15Server server = new Lab15Server(lab(), producer, topic)) {
            List<Lab15Server.Answer> answers = Lab15Server.all(server.post(malformed, REQUEST_BOUND));
            requireNothingThrown(server, "a malformed body", "TODO 1");
            for (Lab15Server.Answer answer : answers) {
                String shown = answer.body().isEmpty() ? "an empty body" : "the body \"" + answer.body() + "\"";
                if (!answer.answered()) {
                    fail("POST /orders with " + shown + " got no answer within " + REQUEST_BOUND.toSeconds() + " s ("
                         + answer.failure() + "). readOrder must answer it: respond(exchange, 400, ...) and return null (TODO 1)");
                }
                assertThat(answer.status())
                        .as("POST /orders with %s answered %d %s. Order.parse throws IllegalArgumentException for it: the client "
                            + "sent something that is not an order, and sending it again will not help. Answer 400 (TODO 1)",
                                shown, answer.status(), answer.text().strip())
                        .isEqualTo(400);
            }
            assertThat(producer.sent())
                    .as("For %d malformed orders, all answered 400, the lab still called producer.send() %d time(s): %s. "
                        + "Parse first; publish only an order that parsed (TODO 1)", malformed.size(), producer.sends(),
                            producer.sent().stream().map(r -> r.key() + "=" + r.value()).toList())
                    .isEmpty();
        }
    }

    // ---- TODO 2 -----------------------------------------------------------------------------------

    @Test
    @Order(2)
    @Timeout(60)
    @DisplayName("with Kafka's acknowledgements held back, no answer comes and the two server threads stay free; then each order answers 202 with its partition and offset")
    void answers202OnlyAfterTheAck() throws Exception {
        String topic = ordersTopic();
        Lab15OrderProducer producer = producerFor(topic);
        List<String> ids = new ArrayList<>();
        for (int i = 1; i <= HELD; i++) {
            ids.add("h-" + i);
        }
        try (Lab15Server server = new Lab15Server(lab(), producer, topic)) {
            producer.holdAcks();
            List<CompletableFuture<Lab15Server.Answer>> pending;
            long releasedAt;
            try {
                pending = server.post(ids.stream().map(Lab15AsyncServiceCheck::order).toList(), REQUEST_BOUND.plus(DISPATCH_BOUND));
                // Every request handed to send() and every server thread back in the pool, while no acknowledgement can come.
                try {
                    await().atMost(DISPATCH_BOUND).pollInterval(Duration.ofMillis(10))
                            .until(() -> server.handled() >= HELD && server.idle() || !server.thrown().isEmpty());
                } catch (ConditionTimeoutException e) {
                    blockedServer(server, producer);
                }
                requireNothingThrown(server, "an order", "TODO 2");
                // What the lab did, as the server saw it: an answer on its way to the client counts already.
                List<Lab15Server.Seen> early = java.util.stream.IntStream.rangeClosed(1, HELD).mapToObj(server::seen)
                        .filter(s -> s != null && s.status != 0).toList();
                if (!early.isEmpty()) {
                    Lab15Server.Seen first = early.get(0);
                    fail(early.size() + " of " + HELD + " orders were answered while Kafka had acknowledged none of them (the checker "
                         + "held every acknowledgement back), e.g. " + first.status + " for " + first.body + ". A 202 promises the "
                         + "order is stored: answer from the send's callback, once it reports success (TODO 2)");
                }
                if (producer.sends() < HELD) {
                    fail("Only " + producer.sends() + " of " + HELD + " valid orders reached producer.send(), and the others were "
                         + "not answered either. publish must send every order it is given (TODO 2)");
                }
            } finally {
                releasedAt = System.nanoTime();
                producer.release();
            }
            List<Lab15Server.Answer> answers = Lab15Server.all(pending);
            for (Lab15Server.Answer answer : answers) {
                String id = ids.get(answer.number() - 1);
                if (!answer.answered()) {
                    fail("The order " + id + " got no answer within " + REQUEST_BOUND.plus(DISPATCH_BOUND).toSeconds()
                         + " s, although Kafka acknowledged it once the checker released the acknowledgements (" + answer.failure()
                         + "). The send's callback must answer: respond(exchange, 202, accepted(order, metadata)) (TODO 2)");
                }
                assertThat(answer.status())
                        .as("The order %s, acknowledged by Kafka, was answered %d %s. An acknowledged order is accepted: 202 (TODO 2)",
                                id, answer.status(), answer.text().strip())
                        .isEqualTo(202);
                Lab15Server.Seen seen = server.seen(answer.number());
                Long ackedAt = producer.ackedAt(id);
                if (ackedAt == null || seen.answeredAt < ackedAt || seen.answeredAt < releasedAt) {
                    fail("The order " + id + " was answered 202 before its acknowledgement reached the lab"
                         + (ackedAt == null ? " (it never did)" : "") + ". Answer from the send's callback (TODO 2)");
                }
            }
            requireRecordsMatch(producer, topic, ids, answers);
        }
    }

    /** The server did not hand every request to send() while acks were held: say where its threads wait. */
    private static void blockedServer(Lab15Server server, Lab15OrderProducer producer) {
        List<String> waiting = server.waitingInLab();
        if (!waiting.isEmpty()) {
            fail("With Kafka's acknowledgements held back, only " + producer.sends() + " of " + HELD + " orders reached "
                 + "producer.send() in " + DISPATCH_BOUND.toSeconds() + " s: the server's " + Lab15Server.SERVER_THREADS
                 + " threads are waiting inside your code for the acknowledgement:\n  " + String.join("\n  ", waiting)
                 + "\nEvery request that comes meanwhile waits for a thread. Do not wait on the server thread (no get(), join(), "
                 + "flush() or latch): send with a callback and answer from it (TODO 2)");
        }
        fail("With Kafka's acknowledgements held back, only " + producer.sends() + " of " + HELD + " orders reached "
             + "producer.send() in " + DISPATCH_BOUND.toSeconds() + " s, and " + server.handled() + " requests left handleOrder. "
             + "Is a server thread busy (a loop, a sleep)? publish must send and return (TODO 2)");
    }

    private static void requireRecordsMatch(Lab15OrderProducer producer, String topic, List<String> ids, List<Lab15Server.Answer> answers) {
        Map<String, ProducerRecord<String, String>> sentById = new LinkedHashMap<>();
        for (ProducerRecord<String, String> record : producer.sent()) {
            String id = fields(record.value()).getOrDefault("id", String.valueOf(record.key()));
            if (sentById.put(id, record) != null) {
                fail("The order " + id + " was sent twice for one request: send each order once (TODO 2)");
            }
        }
        for (Lab15Server.Answer answer : answers) {
            String id = ids.get(answer.number() - 1);
            ProducerRecord<String, String> record = sentById.get(id);
            assertThat(record).as("No record was sent for the order %s, yet it was answered 202 (TODO 2)", id).isNotNull();
            assertThat(record.topic()).as("The order %s was sent to topic %s, not to the topic publish was given (TODO 2)", id, record.topic())
                    .isEqualTo(topic);
            assertThat(record.key())
                    .as("The order %s was sent with key %s. Key it by the order id, so every event of one order goes to one "
                        + "partition, in order (TODO 2)", id, record.key())
                    .isEqualTo(id);
            assertThat(fields(record.value()))
                    .as("The order %s was posted as \"%s\" but sent as \"%s\": send order.toBody() (TODO 2)", id, answer.body(), record.value())
                    .isEqualTo(fields(answer.body()));
            RecordMetadata metadata = producer.metadata(id);
            Matcher m = ACCEPTED.matcher(answer.text());
            if (!m.matches()) {
                fail("The 202 for " + id + " says \"" + answer.text().strip() + "\". Answer with accepted(order, metadata): the client "
                     + "learns where its order is stored, " + (metadata == null ? "" : metadata.topic() + "-" + metadata.partition()
                     + "@" + metadata.offset() + ", ") + "which only the acknowledgement knows (TODO 2)");
            }
            assertThat(m.group(1) + " at " + m.group(2) + "-" + m.group(3) + "@" + m.group(4))
                    .as("The 202 for %s names another place than where Kafka stored it: pass the callback's metadata to accepted (TODO 2)", id)
                    .isEqualTo(id + " at " + metadata.topic() + "-" + metadata.partition() + "@" + metadata.offset());
        }
    }

    @Test
    @Order(3)
    @Timeout(60)
    @DisplayName("a failed publish answers 503, never 202 or 500, whether the callback reports it or send() throws")
    void failedPublishAnswers503() throws Exception {
        String topic = ordersTopic();
        Lab15OrderProducer producer = producerFor(topic);
        List<String> ids = List.of("f-1", "f-2", "f-3", "f-4", "f-5", "f-6", "f-7");
        Set<String> failAsync = Set.of("f-2", "f-5");
        Set<String> failThrowing = Set.of("f-6");
        producer.failAsync(failAsync);
        producer.failThrowing(failThrowing);
        try (Lab15Server server = new Lab15Server(lab(), producer, topic)) {
            List<Lab15Server.Answer> answers = Lab15Server.all(server.post(ids.stream().map(Lab15AsyncServiceCheck::order).toList(), FAILURE_BOUND));
            // The async failures first: the callback's branch, which every answer has.
            List<String> order = new ArrayList<>(failAsync.stream().sorted().toList());
            order.addAll(failThrowing);
            ids.stream().filter(id -> !order.contains(id)).forEach(order::add);
            for (String id : order) {
                Lab15Server.Answer answer = answers.get(ids.indexOf(id));
                String how = failAsync.contains(id) ? "its send failed in the callback with a TimeoutException (an expired batch, as "
                                                      + "when the broker is away), injected by the checker"
                        : failThrowing.contains(id) ? "send() threw IllegalStateException (as a closed producer does), injected by the checker"
                        : null;
                if (how != null) {
                    failedOrder(server, id, how, answer, failThrowing.contains(id));
                } else {
                    requireNothingThrown(server, "an order", "TODO 2");
                    assertThat(answer.answered() ? answer.status() : 0)
                            .as("The order %s, whose send succeeded, got %s while others failed (TODO 2)", id,
                                    answer.answered() ? answer.status() + " " + answer.text().strip() : "no answer: " + answer.failure())
                            .isEqualTo(202);
                }
            }
        }
    }

    private static void failedOrder(Lab15Server server, String id, String how, Lab15Server.Answer answer, boolean thrownBySend) {
        if (!answer.answered()) {
            Throwable escaped = server.thrown().stream().filter(t -> t.toString().contains(Lab15OrderProducer.FAILED_ON_PURPOSE)
                                                                     || String.valueOf(t.getCause()).contains(Lab15OrderProducer.FAILED_ON_PURPOSE))
                    .findFirst().orElse(null);
            if (thrownBySend && escaped != null) {
                fail("For the order " + id + ", " + how + ", and handleOrder let the exception escape: the client got no answer ("
                     + answer.failure() + "). Catch what send() throws and answer 503 (TODO 2)\n" + LearnerMessages.describe(escaped));
            }
            requireNothingThrown(server, "an order whose publish failed", "TODO 2");
            fail("For the order " + id + ", " + how + "; the client got no answer within " + FAILURE_BOUND.toSeconds() + " s ("
                 + answer.failure() + "). Every request needs an answer: on a failure, respond(exchange, 503, ...) (TODO 2)");
        }
        String seen = answer.status() + " " + answer.text().strip();
        if (answer.status() == 202) {
            fail("For the order " + id + ", " + how + ", yet the client got " + seen + ": the order is not stored, and the client "
                 + "will never send it again. " + (thrownBySend ? "A send() that throws is a failed publish: catch it and answer 503 (TODO 2)"
                        : "Look at the callback's exception: when it is not null, answer 503 (TODO 2)"));
        }
        assertThat(answer.status())
                .as("For the order %s, %s; the client got %s. A failed publish means the service cannot take orders right now: "
                    + "answer 503 Service Unavailable, so the client tries again later (500 says the service is broken, "
                    + "4xx that the client is wrong) (TODO 2)", id, how, seen)
                .isEqualTo(503);
    }

    @Test
    @Order(4)
    @Timeout(90)
    @DisplayName("200 concurrent requests on two server threads, while the work takes 100 ms: p99 is at most 20 ms")
    void latencyUnderLoad() throws Exception {
        String topic = ordersTopic();
        Lab15OrderProducer producer = producerFor(topic);
        AtomicBoolean stop = new AtomicBoolean();
        // The worker does its 100 ms per order meanwhile, as it would in production (checked on its own in the next check).
        Thread worker = startWorker(topic, uniqueName("workers"), record -> Thread.sleep(WORK.toMillis()), stop, new AtomicReference<>());
        try (Lab15Server server = new Lab15Server(lab(), producer, topic)) {
            // A first, smaller wave opens connections and warms the code up. It is not counted, unless it already
            // shows the work inside the request (then waves of 200 would only take 10 s each to say the same).
            Wave warmUp = wave(server, producer, "w0-", WARM_UP);
            requireNothingThrown(server, "an order", "TODO 2");
            warmUp.requireAll202("the first wave");
            Wave measured = warmUp;
            if (warmUp.held(50) < WORK.toMillis() / 2.0) {
                wave(server, producer, "w1-", CONCURRENT).requireAll202("the second wave");
                // Other programs share this machine: a wave they stall is measured again, up to three times. A request
                // that does the work, or waits for Kafka on the server thread, is slow in every wave.
                for (int round = 1; round <= MEASURED_WAVES && (round == 1 || measured.p(99) > P99_BOUND_MS); round++) {
                    Wave next = wave(server, producer, "m" + round + "-", CONCURRENT);
                    requireNothingThrown(server, "an order", "TODO 2");
                    next.requireAll202("a measured wave");
                    measured = round == 1 || next.p(99) < measured.p(99) ? next : measured;
                }
            }
            if (measured.p(99) > P99_BOUND_MS) {
                String why = measured.held(50) >= WORK.toMillis() * 0.9
                        ? String.format("A server thread waited or worked %.0f ms or more on half the requests: as long as the work. Is the "
                                        + "work (fulfil) done in the request? Only publish there: the worker does the work", measured.held(50))
                        : measured.held(99) > P99_BOUND_MS
                        ? String.format("A server thread waited or worked up to %.1f ms on a request (p99): does it wait (for the "
                                        + "acknowledgement, a lock, a sleep)? Send, and return at once", measured.held(99))
                        : String.format("The answers came up to %.1f ms (p99) after Kafka's acknowledgement reached the callback: "
                                        + "answer right in the callback, not later", measured.late(99));
                fail(String.format("%d concurrent requests on %d server threads: the time each request kept a server thread waiting or "
                                   + "working, plus the time from Kafka's acknowledgement to its answer, was p50 %.1f ms, p95 %.1f ms, p99 %.1f ms; at most "
                                   + "%.0f ms expected for p99 (end to end, the client saw p50 %.1f ms, p99 %.1f ms). %s (TODO 2)",
                        measured.size(), Lab15Server.SERVER_THREADS, measured.p(50), measured.p(95), measured.p(99), P99_BOUND_MS,
                        measured.client(50), measured.client(99), why));
            }
        } finally {
            stop.set(true);
            worker.join(5_000);
        }
    }

    /**
     * A wave of requests at once. For each: how long a server thread held it (handleOrder from start to return),
     * how long its answer came after Kafka's acknowledgement reached the lab, and the client's end-to-end time.
     */
    private record Wave(List<Lab15Server.Answer> answers, double[] service, double[] held, double[] late, double[] client) {
        int size() {
            return answers.size();
        }

        double p(int percentile) {
            return at(service, percentile);
        }

        double held(int percentile) {
            return at(held, percentile);
        }

        double late(int percentile) {
            return at(late, percentile);
        }

        double client(int percentile) {
            return at(client, percentile);
        }

        void requireAll202(String which) {
            long unanswered = answers.stream().filter(a -> !a.answered()).count();
            if (unanswered > 0) {
                fail(unanswered + " of " + answers.size() + " concurrent requests in " + which + " got no answer within "
                     + REQUEST_BOUND.toSeconds() + " s (" + answers.stream().filter(a -> !a.answered()).findFirst().get().failure()
                     + "). Does a server thread wait (for the acknowledgement, a lock) or do the work? (TODO 2)");
            }
            answers.stream().filter(a -> a.status() != 202).findFirst().ifPresent(a ->
                    fail("In " + which + " of " + answers.size() + " concurrent valid orders, " + a.body() + " got " + a.status()
                         + " " + a.text().strip() + ": every acknowledged order is 202 (TODO 2)"));
        }
    }

    private static Wave wave(Lab15Server server, Lab15OrderProducer producer, String prefix, int requests) {
        List<String> bodies = new ArrayList<>();
        for (int i = 1; i <= requests; i++) {
            bodies.add(order(prefix + i));
        }
        List<Lab15Server.Answer> answers = Lab15Server.all(server.post(bodies, REQUEST_BOUND));
        List<double[]> times = new ArrayList<>();
        for (Lab15Server.Answer answer : answers) {
            Lab15Server.Seen s = server.seen(answer.number());
            Long ackedAt = producer.ackedAt(fields(answer.body()).get("id"));
            if (s == null || s.returnedAt == 0 || s.answeredAt == 0) {
                continue;
            }
            double held = s.heldMillis();
            double late = ackedAt == null ? 0 : Math.max(0, (s.answeredAt - ackedAt) / 1e6);
            times.add(new double[] {held + late, held, late});
        }
        return new Wave(answers, sorted(times, 0), sorted(times, 1), sorted(times, 2),
                answers.stream().mapToDouble(Lab15Server.Answer::millis).sorted().toArray());
    }

    private static double[] sorted(List<double[]> times, int column) {
        return times.stream().mapToDouble(t -> t[column]).sorted().toArray();
    }

    static double at(double[] sorted, int percentile) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        return sorted[Math.max(0, (int) Math.ceil(percentile / 100.0 * sorted.length) - 1)];
    }

    // ---- TODO 3 -----------------------------------------------------------------------------------

    /** Orders per partition for the worker: uneven, none a multiple of the batch size. */
    static final int WORKER_ORDERS = 13;
    static final int WORKER_BATCH = 4;
    static final Duration WORKER_BOUND = Duration.ofSeconds(30);

    @Test
    @Order(5)
    @Timeout(75)
    @DisplayName("the worker does each order's work exactly once, and commits only what is done")
    void workerProcessesEachOrderOnce() throws Exception {
        String topic = uniqueName("orders");
        createTopicsAndWait(Map.of(topic, 3));
        String group = uniqueName("workers");
        List<String> ids = new ArrayList<>();
        try (KafkaProducer<String, String> producer = newProducer()) {
            prime(producer, topic);
            for (int i = 1; i <= WORKER_ORDERS; i++) {
                ids.add("o-" + i);
                producer.send(new ProducerRecord<>(topic, "o-" + i, order("o-" + i)));
            }
            producer.flush();
        }
        Map<String, Integer> done = new ConcurrentHashMap<>();
        Set<String> finished = ConcurrentHashMap.newKeySet();
        List<String> commitsAhead = new CopyOnWriteArrayList<>();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> threw = new AtomicReference<>();
        RecordHandler work = record -> {
            Thread.sleep(WORK.toMillis()); // the work: only once it is over is the order done
            done.merge(record.key(), 1, Integer::sum);
            finished.add(record.partition() + "@" + record.offset());
        };
        Thread worker = startWorker(topic, group, work, stop, threw, finished, commitsAhead);
        try {
            await().atMost(WORKER_BOUND).pollInterval(Duration.ofMillis(20))
                    .until(() -> ids.stream().allMatch(done::containsKey) || threw.get() != null || !worker.isAlive());
        } catch (ConditionTimeoutException e) {
            // said below, with what was done
        }
        stop.set(true);
        worker.join(10_000);
        if (threw.get() != null) {
            rethrow(threw.get());
        }
        if (worker.isAlive()) {
            fail("runWorker did not return within 10 s of stop being set, having done " + ids.stream().filter(done::containsKey).count() + " of " + WORKER_ORDERS
                 + " orders. Check stop on every round of the loop and poll with a short timeout (TODO 3)");
        }
        List<String> missing = ids.stream().filter(id -> !done.containsKey(id)).toList();
        if (!missing.isEmpty()) {
            fail("Of " + WORKER_ORDERS + " orders on the topic, the worker did the work of " + (WORKER_ORDERS - missing.size()) + " in "
                 + WORKER_BOUND.toSeconds() + " s; never: " + missing + ". Poll, and hand every record to work.handle (TODO 3)");
        }
        List<String> twice = done.entrySet().stream().filter(e -> e.getValue() > 1).map(e -> e.getKey() + " " + e.getValue() + " times")
                .sorted().toList();
        assertThat(twice).as("The worker did the work of some orders more than once in one run: %s. Hand each polled record to "
                             + "work.handle once, and commit after the work so the next poll moves on (TODO 3)", twice).isEmpty();
        if (!commitsAhead.isEmpty()) {
            fail("The worker committed orders whose work was not done yet: " + commitsAhead.get(0) + ". A crash right then loses "
                 + "those orders: the group resumes after them. Commit after work.handle returned for every record of the batch (TODO 3)");
        }
        Map<Integer, Long> committed = committed(group, topic);
        Map<Integer, Long> ends = ends(topic);
        if (!committed.equals(ends)) {
            fail("After the worker stopped, its group's committed offsets are " + committed + ", the ends of the partitions "
                 + ends + ": a worker that restarts would do the orders in between again. "
                 + (committed.isEmpty() ? "Nothing was committed: commit after the work" : "Commit the offset after the last record done")
                 + " (TODO 3)");
        }
    }

    private static Map<Integer, Long> committed(String group, String topic) throws Exception {
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()
                    .get(30, TimeUnit.SECONDS);
            Map<Integer, Long> byPartition = new TreeMap<>();
            offsets.forEach((tp, om) -> {
                if (om != null && tp.topic().equals(topic)) {
                    byPartition.put(tp.partition(), om.offset());
                }
            });
            return byPartition;
        }
    }

    private static Map<Integer, Long> ends(String topic) throws Exception {
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetSpec> request = new LinkedHashMap<>();
            for (int p = 0; p < 3; p++) {
                request.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            Map<Integer, Long> ends = new TreeMap<>();
            for (Map.Entry<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e : admin.listOffsets(request).all()
                    .get(30, TimeUnit.SECONDS).entrySet()) {
                if (e.getValue().offset() > 0) {
                    ends.put(e.getKey().partition(), e.getValue().offset());
                }
            }
            return ends;
        }
    }

    private static Thread startWorker(String topic, String group, RecordHandler work, AtomicBoolean stop, AtomicReference<Throwable> threw) {
        return startWorker(topic, group, work, stop, threw, null, null);
    }

    /** Runs the lab's worker on a thread of its own, with a real consumer whose commits are compared with the work done. */
    private static Thread startWorker(String topic, String group, RecordHandler work, AtomicBoolean stop, AtomicReference<Throwable> threw,
                                      Set<String> finished, List<String> commitsAhead) {
        LabUnderTest lab = lab();
        Properties config = groupConsumerConfig(group);
        // Small batches: several polls and commits, batches that end mid-partition.
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, WORKER_BATCH);
        Thread worker = new Thread(() -> {
            try (KafkaConsumer<String, String> real = new KafkaConsumer<>(config)) {
                Consumer<String, String> consumer = finished == null ? real : watched(real, finished, commitsAhead);
                lab.call("runWorker", consumer, topic, work, stop);
            } catch (Throwable e) {
                threw.compareAndSet(null, e);
            }
        }, "order-worker");
        worker.setDaemon(true);
        worker.start();
        return worker;
    }

    /** The consumer the worker gets: the real one; each commit is compared with the records whose work is over. */
    private static Consumer<String, String> watched(KafkaConsumer<String, String> real, Set<String> finished, List<String> commitsAhead) {
        @SuppressWarnings("unchecked")
        Consumer<String, String> proxy = (Consumer<String, String>) Proxy.newProxyInstance(
                Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class}, (self, method, args) -> {
                    String name = method.getName();
                    if (name.equals("commitSync") || name.equals("commitAsync")) {
                        Map<TopicPartition, Long> offsets = committing(real, args);
                        offsets.forEach((tp, offset) -> {
                            // Every record below the committed offset must be done; the topic has no gaps (no transactions).
                            for (long o = 0; o < offset; o++) {
                                if (!finished.contains(tp.partition() + "@" + o)) {
                                    commitsAhead.add(name + " committed offset " + offset + " of partition " + tp.partition()
                                                     + " while the work of the record at offset " + o + " was not over");
                                    return;
                                }
                            }
                        });
                    }
                    try {
                        return method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
        return proxy;
    }

    private static Map<TopicPartition, Long> committing(KafkaConsumer<String, String> real, Object[] args) {
        Map<TopicPartition, Long> offsets = new TreeMap<>(java.util.Comparator.comparing(TopicPartition::toString));
        Map<?, ?> given = args == null ? null
                : Arrays.stream(args).filter(a -> a instanceof Map<?, ?>).map(a -> (Map<?, ?>) a).findFirst().orElse(null);
        if (given != null) {
            given.forEach((tp, om) -> offsets.put((TopicPartition) tp, ((OffsetAndMetadata) om).offset()));
        } else {
            for (TopicPartition tp : real.assignment()) {
                offsets.put(tp, real.position(tp, WORKER_BOUND));
            }
        }
        return offsets;
    }

    // ---- shared -----------------------------------------------------------------------------------

    /** What handleOrder threw fails the check, as the learner's exception (or an unfinished TODO). */
    private static void requireNothingThrown(Lab15Server server, String what, String todo) {
        List<Throwable> thrown = server.thrown();
        if (thrown.isEmpty()) {
            return;
        }
        Throwable first = thrown.get(0);
        if (first instanceof AssertionError) {
            throw (AssertionError) first;
        }
        throw new AssertionError("For " + what + ", handleOrder threw, so the client got no answer:\n"
                                 + LearnerMessages.describe(first) + "\n(" + todo + ")", first);
    }

    static Map<String, String> fields(String body) {
        Map<String, String> fields = new TreeMap<>();
        if (body == null) {
            return fields;
        }
        for (String pair : body.strip().split("&")) {
            String[] kv = pair.split("=", 2);
            fields.put(kv[0], kv.length > 1 ? kv[1] : "");
        }
        return fields;
    }
}
