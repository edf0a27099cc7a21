package workshop.check;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A send's future that tells a checker each time the lab is about to wait on it; everything else
 * goes to the real future.
 */
public abstract class WaitWatchedFuture<T> implements Future<T> {

    protected final Future<T> future;

    protected WaitWatchedFuture(Future<T> future) {
        this.future = future;
    }

    /** Called before the lab waits: {@code unit} is null for a get() without a bound. */
    protected abstract void beforeWait(long timeout, TimeUnit unit);

    @Override
    public T get() throws InterruptedException, ExecutionException {
        beforeWait(-1, null);
        return future.get();
    }

    @Override
    public T get(long timeout, TimeUnit unit) throws InterruptedException, ExecutionException, TimeoutException {
        beforeWait(timeout, unit);
        return future.get(timeout, unit);
    }

    @Override
    public boolean cancel(boolean mayInterruptIfRunning) {
        return future.cancel(mayInterruptIfRunning);
    }

    @Override
    public boolean isCancelled() {
        return future.isCancelled();
    }

    @Override
    public boolean isDone() {
        return future.isDone();
    }
}
