package workshop;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import java.util.function.IntUnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.Uuid;

/**
 * A real three-broker Kafka cluster on loopback: each broker (KRaft, broker and controller in one)
 * runs in its own JVM, so stopping one is what a crash is: the process dies, nothing shuts down
 * politely. Client ports are consecutive (9092, 9093, 9094 for {@code ./jbang broker --nodes 3}).
 *
 * <p>Brokers copy partitions to each other over a listener of their own (REPLICATION), which a
 * test may route through a proxy of its choice to freeze replication on purpose.
 */
public final class KafkaCluster implements AutoCloseable {

    /** What one broker JVM may use: three of them and the labs fit a laptop with room to spare. */
    public static final String NODE_HEAP = "-Xmx384m";

    private final Path dataRoot;
    private final boolean deleteOnClose;
    private final List<NodeSpec> specs;
    private final Map<Integer, Process> processes = new ConcurrentHashMap<>();
    private volatile IntConsumer onUnexpectedExit = id -> { };
    private volatile boolean closing;

    /** Ports and folder of one broker of the cluster. */
    public record NodeSpec(int id, int clientPort, int controllerPort, int replicationPort, int advertisedReplicationPort, Path dataDir) {
        public String clientAddress() {
            return "127.0.0.1:" + clientPort;
        }
    }

    private KafkaCluster(Path dataRoot, boolean deleteOnClose, List<NodeSpec> specs) {
        this.dataRoot = dataRoot;
        this.deleteOnClose = deleteOnClose;
        this.specs = specs;
    }

    /**
     * A throwaway cluster on free ports, deleted on close. {@code replicationRoute} maps each
     * broker's real replication port to the port other brokers should use to reach it (the same
     * port, or a proxy in front of it).
     */
    public static KafkaCluster startTemporary(int nodes, IntUnaryOperator replicationRoute, Duration bound) {
        for (int attempt = 1; ; attempt++) {
            try {
                Path root = Files.createTempDirectory("kafka-workshop-cluster-");
                List<NodeSpec> specs = new ArrayList<>();
                for (int id = 1; id <= nodes; id++) {
                    int replication = EmbeddedKafka.freePort();
                    specs.add(new NodeSpec(id, EmbeddedKafka.freePort(), EmbeddedKafka.freePort(), replication,
                            replicationRoute.applyAsInt(replication), root.resolve("node-" + id)));
                }
                KafkaCluster cluster = new KafkaCluster(root, true, specs);
                Runtime.getRuntime().addShutdownHook(new Thread(cluster::close, "kafka-cluster-cleanup"));
                cluster.startAll(bound);
                return cluster;
            } catch (PortTaken e) {
                // A free port was taken by another program before its broker bound it: pick new ones.
                if (attempt == 3) {
                    throw new Workshop.WorkshopException(e.getMessage());
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** A broker of a throwaway cluster could not bind a port that was free a moment before. */
    static final class PortTaken extends RuntimeException {
        PortTaken(String message) {
            super(message);
        }
    }

    /**
     * A cluster whose data lives in {@code dataRoot} and survives restarts: client ports
     * {@code firstPort}, {@code firstPort + 1}, ...; controllers and replication on
     * {@code firstPort + 10000 + i} and {@code firstPort + 20000 + i}.
     */
    public static KafkaCluster startPersistent(Path dataRoot, int nodes, int firstPort, Duration bound) {
        List<NodeSpec> specs = new ArrayList<>();
        for (int i = 0; i < nodes; i++) {
            int replication = firstPort + 20000 + i;
            specs.add(new NodeSpec(i + 1, firstPort + i, firstPort + 10000 + i, replication, replication,
                    dataRoot.resolve("node-" + (i + 1))));
        }
        for (NodeSpec spec : specs) {
            for (int port : new int[] {spec.clientPort(), spec.controllerPort(), spec.replicationPort()}) {
                EmbeddedKafka.ensurePortFree(port);
            }
        }
        KafkaCluster cluster = new KafkaCluster(dataRoot, false, specs);
        cluster.startAll(bound);
        return cluster;
    }

    private void startAll(Duration bound) {
        String clusterId = clusterId();
        try {
            for (NodeSpec spec : specs) {
                launch(spec, clusterId);
            }
            awaitBrokers(specs.size(), bound);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** One id for all brokers, kept in the data folder so a persistent cluster keeps its data. */
    private String clusterId() {
        Path file = dataRoot.resolve("cluster.id");
        try {
            Files.createDirectories(dataRoot);
            if (Files.exists(file)) {
                return Files.readString(file, StandardCharsets.UTF_8).trim();
            }
            String id = Uuid.randomUuid().toString();
            Files.writeString(file, id, StandardCharsets.UTF_8);
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void launch(NodeSpec spec, String clusterId) {
        try {
            Files.createDirectories(spec.dataDir());
            Properties config = nodeConfig(spec.id(), voters(), spec.dataDir(), spec.clientPort(), spec.controllerPort(),
                    spec.replicationPort(), spec.advertisedReplicationPort());
            EmbeddedKafka.format(config, spec.dataDir(), spec.id(), clusterId);
            Path properties = dataRoot.resolve("node-" + spec.id() + ".properties");
            try (var out = Files.newBufferedWriter(properties, StandardCharsets.UTF_8)) {
                config.store(out, "broker " + spec.id() + " of the workshop's cluster");
            }
            String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            List<String> command = List.of(java, NODE_HEAP, "-Xms64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                    // kafka.Kafka is what kafka-server-start.sh runs.
                    "-cp", System.getProperty("java.class.path"), "kafka.Kafka", properties.toAbsolutePath().toString());
            Path log = dataRoot.resolve("node-" + spec.id() + ".log");
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
            processes.put(spec.id(), process);
            Files.writeString(pidFile(dataRoot, spec.id()), Long.toString(process.pid()), StandardCharsets.UTF_8);
            process.onExit().thenAccept(p -> {
                if (!closing && processes.get(spec.id()) == p) {
                    onUnexpectedExit.accept(spec.id());
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (Exception e) {
            throw new Workshop.WorkshopException("Could not prepare broker " + spec.id() + "'s folder " + spec.dataDir() + ": " + e.getMessage());
        }
    }

    static Path pidFile(Path dataRoot, int nodeId) {
        return dataRoot.resolve("node-" + nodeId + ".pid");
    }

    /**
     * The process id of broker {@code nodeId} of a cluster started with {@code ./jbang broker
     * --nodes 3} from this workshop folder, if it is running.
     */
    public static Optional<ProcessHandle> runningNode(Path dataRoot, int nodeId) {
        try {
            long pid = Long.parseLong(Files.readString(pidFile(dataRoot, nodeId), StandardCharsets.UTF_8).trim());
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive);
        } catch (IOException | NumberFormatException e) {
            return Optional.empty();
        }
    }

    private String voters() {
        return specs.stream().map(s -> s.id() + "@127.0.0.1:" + s.controllerPort()).collect(Collectors.joining(","));
    }

    /** Called, on a JVM thread of its own, when a broker dies without {@link #stop} or close. */
    public void onUnexpectedExit(IntConsumer listener) {
        this.onUnexpectedExit = listener;
    }

    /** Waits until {@code count} brokers are registered and unfenced, or fails within the bound. */
    public void awaitBrokers(int count, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5_000);
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 4_000);
        try (Admin admin = Admin.create(config)) {
            while (true) {
                for (NodeSpec spec : specs) {
                    Process process = processes.get(spec.id());
                    if (process != null && !process.isAlive() && !closing) {
                        Path log = dataRoot.resolve("node-" + spec.id() + ".log");
                        String message = "Broker " + spec.id() + " of the cluster ended while starting (exit code " + process.exitValue()
                                + "). Its log: " + log;
                        throw deleteOnClose && logSays(log, "Address already in use") ? new PortTaken(message) : new Workshop.WorkshopException(message);
                    }
                }
                try {
                    Collection<Node> nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
                    if (nodes.size() >= count) {
                        return;
                    }
                } catch (Exception notYet) {
                    // brokers still starting: ask again
                }
                if (System.nanoTime() > deadline) {
                    throw new Workshop.WorkshopException("The " + specs.size() + "-broker cluster did not come up within "
                            + bound.toSeconds() + " s. Logs: " + dataRoot);
                }
                TimeUnit.MILLISECONDS.sleep(200);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Workshop.WorkshopException("Interrupted while the cluster started");
        }
    }

    private static boolean logSays(Path log, String text) {
        try {
            return Files.readString(log, StandardCharsets.UTF_8).contains(text);
        } catch (IOException e) {
            return false;
        }
    }

    /** Stops broker {@code nodeId} the way a crash does: its JVM is killed at once. */
    public void kill(int nodeId) {
        Process process = processes.remove(nodeId);
        if (process != null) {
            process.destroyForcibly();
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Starts broker {@code nodeId} again, with the data it had; returns once its JVM is launched. */
    public void restart(int nodeId) {
        if (processes.containsKey(nodeId) && processes.get(nodeId).isAlive()) {
            return;
        }
        launch(spec(nodeId), clusterId());
    }

    public boolean isRunning(int nodeId) {
        Process process = processes.get(nodeId);
        return process != null && process.isAlive();
    }

    public NodeSpec spec(int nodeId) {
        return specs.stream().filter(s -> s.id() == nodeId).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("No broker " + nodeId + " in this cluster"));
    }

    public List<NodeSpec> nodes() {
        return specs;
    }

    public String bootstrapServers() {
        return specs.stream().map(NodeSpec::clientAddress).collect(Collectors.joining(","));
    }

    public Path dataRoot() {
        return dataRoot;
    }

    @Override
    public synchronized void close() {
        if (closing) {
            return;
        }
        closing = true;
        // Data thrown away needs no polite shutdown; kept data gets one, so the next start is quick.
        List<Process> running = new ArrayList<>(processes.values());
        running.forEach(deleteOnClose ? Process::destroyForcibly : Process::destroy);
        for (Process process : running) {
            try {
                if (!process.waitFor(15, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        specs.forEach(s -> {
            try {
                Files.deleteIfExists(pidFile(dataRoot, s.id()));
            } catch (IOException ignored) {
                // a stale pid file names a dead process, which runningNode checks
            }
        });
        if (deleteOnClose) {
            try (Stream<Path> paths = Files.walk(dataRoot)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // a leftover temp folder is harmless
            }
        }
    }

    static Properties nodeConfig(int id, String voters, Path dataDir, int clientPort, int controllerPort, int replicationPort,
            int advertisedReplicationPort) {
        Properties config = new Properties();
        config.put("process.roles", "broker,controller");
        config.put("node.id", Integer.toString(id));
        config.put("controller.quorum.voters", voters);
        // Loopback only, like the single broker: nothing here is reachable from the room's network.
        config.put("listeners", "PLAINTEXT://127.0.0.1:" + clientPort + ",REPLICATION://127.0.0.1:" + replicationPort
                + ",CONTROLLER://127.0.0.1:" + controllerPort);
        config.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + clientPort + ",REPLICATION://127.0.0.1:" + advertisedReplicationPort);
        config.put("controller.listener.names", "CONTROLLER");
        config.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT,CONTROLLER:PLAINTEXT");
        config.put("inter.broker.listener.name", "REPLICATION");
        config.put("log.dirs", dataDir.toAbsolutePath().toString());
        // A dead broker is noticed within 4 s instead of 9 s, so a failover fits a lab's minute.
        config.put("broker.session.timeout.ms", "4000");
        config.put("broker.heartbeat.interval.ms", "500");
        config.putAll(EmbeddedKafka.workshopDefaults());
        return config;
    }

    /** Ids of the brokers, for messages. */
    public String describe() {
        return specs.stream().map(s -> "broker " + s.id() + " on " + s.clientAddress()).collect(Collectors.joining(", "));
    }
}
