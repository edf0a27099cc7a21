package workshop.checks;

import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The bound the checker hands to lab 06's send loop: a real {@link Semaphore} that also notes
 * how many permits were taken, and on which thread they were given back (the producer's I/O
 * thread runs the callbacks; any other thread gave a permit back before the acknowledgement).
 */
final class Lab06Permits extends Semaphore {

    private static final String IO_THREAD = "kafka-producer-network-thread";

    private final int bound;
    private final AtomicInteger taken = new AtomicInteger();
    private final AtomicInteger refusals = new AtomicInteger();
    private final AtomicInteger releasedInCallbacks = new AtomicInteger();
    private final AtomicInteger releasedElsewhere = new AtomicInteger();
    private volatile String elsewhereThread;

    Lab06Permits(int bound) {
        super(bound);
        this.bound = bound;
    }

    int bound() {
        return bound;
    }

    /** Permits taken by acquire or by a tryAcquire that succeeded. */
    int taken() {
        return taken.get();
    }

    /** tryAcquire calls that returned false. */
    int refusals() {
        return refusals.get();
    }

    int releasedInCallbacks() {
        return releasedInCallbacks.get();
    }

    /** Permits given back on a thread other than the producer's I/O thread. */
    int releasedElsewhere() {
        return releasedElsewhere.get();
    }

    String elsewhereThread() {
        return elsewhereThread;
    }

    private boolean took(boolean ok, int permits) {
        if (ok) {
            taken.addAndGet(permits);
        } else {
            refusals.incrementAndGet();
        }
        return ok;
    }

    @Override
    public void acquire() throws InterruptedException {
        super.acquire();
        taken.incrementAndGet();
    }

    @Override
    public void acquire(int permits) throws InterruptedException {
        super.acquire(permits);
        taken.addAndGet(permits);
    }

    @Override
    public void acquireUninterruptibly() {
        super.acquireUninterruptibly();
        taken.incrementAndGet();
    }

    @Override
    public void acquireUninterruptibly(int permits) {
        super.acquireUninterruptibly(permits);
        taken.addAndGet(permits);
    }

    @Override
    public boolean tryAcquire() {
        return took(super.tryAcquire(), 1);
    }

    @Override
    public boolean tryAcquire(int permits) {
        return took(super.tryAcquire(permits), permits);
    }

    @Override
    public boolean tryAcquire(long timeout, TimeUnit unit) throws InterruptedException {
        return took(super.tryAcquire(timeout, unit), 1);
    }

    @Override
    public boolean tryAcquire(int permits, long timeout, TimeUnit unit) throws InterruptedException {
        return took(super.tryAcquire(permits, timeout, unit), permits);
    }

    @Override
    public int drainPermits() {
        int drained = super.drainPermits();
        taken.addAndGet(drained);
        return drained;
    }

    @Override
    public void release() {
        noteRelease(1);
        super.release();
    }

    @Override
    public void release(int permits) {
        noteRelease(permits);
        super.release(permits);
    }

    /** The checker's own release, to let a stuck loop go: not counted as the lab's. */
    void releaseByChecker(int permits) {
        super.release(permits);
    }

    private void noteRelease(int permits) {
        Thread me = Thread.currentThread();
        if (me.getName().startsWith(IO_THREAD)) {
            releasedInCallbacks.addAndGet(permits);
        } else {
            releasedElsewhere.addAndGet(permits);
            elsewhereThread = me.getName();
        }
    }
}
