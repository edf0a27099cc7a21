package workshop.checks;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.awaitility.core.ConditionTimeoutException;

import workshop.RecordHandler;
import workshop.check.LabCheck;
import workshop.check.LabUnderTest;

import static org.awaitility.Awaitility.await;

/**
 * One run of the lab's {@code consumeSlowly}, shared by the checks of lab 13 that read it. A real
 * consumer of a new group, subscribed with a listener of the checker's, goes to the lab behind a
 * thin proxy that notes every poll (when, which records, which partitions were paused) and every
 * commit (its offsets, against the records handled by then). The handler is the checker's: a few
 * milliseconds per record, and one record that takes longer than {@code max.poll.interval.ms}.
 */
final class Lab13SlowRun extends LabCheck {

    static final int[] RECORDS = {70, 55, 45};
    static final int BUFFER = 20;
    static final int MAX_POLL_RECORDS = 15;
    static final int MAX_POLL_INTERVAL_MS = 2000;
    static final Duration WORK = Duration.ofMillis(8);
    /** The one slow record: far beyond max.poll.interval.ms, so a poll thread stuck behind it is evicted. */
    static final Duration STALL = Duration.ofSeconds(5);
    static final int STALL_AT = 60;
    /** With records left and nothing handled for this long, the run is over: the code stopped getting records. */
    static final Duration IDLE = Duration.ofSeconds(4);
    static final Duration FIRST_RECORD_BOUND = Duration.ofSeconds(20);
    static final Duration RUN_BOUND = Duration.ofSeconds(60);
    static final Duration RETURN_BOUND = Duration.ofSeconds(10);

    static int bound() {
        return BUFFER + MAX_POLL_RECORDS + 1;
    }

    private static java.util.concurrent.CompletableFuture<Lab13SlowRun> ahead;

    /** Starts the run on a thread of its own; {@link #get()} waits for it. */
    static synchronized void startAhead() {
        if (ahead == null) {
            ahead = new java.util.concurrent.CompletableFuture<>();
            Thread starter = new Thread(() -> {
                Lab13SlowRun run = new Lab13SlowRun();
                run.execute();
                ahead.complete(run);
            }, "lab13-slow-run");
            starter.setDaemon(true);
            starter.start();
        }
    }

    static Lab13SlowRun get() {
        startAhead();
        Lab13SlowRun run = ahead.join();
        if (run.checkerFailure != null) {
            throw new IllegalStateException("The checker could not run the slow consumer: " + run.checkerFailure, run.checkerFailure);
        }
        return run;
    }

    private final String topic = uniqueName("slow-readings");
    private final String group = uniqueName("slow-group");
    private final int total = java.util.Arrays.stream(RECORDS).sum();
    private final Map<TopicPartition, Long> ends = new TreeMap<>(Lab13LagBackpressureCheck.BY_PARTITION);

    // what the handler saw
    private final Map<String, Integer> handled = new ConcurrentHashMap<>();
    private final AtomicInteger calls = new AtomicInteger();
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong lastActivity = new AtomicLong(System.nanoTime());
    private volatile boolean handlerOnPollThread;
    private volatile Map<TopicPartition, Long> doneAtStall = Map.of();
    private volatile Map<TopicPartition, Long> commitBehindDuringStall;

    // what the poll thread did
    private volatile Thread pollThread;
    private volatile boolean inPoll;
    private volatile long lastPollExit;
    private volatile long longestGap;
    private volatile String blockedIn;
    private final Set<String> polled = ConcurrentHashMap.newKeySet();
    private final Set<String> held = ConcurrentHashMap.newKeySet();
    private final AtomicLong refetched = new AtomicLong();
    private volatile int maxHeld;
    private volatile int stillToDoAtMax;
    private volatile Set<TopicPartition> pausedAtMax = Set.of();
    private volatile Set<TopicPartition> assignedAtMax = Set.of();
    private final AtomicInteger pauseCalls = new AtomicInteger();
    private volatile String commitAhead;

    // the group
    private final List<String> rebalances = new CopyOnWriteArrayList<>();
    private volatile boolean assignedOnce;
    private volatile boolean evicted;
    private volatile boolean stopping;
    private final long start = System.nanoTime();

    // the outcome
    private volatile Throwable failure;
    private volatile Throwable checkerFailure;
    private volatile boolean returned;
    private Set<TopicPartition> pausedAtEnd = Set.of();
    private Map<TopicPartition, Long> finalCommitted = Map.of();

    private Lab13SlowRun() {
    }

    private void execute() {
        try (Admin admin = admin()) {
            prepareTopic();
            // Connected before the stall, where reading the group's offsets must not wait for a first connection.
            admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS);
            KafkaConsumer<String, String> real = new KafkaConsumer<>(consumerConfig());
            try {
                real.subscribe(List.of(topic), listener());
                Consumer<String, String> watched = watch(real);
                BlockingQueue<ConsumerRecord<String, String>> buffer = Lab13LagBackpressureCheck.buffer();
                RecordHandler handler = record -> handle(record, admin);
                LabUnderTest lab = LabUnderTest.current();
                Thread labThread = new Thread(() -> {
                    try {
                        lab.call("consumeSlowly", watched, buffer, handler, (java.util.function.BooleanSupplier) () -> !stopping);
                        returned = true;
                    } catch (Throwable t) {
                        failure = t;
                    }
                }, "lab13-poll-thread");
                labThread.setDaemon(true);
                Thread sampler = sampler();
                labThread.start();
                sampler.start();
                try {
                    await().atMost(RUN_BOUND).pollInterval(Duration.ofMillis(50)).until(() -> over(labThread));
                } catch (ConditionTimeoutException e) {
                    // the checks say what is missing
                }
                stopping = true;
                labThread.join(RETURN_BOUND.toMillis());
                sampler.interrupt();
                if (labThread.isAlive()) {
                    real.wakeup();
                    labThread.interrupt();
                    labThread.join(5_000);
                } else if (returned) {
                    pausedAtEnd = Set.copyOf(real.paused());
                }
            } finally {
                if (pollThread == null || !pollThreadAlive()) {
                    real.close(CloseOptions.timeout(Duration.ofSeconds(5)));
                }
            }
            Map<TopicPartition, Long> committed = new TreeMap<>(Lab13LagBackpressureCheck.BY_PARTITION);
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS)
                    .forEach((tp, om) -> {
                        if (om != null) {
                            committed.put(tp, om.offset());
                        }
                    });
            finalCommitted = committed;
        } catch (Exception | Error e) {
            checkerFailure = e;
        }
    }

    private boolean pollThreadAlive() {
        Thread t = pollThread;
        return t != null && t.isAlive();
    }

    /** Over when every record was handled, the lab's call ended, or nothing happens any more. */
    private boolean over(Thread labThread) {
        if (handled.size() >= total || !labThread.isAlive()) {
            return true;
        }
        long quiet = System.nanoTime() - lastActivity.get();
        Duration bound = calls.get() == 0 ? FIRST_RECORD_BOUND : IDLE;
        return active.get() == 0 && quiet > bound.toNanos();
    }

    private void prepareTopic() throws Exception {
        createTopicsAndWait(Map.of(topic, RECORDS.length));
        try (KafkaProducer<String, String> producer = newProducer()) {
            for (int i = 0; i < RECORDS[0]; i++) {
                for (int p = 0; p < RECORDS.length; p++) {
                    if (i < RECORDS[p]) {
                        producer.send(new ProducerRecord<>(topic, p, "sensor-" + p, "reading-" + i));
                    }
                }
            }
            producer.flush();
        }
        for (int p = 0; p < RECORDS.length; p++) {
            ends.put(new TopicPartition(topic, p), (long) RECORDS[p]);
        }
    }

    private Properties consumerConfig() {
        Properties config = groupConsumerConfig(group);
        // Short, so that a poll thread held up by the one slow record is evicted within the run.
        config.put(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, MAX_POLL_INTERVAL_MS);
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, MAX_POLL_RECORDS);
        return config;
    }

    private void handle(ConsumerRecord<String, String> record, Admin admin) throws Exception {
        if (Thread.currentThread() == pollThread) {
            handlerOnPollThread = true;
        }
        active.incrementAndGet();
        lastActivity.set(System.nanoTime());
        try {
            if (calls.incrementAndGet() == STALL_AT) {
                stall(admin);
            } else {
                Thread.sleep(WORK.toMillis());
            }
            String id = id(record.partition(), record.offset());
            handled.merge(id, 1, Integer::sum);
            held.remove(id);
        } finally {
            lastActivity.set(System.nanoTime());
            active.decrementAndGet();
        }
    }

    /** The slow record: and, near its end, whether the group's commits caught up with what was finished before it. */
    private void stall(Admin admin) throws Exception {
        Map<TopicPartition, Long> done = doneUpTo();
        doneAtStall = done;
        long end = System.nanoTime() + STALL.toNanos();
        Thread.sleep(STALL.toMillis() - 700);
        Map<TopicPartition, Long> committed = new TreeMap<>(Lab13LagBackpressureCheck.BY_PARTITION);
        try {
            // A slow answer only makes this record slower still: the poll thread is not waiting for it.
            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(15, TimeUnit.SECONDS).forEach((tp, om) -> {
                if (om != null) {
                    committed.put(tp, om.offset());
                }
            });
            boolean behind = done.entrySet().stream().anyMatch(e -> e.getValue() > 0 && committed.getOrDefault(e.getKey(), 0L) < e.getValue());
            if (behind) {
                commitBehindDuringStall = committed;
            }
        } catch (java.util.concurrent.TimeoutException e) {
            // the broker did not answer in 15 s: no verdict on the commits during the stall
        }
        long left = end - System.nanoTime();
        if (left > 0) {
            TimeUnit.NANOSECONDS.sleep(left);
        }
    }

    /** Per partition, the first offset not handled yet: everything before it is done. */
    private Map<TopicPartition, Long> doneUpTo() {
        Map<TopicPartition, Long> done = new TreeMap<>(Lab13LagBackpressureCheck.BY_PARTITION);
        for (int p = 0; p < RECORDS.length; p++) {
            long o = 0;
            while (handled.containsKey(id(p, o))) {
                o++;
            }
            done.put(new TopicPartition(topic, p), o);
        }
        return done;
    }

    private static String id(int partition, long offset) {
        return "p" + partition + "@" + offset;
    }

    private ConsumerRebalanceListener listener() {
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                if (!partitions.isEmpty() && !stopping) {
                    rebalances.add("partitions " + Lab13LagBackpressureCheck.partitions(Set.copyOf(partitions)) + " revoked after "
                                   + Lab13LagBackpressureCheck.seconds(millisSinceStart()) + " s");
                    evicted = true;
                }
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                if (assignedOnce && !stopping) {
                    rebalances.add("partitions " + Lab13LagBackpressureCheck.partitions(Set.copyOf(partitions)) + " assigned again after "
                                   + Lab13LagBackpressureCheck.seconds(millisSinceStart()) + " s");
                }
                assignedOnce = true;
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                if (!stopping) {
                    rebalances.add("partitions " + Lab13LagBackpressureCheck.partitions(Set.copyOf(partitions)) + " lost after "
                                   + Lab13LagBackpressureCheck.seconds(millisSinceStart()) + " s");
                    evicted = true;
                }
            }
        };
    }

    private long millisSinceStart() {
        return (System.nanoTime() - start) / 1_000_000;
    }

    /** The consumer the lab gets: the real one, with each poll, pause and commit noted. */
    private Consumer<String, String> watch(KafkaConsumer<String, String> real) {
        @SuppressWarnings("unchecked")
        Consumer<String, String> proxy = (Consumer<String, String>) Proxy.newProxyInstance(
                Consumer.class.getClassLoader(), new Class<?>[] {Consumer.class}, (self, method, args) -> {
                    String name = method.getName();
                    if (name.equals("poll")) {
                        pollThread = Thread.currentThread();
                        long now = System.nanoTime();
                        if (lastPollExit != 0) {
                            longestGap = Math.max(longestGap, (now - lastPollExit) / 1_000_000);
                        }
                        inPoll = true;
                    } else if (name.equals("pause")) {
                        pauseCalls.incrementAndGet();
                    } else if (name.equals("seek")) {
                        givenBack((TopicPartition) args[0], args[1] instanceof OffsetAndMetadata om ? om.offset() : (Long) args[1]);
                    } else if (name.startsWith("commit")) {
                        checkCommit(real, name, args);
                    }
                    Object result;
                    try {
                        result = method.invoke(real, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    } finally {
                        if (name.equals("poll")) {
                            inPoll = false;
                            lastPollExit = System.nanoTime();
                        }
                    }
                    if (result instanceof ConsumerRecords<?, ?> records) {
                        polled(real, records);
                    }
                    return result;
                });
        return proxy;
    }

    private void polled(KafkaConsumer<String, String> real, ConsumerRecords<?, ?> records) {
        for (ConsumerRecord<?, ?> r : records) {
            String id = id(r.partition(), r.offset());
            if (!polled.add(id)) {
                refetched.incrementAndGet();
            }
            if (!handled.containsKey(id)) {
                held.add(id);
            }
        }
        int now = held.size();
        if (now > maxHeld) {
            maxHeld = now;
            stillToDoAtMax = total - handled.size();
            pausedAtMax = Set.copyOf(real.paused());
            assignedAtMax = Set.copyOf(real.assignment());
        }
    }

    /** After seek(tp, offset), the records of tp from that offset on are no longer held: poll() returns them again. */
    private void givenBack(TopicPartition tp, long offset) {
        held.removeIf(id -> id.startsWith("p" + tp.partition() + "@") && Long.parseLong(id.substring(id.indexOf('@') + 1)) >= offset);
    }

    /** A commit may only cover records the handler has finished: everything before the offset, per partition. */
    private void checkCommit(KafkaConsumer<String, String> real, String name, Object[] args) {
        if (commitAhead != null) {
            return;
        }
        Map<TopicPartition, Long> offsets = new TreeMap<>(Lab13LagBackpressureCheck.BY_PARTITION);
        Map<?, ?> given = args == null ? null
                : java.util.Arrays.stream(args).filter(a -> a instanceof Map<?, ?>).map(a -> (Map<?, ?>) a).findFirst().orElse(null);
        if (given != null) {
            given.forEach((tp, om) -> offsets.put((TopicPartition) tp, ((OffsetAndMetadata) om).offset()));
        } else {
            for (TopicPartition tp : real.assignment()) {
                offsets.put(tp, real.position(tp));
            }
        }
        Map<TopicPartition, Long> done = doneUpTo();
        List<String> ahead = new ArrayList<>();
        offsets.forEach((tp, offset) -> {
            Long upTo = done.get(tp);
            if (upTo != null && offset > upTo) {
                ahead.add("p" + tp.partition() + " at " + offset + ", while the handler had finished only its records before offset "
                          + upTo + " (" + (offset - upTo) + " polled but not done)");
            }
        });
        if (!ahead.isEmpty()) {
            commitAhead = name + (given == null ? "() committed the consumer's position: " : " committed ") + String.join("; ", ahead);
        }
    }

    /** Notes what the poll thread waits in when it has not polled for a second. */
    private Thread sampler() {
        Thread sampler = new Thread(() -> {
            try {
                while (!stopping) {
                    Thread.sleep(50);
                    Thread t = pollThread;
                    long exit = lastPollExit;
                    if (t != null && t.isAlive() && !inPoll && exit != 0) {
                        // The gap so far: a poll thread that never polls again (it threw) still had this one.
                        longestGap = Math.max(longestGap, (System.nanoTime() - exit) / 1_000_000);
                    }
                    if (blockedIn == null && t != null && !inPoll && exit != 0 && System.nanoTime() - exit > 1_000_000_000L) {
                        Thread.State state = t.getState();
                        if (state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING || state == Thread.State.BLOCKED) {
                            blockedIn = waitingIn(t.getStackTrace());
                        }
                    }
                }
            } catch (InterruptedException e) {
                // the run is over
            }
        }, "lab13-sampler");
        sampler.setDaemon(true);
        return sampler;
    }

    /** The call the lab's code made that waits: the frame just above the lab's first frame. */
    private static String waitingIn(StackTraceElement[] stack) {
        for (int i = 0; i < stack.length; i++) {
            if (stack[i].getClassName().indexOf('.') < 0 && stack[i].getLineNumber() > 0) {
                if (i == 0) {
                    return stack[i].getMethodName();
                }
                StackTraceElement callee = stack[i - 1];
                String simple = callee.getClassName().substring(callee.getClassName().lastIndexOf('.') + 1);
                return simple + "." + callee.getMethodName() + "(), called at line " + stack[i].getLineNumber() + " of "
                       + LabUnderTest.current().file();
            }
        }
        return stack.length == 0 ? null : stack[0].getClassName() + "." + stack[0].getMethodName() + "()";
    }

    // ---- what the checks read ------------------------------------------------------------------

    /**
     * The member left its group: a rebalance callback said so, or the poll thread went longer
     * than max.poll.interval.ms without polling (the consumer then leaves by itself, and a commit
     * fails before the next poll rejoins).
     */
    boolean evicted() {
        return evicted || longestGap > MAX_POLL_INTERVAL_MS || kickedOut(failure);
    }

    private static boolean kickedOut(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof org.apache.kafka.clients.consumer.CommitFailedException
                || t instanceof org.apache.kafka.common.errors.RebalanceInProgressException
                || t instanceof org.apache.kafka.common.errors.FencedInstanceIdException) {
                return true;
            }
        }
        return false;
    }

    String rebalanceHistory() {
        return String.join(", ", rebalances);
    }

    long longestGap() {
        return longestGap;
    }

    boolean handlerOnPollThread() {
        return handlerOnPollThread;
    }

    String blockedIn() {
        return blockedIn;
    }

    Throwable failure() {
        return failure;
    }

    /** What the lab's call threw, as the check's own failure. */
    void rethrowFailure() {
        Throwable t = failure;
        if (t != null) {
            rethrow(t);
        }
    }

    int maxHeld() {
        return maxHeld;
    }

    int stillToDoAtMax() {
        return stillToDoAtMax;
    }

    Set<TopicPartition> pausedAtMax() {
        return pausedAtMax;
    }

    Set<TopicPartition> assignedAtMax() {
        return assignedAtMax;
    }

    int pauseCalls() {
        return pauseCalls.get();
    }

    int total() {
        return total;
    }

    List<String> unhandled() {
        List<String> missing = new ArrayList<>();
        for (int p = 0; p < RECORDS.length; p++) {
            for (long o = 0; o < RECORDS[p]; o++) {
                if (!handled.containsKey(id(p, o))) {
                    missing.add(id(p, o));
                }
            }
        }
        return missing;
    }

    List<String> handledTwice() {
        return handled.entrySet().stream().filter(e -> e.getValue() > 1).map(Map.Entry::getKey).sorted().toList();
    }

    long refetched() {
        return refetched.get();
    }

    boolean returned() {
        return returned;
    }

    Set<TopicPartition> pausedAtEnd() {
        return pausedAtEnd;
    }

    String commitAhead() {
        return commitAhead;
    }

    Map<TopicPartition, Long> commitBehindDuringStall() {
        return commitBehindDuringStall;
    }

    Map<TopicPartition, Long> doneAtStall() {
        return doneAtStall;
    }

    Map<TopicPartition, Long> finalCommitted() {
        return finalCommitted;
    }

    Map<TopicPartition, Long> ends() {
        return ends;
    }
}
