package workshop;

/**
 * A downstream service that pages the on-call team about a record that could not be delivered:
 * a remote call, slow like one (lab 05 gives it 200 ms). Never call it on the producer's I/O thread.
 */
@FunctionalInterface
public interface AlertService {

    void alert(String key, Exception error);

    /** An alert service that takes {@code millis} per call and prints what it paged. */
    static AlertService withLatency(long millis) {
        return (key, error) -> {
            try {
                Thread.sleep(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            System.out.printf("  ☎ paged on-call about %s (%s) after %d ms, on %s%n",
                    key, error.getClass().getSimpleName(), millis, Thread.currentThread().getName());
        };
    }
}
