package workshop.grader;

import java.time.Duration;
import java.util.Properties;

import workshop.EmbeddedKafka;
import workshop.Workshop;

/** One broker for a whole grading run: a fresh embedded one, or the one the instructor named. */
public final class GradingBroker implements AutoCloseable {

    private final String bootstrapServers;
    private final AutoCloseable owned;

    private GradingBroker(String bootstrapServers, AutoCloseable owned) {
        this.bootstrapServers = bootstrapServers;
        this.owned = owned;
    }

    /** Kafka in Docker (the apache/kafka image) through Testcontainers, when Docker is there. */
    public static GradingBroker startInDocker() {
        requireDocker();
        System.out.print("Starting " + DockerKafka.IMAGE + " in Docker for grading... ");
        System.out.flush();
        long start = System.nanoTime();
        DockerKafka kafka = DockerKafka.start();
        System.out.printf("ready in %.1f s.%n", (System.nanoTime() - start) / 1e9);
        return new GradingBroker(kafka.bootstrapServers(), kafka);
    }

    /** Fails with the learner's one line when no Docker engine answers. */
    public static void requireDocker() {
        if (!DockerKafka.dockerAvailable()) {
            throw new Workshop.WorkshopException("Docker is not available here (no Docker engine answered), so --docker cannot be used."
                    + " Grade without --docker: an embedded broker needs no Docker.");
        }
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

    /**
     * A grading broker started on first use, so that a missing file or a compile error is
     * reported before any broker starts; closing it stops the broker if one was started.
     */
    public static final class OnDemand implements AutoCloseable, java.util.function.Supplier<String> {
        private final boolean docker;
        private final String named;
        private GradingBroker started;

        public OnDemand(boolean docker, String named) {
            this.docker = docker;
            this.named = named;
        }

        @Override
        public synchronized String get() {
            if (started == null) {
                started = docker ? startInDocker() : start(named);
            }
            return started.bootstrapServers();
        }

        @Override
        public synchronized void close() {
            if (started != null) {
                started.close();
            }
        }
    }

    @Override
    public void close() {
        if (owned != null) {
            try {
                owned.close();
            } catch (Exception e) {
                System.err.println("The grading broker did not stop cleanly: " + e.getMessage());
            }
        }
    }
}
