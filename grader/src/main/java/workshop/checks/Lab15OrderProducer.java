package workshop.checks;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;

import workshop.check.ForwardingProducer;

/**
 * Lab 15's producer: a real KafkaProducer underneath, which notes every send and when its
 * acknowledgement reached the lab, and which can play a slow or failing broker.
 *
 * <p>Held acknowledgements: while held, the producer's I/O thread waits before it completes any
 * send (its callback and its future), as behind one slow broker response, until released.
 * Failed sends: a send of a chosen order id goes to a sink topic instead (the real round trip
 * still happens) and then fails as an expired batch does; or send() itself throws, as a closed
 * producer does.
 */
final class Lab15OrderProducer extends ForwardingProducer<String, String> {

    static final String FAILED_ON_PURPOSE = "failed on purpose by the checker";

    private final Producer<String, String> delegate;
    private final String sinkTopic;
    private final AtomicInteger sends = new AtomicInteger();
    private final List<ProducerRecord<String, String>> sent = new CopyOnWriteArrayList<>();
    /** Order id (record key) to the moment the lab's callback was about to run, by System.nanoTime(). */
    private final Map<String, Long> ackedAt = new ConcurrentHashMap<>();
    private final Map<String, RecordMetadata> metadata = new ConcurrentHashMap<>();
    private volatile Set<String> failAsync = Set.of();
    private volatile Set<String> failThrowing = Set.of();
    private volatile CountDownLatch gate = new CountDownLatch(0);
    private volatile boolean gateReached;
    private static final Duration BACKSTOP = Duration.ofSeconds(30);

    Lab15OrderProducer(Producer<String, String> delegate, String sinkTopic) {
        super(delegate);
        this.delegate = delegate;
        this.sinkTopic = sinkTopic;
    }

    /** From now on no acknowledgement reaches the lab until {@link #release()}. */
    void holdAcks() {
        gateReached = false;
        gate = new CountDownLatch(1);
    }

    void release() {
        gate.countDown();
    }

    /** Whether an acknowledgement has arrived and waits at the gate. */
    boolean gateReached() {
        return gateReached;
    }

    /** Sends of these order ids fail after a real round trip, with the TimeoutException of an expired batch. */
    void failAsync(Set<String> orderIds) {
        failAsync = Set.copyOf(orderIds);
    }

    /** Sends of these order ids throw from send(), as a closed producer does. */
    void failThrowing(Set<String> orderIds) {
        failThrowing = Set.copyOf(orderIds);
    }

    int sends() {
        return sends.get();
    }

    List<ProducerRecord<String, String>> sent() {
        return List.copyOf(sent);
    }

    /** When the acknowledgement (or failure) of this order's send was handed to the lab; null before. */
    Long ackedAt(String orderId) {
        return ackedAt.get(orderId);
    }

    RecordMetadata metadata(String orderId) {
        return metadata.get(orderId);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
        return send(record, null);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
        sends.incrementAndGet();
        sent.add(record);
        String key = orderId(record);
        if (key != null && failThrowing.contains(key)) {
            throw new IllegalStateException("Cannot perform operation after producer has been closed (" + FAILED_ON_PURPOSE + ")");
        }
        CountDownLatch heldBy = gate;
        if (key != null && failAsync.contains(key)) {
            CompletableFuture<RecordMetadata> result = new CompletableFuture<>();
            ProducerRecord<String, String> diverted = new ProducerRecord<>(sinkTopic, null, record.timestamp(), key, record.value());
            delegate.send(diverted, (ignored, exception) -> {
                awaitGate(heldBy);
                TimeoutException failure = new TimeoutException("Expiring 1 record(s) for " + record.topic()
                        + ": 120000 ms has passed since batch creation (" + FAILED_ON_PURPOSE + ")");
                ackedAt.put(key, System.nanoTime());
                try {
                    if (callback != null) {
                        callback.onCompletion(new RecordMetadata(new TopicPartition(record.topic(), -1), -1, 0, -1, -1, -1), failure);
                    }
                } finally {
                    result.completeExceptionally(failure);
                }
            });
            return result;
        }
        return delegate.send(record, (meta, exception) -> {
            awaitGate(heldBy);
            if (key != null) {
                if (meta != null && exception == null) {
                    metadata.put(key, meta);
                }
                ackedAt.put(key, System.nanoTime());
            }
            if (callback != null) {
                callback.onCompletion(meta, exception);
            }
        });
    }

    /** The order id in the record's value (id=...), else its key: acknowledgements are matched to orders by it. */
    static String orderId(ProducerRecord<String, String> record) {
        String value = record.value();
        if (value != null) {
            for (String pair : value.split("&")) {
                if (pair.startsWith("id=")) {
                    return pair.substring(3);
                }
            }
        }
        return record.key();
    }

    private void awaitGate(CountDownLatch heldBy) {
        if (heldBy.getCount() == 0) {
            return;
        }
        gateReached = true;
        try {
            heldBy.await(BACKSTOP.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
