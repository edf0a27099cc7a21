// Time sends that wait for their acknowledgement against sends that do not.
// send().get() pays a round trip, plus linger.ms (5 ms by default since Kafka 4.0), per record.
// Each measurement is one block, since JShell compiles each top-level statement on its own.
// Run it twice: the first run also warms the JVM up.
String timingTopic = topic("playground.timing", 1);
int count = 100;

long syncNanos;
{
    long start = System.nanoTime();
    for (int i = 0; i < count; i++) {
        producer.send(new ProducerRecord<>(timingTopic, "sync " + i)).get(); // waits for this record's ack
    }
    syncNanos = System.nanoTime() - start;
}
long asyncNanos;
{
    long start = System.nanoTime();
    for (int i = 0; i < count; i++) {
        producer.send(new ProducerRecord<>(timingTopic, "async " + i)); // returns at once: the record is buffered
    }
    producer.flush(); // then wait once, for all of them
    asyncNanos = System.nanoTime() - start;
}
System.out.printf("%d sync sends:  %6.0f ms, %7.0f records/s%n", count, syncNanos / 1e6, count / (syncNanos / 1e9));
System.out.printf("%d async sends: %6.0f ms, %7.0f records/s (%.0fx faster)%n", count, asyncNanos / 1e6, count / (asyncNanos / 1e9), (double) syncNanos / asyncNanos);
