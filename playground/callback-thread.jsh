// Watch the thread that runs a send's callback.
// It is the producer's I/O thread, kafka-producer-network-thread, not yours. While
// a callback runs, that one thread sends nothing else: keep callbacks short.
String callbackTopic = topic("playground.callbacks", 3);

for (String key : List.of("a", "b", "c")) {
    System.out.println("send() for key " + key + " is called on: " + Thread.currentThread().getName());
    producer.send(new ProducerRecord<>(callbackTopic, key, "hello"), (metadata, exception) -> {
        String outcome = exception == null ? "acked at partition " + metadata.partition() + ", offset " + metadata.offset() : "failed: " + exception;
        System.out.println("callback for key " + key + " runs on: " + Thread.currentThread().getName() + ", " + outcome);
    });
}
producer.flush(); // returns once every callback above has run

// A record the producer refuses before buffering it (here, larger than max.request.size,
// 1 MB by default) fails at once: its callback runs inside send(), on your thread.
{ // one block, one thread: JShell runs each top-level statement on a thread of its own
    System.out.println("send() for key big is called on: " + Thread.currentThread().getName());
    producer.send(new ProducerRecord<>(callbackTopic, "big", "x".repeat(2_000_000)), (metadata, exception) ->
            System.out.println("callback for key big runs on: " + Thread.currentThread().getName() + ", failed: " + exception.getClass().getSimpleName()));
}
