package workshop.room;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.KafkaException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import workshop.Room;
import workshop.Workshop;
import workshop.grader.Curriculum;
import workshop.grader.Project;

/**
 * {@code ./jbang dashboard}: a live page of the room, for the instructor's screen or projector.
 * Who has passed which lab, who is stuck, and on which check, read from every grade the learners'
 * grading runs published to the room's broker.
 *
 * <ol>
 *   <li>Find the broker: the one named, else this machine's room ({@code .kafka-room/instructor.properties}),
 *       else localhost:9092.</li>
 *   <li>Take the page's port, then check that the broker answers.</li>
 *   <li>Read the progress topic from its beginning (see {@link ProgressReader}).</li>
 *   <li>Serve the page, the state as JSON and a stream of server-sent events, read-only.</li>
 * </ol>
 */
@Command(name = "dashboard", mixinStandardHelpOptions = true,
        description = "Serves a live page of the room: each learner's result per lab, and the checks people are stuck on,"
                + " read from the room's broker. Read-only: it changes nothing on the broker.")
public final class Dashboard implements Callable<Integer> {

    static final Duration BROKER_BOUND = Duration.ofSeconds(15);
    static final Duration KEEPALIVE = Duration.ofSeconds(15);
    static final int MAX_LIVE_PAGES = 64;
    static final String ROOM_CONFIG = ".kafka-room/instructor.properties";

    @Option(names = "--bootstrap-server", paramLabel = "HOST:PORT",
            description = "the room's broker (default: this machine's room from " + ROOM_CONFIG + " if it runs, else localhost:9092)")
    String bootstrapServer;

    @Option(names = "--command-config", paramLabel = "FILE",
            description = "client properties to log in with, as Kafka's tools take them (its bootstrap.servers is used when --bootstrap-server is not given)")
    Path commandConfig;

    @Option(names = "--port", defaultValue = "8090", paramLabel = "N", description = "the page's port (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1", paramLabel = "ADDR",
            description = "the address to serve on (default: ${DEFAULT-VALUE}, this machine only; 0.0.0.0: the room's network too)")
    String bind;

    public static void main(String[] args) {
        int code = new CommandLine(new Dashboard()).execute(args);
        System.out.flush();
        System.exit(code);
    }

    @Override
    public Integer call() throws InterruptedException {
        Running running;
        try {
            running = open(System.out);
        } catch (PortInUseException e) {
            System.err.println("✗ " + e.getMessage());
            return 2;
        } catch (Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.close();
            System.out.println("Dashboard stopped.");
            stopped.countDown();
        }, "dashboard-stop"));
        stopped.await();
        return 0;
    }

    /** The dashboard these options describe, started; the one line saying where is printed on {@code out}. */
    public Running open(PrintStream out) {
        Workshop.quietLogs();
        Broker broker = broker(out);
        List<DashboardState.Column> labs = DashboardState.columns(Curriculum.load(Project.root()));
        return start(broker.bootstrap(), broker.clientConfig(), bind, port, labs, out);
    }

    /** Where the dashboard reads from, and the client settings to log in with. */
    record Broker(String bootstrap, Properties clientConfig) {
    }

    Broker broker(PrintStream out) {
        Properties clientConfig = Workshop.loadClientConfig(commandConfig);
        if (bootstrapServer != null && !bootstrapServer.isBlank()) {
            return new Broker(bootstrapServer.strip(), clientConfig);
        }
        if (commandConfig != null) {
            String named = bootstrapIn(commandConfig);
            return new Broker(named != null ? named : Workshop.DEFAULT_BOOTSTRAP, clientConfig);
        }
        Path room = Workshop.workshopFolder().resolve(ROOM_CONFIG);
        if (Files.isRegularFile(room)) {
            String address = bootstrapIn(room);
            if (address != null && Workshop.addressAnswers(address.split(",")[0].strip(), 500)) {
                out.println("Using this machine's room broker at " + address + ", logged in as the instructor (" + ROOM_CONFIG + ").");
                return new Broker(address, Workshop.loadClientConfig(room));
            }
            out.println("The room broker in " + ROOM_CONFIG + " (" + address + ") does not answer: is ./jbang broker --room running?"
                    + " Trying " + Workshop.DEFAULT_BOOTSTRAP + ".");
        }
        return new Broker(Workshop.DEFAULT_BOOTSTRAP, clientConfig);
    }

    private static String bootstrapIn(Path file) {
        Properties properties = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            properties.load(in);
        } catch (IOException e) {
            throw new Workshop.WorkshopException("Cannot read the client properties file " + file + ": " + e.getMessage());
        }
        String bootstrap = properties.getProperty(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
        return bootstrap == null || bootstrap.isBlank() ? null : bootstrap.strip();
    }

    /**
     * Serves the dashboard of the progress topic at {@code bootstrap} on {@code bind:port} (port 0:
     * any free one) until closed, with a column for each of {@code labs}.
     *
     * @throws PortInUseException         when the port is taken
     * @throws Workshop.WorkshopException when no broker answers within 15 s, or {@code bind:port} cannot be served on
     */
    public static Running start(String bootstrap, Properties clientConfig, String bind, int port,
                                List<DashboardState.Column> labs, PrintStream out) {
        if (port < 0 || port > 65_535) {
            throw new Workshop.WorkshopException("--port " + port + " is not a port: take one from 1024 to 65535, e.g. 8090.");
        }
        InetAddress address;
        try {
            address = InetAddress.getByName(bind);
        } catch (UnknownHostException e) {
            throw new Workshop.WorkshopException("--bind " + bind + " is not an address: try 127.0.0.1 (this machine) or 0.0.0.0 (the room's network too).");
        }
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(address, port), 0);
        } catch (BindException e) {
            throw new PortInUseException(bind, port);
        } catch (IOException e) {
            throw new Workshop.WorkshopException("Cannot serve on " + bind + ":" + port + ": " + e.getMessage());
        }
        ProgressReader reader = null;
        ExecutorService threads = null;
        try {
            Workshop.requireReachable(bootstrap, clientConfig, BROKER_BOUND);
            DashboardState state = new DashboardState(labs, Room.PROGRESS_TOPIC + " at " + bootstrap);
            reader = new ProgressReader(bootstrap, clientConfig, state);
            reader.start();
            threads = Executors.newCachedThreadPool(daemonThreads());
            Running running = new Running(server, threads, reader, state, url(address, bind, server.getAddress().getPort()), bootstrap);
            server.createContext("/", running::handle);
            server.setExecutor(threads);
            server.start();
            boolean caughtUp = reader.awaitCaughtUp(BROKER_BOUND);
            DashboardState.Snapshot now = state.snapshot();
            String sofar = !caughtUp ? "still reading its grades"
                    : now.topicFound() && now.eventsRead() > 0 ? now.eventsRead() + (now.eventsRead() == 1 ? " grade" : " grades") + " so far"
                    : "no grades yet";
            out.println("✓ Dashboard on " + running.url() + " — reading " + Room.PROGRESS_TOPIC + " at " + bootstrap
                    + " (" + sofar + "). Ctrl+C stops it.");
            return running;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopQuietly(server, reader, threads);
            throw new Workshop.WorkshopException("Interrupted while starting the dashboard.");
        } catch (KafkaException e) {
            stopQuietly(server, reader, threads);
            throw new Workshop.WorkshopException("Cannot read " + Room.PROGRESS_TOPIC + " at " + bootstrap + ": " + ProgressReader.rootMessage(e));
        } catch (RuntimeException e) {
            stopQuietly(server, reader, threads);
            throw e;
        }
    }

    private static void stopQuietly(HttpServer server, ProgressReader reader, ExecutorService threads) {
        if (reader != null) {
            reader.close();
        }
        server.stop(0);
        if (threads != null) {
            threads.shutdownNow();
        }
    }

    /** The page's address as people type it: with --bind 0.0.0.0, this machine's address in the room. */
    static URI url(InetAddress address, String bind, int port) {
        String host = address.isAnyLocalAddress() ? Room.roomAddress() : bind.strip();
        if (host.contains(":") && !host.startsWith("[")) {
            host = "[" + host + "]";
        }
        return URI.create("http://" + host + ":" + port + "/");
    }

    private static java.util.concurrent.ThreadFactory daemonThreads() {
        AtomicInteger count = new AtomicInteger();
        return task -> {
            Thread thread = new Thread(task, "dashboard-http-" + count.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        };
    }

    /** The port (or the address) is taken: the command says so in one line and exits 2. */
    public static final class PortInUseException extends RuntimeException {
        PortInUseException(String bind, int port) {
            super("Port " + port + " on " + bind + " is already in use (another dashboard?). Stop it, or pick another port with --port.");
        }
    }

    /** A running dashboard: its address, its state; close it to stop reading and serving. */
    public static final class Running implements AutoCloseable {

        private final HttpServer server;
        private final ExecutorService threads;
        private final ProgressReader reader;
        private final DashboardState state;
        private final URI url;
        private final String bootstrap;
        private final Semaphore livePages = new Semaphore(MAX_LIVE_PAGES);
        private boolean closed;

        private Running(HttpServer server, ExecutorService threads, ProgressReader reader, DashboardState state, URI url, String bootstrap) {
            this.server = server;
            this.threads = threads;
            this.reader = reader;
            this.state = state;
            this.url = url;
            this.bootstrap = bootstrap;
        }

        public URI url() {
            return url;
        }

        /** The port it serves on (the one given, or the free one picked for port 0). */
        public int port() {
            return server.getAddress().getPort();
        }

        /** The page on this machine, whatever the address it serves on. */
        public URI localUrl() {
            return URI.create("http://127.0.0.1:" + port() + "/");
        }

        public String bootstrap() {
            return bootstrap;
        }

        public DashboardState state() {
            return state;
        }

        private void handle(HttpExchange exchange) throws IOException {
            try (exchange) {
                Headers headers = exchange.getResponseHeaders();
                // Only this server's own script, style and data: a learner's name can never run as code.
                headers.set("Content-Security-Policy", "default-src 'self'");
                headers.set("X-Content-Type-Options", "nosniff");
                headers.set("Cache-Control", "no-store");
                headers.set("Referrer-Policy", "no-referrer");
                String method = exchange.getRequestMethod();
                boolean head = method.equals("HEAD");
                if (!head && !method.equals("GET")) {
                    headers.set("Allow", "GET, HEAD");
                    send(exchange, 405, "text/plain", "The dashboard only shows the room: GET, HEAD.\n", false);
                    return;
                }
                switch (exchange.getRequestURI().getPath()) {
                    case "/" -> send(exchange, 200, "text/html", DashboardPage.HTML, head);
                    case "/dashboard.js" -> send(exchange, 200, "text/javascript", DashboardPage.JS, head);
                    case "/dashboard.css" -> send(exchange, 200, "text/css", DashboardPage.CSS, head);
                    case "/data" -> send(exchange, 200, "application/json", state.toJson(), head);
                    case "/events" -> events(exchange, head);
                    default -> send(exchange, 404, "text/plain", "Not here: the dashboard is at /.\n", head);
                }
            } catch (IOException e) {
                // the browser went away mid-answer: nothing to tell anyone
            }
        }

        private static void send(HttpExchange exchange, int status, String type, String body, boolean head) throws IOException {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", type + "; charset=utf-8");
            if (head) {
                exchange.sendResponseHeaders(status, -1);
                return;
            }
            exchange.sendResponseHeaders(status, bytes.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }

        /** Server-sent events: the whole state at once, again on every change, a comment every 15 s otherwise. */
        private void events(HttpExchange exchange, boolean head) throws IOException {
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            if (head) {
                exchange.sendResponseHeaders(200, -1);
                return;
            }
            if (!livePages.tryAcquire()) {
                send(exchange, 503, "text/plain", "Too many live pages open on this dashboard; close some.\n", false);
                return;
            }
            try {
                exchange.sendResponseHeaders(200, 0);
                OutputStream out = exchange.getResponseBody();
                out.write("retry: 2000\n\n".getBytes(StandardCharsets.UTF_8)); // reconnect quickly after a restart
                long sent = -1;
                while (!state.isClosed()) {
                    DashboardState.Snapshot snapshot = state.snapshot();
                    if (snapshot.version() != sent) {
                        out.write(("data: " + DashboardState.toJson(snapshot) + "\n\n").getBytes(StandardCharsets.UTF_8));
                        sent = snapshot.version();
                    } else {
                        out.write(": still here\n\n".getBytes(StandardCharsets.UTF_8)); // keeps proxies and the browser from giving up
                    }
                    out.flush(); // a write to a page that has gone throws: the loop ends, quietly
                    state.awaitChange(sent, KEEPALIVE);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                livePages.release();
            }
        }

        /** Stops serving and reading; waits at most about 10 s. */
        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            state.close(); // ends every live page's stream
            reader.close();
            server.stop(0);
            threads.shutdownNow();
        }
    }
}
