package workshop.grader;

import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Learner code that does not compile, hangs or exits must fail its lab and nothing else. */
class GraderRobustnessTest {

    private final Path root = Project.root();
    private final Curriculum.Lab callback = Curriculum.load(root).find("02").orElseThrow();
    private final Path starter = root.resolve("labs/02-callback.java");

    @Test
    void aSyntaxErrorIsReportedWithItsLine() {
        Path broken = GradingTestSupport.variant(starter,
                "AtomicInteger acked = new AtomicInteger();", "AtomicInteger acked = new AtomicInteger()");
        LabGrade grade = GradingTestSupport.runner().grade(callback, broken);
        assertThat(grade.passed()).isFalse();
        assertThat(grade.compileErrors()).matches("(?s).*02-callback\\.java:\\d+: error: ';' expected.*");
    }

    @Test
    void anEndlessLoopFailsWithinAMinute() {
        Path endless = GradingTestSupport.variant(starter,
                "throw Workshop.todo(1, \"send every reading with a callback\");", "while (true) {}");
        long start = System.nanoTime();
        LabGrade grade = GradingTestSupport.runner().grade(callback, endless);
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(grade.passed()).isFalse();
        assertThat(took).isLessThan(Duration.ofSeconds(60));
        assertThat(grade.allMessages()).contains("did not return within");
    }

    @Test
    void systemExitFailsTheLabButNotTheGrader() {
        Path exiting = GradingTestSupport.variant(starter,
                "throw Workshop.todo(1, \"send every reading with a callback\");", "System.exit(0); return null;");
        LabGrade grade = GradingTestSupport.runner().grade(callback, exiting);
        assertThat(grade.passed()).isFalse();
        assertThat(grade.crash()).contains("System.exit");
        assertThat(grade.failures()).isNotEmpty();
    }
}
