package workshop;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * A remote call made for one record (an HTTP request, a lookup in a remote store): it blocks
 * its thread for the service's latency. Lab 12 makes many of them at once.
 */
@FunctionalInterface
public interface RemoteService {
    void call(ConsumerRecord<String, String> record) throws Exception;

    /** A service that takes {@code millis} per call, as a remote round trip would. */
    static RemoteService withLatency(long millis) {
        return record -> Thread.sleep(millis);
    }
}
