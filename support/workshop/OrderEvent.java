package workshop;

import java.util.ArrayList;
import java.util.List;

/**
 * One step in the life of a web shop order (lab 07's running example): {@code step} counts the
 * order's own events from 0, in the order they happened, and {@code eventId} is unique to this
 * event. An order's events only make sense in that order: an item removed before it was added is a bug.
 */
public record OrderEvent(String orderId, int step, String type, String eventId) {

    private static final String[] CHANGES = {"ITEM_ADDED", "ITEM_REMOVED", "ADDRESS_CHANGED", "PAID"};

    /** The record value: {@code order-3#4 PAID}, the order, its step and what happened. */
    public String value() {
        return orderId + "#" + step + " " + type;
    }

    /**
     * A deterministic series: {@code count} events of {@code orders} orders, interleaved the way a
     * busy shop produces them (order 0, 1, 2, ..., 0, 1, ...), each order's steps in order.
     */
    public static List<OrderEvent> sample(int count, int orders) {
        List<OrderEvent> events = new ArrayList<>(count);
        int[] steps = new int[orders];
        for (int i = 0; i < count; i++) {
            int order = i % orders;
            int step = steps[order]++;
            events.add(new OrderEvent("order-" + order, step, step == 0 ? "CREATED" : CHANGES[(step - 1) % CHANGES.length], "evt-" + (1000 + i)));
        }
        return events;
    }
}
