package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Reading;
import workshop.check.LabCheck;
import workshop.check.WatchedProducer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Lab 04: the learner's CompletableFuture adapter, batch and dependent send, run through watched
 * real producers. A "holding" producer (linger.ms of a minute) sends nothing until the checker
 * flushes it: to the learner's code, a broker that has not answered yet.
 */
class Lab04FuturesCheck extends LabCheck {

    static final int READINGS = 30;
    /** How long a call into the lab may take to return a future: it should take milliseconds. */
    static final Duration RETURNS_WITHIN = Duration.ofSeconds(2);
    static final Duration STALL_TIMEOUT = Duration.ofSeconds(3);
    /** Records already on the topics before the alert check, so that no offset is 0 by chance. */
    static final int EARLIER_READINGS = 7;
    static final int EARLIER_ALERTS = 3;

    static String batchTopic;
    static List<Reading> readings;
    static WatchedProducer batchProducer;
    static CompletableFuture<List<RecordMetadata>> batch;
    static Throwable batchThrown;

    static String readingTopic;
    static String alertTopic;
    static Reading humid;
    static WatchedProducer alertProducer;
    static CompletableFuture<RecordMetadata> alert;
    static Throwable alertThrown;

    @BeforeAll
    static void sendBatchAndAlert() {
        batchTopic = createTopic("readings", 3);
        readings = Reading.sample(READINGS, 4);
        batchProducer = new WatchedProducer(new KafkaProducer<>(producerConfig())).watching(batchTopic);
        batchProducer.partitionsFor(batchTopic); // metadata first, so that send() itself never waits
        try {
            batch = callWithin("sendAll", batchProducer, batchTopic, readings, Duration.ofSeconds(15));
        } catch (Throwable e) {
            batchThrown = e;
        }

        readingTopic = createTopic("readings", 3);
        alertTopic = createTopic("alerts", 1);
        humid = new Reading("sensor-3", "cellar", 91);
        try (KafkaProducer<String, String> earlier = newProducer()) {
            for (int i = 0; i < EARLIER_READINGS; i++) {
                earlier.send(new ProducerRecord<>(readingTopic, humid.key(), "cellar," + (60 + i)));
            }
            for (int i = 0; i < EARLIER_ALERTS; i++) {
                earlier.send(new ProducerRecord<>(alertTopic, "sensor-0", "an earlier alert"));
            }
        }
        Properties config = producerConfig();
        // A send() that waits on the producer's I/O thread must fail this check in seconds.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 2_000);
        alertProducer = new WatchedProducer(new KafkaProducer<>(config)).watching(alertTopic);
        alertProducer.partitionsFor(readingTopic); // not the alert topic's: that one is the lab's to fetch
        try {
            alert = callWithin("sendWithAlert", alertProducer, readingTopic, alertTopic, humid);
        } catch (Throwable e) {
            alertThrown = e;
        }
    }

    @AfterAll
    static void closeProducers() {
        closeInBackground(batchProducer);
        closeInBackground(alertProducer);
    }

    @Test
    @Order(1)
    @DisplayName("sendAsync returns at once, and its future completes only when the broker acknowledges")
    void futureCompletesOnTheAck() {
        String topic = createTopic("readings", 1);
        WatchedProducer holding = holdingProducer(topic);
        try {
            ProducerRecord<String, String> record = new ProducerRecord<>(topic, "sensor-7", "garage,81");
            CompletableFuture<RecordMetadata> future = callWithin("sendAsync", holding, record);
            assertThat(future).as("sendAsync returned null instead of a CompletableFuture").isNotNull();
            requireNoFlush(holding, "sendAsync");
            try {
                await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> !future.isDone());
            } catch (ConditionTimeoutException e) {
                fail("sendAsync's future completed (" + outcome(future) + ") while the record was still in the producer's "
                     + "buffer, before the broker acknowledged anything. Complete it in the send's callback, with the "
                     + "metadata the callback receives: that is the acknowledgement");
            }
            within(Duration.ofSeconds(10), holding::flush, "The checker's flush() did not return within 10 s: "
                   + "does your callback block the producer's I/O thread?");
            try {
                await().atMost(Duration.ofSeconds(5)).until(future::isDone);
            } catch (ConditionTimeoutException e) {
                fail("The broker acknowledged the record, but sendAsync's future is still pending 5 s later: complete it "
                     + "in the send's callback (future.complete(metadata))");
            }
            assertThat(future.isCompletedExceptionally())
                    .as("The broker acknowledged the record, yet the future failed: %s", outcome(future)).isFalse();
            RecordMetadata metadata = future.join();
            assertThat(metadata).as("The future completed with null: complete it with the metadata the callback receives").isNotNull();
            ConsumerRecord<String, String> landed = readRecords(topic, 1, Duration.ofSeconds(10)).stream()
                    .filter(r -> r.partition() == metadata.partition() && r.offset() == metadata.offset())
                    .findFirst().orElse(null);
            assertThat(landed)
                    .as("The future's metadata says partition %d, offset %d, where the broker holds no such record: complete "
                        + "it with the metadata the callback receives", metadata.partition(), metadata.offset())
                    .isNotNull();
        } finally {
            closeInBackground(holding);
        }
    }

    @Test
    @Order(2)
    @DisplayName("a failed send completes the future exceptionally, with the send's own exception")
    void failedSendFailsTheFuture() {
        String topic = createTopic("readings", 1);
        String sink = createTopic("injected-failures", 1);
        RecordTooLargeException chosen = new RecordTooLargeException("The record is larger than the topic accepts (failure chosen by the checker)");
        WatchedProducer failing = new WatchedProducer(new KafkaProducer<>(producerConfig())).failing(topic, Set.of(0), sink, () -> chosen);
        failing.partitionsFor(topic);
        failing.partitionsFor(sink); // a failed send travels there: metadata first, so that send() never waits
        try {
            CompletableFuture<RecordMetadata> future = callWithin("sendAsync", failing, new ProducerRecord<>(topic, "sensor-7", "garage,81"));
            assertThat(future).as("sendAsync returned null instead of a CompletableFuture").isNotNull();
            try {
                await().atMost(Duration.ofSeconds(10)).until(future::isDone);
            } catch (ConditionTimeoutException e) {
                fail("The checker failed the send, and 10 s later sendAsync's future is still pending: in the callback, "
                     + "when exception != null, call future.completeExceptionally(exception)");
            }
            assertThat(future.isCompletedExceptionally())
                    .as("The checker failed the send with a RecordTooLargeException, but the future completed normally (%s): "
                        + "the failure is swallowed, and whoever waits on it believes the record is stored. "
                        + "Call future.completeExceptionally(exception) when exception != null", outcome(future))
                    .isTrue();
            Throwable seen = unwrap(future.handle((value, error) -> error).join());
            if (seen != chosen) {
                fail("The future failed with " + seen + "; it should fail with the send's own exception (" + chosen
                     + "), so callers can tell what went wrong (and whether a retry could help): completeExceptionally(exception)");
            }
        } finally {
            closeInBackground(failing);
        }
    }

    @Test
    @Order(3)
    @Timeout(40)
    @DisplayName("sendAll completes with every record's metadata, in the order of the readings")
    void batchInInputOrder() {
        rethrow(batchThrown);
        assertThat(batch).as("sendAll returned null instead of a CompletableFuture").isNotNull();
        List<RecordMetadata> acknowledged = waitFor(batch, Duration.ofSeconds(15), "sendAll's future");
        assertThat(acknowledged).as("sendAll should complete with one RecordMetadata per reading").hasSize(READINGS);
        Map<String, String> landed = new HashMap<>();
        for (ConsumerRecord<String, String> r : readRecords(batchTopic, READINGS, Duration.ofSeconds(15))) {
            landed.put(r.partition() + "@" + r.offset(), r.key() + "=" + r.value());
        }
        for (int i = 0; i < READINGS; i++) {
            RecordMetadata metadata = acknowledged.get(i);
            assertThat(metadata).as("Metadata #%d is null", i).isNotNull();
            String where = metadata.partition() + "@" + metadata.offset();
            assertThat(landed.get(where))
                    .as("Metadata #%d says partition %d, offset %d, where the broker holds %s; it should be reading #%d (%s=%s). "
                        + "The results must be in the order of the readings, not the order the acknowledgements came in: "
                        + "read them from your list of futures once allOf has completed",
                            i, metadata.partition(), metadata.offset(), landed.get(where), i, readings.get(i).key(), readings.get(i).value())
                    .isEqualTo(readings.get(i).key() + "=" + readings.get(i).value());
        }
    }

    @Test
    @Order(4)
    @Timeout(40)
    @DisplayName("the alert is sent once its reading is stored, and carries the reading's partition and offset")
    void alertCarriesTheReadingsOffset() {
        rethrow(alertThrown);
        assertThat(alert).as("sendWithAlert returned null instead of a CompletableFuture").isNotNull();
        RecordMetadata returned = waitFor(alert, Duration.ofSeconds(10), "sendWithAlert's future");
        List<ConsumerRecord<String, String>> stored = readRecords(readingTopic, EARLIER_READINGS + 1, Duration.ofSeconds(10)).stream()
                .filter(r -> r.value().equals(humid.value())).toList();
        assertThat(stored).as("The reading %s=%s should be on the topic once", humid.key(), humid.value()).hasSize(1);
        ConsumerRecord<String, String> reading = stored.get(0);
        List<ConsumerRecord<String, String>> alerts = readRecords(alertTopic, EARLIER_ALERTS + 1, Duration.ofSeconds(10)).stream()
                .filter(r -> humid.key().equals(r.key())).toList();
        assertThat(alerts).as("One alert for %s should be on the alert topic", humid.key()).hasSize(1);
        ConsumerRecord<String, String> sent = alerts.get(0);
        assertThat(header(sent, "reading-partition") + "@" + header(sent, "reading-offset"))
                .as("The alert should point at partition %d, offset %d, where the broker stored the reading: send it "
                    + "with alertFor(alertTopic, reading, metadata), using the metadata of the reading's acknowledgement",
                        reading.partition(), reading.offset())
                .isEqualTo(reading.partition() + "@" + reading.offset());
        assertThat(returned.topic() + "@" + returned.offset())
                .as("sendWithAlert should complete with the alert's own metadata (%s, offset %d), not the reading's: "
                    + "return the future of the second send", alertTopic, sent.offset())
                .isEqualTo(alertTopic + "@" + sent.offset());
    }

    @Test
    @Order(5)
    @DisplayName("a batch the broker does not acknowledge fails with a TimeoutException after its timeout")
    void stalledBatchTimesOut() {
        String topic = createTopic("stalled", 3);
        WatchedProducer holding = holdingProducer(topic);
        try {
            long start = System.nanoTime();
            CompletableFuture<List<RecordMetadata>> future = callWithin("sendAll", holding, topic, Reading.sample(5, 4), STALL_TIMEOUT);
            assertThat(future).as("sendAll returned null instead of a CompletableFuture").isNotNull();
            requireNoFlush(holding, "sendAll");
            try {
                await().atMost(STALL_TIMEOUT.plusSeconds(5)).until(future::isDone);
            } catch (ConditionTimeoutException e) {
                fail("With no acknowledgement coming, sendAll's future was still pending %d s later, though its timeout was %d s: "
                     + "it would wait forever. Bound it: .orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)",
                        STALL_TIMEOUT.plusSeconds(5).toSeconds(), STALL_TIMEOUT.toSeconds());
            }
            Duration took = Duration.ofNanos(System.nanoTime() - start);
            assertThat(future.isCompletedExceptionally())
                    .as("No record was acknowledged, yet sendAll's future completed normally (%s). A batch that timed out "
                        + "must fail, so the caller knows: orTimeout, not completeOnTimeout", outcome(future))
                    .isTrue();
            Throwable seen = unwrap(future.handle((value, error) -> error).join());
            assertThat(seen)
                    .as("The stalled batch failed with %s; it should fail with a java.util.concurrent.TimeoutException, "
                        + "as orTimeout does", seen)
                    .isInstanceOf(TimeoutException.class);
            assertThat(took)
                    .as("The stalled batch failed after %d ms, though its timeout was %d ms: use the timeout as given, "
                        + "in its unit (timeout.toMillis() with TimeUnit.MILLISECONDS)", took.toMillis(), STALL_TIMEOUT.toMillis())
                    .isGreaterThanOrEqualTo(STALL_TIMEOUT.multipliedBy(9).dividedBy(10));
        } finally {
            closeInBackground(holding);
        }
    }

    @Test
    @Order(6)
    @Timeout(40)
    @DisplayName("no thread waits on a send: no get(), no flush()")
    void nothingWaits() {
        rethrow(batchThrown);
        rethrow(alertThrown);
        // Checks 3 and 4 waited for these already: a short wait for any stage still running.
        settle(batch, Duration.ofSeconds(5));
        settle(alert, Duration.ofSeconds(5));
        int onIoThread = batchProducer.getsOnIoThread() + alertProducer.getsOnIoThread();
        assertThat(onIoThread)
                .as("get() was called %d times on the producer's I/O thread, inside a callback or a stage it ran. "
                    + "That thread is the one that would complete the Future: chain with thenCompose instead", onIoThread)
                .isZero();
        int gets = batchProducer.unboundedGets() + batchProducer.boundedGets() + alertProducer.unboundedGets() + alertProducer.boundedGets();
        assertThat(gets)
                .as("Your code called get() on %d send Futures. Each parks a thread until the broker answers: wrapping "
                    + "send().get() in supplyAsync (or a Scala Future, or withContext(IO)) only moves the wait to a "
                    + "thread of its own. Complete a CompletableFuture in the send's callback instead", gets)
                .isZero();
        int flushes = batchProducer.flushes() + alertProducer.flushes();
        assertThat(flushes)
                .as("Your code called flush() (%d times): it blocks the caller until every buffered record is acknowledged. "
                    + "Return the future and let the callbacks complete it", flushes)
                .isZero();
    }

    /** Calls the lab's method, which should only start work and return a future: at once. */
    static <T> T callWithin(String method, Object... args) {
        return assertTimeoutPreemptively(RETURNS_WITHIN, () -> lab().<T>call(method, args),
                () -> method + " did not return within " + RETURNS_WITHIN.toSeconds() + " s, while the broker had not yet "
                      + "acknowledged the records: it waited for the acknowledgement (a get(), join() or flush()). "
                      + "Return the CompletableFuture at once and complete it in the send's callback");
    }

    /** The checker may wait for a result; the learner's code may not. */
    static <T> T waitFor(CompletableFuture<T> future, Duration bound, String what) {
        try {
            return future.get(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " did not complete within " + bound.toSeconds() + " s, with the broker up. "
                    + "A stage after sendAsync runs on the producer's I/O thread: a join() or get() there waits for the "
                    + "thread it blocks. Chain the next future with thenCompose (thenComposeAsync if it calls send())");
        } catch (ExecutionException e) {
            Throwable cause = unwrap(e);
            String why = cause instanceof TimeoutException
                    ? " Your own timeout fired before the broker could answer: use the timeout as given, in its unit"
                    : cause instanceof org.apache.kafka.common.errors.TimeoutException
                    ? " A send() in a stage that runs on the producer's I/O thread waits for metadata that only that thread "
                      + "can fetch (up to max.block.ms). Run that stage elsewhere: thenComposeAsync"
                    : "";
            throw new AssertionError(what + " failed with " + cause + ", with the broker up." + why, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("Interrupted while waiting for " + what, e);
        }
    }

    static void requireNoFlush(WatchedProducer producer, String method) {
        assertThat(producer.flushes())
                .as("%s called flush(): that blocks its caller until every buffered record is acknowledged (here it also "
                    + "sent the records that the checker's producer holds back to play a broker that does not answer). "
                    + "Return the future without flushing: the callbacks complete it", method)
                .isZero();
    }

    /** Waits, within a bound, until the lab's future is done, whatever its outcome. */
    static void settle(CompletableFuture<?> future, Duration bound) {
        if (future == null) {
            return;
        }
        try {
            await().atMost(bound).until(future::isDone);
        } catch (ConditionTimeoutException e) {
            // the counts below are still what the lab's code did so far
        }
    }

    static void within(Duration bound, Runnable action, String message) {
        assertTimeoutPreemptively(bound, action::run, () -> message);
    }

    /** A real producer that sends nothing for a minute unless flushed: an unanswered send. */
    static WatchedProducer holdingProducer(String topic) {
        Properties config = producerConfig();
        config.put(ProducerConfig.LINGER_MS_CONFIG, 60_000);
        WatchedProducer producer = new WatchedProducer(new KafkaProducer<>(config)).watching(topic);
        producer.partitionsFor(topic); // metadata first, so that send() itself never waits
        return producer;
    }

    /** A producer whose I/O thread the lab's code may have blocked would block close() too. */
    static void closeInBackground(Producer<String, String> producer) {
        Thread closer = new Thread(() -> producer.close(Duration.ZERO), "checker-close");
        closer.setDaemon(true);
        closer.start();
    }

    static Throwable unwrap(Throwable error) {
        Throwable seen = error;
        while ((seen instanceof CompletionException || seen instanceof ExecutionException) && seen.getCause() != null) {
            seen = seen.getCause();
        }
        return seen;
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
}
