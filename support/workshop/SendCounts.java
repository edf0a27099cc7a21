package workshop;

/** How a batch of sends ended: acknowledged by the broker, or failed (and sent to the DLQ). */
public record SendCounts(int acked, int failed) {
}
