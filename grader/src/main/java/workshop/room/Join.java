package workshop.room;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.IllegalSaslStateException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.errors.UnsupportedSaslMechanismException;
import org.apache.kafka.common.utils.Utils;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import workshop.Room;
import workshop.Workshop;
import workshop.check.LearnerMessages;
import workshop.grader.Project;

/**
 * {@code ./jbang join HOST:PORT --name Ada}: from then on each grade of this checkout is also sent
 * to the room's broker, for the instructor's dashboard.
 *
 * <ol>
 *   <li>Check the room, within {@link #CHECK_BOUND}: something answers at the address, it is a
 *       Kafka broker that accepts the login, and the progress topic is there or can be made.</li>
 *   <li>Only then save: the room's address and login in {@code build/room.properties}, the
 *       learner's name in {@code build/learner.properties}.</li>
 * </ol>
 * A failed check saves nothing and says why in one line.
 */
@Command(name = "join", mixinStandardHelpOptions = true,
        description = {"Joins the instructor's room: from then on each ./jbang grade also sends its result (never your code)"
                + " to the room's dashboard.", "./jbang join --leave stops that."})
public final class Join implements Callable<Integer> {

    /** The longest a join waits for the room to answer. */
    static final Duration CHECK_BOUND = Duration.ofSeconds(10);

    @Parameters(arity = "0..1", paramLabel = "HOST:PORT", description = "the room's broker, as your instructor shows it")
    String address;

    @Option(names = "--name", paramLabel = "NAME", description = "your name on the room's dashboard (needed the first time, kept after)")
    String name;

    @Option(names = "--password", paramLabel = "PASSWORD", description = "the learners' password your instructor gave you")
    String password;

    @Option(names = "--command-config", paramLabel = "FILE", description = "log in with these client properties instead, as Kafka's own tools take them")
    Path commandConfig;

    @Option(names = "--leave", description = "stop sending grades to the room (your name is kept)")
    boolean leave;

    private final PrintStream out;
    private final PrintStream err;
    /** The kit's folder, or null to find it as every verb does (Project.root()). */
    private final Path home;

    public Join() {
        this(System.out, System.err, null);
    }

    Join(PrintStream out, PrintStream err, Path home) {
        this.out = out;
        this.err = err;
        this.home = home;
    }

    public static void main(String[] args) {
        Workshop.quietLogs();
        int code = new CommandLine(new Join()).execute(args);
        System.out.flush();
        System.exit(code);
    }

    @Override
    public Integer call() {
        Path root;
        try {
            root = home != null ? home : Project.root();
        } catch (Workshop.WorkshopException e) {
            err.println("✗ " + e.getMessage());
            return 2;
        }
        if (leave) {
            if (address != null || name != null || password != null || commandConfig != null) {
                err.println("✗ --leave goes alone: ./jbang join --leave");
                return 2;
            }
            return leave(root);
        }
        if (address == null || address.isBlank()) {
            err.println("✗ Name the room's broker, as your instructor shows it: ./jbang join HOST:PORT --name Ada --password PASSWORD");
            return 2;
        }
        address = address.strip();
        for (String one : address.split(",")) {
            if (Utils.getHost(one.strip()) == null || Utils.getPort(one.strip()) == null) {
                err.println("✗ \"" + one.strip() + "\" is not HOST:PORT, e.g. 192.168.1.20:9092.");
                return 2;
            }
        }
        if (password != null && commandConfig != null) {
            err.println("✗ Give --password or --command-config, not both.");
            return 2;
        }
        String chosen = name != null ? GradeEvent.cut(name) : Learner.load(root).map(Learner::name).orElse("");
        if (chosen.isBlank()) {
            err.println("✗ Say who you are on the room's dashboard: ./jbang join " + address + " --name Ada");
            return 2;
        }
        Properties login;
        try {
            // the address is the one on the command line: loadClientConfig drops a file's bootstrap.servers
            login = password != null ? Room.clientConfig(Room.LEARNER, password) : Workshop.loadClientConfig(commandConfig);
        } catch (Workshop.WorkshopException e) {
            err.println("✗ " + e.getMessage() + ". Nothing was saved.");
            return 2;
        }

        // Stage 1: check the room.
        Optional<String> problem = check(address, login, password != null || commandConfig != null);
        if (problem.isPresent()) {
            err.println("✗ " + problem.get() + " Nothing was saved.");
            return 1;
        }

        // Stage 2: save.
        Properties saved = new Properties();
        saved.putAll(login);
        saved.setProperty(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, address);
        Learner learner;
        try {
            Room.writeClientConfig(RoomSettings.joinFile(root), saved,
                    "The room this checkout sends its grades to (./jbang join). ./jbang join --leave deletes this file.");
            learner = Learner.saveName(root, chosen);
        } catch (java.io.UncheckedIOException e) {
            try {
                Files.deleteIfExists(RoomSettings.joinFile(root)); // half a join is none
            } catch (IOException ignored) {
                // it could not be written either
            }
            err.println("✗ Cannot save the room in " + root.resolve("build") + ": " + e.getCause().getMessage() + ". Nothing was saved.");
            return 1;
        }
        out.println("✓ Joined the room at " + address + " as " + learner.name() + ". From now on each ./jbang grade also sends"
                + " its result (never your code) to the room's dashboard. ./jbang join --leave stops that.");
        return 0;
    }

    private int leave(Path root) {
        try {
            if (Files.deleteIfExists(RoomSettings.joinFile(root))) {
                out.println("✓ Left the room: your grades are no longer sent to it. (Your name is kept for the next ./jbang join.)");
            } else {
                out.println("· Not in a room: nothing to leave.");
            }
            return 0;
        } catch (IOException e) {
            err.println("✗ Cannot delete " + RoomSettings.joinFile(root) + ": " + e.getMessage());
            return 1;
        }
    }

    /**
     * What keeps the room at {@code address} from taking this checkout's grades, in one sentence
     * for the learner; empty when it answers, accepts {@code login} and has (or now has) the
     * progress topic. Returns within about {@link #CHECK_BOUND}.
     */
    static Optional<String> check(String address, Properties login, boolean loggingIn) {
        long deadline = System.nanoTime() + CHECK_BOUND.toNanos();
        if (!RoomPublisher.answers(address, CHECK_BOUND)) {
            return Optional.of("No room broker answered at " + address + " within " + CHECK_BOUND.toSeconds()
                    + " s: is the address right, and are you on the room's network?");
        }
        Properties config = new Properties();
        // How to log in: the learners' password, a --command-config file, or nothing for a plain broker.
        config.putAll(login);
        // The room's broker.
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, address);
        // Every call ends within the join's bound, not after the 60 s default.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) CHECK_BOUND.toMillis());
        // One unanswered request leaves time for a retry within that bound.
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) CHECK_BOUND.toMillis() / 2);
        // A silent address fails its connection in 2 s and is tried again, not after 10 s.
        config.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG, 2000);
        // ... and no later attempt waits longer than 3 s.
        config.put(AdminClientConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG, 3000);
        // Named in the broker's logs: the kit's join, not some other client.
        config.put(AdminClientConfig.CLIENT_ID_CONFIG, "workshop-join");
        Admin admin;
        try {
            admin = Admin.create(config);
        } catch (KafkaException e) {
            return Optional.of("The login settings are not valid: " + firstLine(e) + ".");
        }
        try {
            admin.describeCluster().clusterId().get(left(deadline), TimeUnit.NANOSECONDS);
            try {
                admin.describeTopics(List.of(Room.PROGRESS_TOPIC)).allTopicNames().get(left(deadline), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
                createProgressTopic(admin, deadline);
            }
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("Interrupted while checking the room at " + address + ".");
        } catch (ExecutionException | TimeoutException | KafkaException e) {
            return Optional.of(problem(address, e, loggingIn));
        } finally {
            admin.close(Duration.ofSeconds(1)); // bounded: pending calls to a silent room are dropped, not awaited
        }
    }

    /** The first join to a fresh room makes its progress topic, with the broker's defaults. */
    private static void createProgressTopic(Admin admin, long deadline) throws ExecutionException, InterruptedException, TimeoutException {
        try {
            admin.createTopics(List.of(new NewTopic(Room.PROGRESS_TOPIC, Optional.empty(), Optional.empty())))
                    .all().get(left(deadline), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) { // another learner made it first: as good
                throw e;
            }
        }
    }

    static String problem(String address, Throwable failure, boolean loggingIn) {
        for (Throwable cause : LearnerMessages.causes(failure)) {
            if (cause instanceof IllegalSaslStateException || cause instanceof UnsupportedSaslMechanismException) {
                return "The broker at " + address + " takes no login of this kind: join it without --password"
                        + " (or check your --command-config file).";
            }
            if (cause instanceof AuthenticationException) {
                return "The room at " + address + " refused the login: check the password your instructor gave you.";
            }
            if (cause instanceof AuthorizationException) {
                return "The room at " + address + " accepted the login but does not let it use the topic " + Room.PROGRESS_TOPIC
                        + ": ask your instructor.";
            }
            if (cause instanceof TimeoutException || cause instanceof org.apache.kafka.common.errors.TimeoutException) {
                return loggingIn
                        ? "Something answers at " + address + ", but no Kafka broker there let us in within " + CHECK_BOUND.toSeconds()
                        + " s: is it the port your instructor gave?"
                        : "Something answers at " + address + " but does not let us in: the room asks for a login."
                        + " Join with --password and the password your instructor gave you.";
            }
        }
        return "Cannot use the room at " + address + ": " + firstLine(failure) + ".";
    }

    private static String firstLine(Throwable failure) {
        List<Throwable> causes = LearnerMessages.causes(failure);
        Throwable deepest = causes.get(causes.size() - 1);
        return deepest.getMessage() == null ? deepest.getClass().getSimpleName() : deepest.getMessage().lines().findFirst().orElse("").strip();
    }

    private static long left(long deadline) {
        return Math.max(0, deadline - System.nanoTime());
    }
}
