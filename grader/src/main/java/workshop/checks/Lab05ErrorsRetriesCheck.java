package workshop.checks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.InvalidRecordException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.NotEnoughReplicasException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.AlertService;
import workshop.Reading;
import workshop.SendCounts;
import workshop.check.GatedProducer;
import workshop.check.LabCheck;
import workshop.check.LearnerMessages;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 05: the learner's producer configuration, error sorting, callback and shutdown, in two
 * runs side by side.
 *
 * <p>On the grading broker: 38 records, one of them larger than the topic accepts (the broker
 * rejects it: fatal), three failed by the checker with a fatal and two retriable errors (the
 * record still makes its round trip, to a side topic), and an alert service that takes 200 ms on
 * a pool of one thread. The failures come last, so the pool still works when sendAll returns.
 *
 * <p>On a broker of the checker's own: the broker is stopped while records wait and started again
 * (a failure that clears, which the producer must ride out by itself), then stopped for good: the
 * sends must fail within the delivery timeout the lab was asked for, and shutdown must return
 * within its bound although records are still waiting.
 */
class Lab05ErrorsRetriesCheck extends LabCheck {

    static final int READINGS = 37;
    static final int BIG_AT = 34;
    static final int BIG_BYTES = 8_000;
    static final int MAX_MESSAGE_BYTES = 4_096;
    /** Sends to the topic (0-based, in send order) that the checker fails, and with what. */
    static final Set<Integer> INJECTED = Set.of(33, 36, 37);
    static final Duration ALERT_WORK = Duration.ofMillis(200);
    /** Far above a callback that only counts and hands over, even with a GC pause of the own broker in this JVM. */
    static final Duration SLOW_CALLBACK = Duration.ofSeconds(1);
    static final Duration RUN_DELIVERY_TIMEOUT = Duration.ofSeconds(30);
    static final Duration SHUTDOWN_BOUND = Duration.ofSeconds(5);
    static final Duration CALL_BOUND = Duration.ofSeconds(20);
    static final Duration OUTAGE = Duration.ofSeconds(1);
    static final int RESTART_READINGS = 23;
    static final int DEAD_READINGS = 4;
    static final Duration DEAD_DELIVERY_TIMEOUT = Duration.ofSeconds(3);
    /** Far above the delivery timeout plus a loaded machine's delays, far below Kafka's 2-minute default. */
    static final Duration DEAD_SLACK = Duration.ofSeconds(5);
    static final Duration STUCK_DELIVERY_TIMEOUT = Duration.ofSeconds(60);
    static final Duration CLOSE_BOUND = Duration.ofSeconds(1);
    static final Duration CLOSE_SLACK = Duration.ofSeconds(6);
    static final Duration OWN_BROKER_BOUND = Duration.ofSeconds(80);

    // The run on the grading broker.
    static String topic;
    static String dlq;
    static List<ProducerRecord<String, String>> records;
    static Lab05Guard guard;
    static WatchedProducer watched;
    static GatedProducer gated;
    static Alerts alerts;
    static SendCounts counts;
    static int outcomesAtReturn = -1;
    static int alertsFinishedAtShutdown = -1;
    static int alertsStartedAtShutdown = -1;
    static Throwable thrown;
    static String hung;
    static List<ConsumerRecord<String, String>> landed;
    static List<ConsumerRecord<String, String>> dead;

    // The runs on the checker's own broker.
    static Lab05Broker broker;
    static Throwable brokerThrown;
    static Lab05Guard restartGuard;
    static SendCounts restartCounts;
    static Throwable restartThrown;
    static String restartHung;
    static List<ConsumerRecord<String, String>> restartLanded;
    static double outageSeconds;
    static Lab05Guard deadGuard;
    static SendCounts deadCounts;
    static Throwable deadThrown;
    static Duration deadTook;
    static String deadHung;
    static StackTraceElement[] deadIoStack;
    static final String DEAD_CLIENT = "lab05-dead-broker";
    static Duration closeTook;
    static Throwable closeThrown;
    static String closeHung;
    static final List<AutoCloseable> cleanup = new CopyOnWriteArrayList<>();

    /** The runs on the checker's own broker: started with the set-up, awaited by the checks that need them. */
    static CompletableFuture<Void> ownBrokerRuns;

    @BeforeAll
    // Every wait inside is bounded on its own; this only has to outlast them on a loaded machine.
    @Timeout(120)
    static void runOnBothBrokers() {
        // The own broker takes seconds to start: it starts now, beside the run on the grading broker.
        ownBrokerRuns = CompletableFuture.runAsync(Lab05ErrorsRetriesCheck::runOnOwnBroker, daemonPool("lab05-own-broker"));
        runOnGradingBroker();
    }

    static void awaitOwnBroker() {
        try {
            ownBrokerRuns.get(OWN_BROKER_BOUND.toSeconds(), TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            brokerThrown = e.getCause();
        } catch (TimeoutException e) {
            brokerThrown = new IllegalStateException("the checker's own broker and its runs did not finish within "
                    + OWN_BROKER_BOUND.toSeconds() + " s (a very busy machine?)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            brokerThrown = e;
        }
    }

    @AfterAll
    @Timeout(40)
    static void cleanUp() throws InterruptedException {
        List<AutoCloseable> reversed = new ArrayList<>(cleanup);
        java.util.Collections.reverse(reversed);
        Thread closer = new Thread(() -> {
            for (AutoCloseable c : reversed) {
                try {
                    c.close();
                } catch (Exception ignored) {
                    // best effort
                }
            }
        }, "lab05-cleanup");
        closer.setDaemon(true);
        closer.start();
        closer.join(Duration.ofSeconds(30).toMillis());
    }

    // ---------------------------------------------------------------- the grading broker

    static void runOnGradingBroker() {
        topic = uniqueName("readings");
        dlq = topic + ".DLQ";
        String sink = uniqueName("injected-failures");
        createTopics(bootstrapServers(), Map.of(topic, 3, dlq, 1, sink, 1), Map.of(topic, Map.of("max.message.bytes", "" + MAX_MESSAGE_BYTES)));
        records = new ArrayList<>();
        List<Reading> readings = Reading.sample(READINGS, 4);
        for (int i = 0; i < readings.size(); i++) {
            if (i == BIG_AT) {
                records.add(new ProducerRecord<>(topic, "sensor-3", "firmware-dump," + "x".repeat(BIG_BYTES)));
            }
            records.add(new ProducerRecord<>(topic, readings.get(i).key(), readings.get(i).value()));
        }
        alerts = new Alerts();
        // One thread: the failures come at the end of the run, and their work queues up behind one
        // 200 ms alert after another, so some of it is still to do when sendAll returns.
        ExecutorService pool = Executors.newFixedThreadPool(1, named("checker-alert-pool"));
        cleanup.add(pool::shutdownNow);
        try {
            Properties config = lab().call("producerConfig", bootstrapServers(), RUN_DELIVERY_TIMEOUT);
            gated = new GatedProducer(newProducer(config));
            List<Exception> injected = List.of(
                    new InvalidRecordException("The broker's validation rejected this record (failed on purpose by the checker)"),
                    new org.apache.kafka.common.errors.TimeoutException("Expiring 1 record(s) for " + topic
                            + ": 30000 ms has passed since batch creation (failed on purpose by the checker)"),
                    new NotEnoughReplicasException("The broker has fewer in-sync replicas than required, after every retry "
                            + "the producer was allowed (failed on purpose by the checker)"));
            AtomicInteger failures = new AtomicInteger();
            watched = new WatchedProducer(gated).failing(topic, INJECTED, sink,
                    () -> (RuntimeException) injected.get(Math.min(failures.getAndIncrement(), injected.size() - 1)));
            guard = new Lab05Guard(watched);
            cleanup.add(() -> gated.close(Duration.ZERO));
            gated.partitionsFor(topic);
            gated.partitionsFor(sink);
        } catch (Throwable e) {
            thrown = e;
            return;
        }
        Outcome<SendCounts> sent = callBounded("lab05-send-all", CALL_BOUND, () -> lab().call("sendAll", guard, records, alerts, pool));
        outcomesAtReturn = sent.outcomesAtReturn;
        if (sent.hung != null) {
            hung = "sendAll did not return within " + CALL_BOUND.toSeconds() + " s; its thread was " + sent.hung;
            return;
        }
        if (sent.thrown != null) {
            thrown = sent.thrown;
            return;
        }
        counts = sent.value;
        Outcome<Object> shut = callBounded("lab05-shutdown", CALL_BOUND, () -> lab().call("shutdown", guard, pool, SHUTDOWN_BOUND));
        alertsFinishedAtShutdown = alerts.finished.get();
        alertsStartedAtShutdown = alerts.started.get();
        if (shut.hung != null) {
            hung = "shutdown did not return within " + CALL_BOUND.toSeconds() + " s (its bound was " + SHUTDOWN_BOUND.toSeconds()
                   + " s); its thread was " + shut.hung;
            return;
        }
        if (shut.thrown != null) {
            thrown = shut.thrown;
            return;
        }
        gated.close(Duration.ofSeconds(5));
        Map<String, List<ConsumerRecord<String, String>>> read = readToEnd(Duration.ofSeconds(15), topic, dlq);
        landed = read.get(topic);
        dead = read.get(dlq);
    }

    // ---------------------------------------------------------------- the checker's own broker

    static void runOnOwnBroker() {
        try {
            broker = Lab05Broker.start();
            cleanup.add(broker);
            String servers = broker.bootstrapServers();
            String restartTopic = uniqueName("restart");
            String deadTopic = uniqueName("dead");
            createTopics(servers, Map.of(restartTopic, 2, restartTopic + ".DLQ", 1, deadTopic, 1, deadTopic + ".DLQ", 1), Map.of());

            // Producers that know their topics while the broker is reachable, as a running service does.
            KafkaProducer<String, String> restartProducer = newProducer(lab().call("producerConfig", servers, RUN_DELIVERY_TIMEOUT));
            cleanup.add(() -> restartProducer.close(Duration.ZERO));
            restartGuard = new Lab05Guard(restartProducer);
            Properties deadConfig = lab().call("producerConfig", servers, DEAD_DELIVERY_TIMEOUT);
            if (deadConfig != null) {
                deadConfig.put(ProducerConfig.CLIENT_ID_CONFIG, DEAD_CLIENT);
            }
            KafkaProducer<String, String> deadProducer = newProducer(deadConfig);
            cleanup.add(() -> deadProducer.close(Duration.ZERO));
            deadGuard = new Lab05Guard(deadProducer);
            KafkaProducer<String, String> stuckProducer = newProducer(lab().call("producerConfig", servers, STUCK_DELIVERY_TIMEOUT));
            cleanup.add(() -> stuckProducer.close(Duration.ZERO));
            for (KafkaProducer<String, String> p : List.of(restartProducer, deadProducer, stuckProducer)) {
                p.partitionsFor(restartTopic);
                p.partitionsFor(restartTopic + ".DLQ");
                p.partitionsFor(deadTopic);
                p.partitionsFor(deadTopic + ".DLQ");
            }

            // An outage that clears: the broker is unreachable while the records are sent, then back.
            List<ProducerRecord<String, String>> restartRecords = Reading.sample(RESTART_READINGS, 3).stream()
                    .map(r -> new ProducerRecord<>(restartTopic, r.key(), r.value())).toList();
            ExecutorService restartPool = Executors.newFixedThreadPool(2, named("checker-alert-pool"));
            cleanup.add(restartPool::shutdownNow);
            broker.stall();
            long down = System.nanoTime();
            CompletableFuture<Outcome<SendCounts>> restartCall = CompletableFuture.supplyAsync(
                    () -> callBounded("lab05-send-all-outage", Duration.ofSeconds(45),
                            () -> lab().call("sendAll", restartGuard, restartRecords, new Alerts(), restartPool)),
                    daemonPool("lab05-outage-caller"));
            // The outage itself: how long the broker stays away is the scenario, not a wait for an effect.
            Thread.sleep(OUTAGE.toMillis());
            broker.restore();
            outageSeconds = (System.nanoTime() - down) / 1e9;
            Outcome<SendCounts> restart = restartCall.get(60, TimeUnit.SECONDS);
            restartCounts = restart.value;
            restartThrown = restart.thrown;
            restartHung = restart.hung;
            restartProducer.close(Duration.ofSeconds(5));
            restartLanded = read(servers, restartTopic, Duration.ofSeconds(15));

            // A broker that is gone for good.
            broker.stall();
            ExecutorService deadPool = Executors.newFixedThreadPool(2, named("checker-alert-pool"));
            cleanup.add(deadPool::shutdownNow);
            List<ProducerRecord<String, String>> deadRecords = Reading.sample(DEAD_READINGS, 2).stream()
                    .map(r -> new ProducerRecord<>(deadTopic, r.key(), r.value())).toList();
            CompletableFuture<Outcome<SendCounts>> deadCall = CompletableFuture.supplyAsync(
                    () -> callBounded("lab05-send-all-dead", DEAD_DELIVERY_TIMEOUT.plus(DEAD_SLACK),
                            () -> lab().call("sendAll", deadGuard, deadRecords, new Alerts(), deadPool)),
                    daemonPool("lab05-dead-caller"));

            Reading.sample(3, 3).forEach(r -> stuckProducer.send(new ProducerRecord<>(deadTopic, r.key(), r.value())));
            ExecutorService idlePool = Executors.newFixedThreadPool(1, named("checker-alert-pool"));
            cleanup.add(idlePool::shutdownNow);
            Outcome<Object> close = callBounded("lab05-shutdown-stuck", CLOSE_BOUND.plus(CLOSE_SLACK),
                    () -> lab().call("shutdown", stuckProducer, idlePool, CLOSE_BOUND));
            closeTook = close.took;
            closeThrown = close.thrown;
            closeHung = close.hung;

            Outcome<SendCounts> deadOutcome = deadCall.get(30, TimeUnit.SECONDS);
            deadTook = deadOutcome.took;
            deadCounts = deadOutcome.value;
            deadThrown = deadOutcome.thrown;
            deadHung = deadOutcome.hung;
            if (deadHung != null) {
                deadIoStack = Thread.getAllStackTraces().entrySet().stream()
                        .filter(e -> e.getKey().getName().endsWith("| " + DEAD_CLIENT)).map(Map.Entry::getValue).findFirst().orElse(null);
            }
        } catch (Throwable e) {
            brokerThrown = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        }
    }

    // ---------------------------------------------------------------- checks

    @Test
    @Order(1)
    @DisplayName("a failed record is never sent again: the producer already retried it")
    void failedRecordsAreNotResent() {
        failIfResent(guard);
        requireRunOnGradingBroker();
    }

    static void failIfResent(Lab05Guard g) {
        {
            if (g == null || g.firstResent() == null) {
                return;
            }
            String record = g.firstResent();
            Exception error = g.errorOf(record);
            int times = g.sendsPerRecord().get(record);
            String stopped = g.refused() > 0 ? " (the checker refused the " + Lab05Guard.REFUSED_SEND + "rd send: without that, the loop never ends)" : "";
            if (error == null) {
                fail("The record " + shorten(record) + " was sent " + times + " times though it never failed: send each record once");
            }
            if (!(error instanceof RetriableException)) {
                fail("Your code is retrying a fatal error: " + shorten(record) + " failed with " + error.getClass().getSimpleName()
                     + ", which is not retriable, and was sent again" + stopped + ". A fatal error fails the same way every "
                     + "time, so a retry loop never ends. In the callback, park the record on <topic>.DLQ (retriable=false) and return");
            }
            fail("Your code sent " + shorten(record) + " again after it failed with " + error.getClass().getSimpleName() + stopped
                 + ". The producer had already retried it for as long as delivery.timeout.ms allowed: a send of your own starts "
                 + "over, can duplicate the record (the first attempt may have been written) and loops while the cause lasts. "
                 + "Park it on <topic>.DLQ with retriable=true, to replay once the cluster is well");
        }
    }

    @Test
    @Order(2)
    @DisplayName("the slow alert service runs off the producer's I/O thread")
    void alertsRunOffTheIoThread() {
        requireRunOnGradingBroker();
        List<String> onIo = alerts.threads.stream().filter(t -> t.startsWith("kafka-producer-network-thread")).toList();
        if (!onIo.isEmpty()) {
            fail("The alert service ran " + onIo.size() + " time(s) on the producer's I/O thread (" + onIo.get(0) + "), inside "
                 + "the callback: each alert takes " + ALERT_WORK.toMillis() + " ms, and while it runs no send of this producer "
                 + "completes. Hand it to the pool: failurePool.execute(() -> ...)");
        }
        if (gated.waitingCallbacks() > 0) {
            StackTraceElement[] evidence = gated.waitSample();
            fail("In " + gated.waitingCallbacks() + " callback(s) the producer's I/O thread waited (the longest took "
                 + gated.longestWaitingCallback().toMillis() + " ms)" + (evidence == null ? "" : ", " + where(evidence))
                 + ". The alert ran on the pool, but the callback waited for something (likely get() or join() on the alert's "
                 + "future, a latch or a sleep): while it waits, no other send completes. Hand the alert over and return");
        }
        assertThat(watched.slowestCallback())
                .as("The slowest callback took %d ms: it kept the producer's I/O thread busy, and while a callback runs no send "
                    + "completes. Keep callbacks short: count, send to the DLQ, hand the alert to the pool, return",
                        watched.slowestCallback().toMillis())
                .isLessThan(SLOW_CALLBACK);
    }

    @Test
    @Order(3)
    @DisplayName("every record ends acknowledged or in <topic>.DLQ, exactly once")
    void everyRecordEndsAckedOrParked() {
        requireRunOnGradingBroker();
        if (outcomesAtReturn < records.size()) {
            fail("sendAll returned when only " + outcomesAtReturn + " of the " + records.size() + " sends had completed: the "
                 + "callbacks still to come could not park their records or count them. Wait for them before returning: "
                 + "producer.flush() after the loop");
        }
        Map<String, Exception> failedWith = finalOutcomes(guard);
        List<String> expectedAcked = texts(records).stream().filter(r -> failedWith.get(r) == null).toList();
        List<String> expectedParked = texts(records).stream().filter(r -> failedWith.get(r) != null).toList();
        List<String> unexplained = expectedParked.stream()
                .filter(r -> !r.contains("firmware-dump") && !(failedWith.get(r).getMessage() + "").contains("on purpose by the checker"))
                .map(r -> shorten(r) + " (" + failedWith.get(r) + ")").toList();
        assertThat(unexplained)
                .as("These records failed though nothing was wrong with them; only the too-large record and the checker's %d "
                    + "should. Look at producerConfig (TODO 1): the producer must be allowed to retry for the delivery timeout it is given",
                        INJECTED.size())
                .isEmpty();
        List<String> actual = texts(landed);
        assertThat(duplicates(actual))
                .as("These records are on the topic more than once: each should be there once")
                .isEmpty();
        List<String> missing = new ArrayList<>(expectedAcked);
        missing.removeAll(actual);
        assertThat(missing.stream().map(Lab05ErrorsRetriesCheck::shorten).toList())
                .as("These acknowledged records are not on the topic")
                .isEmpty();
        List<String> parkedOnTopic = actual.stream().filter(expectedParked::contains).map(Lab05ErrorsRetriesCheck::shorten).toList();
        assertThat(parkedOnTopic)
                .as("These records failed, yet they are on the topic: a failed record belongs on <topic>.DLQ only")
                .isEmpty();
        List<String> inDlq = texts(dead);
        // Sent but never arrived comes first: with none arrived, "none reached the DLQ" would blame the callback.
        Set<String> attempted = guard.parked().stream().filter(p -> p.topic().equals(dlq)).map(Lab05Guard.Parked::text).collect(Collectors.toSet());
        List<String> lostOnTheWay = expectedParked.stream().filter(r -> !inDlq.contains(r) && attempted.contains(r)).map(Lab05ErrorsRetriesCheck::shorten).toList();
        assertThat(lostOnTheWay)
                .as("Your code sent these failed records to <topic>.DLQ, but they never arrived: most likely the producer was "
                    + "already closed when failurePool sent them. In shutdown, let the pool finish first (shutdown(), "
                    + "awaitTermination(bound)), then close the producer")
                .isEmpty();
        if (dead.isEmpty()) {
            fail("None of the " + expectedParked.size() + " failed records reached <topic>.DLQ (" + dlq + "). In the callback, "
                 + "when exception != null, send new ProducerRecord<>(record.topic() + \".DLQ\", record.key(), record.value())");
        }
        assertThat(duplicates(inDlq)).as("These records are on <topic>.DLQ more than once: park each failed record once").isEmpty();
        List<String> wrongInDlq = inDlq.stream().filter(r -> !expectedParked.contains(r)).map(Lab05ErrorsRetriesCheck::shorten).toList();
        assertThat(wrongInDlq)
                .as("<topic>.DLQ holds records that did not fail (or not with that key and value): park exactly the failed "
                    + "records, with their key and value unchanged")
                .isEmpty();
        List<String> notParked = expectedParked.stream().filter(r -> !inDlq.contains(r))
                .map(r -> shorten(r) + " (" + failedWith.get(r).getClass().getSimpleName() + ")").toList();
        assertThat(notParked).as("These failed records never reached <topic>.DLQ: every failure, fatal or retriable, is parked there").isEmpty();
        for (ConsumerRecord<String, String> r : dead) {
            assertThat(r.headers().lastHeader("error"))
                    .as("The DLQ record %s has no \"error\" header: add the exception's text, so whoever reads the DLQ knows why",
                            shorten(r.key() + "=" + r.value()))
                    .isNotNull();
        }
    }

    @Test
    @Order(4)
    @DisplayName("each DLQ record says whether its error was retriable")
    void dlqRecordsSayRetriableOrNot() {
        requireRunOnGradingBroker();
        checkRetriableHeaders(guard);
    }

    static void checkRetriableHeaders(Lab05Guard g) {
        {
            Map<String, Exception> failedWith = finalOutcomes(g);
            for (Lab05Guard.Parked p : g.parked()) {
                Exception error = failedWith.get(p.text());
                if (error == null) {
                    continue;
                }
                String header = p.headers().get("retriable");
                assertThat(header)
                        .as("The DLQ record for %s has no \"retriable\" header: add \"true\" or \"false\" from isRetriable(exception), "
                            + "so whoever replays the DLQ knows which records may succeed later", shorten(p.text()))
                        .isNotNull();
                boolean retriable = error instanceof RetriableException;
                assertThat(header.strip())
                        .as("%s failed with %s, which %s; its DLQ record says retriable=%s. Look at isRetriable (TODO 2): Kafka marks "
                            + "every error that may clear by itself as a RetriableException",
                                shorten(p.text()), error.getClass().getSimpleName(),
                                retriable ? "is a RetriableException (it may clear by itself)" : "is not retriable (it fails the same way every time)",
                                header)
                        .isEqualToIgnoringCase(Boolean.toString(retriable));
            }
        }
    }

    @Timeout(100)
    @Test
    @Order(7)
    @DisplayName("records that wait out a broker outage are delivered by the producer's own retries")
    void restartIsRiddenOut() {
        requireOwnBroker();
        failIfResent(restartGuard);
        if (restartHung != null) {
            fail("sendAll did not return within 45 s after the checker's broker came back (it was unreachable for " + String.format("%.1f", outageSeconds)
                 + " s); its thread was " + restartHung);
        }
        rethrow(restartThrown);
        Map<String, Exception> failedWith = finalOutcomes(restartGuard);
        List<String> failures = failedWith.entrySet().stream().filter(e -> e.getValue() != null)
                .map(e -> e.getKey() + " (" + e.getValue().getClass().getSimpleName() + " after "
                          + restartGuard.outcomes().stream().filter(o -> o.record().equals(e.getKey())).findFirst()
                                  .map(o -> String.format("%.1f s", o.afterNanos() / 1e9)).orElse("?") + ")")
                .toList();
        assertThat(failures)
                .as("The checker's broker was unreachable for %.1f s and then came back; the producer was configured with "
                    + "producerConfig(servers, %d s), so it should have waited and delivered every record. These failed instead. "
                    + "Look at producerConfig (TODO 1): delivery.timeout.ms must be the delivery timeout it is given",
                        outageSeconds, RUN_DELIVERY_TIMEOUT.toSeconds())
                .isEmpty();
        List<String> expected = Reading.sample(RESTART_READINGS, 3).stream().map(r -> r.key() + "=" + r.value()).toList();
        List<String> actual = texts(restartLanded);
        assertThat(duplicates(actual)).as("After the outage these records are on the topic more than once").isEmpty();
        List<String> missing = new ArrayList<>(expected);
        missing.removeAll(actual);
        assertThat(missing).as("After the outage these records are missing from the topic").isEmpty();
        assertThat(restartCounts)
                .as("sendAll returned %s after the outage: every record was acknowledged", restartCounts)
                .isEqualTo(new SendCounts(RESTART_READINGS, 0));
    }

    @Timeout(100)
    @Test
    @Order(8)
    @DisplayName("with the broker gone, every send fails within delivery.timeout.ms")
    void deadBrokerFailsWithinTheDeliveryTimeout() {
        requireOwnBroker();
        failIfResent(deadGuard);
        if (deadHung != null && deadIoStack != null && Lab02CallbackCheck.waitsForMetadata(deadIoStack)) {
            fail("With the broker gone, a callback's send() waited on the producer's I/O thread for metadata, "
                 + where(deadIoStack) + ". With no broker answering, a Kafka 4 client forgets what it knew "
                 + "about the cluster (it goes back to its bootstrap servers), so send() waits up to max.block.ms (60 s) for "
                 + "metadata; on the I/O thread nothing else runs meanwhile: " + deadGuard.outcomes().size() + " of the "
                 + DEAD_READINGS + " callbacks ran. Hand the DLQ send to failurePool as well");
        }
        if (deadHung != null) {
            fail("With the broker gone and producerConfig(servers, " + DEAD_DELIVERY_TIMEOUT.toSeconds() + " s), sendAll had not "
                 + "returned after " + DEAD_DELIVERY_TIMEOUT.plus(DEAD_SLACK).toSeconds() + " s: the sends did not fail within the "
                 + "delivery timeout (Kafka's default is 2 minutes); " + deadGuard.outcomes().size() + " of the " + DEAD_READINGS
                 + " sends had completed " + deadGuard.outcomes().stream().map(o -> String.format("%.1f s", o.afterNanos() / 1e9)).toList()
                 + ". Its thread was " + deadHung
                 + ". Look at producerConfig (TODO 1): set ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG to deliveryTimeout.toMillis()");
        }
        rethrow(deadThrown);
        List<Lab05Guard.Outcome> outcomes = deadGuard.outcomes();
        for (Lab05Guard.Outcome o : outcomes) {
            assertThat(o.error())
                    .as("With the broker gone, %s was acknowledged: impossible unless it went elsewhere", o.record())
                    .isNotNull();
            assertThat(o.afterNanos())
                    .as("With the broker gone, %s failed after %.1f s with %s, before the delivery timeout of %d s it was given: "
                        + "the producer should keep retrying until delivery.timeout.ms. Look at producerConfig (TODO 1)",
                            o.record(), o.afterNanos() / 1e9, o.error(), DEAD_DELIVERY_TIMEOUT.toSeconds())
                    .isGreaterThanOrEqualTo(DEAD_DELIVERY_TIMEOUT.toNanos() * 8 / 10);
        }
        assertThat(deadCounts)
                .as("With the broker gone, sendAll returned %s after %.1f s: every one of the %d records should fail",
                        deadCounts, deadTook.toNanos() / 1e9, DEAD_READINGS)
                .isEqualTo(new SendCounts(0, DEAD_READINGS));
        checkRetriableHeaders(deadGuard);
    }

    @Test
    @Order(5)
    @DisplayName("the returned counts match what was acknowledged and what failed")
    void countsAreRight() {
        requireRunOnGradingBroker();
        Map<String, Exception> failedWith = finalOutcomes(guard);
        long failed = texts(records).stream().filter(r -> failedWith.get(r) != null).count();
        SendCounts right = new SendCounts((int) (records.size() - failed), (int) failed);
        assertThat(counts)
                .as("sendAll returned %s instead of %s. Likely causes: a callback counts the wrong way, or a plain int lost "
                    + "updates made from the producer's I/O thread (use AtomicInteger)", counts, right)
                .isEqualTo(right);
    }

    @Test
    @Order(6)
    @DisplayName("every failure is alerted once, and shutdown waits for the alerts")
    void everyFailureIsAlertedOnce() {
        requireRunOnGradingBroker();
        Map<String, Exception> failedWith = finalOutcomes(guard);
        List<String> expected = texts(records).stream().filter(r -> failedWith.get(r) != null)
                .map(r -> r.substring(0, r.indexOf('=')) + "/" + failedWith.get(r).getClass().getSimpleName()).sorted().toList();
        List<String> actual = alerts.calls.stream().sorted().toList();
        assertThat(actual)
                .as("Each failed record should be alerted once, with its key and its exception (key/exception below)")
                .containsExactlyElementsOf(expected);
        assertThat(alertsFinishedAtShutdown)
                .as("When shutdown returned, %d of the %d alerts had finished: the others were cut off, and at exit they are "
                    + "lost. In shutdown, first failurePool.shutdown() and awaitTermination(bound), then close the producer",
                        alertsFinishedAtShutdown, expected.size())
                .isEqualTo(expected.size());
    }

    @Timeout(100)
    @Test
    @Order(9)
    @DisplayName("shutdown returns within its bound while records are stuck")
    void shutdownIsBounded() {
        requireOwnBroker();
        if (closeHung != null) {
            boolean flushing = closeHung.contains("flush");
            fail("With 3 records still waiting for a broker that is gone (delivery.timeout.ms = " + STUCK_DELIVERY_TIMEOUT.toSeconds()
                 + " s), shutdown(producer, pool, " + CLOSE_BOUND.toSeconds() + " s) had not returned after "
                 + CLOSE_BOUND.plus(CLOSE_SLACK).toSeconds() + " s; its thread was " + closeHung + ". "
                 + (flushing
                    ? "flush() has no bound: it waits for every record, up to delivery.timeout.ms. close(bound) sends what it can "
                      + "within the bound by itself: call producer.close(bound) without a flush() before it"
                    : "close() with no Duration waits as long as a record may still be retried. Use producer.close(bound)"));
        }
        rethrow(closeThrown);
        assertThat(closeTook)
                .as("shutdown(producer, pool, %d s) took %d ms with records stuck: it should return within its bound",
                        CLOSE_BOUND.toSeconds(), closeTook.toMillis())
                .isLessThan(CLOSE_BOUND.plus(CLOSE_SLACK));
    }

    // ---------------------------------------------------------------- helpers

    static void requireRunOnGradingBroker() {
        if (hung != null) {
            fail(hung);
        }
        if (thrown != null) {
            explainConfigProblem(thrown);
            rethrow(thrown);
        }
        assertThat(counts).as("sendAll returned null instead of the counts").isNotNull();
    }

    static void requireOwnBroker() {
        requireRunOnGradingBroker();
        awaitOwnBroker();
        if (brokerThrown != null) {
            explainConfigProblem(brokerThrown);
            rethrow(brokerThrown);
        }
    }

    static void explainConfigProblem(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConfigException) {
                fail("KafkaProducer refused the configuration from producerConfig: " + t.getMessage()
                     + (t.getMessage() != null && t.getMessage().contains("delivery.timeout.ms")
                        ? ". delivery.timeout.ms covers linger.ms and at least one request: set "
                          + "ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG (30 s by default) below the delivery timeout too"
                        : ". Integer settings take an int (or a String): cast a long from Duration.toMillis()"));
            }
        }
    }

    static KafkaProducer<String, String> newProducer(Properties config) {
        if (config == null) {
            throw new AssertionError("producerConfig returned null instead of the producer's settings");
        }
        return new KafkaProducer<>(config);
    }

    /** Each record's last outcome (null: acknowledged). */
    static Map<String, Exception> finalOutcomes(Lab05Guard g) {
        Map<String, Exception> last = new HashMap<>();
        for (Lab05Guard.Outcome o : g.outcomes()) {
            last.put(o.record(), o.error());
        }
        return last;
    }

    static List<String> texts(List<?> items) {
        List<String> texts = new ArrayList<>();
        for (Object item : items) {
            if (item instanceof ProducerRecord<?, ?> r) {
                texts.add(r.key() + "=" + r.value());
            } else if (item instanceof ConsumerRecord<?, ?> r) {
                texts.add(r.key() + "=" + r.value());
            }
        }
        return texts;
    }

    static List<String> duplicates(List<String> texts) {
        return texts.stream().collect(Collectors.groupingBy(t -> t, LinkedHashMap::new, Collectors.counting()))
                .entrySet().stream().filter(e -> e.getValue() > 1).map(e -> shorten(e.getKey()) + " ×" + e.getValue()).toList();
    }

    static String shorten(String record) {
        return record.length() > 40 ? record.substring(0, 28) + "…(" + record.length() + " chars)" : record;
    }

    static void createTopics(String servers, Map<String, Integer> partitions, Map<String, Map<String, String>> configs) {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        try (Admin admin = Admin.create(config)) {
            admin.createTopics(partitions.entrySet().stream()
                            .map(e -> new NewTopic(e.getKey(), e.getValue(), (short) 1).configs(configs.getOrDefault(e.getKey(), Map.of())))
                            .toList())
                    .all().get(60, TimeUnit.SECONDS);
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20)).ignoreExceptions()
                    .until(() -> admin.describeTopics(partitions.keySet()).allTopicNames().get(5, TimeUnit.SECONDS).size() == partitions.size());
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not create topics " + partitions.keySet() + " on " + servers + ": " + e, e);
        }
    }

    static List<ConsumerRecord<String, String>> read(String servers, String topic, Duration bound) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, servers);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<ConsumerRecord<String, String>> read = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, bound).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, bound);
            await().atMost(bound).pollInterval(Duration.ZERO).until(() -> {
                consumer.poll(Duration.ofMillis(100)).forEach(read::add);
                return partitions.stream().allMatch(p -> consumer.position(p) >= ends.get(p));
            });
        }
        return read;
    }

    /** What a bounded call of the lab's code gave: its value, what it threw, or where it hung. */
    record Outcome<T>(T value, Throwable thrown, String hung, Duration took, int outcomesAtReturn) {
    }

    static <T> Outcome<T> callBounded(String name, Duration bound, Callable<T> call) {
        CompletableFuture<T> result = new CompletableFuture<>();
        int[] atReturn = {-1};
        Thread caller = new Thread(() -> {
            try {
                T value = call.call();
                atReturn[0] = guard == null ? -1 : guard.outcomes().size();
                result.complete(value);
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, name);
        caller.setDaemon(true);
        long start = System.nanoTime();
        caller.start();
        try {
            T value = result.get(bound.toMillis(), TimeUnit.MILLISECONDS);
            return new Outcome<>(value, null, null, Duration.ofNanos(System.nanoTime() - start), atReturn[0]);
        } catch (ExecutionException e) {
            return new Outcome<>(null, e.getCause(), null, Duration.ofNanos(System.nanoTime() - start), atReturn[0]);
        } catch (TimeoutException e) {
            return new Outcome<>(null, null, where(caller.getStackTrace()), bound, atReturn[0]);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Outcome<>(null, e, null, bound, atReturn[0]);
        }
    }

    /** Where a stack stands, as the learner reads it: the checker's wrappers are "the producer". */
    static String where(StackTraceElement[] stack) {
        return Lab02CallbackCheck.where(stack).replace("Lab05Guard.", "producer.");
    }

    static java.util.concurrent.ThreadFactory named(String name) {
        AtomicInteger n = new AtomicInteger();
        return task -> {
            Thread t = new Thread(task, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    static ExecutorService daemonPool(String name) {
        return Executors.newSingleThreadExecutor(named(name));
    }

    /** The checker's alert service: 200 ms of work per call, noting where and for what it ran. */
    static final class Alerts implements AlertService {
        final List<String> calls = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();
        final AtomicInteger started = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();

        @Override
        public void alert(String key, Exception error) {
            started.incrementAndGet();
            calls.add(key + "/" + (error == null ? "null" : error.getClass().getSimpleName()));
            threads.add(Thread.currentThread().getName());
            try {
                Thread.sleep(ALERT_WORK.toMillis());
                finished.incrementAndGet();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
