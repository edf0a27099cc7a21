//DEPS org.apache.kafka:kafka-clients:4.3.1
//DEPS info.picocli:picocli:4.7.7
package workshop;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
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
     * expected failure as a short message. Exits non-zero on failure.
     */
    public static void run(String lab, String[] args, LabBody body) {
        run(lab, args, 1, body);
    }

    /** Runs a lab that needs a cluster of at least {@code brokers} brokers. */
    public static void run(String lab, String[] args, int brokers, LabBody body) {
        quietLogs();
        int exitCode = 0;
        try (Cluster cluster = brokers > 1 ? connectCluster(args, brokers) : connect(args)) {
            body.run(cluster);
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

    /** Finds a broker as the README says and returns it; close it to stop an embedded one. */
    public static Cluster connect(String[] args) {
        quietLogs();
        Options options = parse(args);
        String bootstrap = bootstrap(options);
        Properties clientConfig = loadClientConfig(commandConfig(options));
        if (bootstrap != null && !bootstrap.isBlank()) {
            requireReachable(bootstrap, clientConfig, EXPLICIT_BROKER_BOUND);
            System.out.println("Using the Kafka broker at " + bootstrap + ".");
            return new Cluster(bootstrap, clientConfig, null);
        }
        if (answers("localhost", 9092)) {
            requireReachable(DEFAULT_BOOTSTRAP, clientConfig, EXPLICIT_BROKER_BOUND);
            System.out.println("Using the Kafka broker at " + DEFAULT_BOOTSTRAP + ".");
            return new Cluster(DEFAULT_BOOTSTRAP, clientConfig, null);
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
            requireReachable(address, clientConfig, EXPLICIT_BROKER_BOUND);
            int found = brokerCount(address, clientConfig);
            if (found < brokers) {
                throw new WorkshopException("This lab needs " + brokers + " brokers; the cluster at " + address + " has " + found + ". "
                        + (named ? "Name a bigger cluster." : "Stop that broker (Ctrl+C in its terminal) and run ./jbang broker --nodes " + brokers
                        + ", or just stop it: the lab then starts its own " + brokers + " brokers."));
            }
            System.out.println("Using the " + found + "-broker cluster at " + address + ".");
            Path dataRoot = named ? null : workshopFolder().resolve(".kafka-cluster");
            return new Cluster(address, clientConfig, null, id -> dataRoot != null && KafkaCluster.runningNode(dataRoot, id)
                    .map(ProcessHandle::destroyForcibly).orElse(false));
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

    private static int brokerCount(String bootstrap, Properties clientConfig) {
        Properties config = new Properties();
        config.putAll(clientConfig);
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        try (Admin admin = Admin.create(config)) {
            return admin.describeCluster().nodes().get(15, TimeUnit.SECONDS).size();
        } catch (Exception e) {
            throw new WorkshopException("Could not list the brokers at " + bootstrap + ": " + e.getMessage());
        }
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
        Properties config = new Properties();
        config.putAll(clientConfig);
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // Bound every call so a dead address fails in seconds, not after the 60 s default.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) bound.toMillis());
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) Math.min(bound.toMillis(), 10_000));
        try (Admin admin = Admin.create(config)) {
            admin.describeCluster().clusterId().get(bound.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
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

    static Properties loadClientConfig(Path file) {
        Properties config = new Properties();
        if (file == null) {
            return config;
        }
        try (InputStream in = Files.newInputStream(file)) {
            config.load(in);
        } catch (IOException e) {
            throw new WorkshopException("Cannot read the client properties file " + file + ": " + e.getMessage());
        }
        config.remove(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG); // the address comes from --bootstrap-server
        return config;
    }

    /** The workshop's folder: the nearest one up from here that holds jbang-catalog.json. */
    public static Path workshopFolder() {
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
    }
}
