package workshop.check;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * A real producer with a checker's eyes on it: it counts records in flight, notices a future
 * being waited on (and on which thread), times the learner's callbacks, and can make chosen
 * sends fail. Every record still travels to the real broker; a send chosen to fail goes to a
 * side topic instead, and its callback and future then report the chosen exception.
 */
public final class WatchedProducer extends ForwardingProducer<String, String> {

    private static final String IO_THREAD = "kafka-producer-network-thread";

    private final Producer<String, String> delegate;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger maxInFlight = new AtomicInteger();
    private final AtomicInteger sends = new AtomicInteger();
    private final AtomicInteger sendsWithoutCallback = new AtomicInteger();
    private final AtomicInteger unboundedGets = new AtomicInteger();
    private final AtomicInteger boundedGets = new AtomicInteger();
    private final AtomicInteger getsOnIoThread = new AtomicInteger();
    private final AtomicInteger callbacksCompleted = new AtomicInteger();
    private final AtomicLong slowestCallbackNanos = new AtomicLong();
    private final AtomicInteger flushes = new AtomicInteger();
    private final AtomicInteger closes = new AtomicInteger();

    private volatile String watchedTopic;
    private volatile Set<Integer> failingSends = Set.of();
    private volatile String failureSinkTopic;
    private volatile Supplier<RuntimeException> failure;

    public WatchedProducer(Producer<String, String> delegate) {
        super(delegate);
        this.delegate = delegate;
    }

    /**
     * Makes the sends to {@code topic} with these 0-based numbers fail with {@code failure};
     * their records go to {@code sinkTopic}, so the real round trip still happens.
     */
    public WatchedProducer failing(String topic, Set<Integer> sendNumbers, String sinkTopic, Supplier<RuntimeException> failure) {
        this.watchedTopic = topic;
        this.failingSends = sendNumbers;
        this.failureSinkTopic = sinkTopic;
        this.failure = failure;
        return this;
    }

    public WatchedProducer watching(String topic) {
        this.watchedTopic = topic;
        return this;
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
        return send(record, null);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
        boolean watched = record.topic().equals(watchedTopic);
        int number = watched ? sends.getAndIncrement() : -1;
        if (watched && callback == null) {
            sendsWithoutCallback.incrementAndGet();
        }
        maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
        if (watched && failingSends.contains(number)) {
            RuntimeException chosen = failure.get();
            CompletableFuture<RecordMetadata> result = new CompletableFuture<>();
            ProducerRecord<String, String> diverted = new ProducerRecord<>(failureSinkTopic, null, record.timestamp(),
                    record.key(), record.value(), record.headers());
            delegate.send(diverted, (metadata, exception) -> {
                inFlight.decrementAndGet();
                RecordMetadata failed = new RecordMetadata(new TopicPartition(record.topic(), metadata == null ? -1 : metadata.partition()),
                        -1, 0, -1, -1, -1);
                runCallback(callback, failed, chosen);
                result.completeExceptionally(chosen);
            });
            return new WatchedFuture(result);
        }
        try {
            return new WatchedFuture(delegate.send(record, (metadata, exception) -> {
                inFlight.decrementAndGet();
                runCallback(callback, metadata, exception);
            }));
        } catch (RuntimeException e) {
            inFlight.decrementAndGet();
            throw e;
        }
    }

    private void runCallback(Callback callback, RecordMetadata metadata, Exception exception) {
        if (callback == null) {
            return;
        }
        long start = System.nanoTime();
        try {
            callback.onCompletion(metadata, exception);
        } finally {
            slowestCallbackNanos.accumulateAndGet(System.nanoTime() - start, Math::max);
            callbacksCompleted.incrementAndGet();
        }
    }

    /** A send's future that tells the checker how it was waited on. */
    private final class WatchedFuture extends WaitWatchedFuture<RecordMetadata> {
        WatchedFuture(Future<RecordMetadata> future) {
            super(future);
        }

        @Override
        protected void beforeWait(long timeout, TimeUnit unit) {
            boolean bounded = unit != null;
            if (Thread.currentThread().getName().startsWith(IO_THREAD)) {
                getsOnIoThread.incrementAndGet();
                if (!future.isDone()) {
                    // The real producer would wait for its own I/O thread here: a deadlock.
                    throw new IllegalStateException("get() on the producer's I/O thread waits for that very thread");
                }
                return;
            }
            (bounded ? boundedGets : unboundedGets).incrementAndGet();
        }
    }

    public int inFlight() {
        return inFlight.get();
    }

    public int maxInFlight() {
        return maxInFlight.get();
    }

    public int sends() {
        return sends.get();
    }

    public int sendsWithoutCallback() {
        return sendsWithoutCallback.get();
    }

    public int unboundedGets() {
        return unboundedGets.get();
    }

    public int boundedGets() {
        return boundedGets.get();
    }

    public int getsOnIoThread() {
        return getsOnIoThread.get();
    }

    public int callbacksCompleted() {
        return callbacksCompleted.get();
    }

    public Duration slowestCallback() {
        return Duration.ofNanos(slowestCallbackNanos.get());
    }

    public int flushes() {
        return flushes.get();
    }

    public int closes() {
        return closes.get();
    }

    @Override
    public void flush() {
        flushes.incrementAndGet();
        delegate.flush();
    }

    @Override
    public void close() {
        closes.incrementAndGet();
        delegate.close();
    }

    @Override
    public void close(Duration timeout) {
        closes.incrementAndGet();
        delegate.close(timeout);
    }

}
