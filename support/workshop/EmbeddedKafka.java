//DEPS org.apache.kafka:kafka_2.13:4.3.1
//DEPS org.apache.kafka:kafka-server:4.3.1
//DEPS org.apache.kafka:kafka-metadata:4.3.1
//DEPS org.apache.kafka:kafka-server-common:4.3.1
//DEPS org.apache.kafka:kafka-raft:4.3.1
//DEPS org.slf4j:slf4j-api:2.0.17
//DEPS org.slf4j:slf4j-simple:2.0.17
package workshop;

import java.io.IOException;
import java.io.PrintStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Properties;
import java.util.stream.Stream;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A real Apache Kafka broker (KRaft, combined broker and controller) running inside this JVM.
 * Nothing is mocked: this is the same server code that {@code kafka-server-start.sh} runs.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private final KafkaRaftServer server;
    private final Path dataDir;
    private final boolean deleteOnClose;
    private final int port;
    private boolean closed;

    private EmbeddedKafka(KafkaRaftServer server, Path dataDir, boolean deleteOnClose, int port) {
        this.server = server;
        this.dataDir = dataDir;
        this.deleteOnClose = deleteOnClose;
        this.port = port;
    }

    /** A throwaway broker on free loopback ports; its data is deleted on close, or at Ctrl+C. */
    public static EmbeddedKafka startTemporary() {
        return startTemporary(port -> port);
    }

    /**
     * A throwaway broker that tells clients to reach it at {@code advertisedRoute.applyAsInt(port)}:
     * its own port, or a relay in front of it that a test controls.
     */
    public static EmbeddedKafka startTemporary(java.util.function.IntUnaryOperator advertisedRoute) {
        try {
            int port = freePort();
            EmbeddedKafka broker = start(Files.createTempDirectory("kafka-workshop-"), port, freePort(), true, advertisedRoute.applyAsInt(port));
            Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "embedded-kafka-cleanup"));
            return broker;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Starts a broker whose log lives in {@code dataDir}; an existing, formatted folder is
     * reused so topics and records survive a restart.
     */
    public static EmbeddedKafka start(Path dataDir, int port, int controllerPort, boolean deleteOnClose) {
        return start(dataDir, port, controllerPort, deleteOnClose, port);
    }

    private static EmbeddedKafka start(Path dataDir, int port, int controllerPort, boolean deleteOnClose, int advertisedPort) {
        Properties listeners = new Properties();
        listeners.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        // Loopback only: a workshop broker must never be reachable from the room's network.
        listeners.put("listeners", "PLAINTEXT://127.0.0.1:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        listeners.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + advertisedPort);
        listeners.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        listeners.put("inter.broker.listener.name", "PLAINTEXT");
        ensurePortFree(port);
        ensurePortFree(controllerPort);
        return start(dataDir, port, deleteOnClose, listeners);
    }

    /**
     * A room's broker: it listens on every network interface of this machine, port {@code port},
     * and tells clients to reach it at {@code advertisedHost}; every client must log in with one of
     * the room's users. The controller stays on loopback, behind a login too.
     */
    public static EmbeddedKafka startRoom(Path dataDir, int port, int controllerPort, String advertisedHost,
                                          Room.Secrets secrets, boolean deleteOnClose) {
        ensurePortFree(port);
        ensurePortFree(controllerPort);
        try (ServerSocket everywhere = new ServerSocket()) {
            everywhere.bind(new InetSocketAddress(port)); // the room's listener takes every interface, not just loopback
        } catch (IOException e) {
            throw new PortInUseException(port);
        }
        Properties listeners = new Properties();
        listeners.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        listeners.put("listeners", "ROOM://0.0.0.0:" + port + ",CONTROLLER://127.0.0.1:" + controllerPort);
        listeners.put("advertised.listeners", "ROOM://" + advertisedHost + ":" + port);
        // No listener without a login: a learner's laptop on the room's Wi-Fi is not the instructor's.
        listeners.put("listener.security.protocol.map", "ROOM:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT");
        listeners.put("inter.broker.listener.name", "ROOM");
        listeners.put("sasl.enabled.mechanisms", "PLAIN");
        listeners.put("sasl.mechanism.inter.broker.protocol", "PLAIN");
        listeners.put("sasl.mechanism.controller.protocol", "PLAIN");
        listeners.put("listener.name.room.plain.sasl.jaas.config", secrets.brokerJaasConfig());
        listeners.put("listener.name.controller.plain.sasl.jaas.config", secrets.brokerJaasConfig());
        // ACLs only where the room sets them (the progress topic): the labs' topics stay open to every learner.
        listeners.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
        listeners.put("allow.everyone.if.no.acl.found", "true");
        listeners.put("super.users", "User:" + Room.BROKER + ";User:" + Room.INSTRUCTOR);
        EmbeddedKafka broker = start(dataDir, port, deleteOnClose, listeners);
        try {
            Room.prepare(broker.bootstrapServers(), secrets);
        } catch (RuntimeException e) {
            broker.close();
            throw e;
        }
        return broker;
    }

    /** A throwaway room broker on free ports, reached at 127.0.0.1: for tests of the room. */
    public static EmbeddedKafka startTemporaryRoom(Room.Secrets secrets) {
        try {
            EmbeddedKafka broker = startRoom(Files.createTempDirectory("kafka-room-"), freePort(), freePort(), "127.0.0.1", secrets, true);
            Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "embedded-kafka-cleanup"));
            return broker;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static EmbeddedKafka start(Path dataDir, int port, boolean deleteOnClose, Properties listeners) {
        Workshop.quietLogs();
        Properties config = new Properties();
        config.put("process.roles", "broker,controller");
        config.put("node.id", "1");
        config.put("controller.listener.names", "CONTROLLER");
        config.putAll(listeners);
        config.put("log.dirs", dataDir.toAbsolutePath().toString());
        // One broker: internal topics cannot have more replicas than brokers.
        config.put("offsets.topic.replication.factor", "1");
        config.put("transaction.state.log.replication.factor", "1");
        config.put("transaction.state.log.min.isr", "1");
        config.put("share.coordinator.state.topic.replication.factor", "1");
        config.put("share.coordinator.state.topic.min.isr", "1");
        config.putAll(workshopDefaults());
        try {
            format(config, dataDir, 1, Uuid.randomUuid().toString());
            KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(config, false), Time.SYSTEM);
            server.startup();
            return new EmbeddedKafka(server, dataDir, deleteOnClose, port);
        } catch (Exception e) {
            throw new IllegalStateException("The embedded Kafka broker did not start: " + e.getMessage(), e);
        }
    }

    /** What every workshop broker changes from Kafka's defaults: a lab is minutes long, not months. */
    static Properties workshopDefaults() {
        Properties config = new Properties();
        config.put("offsets.topic.num.partitions", "5");
        config.put("transaction.state.log.num.partitions", "5");
        // A lab's first consumer should not wait 3 s for more members to join.
        config.put("group.initial.rebalance.delay.ms", "0");
        // KIP-848 groups learn of a new assignment at the next heartbeat: 5 s by default is
        // a long pause in a 10-minute lab.
        config.put("group.consumer.min.heartbeat.interval.ms", "100");
        config.put("group.consumer.heartbeat.interval.ms", "500");
        config.put("num.partitions", "1");
        return config;
    }

    /** Formats {@code dataDir} for node {@code nodeId} of cluster {@code clusterId}, unless done before. */
    static void format(Properties config, Path dataDir, int nodeId, String clusterId) throws Exception {
        if (Files.exists(dataDir.resolve("meta.properties"))) {
            return; // formatted by an earlier run: keep its cluster id and data
        }
        Files.createDirectories(dataDir);
        new Formatter()
                .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
                .setClusterId(clusterId)
                .setNodeId(nodeId)
                .setDirectories(java.util.List.of(dataDir.toAbsolutePath().toString()))
                .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                .setControllerListenerName("CONTROLLER")
                .setIgnoreFormatted(true)
                .run();
    }

    public String bootstrapServers() {
        return "127.0.0.1:" + port;
    }

    public Path dataDir() {
        return dataDir;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        server.shutdown();
        server.awaitShutdown();
        if (deleteOnClose) {
            deleteRecursively(dataDir);
        }
    }

    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void ensurePortFree(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port));
        } catch (IOException e) {
            throw new PortInUseException(port);
        }
    }

    /** Thrown when a port the broker needs is taken, so callers can say so in one line. */
    public static final class PortInUseException extends RuntimeException {
        public PortInUseException(int port) {
            super("Port " + port + " on 127.0.0.1 is already in use (another broker or program is listening there)");
        }
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a leftover temp folder is harmless
        }
    }
}
