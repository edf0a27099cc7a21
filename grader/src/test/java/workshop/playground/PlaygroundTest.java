package workshop.playground;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.Cluster;
import workshop.EmbeddedKafka;
import workshop.Playground;
import workshop.grader.Project;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every snippet in playground/ runs in the playground's own JShell session, on a real broker, and
 * prints what it claims to show.
 *
 * The session is the one {@code ./jbang playground} opens ({@link Playground#shell}: the same
 * startup, the same in-JVM JShell, the same clients), fed the snippets on its input. Going through
 * JBang as well would only add a compile of the script and a JVM start per run, and on a clean
 * clone JBang itself is first fetched with the Maven wrapper: slower, and nothing more proven.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class PlaygroundTest {

    private static final Path ROOT = Project.root();
    private static EmbeddedKafka broker;
    private static String transcript;

    @BeforeAll
    static void runEverySnippet() throws Exception {
        long start = System.nanoTime();
        broker = EmbeddedKafka.startTemporary();
        long brokerStarted = System.nanoTime();
        StringBuilder input = new StringBuilder();
        for (Path snippet : snippets()) {
            input.append("/open ").append(snippet.toAbsolutePath()).append('\n');
        }
        input.append("/exit\n");

        // Local execution: a snippet's System.out is this JVM's, so capture that too while it runs.
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(captured, true, StandardCharsets.UTF_8);
        PrintStream realOut = System.out;
        System.setOut(out);
        int exitCode;
        try (Playground playground = Playground.open(new Cluster(broker.bootstrapServers(), new Properties(), null))) {
            exitCode = playground.shell(new ByteArrayInputStream(input.toString().getBytes(StandardCharsets.UTF_8)),
                    out, out, false, new HashMap<>());
        } finally {
            System.setOut(realOut);
        }
        transcript = captured.toString(StandardCharsets.UTF_8);
        realOut.println(transcript);
        realOut.printf("Playground test: broker started in %.1f s, every snippet ran in %.1f s%n",
                (brokerStarted - start) / 1e9, (System.nanoTime() - brokerStarted) / 1e9);
        assertThat(exitCode).as("JShell's exit code").isZero();
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    private static List<Path> snippets() {
        List<Path> snippets = Playground.snippets();
        assertThat(snippets).extracting(p -> p.getFileName().toString())
                .contains("keys.jsh", "callback-thread.jsh", "seek.jsh");
        return snippets;
    }

    @Test
    void theStartupAndEverySnippetRunWithoutAnError() {
        assertThat(transcript).contains("Kafka playground: JShell with Kafka's clients on " + broker.bootstrapServers());
        assertThat(transcript).doesNotContain("Error:").doesNotContain("Exception in").doesNotContain("|  Exception")
                .doesNotContain("cannot find symbol");
    }

    @Test
    void theBannerNamesEverySnippetWithWhatItShows() {
        for (Path snippet : snippets()) {
            assertThat(transcript).containsPattern("  /open \\S*playground/" + Pattern.quote(snippet.getFileName().toString())
                    + " +" + Pattern.quote(Playground.title(snippet)) + "\\R");
        }
        assertThat(Playground.title(ROOT.resolve("playground/keys.jsh")))
                .isEqualTo("Send with and without a key, and see the partition each record lands on.");
    }

    @Test
    void aKeyedRecordLandsOnMurmur2OfItsKeyModuloThePartitions() {
        Matcher keyed = Pattern.compile("key (\\S+) +-> partition (\\d+) \\(murmur2 says (\\d+)\\)").matcher(transcript);
        int seen = 0;
        while (keyed.find()) {
            int expected = Utils.toPositive(Utils.murmur2(keyed.group(1).getBytes(StandardCharsets.UTF_8))) % 3;
            assertThat(Integer.parseInt(keyed.group(2))).as("partition of key %s", keyed.group(1)).isEqualTo(expected);
            assertThat(Integer.parseInt(keyed.group(3))).as("the snippet's own murmur2 of key %s", keyed.group(1)).isEqualTo(expected);
            seen++;
        }
        assertThat(seen).as("keyed sends printed").isEqualTo(4);
        assertThat(transcript).contains("no key        -> partition");
    }

    @Test
    void aCallbackRunsOnTheProducersIoThreadUnlessSendRefusesTheRecord() {
        assertThat(transcript).containsPattern("callback for key a runs on: kafka-producer-network-thread \\| producer-\\d+, acked at partition \\d, offset \\d+");
        Matcher caller = Pattern.compile("send\\(\\) for key big is called on: (\\S+)").matcher(transcript);
        assertThat(caller.find()).as("the snippet prints the thread that sends the big record").isTrue();
        assertThat(caller.group(1)).doesNotStartWith("kafka-producer-network-thread");
        assertThat(transcript).contains("callback for key big runs on: " + caller.group(1) + ", failed: RecordTooLargeException");
    }

    @Test
    void seekReadsTheLastThreeRecordsOfThePartition() {
        Matcher seek = Pattern.compile("partition 0 ends at offset (\\d+); reading from offset (\\d+):\\R"
                + "  offset (\\d+): reading 2\\R  offset (\\d+): reading 3\\R  offset (\\d+): reading 4").matcher(transcript);
        assertThat(seek.find()).as("seek.jsh's output").isTrue();
        long end = Long.parseLong(seek.group(1));
        assertThat(List.of(seek.group(2), seek.group(3), seek.group(4), seek.group(5)))
                .containsExactly(String.valueOf(end - 3), String.valueOf(end - 3), String.valueOf(end - 2), String.valueOf(end - 1));
    }

    @Test
    void theOtherSnippetsPrintWhatTheyPromise() {
        assertThat(transcript).containsPattern("group playground\\.lag-readers on playground\\.lag-0: end offset (\\d+), committed \\d+, lag 4");
        assertThat(transcript).containsPattern("gave this consumer \\[playground\\.group-[0-2], playground\\.group-[0-2], playground\\.group-[0-2]\\]");
        assertThat(transcript).containsPattern("100 sync sends: .* records/s").containsPattern("100 async sends: .* faster\\)");
        assertThat(transcript).containsPattern("records-per-request-avg +\\d+\\.\\d");
    }
}
