package workshop.grader;

import java.time.Duration;
import java.util.Properties;

import workshop.EmbeddedKafka;
import workshop.Workshop;

/** One broker for a whole grading run: a fresh embedded one, or the one the instructor named. */
public final class GradingBroker implements AutoCloseable {

    private final String bootstrapServers;
    private final EmbeddedKafka embedded;

    private GradingBroker(String bootstrapServers, EmbeddedKafka embedded) {
        this.bootstrapServers = bootstrapServers;
        this.embedded = embedded;
    }

    public static GradingBroker start(String bootstrapServers) {
        if (bootstrapServers != null) {
            Workshop.requireReachable(bootstrapServers, new Properties(), Duration.ofSeconds(15));
            System.out.println("Grading against the broker at " + bootstrapServers + ".");
            return new GradingBroker(bootstrapServers, null);
        }
        System.out.print("Starting a Kafka broker for grading... ");
        System.out.flush();
        long start = System.nanoTime();
        EmbeddedKafka broker = EmbeddedKafka.startTemporary();
        System.out.printf("ready in %.1f s.%n", (System.nanoTime() - start) / 1e9);
        return new GradingBroker(broker.bootstrapServers(), broker);
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    @Override
    public void close() {
        if (embedded != null) {
            embedded.close();
        }
    }
}
