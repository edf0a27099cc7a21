package workshop.check;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A TCP relay on loopback that a check can freeze: while frozen, bytes stay where they are, as
 * on a network link that stopped delivering, and connections stay open. Brokers reach each
 * other's replication listener through one of these, so a check can stop followers from copying
 * a leader's records without stopping anything else.
 */
public final class FreezableProxy implements AutoCloseable {

    private final ServerSocket server;
    private final int targetPort;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final Object thaw = new Object();
    private volatile boolean frozen;
    private volatile boolean closed;

    public FreezableProxy(int targetPort) {
        this.targetPort = targetPort;
        try {
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Relayed.daemon("proxy-accept-" + targetPort, this::acceptLoop);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Stops delivering bytes in both directions until {@link #thaw()}. */
    public void freeze() {
        frozen = true;
    }

    public void thaw() {
        synchronized (thaw) {
            frozen = false;
            thaw.notifyAll();
        }
    }

    private void acceptLoop() {
        Relayed.acceptUntilClosed(server, InetAddress.getLoopbackAddress().getHostAddress(), targetPort, () -> closed, sockets,
                relayed -> {
                    pump(relayed.client(), relayed.target());
                    pump(relayed.target(), relayed.client());
                });
    }

    private void pump(Socket from, Socket to) {
        Relayed.daemon("proxy-" + targetPort, () -> {
            byte[] buffer = new byte[64 * 1024];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int read;
                while ((read = in.read(buffer)) >= 0) {
                    awaitThaw();
                    out.write(buffer, 0, read);
                    out.flush();
                }
            } catch (IOException | InterruptedException e) {
                // one side closed: close the other below
            } finally {
                Relayed.closeQuietly(from);
                Relayed.closeQuietly(to);
            }
        });
    }

    private void awaitThaw() throws InterruptedException {
        synchronized (thaw) {
            while (frozen && !closed) {
                thaw.wait(100);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        thaw();
        Relayed.closeQuietly(server);
        sockets.forEach(Relayed::closeQuietly);
    }
}
