///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.RecordHandler;
import workshop.Workshop;

/**
 * Lab 15: an async web service.
 *
 * POST /orders must answer fast, but fulfilling an order takes 100 ms. The service publishes the
 * order and answers 202 Accepted once Kafka has acknowledged it: from then on the order is safe,
 * and a worker does the slow part. No server thread ever waits: the send's callback answers.
 *
 * Stages, mirrored in main:
 *   1. POST /orders: a bad order answers 400, an acknowledged one 202, a failed publish 503;
 *   2. a worker consumes the orders, does the 100 ms of work, then commits;
 *   3. 200 concurrent requests: the work done inline, then the async service, p50/p95/p99.
 */
class AsyncService {

    static final String TOPIC = "orders";
    /** What fulfilling one order takes (charge the card, reserve the stock): done by the worker, never in a request. */
    static final int WORK_MS = 100;
    static final int MAX_BODY = 1024;

    /** An order as the client posts it: {@code id=o-17&item=book&qty=2}. */
    record Order(String id, String item, int qty) {

        /** Reads a posted body; throws IllegalArgumentException with the reason when it is not an order. */
        static Order parse(String body) {
            if (body == null || body.isBlank() || body.length() > MAX_BODY) {
                throw new IllegalArgumentException("expected id=...&item=...&qty=... (at most " + MAX_BODY + " characters)");
            }
            Map<String, String> fields = new java.util.HashMap<>();
            for (String pair : body.strip().split("&")) {
                String[] kv = pair.split("=", 2);
                if (kv.length != 2 || fields.put(kv[0], kv[1]) != null) {
                    throw new IllegalArgumentException("expected name=value pairs joined by &, each name once: " + pair);
                }
            }
            String id = fields.getOrDefault("id", "");
            String item = fields.getOrDefault("item", "");
            if (!id.matches("[A-Za-z0-9-]{1,64}") || !item.matches("[A-Za-z0-9-]{1,64}")) {
                throw new IllegalArgumentException("id and item must be 1 to 64 letters, digits or dashes");
            }
            int qty;
            try {
                qty = Integer.parseInt(fields.getOrDefault("qty", ""));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("qty must be a whole number");
            }
            if (qty < 1 || qty > 1000 || fields.size() != 3) {
                throw new IllegalArgumentException("qty must be 1 to 1000, and only id, item and qty are allowed");
            }
            return new Order(id, item, qty);
        }

        /** The record's value: the order in the same form the client posted it. */
        String toBody() {
            return "id=" + id + "&item=" + item + "&qty=" + qty;
        }
    }

    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // A 202 promises the order is safe: wait for every in-sync replica (the default, said out loud).
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        // The client waits for the answer: a publish that cannot succeed fails in 5 s, not the default 2 min.
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 5_000);
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 4_000);
        // send() may wait for metadata or buffer space on the server's thread: keep that short too.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 2_000);
        return config;
    }

    static Properties consumerConfig(String bootstrapServers, String groupId) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // The workers share the orders through their group; its committed offsets say what is done.
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // Only the worker commits, and only after the work.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // A new group starts with the orders already waiting, not after them.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // 100 ms per order: a small batch keeps each poll well inside max.poll.interval.ms.
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 20);
        return config;
    }

    /** The first exception that escaped handleOrder (a bug, or a step of the lab not done yet). */
    static final AtomicReference<RuntimeException> HANDLER_THREW = new AtomicReference<>();

    /** The server: POST /orders goes to handleOrder on one of {@code serverThreads}. */
    static HttpServer startServer(InetSocketAddress address, Producer<String, String> producer, String topic,
                                  java.util.concurrent.Executor serverThreads) throws IOException {
        // A burst of clients connects at once: let the kernel queue them rather than drop them.
        HttpServer server = HttpServer.create(address, 1024);
        server.createContext("/orders", exchange -> {
            try {
                handleOrder(exchange, producer, topic);
            } catch (RuntimeException e) {
                HANDLER_THREW.compareAndSet(null, e); // for main to report
                respond(exchange, 500, "internal error\n"); // a bug in the service: the client still gets an answer
            }
        });
        server.setExecutor(serverThreads);
        server.start();
        return server;
    }

    /** What the server runs for each request to /orders, on one of its threads. */
    static void handleOrder(HttpExchange exchange, Producer<String, String> producer, String topic) throws IOException {
        if (!"POST".equals(exchange.getRequestMethod())) {
            respond(exchange, 405, "POST an order to /orders\n");
            return;
        }
        Order order = readOrder(exchange);
        if (order != null) {
            publish(exchange, producer, topic, order);
        }
        // Back to the pool at once: this thread takes the next request while Kafka acknowledges this one.
    }

    /** The posted order, or null once a malformed body has been answered with 400. */
    static Order readOrder(HttpExchange exchange) throws IOException {
        // TODO 1: read the body (readBody) and parse it (Order.parse). When it is not an order,
        //         Order.parse throws IllegalArgumentException: answer 400 with respond(...), publish
        //         nothing, and return null.
        throw Workshop.todo(1, "parse the order, or answer 400");
    }

    static void publish(HttpExchange exchange, Producer<String, String> producer, String topic, Order order) {
        // TODO 2: send the order (key: its id, value: order.toBody()) and return at once: this server
        //         thread must never wait for Kafka. Answer from the send's callback: 202 with
        //         accepted(order, metadata) once Kafka acknowledged it, 503 when the send failed.
        //         send() itself can throw, too: that is a failed publish as well.
        throw Workshop.todo(2, "publish the order and answer from the send's callback");
    }

    /** The 202's body: where the order is now stored, which only the acknowledgement knows. */
    static String accepted(Order order, RecordMetadata metadata) {
        return "accepted " + order.id() + " at " + metadata.topic() + "-" + metadata.partition() + "@" + metadata.offset() + "\n";
    }

    /** Sends the status and text and closes the exchange: the client has its answer. Safe on any thread. */
    static void respond(HttpExchange exchange, int status, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        try {
            exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        } catch (IOException e) {
            // The client hung up: there is no one left to answer.
        } finally {
            exchange.close();
        }
    }

    static String readBody(HttpExchange exchange) throws IOException {
        try (InputStream in = exchange.getRequestBody()) {
            return new String(in.readNBytes(MAX_BODY + 1), StandardCharsets.UTF_8);
        }
    }

    /** The worker: takes the orders of the topic one batch after the other until told to stop. */
    static void runWorker(Consumer<String, String> consumer, String topic, RecordHandler work, AtomicBoolean stop) throws Exception {
        consumer.subscribe(List.of(topic));
        while (!stop.get()) {
            // TODO 3: poll, hand every record to work.handle (the 100 ms of work), and only then
            //         commit, so that a crash repeats an order rather than loses it.
            throw Workshop.todo(3, "poll, do the work, then commit");
        }
    }

    /** The same service done the tempting way, for the comparison in main: the work inside the request. */
    static void handleOrderInline(HttpExchange exchange) throws IOException {
        try {
            Order order = Order.parse(readBody(exchange));
            fulfil(order);
            respond(exchange, 200, "fulfilled " + order.id() + "\n");
        } catch (IllegalArgumentException e) {
            respond(exchange, 400, "not an order: " + e.getMessage() + "\n");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            respond(exchange, 503, "interrupted\n");
        }
    }

    /** The slow part: charge the card, reserve the stock. */
    static void fulfil(Order order) throws InterruptedException {
        Thread.sleep(WORK_MS);
    }

    public static void main(String[] args) {
        // The JDK server writes headers and body apart: without TCP_NODELAY, Nagle's algorithm holds the body
        // until the client's delayed ACK, 40 ms later, on every answer. Set before the first server starts.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        Workshop.run("15-async-service", args, cluster -> {
            String topic = TOPIC + "-" + System.currentTimeMillis(); // a fresh topic: the counts are this run's
            cluster.ensureTopic(topic, 3);
            Properties config = producerConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());
            HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
            ExecutorService twoThreads = Executors.newFixedThreadPool(2);
            Map<String, Integer> done = new ConcurrentHashMap<>();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Exception> workerFailed = new AtomicReference<>();
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                // 1. The service, on two threads.
                HttpServer server = startServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), producer, topic, timed(twoThreads));
                URI orders = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/orders");
                System.out.println("1. POST /orders, two server threads:");
                for (String body : List.of("id=o-1&item=book&qty=2", "id=o-2&item=lamp&qty=1", "item=book&qty=two")) {
                    show(body, client.send(post(orders, body), HttpResponse.BodyHandlers.ofString()));
                }
                // 2. The worker, on a thread of its own: the slow part, one order after the other.
                startWorker(cluster, topic, done, stop, workerFailed);
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (done.size() < 2 && workerFailed.get() == null && System.nanoTime() < deadline) {
                    Thread.sleep(20); // the demo waits for its two orders; a checker would use a bounded await
                }
                if (workerFailed.get() != null) {
                    throw workerFailed.get();
                }
                // 3. The same orders, answered with the work inside the request, then by this service.
                System.out.printf("%n3. Time to answer, as the client sees it (the work takes %d ms):%n", WORK_MS);
                System.out.printf("   %-38s %9s %10s %10s %13s%n", "", "client p50", "p95", "p99", "thread p99");
                ExecutorService manyThreads = Executors.newFixedThreadPool(200);
                try {
                    URI inline = startInline(timed(twoThreads));
                    report("one at a time, inline work", oneAtATime(client, inline, 30));
                    report("one at a time, async", oneAtATime(client, orders, 30));
                    report("200 at once, inline work, 200 threads", atOnce(client, startInline(timed(manyThreads))));
                    report("200 at once, async, 2 threads", atOnce(client, orders));
                } finally {
                    manyThreads.shutdownNow();
                }
                System.out.println("   The seed: \"reducing the response time from 100ms to 10ms\".");
                System.out.printf("   Inline on 2 threads, 200 at once would take 200 x %d ms / 2 = %.0f s for the last answer.%n",
                        WORK_MS, 200 * WORK_MS / 2 / 1000.0);
                System.out.printf("   Meanwhile the worker did %d orders, %d ms each: the topic holds the rest, not a waiting client.%n",
                        done.size(), WORK_MS);
                server.stop(0);
                // 1 again: the producer is closed, as in a service shutting down, so the publish fails.
                producer.close(Duration.ofSeconds(5));
                HttpServer closed = startServer(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), producer, topic, twoThreads);
                System.out.println("\n1. Once more, with the producer closed:");
                show("id=o-3&item=book&qty=1", client.send(post(URI.create("http://127.0.0.1:" + closed.getAddress().getPort() + "/orders"),
                        "id=o-3&item=book&qty=1"), HttpResponse.BodyHandlers.ofString()));
                closed.stop(0);
            } finally {
                stop.set(true);
                twoThreads.shutdownNow();
            }
            long twice = done.values().stream().filter(n -> n > 1).count();
            System.out.printf("%n2. The worker stopped after %d orders; done twice: %d%n", done.size(), twice);
        });
        // Check your work: ./jbang grade 15
    }

    static void show(String body, HttpResponse<String> answer) throws Exception {
        RuntimeException unfinished = HANDLER_THREW.get();
        if (unfinished != null) {
            throw unfinished; // a step of the lab not done yet: Workshop.run says which
        }
        System.out.printf("   %-24s → %d %s", body, answer.statusCode(), answer.body());
    }

    /** Starts a server whose handler does the work inside the request; returns its /orders address. */
    static URI startInline(java.util.concurrent.Executor threads) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
        server.createContext("/orders", AsyncService::handleOrderInline);
        server.setExecutor(threads);
        server.start();
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/orders");
    }

    static void startWorker(Cluster cluster, String topic, Map<String, Integer> done, AtomicBoolean stop, AtomicReference<Exception> failed) {
        Properties config = consumerConfig(cluster.bootstrapServers(), "order-workers-" + System.nanoTime());
        config.putAll(cluster.clientConfig());
        Thread worker = new Thread(() -> {
            try (Consumer<String, String> consumer = new KafkaConsumer<>(config)) {
                runWorker(consumer, topic, record -> {
                    fulfil(Order.parse(record.value()));
                    if (done.merge(record.key(), 1, Integer::sum) == 1 && done.size() <= 2) {
                        System.out.printf("2. worker: fulfilled %s (partition %d, offset %d)%n", record.key(), record.partition(), record.offset());
                    }
                }, stop);
            } catch (Exception e) {
                failed.set(e);
            }
        }, "order-worker");
        worker.setDaemon(true);
        worker.start();
    }

    static HttpRequest post(URI uri, String body) {
        return HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    static final AtomicInteger NEXT_ORDER = new AtomicInteger(100);

    /** Requests one after the other: each answer's time in ms, sorted. */
    static double[] oneAtATime(HttpClient client, URI uri, int requests) throws Exception {
        double[] millis = new double[requests];
        client.send(post(uri, "id=o-" + NEXT_ORDER.incrementAndGet() + "&item=book&qty=1"), HttpResponse.BodyHandlers.ofString());
        HELD_MS.clear();
        for (int i = 0; i < requests; i++) {
            HttpRequest request = post(uri, "id=o-" + NEXT_ORDER.incrementAndGet() + "&item=book&qty=1");
            long start = System.nanoTime();
            client.send(request, HttpResponse.BodyHandlers.ofString());
            millis[i] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(millis);
        return millis;
    }

    /** A first wave of 200 to open connections and warm up, then 200 requests at once: their times in ms, sorted. */
    static double[] atOnce(HttpClient client, URI uri) {
        wave(client, uri, 200);
        HELD_MS.clear();
        double[] millis = wave(client, uri, 200);
        Arrays.sort(millis);
        return millis;
    }

    static double[] wave(HttpClient client, URI uri, int requests) {
        List<CompletableFuture<Double>> answers = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            HttpRequest request = post(uri, "id=o-" + NEXT_ORDER.incrementAndGet() + "&item=book&qty=1");
            long start = System.nanoTime();
            answers.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                    .thenApply(r -> (System.nanoTime() - start) / 1e6));
        }
        return answers.stream().mapToDouble(CompletableFuture::join).toArray();
    }

    static void report(String handler, double[] sorted) {
        double[] held = HELD_MS.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        System.out.printf("   %-38s %6.1f ms %7.1f ms %7.1f ms %10.2f ms%n", handler, at(sorted, 50), at(sorted, 95), at(sorted, 99), at(held, 99));
    }

    /** How long each request kept a server thread (wall clock), for the table in main. */
    static final java.util.Queue<Double> HELD_MS = new java.util.concurrent.ConcurrentLinkedQueue<>();

    /** The server threads, noting how long each request kept one of them. */
    static java.util.concurrent.Executor timed(ExecutorService threads) {
        return task -> threads.execute(() -> {
            long start = System.nanoTime();
            task.run();
            HELD_MS.add((System.nanoTime() - start) / 1e6);
        });
    }

    static double at(double[] sorted, int percentile) {
        return sorted[Math.max(0, (int) Math.ceil(percentile / 100.0 * sorted.length) - 1)];
    }
}
