package workshop.grader;

import org.testcontainers.DockerClientFactory;
import org.testcontainers.kafka.KafkaContainer;

/** Kafka in a container: only loaded when asked for, so grading never needs Docker. */
final class DockerKafka implements AutoCloseable {

    static final String IMAGE = "apache/kafka:4.3.1";

    private final KafkaContainer container;

    private DockerKafka(KafkaContainer container) {
        this.container = container;
    }

    static boolean dockerAvailable() {
        // Without Docker, Testcontainers logs every strategy it tried at ERROR; the grader says it in one line.
        System.setProperty("org.slf4j.simpleLogger.log.org.testcontainers.dockerclient.DockerClientProviderStrategy", "off");
        try {
            return DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    static DockerKafka start() {
        KafkaContainer container = new KafkaContainer(IMAGE);
        container.start();
        return new DockerKafka(container);
    }

    String bootstrapServers() {
        return container.getBootstrapServers();
    }

    @Override
    public void close() {
        container.stop();
    }
}
