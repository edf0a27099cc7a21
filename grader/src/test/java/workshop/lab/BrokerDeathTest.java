package workshop.lab;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import workshop.KafkaCluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A broker killed under a running lab: within 15 s the lab says once that the broker at its
 * address stopped answering and what to do, prints no stack trace, and exits non-zero. A broker
 * that is still there behind one of several addresses is no reason to stop.
 *
 * <p>The broker runs in a JVM of its own (a one-broker {@link KafkaCluster}) so that it can die
 * as {@code kill -9} kills; the labs ({@link SteadyLab}) run in JVMs of their own too, since the
 * runtime ends its JVM when the broker is gone.
 */
class BrokerDeathTest {

    /** What the learner is promised: the message within this long after the broker died. */
    static final Duration PROMISED = Duration.ofSeconds(15);

    static KafkaCluster broker;

    @TempDir
    static Path outputs;

    @BeforeAll
    static void startBroker() {
        broker = KafkaCluster.startTemporary(1, port -> port, Duration.ofSeconds(90));
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void aKilledBrokerIsReportedOnceWithinFifteenSecondsAndTheLabExitsNonZero() throws Exception {
        String address = broker.nodes().get(0).clientAddress();
        // A dead first address proves the watch asks every one before it calls a broker gone.
        String oneDeadOneAlive = "127.0.0.1:" + unusedPort() + "," + address;
        List<Lab> labs = new ArrayList<>();
        try {
            Lab brief = Lab.start("brief", oneDeadOneAlive, "-Dsteady.seconds=7");
            Lab patient = Lab.start("patient", address);
            Lab hasty = Lab.start("hasty", address);
            labs.addAll(List.of(brief, patient, hasty));

            try {
                await("the three labs' first readings sent").atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(200))
                        .until(() -> labs.stream().allMatch(lab -> lab.output().contains("sent the first reading")));
            } catch (ConditionTimeoutException e) {
                throw new AssertionError("The labs did not all send within 60 s, with the broker up:\n"
                        + labs.stream().map(lab -> lab.mode + ":\n" + lab.output()).collect(Collectors.joining("\n")), e);
            }
            assertThat(brief.process.waitFor(30, TimeUnit.SECONDS)).as("the brief lab ended within its bound").isTrue();
            assertThat(brief.process.exitValue()).as("the brief lab, one of its two addresses dead all along:%n%s", brief.output())
                    .isZero();
            assertThat(brief.output()).contains("done sending").doesNotContain("stopped answering");

            broker.kill(1); // destroyForcibly: SIGKILL, as kill -9
            long killed = System.nanoTime();
            for (Lab lab : List.of(patient, hasty)) {
                boolean ended = lab.process.waitFor(PROMISED.toNanos() - (System.nanoTime() - killed), TimeUnit.NANOSECONDS);
                String output = lab.output();
                assertThat(ended).as("the %s lab ended within %d s of the broker's death; it printed:%n%s",
                        lab.mode, PROMISED.toSeconds(), output).isTrue();
                assertThat(lab.process.exitValue()).as("the %s lab's exit code", lab.mode).isNotZero();
                assertThat(count(output, "stopped answering")).as("the %s lab says the broker is gone once:%n%s", lab.mode, output)
                        .isEqualTo(1);
                assertThat(output).as("the %s lab's output", lab.mode)
                        .contains("The Kafka broker at " + address + " stopped answering")
                        .contains("check --bootstrap-server")
                        .doesNotContain("\tat ", "Exception in thread", "The lab failed", "Exception:");
                // where the lab waited (on a send's future, or inside send() itself when the watch
                // looked in between), or, when an exception brought the news, what gave up
                assertThat(output).as("the %s lab's output", lab.mode).containsPattern(lab == patient
                        ? "It was in (KafkaProducer\\.send\\(\\), called from )?main \\(SteadyLab\\.java line \\d+\\)"
                        : "Its last call gave up: ");
            }
        } finally {
            labs.forEach(lab -> lab.process.destroyForcibly());
        }
    }

    /** One SteadyLab in a JVM of its own, its console in a file. */
    record Lab(String mode, Process process, Path console) {

        static Lab start(String mode, String bootstrap, String... properties) throws IOException {
            Path console = outputs.resolve(mode + ".txt");
            List<String> command = new ArrayList<>(List.of(
                    ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()),
                    "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dsteady.mode=" + mode));
            command.addAll(List.of(properties));
            command.addAll(List.of("-cp", System.getProperty("java.class.path"), SteadyLab.class.getName(),
                    "--bootstrap-server", bootstrap));
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(console.toFile()).start();
            return new Lab(mode, process, console);
        }

        String output() {
            try {
                return Files.readString(console, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static int count(String text, String part) {
        Matcher matcher = Pattern.compile(Pattern.quote(part)).matcher(text);
        int found = 0;
        while (matcher.find()) {
            found++;
        }
        return found;
    }

    private static int unusedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }
}
