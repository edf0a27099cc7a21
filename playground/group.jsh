// Join a consumer group and see the partitions it gives you.
// subscribe() hands partitions out through the group; they arrive during poll(),
// and the listener hears each change (a second member would take some away).
String groupTopic = topic("playground.group", 3);

consumer.unsubscribe(); // assign() and subscribe() exclude each other
consumer.subscribe(List.of(groupTopic), new ConsumerRebalanceListener() {
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        System.out.println("revoked:  " + partitions);
    }
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        System.out.println("assigned: " + partitions);
    }
});
long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
while (consumer.assignment().isEmpty() && System.nanoTime() < deadline) {
    consumer.poll(Duration.ofMillis(200)); // joining the group happens inside poll()
}
System.out.println(consumer.groupMetadata().groupId() + " gave this consumer " + consumer.assignment());
