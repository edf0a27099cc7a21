///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS info.picocli:picocli:4.7.7
//SOURCES ../support/workshop/*.java
//MAIN BrokerCommand

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Stream;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import workshop.EmbeddedKafka;
import workshop.KafkaCluster;
import workshop.Workshop;

/** ./jbang broker: a real Kafka 4.3.1 broker on localhost:9092 whose data outlives restarts. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = "Runs a Kafka broker (KRaft) on 127.0.0.1 until Ctrl+C, or with --nodes 3 a three-broker cluster. Labs find it on localhost:9092.")
class BrokerCommand implements Callable<Integer> {

    @Option(names = "--port", defaultValue = "9092", description = "client port (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--controller-port", defaultValue = "9093", description = "KRaft controller port (default: ${DEFAULT-VALUE})")
    int controllerPort;

    @Option(names = "--data-dir", description = "where the broker keeps its log (default: .kafka-data in the workshop folder)")
    Path dataDir;

    @Option(names = "--fresh", description = "delete all topics and records before starting")
    boolean fresh;

    @Option(names = "--nodes", defaultValue = "1",
            description = "brokers to run: 1, or 3 for a cluster on ports 9092-9094, each in its own JVM (default: ${DEFAULT-VALUE})")
    int nodes;

    public static void main(String[] args) {
        System.exit(new CommandLine(new BrokerCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        Workshop.quietLogs();
        if (nodes != 1 && nodes != 3) {
            System.err.println("✗ --nodes takes 1 or 3.");
            return 2;
        }
        Path data = dataDir != null ? dataDir : Workshop.workshopFolder().resolve(nodes == 1 ? ".kafka-data" : ".kafka-cluster");
        if (fresh && Files.exists(data)) {
            try (Stream<Path> paths = Files.walk(data)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
            System.out.println("Deleted the " + (nodes == 1 ? "broker's" : "cluster's") + " data in " + data + ".");
        }
        if (nodes > 1) {
            return runCluster(data);
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

    /** Three brokers in JVMs of their own; one that dies (a lab stopped it) is started again. */
    private int runCluster(Path data) throws InterruptedException {
        boolean existing = Files.exists(data.resolve("cluster.id"));
        System.out.printf("Starting a %d-broker Kafka 4.3.1 cluster (KRaft) on 127.0.0.1:%d-%d...%n", nodes, port, port + nodes - 1);
        long start = System.nanoTime();
        KafkaCluster cluster;
        try {
            cluster = KafkaCluster.startPersistent(data, nodes, port, Duration.ofSeconds(120));
        } catch (EmbeddedKafka.PortInUseException e) {
            System.err.println("✗ " + e.getMessage() + ". Is a broker already running? Stop it first, or pick other ports with --port.");
            return 2;
        } catch (Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            return 1;
        }
        System.out.printf("✓ Cluster ready in %.1f s: %s.%n", (System.nanoTime() - start) / 1e9, cluster.describe());
        System.out.printf("  Each broker runs in its own JVM (heap at most %s MB; about 300 MB of memory each).%n",
                KafkaCluster.NODE_HEAP.replaceAll("\\D", ""));
        System.out.println("  Data: " + data + " (" + (existing ? "kept from the last run" : "new") + "; --fresh wipes it).");
        System.out.println("  Leave this running; run labs in another terminal. Ctrl+C stops the cluster cleanly.");
        ScheduledExecutorService restarts = Executors.newSingleThreadScheduledExecutor();
        cluster.onUnexpectedExit(id -> {
            System.out.printf("✗ Broker %d (%s) stopped. Starting it again in 10 s, with its data...%n", id, cluster.spec(id).clientAddress());
            restarts.schedule(() -> {
                try {
                    cluster.restart(id);
                    System.out.printf("✓ Broker %d is starting again; it catches up with the others, then rejoins the in-sync replicas.%n", id);
                } catch (RuntimeException e) {
                    System.err.println("✗ Broker " + id + " did not start again: " + e.getMessage());
                }
            }, 10, TimeUnit.SECONDS);
        });
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping the cluster...");
            restarts.shutdownNow();
            cluster.close();
            System.out.println("Cluster stopped; its data stays in " + data + ".");
            stopped.countDown();
        }));
        stopped.await();
        return 0;
    }
}
