package workshop;

import org.apache.kafka.clients.consumer.ConsumerRecord;

/** What a consumer does with one record: the work that must happen at least once. */
@FunctionalInterface
public interface RecordHandler {
    void handle(ConsumerRecord<String, String> record) throws Exception;
}
