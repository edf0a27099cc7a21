package workshop.check;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Collection;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/** A client that a checker's TCP relay accepted, and the relay's own connection for it to the relay's target. */
public record Relayed(Socket client, Socket target) {

    /**
     * Waits for the next client on {@code server} and connects it on to {@code host:port}. A client
     * the target refuses is closed at once, as the target itself would refuse it, rather than left
     * connected to nothing: then this returns null, and the client connects again.
     */
    static Relayed accept(ServerSocket server, String host, int port) throws IOException {
        Socket client = server.accept();
        Socket target;
        try {
            target = new Socket(host, port);
        } catch (IOException targetDown) {
            closeQuietly(client);
            return null;
        }
        client.setTcpNoDelay(true);
        target.setTcpNoDelay(true);
        return new Relayed(client, target);
    }

    /**
     * A relay's accept loop: until {@code closed} says so, connects each client of {@code server}
     * on to {@code host:port}, keeps both sockets in {@code open} for the relay's close, and hands
     * the pair to {@code relay}, which starts whatever carries its bytes.
     */
    public static void acceptUntilClosed(ServerSocket server, String host, int port, BooleanSupplier closed,
                                         Collection<? super Socket> open, Consumer<Relayed> relay) {
        while (!closed.getAsBoolean()) {
            try {
                Relayed relayed = accept(server, host, port);
                if (relayed != null) {
                    open.add(relayed.client());
                    open.add(relayed.target());
                    relay.accept(relayed);
                }
            } catch (IOException e) {
                // the relay is closing (the loop ends), or one client failed to connect (the next one may not)
            }
        }
    }

    /** Starts {@code body} on a daemon thread: a relay's threads never keep a JVM alive. */
    public static void daemon(String name, Runnable body) {
        Thread thread = new Thread(body, name);
        thread.setDaemon(true);
        thread.start();
    }

    /** Ends one relayed connection: both its sockets closed and forgotten by the relay's {@code open}. */
    public static void closeBoth(Socket client, Socket target, Collection<?> open) {
        closeQuietly(client);
        closeQuietly(target);
        open.remove(client);
        open.remove(target);
    }

    public static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception alreadyClosed) {
            // nothing left to release
        }
    }
}
