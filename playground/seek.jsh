// Read a partition from an offset you choose: assign() and seek().
// No consumer group is involved. This is how a consumer replays records, or starts from offsets it stored itself.
String seekTopic = topic("playground.seek", 1);
for (int i = 0; i < 5; i++) {
    producer.send(new ProducerRecord<>(seekTopic, "reading " + i)).get();
}

TopicPartition partition = new TopicPartition(seekTopic, 0);
consumer.unsubscribe();                  // assign() and subscribe() exclude each other
consumer.assign(List.of(partition));     // this partition, whatever the group does
consumer.seekToEnd(List.of(partition));
long end = consumer.position(partition); // the offset the next record will get
consumer.seek(partition, end - 3);       // start three records before the end
System.out.println("partition 0 ends at offset " + end + "; reading from offset " + (end - 3) + ":");

ConsumerRecords<String, String> records = consumer.poll(Duration.ofSeconds(5));
for (ConsumerRecord<String, String> record : records) {
    System.out.println("  offset " + record.offset() + ": " + record.value());
}
