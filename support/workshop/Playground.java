package workshop;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import jdk.jshell.tool.JavaShellToolBuilder;

/**
 * {@code ./jbang playground}: JShell with an {@code admin}, a {@code producer} and a
 * {@code consumer} connected to the broker the labs would use.
 *
 * JShell runs inside this JVM (local execution, as {@code jbang --interactive} runs it), so its
 * snippets see the very clients made here: the startup only binds variables to them. That is
 * also why {@code /reset} keeps the same clients, and why closing them (and stopping a throwaway
 * broker) on {@code /exit} is done here, not left to the learner.
 */
public final class Playground implements AutoCloseable {

    /** The snippets the learner can {@code /open}, one file each, beside the labs. */
    public static final String SNIPPETS_FOLDER = "playground";

    /**
     * What every JShell session of the playground runs first, after JShell's own default imports
     * (which bring java.util.function.Consumer: the single-type import makes Consumer Kafka's).
     */
    public static final String STARTUP = """
            import java.time.Duration;
            import org.apache.kafka.clients.admin.*;
            import org.apache.kafka.clients.consumer.*;
            import org.apache.kafka.clients.consumer.Consumer;
            import org.apache.kafka.clients.producer.*;
            import org.apache.kafka.common.TopicPartition;
            import org.apache.kafka.common.utils.Utils;
            Admin admin = workshop.Playground.session().admin();
            Producer<String, String> producer = workshop.Playground.session().producer();
            Consumer<String, String> consumer = workshop.Playground.session().consumer();
            String bootstrapServers = workshop.Playground.session().bootstrapServers();
            String topic(String name, int partitions) { return workshop.Playground.session().topic(name, partitions); }
            """;

    private static volatile Playground session;

    private final Cluster cluster;
    private final Admin admin;
    private final Producer<String, String> producer;
    private final Consumer<String, String> consumer;

    private Playground(Cluster cluster) {
        this.cluster = cluster;
        this.admin = Admin.create(adminConfig(cluster));
        this.producer = new KafkaProducer<>(producerConfig(cluster));
        this.consumer = new KafkaConsumer<>(consumerConfig(cluster));
    }

    /**
     * Finds the broker the way a lab does ({@code --bootstrap-server}, {@code KAFKA_BOOTSTRAP_SERVERS},
     * localhost:9092, else a throwaway one, saying which) and makes the session's clients.
     */
    public static Playground connect(String[] args) {
        return open(Workshop.connect(args));
    }

    /** A session on a cluster found elsewhere (a test's own broker); closing it closes the cluster. */
    public static Playground open(Cluster cluster) {
        if (session != null) {
            throw new IllegalStateException("A playground session is already open in this JVM");
        }
        try {
            session = new Playground(cluster);
        } catch (RuntimeException e) {
            cluster.close(); // a throwaway broker must not outlive a session that never opened
            throw e;
        }
        return session;
    }

    /** The open session: what the startup's {@code admin}, {@code producer} and {@code consumer} are bound to. */
    public static Playground session() {
        Playground open = session;
        if (open == null) {
            throw new IllegalStateException("No playground session is open: start one with ./jbang playground");
        }
        return open;
    }

    public Admin admin() {
        return admin;
    }

    public Producer<String, String> producer() {
        return producer;
    }

    public Consumer<String, String> consumer() {
        return consumer;
    }

    public String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    /** Creates the topic unless it exists, so a snippet can run twice; returns its name. */
    public String topic(String name, int partitions) {
        try {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new Workshop.WorkshopException("Could not create topic " + name + ": " + e.getCause().getMessage());
            }
        } catch (Exception e) {
            throw new Workshop.WorkshopException("Could not create topic " + name + ": " + e);
        }
        return name;
    }

    /**
     * Prints the banner and runs JShell on these streams until {@code /exit} or end of input;
     * returns JShell's exit code. {@code persistence} is where JShell keeps its history and
     * settings: null for the user's own, as the {@code jshell} command does.
     */
    public int shell(InputStream in, PrintStream out, PrintStream err, boolean terminal, Map<String, String> persistence)
            throws Exception {
        Path startup = Files.createTempFile("playground-startup-", ".jsh");
        try {
            Files.writeString(startup, STARTUP);
            out.print(banner(Path.of("").toAbsolutePath()));
            out.flush();
            JavaShellToolBuilder jshell = JavaShellToolBuilder.builder()
                    .in(in, null)
                    .out(out)
                    .err(err)
                    .interactiveTerminal(terminal);
            if (persistence != null) {
                jshell.persistence(persistence);
            }
            return jshell.start(
                    // In this JVM: the snippets share this class, hence the session's clients.
                    "--execution=local",
                    // The compiler of the snippets needs Kafka's classes and the kit's, like this JVM.
                    "--class-path=" + System.getProperty("java.class.path"),
                    "--startup=DEFAULT",
                    "--startup=" + startup);
        } finally {
            Files.deleteIfExists(startup);
        }
    }

    /** What is there, and which snippets to try, with paths that {@code /open} resolves from {@code cwd}. */
    String banner(Path cwd) {
        StringBuilder text = new StringBuilder();
        text.append("Kafka playground: JShell with Kafka's clients on ").append(bootstrapServers()).append('\n');
        text.append("  admin      Admin                     topics, partitions, consumer groups, offsets\n");
        text.append("  producer   Producer<String, String>  send records\n");
        text.append("  consumer   Consumer<String, String>  read them (group ").append(consumer.groupMetadata().groupId())
                .append(", nothing committed unless you commit)\n");
        text.append("  topic(\"name\", partitions)           creates a topic unless it exists, returns its name\n");
        List<Path> snippets = snippets();
        if (!snippets.isEmpty()) {
            text.append("Snippets to try (type the line, Enter; each is a short commented file):\n");
            int width = snippets.stream().mapToInt(s -> shown(s, cwd).length()).max().orElse(0);
            for (Path snippet : snippets) {
                text.append(String.format("  /open %-" + width + "s  %s%n", shown(snippet, cwd), title(snippet)));
            }
        }
        text.append("Tab completes, /vars lists your variables, /exit closes the clients (and a broker this session started).\n");
        return text.toString();
    }

    /** The snippet files, in name order; none when run outside the workshop folder. */
    public static List<Path> snippets() {
        Path folder;
        try {
            folder = Workshop.workshopFolder().resolve(SNIPPETS_FOLDER);
        } catch (Workshop.WorkshopException e) {
            return List.of();
        }
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(folder)) {
            return files.filter(f -> f.toString().endsWith(".jsh")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String shown(Path snippet, Path cwd) {
        Path absolute = snippet.toAbsolutePath().normalize();
        return absolute.startsWith(cwd) ? cwd.relativize(absolute).toString().replace('\\', '/') : absolute.toString();
    }

    /** A snippet's first comment line says what it shows. */
    public static String title(Path snippet) {
        try (Stream<String> lines = Files.lines(snippet)) {
            return lines.filter(l -> l.startsWith("//")).findFirst().map(l -> l.substring(2).strip()).orElse("");
        } catch (IOException e) {
            return "";
        }
    }

    /** Closes the clients, each within a bound (a broker gone must not hold the terminal), then the cluster. */
    @Override
    public void close() {
        session = null;
        Duration bound = Duration.ofSeconds(5);
        closeQuietly("consumer", () -> consumer.close(CloseOptions.timeout(bound)));
        closeQuietly("producer", () -> producer.close(bound));
        closeQuietly("admin", () -> admin.close(bound));
        closeQuietly("broker", cluster::close);
    }

    private static void closeQuietly(String what, Runnable close) {
        try {
            close.run();
        } catch (RuntimeException e) {
            System.err.println("The playground's " + what + " did not close cleanly: " + e.getMessage());
        }
    }

    private static Properties adminConfig(Cluster cluster) {
        Properties config = cluster.clientConfig();
        // A call to a broker that went away fails in 15 s, not after the 60 s default.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        return config;
    }

    private static Properties producerConfig(Cluster cluster) {
        Properties config = cluster.clientConfig();
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        // send() waits at most 10 s for metadata (a topic that does not exist yet), not 60 s.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
        // A record the broker never acknowledges fails its callback in 30 s, not 2 minutes.
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        return config;
    }

    private static Properties consumerConfig(Cluster cluster) {
        Properties config = cluster.clientConfig();
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        // A group of its own, so subscribe() works and two learners on one broker do not share partitions.
        config.put(ConsumerConfig.GROUP_ID_CONFIG, "playground-" + ProcessHandle.current().pid());
        // Commits are the learner's to make: poll() alone moves nothing on the broker.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // A new subscription starts at the first record, so what was just sent is seen.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // A call to a broker that went away fails in 15 s, not after the 60 s default.
        config.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 15_000);
        return config;
    }
}
