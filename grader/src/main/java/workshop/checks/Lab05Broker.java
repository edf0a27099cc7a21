package workshop.checks;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import workshop.EmbeddedKafka;

/**
 * Lab 05: a real broker of the checker's own, in this JVM, that clients reach only through a
 * small TCP relay the checker can stall and restore. Stalled, the broker is gone for the clients
 * as when its machine dies: nothing they send is answered, connections still open but no answer
 * ever comes. The broker itself keeps running, so it is back at once when restored (the relay then
 * drops every connection, as a rebooted machine would). The shared grading broker is never touched.
 */
final class Lab05Broker implements AutoCloseable {

    private final int relayPort;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile EmbeddedKafka kafka;
    private volatile int brokerPort;
    private volatile ServerSocket relay;
    private volatile boolean stalled;

    private Lab05Broker(int relayPort) {
        this.relayPort = relayPort;
    }

    static Lab05Broker start() throws Exception {
        Lab05Broker broker = new Lab05Broker(freePort());
        // Clients are told to connect to the relay, so a stalled relay is a broker gone for them.
        broker.kafka = EmbeddedKafka.startTemporary(port -> {
            broker.brokerPort = port;
            try {
                broker.listen();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return broker.relayPort;
        });
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
        if (kafka != null) {
            kafka.close();
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
