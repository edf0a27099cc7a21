package workshop.checks;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Collectors;

import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.requests.RequestHeader;

import workshop.check.Relayed;

/**
 * A link to the grading brokers with the round trip of a network rather than of loopback: every
 * answer reaches the client {@code delay} after its broker sent it. On loopback an answer takes
 * microseconds, so the producer's own CPU sets the pace whatever its batches are, and the more so
 * the busier the machine; across a network every request costs a round trip, and fewer, bigger
 * requests are what batching buys. Metadata answers are rewritten so that the client reaches each
 * broker through a relay of its own.
 */
final class Lab06SlowLink implements AutoCloseable {

    private final long delayNanos;
    private final List<String> bootstrap;
    /** Relays by the address of the broker they lead to. */
    private final Map<String, Relay> relays = new ConcurrentHashMap<>();
    private final List<AutoCloseable> open = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    Lab06SlowLink(String brokerBootstrap, Duration delay) {
        this.delayNanos = delay.toNanos();
        this.bootstrap = Arrays.stream(brokerBootstrap.split(",")).map(String::trim).filter(s -> !s.isEmpty()).toList();
    }

    /** The addresses a client uses instead of the brokers' own. */
    String bootstrapServers() {
        return bootstrap.stream().map(address -> "127.0.0.1:" + relayTo(address).port()).collect(Collectors.joining(","));
    }

    private Relay relayTo(String address) {
        return relays.computeIfAbsent(address, Relay::new);
    }

    private record Due(long atNanos, byte[] frame) {
    }

    private final class Relay {
        final String host;
        final int port;
        final ServerSocket server;

        Relay(String address) {
            int colon = address.lastIndexOf(':');
            host = address.substring(0, colon);
            port = Integer.parseInt(address.substring(colon + 1));
            try {
                server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            } catch (IOException e) {
                throw new IllegalStateException("The checker could not open its network link to " + address, e);
            }
            open.add(server);
            Relayed.daemon("lab06-link-accept", this::acceptLoop);
        }

        int port() {
            return server.getLocalPort();
        }

        void acceptLoop() {
            Relayed.acceptUntilClosed(server, host, port, () -> closed, open, relayed -> {
                Socket client = relayed.client();
                Socket broker = relayed.target();
                Map<Integer, Short> metadataVersions = new ConcurrentHashMap<>();
                BlockingQueue<Due> answers = new LinkedBlockingQueue<>();
                Relayed.daemon("lab06-link-up", () -> requests(client, broker, metadataVersions));
                Relayed.daemon("lab06-link-down", () -> answers(client, broker, metadataVersions, answers));
                Relayed.daemon("lab06-link-deliver", () -> deliver(client, broker, answers));
            });
        }
    }

    private void requests(Socket client, Socket broker, Map<Integer, Short> metadataVersions) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(client.getInputStream(), 256 * 1024));
             DataOutputStream out = new DataOutputStream(new BufferedOutputStream(broker.getOutputStream(), 256 * 1024))) {
            while (true) {
                byte[] frame = KafkaFrames.read(in);
                RequestHeader header = RequestHeader.parse(ByteBuffer.wrap(frame));
                if (header.apiKey() == ApiKeys.METADATA) {
                    metadataVersions.put(header.correlationId(), header.apiVersion());
                }
                out.writeInt(frame.length);
                out.write(frame);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            Relayed.closeBoth(client, broker, open);
        }
    }

    private void answers(Socket client, Socket broker, Map<Integer, Short> metadataVersions, BlockingQueue<Due> answers) {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(broker.getInputStream(), 256 * 1024))) {
            while (true) {
                byte[] frame = KafkaFrames.read(in);
                Short metadataVersion = metadataVersions.remove(ByteBuffer.wrap(frame).getInt(0));
                if (metadataVersion != null) {
                    frame = KafkaFrames.metadataThroughProxy(frame, metadataVersion, b -> relayTo(b.host() + ":" + b.port()).port());
                }
                answers.add(new Due(System.nanoTime() + delayNanos, frame));
            }
        } catch (IOException | RuntimeException e) {
            Relayed.closeBoth(client, broker, open);
        }
    }

    /** Answers in the order the broker sent them, each no earlier than it is due. */
    private void deliver(Socket client, Socket broker, BlockingQueue<Due> answers) {
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(client.getOutputStream(), 256 * 1024))) {
            while (!client.isClosed()) {
                Due next = answers.poll(100, TimeUnit.MILLISECONDS);
                if (next == null) {
                    continue;
                }
                for (long wait = next.atNanos() - System.nanoTime(); wait > 0; wait = next.atNanos() - System.nanoTime()) {
                    LockSupport.parkNanos(wait);
                }
                out.writeInt(next.frame().length);
                out.write(next.frame());
                out.flush();
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            Relayed.closeBoth(client, broker, open);
        }
    }

    @Override
    public void close() {
        closed = true;
        open.forEach(Relayed::closeQuietly);
    }
}
