// Time sends that wait for their acknowledgement against sends that do not.
// send().get() pays a round trip, plus linger.ms (5 ms by default since Kafka 4.0), per record.
String timingTopic = topic("playground.timing", 1);
int count = 100;

long start = System.nanoTime();
for (int i = 0; i < count; i++) {
    producer.send(new ProducerRecord<>(timingTopic, "sync " + i)).get(); // waits for this record's ack
}
double syncSeconds = (System.nanoTime() - start) / 1e9;

start = System.nanoTime();
for (int i = 0; i < count; i++) {
    producer.send(new ProducerRecord<>(timingTopic, "async " + i)); // returns at once: the record is buffered
}
producer.flush(); // then wait once, for all of them
double asyncSeconds = (System.nanoTime() - start) / 1e9;

System.out.printf("%d sync sends:  %6.0f ms, %7.0f records/s%n", count, syncSeconds * 1000, count / syncSeconds);
System.out.printf("%d async sends: %6.0f ms, %7.0f records/s (%.0fx faster)%n", count, asyncSeconds * 1000, count / asyncSeconds, syncSeconds / asyncSeconds);
