// Send with and without a key, and see the partition each record lands on.
// A key picks the partition: murmur2(key) modulo the partition count, so one key's
// records stay on one partition, in order. Without a key the producer fills a batch
// on one partition, then moves on (the sticky partitioner of KIP-480).
String keysTopic = topic("playground.keys", 3);

for (String key : List.of("sensor-1", "sensor-2", "sensor-3", "sensor-1")) {
    RecordMetadata sent = producer.send(new ProducerRecord<>(keysTopic, key, "21.5")).get();
    int expected = Utils.toPositive(Utils.murmur2(key.getBytes())) % 3;
    System.out.printf("key %-9s -> partition %d (murmur2 says %d), offset %d%n", key, sent.partition(), expected, sent.offset());
}
for (int i = 0; i < 3; i++) {
    RecordMetadata sent = producer.send(new ProducerRecord<>(keysTopic, "no key " + i)).get();
    System.out.printf("no key        -> partition %d, offset %d%n", sent.partition(), sent.offset());
}
