package workshop.checks;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.record.internal.MemoryRecords;
import org.apache.kafka.common.record.internal.RecordBatch;
import org.apache.kafka.common.requests.ProduceRequest;
import org.apache.kafka.common.requests.RequestHeader;

import workshop.check.Relayed;

/**
 * A TCP proxy in front of the grading broker that loses chosen acknowledgements: the broker
 * receives the produce request and appends its records, but its answer never reaches the
 * producer, whose connection is closed instead. That is what a network blip after the write
 * looks like to a producer: a retriable error for a batch the broker already has. An idempotent
 * producer retries it and the broker recognises the batch by producer id and sequence number; any
 * other producer writes it again.
 *
 * <p>The answer lost is that of a produce request alone in flight on its connection, and never one
 * that carries a partition's first batch (sequence 0). Measured on 4.3.1: when a partition's first
 * batch lost its acknowledgement together with later requests on the same connection, the
 * idempotent producer sent sequence 0 again after later batches had landed, got
 * OUT_OF_ORDER_SEQUENCE_NUMBER and either wrote batches twice (after an epoch bump) or retried until
 * delivery.timeout.ms. A single lost acknowledgement it always survives, and that is the lesson.
 *
 * <p>Metadata answers are rewritten so the client connects to the broker through this proxy too.
 */
final class Lab07LostAcksProxy implements AutoCloseable {

    private final String brokerHost;
    private final int brokerPort;
    private final ServerSocket server;
    /** How many acknowledgements to lose: the first after {@code lossEvery} answers, then every {@code lossEvery}. */
    private final int lossCount;
    private final int lossEvery;
    private volatile int nextLossAt;
    private final AtomicInteger produceRequests = new AtomicInteger();
    private final AtomicInteger producesAnswered = new AtomicInteger();
    private final AtomicInteger lost = new AtomicInteger();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    private record Pending(ApiKeys api, short version, boolean opensASequence) {
    }

    private static final class Connection {
        final Map<Integer, Pending> pending = new ConcurrentHashMap<>();
        boolean dead;
    }

    Lab07LostAcksProxy(String brokerBootstrap, int lossCount, int lossEvery) throws IOException {
        String first = brokerBootstrap.split(",")[0].trim();
        int colon = first.lastIndexOf(':');
        this.brokerHost = first.substring(0, colon);
        this.brokerPort = Integer.parseInt(first.substring(colon + 1));
        this.lossCount = lossCount;
        this.lossEvery = lossEvery;
        this.nextLossAt = lossEvery;
        this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Relayed.daemon("lab07-proxy-accept", this::acceptLoop);
    }

    String bootstrapServers() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    /** Produce requests that went through. */
    int produceRequests() {
        return produceRequests.get();
    }

    /** Acknowledgements the broker sent that the producer never got. */
    int lostAcks() {
        return lost.get();
    }

    private void acceptLoop() {
        Relayed.acceptUntilClosed(server, brokerHost, brokerPort, () -> closed, sockets, relayed -> {
            Socket client = relayed.client();
            Socket broker = relayed.target();
            Connection connection = new Connection();
            Relayed.daemon("lab07-proxy-up", () -> upstream(client, broker, connection));
            Relayed.daemon("lab07-proxy-down", () -> downstream(client, broker, connection));
        });
    }


    private void upstream(Socket client, Socket broker, Connection connection) {
        try {
            DataInputStream in = new DataInputStream(client.getInputStream());
            DataOutputStream out = new DataOutputStream(broker.getOutputStream());
            while (true) {
                byte[] frame = KafkaFrames.read(in);
                RequestHeader header = RequestHeader.parse(ByteBuffer.wrap(frame));
                boolean produce = header.apiKey() == ApiKeys.PRODUCE;
                boolean opens = produce && opensASequence(frame, header);
                synchronized (connection) {
                    if (connection.dead) {
                        return;
                    }
                    if (produce) {
                        produceRequests.incrementAndGet();
                    }
                    connection.pending.put(header.correlationId(), new Pending(header.apiKey(), header.apiVersion(), opens));
                    out.writeInt(frame.length);
                    out.write(frame);
                    out.flush();
                }
            }
        } catch (IOException | RuntimeException e) {
            Relayed.closeBoth(client, broker, sockets);
        }
    }

    private void downstream(Socket client, Socket broker, Connection connection) {
        try {
            DataInputStream in = new DataInputStream(broker.getInputStream());
            DataOutputStream out = new DataOutputStream(client.getOutputStream());
            while (true) {
                byte[] frame = KafkaFrames.read(in);
                int correlationId = ByteBuffer.wrap(frame).getInt(0);
                Pending request;
                synchronized (connection) {
                    request = connection.pending.remove(correlationId);
                    if (request != null && request.api() == ApiKeys.PRODUCE && shouldLose(request, connection)) {
                        // The broker has appended the batches; their acknowledgement goes with the connection.
                        connection.dead = true;
                        lost.incrementAndGet();
                        Relayed.closeBoth(client, broker, sockets);
                        return;
                    }
                }
                if (request != null && request.api() == ApiKeys.METADATA) {
                    frame = KafkaFrames.metadataThroughProxy(frame, request.version(), anyBroker -> server.getLocalPort());
                }
                out.writeInt(frame.length);
                out.write(frame);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            Relayed.closeBoth(client, broker, sockets);
        }
    }

    /**
     * Loses this answer if it is the next one due, opens no partition's sequence, and no other
     * produce request is in flight on its connection (so the loss is of this request alone).
     */
    private boolean shouldLose(Pending request, Connection connection) {
        int answered = producesAnswered.incrementAndGet();
        boolean alone = connection.pending.values().stream().noneMatch(p -> p.api() == ApiKeys.PRODUCE);
        if (lost.get() < lossCount && answered >= nextLossAt && !request.opensASequence() && alone) {
            nextLossAt = answered + lossEvery;
            return true;
        }
        return false;
    }

    /** Whether a batch of this produce request is its producer's first on a partition (sequence 0). */
    private static boolean opensASequence(byte[] frame, RequestHeader header) {
        ByteBuffer buffer = ByteBuffer.wrap(frame);
        RequestHeader.parse(buffer);
        ProduceRequest request = ProduceRequest.parse(new ByteBufferAccessor(buffer), header.apiVersion());
        for (var topic : request.data().topicData()) {
            for (var partition : topic.partitionData()) {
                if (partition.records() instanceof MemoryRecords records) {
                    for (RecordBatch batch : records.batches()) {
                        if (batch.baseSequence() == 0) {
                            return true;
                        }
                    }
                }
            }
        }
        return false;
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            // already closed
        }
        sockets.forEach(Relayed::closeQuietly);
    }
}
