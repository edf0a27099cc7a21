package workshop.grader;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The same grading against Kafka in Docker, where a Docker engine runs. */
class DockerGradingTest {

    @Test
    void theCallbackSolutionPassesAgainstKafkaInDocker() {
        boolean docker = DockerKafka.dockerAvailable();
        String why = "Skipped: no Docker engine answers on this machine, so Kafka in Docker (" + DockerKafka.IMAGE + ") cannot start."
                + " Every other test grades against an embedded Apache Kafka broker instead.";
        if (!docker) {
            System.out.println(why);
        }
        assumeTrue(docker, why);
        try (GradingBroker broker = GradingBroker.startInDocker()) {
            var root = Project.root();
            var lab = Curriculum.load(root).find("02").orElseThrow();
            LabGrade grade = new LabRunner(root, broker.bootstrapServers()).grade(lab, root.resolve("solutions").resolve(lab.fileName()));
            assertThat(grade.passed()).as(grade.allMessages()).isTrue();
        }
    }
}
