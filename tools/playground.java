///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//DEPS info.picocli:picocli:4.7.7
//SOURCES ../support/workshop/*.java
//MAIN PlaygroundCommand

import workshop.Playground;
import workshop.Workshop;

/**
 * ./jbang playground [--bootstrap-server HOST:PORT] [--command-config FILE]: JShell with Kafka's
 * clients ready, on the broker a lab would use. Try the snippets in playground/ with /open.
 *
 * JShell runs in this JVM rather than through `jbang --interactive`: a .jsh startup cannot
 * compile the kit's packaged support classes, and only a JVM that outlives the shell can close
 * the clients and stop a throwaway broker when the learner types /exit.
 */
class PlaygroundCommand {

    public static void main(String[] args) {
        Workshop.quietLogs();
        int exitCode;
        try (Playground playground = Playground.connect(args)) {
            exitCode = playground.shell(System.in, System.out, System.err, System.console() != null, null);
        } catch (Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            exitCode = 2;
        } catch (Exception e) {
            System.err.println("✗ The playground failed: " + e);
            exitCode = 1;
        }
        System.exit(exitCode);
    }
}
