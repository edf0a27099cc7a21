///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS info.picocli:picocli:4.7.7
//SOURCES ../support/workshop/*.java
//MAIN BrokerCommand

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import workshop.EmbeddedKafka;
import workshop.Workshop;

/** ./jbang broker: a real Kafka 4.3.1 broker on localhost:9092 whose data outlives restarts. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = "Runs a Kafka broker (KRaft, in this JVM) on 127.0.0.1 until Ctrl+C. Labs find it on localhost:9092.")
class BrokerCommand implements Callable<Integer> {

    @Option(names = "--port", defaultValue = "9092", description = "client port (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--controller-port", defaultValue = "9093", description = "KRaft controller port (default: ${DEFAULT-VALUE})")
    int controllerPort;

    @Option(names = "--data-dir", description = "where the broker keeps its log (default: .kafka-data in the workshop folder)")
    Path dataDir;

    @Option(names = "--fresh", description = "delete all topics and records before starting")
    boolean fresh;

    public static void main(String[] args) {
        System.exit(new CommandLine(new BrokerCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Workshop.quietLogs();
        Path data = dataDir != null ? dataDir : Workshop.workshopFolder().resolve(".kafka-data");
        if (fresh && Files.exists(data)) {
            try (Stream<Path> paths = Files.walk(data)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
            System.out.println("Deleted the broker's data in " + data + ".");
        }
        boolean existing = Files.exists(data.resolve("meta.properties"));
        System.out.println("Starting Kafka 4.3.1 (KRaft) on 127.0.0.1:" + port + "...");
        long start = System.nanoTime();
        EmbeddedKafka broker;
        try {
            broker = EmbeddedKafka.start(data, port, controllerPort, false);
        } catch (EmbeddedKafka.PortInUseException e) {
            System.err.println("✗ " + e.getMessage() + ". Is a broker already running? Labs will use it as it is;"
                    + " or pick another port with --port.");
            return 2;
        }
        System.out.printf("✓ Broker ready on localhost:%d in %.1f s. Data: %s (%s; --fresh wipes it).%n",
                port, (System.nanoTime() - start) / 1e9, data, existing ? "kept from the last run" : "new");
        System.out.println("  Leave this running; run labs in another terminal. Ctrl+C stops it cleanly.");
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping the broker...");
            broker.close();
            System.out.println("Broker stopped; its data stays in " + data + ".");
            stopped.countDown();
        }));
        stopped.await();
        return 0;
    }
}
