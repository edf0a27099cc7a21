package workshop.check;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * A real producer that can play a slow broker, and that watches what callbacks do on the
 * producer's I/O thread. It sits under a {@link WatchedProducer}, right above the KafkaProducer.
 *
 * <p>Held acknowledgements: once a chosen send completes, the I/O thread waits at a gate before
 * it completes that send (its future and its callback), as if the broker's answer were late;
 * everything behind it waits too, as behind one slow response. The gate opens when the checker
 * says so, when the thread that sends is seen waiting for something (a flush, a future, a latch:
 * anything but a sleep, which no late answer can be outslept), or after a backstop.
 *
 * <p>Callbacks on the I/O thread: whether one waited (slept, parked or waited on a monitor, as
 * the JVM counts it for that thread), for how long, where (a stack sampled while it waited),
 * whether one threw, and whether one called flush().
 */
public final class GatedProducer extends ForwardingProducer<String, String> {

    private static final String IO_THREAD = "kafka-producer-network-thread";
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    /** How often the watcher looks at the I/O thread and the sending thread. */
    private static final long SAMPLE_NANOS = TimeUnit.MILLISECONDS.toNanos(2);
    /** A callback that waited at least this long is one that blocked, not a lock handed over. */
    private static final long WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Producer<String, String> delegate;
    private final Map<String, AtomicInteger> sends = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> completions = new ConcurrentHashMap<>();
    private final Map<String, AtomicInteger> answered = new ConcurrentHashMap<>();
    private final Map<String, List<String>> sent = new ConcurrentHashMap<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger maxInFlight = new AtomicInteger();
    private final AtomicInteger heldNumber = new AtomicInteger();

    private volatile Set<String> watchedTopics = Set.of();
    private volatile int holdFrom = Integer.MAX_VALUE;
    private volatile Duration backstop = Duration.ofSeconds(10);
    private final CountDownLatch gate = new CountDownLatch(1);
    private volatile long heldSentNanos;
    private volatile boolean gateReached;
    private volatile Thread sender;

    private final AtomicInteger waitingCallbacks = new AtomicInteger();
    private final AtomicLong longestWaitingCallbackNanos = new AtomicLong();
    private final AtomicInteger flushesInCallbacks = new AtomicInteger();
    private final AtomicReference<Throwable> callbackThrew = new AtomicReference<>();
    private final AtomicReference<StackTraceElement[]> waitSample = new AtomicReference<>();
    private final AtomicReference<StackTraceElement[]> currentSample = new AtomicReference<>();
    private final AtomicReference<String> lastTimedGet = new AtomicReference<>();
    private final AtomicInteger waitsAgain = new AtomicInteger();
    private volatile Thread ioThread;
    private volatile long callbackStartedNanos;
    private volatile boolean closed;
    private Thread watcher;

    public GatedProducer(Producer<String, String> delegate) {
        super(delegate);
        this.delegate = delegate;
    }

    /**
     * Counts sends to these topics as one stream: their numbers, the records in flight, and
     * which completion the gate holds.
     */
    public GatedProducer watching(String... topics) {
        this.watchedTopics = Set.of(topics);
        return this;
    }

    /**
     * Holds acknowledgements from the watched send numbered {@code fromSend} (0-based) on, until
     * {@link #release()}, until {@code sendingThread} waits for anything but a sleep (when not
     * null), or until {@code backstop} has passed.
     */
    public synchronized GatedProducer holdAcks(int fromSend, Thread sendingThread, Duration backstop) {
        this.holdFrom = fromSend;
        this.sender = sendingThread;
        this.backstop = backstop;
        startWatcher();
        return this;
    }

    /** Opens the gate: held acknowledgements flow again, and no later one is held. */
    public void release() {
        gate.countDown();
    }

    public boolean released() {
        return gate.getCount() == 0;
    }

    /** Whether a held completion has reached the gate (the I/O thread waited there). */
    public boolean gateReached() {
        return gateReached;
    }

    /** When the first held send was made, by {@link System#nanoTime()}; 0 before. */
    public long heldSentNanos() {
        return heldSentNanos;
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record) {
        return send(record, null);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<String, String> record, Callback callback) {
        String topic = record.topic();
        sends.computeIfAbsent(topic, t -> new AtomicInteger()).incrementAndGet();
        sent.computeIfAbsent(topic, t -> new java.util.concurrent.CopyOnWriteArrayList<>()).add(record.key() + "=" + record.value());
        boolean watched = watchedTopics.contains(topic);
        int number = watched ? heldNumber.getAndIncrement() : -1;
        boolean held = watched && number >= holdFrom;
        if (held && heldSentNanos == 0) {
            heldSentNanos = System.nanoTime();
        }
        if (watched) {
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
        }
        startWatcher();
        try {
            return new GatedFuture(delegate.send(record, (metadata, exception) -> {
                if (held) {
                    awaitGate();
                }
                if (watched) {
                    inFlight.decrementAndGet();
                }
                answered.computeIfAbsent(topic, t -> new AtomicInteger()).incrementAndGet();
                try {
                    runWatched(callback, metadata, exception);
                } finally {
                    completions.computeIfAbsent(topic, t -> new AtomicInteger()).incrementAndGet();
                }
            }));
        } catch (RuntimeException e) {
            if (watched) {
                inFlight.decrementAndGet();
            }
            throw e;
        }
    }

    private void awaitGate() {
        if (gate.getCount() == 0) {
            return;
        }
        gateReached = true;
        try {
            if (!gate.await(backstop.toMillis(), TimeUnit.MILLISECONDS)) {
                gate.countDown();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void runWatched(Callback callback, RecordMetadata metadata, Exception exception) {
        if (callback == null) {
            return;
        }
        Thread me = Thread.currentThread();
        if (!me.getName().startsWith(IO_THREAD)) {
            // A send that failed before it was buffered calls back at once, on the sending thread.
            callback.onCompletion(metadata, exception);
            return;
        }
        ioThread = me;
        currentSample.set(null);
        ThreadInfo before = THREADS.getThreadInfo(me.getId());
        long start = System.nanoTime();
        callbackStartedNanos = start;
        try {
            callback.onCompletion(metadata, exception);
        } catch (RuntimeException | Error e) {
            callbackThrew.compareAndSet(null, e);
            throw e;
        } finally {
            callbackStartedNanos = 0;
            long took = System.nanoTime() - start;
            ThreadInfo after = THREADS.getThreadInfo(me.getId());
            if (before != null && after != null && after.getWaitedCount() > before.getWaitedCount() && took >= WAIT_NANOS) {
                waitingCallbacks.incrementAndGet();
                longestWaitingCallbackNanos.accumulateAndGet(took, Math::max);
                StackTraceElement[] sample = currentSample.get();
                if (sample != null) {
                    waitSample.compareAndSet(null, sample);
                }
            }
        }
    }

    /** One daemon thread samples the I/O thread inside callbacks and opens the gate when the sender waits. */
    private synchronized void startWatcher() {
        if (watcher != null || closed) {
            return;
        }
        watcher = new Thread(this::watch, "checker-producer-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    private void watch() {
        long gateSeenSince = 0;
        while (!closed) {
            LockSupport.parkNanos(SAMPLE_NANOS);
            long startedAt = callbackStartedNanos;
            Thread io = ioThread;
            if (startedAt != 0 && io != null && currentSample.get() == null && System.nanoTime() - startedAt >= SAMPLE_NANOS) {
                Thread.State state = io.getState();
                if (state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING) {
                    StackTraceElement[] stack = io.getStackTrace();
                    if (callbackStartedNanos == startedAt) {
                        currentSample.compareAndSet(null, stack);
                    }
                }
            }
            Thread waiting = sender;
            if (gateReached && gate.getCount() > 0 && waiting != null) {
                Thread.State state = waiting.getState();
                boolean waits = state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING;
                if (waits && !sleeping(waiting.getStackTrace())) {
                    // Twice in a row: a thread that parks for an instant inside send() is not waiting for acks.
                    if (gateSeenSince != 0) {
                        release();
                    }
                    gateSeenSince = System.nanoTime();
                } else {
                    gateSeenSince = 0;
                }
            }
        }
    }

    private static boolean sleeping(StackTraceElement[] stack) {
        for (int i = 0; i < Math.min(4, stack.length); i++) {
            if (stack[i].getClassName().equals("java.lang.Thread") && stack[i].getMethodName().startsWith("sleep")) {
                return true;
            }
        }
        return false;
    }

    /** A send's future that notes how it was waited on with a timeout. */
    private final class GatedFuture extends WaitWatchedFuture<RecordMetadata> {
        GatedFuture(Future<RecordMetadata> future) {
            super(future);
        }

        private final AtomicInteger waitsWhilePending = new AtomicInteger();

        @Override
        protected void beforeWait(long timeout, TimeUnit unit) {
            if (unit != null) {
                lastTimedGet.set(timeout + " " + unit);
            }
            // A second wait on a send still pending: the first one ended without its answer (a timeout).
            if (!future.isDone() && waitsWhilePending.incrementAndGet() == 2) {
                waitsAgain.incrementAndGet();
            }
        }
    }

    public int sends(String topic) {
        AtomicInteger n = sends.get(topic);
        return n == null ? 0 : n.get();
    }

    /** The records sent to this topic, as key=value, in the order of the send() calls. */
    public List<String> sent(String topic) {
        return List.copyOf(sent.getOrDefault(topic, List.of()));
    }

    /** Sends per topic, for a message that says where records went. */
    public Map<String, Integer> sendsByTopic() {
        Map<String, Integer> copy = new java.util.TreeMap<>();
        sends.forEach((topic, n) -> copy.put(topic, n.get()));
        return copy;
    }

    /** Sends to this topic that the broker has answered: their callbacks have at least started. */
    public int answered(String topic) {
        AtomicInteger n = answered.get(topic);
        return n == null ? 0 : n.get();
    }

    /** Sends to this topic whose completion (and callback, if any) has finished. */
    public int completions(String topic) {
        AtomicInteger n = completions.get(topic);
        return n == null ? 0 : n.get();
    }

    /** The most records of the watched topics in flight at once. */
    public int maxInFlight() {
        return maxInFlight.get();
    }

    /** Callbacks during which the I/O thread slept, parked or waited on a monitor. */
    public int waitingCallbacks() {
        return waitingCallbacks.get();
    }

    public Duration longestWaitingCallback() {
        return Duration.ofNanos(longestWaitingCallbackNanos.get());
    }

    /** The I/O thread's stack, sampled while the first waiting callback waited; null if none was seen. */
    public StackTraceElement[] waitSample() {
        return waitSample.get();
    }

    /** The I/O thread, once it has run a callback. */
    public Thread ioThread() {
        return ioThread;
    }

    /** Whether a callback is running on the I/O thread right now. */
    public boolean inCallback() {
        return callbackStartedNanos != 0;
    }

    public int flushesInCallbacks() {
        return flushesInCallbacks.get();
    }

    /** The first exception a callback threw; the producer logs such an exception and drops it. */
    public Throwable callbackThrew() {
        return callbackThrew.get();
    }

    /** The arguments of the last {@code get(timeout, unit)}, as "1500 MILLISECONDS"; null if none. */
    /** How many sends were waited on again while still pending, as a retry after a timed-out get() does. */
    public int waitsAgain() {
        return waitsAgain.get();
    }

    public String lastTimedGet() {
        return lastTimedGet.get();
    }

    @Override
    public void flush() {
        if (Thread.currentThread().getName().startsWith(IO_THREAD)) {
            flushesInCallbacks.incrementAndGet();
        }
        delegate.flush();
    }

    @Override
    public void close() {
        closed = true;
        release();
        delegate.close();
    }

    @Override
    public void close(Duration timeout) {
        closed = true;
        release();
        delegate.close(timeout);
    }

}
