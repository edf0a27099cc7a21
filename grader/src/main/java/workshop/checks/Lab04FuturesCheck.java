package workshop.checks;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
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
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Reading;
import workshop.check.ForwardingProducer;
import workshop.check.LabCheck;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 04: the learner's CompletableFuture adapter, batch and dependent send, run through watched
 * real producers. A {@link HeldSends} producer keeps the records of chosen topics back until the
 * checker releases them: to the learner's code, a broker that has not answered yet. While records
 * are held, the checker looks at every thread of the JVM: none may stay inside the lab's code,
 * parked, sleeping or spinning, because nothing it could wait for can happen.
 */
class Lab04FuturesCheck extends LabCheck {

    static final int READINGS = 30;
    static final int SENSORS = 4;
    /** How long a call into the lab may take to return a future: it should take milliseconds. */
    static final Duration RETURNS_WITHIN = Duration.ofSeconds(5);
    /** How long records stay held while the checker watches what the lab's code does meanwhile. */
    static final Duration HELD_WINDOW = Duration.ofMillis(300);
    /** A thread inside the lab's code this long, with nothing acknowledged, is waiting for an ack. */
    static final Duration STUCK = Duration.ofMillis(250);
    static final Duration SAMPLE_EVERY = Duration.ofMillis(20);
    /** Not a whole number of seconds: a timeout truncated to seconds, or read in another unit, shows. */
    static final Duration STALL_TIMEOUT = Duration.ofMillis(1_500);
    /** How much later than its timeout a stalled batch may fail: scheduling on a loaded machine. */
    static final Duration STALL_GRACE = Duration.ofSeconds(3);
    static final Duration BATCH_TIMEOUT = Duration.ofSeconds(15);
    /** Records already on the topics before the alert check, so that no offset is 0 by chance. */
    static final int EARLIER_READINGS = 7;
    static final int EARLIER_ALERTS = 3;
    /** Readings in the failing batch, and which one fails: not the first, not the last. */
    static final int FAILING_BATCH = 7;
    static final int FAILING_READING = 3;

    static final String IO_THREAD = "kafka-producer-network-thread";
    /** Above every wait inside a check, so that a slow broker fails a check with the checker's message, not as a hang. */
    static final int CHECK_BOUND_SECONDS = 60;

    static Map<String, String> topics;
    static CompletableFuture<KafkaConsumer<String, String>> readerReady;
    static final List<WatchedProducer> watched = new CopyOnWriteArrayList<>();
    static final List<Producer<String, String>> toClose = new CopyOnWriteArrayList<>();
    static final Reading humid = new Reading("sensor-3", "cellar", 91);

    /** The failure the checker injects, one instance per scenario, so it is recognised by identity. */
    static final RecordTooLargeException singleFailure = injected();
    static final RecordTooLargeException batchFailure = injected();
    static final RecordTooLargeException readingFailure = injected();
    static Scenario<RecordMetadata> failedSingle;
    static Scenario<List<RecordMetadata>> failedBatch;
    static Scenario<RecordMetadata> failedAlert;
    static HeldSends failedAlertSends;

    static Scenario<List<RecordMetadata>> stalled;
    static HeldSends stalledSends;
    static WatchedProducer stalledProducer;

    /** The set-up is the checker's own work: on a broker slow to answer, it fails as the checker's, never as the lab's. */
    @BeforeAll
    @Timeout(90)
    static void topicsAndEarlierRecords() {
        // The reader starts meanwhile: a consumer's start-up costs as much as the topics.
        readerReady = CompletableFuture.supplyAsync(Lab04FuturesCheck::newReader);
        try {
            CompletableFuture.runAsync(Lab04FuturesCheck::createTopicsAndEarlierRecords).get(60, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException("The checker could not create its topics and earlier records within 60 s: "
                                            + "is the broker overloaded?", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("The checker could not create its topics and earlier records: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while setting up", e);
        }
    }

    static void createTopicsAndEarlierRecords() {
        // Each scenario has a producer of its own, so the failing scenarios share one topic; the stalled
        // batch never reaches the broker, so it shares the batch's topic.
        topics = createTopics(Map.of(
                "single", 1, "injected-failures", 1, "batch", 3, "failing", 2,
                "readings", 3, "alerts", 1, "failing-alerts", 1));
        KafkaProducer<String, String> earlier = new KafkaProducer<>(fastConfig());
        try {
            for (int i = 0; i < EARLIER_READINGS; i++) {
                earlier.send(new ProducerRecord<>(topics.get("readings"), humid.key(), "cellar," + (60 + i)));
            }
            for (int i = 0; i < EARLIER_ALERTS; i++) {
                earlier.send(new ProducerRecord<>(topics.get("alerts"), "sensor-0", "an earlier alert"));
            }
        } finally {
            earlier.close(Duration.ofSeconds(30)); // sends what it holds first, within a bound
        }
    }

    @AfterAll
    static void closeProducers() {
        toClose.forEach(Lab04FuturesCheck::closeInBackground);
        if (readerReady != null) {
            readerReady.thenAccept(reader -> reader.close(CloseOptions.timeout(Duration.ZERO)));
        }
    }

    @Test
    @Order(1)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("sendAsync returns at once, and its future completes only when the broker acknowledges")
    void futureCompletesOnTheAck() {
        String topic = topics.get("single");
        HeldSends held = heldSends(fastConfig()).hold(topic);
        WatchedProducer producer = watch(held, topic);
        ThreadWatch threads = new ThreadWatch();
        CompletableFuture<RecordMetadata> future = callWithin("sendAsync", producer, new ProducerRecord<>(topic, "sensor-7", "garage,81"));
        assertThat(future).as("sendAsync returned null instead of a CompletableFuture").isNotNull();
        requireNoFlush(producer, "sendAsync");
        threads.requireNoneStuck(HELD_WINDOW, future::isDone, "the record");
        if (future.isDone()) {
            fail("sendAsync's future completed (" + outcome(future) + ") while the record was still held back, before the "
                 + "broker acknowledged anything. Complete it in the send's callback, with the metadata the callback "
                 + "receives: that is the acknowledgement");
        }
        if (held.heldCount(topic) != 1) {
            fail("sendAsync should send the record once; it sent it %d times", held.heldCount(topic));
        }
        held.releaseAll();
        try {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).until(future::isDone);
        } catch (ConditionTimeoutException e) {
            fail("The broker acknowledged the record, but sendAsync's future is still pending 10 s later: complete it "
                 + "in the send's callback (future.complete(metadata))");
        }
        if (future.isCompletedExceptionally()) {
            fail("The broker acknowledged the record, yet the future failed: " + outcome(future));
        }
        RecordMetadata metadata = future.join();
        assertThat(metadata).as("The future completed with null: complete it with the metadata the callback receives").isNotNull();
        ConsumerRecord<String, String> landed = readAll(topic).stream()
                .filter(r -> r.partition() == metadata.partition() && r.offset() == metadata.offset())
                .findFirst().orElse(null);
        if (landed == null) {
            fail("The future's metadata says partition %d, offset %d, where the broker holds no such record: complete "
                 + "it with the metadata the callback receives", metadata.partition(), metadata.offset());
        }
    }

    @Test
    @Order(2)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("a failed send completes the future exceptionally, with the send's own exception")
    void failedSendFailsTheFuture() {
        startFailureScenarios();
        CompletableFuture<RecordMetadata> future = failedSingle.future("sendAsync");
        try {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).until(future::isDone);
        } catch (ConditionTimeoutException e) {
            fail("The checker failed the send, and 10 s later sendAsync's future is still pending: in the callback, "
                 + "when exception != null, call future.completeExceptionally(exception)");
        }
        if (!future.isCompletedExceptionally()) {
            fail("The checker failed the send with a RecordTooLargeException, but the future completed normally (%s): "
                 + "the failure is swallowed, and whoever waits on it believes the record is stored. "
                 + "Call future.completeExceptionally(exception) when exception != null", outcome(future));
        }
        Throwable seen = unwrap(future.handle((value, error) -> error).join());
        if (seen != singleFailure) {
            fail("The future failed with " + seen + "; it should fail with the send's own exception (" + singleFailure
                 + (inChain(seen, singleFailure) ? "), not wrapped in another: callers test the cause (is it retriable?)"
                                                 : "), which is lost: callers cannot tell what went wrong (and whether a retry could help)")
                 + ". completeExceptionally(exception)");
        }
    }

    @Test
    @Order(3)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("sendAll completes with every record's metadata, in the order of the readings")
    void batchInInputOrder() {
        startStalledBatch();
        String topic = topics.get("batch");
        List<Reading> readings = Reading.sample(READINGS, SENSORS);
        HeldSends held = heldSends(fastConfig()).hold(topic);
        WatchedProducer producer = watch(held, topic);
        ThreadWatch threads = new ThreadWatch();
        long start = System.nanoTime();
        CompletableFuture<List<RecordMetadata>> batch = callWithin("sendAll", producer, topic, readings, BATCH_TIMEOUT);
        assertThat(batch).as("sendAll returned null instead of a CompletableFuture").isNotNull();
        requireNoFlush(producer, "sendAll");
        threads.requireNoneStuck(HELD_WINDOW, batch::isDone, "the readings");
        if (batch.isDone()) {
            Throwable error = batch.handle((value, e) -> unwrap(e)).join();
            if (error instanceof TimeoutException) {
                fail("sendAll's future failed with a TimeoutException after %d ms, though its timeout was %d s: use the "
                     + "timeout as given, in its unit (timeout.toMillis() with TimeUnit.MILLISECONDS)",
                        Duration.ofNanos(System.nanoTime() - start).toMillis(), BATCH_TIMEOUT.toSeconds());
            }
            fail("sendAll's future completed (" + outcome(batch) + ") while every reading was still held back, before "
                 + "the broker acknowledged anything. Complete it once allOf over the sends' futures has completed");
        }
        if (held.heldCount(topic) != READINGS) {
            fail("sendAll should send each of the %d readings once; it sent %d records", READINGS, held.heldCount(topic));
        }
        // Acknowledge one sensor at a time, the last sensor first: acks arrive in another order than the
        // sends, as they do when partitions answer at different speeds. Each key keeps its own order.
        for (int sensor = SENSORS - 1; sensor >= 0; sensor--) {
            String key = "sensor-" + sensor;
            int released = held.release(r -> key.equals(r.key()));
            try {
                await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(5)).until(() -> held.acked() >= held.forwarded());
            } catch (ConditionTimeoutException e) {
                throw new IllegalStateException("The broker did not acknowledge " + released + " released records of " + key
                                                + " within 10 s", e);
            }
        }
        List<RecordMetadata> acknowledged = waitFor(batch, Duration.ofSeconds(10), "sendAll's future");
        assertThat(acknowledged).as("sendAll should complete with one RecordMetadata per reading").hasSize(READINGS);
        Map<String, String> landed = new HashMap<>();
        for (ConsumerRecord<String, String> r : readAll(topic)) {
            landed.put(r.partition() + "@" + r.offset(), r.key() + "=" + r.value());
        }
        for (int i = 0; i < READINGS; i++) {
            RecordMetadata metadata = acknowledged.get(i);
            assertThat(metadata).as("Metadata #%d is null", i).isNotNull();
            String where = metadata.partition() + "@" + metadata.offset();
            String expected = readings.get(i).key() + "=" + readings.get(i).value();
            if (!expected.equals(landed.get(where))) {
                fail("Metadata #%d says partition %d, offset %d, where the broker holds %s; it should be reading #%d (%s). "
                     + "The results must be in the order of the readings, whatever the order of the acknowledgements "
                     + "(the checker acknowledged the sensors one at a time, the last sensor first). Read them from "
                     + "your list of futures, in order, once allOf has completed",
                        i, metadata.partition(), metadata.offset(), landed.get(where), i, expected);
            }
        }
        for (int i = 0; i < READINGS; i++) {
            String key = readings.get(i).key();
            int partition = acknowledged.get(i).partition();
            if (partition != partitionOf(key, 3)) {
                fail("Reading #%d (%s) landed on partition %d, where Kafka's default partitioner puts key %s (the murmur2 "
                     + "hash of its bytes, modulo 3): partition %d. Send each reading with its key and no partition of "
                     + "your own, so that every reading of a sensor lands on one partition, in order",
                        i, key, partition, key, partitionOf(key, 3));
            }
        }
    }

    @Test
    @Order(4)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("a failed send fails sendAll's future, and the caller can see the send's exception")
    void failedSendFailsTheBatch() {
        startFailureScenarios();
        CompletableFuture<List<RecordMetadata>> future = failedBatch.future("sendAll");
        try {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).until(future::isDone);
        } catch (ConditionTimeoutException e) {
            fail("The checker failed reading #%d of a batch of %d, the others were acknowledged, and 10 s later sendAll's "
                 + "future is still pending", FAILING_READING, FAILING_BATCH);
        }
        if (!future.isCompletedExceptionally()) {
            fail("The checker failed reading #%d of a batch of %d, but sendAll's future completed normally (%s): the "
                 + "failure is swallowed, and the caller believes every reading is stored. Let allOf's failure reach "
                 + "the caller: no exceptionally or handle that turns it into a result", FAILING_READING, FAILING_BATCH, outcome(future));
        }
        Throwable seen = future.handle((value, error) -> error).join();
        if (!inChain(seen, batchFailure)) {
            fail("sendAll's future failed with %s, and the send's own exception (%s) is not among its causes: the caller "
                 + "cannot tell what went wrong. Let allOf's failure through as it is, or wrap it with the exception as "
                 + "the cause", LabCheckMessages.chain(unwrap(seen)), batchFailure);
        }
    }

    @Test
    @Order(5)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("the alert is sent once its reading is stored, and carries the reading's partition and offset")
    void alertCarriesTheReadingsOffset() {
        String readingTopic = topics.get("readings");
        String alertTopic = topics.get("alerts");
        Properties config = fastConfig();
        // A send() that waits on the producer's I/O thread must fail this check in seconds.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 2_000);
        HeldSends held = heldSends(config).hold(readingTopic).hold(alertTopic);
        WatchedProducer producer = watch(held, readingTopic);
        producer.partitionsFor(readingTopic); // not the alert topic's: that one is the lab's to fetch
        ThreadWatch threads = new ThreadWatch();
        CompletableFuture<RecordMetadata> alert = callWithin("sendWithAlert", producer, readingTopic, alertTopic, humid);
        assertThat(alert).as("sendWithAlert returned null instead of a CompletableFuture").isNotNull();
        requireNoFlush(producer, "sendWithAlert");

        // 1. The reading is held: nothing can know its offset yet, so no alert may go out.
        threads.requireNoneStuck(HELD_WINDOW, () -> alert.isDone() || held.sentTo(alertTopic) > 0, "the reading");
        if (held.sentTo(alertTopic) > 0) {
            fail("sendWithAlert sent the alert while its reading was still held back, before the broker acknowledged it: "
                 + "the reading had no offset yet, so the alert's partition and offset are made up. Send the alert in a "
                 + "stage that runs once the reading's future has completed, with the metadata it completed with");
        }
        if (alert.isDone()) {
            fail("sendWithAlert's future completed (" + outcome(alert) + ") while the reading was still held back: it "
                 + "should complete with the alert's own metadata, once the alert is acknowledged");
        }
        if (held.heldCount(readingTopic) != 1) {
            fail("sendWithAlert should send the reading once; it sent it %d times. Send it once, and chain the alert on "
                 + "the future of that very send", held.heldCount(readingTopic));
        }

        // 2. The reading is acknowledged: the alert should follow, without any thread waiting for it.
        held.releaseTopic(readingTopic);
        threads.requireNoneStuck(Duration.ofSeconds(10), Duration.ofSeconds(10), () -> alert.isDone() || held.sentTo(alertTopic) > 0,
                "the alert (its reading was acknowledged)");
        if (held.sentTo(alertTopic) == 0) {
            if (alert.isDone()) {
                waitFor(alert, Duration.ZERO, "sendWithAlert's future"); // says why it failed
                fail("sendWithAlert's future completed (" + outcome(alert) + ") without sending an alert: it should "
                     + "complete with the alert's own metadata. Return the future of the second send");
            }
            fail("The reading was acknowledged, but no alert was sent within 10 s: chain the alert's send on the "
                 + "reading's future (thenComposeAsync)");
        }
        threads.requireNoneStuck(HELD_WINDOW, alert::isDone, "the alert");
        if (alert.isDone()) {
            fail("sendWithAlert's future completed (" + outcome(alert) + ") while the alert was still held back: it "
                 + "should complete with the alert's own metadata, once the alert is acknowledged. Return the future "
                 + "of the second send (thenCompose), not the reading's");
        }

        // 3. The alert is acknowledged: it must point at the reading where the broker stored it.
        held.releaseAll();
        RecordMetadata returned = waitFor(alert, Duration.ofSeconds(10), "sendWithAlert's future");
        List<ConsumerRecord<String, String>> stored = readAll(readingTopic).stream()
                .filter(r -> r.value().equals(humid.value())).toList();
        assertThat(stored).as("The reading %s=%s should be on the topic once", humid.key(), humid.value()).hasSize(1);
        ConsumerRecord<String, String> reading = stored.get(0);
        List<ConsumerRecord<String, String>> alerts = readAll(alertTopic).stream()
                .filter(r -> humid.key().equals(r.key())).toList();
        assertThat(alerts).as("One alert for %s should be on the alert topic", humid.key()).hasSize(1);
        ConsumerRecord<String, String> sent = alerts.get(0);
        assertThat(header(sent, "reading-partition") + "@" + header(sent, "reading-offset"))
                .as("The alert should point at partition %d, offset %d, where the broker stored the reading: send it "
                    + "with alertFor(alertTopic, reading, metadata), using the metadata of the reading's acknowledgement",
                        reading.partition(), reading.offset())
                .isEqualTo(reading.partition() + "@" + reading.offset());
        assertThat(returned).as("sendWithAlert's future completed with null: it should complete with the alert's own metadata").isNotNull();
        assertThat(returned.topic() + "@" + returned.partition() + "/" + returned.offset())
                .as("sendWithAlert should complete with the alert's own metadata (%s, offset %d), not the reading's: "
                    + "return the future of the second send", alertTopic, sent.offset())
                .isEqualTo(alertTopic + "@" + sent.partition() + "/" + sent.offset());
    }

    @Test
    @Order(6)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("a failed reading fails sendWithAlert's future with the send's exception, and sends no alert")
    void failedReadingFailsTheAlert() {
        startFailureScenarios();
        CompletableFuture<RecordMetadata> future = failedAlert.future("sendWithAlert");
        try {
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10)).until(future::isDone);
        } catch (ConditionTimeoutException e) {
            fail("The checker failed the reading's send, and 10 s later sendWithAlert's future is still pending");
        }
        int alerts = failedAlertSends.sentTo(topics.get("failing-alerts"));
        assertThat(alerts)
                .as("The checker failed the reading's send, yet sendWithAlert sent %d alert(s): an alert must point at a "
                    + "stored reading. Send it only once the reading's future has completed normally", alerts)
                .isZero();
        if (!future.isCompletedExceptionally()) {
            fail("The checker failed the reading's send, but sendWithAlert's future completed normally (%s): the "
                 + "failure is swallowed, and the caller believes reading and alert are stored", outcome(future));
        }
        Throwable seen = future.handle((value, error) -> error).join();
        if (!inChain(seen, readingFailure)) {
            fail("sendWithAlert's future failed with %s, and the reading's own exception (%s) is not among its causes: "
                 + "the caller cannot tell what went wrong. A failed stage passes its exception on to thenCompose's "
                 + "future as it is: no exceptionally or handle that replaces it", LabCheckMessages.chain(unwrap(seen)), readingFailure);
        }
    }

    @Test
    @Order(7)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("a batch the broker does not acknowledge fails with a TimeoutException after its timeout")
    void stalledBatchTimesOut() {
        startStalledBatch();
        CompletableFuture<List<RecordMetadata>> future = stalled.future("sendAll");
        requireNoFlush(stalledProducer, "sendAll");
        Duration bound = STALL_TIMEOUT.plus(STALL_GRACE);
        Duration left = bound.minus(stalled.elapsed());
        if (!future.isDone() && !left.isNegative() && !left.isZero()) {
            try {
                await().atMost(left).pollInterval(Duration.ofMillis(10)).until(future::isDone);
            } catch (ConditionTimeoutException e) {
                // said below, with the time it has been pending
            }
        }
        if (!future.isDone()) {
            fail("With no acknowledgement coming, sendAll's future was still pending %.1f s later, though its timeout was "
                 + "%.1f s: nothing bounds the wait, or the bound is far longer than given (a timeout read in the wrong "
                 + "unit, such as toMillis() with TimeUnit.SECONDS). Bound it: .orTimeout(timeout.toMillis(), "
                 + "TimeUnit.MILLISECONDS)", stalled.elapsed().toMillis() / 1000.0, STALL_TIMEOUT.toMillis() / 1000.0);
        }
        Duration took = stalled.tookToComplete();
        if (!future.isCompletedExceptionally()) {
            fail("No record was acknowledged, yet sendAll's future completed normally after %d ms (%s). A batch that "
                 + "timed out must fail, so the caller knows: orTimeout, not completeOnTimeout, and no exceptionally "
                 + "or handle that turns the failure into a result", took.toMillis(), outcome(future));
        }
        Throwable seen = future.handle((value, error) -> error).join();
        if (!inChain(seen, TimeoutException.class)) {
            fail("The stalled batch failed with %s; it should fail with a java.util.concurrent.TimeoutException (as "
                 + "orTimeout does), or with an exception caused by one, so the caller can tell a timeout from a failed send",
                    LabCheckMessages.chain(unwrap(seen)));
        }
        if (took.compareTo(STALL_TIMEOUT.multipliedBy(9).dividedBy(10)) < 0 || took.compareTo(bound) > 0) {
            fail("The stalled batch failed after %d ms, though its timeout was %d ms: use the timeout as given, "
                 + "in its unit (timeout.toMillis() with TimeUnit.MILLISECONDS)", took.toMillis(), STALL_TIMEOUT.toMillis());
        }
    }

    @Test
    @Order(8)
    @Timeout(CHECK_BOUND_SECONDS)
    @DisplayName("no thread waits on a send: no get(), no flush()")
    void nothingWaits() {
        int onIoThread = watched.stream().mapToInt(WatchedProducer::getsOnIoThread).sum();
        assertThat(onIoThread)
                .as("get() was called %d times on the producer's I/O thread, inside a callback or a stage it ran. "
                    + "That thread is the one that would complete the Future: chain with thenCompose instead", onIoThread)
                .isZero();
        int gets = watched.stream().mapToInt(p -> p.unboundedGets() + p.boundedGets()).sum();
        assertThat(gets)
                .as("Your code called get() on %d send Futures. Each parks a thread until the broker answers: wrapping "
                    + "send().get() in supplyAsync (or a Scala Future, or withContext(IO)) only moves the wait to a "
                    + "thread of its own. Complete a CompletableFuture in the send's callback instead", gets)
                .isZero();
        int flushes = watched.stream().mapToInt(WatchedProducer::flushes).sum();
        assertThat(flushes)
                .as("Your code called flush() (%d times): it blocks the caller until every buffered record is acknowledged. "
                    + "Return the future and let the callbacks complete it", flushes)
                .isZero();
    }

    // ---- scenarios that run alongside the checks ----

    /** Three sends the checker fails, started together: each check reads its own outcome. */
    static synchronized void startFailureScenarios() {
        if (failedSingle != null) {
            return;
        }
        String sink = topics.get("injected-failures");
        String single = topics.get("failing");
        WatchedProducer singleProducer = watch(heldSends(fastConfig()), single).failing(single, Set.of(0), sink, () -> singleFailure);
        singleProducer.partitionsFor(sink); // a failed send travels there: metadata first, so that send() never waits
        failedSingle = Scenario.start(() -> callWithin("sendAsync", singleProducer, new ProducerRecord<>(single, "sensor-7", "garage,81")));

        String batch = topics.get("failing");
        WatchedProducer batchProducer = watch(heldSends(fastConfig()), batch)
                .failing(batch, Set.of(FAILING_READING), sink, () -> batchFailure);
        batchProducer.partitionsFor(sink);
        failedBatch = Scenario.start(() -> callWithin("sendAll", batchProducer, batch, Reading.sample(FAILING_BATCH, SENSORS), BATCH_TIMEOUT));

        String readings = topics.get("failing");
        String alerts = topics.get("failing-alerts");
        failedAlertSends = heldSends(fastConfig());
        WatchedProducer alertProducer = watch(failedAlertSends, readings).failing(readings, Set.of(0), sink, () -> readingFailure);
        alertProducer.partitionsFor(sink);
        alertProducer.partitionsFor(alerts); // an alert sent by mistake is counted, never stuck on metadata
        failedAlert = Scenario.start(() -> callWithin("sendWithAlert", alertProducer, readings, alerts, humid));
    }

    /** A batch held back for good: its timeout must fire. Started early, so that its wait overlaps other checks. */
    static synchronized void startStalledBatch() {
        if (stalled != null) {
            return;
        }
        String topic = topics.get("batch");
        stalledSends = heldSends(fastConfig()).hold(topic);
        stalledProducer = watch(stalledSends, topic);
        stalled = Scenario.start(() -> callWithin("sendAll", stalledProducer, topic, Reading.sample(5, SENSORS), STALL_TIMEOUT));
    }

    /** A lab call started now, its outcome and when its future completed. */
    static final class Scenario<T> {
        final long started = System.nanoTime();
        final AtomicLong completedAt = new AtomicLong();
        CompletableFuture<T> future;
        Throwable thrown;

        static <T> Scenario<T> start(java.util.function.Supplier<CompletableFuture<T>> call) {
            Scenario<T> scenario = new Scenario<>();
            try {
                scenario.future = call.get();
                if (scenario.future != null) {
                    scenario.future.whenComplete((value, error) -> scenario.completedAt.compareAndSet(0, System.nanoTime()));
                }
            } catch (Throwable e) {
                scenario.thrown = e;
            }
            return scenario;
        }

        CompletableFuture<T> future(String method) {
            rethrow(thrown);
            assertThat(future).as("%s returned null instead of a CompletableFuture", method).isNotNull();
            return future;
        }

        Duration elapsed() {
            return Duration.ofNanos(System.nanoTime() - started);
        }

        Duration tookToComplete() {
            long at = completedAt.get();
            return Duration.ofNanos((at == 0 ? System.nanoTime() : at) - started);
        }
    }

    // ---- helpers ----

    /**
     * Calls the lab's method, which should only start work and return a future: at once. A call that
     * does not return is left running on its own daemon thread, and the message says where it waits.
     */
    @SuppressWarnings("unchecked")
    static <T> T callWithin(String method, Object... args) {
        CompletableFuture<Object> result = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            try {
                result.complete(lab().call(method, args));
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, "checker-calls-" + method);
        caller.setDaemon(true);
        caller.start();
        try {
            return (T) result.get(RETURNS_WITHIN.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            rethrow(e.getCause());
            throw new IllegalStateException(e);
        } catch (TimeoutException e) {
            StackTraceElement[] stack = caller.getStackTrace();
            int at = ThreadWatch.labFrame(stack);
            StackTraceElement line = at >= 0 ? ThreadWatch.sourceFrame(stack, at) : null;
            String where = at > 0 ? ": it waits in " + ThreadWatch.calleeName(stack[at - 1]) + " at " + lab().file() + ":"
                                    + line.getLineNumber() + " (" + ThreadWatch.methodName(line) + ")" : "";
            throw new AssertionError(method + " did not return within " + RETURNS_WITHIN.toSeconds() + " s, while the "
                    + "broker had not yet acknowledged the records" + where + ". It waited for the acknowledgement (a "
                    + "get(), join() or flush()): return the CompletableFuture at once and complete it in the send's callback");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while calling " + method, e);
        }
    }

    /** The checker may wait for a result; the learner's code may not. */
    static <T> T waitFor(CompletableFuture<T> future, Duration bound, String what) {
        try {
            return future.get(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not complete within " + bound.toSeconds() + " s of the last "
                    + "acknowledgement, with the broker up: does it wait for something that never completes?");
        } catch (ExecutionException e) {
            Throwable cause = unwrap(e);
            String why = cause instanceof TimeoutException
                    ? " Your own timeout fired before the broker could answer: use the timeout as given, in its unit"
                    : cause instanceof org.apache.kafka.common.errors.TimeoutException
                    ? " A send() in a stage that runs on the producer's I/O thread waits for metadata that only that thread "
                      + "can fetch (up to max.block.ms). Run that stage elsewhere: thenComposeAsync"
                    : "";
            throw new AssertionError(what + " failed with " + LabCheckMessages.chain(cause) + ", with the broker up." + why, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while waiting for " + what, e);
        }
    }

    static void requireNoFlush(WatchedProducer producer, String method) {
        if (producer.flushes() > 0) {
            fail("%s called flush(): that blocks its caller until every buffered record is acknowledged. "
                 + "Return the future without flushing: the callbacks complete it", method);
        }
    }

    static Properties fastConfig() {
        Properties config = producerConfig();
        // The checker's acks should come as soon as the checker releases a record: no batching delay.
        config.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        return config;
    }

    static HeldSends heldSends(Properties config) {
        HeldSends held = new HeldSends(new KafkaProducer<>(config));
        toClose.add(held);
        return held;
    }

    static WatchedProducer watch(Producer<String, String> producer, String topic) {
        WatchedProducer watching = new WatchedProducer(producer).watching(topic);
        watched.add(watching);
        watching.partitionsFor(topic); // metadata first, so that send() itself never waits
        return watching;
    }

    /** Creates all topics of the run with one request: unique names, keyed by their base name. */
    static Map<String, String> createTopics(Map<String, Integer> partitions) {
        Map<String, String> names = new LinkedHashMap<>();
        List<NewTopic> requests = new ArrayList<>();
        partitions.forEach((base, count) -> {
            String name = uniqueName(base);
            names.put(base, name);
            requests.add(new NewTopic(name, count, (short) 1));
        });
        try (Admin admin = admin()) {
            admin.createTopics(requests).all().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not create its topics: " + e, e);
        }
        return names;
    }

    /** The checker's one reader: a consumer per read would cost a start-up and a connection each time. */
    static KafkaConsumer<String, String> newReader() {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // Assigned partitions, no group: nothing to join, nothing to commit.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Every record asked for is already on the broker: an empty fetch need not wait long.
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 50);
        return new KafkaConsumer<>(config);
    }

    /** Every record on the topic now: reads up to its end offsets, so it never waits for records that may not come. */
    static synchronized List<ConsumerRecord<String, String>> readAll(String topic) {
        KafkaConsumer<String, String> reader;
        try {
            reader = readerReady.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not start its reader within 30 s: " + e, e);
        }
        List<TopicPartition> partitions = reader.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                .map(p -> new TopicPartition(topic, p.partition())).toList();
        reader.assign(partitions);
        // The checker's topics are new: every partition starts at offset 0.
        partitions.forEach(p -> reader.seek(p, 0));
        Map<TopicPartition, Long> ends = reader.endOffsets(partitions, Duration.ofSeconds(30));
        List<ConsumerRecord<String, String>> records = new ArrayList<>();
        try {
            await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ZERO).until(() -> {
                reader.poll(Duration.ofMillis(100)).forEach(records::add);
                return partitions.stream().allMatch(p -> reader.position(p) >= ends.get(p));
            });
        } catch (ConditionTimeoutException e) {
            throw new IllegalStateException("The checker could not read " + topic + " up to its end offsets " + ends
                                            + " within 15 s", e);
        }
        return records;
    }

    /** A producer whose I/O thread the lab's code may have blocked would block close() too. */
    static void closeInBackground(Producer<String, String> producer) {
        Thread closer = new Thread(() -> producer.close(Duration.ZERO), "checker-close");
        closer.setDaemon(true);
        closer.start();
    }

    /** The partition Kafka's default partitioner picks for a String key: murmur2 of its UTF-8 bytes. */
    static int partitionOf(String key, int partitions) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
    }

    static RecordTooLargeException injected() {
        return new RecordTooLargeException("The record is larger than the topic accepts (failure chosen by the checker)");
    }

    static Throwable unwrap(Throwable error) {
        Throwable seen = error;
        while ((seen instanceof CompletionException || seen instanceof ExecutionException) && seen.getCause() != null) {
            seen = seen.getCause();
        }
        return seen;
    }

    static boolean inChain(Throwable error, Throwable wanted) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t == wanted) {
                return true;
            }
        }
        return false;
    }

    static boolean inChain(Throwable error, Class<? extends Throwable> wanted) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (wanted.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    static String outcome(CompletableFuture<?> future) {
        if (!future.isDone()) {
            return "still pending";
        }
        return future.handle((value, error) -> error == null ? "with " + value : "with " + unwrap(error)).join();
    }

    static String header(ConsumerRecord<String, String> record, String name) {
        Header header = record.headers().lastHeader(name);
        return header == null ? "(no " + name + " header)" : new String(header.value(), StandardCharsets.UTF_8);
    }

    /** The exception chain as the grader prints it elsewhere. */
    static final class LabCheckMessages {
        static String chain(Throwable error) {
            return workshop.check.LearnerMessages.chain(error).replace("\n      ", ", ");
        }
    }

    /**
     * Watches every thread of this JVM while the lab's records are held: a thread that stays inside
     * the lab's code (parked, sleeping or spinning) with nothing acknowledged is waiting for an
     * acknowledgement. Threads already inside the lab's code when the watch began are another
     * check's: they are left out.
     */
    static final class ThreadWatch {
        private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
        private final Set<Long> before = new HashSet<>();

        ThreadWatch() {
            for (ThreadInfo info : THREADS.dumpAllThreads(false, false)) {
                if (labFrame(info.getStackTrace()) >= 0) {
                    before.add(info.getThreadId());
                }
            }
        }

        /** Watches for {@code window}, or until {@code done}; longer while a thread inside the lab's code may be stuck. */
        void requireNoneStuck(Duration window, BooleanSupplier done, String held) {
            requireNoneStuck(window, window.plus(STUCK).plus(STUCK), done, held);
        }

        void requireNoneStuck(Duration min, Duration max, BooleanSupplier done, String held) {
            long start = System.nanoTime();
            Map<Long, Long> insideSince = new HashMap<>();
            Map<Long, Integer> samples = new HashMap<>();
            // The last sample that caught each thread waiting: a polling loop is sometimes caught between two sleeps.
            Map<Long, ThreadInfo> waiting = new HashMap<>();
            while (true) {
                long now = System.nanoTime();
                Set<Long> inside = new HashSet<>();
                for (ThreadInfo info : THREADS.dumpAllThreads(false, false)) {
                    if (info == null || before.contains(info.getThreadId())) {
                        continue;
                    }
                    StackTraceElement[] stack = info.getStackTrace();
                    int at = labFrame(stack);
                    if (at < 0 || sendingElsewhere(info, stack, at)) {
                        continue;
                    }
                    long id = info.getThreadId();
                    inside.add(id);
                    long since = insideSince.computeIfAbsent(id, k -> now);
                    int seen = samples.merge(id, 1, Integer::sum);
                    if (info.getThreadState() != Thread.State.RUNNABLE) {
                        waiting.put(id, info);
                    }
                    if (now - since >= STUCK.toNanos() && seen >= 3) {
                        ThreadInfo shown = waiting.getOrDefault(id, info);
                        fail(describe(shown, shown.getStackTrace(), labFrame(shown.getStackTrace()), Duration.ofNanos(now - since), held));
                    }
                }
                insideSince.keySet().retainAll(inside);
                samples.keySet().retainAll(inside);
                waiting.keySet().retainAll(inside);
                long elapsed = now - start;
                boolean enough = elapsed >= min.toNanos() && insideSince.isEmpty();
                if (elapsed >= max.toNanos() || enough || (done.getAsBoolean() && insideSince.isEmpty())) {
                    return;
                }
                try {
                    Thread.sleep(SAMPLE_EVERY.toMillis()); // the sampling rate of the watch, not a wait for an effect
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("Interrupted while watching the lab's threads", e);
                }
            }
        }

        /** A send() on another thread than the I/O thread may wait for metadata: bounded, and the producer's to fetch. */
        private static boolean sendingElsewhere(ThreadInfo info, StackTraceElement[] stack, int at) {
            if (info.getThreadName().startsWith(IO_THREAD) || at == 0) {
                return false;
            }
            StackTraceElement callee = stack[at - 1];
            return callee.getClassName().equals(WatchedProducer.class.getName())
                   && (callee.getMethodName().equals("send") || callee.getMethodName().equals("partitionsFor"));
        }

        /** The topmost frame of the lab's own code (lab classes live in the default package), or -1. */
        static int labFrame(StackTraceElement[] stack) {
            for (int i = 0; i < stack.length; i++) {
                if (stack[i].getClassName().indexOf('.') < 0) {
                    return i;
                }
            }
            return -1;
        }

        private static String describe(ThreadInfo info, StackTraceElement[] stack, int at, Duration inside, String held) {
            StackTraceElement frame = sourceFrame(stack, at);
            StackTraceElement callee = at > 0 ? stack[at - 1] : null;
            String waitsIn = callee == null ? "its own code" : calleeName(callee);
            boolean sleeping = callee != null && callee.getClassName().equals(Thread.class.getName());
            boolean ioThread = info.getThreadName().startsWith(IO_THREAD);
            String how = switch (info.getThreadState()) {
                case RUNNABLE -> "busy";
                case BLOCKED -> "blocked on a lock";
                default -> sleeping ? "sleeping" : "parked";
            };
            String where = "in " + waitsIn + " at " + lab().file() + ":" + frame.getLineNumber() + " (" + methodName(frame) + ")";
            for (int i = at + 1; i < stack.length; i++) {
                if (isSourceFrame(stack[i]) && !methodName(stack[i]).equals(methodName(frame))) {
                    where += ", called from " + lab().file() + ":" + stack[i].getLineNumber() + " (" + methodName(stack[i]) + ")";
                    break;
                }
            }
            String who = ioThread ? "the producer's I/O thread" : "thread \"" + info.getThreadName() + "\"";
            String seen = "While the checker held back " + held + ", " + who + " stayed " + how + " inside your code for "
                          + inside.toMillis() + " ms, " + where + ". ";
            if (ioThread && callee != null && callee.getMethodName().equals("send")) {
                return seen + "A send() on the I/O thread waits for metadata that only that thread can fetch (up to "
                       + "max.block.ms), and stalls every other send meanwhile: the stage after sendAsync runs on that "
                       + "thread. Run the stage that sends elsewhere: thenComposeAsync";
            }
            if (ioThread) {
                return seen + "That thread runs the stages after sendAsync, and it is the one that reads the acknowledgement "
                       + "being waited for: it waits for the thread it blocks, and the producer stops for good. Chain the "
                       + "next future with thenCompose (thenComposeAsync if it calls send()) and never wait in a stage";
            }
            return seen + "A thread held for the whole round trip, one per record in flight, is the wait a CompletableFuture "
                   + "exists to avoid: wrapping a wait in supplyAsync or an ...Async stage (or a Scala Future, or "
                   + "withContext(IO)) only moves it to a thread of its own. Complete the future in the send's callback, "
                   + "and chain the next step with thenCompose: no get(), join() or sleep";
        }

        /** A frame of the lab's own source: not the hidden class of a lambda or method reference, which has no line. */
        static boolean isSourceFrame(StackTraceElement frame) {
            return frame.getClassName().indexOf('.') < 0 && !frame.getClassName().contains("$$Lambda") && frame.getLineNumber() >= 0;
        }

        /** The first frame of the lab's source at or below {@code at}: where the learner reads the line. */
        static StackTraceElement sourceFrame(StackTraceElement[] stack, int at) {
            for (int i = at; i < stack.length; i++) {
                if (isSourceFrame(stack[i])) {
                    return stack[i];
                }
            }
            return stack[at];
        }

        /** The lab's method a frame belongs to, also when it is a lambda inside it. */
        static String methodName(StackTraceElement frame) {
            String name = frame.getMethodName();
            return name.startsWith("lambda$") ? name.split("\\$")[1] : name;
        }

        static String calleeName(StackTraceElement callee) {
            String type = callee.getClassName();
            String method = callee.getMethodName();
            if (type.startsWith(WatchedProducer.class.getName() + "$") && method.equals("get")) {
                return "get() on the send's Future";
            }
            if (type.equals(WatchedProducer.class.getName())) {
                return method + "()";
            }
            return type.substring(type.lastIndexOf('.') + 1) + "." + method + "()";
        }
    }

    /**
     * A real producer that keeps the records of chosen topics back until the checker releases them:
     * an acknowledgement that has not come yet. A held send still waits for its topic's metadata, as
     * a real send does; a released record travels to the broker, and its callback runs on the real
     * producer's I/O thread.
     */
    static final class HeldSends extends ForwardingProducer<String, String> {

        private record Held(ProducerRecord<String, String> record, Callback callback, CompletableFuture<RecordMetadata> result) {
        }

        private final KafkaProducer<String, String> delegate;
        private final Set<String> holding = ConcurrentHashMap.newKeySet();
        private final List<Held> held = new ArrayList<>();
        private final Map<String, AtomicInteger> sent = new ConcurrentHashMap<>();
        private final Map<String, AtomicInteger> everHeld = new ConcurrentHashMap<>();
        private final AtomicInteger forwarded = new AtomicInteger();
        private final AtomicInteger acked = new AtomicInteger();

        HeldSends(KafkaProducer<String, String> delegate) {
            super(delegate);
            this.delegate = delegate;
        }

        HeldSends hold(String topic) {
            holding.add(topic);
            return this;
        }

        /** Sends the held records that match, in the order they were sent. Their topics stay held. */
        int release(Predicate<ProducerRecord<String, String>> which) {
            List<Held> due = new ArrayList<>();
            synchronized (this) {
                for (Held h : List.copyOf(held)) {
                    if (which.test(h.record())) {
                        due.add(h);
                        held.remove(h);
                    }
                }
            }
            due.forEach(this::forward);
            return due.size();
        }

        /** Stops holding the topic and sends what it held: to the lab's code, the broker answers now. */
        int releaseTopic(String topic) {
            synchronized (this) {
                holding.remove(topic);
            }
            return release(r -> r.topic().equals(topic));
        }

        void releaseAll() {
            synchronized (this) {
                holding.clear();
            }
            release(r -> true);
        }

        int sentTo(String topic) {
            return sent.getOrDefault(topic, new AtomicInteger()).get();
        }

        int heldCount(String topic) {
            return everHeld.getOrDefault(topic, new AtomicInteger()).get();
        }

        int forwarded() {
            return forwarded.get();
        }

        int acked() {
            return acked.get();
        }

        private void forward(Held h) {
            forwarded.incrementAndGet();
            delegate.send(h.record(), (metadata, exception) -> {
                acked.incrementAndGet();
                try {
                    if (h.callback() != null) {
                        h.callback().onCompletion(metadata, exception);
                    }
                } finally {
                    if (exception == null) {
                        h.result().complete(metadata);
                    } else {
                        h.result().completeExceptionally(exception);
                    }
                }
            });
        }

        @Override
        public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
            return send(record, null);
        }

        @Override
        public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
            sent.computeIfAbsent(record.topic(), t -> new AtomicInteger()).incrementAndGet();
            if (holding.contains(record.topic())) {
                try {
                    delegate.partitionsFor(record.topic()); // a real send waits for metadata too, up to max.block.ms
                } catch (ApiException e) {
                    // As a real send reports it: to the callback and the Future, not thrown.
                    if (callback != null) {
                        callback.onCompletion(new RecordMetadata(new TopicPartition(record.topic(), -1), -1, -1, -1, -1, -1), e);
                    }
                    return CompletableFuture.failedFuture(e);
                }
                synchronized (this) {
                    if (holding.contains(record.topic())) {
                        everHeld.computeIfAbsent(record.topic(), t -> new AtomicInteger()).incrementAndGet();
                        Held h = new Held(record, callback, new CompletableFuture<>());
                        held.add(h);
                        return h.result();
                    }
                }
            }
            return delegate.send(record, callback);
        }

    }
}
