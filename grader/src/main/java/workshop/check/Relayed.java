package workshop.check;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;

/** A client that a checker's TCP relay accepted, and the relay's own connection for it to the relay's target. */
public record Relayed(Socket client, Socket target) {

    /**
     * Waits for the next client on {@code server} and connects it on to {@code host:port}. A client
     * the target refuses is closed at once, as the target itself would refuse it, rather than left
     * connected to nothing: then this returns null, and the client connects again.
     */
    public static Relayed accept(ServerSocket server, String host, int port) throws IOException {
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

    public static void closeQuietly(AutoCloseable closeable) {
        try {
            closeable.close();
        } catch (Exception alreadyClosed) {
            // nothing left to release
        }
    }
}
