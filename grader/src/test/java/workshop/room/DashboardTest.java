package workshop.room;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;
import static workshop.room.RoomFixture.data;
import static workshop.room.RoomFixture.get;
import static workshop.room.RoomFixture.grade;
import static workshop.room.RoomFixture.learner;
import static workshop.room.RoomFixture.learnerId;
import static workshop.room.RoomFixture.send;
import static workshop.room.RoomFixture.status;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.InetAddress;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import workshop.EmbeddedKafka;
import workshop.Room;
import workshop.Workshop;

/**
 * The dashboard on a real room broker (SASL/PLAIN): learners publish grades with their login, the
 * dashboard reads them with the instructor's and serves them. One broker for the class; each test
 * has learners of its own, and reads the shared topic from its beginning as every dashboard does.
 */
class DashboardTest {

    static final Duration SHOWN_WITHIN = Duration.ofSeconds(30);

    @TempDir
    static Path folder;
    static RoomFixture room;

    @BeforeAll
    static void startTheRoom() {
        room = new RoomFixture(folder);
    }

    @AfterAll
    static void stopTheRoom() {
        if (room != null) {
            room.close();
        }
    }

    /**
     * On a plain broker, as {@code ./jbang broker} in a room without a network, the progress topic
     * appears with the first grade: until then the dashboard waits and says so.
     */
    @Test
    void beforeTheFirstGradeItWaitsThenShowsTheTopicOnceItExists() throws Exception {
        try (EmbeddedKafka plain = EmbeddedKafka.startTemporary()) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Dashboard.Running dashboard = room.dashboard(out, "--bootstrap-server", plain.bootstrapServers(), "--port", "0");
            assertThat(out.toString(StandardCharsets.UTF_8)).as("the start line")
                    .startsWith("✓ Dashboard on http://127.0.0.1:" + dashboard.port() + "/ — reading workshop-progress at " + plain.bootstrapServers())
                    .contains("(no grades yet)").contains("Ctrl+C stops it.");
            JsonNode empty = data(dashboard);
            assertThat(empty.get("waiting").asBoolean()).as("waiting for the first grade: %s", empty).isTrue();
            assertThat(empty.get("topicFound").asBoolean()).as("the topic exists: %s", empty).isFalse();
            assertThat(empty.get("labs")).extracting(lab -> lab.get("id").asText()).startsWith("00", "01", "02").contains("15");

            // a room's topic may have several partitions: the dashboard reads every one of them
            Properties config = new Properties();
            config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, plain.bootstrapServers());
            try (Admin client = Admin.create(config)) {
                client.createTopics(List.of(new NewTopic(Room.PROGRESS_TOPIC, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
            }
            Properties producerConfig = new Properties();
            producerConfig.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, plain.bootstrapServers());
            List<String> ids = new ArrayList<>();
            try (Producer<String, String> learners = new KafkaProducer<>(producerConfig, new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 6; i++) { // six keys: some land on each of the three partitions
                    String id = learnerId();
                    ids.add(id);
                    learners.send(new ProducerRecord<>(Room.PROGRESS_TOPIC, id, grade(id, "First " + i, "00", 3, 3, null).toJson()))
                            .get(30, TimeUnit.SECONDS);
                }
            }
            await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
                JsonNode data = data(dashboard);
                assertThat(data.get("waiting").asBoolean()).as("still waiting: %s", data).isFalse();
                for (String id : ids) {
                    assertThat(status(data, id, "00")).as("learner %s, lab 00", id).isEqualTo(DashboardState.PASSED);
                }
            });
            dashboard.close();
        }
    }

    @Test
    void eachCellShowsTheLearnersLatestGradeOfThatLab() throws Exception {
        Dashboard.Running dashboard = room.dashboard();
        String ada = learnerId();
        String bob = learnerId();
        room.publish(grade(ada, "Ada", "02", 0, 3, "the callback sees every failure"));
        room.publish(grade(ada, "Ada", "02", 2, 3, "the dead letter topic gets the failed record"));
        room.publish(grade(ada, "Ada", "03", 4, 4, null));
        room.publish(grade(bob, "Bob", "02", 3, 3, null));
        room.publish(grade(bob, "Robert", "02", 0, 0, GradeEvent.COMPILE_ERROR)); // renamed, then broke it

        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            JsonNode data = data(dashboard);
            assertThat(status(data, ada, "02")).as("Ada, lab 02: 2 of 3 last").isEqualTo(DashboardState.PARTLY);
            assertThat(status(data, ada, "03")).as("Ada, lab 03").isEqualTo(DashboardState.PASSED);
            assertThat(status(data, ada, "04")).as("Ada, lab 04").isEqualTo(DashboardState.NOT_STARTED);
            assertThat(status(data, bob, "02")).as("Bob, lab 02: does not compile last").isEqualTo(DashboardState.FAILED);
            assertThat(learner(data, bob).get("name").asText()).as("Bob's latest name").isEqualTo("Robert");
        });
        JsonNode adaRow = learner(data(dashboard), ada);
        JsonNode lab02 = adaRow.get("cells").get(2);
        assertThat(lab02.get("lab").asText()).isEqualTo("02");
        assertThat(lab02.get("passed").asInt()).isEqualTo(2);
        assertThat(lab02.get("total").asInt()).isEqualTo(3);
        assertThat(lab02.get("stuckOn").asText()).isEqualTo("the dead letter topic gets the failed record");
    }

    @Test
    void aMalformedRecordIsSkippedAndCountedAndTheDashboardKeepsGoing() throws Exception {
        Dashboard.Running dashboard = room.dashboard();
        String before = learnerId();
        room.publish(grade(before, "Before", "04", 1, 5, "the future completes"));
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(status(data(dashboard), before, "04")).isEqualTo(DashboardState.PARTLY));

        String liar = learnerId();
        room.publish(liar, "not json");
        room.publish(liar, grade(liar, "Liar", "04", 9, 3, "more passed than graded").toJson());
        String after = learnerId();
        room.publish(grade(after, "After", "04", 5, 5, null));

        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            JsonNode data = data(dashboard);
            assertThat(status(data, after, "04")).as("a grade published after the malformed ones").isEqualTo(DashboardState.PASSED);
            assertThat(data.get("malformedSkipped").asLong()).as("malformed records skipped").isEqualTo(2);
            assertThat(learner(data, liar).isMissingNode()).as("the malformed records' learner has no row").isTrue();
        });
        // and a new dashboard, reading it all from the start, skips them the same way
        Dashboard.Running fresh = room.dashboard();
        JsonNode data = data(fresh);
        assertThat(data.get("malformedSkipped").asLong()).isEqualTo(2);
        assertThat(status(data, after, "04")).isEqualTo(DashboardState.PASSED);
    }

    @Test
    void aRestartedDashboardRebuildsTheRoomFromTheTopic() throws Exception {
        Dashboard.Running first = room.dashboard();
        Map<String, String> people = Map.of(learnerId(), "Grace", learnerId(), "Linus", learnerId(), "Barbara");
        int n = 0;
        for (Map.Entry<String, String> person : people.entrySet()) {
            room.publish(grade(person.getKey(), person.getValue(), "06", n, 4, n == 4 ? null : "the producer blocks when the buffer is full"));
            room.publish(grade(person.getKey(), person.getValue(), "07", 4, 4, null));
            n += 2;
        }
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            JsonNode data = data(first);
            for (String id : people.keySet()) {
                assertThat(status(data, id, "07")).as("learner %s, lab 07", id).isEqualTo(DashboardState.PASSED);
            }
        });
        Map<String, JsonNode> before = rows(data(first), people.keySet());
        long eventsBefore = data(first).get("eventsRead").asLong();
        first.close();

        // started from the address and login in one file, as .kafka-room/instructor.properties has them
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Dashboard.Running second = room.dashboard(out, "--command-config", room.instructorConfig.toString(), "--port", "0");
        assertThat(out.toString(StandardCharsets.UTF_8)).as("the start line").contains("(" + eventsBefore + " grades so far)");
        // start returns once the grades that were there are read: no waiting needed
        JsonNode after = data(second);
        assertThat(rows(after, people.keySet())).as("the same learners with the same cells").isEqualTo(before);
        assertThat(after.get("eventsRead").asLong()).isEqualTo(eventsBefore);
    }

    private static Map<String, JsonNode> rows(JsonNode data, java.util.Set<String> ids) {
        Map<String, JsonNode> rows = new java.util.TreeMap<>();
        for (String id : ids) {
            rows.put(id, learner(data, id));
        }
        return rows;
    }

    @Test
    void theStuckOnListOfALabIsOrderedByHowManyAreStuck() throws Exception {
        Dashboard.Running dashboard = room.dashboard();
        String often = "the retriable error is retried";
        String sometimes = "a fatal error is not retried";
        String once = "close waits for the sends in flight";
        List<String> names = List.of("Ann", "Ben", "Cy", "Di", "Ed", "Flo", "Gus");
        List<GradeEvent> events = List.of(
                grade(learnerId(), names.get(0), "05", 1, 4, once),
                grade(learnerId(), names.get(1), "05", 0, 4, often),
                grade(learnerId(), names.get(2), "05", 2, 4, sometimes),
                grade(learnerId(), names.get(3), "05", 1, 4, often),
                grade(learnerId(), names.get(4), "05", 2, 4, sometimes),
                grade(learnerId(), names.get(5), "05", 0, 4, often));
        events.forEach(room::publish);
        String fixed = learnerId(); // stuck at first, then passed: no longer counted
        room.publish(grade(fixed, names.get(6), "05", 3, 4, once));
        room.publish(grade(fixed, names.get(6), "05", 4, 4, null));

        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            JsonNode data = data(dashboard);
            assertThat(status(data, fixed, "05")).isEqualTo(DashboardState.PASSED);
            JsonNode stuck = lab(data, "05").get("stuck");
            assertThat(stuck).extracting(s -> s.get("check").asText() + " × " + s.get("learners").asInt())
                    .as("lab 05's stuck-on list")
                    .containsExactly(often + " × 3", sometimes + " × 2", once + " × 1");
            assertThat(stuck.get(0).get("names")).extracting(JsonNode::asText).containsExactlyInAnyOrder("Ben", "Di", "Flo");
        });
    }

    private static JsonNode lab(JsonNode data, String id) {
        for (JsonNode lab : data.get("labs")) {
            if (lab.get("id").asText().equals(id)) {
                return lab;
            }
        }
        throw new AssertionError("no lab " + id + " in " + data);
    }

    @Test
    void theEventStreamSendsTheStateAgainWhenAGradeArrives() throws Exception {
        Dashboard.Running dashboard = room.dashboard();
        HttpResponse<InputStream> response = RoomFixture.HTTP.send(
                HttpRequest.newBuilder(RoomFixture.uri(dashboard, "/events")).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofInputStream());
        assertThat(response.statusCode()).isEqualTo(200);
        assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(type -> assertThat(type).startsWith("text/event-stream"));
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
                for (String line = lines.readLine(); line != null; line = lines.readLine()) {
                    if (line.startsWith("data: ")) {
                        events.add(line.substring("data: ".length()));
                    }
                }
            } catch (java.io.IOException e) {
                // the stream closed at the test's end
            }
        }, "events-reader");
        reader.setDaemon(true);
        reader.start();
        try {
            String first = events.poll(10, TimeUnit.SECONDS);
            assertThat(first).as("the state, sent as soon as the page connects").isNotNull();
            String newcomer = learnerId();
            assertThat(learner(RoomFixture.JSON.readTree(first), newcomer).isMissingNode()).isTrue();

            room.publish(grade(newcomer, "Newcomer", "08", 1, 2, "no record is lost when the leader fails"));
            long deadline = System.nanoTime() + SHOWN_WITHIN.toNanos();
            String seen = null;
            while (seen == null && System.nanoTime() < deadline) {
                String event = events.poll(Math.max(1, (deadline - System.nanoTime()) / 1_000_000), TimeUnit.MILLISECONDS);
                if (event != null && status(RoomFixture.JSON.readTree(event), newcomer, "08").equals(DashboardState.PARTLY)) {
                    seen = event;
                }
            }
            assertThat(seen).as("an event with the newcomer's grade within %s", SHOWN_WITHIN).isNotNull();
        } finally {
            response.body().close();
        }
    }

    @Test
    void itOnlyReadsAndSendsItsSecurityHeaders() throws Exception {
        Dashboard.Running dashboard = room.dashboard();
        for (String path : List.of("/", "/dashboard.js", "/dashboard.css", "/data")) {
            HttpResponse<String> response = get(dashboard, path);
            assertThat(response.statusCode()).as("GET %s", path).isEqualTo(200);
            assertThat(response.headers().firstValue("Content-Security-Policy")).as("GET %s's CSP", path).hasValue("default-src 'self'");
            assertThat(response.headers().firstValue("X-Content-Type-Options")).as("GET %s", path).hasValue("nosniff");
            assertThat(response.headers().firstValue("Cache-Control")).as("GET %s", path).hasValue("no-store");
            assertThat(response.body()).as("GET %s loads nothing from another host", path)
                    .doesNotContain("http://").doesNotContain("https://").doesNotContain("src=\"//").doesNotContain("innerHTML");
        }
        assertThat(get(dashboard, "/").headers().firstValue("Content-Type")).hasValue("text/html; charset=utf-8");
        assertThat(get(dashboard, "/dashboard.js").headers().firstValue("Content-Type")).hasValue("text/javascript; charset=utf-8");
        assertThat(get(dashboard, "/data").headers().firstValue("Content-Type")).hasValue("application/json; charset=utf-8");

        HttpResponse<String> post = send(dashboard, "/", "POST");
        assertThat(post.statusCode()).as("POST /").isEqualTo(405);
        assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");
        assertThat(post.headers().firstValue("Content-Security-Policy")).hasValue("default-src 'self'");
        assertThat(send(dashboard, "/data", "PUT").statusCode()).as("PUT /data").isEqualTo(405);
        assertThat(send(dashboard, "/events", "DELETE").statusCode()).as("DELETE /events").isEqualTo(405);

        HttpResponse<String> head = send(dashboard, "/", "HEAD");
        assertThat(head.statusCode()).as("HEAD /").isEqualTo(200);
        assertThat(head.body()).isEmpty();
        HttpResponse<String> unknown = get(dashboard, "/admin");
        assertThat(unknown.statusCode()).as("GET /admin").isEqualTo(404);
        assertThat(unknown.headers().firstValue("Content-Security-Policy")).hasValue("default-src 'self'");
    }

    @Test
    void aPortInUseIsOneLineAndExitCode2() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code = runVerb(err, "--bootstrap-server", room.broker.bootstrapServers(), "--command-config", room.instructorConfig.toString(),
                    "--port", String.valueOf(taken.getLocalPort()));
            assertThat(code).as("exit code").isEqualTo(2);
            assertThat(err.toString(StandardCharsets.UTF_8).strip()).as("what it says")
                    .isEqualTo("✗ Port " + taken.getLocalPort() + " on 127.0.0.1 is already in use (another dashboard?)."
                            + " Stop it, or pick another port with --port.");
        }
    }

    @Test
    void anUnreachableBrokerIsOneLineWithin20sAndExitCode1() throws Exception {
        int nobody;
        try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            nobody = free.getLocalPort();
        }
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        long start = System.nanoTime();
        int code = runVerb(err, "--bootstrap-server", "127.0.0.1:" + nobody, "--port", "0");
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(code).as("exit code").isEqualTo(1);
        assertThat(took).as("time to say so").isLessThan(Duration.ofSeconds(20));
        assertThat(err.toString(StandardCharsets.UTF_8).strip()).as("what it says: one line, no stack trace")
                .startsWith("✗ No Kafka broker answered at 127.0.0.1:" + nobody)
                .doesNotContain("\n").doesNotContain("Exception");
    }

    @Test
    void aBrokerThatRefusesTheLoginIsNotABrokerThatAnswers() {
        assertThatThrownBy(() -> Dashboard.start(room.broker.bootstrapServers(),
                Room.clientConfig(Room.INSTRUCTOR, "not-the-password"), "127.0.0.1", 0, List.of(), new PrintStream(new ByteArrayOutputStream())))
                .isInstanceOf(Workshop.WorkshopException.class)
                .hasMessage("The Kafka broker at " + room.broker.bootstrapServers() + " refused the login (Authentication failed: Invalid username or password):"
                        + " check the user and password in your client properties (--command-config).");
    }

    /** Runs the verb's command line (not its main: that exits the JVM) with its error stream captured. */
    private static int runVerb(ByteArrayOutputStream err, String... args) {
        PrintStream original = System.err;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            return new CommandLine(new Dashboard()).execute(args);
        } finally {
            System.setErr(original);
        }
    }
}
