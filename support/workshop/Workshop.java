//DEPS org.apache.kafka:kafka-clients:4.3.1
//DEPS info.picocli:picocli:4.7.7
package workshop;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.utils.Utils;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * What every lab's {@code main} shares: finding a broker, turning an unfinished TODO into a
 * friendly pointer, and printing expected failures as one clear line instead of a stack trace.
 */
public final class Workshop {

    public static final String DEFAULT_BOOTSTRAP = "localhost:9092";
    static final Duration EXPLICIT_BROKER_BOUND = Duration.ofSeconds(15);

    private Workshop() {
    }

    /** The body of a lab's main, given a connected cluster. */
    @FunctionalInterface
    public interface LabBody {
        void run(Cluster cluster) throws Exception;
    }

    /** Marks the spot a learner has not filled in yet; thrown by every untouched TODO. */
    public static final class Todo extends RuntimeException {
        private final int number;
        private final String what;

        Todo(int number, String what) {
            super("TODO " + number + ": " + what);
            this.number = number;
            this.what = what;
        }

        public int number() {
            return number;
        }

        public String what() {
            return what;
        }
    }

    /** Thrown for failures the learner should read as one line: no stack trace. */
    public static final class WorkshopException extends RuntimeException {
        public WorkshopException(String message) {
            super(message);
        }
    }

    /** Use in a starter: {@code throw Workshop.todo(1, "create the topic");}. */
    public static Todo todo(int number, String what) {
        return new Todo(number, what);
    }

    static final class Options {
        @Option(names = "--bootstrap-server", description = "Kafka to use (default: $KAFKA_BOOTSTRAP_SERVERS, else localhost:9092, else an embedded broker)")
        String bootstrapServer;

        @Option(names = "--command-config", description = "client properties file, e.g. for SASL/SSL (default: $KAFKA_CLIENT_CONFIG)")
        Path commandConfig;
    }

    /**
     * Runs a lab: connects to a broker, runs the body, and reports an unfinished TODO or an
     * expected failure as a short message. Exits non-zero on failure: 3 for a TODO, 2 for an
     * expected failure, 4 when the broker went away while the body ran, 1 for anything else.
     */
    public static void run(String lab, String[] args, LabBody body) {
        run(lab, args, 1, body);
    }

    /** Runs a lab that needs a cluster of at least {@code brokers} brokers. */
    public static void run(String lab, String[] args, int brokers, LabBody body) {
        quietLogs();
        int exitCode = 0;
        Thread labThread = Thread.currentThread();
        try (Cluster cluster = brokers > 1 ? connectCluster(args, brokers) : connect(args)) {
            BrokerWatch watch = BrokerWatch.start(cluster, lab, brokers, labThread);
            try {
                body.run(cluster);
            } catch (Exception e) {
                // Asked before the cluster closes: closing a throwaway broker is no broker gone.
                if (!(e instanceof Todo) && watch.confirmGone()) {
                    watch.report(e.getStackTrace(), e);
                    System.exit(BrokerWatch.BROKER_GONE_EXIT);
                }
                throw e;
            } finally {
                watch.stop();
            }
        } catch (Todo todo) {
            System.out.println();
            System.out.println("➜ " + todo.getMessage());
            System.out.println("  Open labs/" + lab + ".java, find \"TODO " + todo.number() + "\" and fill it in.");
            System.out.println("  The guide explains it: guide/" + lab + ".adoc (or ./jbang guide).");
            System.out.println("  Check your work: ./jbang grade " + lab.substring(0, 2) + "   Stuck? ./jbang grade " + lab.substring(0, 2) + " --hint");
            exitCode = 3;
        } catch (WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            exitCode = 2;
        } catch (Exception e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            System.err.println("✗ The lab failed: " + cause);
            cause.printStackTrace();
            exitCode = 1;
        }
        System.out.flush();
        System.exit(exitCode);
    }

    /**
     * Watches, while a lab's body runs, whether anything still accepts connections at the
     * cluster's addresses. When none has for a few seconds in a row, the broker is gone: it says
     * so once, with what to do, and ends the JVM, instead of the lab's clients each waiting out
     * their own timeouts (60 s by default) and printing their exceptions.
     *
     * <p>A TCP connect is the probe: it needs no credentials (it works on a SASL/SSL cluster as
     * is), costs the broker nothing, and a broker that is merely slow, paused or failing over still
     * accepts connections. Only when EVERY address is silent is the broker gone: a lab that kills
     * one broker of three on purpose (lab 08) leaves two answering, and a throwaway broker a lab
     * starts for itself (lab 05) is not among the addresses watched.
     */
    static final class BrokerWatch {

        /** The exit code of a lab whose broker went away while it ran. */
        static final int BROKER_GONE_EXIT = 4;
        /** Consecutive silent probes that make a broker gone: one lost connect is no verdict. */
        static final int SILENT_PROBES = 3;
        static final Duration PROBE_EVERY = Duration.ofSeconds(1);
        /** What one probe of all addresses may take: a host that drops packets costs this, not minutes. */
        static final Duration PROBE_BOUND = Duration.ofSeconds(2);

        /** What the probe tries: the bootstrap addresses as given, and each broker as the cluster names it. */
        private final List<String> addresses;
        /** One address per broker, for the message. */
        private final List<String> brokerAddresses;
        private final String bootstrap;
        private final String labFile;
        private final int brokers;
        private final boolean throwaway;
        private final Thread labThread;
        private final AtomicBoolean reported = new AtomicBoolean();
        private boolean stopped;

        private BrokerWatch(Cluster cluster, String lab, int brokers, Thread labThread) {
            this.bootstrap = cluster.bootstrapServers();
            this.addresses = cluster.knownAddresses();
            this.brokerAddresses = cluster.knownBrokers().isEmpty() ? List.of(bootstrap.split(",")) : cluster.knownBrokers();
            this.labFile = lab + ".java";
            this.brokers = brokers;
            this.throwaway = cluster.isThrowaway();
            this.labThread = labThread;
        }

        static BrokerWatch start(Cluster cluster, String lab, int brokers, Thread labThread) {
            BrokerWatch watch = new BrokerWatch(cluster, lab, brokers, labThread);
            Thread thread = new Thread(watch::watch, "broker-watch");
            thread.setDaemon(true); // never what keeps a finished lab's JVM alive
            thread.start();
            return watch;
        }

        private void watch() {
            int silent = 0;
            while (!isStopped()) {
                silent = anyAnswers() ? 0 : silent + 1;
                if (silent >= SILENT_PROBES) {
                    // The lab thread is still waiting in some client call: that is what was in progress.
                    if (report(labThread.getStackTrace(), null)) {
                        haltWithin(Duration.ofSeconds(10));
                        System.exit(BROKER_GONE_EXIT);
                    }
                    return;
                }
                LockSupport.parkNanos(PROBE_EVERY.toNanos());
            }
        }

        /** Asked when the lab failed: gone only if no address answers several times in a row. */
        boolean confirmGone() {
            for (int probe = 1; probe <= SILENT_PROBES; probe++) {
                if (anyAnswers()) {
                    return false;
                }
                if (probe < SILENT_PROBES) {
                    LockSupport.parkNanos(PROBE_EVERY.toNanos() / 2);
                }
            }
            return true;
        }

        synchronized void stop() {
            stopped = true;
        }

        private synchronized boolean isStopped() {
            return stopped;
        }

        /**
         * Prints the one message, unless it was printed already or the lab has finished, then
         * silences the console: the lab's clients fail one after another now, and none of that
         * is news. {@code failure} is what reached the lab's main, if that is how the lab learnt
         * of it. Returns whether this call printed it.
         */
        boolean report(StackTraceElement[] labStack, Throwable failure) {
            synchronized (this) {
                if ((stopped && Thread.currentThread() != labThread) || !reported.compareAndSet(false, true)) {
                    return false;
                }
            }
            System.out.flush();
            boolean several = brokerAddresses.size() > 1;
            String where = several ? "The Kafka brokers at " + String.join(", ", brokerAddresses) + " all stopped answering"
                    : "The Kafka broker at " + bootstrap + " stopped answering";
            String lines = "\n✗ " + where + ": nothing accepts connections there any more, so this lab cannot go on.";
            String progress = inProgress(labStack, labFile);
            if (!progress.isEmpty()) {
                lines += "\n  It was " + progress + ".";
            } else if (lastWords(failure) != null) {
                // Kafka's own exceptions carry no stack to say where: their message says what gave up.
                lines += "\n  Its last call gave up: " + lastWords(failure);
            }
            String start = brokers > 1 ? "./jbang broker --nodes " + brokers : "./jbang broker";
            if (throwaway) {
                lines += "\n  The " + (several ? "brokers" : "broker") + " this run started for itself ended. Run the lab again;"
                        + " to keep one running between runs, start " + start + " in another terminal.";
            } else if (bootstrap.equals(DEFAULT_BOOTSTRAP)) {
                lines += "\n  Start " + (several ? "them" : "it") + " again with " + start
                        + " in another terminal (the data is kept), then run the lab again.";
            } else {
                lines += "\n  Start " + (several ? "them" : "it") + " again, then run the lab again; or check --bootstrap-server"
                        + " (or KAFKA_BOOTSTRAP_SERVERS). A local one instead: " + start + ", then run the lab without --bootstrap-server.";
            }
            System.err.println(lines);
            System.err.flush();
            PrintStream silent = new PrintStream(OutputStream.nullOutputStream());
            System.setOut(silent);
            System.setErr(silent);
            return true;
        }

        private boolean anyAnswers() {
            long perAddress = Math.max(300, PROBE_BOUND.toMillis() / addresses.size());
            for (String address : addresses) {
                if (addressAnswers(address, (int) perAddress)) {
                    return true;
                }
            }
            return false;
        }

        /** The message of what failed the lab, unwrapped from ExecutionException and the like; or null. */
        private static String lastWords(Throwable failure) {
            Throwable cause = failure;
            while (cause != null && cause.getCause() != null && (cause.getMessage() == null || cause instanceof ExecutionException)) {
                cause = cause.getCause();
            }
            return cause == null || cause.getMessage() == null || cause.getMessage().isBlank() ? null : cause.getMessage().strip();
        }

        /** "in KafkaProducer.initTransactions(), called from process (11-exactly-once.java line 190)", or "". */
        static String inProgress(StackTraceElement[] stack, String labFile) {
            for (int i = 0; i < stack.length; i++) {
                if (!labFile.equals(stack[i].getFileName())) {
                    continue;
                }
                String method = stack[i].getMethodName();
                String labMethod = method.startsWith("lambda$") ? method.split("\\$")[1] : method;
                String at = labMethod + " (" + labFile + " line " + stack[i].getLineNumber() + ")";
                String callee = i > 0 ? stack[i - 1].getClassName() : "";
                // Kafka's API and the kit's support classes say what was asked; their internals do not.
                boolean named = (callee.startsWith("org.apache.kafka.") || callee.startsWith("workshop."))
                        && !callee.contains(".internals.") && !callee.equals(Workshop.class.getName());
                if (named) {
                    return "in " + callee.substring(callee.lastIndexOf('.') + 1) + "." + stack[i - 1].getMethodName()
                            + "(), called from " + at;
                }
                return "in " + at;
            }
            return "";
        }

        /** Ends the JVM if shutting down politely takes longer than {@code bound}. */
        private static void haltWithin(Duration bound) {
            Thread halt = new Thread(() -> {
                LockSupport.parkNanos(bound.toNanos());
                Runtime.getRuntime().halt(BROKER_GONE_EXIT);
            }, "broker-watch-halt");
            halt.setDaemon(true);
            halt.start();
        }
    }

    /** Finds a broker as the README says and returns it; close it to stop an embedded one. */
    public static Cluster connect(String[] args) {
        quietLogs();
        Options options = parse(args);
        String bootstrap = bootstrap(options);
        Properties clientConfig = loadClientConfig(commandConfig(options));
        if (bootstrap != null && !bootstrap.isBlank()) {
            List<String> brokers = reachableBrokers(bootstrap, clientConfig, EXPLICIT_BROKER_BOUND);
            System.out.println("Using the Kafka broker at " + bootstrap + ".");
            return new Cluster(bootstrap, clientConfig, null).knowingBrokers(brokers);
        }
        if (answers("localhost", 9092)) {
            List<String> brokers = reachableBrokers(DEFAULT_BOOTSTRAP, clientConfig, EXPLICIT_BROKER_BOUND);
            System.out.println("Using the Kafka broker at " + DEFAULT_BOOTSTRAP + ".");
            return new Cluster(DEFAULT_BOOTSTRAP, clientConfig, null).knowingBrokers(brokers);
        }
        long start = System.nanoTime();
        EmbeddedKafka broker = EmbeddedKafka.startTemporary();
        System.out.printf("No broker on %s: started a throwaway one for this run in %.1f s (keep one running with ./jbang broker).%n",
                DEFAULT_BOOTSTRAP, (System.nanoTime() - start) / 1e9);
        return new Cluster(broker.bootstrapServers(), clientConfig, broker);
    }

    /**
     * Finds a cluster of at least {@code brokers} brokers: the one named, else the one on
     * localhost:9092 (started with {@code ./jbang broker --nodes 3}), else a throwaway one for this
     * run. A single broker where a cluster is needed is an error that says what to start.
     */
    public static Cluster connectCluster(String[] args, int brokers) {
        quietLogs();
        Options options = parse(args);
        String bootstrap = bootstrap(options);
        Properties clientConfig = loadClientConfig(commandConfig(options));
        boolean named = bootstrap != null && !bootstrap.isBlank();
        if (named || answers("localhost", 9092)) {
            String address = named ? bootstrap : DEFAULT_BOOTSTRAP;
            List<String> known = reachableBrokers(address, clientConfig, EXPLICIT_BROKER_BOUND);
            int found = known.size();
            if (found < brokers) {
                throw new WorkshopException("This lab needs " + brokers + " brokers; the cluster at " + address + " has " + found + ". "
                        + (named ? "Name a bigger cluster." : "Stop that broker (Ctrl+C in its terminal) and run ./jbang broker --nodes " + brokers
                        + ", or just stop it: the lab then starts its own " + brokers + " brokers."));
            }
            System.out.println("Using the " + found + "-broker cluster at " + address + ".");
            Path dataRoot = named ? null : workshopFolder().resolve(".kafka-cluster");
            return new Cluster(address, clientConfig, null, id -> dataRoot != null && KafkaCluster.runningNode(dataRoot, id)
                    .map(ProcessHandle::destroyForcibly).orElse(false)).knowingBrokers(known);
        }
        System.out.println("No broker on " + DEFAULT_BOOTSTRAP + ": starting " + brokers + " throwaway brokers for this run"
                + " (./jbang broker --nodes " + brokers + " keeps a cluster running)...");
        long start = System.nanoTime();
        KafkaCluster cluster = KafkaCluster.startTemporary(brokers, port -> port, Duration.ofSeconds(90));
        System.out.printf("Started brokers on %s in %.1f s.%n", cluster.bootstrapServers(), (System.nanoTime() - start) / 1e9);
        return new Cluster(cluster.bootstrapServers(), clientConfig, cluster, id -> {
            cluster.kill(id);
            return true;
        });
    }

    private static Options parse(String[] args) {
        Options options = new Options();
        try {
            new CommandLine(options).setUnmatchedArgumentsAllowed(true).parseArgs(args);
        } catch (CommandLine.ParameterException e) {
            throw new WorkshopException(e.getMessage());
        }
        return options;
    }

    private static String bootstrap(Options options) {
        return options.bootstrapServer != null ? options.bootstrapServer : System.getenv("KAFKA_BOOTSTRAP_SERVERS");
    }

    private static Path commandConfig(Options options) {
        return options.commandConfig != null ? options.commandConfig
                : System.getenv("KAFKA_CLIENT_CONFIG") != null ? Path.of(System.getenv("KAFKA_CLIENT_CONFIG")) : null;
    }

    /**
     * Whether something accepts TCP connections at {@code address} ("host:port"), on any of the
     * host's addresses, each tried for at most {@code timeoutMillis}. It says nothing of what answers.
     */
    public static boolean addressAnswers(String address, int timeoutMillis) {
        String host = Utils.getHost(address);
        Integer port = Utils.getPort(address);
        if (host == null || port == null) {
            return true; // an address this probe cannot read is no evidence of a dead broker
        }
        try {
            for (InetAddress ip : InetAddress.getAllByName(host)) {
                try (Socket socket = new Socket()) {
                    socket.connect(new InetSocketAddress(ip, port), timeoutMillis);
                    return true;
                } catch (IOException refused) {
                    // try the host's next address (localhost may be ::1 and 127.0.0.1)
                }
            }
        } catch (UnknownHostException e) {
            return false;
        }
        return false;
    }

    static boolean answers(String host, int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(host, port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Fails within {@code bound} with a clear message when no broker answers at {@code bootstrap}. */
    public static void requireReachable(String bootstrap, Properties clientConfig, Duration bound) {
        reachableBrokers(bootstrap, clientConfig, bound);
    }

    /**
     * The address ("host:port") of every broker of the cluster at {@code bootstrap}, as the cluster
     * names them; fails within {@code bound} with a clear message when no broker answers.
     */
    static List<String> reachableBrokers(String bootstrap, Properties clientConfig, Duration bound) {
        Properties config = new Properties();
        config.putAll(clientConfig);
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // Bound every call so a dead address fails in seconds, not after the 60 s default.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) bound.toMillis());
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.min(bound.toMillis(), 10_000));
        try (Admin admin = Admin.create(config)) {
            return admin.describeCluster().nodes().get(bound.toMillis(), TimeUnit.MILLISECONDS).stream()
                    .map(node -> Utils.formatAddress(node.host(), node.port()))
                    .sorted()
                    .toList();
        } catch (TimeoutException | ExecutionException e) {
            Throwable refused = e;
            while (refused != null && !(refused instanceof AuthenticationException)) {
                refused = refused.getCause();
            }
            if (refused != null) {
                throw new WorkshopException("The Kafka broker at " + bootstrap + " refused the login (" + refused.getMessage()
                        + "): check the user and password in your client properties (--command-config).");
            }
            if (Stream.of(bootstrap.split(",")).anyMatch(address -> addressAnswers(address.strip(), 1000))) {
                // A broker that wants a login (or TLS) closes a plain client's connection without a word.
                throw new WorkshopException("Something at " + bootstrap + " accepts connections but did not answer as a Kafka broker within "
                        + bound.toSeconds() + " s. A room's broker asks for a login: give your client properties with"
                        + " --command-config FILE (./jbang join writes one: build/room.properties).");
            }
            throw new WorkshopException("No Kafka broker answered at " + bootstrap + " within " + bound.toSeconds()
                    + " s. Is it running, and is the address right? (Start one with ./jbang broker, or omit --bootstrap-server.)");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WorkshopException("Interrupted while connecting to " + bootstrap);
        } catch (org.apache.kafka.common.KafkaException e) {
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            throw new WorkshopException("Cannot connect to " + bootstrap + ": " + root.getMessage());
        }
    }

    /** The client settings in {@code file} ({@code --command-config}), without its bootstrap.servers; none for null. */
    public static Properties loadClientConfig(Path file) {
        Properties config = new Properties();
        if (file == null) {
            return config;
        }
        try (InputStream in = Files.newInputStream(file)) {
            config.load(in);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new WorkshopException("Cannot read the client properties file " + file + ": no such file");
        } catch (IOException e) {
            throw new WorkshopException("Cannot read the client properties file " + file + ": " + e.getMessage());
        }
        config.remove(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG); // the address comes from --bootstrap-server
        return config;
    }

    /** The workshop's folder: the nearest one up from here that holds jbang-catalog.json. */
    public static Path workshopFolder() {
        // Set by the kit's ./jbang launcher, so /path/to/kit/jbang works from any folder.
        String home = System.getenv("KAFKA_WORKSHOP_HOME");
        if (home != null && Files.isRegularFile(Path.of(home, "jbang-catalog.json"))) {
            return Path.of(home).toAbsolutePath();
        }
        Path dir = Path.of("").toAbsolutePath();
        for (Path candidate = dir; candidate != null; candidate = candidate.getParent()) {
            if (Files.isRegularFile(candidate.resolve("jbang-catalog.json"))) {
                return candidate;
            }
        }
        throw new WorkshopException("Run this inside the workshop folder (no jbang-catalog.json above " + dir + ")");
    }

    /** Kafka's clients log every failed connection at WARN: keep a lab's console for the lab. */
    public static void quietLogs() {
        if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
            System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "error");
        }
        if (System.getProperty("org.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient") == null) {
            // A refused login is logged at ERROR on every retry; the kit says it once, in its own words.
            System.setProperty("org.slf4j.simpleLogger.log.org.apache.kafka.clients.NetworkClient", "off");
        }
    }
}
