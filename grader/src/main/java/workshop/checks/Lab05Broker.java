package workshop.checks;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.Feature;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * Lab 05: a real broker of the checker's own, in this JVM, that clients reach only through a
 * small TCP relay the checker can stall and restore. Stalled, the broker is gone for the clients
 * as when its machine dies: nothing they send is answered, connections still open but no answer
 * ever comes. The broker itself keeps running, so it is back at once when restored (the relay then
 * drops every connection, as a rebooted machine would). The shared grading broker is never touched.
 */
final class Lab05Broker implements AutoCloseable {

    private final Path dataDir;
    private final KafkaRaftServer server;
    private final int relayPort;
    private final int brokerPort;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile ServerSocket relay;
    private volatile boolean stalled;

    private Lab05Broker(Path dataDir, KafkaRaftServer server, int relayPort, int brokerPort) {
        this.dataDir = dataDir;
        this.server = server;
        this.relayPort = relayPort;
        this.brokerPort = brokerPort;
    }

    static Lab05Broker start() throws Exception {
        Path dataDir = Files.createTempDirectory("lab05-broker-");
        int relayPort = freePort();
        int brokerPort = freePort();
        int controllerPort = freePort();
        Properties config = new Properties();
        config.put("process.roles", "broker,controller");
        config.put("node.id", "1");
        config.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        config.put("listeners", "PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
        // Clients are told to connect to the relay, so a stalled relay is a broker gone for them.
        config.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + relayPort);
        config.put("controller.listener.names", "CONTROLLER");
        config.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        config.put("inter.broker.listener.name", "PLAINTEXT");
        config.put("log.dirs", dataDir.toAbsolutePath().toString());
        config.put("offsets.topic.replication.factor", "1");
        config.put("offsets.topic.num.partitions", "1");
        config.put("transaction.state.log.replication.factor", "1");
        config.put("transaction.state.log.min.isr", "1");
        config.put("transaction.state.log.num.partitions", "1");
        config.put("share.coordinator.state.topic.replication.factor", "1");
        config.put("share.coordinator.state.topic.min.isr", "1");
        config.put("num.partitions", "1");
        new Formatter()
                .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                .setSupportedFeatures(Feature.PRODUCTION_FEATURES)
                .setClusterId(Uuid.randomUuid().toString())
                .setNodeId(1)
                .setDirectories(List.of(dataDir.toAbsolutePath().toString()))
                .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                .setControllerListenerName("CONTROLLER")
                .setIgnoreFormatted(true)
                .run();
        Lab05Broker broker = new Lab05Broker(dataDir, new KafkaRaftServer(KafkaConfig.fromProps(config, false), Time.SYSTEM),
                relayPort, brokerPort);
        broker.listen();
        broker.server.startup();
        return broker;
    }

    String bootstrapServers() {
        return "127.0.0.1:" + relayPort;
    }

    /** The broker stops answering: what clients send is dropped, as if its machine died. */
    void stall() {
        stalled = true;
    }

    /** The broker answers again: every connection is dropped, and new ones reach it. */
    synchronized void restore() {
        stalled = false;
        sockets.forEach(Lab05Broker::closeQuietly);
        sockets.clear();
    }

    private void listen() throws IOException {
        ServerSocket listening = new ServerSocket();
        listening.setReuseAddress(true);
        listening.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), relayPort));
        relay = listening;
        Thread acceptor = new Thread(() -> accept(listening), "lab05-relay");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    private void accept(ServerSocket listening) {
        while (!listening.isClosed()) {
            try {
                Socket client = listening.accept();
                sockets.add(client);
                if (stalled) {
                    continue; // held open, never answered
                }
                Socket upstream = new Socket(InetAddress.getLoopbackAddress(), brokerPort);
                sockets.add(upstream);
                pump(client, upstream);
                pump(upstream, client);
            } catch (IOException e) {
                // the relay closed, or a connection that failed: the client sees it dropped
            }
        }
    }

    private void pump(Socket from, Socket to) {
        Thread pump = new Thread(() -> {
            byte[] buffer = new byte[64 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (!stalled) {
                        out.write(buffer, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // a dropped connection ends both directions
            } finally {
                closeQuietly(from);
                closeQuietly(to);
                sockets.remove(from);
                sockets.remove(to);
            }
        }, "lab05-relay-pump");
        pump.setDaemon(true);
        pump.start();
    }

    @Override
    public void close() {
        closeQuietly(relay);
        restore();
        server.shutdown();
        server.awaitShutdown();
        try (Stream<Path> paths = Files.walk(dataDir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a leftover temp folder is harmless
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    private static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
