// See a consumer group's lag with the Admin client, as kafka-consumer-groups.sh shows it.
// Lag is the partition's end offset minus the offset the group committed.
String lagTopic = topic("playground.lag", 1);
for (int i = 0; i < 10; i++) {
    producer.send(new ProducerRecord<>(lagTopic, "job " + i));
}
producer.flush();

TopicPartition partition = new TopicPartition(lagTopic, 0);
long end = admin.listOffsets(Map.of(partition, OffsetSpec.latest())).partitionResult(partition).get().offset();
// Say a group has processed all but four records: commit that (a commit is just an offset).
// Admin can set a group's offsets only while it has no members: this group never has any.
String group = "playground.lag-readers";
admin.alterConsumerGroupOffsets(group, Map.of(partition, new OffsetAndMetadata(end - 4))).all().get();

long committed = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(partition).offset();
System.out.println("group " + group + " on " + partition + ": end offset " + end + ", committed " + committed + ", lag " + (end - committed));
