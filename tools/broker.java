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
import java.util.Properties;
import java.util.stream.Stream;

import org.apache.kafka.clients.CommonClientConfigs;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import workshop.EmbeddedKafka;
import workshop.KafkaCluster;
import workshop.Room;
import workshop.Workshop;

/** ./jbang broker: a real Kafka 4.3.1 broker on localhost:9092 whose data outlives restarts. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = "Runs a Kafka broker (KRaft) on 127.0.0.1 until Ctrl+C, or with --nodes 3 a three-broker cluster. Labs find it on localhost:9092."
                + " With --room, the room's broker: on the network, with a login, for ./jbang join and ./jbang dashboard.")
class BrokerCommand implements Callable<Integer> {

    @Option(names = "--port", paramLabel = "PORT", description = "client port (default: 9092; 9192 with --room)")
    Integer port;

    @Option(names = "--controller-port", paramLabel = "PORT", description = "KRaft controller port (default: 9093; 9193 with --room)")
    Integer controllerPort;

    @Option(names = "--data-dir", description = "where the broker keeps its log (default: .kafka-data in the workshop folder)")
    Path dataDir;

    @Option(names = "--fresh", description = "delete all topics and records before starting")
    boolean fresh;

    @Option(names = "--nodes", defaultValue = "1",
            description = "brokers to run: 1, or 3 for a cluster on ports 9092-9094, each in its own JVM (default: ${DEFAULT-VALUE})")
    int nodes;

    @Option(names = "--room",
            description = "a broker for a workshop room: on this machine's network, every client logs in; prints the command learners run to join")
    boolean room;

    @Option(names = "--advertise", paramLabel = "HOST",
            description = "with --room: the address learners reach this machine at (default: its first LAN address)")
    String advertise;

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
        if (room) {
            if (nodes != 1) {
                System.err.println("✗ --room runs one broker: leave out --nodes.");
                return 2;
            }
            return runRoom();
        }
        if (advertise != null) {
            System.err.println("✗ --advertise goes with --room: a lab broker listens on 127.0.0.1 only.");
            return 2;
        }
        port = port != null ? port : 9092;
        controllerPort = controllerPort != null ? controllerPort : 9093;
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
        return runUntilCtrlC("the broker", broker::close, "Broker stopped; its data stays in " + data + ".");
    }

    /**
     * The room's broker: reachable from the room's network, only with a login. Its passwords, data
     * and the client files for the instructor and for learners live in .kafka-room (git-ignored).
     */
    private int runRoom() throws Exception {
        port = port != null ? port : 9192;
        controllerPort = controllerPort != null ? controllerPort : 9193;
        Path folder = Workshop.workshopFolder().resolve(".kafka-room");
        Path data = dataDir != null ? dataDir : folder.resolve("data");
        if (fresh && Files.exists(data)) {
            try (Stream<Path> paths = Files.walk(data)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
            System.out.println("Deleted the room's topics and records in " + data + " (its passwords stay).");
        }
        String host = advertise != null ? advertise : Room.roomAddress();
        Room.Secrets secrets = Room.Secrets.loadOrMake(folder.resolve("passwords.properties"));
        System.out.println("Starting the room's Kafka 4.3.1 broker (KRaft) on port " + port + " of every network interface...");
        long start = System.nanoTime();
        EmbeddedKafka broker;
        try {
            broker = EmbeddedKafka.startRoom(data, port, controllerPort, host, secrets, false);
        } catch (EmbeddedKafka.PortInUseException e) {
            System.err.println("✗ " + e.getMessage() + ". Is the room's broker already running? Or pick other ports with --port and --controller-port.");
            return 2;
        } catch (Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            return 1;
        }
        Properties instructor = Room.clientConfig(Room.INSTRUCTOR, secrets.instructorPassword());
        Properties forInstructor = new Properties();
        forInstructor.putAll(instructor);
        forInstructor.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:" + port);
        Room.writeClientConfig(folder.resolve("instructor.properties"), forInstructor,
                "The instructor's login to the room's broker: ./jbang dashboard reads it");
        Properties forLearners = Room.clientConfig(Room.LEARNER, secrets.learnerPassword());
        Room.writeClientConfig(folder.resolve("learner.properties"), forLearners,
                "A learner's login to the room's broker, for --command-config");
        String address = host + ":" + port;
        System.out.printf("✓ Room broker ready in %.1f s at %s. Every client must log in. Data: %s.%n",
                (System.nanoTime() - start) / 1e9, address, data);
        System.out.println();
        System.out.println("  Learners join once, from their workshop folder:");
        System.out.println("    ./jbang join " + address + " --name \"Their Name\" --password " + secrets.learnerPassword());
        System.out.println("  Then every ./jbang grade also sends its result (never their code) to the room.");
        System.out.println();
        System.out.println("  The dashboard, in another terminal:  ./jbang dashboard   (add --bind 0.0.0.0 to open it from the projector's machine)");
        System.out.println("  A lab against this broker:  ./jbang labs/00-hello-kafka.java --bootstrap-server " + address
                + " --command-config " + Workshop.workshopFolder().relativize(folder.resolve("learner.properties")));
        if (host.equals("127.0.0.1")) {
            System.out.println("  No network address found: learners on other machines cannot reach 127.0.0.1. Name this machine's with --advertise HOST.");
        }
        System.out.println("  Leave this running. Ctrl+C stops it; the passwords stay in " + folder.resolve("passwords.properties") + ".");
        return runUntilCtrlC("the room's broker", broker::close, "Room broker stopped; its data stays in " + data + ".");
    }

    /** Waits for Ctrl+C, then stops {@code what} with {@code stop} and says {@code stopped}. */
    private static int runUntilCtrlC(String what, Runnable stop, String stopped) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Stopping " + what + "...");
            stop.run();
            System.out.println(stopped);
            done.countDown();
        }));
        done.await();
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
        return runUntilCtrlC("the cluster", () -> {
            restarts.shutdownNow();
            cluster.close();
        }, "Cluster stopped; its data stays in " + data + ".");
    }
}
