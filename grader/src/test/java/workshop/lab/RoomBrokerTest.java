package workshop.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import workshop.EmbeddedKafka;
import workshop.Room;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A lab against a room's broker, the secured cluster of the kit: with the right
 * {@code --command-config} it runs; with a wrong password, or with no login at all, it stops
 * within the 15 s a learner is promised, in one line that says what to fix and no stack trace.
 * Learners may write their grades to the room's progress topic, but only the instructor reads it.
 */
class RoomBrokerTest {

    static final Room.Secrets SECRETS = Room.Secrets.random();
    static EmbeddedKafka room;

    @TempDir
    static Path files;

    @BeforeAll
    static void startRoom() {
        room = EmbeddedKafka.startTemporaryRoom(SECRETS);
    }

    @AfterAll
    static void stopRoom() {
        if (room != null) {
            room.close();
        }
    }

    @Test
    void aLabWithTheLearnersLoginRuns() throws Exception {
        Path login = clientConfig("learner.properties", SECRETS.learnerPassword());
        Ran lab = run("--command-config", login.toString());
        assertThat(lab.exitCode()).as("the lab's exit code; it printed:%n%s", lab.output()).isZero();
        assertThat(lab.output()).contains("Using the Kafka broker at " + room.bootstrapServers(), "done sending");
    }

    @Test
    void aWrongPasswordStopsTheLabInOneLineWithinFifteenSeconds() throws Exception {
        Path login = clientConfig("wrong.properties", "not-the-password");
        Ran lab = run("--command-config", login.toString());
        assertThat(lab.exitCode()).as("the lab's exit code; it printed:%n%s", lab.output()).isNotZero();
        assertThat(lab.output().strip().lines()).as("the lab's output").hasSize(1).first().asString()
                .startsWith("✗ The Kafka broker at " + room.bootstrapServers() + " refused the login")
                .contains("--command-config");
        assertThat(lab.seconds()).as("seconds until the lab stopped").isLessThan(15.0 + JVM_START_SECONDS);
    }

    @Test
    void aLabWithNoLoginIsToldTheBrokerWantsOne() throws Exception {
        Ran lab = run();
        assertThat(lab.exitCode()).as("the lab's exit code; it printed:%n%s", lab.output()).isNotZero();
        assertThat(lab.output().strip().lines()).as("the lab's output").hasSize(1).first().asString()
                .startsWith("✗ Something at " + room.bootstrapServers() + " accepts connections but did not answer as a Kafka broker")
                .contains("--command-config");
        assertThat(lab.seconds()).as("seconds until the lab stopped").isLessThan(15.0 + 3 + JVM_START_SECONDS);
    }

    @Test
    void learnersWriteTheProgressTopicButOnlyTheInstructorReadsIt() throws Exception {
        String marker = "grade-" + System.nanoTime();
        try (Producer<String, String> learner = new KafkaProducer<>(client(Room.LEARNER, SECRETS.learnerPassword()),
                new StringSerializer(), new StringSerializer())) {
            learner.send(new ProducerRecord<>(Room.PROGRESS_TOPIC, "learner-1", marker)).get(30, TimeUnit.SECONDS);
        }
        TopicPartition progress = new TopicPartition(Room.PROGRESS_TOPIC, 0);
        try (Consumer<String, String> learner = new KafkaConsumer<>(client(Room.LEARNER, SECRETS.learnerPassword()),
                new StringDeserializer(), new StringDeserializer())) {
            learner.assign(List.of(progress));
            learner.seekToBeginning(List.of(progress));
            assertThatThrownBy(() -> learner.poll(Duration.ofSeconds(15)))
                    .as("a learner reading everyone's grades").isInstanceOf(TopicAuthorizationException.class);
        }
        try (Consumer<String, String> instructor = new KafkaConsumer<>(client(Room.INSTRUCTOR, SECRETS.instructorPassword()),
                new StringDeserializer(), new StringDeserializer())) {
            instructor.assign(List.of(progress));
            instructor.seekToBeginning(List.of(progress));
            List<String> read = new ArrayList<>();
            await("the instructor reads the learner's grade").atMost(Duration.ofSeconds(30))
                    .until(() -> {
                        instructor.poll(Duration.ofMillis(200)).forEach(r -> read.add(r.value()));
                        return read.contains(marker);
                    });
        }
    }

    private static Properties client(String user, String password) {
        Properties config = Room.clientConfig(user, password);
        config.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, room.bootstrapServers());
        // Bounded, so a broker that never answers fails this test instead of hanging it.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
        return config;
    }

    /** A JVM's start and the lab's compile-free launch, on a loaded two-core machine. */
    static final double JVM_START_SECONDS = 10;

    record Ran(int exitCode, String output, double seconds) {
    }

    private static Ran run(String... args) throws IOException, InterruptedException {
        Path console = Files.createTempFile(files, "lab-", ".txt");
        List<String> command = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()),
                "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dsteady.mode=brief", "-Dsteady.seconds=2",
                "-cp", System.getProperty("java.class.path"), SteadyLab.class.getName(),
                "--bootstrap-server", room.bootstrapServers()));
        command.addAll(List.of(args));
        long start = System.nanoTime();
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(console.toFile()).start();
        try {
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("the lab ended within 60 s").isTrue();
        } finally {
            process.destroyForcibly();
        }
        return new Ran(process.exitValue(), read(console), (System.nanoTime() - start) / 1e9);
    }

    private static Path clientConfig(String name, String password) {
        Path file = files.resolve(name);
        Properties login = Room.clientConfig(Room.LEARNER, password);
        Room.writeClientConfig(file, login, "a learner's login");
        return file;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
