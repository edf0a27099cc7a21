package workshop.check;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.metrics.KafkaMetric;

/**
 * A producer that hands every call to a real one: the checkers' wrappers extend it and override
 * only the calls they watch or steer, so the lab always talks to a real client underneath.
 */
public abstract class ForwardingProducer<K, V> implements Producer<K, V> {

    private final Producer<K, V> forwardTo;

    protected ForwardingProducer(Producer<K, V> forwardTo) {
        this.forwardTo = forwardTo;
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record) {
        return forwardTo.send(record);
    }

    @Override
    public Future<RecordMetadata> send(ProducerRecord<K, V> record, Callback callback) {
        return forwardTo.send(record, callback);
    }

    @Override
    public void flush() {
        forwardTo.flush();
    }

    @Override
    public List<PartitionInfo> partitionsFor(String topic) {
        return forwardTo.partitionsFor(topic);
    }

    @Override
    public Map<MetricName, ? extends Metric> metrics() {
        return forwardTo.metrics();
    }

    @Override
    public Uuid clientInstanceId(Duration timeout) {
        return forwardTo.clientInstanceId(timeout);
    }

    @Override
    public void close() {
        forwardTo.close();
    }

    @Override
    public void close(Duration timeout) {
        forwardTo.close(timeout);
    }

    @Override
    public void initTransactions() {
        forwardTo.initTransactions();
    }

    @Override
    public void beginTransaction() {
        forwardTo.beginTransaction();
    }

    @Override
    public void sendOffsetsToTransaction(Map<TopicPartition, OffsetAndMetadata> offsets, ConsumerGroupMetadata groupMetadata) {
        forwardTo.sendOffsetsToTransaction(offsets, groupMetadata);
    }

    @Override
    public void commitTransaction() {
        forwardTo.commitTransaction();
    }

    @Override
    public void abortTransaction() {
        forwardTo.abortTransaction();
    }

    @Override
    public void registerMetricForSubscription(KafkaMetric metric) {
        forwardTo.registerMetricForSubscription(metric);
    }

    @Override
    public void unregisterMetricFromSubscription(KafkaMetric metric) {
        forwardTo.unregisterMetricFromSubscription(metric);
    }
}
