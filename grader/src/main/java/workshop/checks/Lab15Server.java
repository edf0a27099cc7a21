package workshop.checks;

import java.io.ByteArrayInputStream;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpContext;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpPrincipal;
import com.sun.net.httpserver.HttpServer;
import org.apache.kafka.clients.producer.Producer;

import workshop.check.LabUnderTest;

/**
 * The lab's handler behind a JDK HttpServer on loopback, with two server threads, and the
 * checker's HttpClient in front of it. Every request carries a number; the server notes when it
 * was queued for a server thread, when a thread took it, and when and with which status the
 * lab answered it, so a check can compare those moments with the producer's acknowledgements.
 */
final class Lab15Server implements AutoCloseable {

    static final String REQUEST_HEADER = "X-Check-Request";
    static final int SERVER_THREADS = 2;

    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    static {
        // Waited time per thread, for heldMillis.
        if (THREADS.isThreadContentionMonitoringSupported()) {
            THREADS.setThreadContentionMonitoringEnabled(true);
        }
        // The JDK server writes headers and body separately: without TCP_NODELAY, Nagle's algorithm and the
        // client's delayed ACK add 40 ms to an answer, whatever the lab does. The lab's own main sets it too.
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    /** What the server saw of one request. */
    static final class Seen {
        volatile long queuedAt;
        volatile long startedAt;
        volatile long returnedAt;
        /** What handleOrder did with its server thread: milliseconds waiting (parked, sleeping, in wait()) and CPU time. */
        volatile long waitedMillis;
        volatile long cpuNanos;

        /**
         * How long handleOrder kept its server thread from the next request by waiting or working. Time the
         * thread was merely not scheduled (other programs on a loaded machine) is neither.
         */
        double heldMillis() {
            return waitedMillis + cpuNanos / 1e6;
        }
        volatile long answeredAt;
        volatile int status;
        volatile Thread answeredOn;
        volatile String body;
    }

    /** What the client got: a status and body, or the exception instead; the time from send to answer. */
    record Answer(int number, String body, int status, String text, Throwable failure, double millis) {
        boolean answered() {
            return failure == null;
        }
    }

    private static final ThreadLocal<Long> QUEUED_AT = new ThreadLocal<>();
    private static final AtomicInteger SERVERS = new AtomicInteger();

    private final HttpServer server;
    private final ThreadPoolExecutor threads;
    private final URI uri;
    private final HttpClient client;
    private final Map<Integer, Seen> seen = new ConcurrentHashMap<>();
    private final List<Throwable> thrown = new CopyOnWriteArrayList<>();
    private final AtomicInteger inHandler = new AtomicInteger();
    private final AtomicInteger handled = new AtomicInteger();
    private final AtomicInteger nextNumber = new AtomicInteger();

    Lab15Server(LabUnderTest lab, Producer<String, String> producer, String topic) throws IOException {
        int id = SERVERS.incrementAndGet();
        AtomicInteger threadNumber = new AtomicInteger();
        threads = new ThreadPoolExecutor(SERVER_THREADS, SERVER_THREADS, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "server-" + id + "-thread-" + threadNumber.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        Executor stamped = task -> {
            long queuedAt = System.nanoTime();
            threads.execute(() -> {
                QUEUED_AT.set(queuedAt);
                task.run();
            });
        };
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 1024);
        server.createContext("/orders", exchange -> {
            inHandler.incrementAndGet();
            try {
                String number = exchange.getRequestHeaders().getFirst(REQUEST_HEADER);
                Seen s = seen.computeIfAbsent(number == null ? -1 : Integer.parseInt(number), n -> new Seen());
                Long queuedAt = QUEUED_AT.get();
                s.startedAt = System.nanoTime();
                s.queuedAt = queuedAt == null ? s.startedAt : queuedAt;
                Watched watched = new Watched(exchange, s);
                long thread = Thread.currentThread().getId();
                java.lang.management.ThreadInfo before = THREADS.getThreadInfo(thread);
                long cpu = THREADS.getCurrentThreadCpuTime();
                try {
                    lab.call("handleOrder", watched, producer, topic);
                } catch (Throwable e) {
                    thrown.add(e);
                    if (s.status == 0) {
                        exchange.close(); // the client sees the connection end without an answer, as it would in production
                    }
                }
                s.cpuNanos = THREADS.getCurrentThreadCpuTime() - cpu;
                java.lang.management.ThreadInfo after = THREADS.getThreadInfo(thread);
                s.waitedMillis = before == null || after == null || before.getWaitedTime() < 0 ? 0
                        : after.getWaitedTime() - before.getWaitedTime();
                s.returnedAt = System.nanoTime();
            } finally {
                handled.incrementAndGet();
                inHandler.decrementAndGet();
            }
        });
        server.setExecutor(stamped);
        server.start();
        uri = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/orders");
        // HTTP/1.1: the JDK server speaks nothing else, and an h2c upgrade attempt would only cost time.
        client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** Posts these bodies at once; each answer within {@code bound}, or its failure. */
    List<CompletableFuture<Answer>> post(List<String> bodies, Duration bound) {
        List<CompletableFuture<Answer>> answers = new ArrayList<>();
        for (String body : bodies) {
            int number = nextNumber.incrementAndGet();
            HttpRequest request = HttpRequest.newBuilder(uri).timeout(bound).header(REQUEST_HEADER, String.valueOf(number))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build();
            long start = System.nanoTime();
            answers.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofString()).handle((response, failure) -> {
                double millis = (System.nanoTime() - start) / 1e6;
                return failure != null ? new Answer(number, body, 0, null, unwrap(failure), millis)
                        : new Answer(number, body, response.statusCode(), response.body(), null, millis);
            }));
        }
        return answers;
    }

    static List<Answer> all(List<CompletableFuture<Answer>> answers) {
        return answers.stream().map(CompletableFuture::join).toList();
    }

    Seen seen(int number) {
        return seen.get(number);
    }

    /** What handleOrder threw, in the order it happened. */
    List<Throwable> thrown() {
        return List.copyOf(thrown);
    }

    /** Requests a server thread has finished with (handleOrder returned or threw). */
    int handled() {
        return handled.get();
    }

    /** True when no server thread is in handleOrder and none is queued. */
    boolean idle() {
        return inHandler.get() == 0 && threads.getQueue().isEmpty();
    }

    /** The server threads that are waiting right now inside the lab's code, with where they wait. */
    List<String> waitingInLab() {
        List<String> waiting = new ArrayList<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            Thread.State state = t.getState();
            if (!t.getName().startsWith("server-") || !(state == Thread.State.WAITING || state == Thread.State.TIMED_WAITING
                                                          || state == Thread.State.BLOCKED)) {
                continue;
            }
            StackTraceElement[] stack = e.getValue();
            for (int i = 1; i < stack.length; i++) {
                if (stack[i].getClassName().indexOf('.') < 0 && stack[i].getLineNumber() > 0) {
                    // The call the lab's line made, and the line.
                    StackTraceElement called = stack[i - 1];
                    waiting.add(state + " in " + called.getClassName() + "." + called.getMethodName() + ", called at "
                                + LabUnderTest.current().file() + ":" + stack[i].getLineNumber() + " (" + stack[i].getMethodName() + ")");
                    break;
                }
            }
        }
        return waiting;
    }

    static Throwable unwrap(Throwable failure) {
        return failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    }

    @Override
    public void close() {
        server.stop(0);
        threads.shutdownNow();
    }

    /** The exchange the lab gets: the real one, with the request body read ahead and the answer noted. */
    private static final class Watched extends HttpExchange {
        private final HttpExchange real;
        private final Seen seen;
        private final InputStream body;

        Watched(HttpExchange real, Seen seen) throws IOException {
            this.real = real;
            this.seen = seen;
            byte[] bytes;
            try (InputStream in = real.getRequestBody()) {
                bytes = in.readAllBytes();
            }
            seen.body = new String(bytes, StandardCharsets.UTF_8);
            this.body = new ByteArrayInputStream(bytes);
        }

        @Override
        public void sendResponseHeaders(int rCode, long responseLength) throws IOException {
            if (seen.status == 0) {
                seen.status = rCode;
                seen.answeredOn = Thread.currentThread();
                seen.answeredAt = System.nanoTime();
            }
            real.sendResponseHeaders(rCode, responseLength);
        }

        @Override
        public Headers getRequestHeaders() {
            return real.getRequestHeaders();
        }

        @Override
        public Headers getResponseHeaders() {
            return real.getResponseHeaders();
        }

        @Override
        public URI getRequestURI() {
            return real.getRequestURI();
        }

        @Override
        public String getRequestMethod() {
            return real.getRequestMethod();
        }

        @Override
        public HttpContext getHttpContext() {
            return real.getHttpContext();
        }

        @Override
        public void close() {
            real.close();
        }

        @Override
        public InputStream getRequestBody() {
            return body;
        }

        @Override
        public OutputStream getResponseBody() {
            return real.getResponseBody();
        }

        @Override
        public InetSocketAddress getRemoteAddress() {
            return real.getRemoteAddress();
        }

        @Override
        public int getResponseCode() {
            return real.getResponseCode();
        }

        @Override
        public InetSocketAddress getLocalAddress() {
            return real.getLocalAddress();
        }

        @Override
        public String getProtocol() {
            return real.getProtocol();
        }

        @Override
        public Object getAttribute(String name) {
            return real.getAttribute(name);
        }

        @Override
        public void setAttribute(String name, Object value) {
            real.setAttribute(name, value);
        }

        @Override
        public void setStreams(InputStream i, OutputStream o) {
            real.setStreams(i, o);
        }

        @Override
        public HttpPrincipal getPrincipal() {
            return real.getPrincipal();
        }
    }
}
