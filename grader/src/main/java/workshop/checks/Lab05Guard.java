package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;

import workshop.check.ForwardingProducer;

/**
 * Lab 05: the producer the lab is given, on top of the checker's other wrappers. It counts how
 * often each record is sent (a third send of one record is a retry loop, which it stops by
 * refusing the send), notes what each send's callback was told and when, and keeps the DLQ
 * records the callbacks send, headers included, so they can be judged even when no broker is
 * left to store them.
 */
final class Lab05Guard extends ForwardingProducer<String, String> {

    /** The send of one record that the guard refuses: the third. */
    static final int REFUSED_SEND = 3;

    /** What one send of a record was told, and how long after send() it was told. */
    record Outcome(String record, Exception error, long afterNanos, String thread) {
    }

    /** A record a callback sent to a DLQ, with its headers as text. */
    record Parked(String topic, String key, String value, Map<String, String> headers) {
        String text() {
            return key + "=" + value;
        }
    }

    private final Map<String, AtomicInteger> sends = new ConcurrentHashMap<>();
    private final Map<String, Exception> lastError = new ConcurrentHashMap<>();
    private final List<Outcome> outcomes = new CopyOnWriteArrayList<>();
    private final List<Parked> parked = new CopyOnWriteArrayList<>();
    private final AtomicInteger refused = new AtomicInteger();
    private volatile String firstResent;

    Lab05Guard(Producer<String, String> delegate) {
        super(delegate);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
        return send(record, null);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
        String text = record.key() + "=" + record.value();
        if (record.topic().endsWith(".DLQ")) {
            Map<String, String> headers = new java.util.LinkedHashMap<>();
            for (Header h : record.headers()) {
                headers.put(h.key(), h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8));
            }
            parked.add(new Parked(record.topic(), record.key(), record.value(), headers));
            return super.send(record, callback);
        }
        int number = sends.computeIfAbsent(text, t -> new AtomicInteger()).incrementAndGet();
        if (number >= 2 && firstResent == null) {
            firstResent = text;
        }
        if (number >= REFUSED_SEND) {
            refused.incrementAndGet();
            throw new IllegalStateException("Stopped by the checker: record " + text + " was sent a " + number
                    + "rd time after failing with " + lastError.get(text) + ". Your code retries a failed record in a loop");
        }
        long sentAt = System.nanoTime();
        return super.send(record, (metadata, exception) -> {
            outcomes.add(new Outcome(text, exception, System.nanoTime() - sentAt, Thread.currentThread().getName()));
            if (exception != null) {
                lastError.put(text, exception);
            }
            if (callback != null) {
                callback.onCompletion(metadata, exception);
            }
        });
    }

    /** How many times each record (key=value) was sent, DLQ records aside. */
    Map<String, Integer> sendsPerRecord() {
        Map<String, Integer> copy = new java.util.LinkedHashMap<>();
        sends.forEach((k, v) -> copy.put(k, v.get()));
        return copy;
    }

    String firstResent() {
        return firstResent;
    }

    Exception errorOf(String record) {
        return lastError.get(record);
    }

    List<Outcome> outcomes() {
        return List.copyOf(outcomes);
    }

    List<Parked> parked() {
        return List.copyOf(parked);
    }

    int refused() {
        return refused.get();
    }
}
