// See batching at work in the producer's own metrics.
// 10,000 sends that do not wait travel in a few large requests: batch.size (16 KB)
// and linger.ms (5 ms) decide how many records share one request to the broker.
String batchTopic = topic("playground.batching", 3);
for (int i = 0; i < 10_000; i++) {
    producer.send(new ProducerRecord<>(batchTopic, "sensor-" + (i % 50), "reading " + i));
}
producer.flush();

for (String name : List.of("batch-size-avg", "records-per-request-avg", "record-queue-time-avg", "request-latency-avg")) {
    producer.metrics().forEach((id, metric) -> {
        if (id.group().equals("producer-metrics") && id.name().equals(name)) {
            System.out.printf("%-24s %10.1f   %s%n", name, (Double) metric.metricValue(), id.description());
        }
    });
}
