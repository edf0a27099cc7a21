package workshop.grader;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Grading the graders: for every ready lab, the reference solution passes, the untouched
 * starter fails, and every wrong-answer fixture fails for the reason it names.
 */
class LabsAreGradedTest {

    private static final List<String> SUMMARY = new ArrayList<>();
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    @TestFactory
    Stream<DynamicNode> everyReadyLab() {
        Path root = Project.root();
        return Curriculum.load(root).ready().stream().map(lab -> {
            List<DynamicNode> checks = new ArrayList<>();
            checks.add(DynamicTest.dynamicTest("solution passes", () -> {
                LabGrade grade = grade(lab, root.resolve("solutions").resolve(lab.fileName()), "solution");
                assertThat(grade.passed()).as("solutions/%s should pass, but:%n%s", lab.fileName(), grade.allMessages()).isTrue();
            }));
            checks.add(DynamicTest.dynamicTest("untouched starter fails on a TODO", () -> {
                LabGrade grade = grade(lab, root.resolve("labs").resolve(lab.fileName()), "starter");
                assertThat(grade.passed()).as("labs/%s should fail untouched", lab.fileName()).isFalse();
                assertThat(grade.compileErrors()).as("labs/%s should compile", lab.fileName()).isNull();
                // Each check fails on a TODO, or is not run because a check it builds on failed.
                assertThat(grade.failures().get(0).message()).contains("TODO");
                assertThat(grade.failures()).allSatisfy(f -> assertThat(f.message()).containsAnyOf("TODO", "Not run"));
            }));
            for (GradingTestSupport.Fixture fixture : GradingTestSupport.fixtures(lab)) {
                checks.add(DynamicTest.dynamicTest("rejects " + fixture.name(), () -> {
                    LabGrade grade = grade(lab, fixture.file(), "fixture " + fixture.name());
                    assertThat(grade.passed()).as("%s is a wrong answer and must fail", fixture.name()).isFalse();
                    assertThat(grade.compileErrors()).as("%s should compile", fixture.name()).isNull();
                    assertThat(grade.allMessages().toLowerCase(Locale.ROOT))
                            .as("%s should fail for its reason (\"%s\"), but failed with:%n%s",
                                    fixture.name(), fixture.expectedReason(), grade.allMessages())
                            .contains(fixture.expectedReason().toLowerCase(Locale.ROOT));
                }));
            }
            return DynamicContainer.dynamicContainer(lab.label(), checks);
        });
    }

    private static LabGrade grade(Curriculum.Lab lab, Path file, String what) {
        long start = System.nanoTime();
        LabGrade grade = GradingTestSupport.runner().grade(lab, file);
        double seconds = (System.nanoTime() - start) / 1e9;
        String line = String.format(Locale.ROOT, "  %-26s %-45s %s %d/%d checks pass  %5.1f s",
                lab.label(), what, grade.passed() ? "✓" : "✗", grade.passedCount(), grade.checks().size(), seconds);
        OUT.println(line);
        SUMMARY.add(line);
        return grade;
    }

    @AfterAll
    static void printSummary() {
        OUT.println();
        OUT.println("Per-lab grading summary (solutions must pass; starters and fixtures must fail):");
        SUMMARY.forEach(OUT::println);
        OUT.println();
    }
}
