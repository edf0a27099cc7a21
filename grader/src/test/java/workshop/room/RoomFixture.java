package workshop.room;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import picocli.CommandLine;
import workshop.EmbeddedKafka;
import workshop.Room;

/**
 * A room for the dashboard's tests: a real room broker (SASL/PLAIN), learners who publish grades
 * with the learner's login, and dashboards started the way {@code ./jbang dashboard} starts them,
 * with the instructor's login.
 */
final class RoomFixture implements AutoCloseable {

    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    final Room.Secrets secrets = Room.Secrets.random();
    final EmbeddedKafka broker;
    final Path instructorConfig;
    private final KafkaProducer<String, String> learners;
    private final List<Dashboard.Running> dashboards = new ArrayList<>();

    RoomFixture(Path folder) {
        broker = EmbeddedKafka.startTemporaryRoom(secrets);
        // what ./jbang broker --room writes for the instructor: the login and the broker's address
        Properties instructor = Room.clientConfig(Room.INSTRUCTOR, secrets.instructorPassword());
        instructor.setProperty("bootstrap.servers", broker.bootstrapServers());
        instructorConfig = folder.resolve("instructor.properties");
        Room.writeClientConfig(instructorConfig, instructor, "the room's instructor, for the dashboard's tests");

        Properties config = Room.clientConfig(Room.LEARNER, secrets.learnerPassword());
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 20_000);
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        learners = new KafkaProducer<>(config);
    }

    /** A learner id no other test uses. */
    static String learnerId() {
        return UUID.randomUUID().toString();
    }

    static GradeEvent grade(String learnerId, String name, String lab, int passed, int total, String stuckOn) {
        return new GradeEvent(learnerId, name, lab, passed, total, stuckOn, Instant.now().toString(), "test");
    }

    /** Publishes {@code event} as a learner's grading run does: key = learner id, value = its JSON. */
    void publish(GradeEvent event) {
        publish(event.learnerId(), event.toJson());
    }

    void publish(String key, String value) {
        try {
            learners.send(new ProducerRecord<>(Room.PROGRESS_TOPIC, key, value)).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("could not publish to " + Room.PROGRESS_TOPIC + ": " + e, e);
        }
    }

    /** A dashboard started from command-line options, as the verb starts it; its one line goes to {@code out}. */
    Dashboard.Running dashboard(ByteArrayOutputStream out, String... args) {
        Dashboard command = new Dashboard();
        new CommandLine(command).parseArgs(args);
        Dashboard.Running running = command.open(new PrintStream(out, true, StandardCharsets.UTF_8));
        dashboards.add(running);
        return running;
    }

    /** A dashboard on a free port, reading this room with the instructor's login. */
    Dashboard.Running dashboard(ByteArrayOutputStream out) {
        return dashboard(out, "--bootstrap-server", broker.bootstrapServers(), "--command-config", instructorConfig.toString(), "--port", "0");
    }

    Dashboard.Running dashboard() {
        return dashboard(new ByteArrayOutputStream());
    }

    static HttpResponse<String> get(Dashboard.Running dashboard, String path) throws Exception {
        return send(dashboard, path, "GET");
    }

    static HttpResponse<String> send(Dashboard.Running dashboard, String path, String method) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(dashboard.localUrl().resolve(path))
                .timeout(Duration.ofSeconds(10))
                .method(method, method.equals("POST") || method.equals("PUT") ? HttpRequest.BodyPublishers.ofString("{}") : HttpRequest.BodyPublishers.noBody())
                .build();
        return HTTP.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    /** The dashboard's {@code /data}. */
    static JsonNode data(Dashboard.Running dashboard) throws Exception {
        HttpResponse<String> response = get(dashboard, "/data");
        if (response.statusCode() != 200) {
            throw new AssertionError("/data answered " + response.statusCode() + ": " + response.body());
        }
        return JSON.readTree(response.body());
    }

    /** The learner's row in {@code data}, or a missing node. */
    static JsonNode learner(JsonNode data, String learnerId) {
        for (JsonNode learner : data.get("learners")) {
            if (learner.get("id").asText().equals(learnerId)) {
                return learner;
            }
        }
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }

    /** The status of a learner's cell for {@code lab} in {@code data}: "absent" when the learner has no row. */
    static String status(JsonNode data, String learnerId, String lab) {
        for (JsonNode cell : learner(data, learnerId).path("cells")) {
            if (cell.get("lab").asText().equals(lab)) {
                return cell.get("status").asText();
            }
        }
        return "absent";
    }

    static URI uri(Dashboard.Running dashboard, String path) {
        return dashboard.localUrl().resolve(path);
    }

    @Override
    public void close() {
        dashboards.forEach(Dashboard.Running::close);
        learners.close(Duration.ofSeconds(5));
        broker.close();
    }
}
