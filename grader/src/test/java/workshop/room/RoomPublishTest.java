package workshop.room;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import workshop.EmbeddedKafka;
import workshop.Room;
import workshop.Workshop;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Grades reach a real room broker (SASL/PLAIN) with the learners' login, and only with it; a room
 * that refuses the login or is not there costs a grade seconds and one line, never the grade.
 */
class RoomPublishTest {

    private static final Room.Secrets SECRETS = Room.Secrets.random();
    private static EmbeddedKafka room;

    @TempDir
    Path home;

    private final ByteArrayOutputStream printed = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(printed, true, StandardCharsets.UTF_8);

    @BeforeAll
    static void startTheRoom() {
        Workshop.quietLogs(); // as grade and join do: a refused login is the publisher's one line, not also a log line
        room = EmbeddedKafka.startTemporaryRoom(SECRETS);
    }

    @AfterAll
    static void stopTheRoom() {
        if (room != null) {
            room.close();
        }
    }

    private static RoomSettings settings(Properties login) {
        return new RoomSettings(room.bootstrapServers(), login, "test");
    }

    private static Properties learnerLogin() {
        return Room.clientConfig(Room.LEARNER, SECRETS.learnerPassword());
    }

    private static GradeEvent event(String name, int passed, int total) {
        return new GradeEvent(UUID.randomUUID().toString(), name, "02", passed, total,
                passed == total ? null : "every failed reading lands in the DLQ", Instant.now().toString(), "1.0.0");
    }

    private String printed() {
        return printed.toString(StandardCharsets.UTF_8);
    }

    /** Publishes {@code event} as the learners, after the connection is made, and says what was printed. */
    private String publishAsLearner(GradeEvent event) {
        try (RoomPublisher publisher = new RoomPublisher(settings(learnerLogin()), out)) {
            assertThat(publisher.awaitConnectAttempt(Duration.ofSeconds(15))).as("the connection attempt ended").isTrue();
            publisher.publish(event);
        }
        return printed();
    }

    /** The events of {@code learnerId} on the progress topic, read as the instructor from the beginning. */
    private static List<GradeEvent> readAsInstructor(String learnerId) {
        Properties config = Room.clientConfig(Room.INSTRUCTOR, SECRETS.instructorPassword());
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, room.bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        List<GradeEvent> found = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = consumer.partitionsFor(Room.PROGRESS_TOPIC, Duration.ofSeconds(10)).stream()
                    .map(p -> new TopicPartition(p.topic(), p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            await("the event on " + Room.PROGRESS_TOPIC).atMost(Duration.ofSeconds(15)).pollDelay(Duration.ZERO).until(() -> {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    if (learnerId.equals(record.key())) {
                        found.add(GradeEvent.parse(record.value()));
                    }
                }
                return !found.isEmpty();
            });
        }
        return found;
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    @Test
    void aGradePublishedWithTheLearnersLoginIsReadBackByTheInstructor() {
        GradeEvent sent = event("Ada", 3, 7);

        String line = publishAsLearner(sent);

        assertThat(line).isEqualTo("↗ Sent to the room at " + room.bootstrapServers() + " as Ada (lab 02: 3/7 checks)." + System.lineSeparator());
        assertThat(readAsInstructor(sent.learnerId())).containsExactly(sent);
    }

    @Test
    void aWrongPasswordIsOneLineWithinSecondsAndNoException() {
        long start = System.nanoTime();
        try (RoomPublisher publisher = new RoomPublisher(settings(Room.clientConfig(Room.LEARNER, "not-the-password")), out)) {
            publisher.publish(event("Ada", 3, 7));
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("publish returned within").isLessThan(Duration.ofSeconds(4));
        }
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("publish and close took").isLessThan(Duration.ofSeconds(5));
        assertThat(printed()).startsWith("⚠ Not published to the room at " + room.bootstrapServers() + ": ")
                .contains("refused the login").endsWith("Your grade above stands." + System.lineSeparator()).hasLineCount(1);
    }

    @Test
    void aRoomThatIsNotThereIsOneLineWithinSecondsAndTheNextGradeDoesNotWaitAgain() throws IOException {
        String nowhere = "127.0.0.1:" + freePort();
        long start = System.nanoTime();
        try (RoomPublisher publisher = new RoomPublisher(new RoomSettings(nowhere, learnerLogin(), "test"), out)) {
            publisher.publish(event("Ada", 3, 7));
            assertThat(Duration.ofNanos(System.nanoTime() - start)).as("publish returned within").isLessThan(Duration.ofSeconds(3));
            assertThat(printed()).isEqualTo("⚠ Not published to the room at " + nowhere + ": nothing answers there. Your grade above stands."
                    + System.lineSeparator());

            long second = System.nanoTime();
            publisher.publish(event("Ada", 7, 7));
            assertThat(Duration.ofNanos(System.nanoTime() - second)).as("the second publish of the run").isLessThan(Duration.ofMillis(500));
        }
        assertThat(printed()).hasLineCount(2).contains("nothing answers there, as above");
    }

    @Test
    void withoutALoginNoClientCanWriteNorReadTheProgressTopic() {
        GradeEvent sent = event("Grace", 7, 7);
        publishAsLearner(sent); // so there is something to read
        Properties anonymous = new Properties();
        anonymous.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, room.bootstrapServers());

        Properties producerConfig = new Properties();
        producerConfig.putAll(anonymous);
        producerConfig.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerConfig.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        producerConfig.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 1500);
        producerConfig.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 2500);
        producerConfig.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 1500);
        String forged = event("Mallory", 7, 7).toJson();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerConfig)) {
            assertThatThrownBy(() -> producer.send(new ProducerRecord<>(Room.PROGRESS_TOPIC, "mallory", forged)).get(10, TimeUnit.SECONDS))
                    .as("a send without a login").hasStackTraceContaining("TimeoutException");
            producer.close(Duration.ZERO);
        }

        Properties consumerConfig = new Properties();
        consumerConfig.putAll(anonymous);
        consumerConfig.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerConfig.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        consumerConfig.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerConfig)) {
            assertThatThrownBy(() -> consumer.partitionsFor(Room.PROGRESS_TOPIC, Duration.ofMillis(1500)))
                    .as("metadata without a login").isInstanceOf(org.apache.kafka.common.errors.TimeoutException.class);
            TopicPartition partition = new TopicPartition(Room.PROGRESS_TOPIC, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            assertThat(consumer.poll(Duration.ofMillis(1500))).as("records read without a login").isEmpty();
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ZERO));
        }

        Properties adminConfig = new Properties();
        adminConfig.putAll(anonymous);
        adminConfig.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 1500);
        adminConfig.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 1500);
        Admin admin = Admin.create(adminConfig);
        try {
            assertThatThrownBy(() -> admin.describeTopics(List.of(Room.PROGRESS_TOPIC)).allTopicNames().get(10, TimeUnit.SECONDS))
                    .as("describing the topic without a login").hasStackTraceContaining("TimeoutException");
        } finally {
            admin.close(Duration.ZERO);
        }

        assertThat(readAsInstructor(sent.learnerId())).as("what the learner sent, for the instructor").containsExactly(sent);
    }

    @Test
    void thePublisherWithoutALoginSaysTheRoomDidNotAnswerAndDoesNotWaitForItToClose() {
        long start = System.nanoTime();
        try (RoomPublisher publisher = new RoomPublisher(settings(new Properties()), out)) {
            publisher.publish(event("Ada", 3, 7));
        }
        // The room accepts the connection and never answers this client: 2 s of publish, no wait to close.
        assertThat(Duration.ofNanos(System.nanoTime() - start)).as("publish and close took").isLessThan(Duration.ofSeconds(4));
        assertThat(printed()).startsWith("⚠ Not published").contains("no answer within 2 s").hasLineCount(1);
    }

    // ./jbang join, as a learner runs it: its own JVM, its own console, its own exit code.

    private record Run(int exitCode, String output) {
    }

    private Run join(String... args) throws Exception {
        if (!Files.exists(home.resolve("jbang-catalog.json"))) {
            Files.copy(workshop.grader.Project.root().resolve("jbang-catalog.json"), home.resolve("jbang-catalog.json"));
        }
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), Join.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().put("KAFKA_WORKSHOP_HOME", home.toString());
        Path console = Files.createTempFile(home, "join", ".txt");
        Process process = builder.redirectOutput(console.toFile()).start();
        try {
            assertThat(process.waitFor(40, TimeUnit.SECONDS)).as("join ended within 40 s").isTrue();
        } finally {
            process.destroyForcibly();
        }
        String output = Files.readString(console);
        Files.delete(console);
        assertThat(output).as("join's console").doesNotContain("\tat ").doesNotContain("Exception").doesNotContain("WARN");
        return new Run(process.exitValue(), output);
    }

    /** The same command in this JVM, for the cases that need no console of their own. */
    private Run joinHere(String... args) {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        PrintStream both = new PrintStream(console, true, StandardCharsets.UTF_8);
        int exitCode = new picocli.CommandLine(new Join(both, both, home)).execute(args);
        return new Run(exitCode, console.toString(StandardCharsets.UTF_8));
    }

    private Path joinFile() {
        return RoomSettings.joinFile(home);
    }

    @Test
    void joinWithAWrongPasswordSavesNothing() throws Exception {
        Run run = join(room.bootstrapServers(), "--name", "Ada", "--password", "not-the-password");

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.output()).isEqualTo("✗ The room at " + room.bootstrapServers() + " refused the login: check the password"
                + " your instructor gave you. Nothing was saved." + System.lineSeparator());
        assertThat(joinFile()).doesNotExist();
        assertThat(Learner.file(home)).doesNotExist();
    }

    @Test
    void joinWithoutAPasswordWhereTheRoomAsksForOneSavesNothing() throws Exception {
        Run run = join(room.bootstrapServers(), "--name", "Ada");

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.output()).contains("asks for a login").contains("--password").contains("Nothing was saved.").hasLineCount(1);
        assertThat(joinFile()).doesNotExist();
    }

    @Test
    void joinWithTheRightPasswordIsWhatTheNextGradeUses() throws Exception {
        Run run = join(room.bootstrapServers(), "--name", "  Ada  Lovelace ", "--password", SECRETS.learnerPassword());

        assertThat(run.exitCode()).as(run.output()).isZero();
        assertThat(run.output()).isEqualTo("✓ Joined the room at " + room.bootstrapServers() + " as Ada Lovelace. From now on each"
                + " ./jbang grade also sends its result (never your code) to the room's dashboard. ./jbang join --leave stops that."
                + System.lineSeparator());
        assertThat(joinFile()).isRegularFile();
        if (Files.getFileStore(joinFile()).supportsFileAttributeView("posix")) {
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(joinFile()))).isEqualTo("rw-------");
        }
        assertThat(Learner.load(home)).map(Learner::name).contains("Ada Lovelace");

        RoomSettings next = RoomSettings.resolve(home, null, null, Map.<String, String>of()::get, out).orElseThrow();
        assertThat(next.bootstrap()).isEqualTo(room.bootstrapServers());
        GradeEvent sent = event("Ada Lovelace", 7, 7);
        try (RoomPublisher publisher = new RoomPublisher(next, out)) {
            assertThat(publisher.awaitConnectAttempt(Duration.ofSeconds(15))).isTrue();
            publisher.publish(sent);
        }
        assertThat(printed()).isEqualTo("↗ Sent to the room at " + room.bootstrapServers() + " as Ada Lovelace (lab 02: 7/7 checks)."
                + System.lineSeparator());
    }

    @Test
    void aLaterJoinKeepsTheNameAndARenameKeepsTheLearner() {
        Run first = joinHere(room.bootstrapServers(), "--name", "Ada", "--password", SECRETS.learnerPassword());
        assertThat(first.exitCode()).as(first.output()).isZero();
        Learner ada = Learner.load(home).orElseThrow();

        Run again = joinHere(room.bootstrapServers(), "--password", SECRETS.learnerPassword());
        Run renamed = joinHere(room.bootstrapServers(), "--name", "Ada L.", "--password", SECRETS.learnerPassword());

        assertThat(again.exitCode()).as(again.output()).isZero();
        assertThat(again.output()).as("a later join without --name").contains(" as Ada.");
        assertThat(renamed.exitCode()).as(renamed.output()).isZero();
        assertThat(Learner.load(home)).as("renamed, the same learner").contains(new Learner(ada.id(), "Ada L."));
    }

    @Test
    void leavingDeletesTheRoomButKeepsTheName() throws Exception {
        Run joined = joinHere(room.bootstrapServers(), "--name", "Ada", "--password", SECRETS.learnerPassword());
        assertThat(joined.exitCode()).as(joined.output()).isZero();

        Run leave = joinHere("--leave");
        Run leaveAgain = joinHere("--leave");

        assertThat(leave.exitCode()).isZero();
        assertThat(leave.output()).startsWith("✓ Left the room").hasLineCount(1);
        assertThat(joinFile()).doesNotExist();
        assertThat(Learner.file(home)).as("the name is kept").isRegularFile();
        assertThat(leaveAgain.exitCode()).isZero();
        assertThat(leaveAgain.output()).startsWith("· Not in a room").hasLineCount(1);
        assertThat(RoomSettings.resolve(home, null, null, Map.<String, String>of()::get, out)).as("the next grade's room").isEmpty();
    }

    @Test
    void aJoinThatCannotBeSavedSaysSoInOneLine() throws Exception {
        Files.writeString(home.resolve("build"), "a file where the build folder should be");

        Run run = joinHere(room.bootstrapServers(), "--name", "Ada", "--password", SECRETS.learnerPassword());

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.output()).startsWith("✗ Cannot save the room in ").contains("Nothing was saved.").hasLineCount(1);
    }

    @Test
    void joinWhereNothingAnswersSavesNothing() throws Exception {
        String nowhere = "127.0.0.1:" + freePort();

        Run run = joinHere(nowhere, "--name", "Ada", "--password", SECRETS.learnerPassword());

        assertThat(run.exitCode()).isEqualTo(1);
        assertThat(run.output()).isEqualTo("✗ No room broker answered at " + nowhere + " within 10 s: is the address right,"
                + " and are you on the room's network? Nothing was saved." + System.lineSeparator());
        assertThat(joinFile()).doesNotExist();
    }

    @Test
    void theFirstJoinNeedsANameAndAnAddress() {
        Run noName = joinHere(room.bootstrapServers(), "--password", SECRETS.learnerPassword());
        Run noAddress = joinHere("--name", "Ada");
        Run badAddress = joinHere("room-without-port", "--name", "Ada");

        assertThat(noName.exitCode()).isEqualTo(2);
        assertThat(noName.output()).contains("--name").hasLineCount(1);
        assertThat(noAddress.exitCode()).isEqualTo(2);
        assertThat(noAddress.output()).contains("HOST:PORT").hasLineCount(1);
        assertThat(badAddress.exitCode()).isEqualTo(2);
        assertThat(badAddress.output()).contains("is not HOST:PORT").hasLineCount(1);
        assertThat(joinFile()).doesNotExist();
        assertThat(Learner.file(home)).doesNotExist();
    }
}
