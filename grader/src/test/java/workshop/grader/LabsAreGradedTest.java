package workshop.grader;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Grading the graders: for every ready lab, the reference solution passes, the untouched
 * starter fails on a TODO, every wrong-answer fixture fails first for the reason it names, and
 * every "also right" fixture passes. {@code -Dlabs=02,10} grades only those labs.
 *
 * <p>Gradings run {@value #DEFAULT_PARALLEL} at a time ({@code -Dgrading.parallel=N}): a check
 * spends much of its time waiting for the broker, and every check is built to stay right on a
 * loaded machine. Each test then waits for its own grading's result.
 */
class LabsAreGradedTest {

    private static final List<String> LINES = new ArrayList<>();
    private static final Map<String, double[]> PER_LAB = new LinkedHashMap<>();
    static final int DEFAULT_PARALLEL = 2;
    private static final ExecutorService GRADERS = Executors.newFixedThreadPool(
            Integer.getInteger("grading.parallel", DEFAULT_PARALLEL), r -> {
                Thread t = new Thread(r, "grading");
                t.setDaemon(true);
                return t;
            });
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    @TestFactory
    Stream<DynamicNode> everyReadyLab() {
        Path root = Project.root();
        return GradingTestSupport.labsToGrade().stream().map(lab -> {
            List<DynamicNode> checks = new ArrayList<>();
            Future<LabGrade> solution = submit(lab, root.resolve("solutions").resolve(lab.fileName()), "solution", false);
            Future<LabGrade> starter = submit(lab, root.resolve("labs").resolve(lab.fileName()), "starter", false);
            checks.add(DynamicTest.dynamicTest("solution passes", () -> {
                LabGrade grade = result(solution);
                assertThat(grade.passed()).as("solutions/%s should pass, but:%n%s", lab.fileName(), grade.allMessages()).isTrue();
            }));
            checks.add(DynamicTest.dynamicTest("untouched starter fails on a TODO", () -> {
                LabGrade grade = result(starter);
                assertThat(grade.passed()).as("labs/%s should fail untouched", lab.fileName()).isFalse();
                assertThat(grade.compileErrors()).as("labs/%s should compile", lab.fileName()).isNull();
                // Each check fails on a TODO, or is not run because a check it builds on failed.
                assertThat(grade.failures().get(0).message()).contains("TODO");
                assertThat(grade.failures()).allSatisfy(f -> assertThat(f.message()).containsAnyOf("TODO", "Not run"));
            }));
            for (Fixture fixture : GradingTestSupport.fixtures(lab)) {
                String verb = fixture.mustPass() ? "accepts " : "rejects ";
                Future<LabGrade> graded = GRADERS.submit(() -> {
                    Path applied = fixture.apply(root);
                    try {
                        return grade(lab, applied, "fixture " + fixture.name(), !fixture.mustPass());
                    } finally {
                        LabCompiler.deleteQuietly(applied.getParent());
                    }
                });
                checks.add(DynamicTest.dynamicTest(verb + fixture.name(), () ->
                        assertThat(fixture.problemWith(result(graded))).as("fixture %s", fixture.name()).isEmpty()));
            }
            return (DynamicNode) DynamicContainer.dynamicContainer(lab.label(), checks);
        }).toList().stream(); // every grading queued up front, so the graders never idle between labs
    }

    private static Future<LabGrade> submit(Curriculum.Lab lab, Path file, String what, boolean failFast) {
        return GRADERS.submit(() -> grade(lab, file, what, failFast));
    }

    /** A grading's result; a fixture that no longer applies fails its test with the fixture's own message. */
    private static LabGrade result(Future<LabGrade> grading) throws Throwable {
        try {
            return grading.get();
        } catch (ExecutionException e) {
            throw e.getCause();
        }
    }

    private static LabGrade grade(Curriculum.Lab lab, Path file, String what, boolean failFast) {
        long start = System.nanoTime();
        LabGrade grade = GradingTestSupport.runner().grade(lab, file, what, failFast);
        double seconds = (System.nanoTime() - start) / 1e9;
        String line = String.format(Locale.ROOT, "  %-26s %-45s %s %d/%d checks pass  %5.1f s",
                lab.label(), what, grade.passed() ? "✓" : "✗", grade.passedCount(), grade.checks().size(), seconds);
        OUT.println(line);
        synchronized (LINES) {
            LINES.add(line);
            double[] total = PER_LAB.computeIfAbsent(lab.label(), k -> new double[3]);
            int slot = what.equals("solution") ? 0 : what.equals("starter") ? 1 : 2;
            total[slot] += seconds;
        }
        return grade;
    }

    @AfterAll
    static void printSummary() {
        OUT.println();
        OUT.println("Per-lab grading summary (solutions must pass; starters and fixtures must fail; also-right fixtures pass):");
        LINES.forEach(OUT::println);
        OUT.println();
        OUT.println("Per-lab grading time (s):");
        OUT.printf(Locale.ROOT, "  %-26s %9s %8s %9s %8s%n", "lab", "solution", "starter", "fixtures", "total");
        double all = 0;
        for (Map.Entry<String, double[]> lab : PER_LAB.entrySet()) {
            double[] t = lab.getValue();
            double sum = t[0] + t[1] + t[2];
            all += sum;
            OUT.printf(Locale.ROOT, "  %-26s %9.1f %8.1f %9.1f %8.1f%n", lab.getKey(), t[0], t[1], t[2], sum);
        }
        OUT.printf(Locale.ROOT, "  %-26s %37.1f%n%n", "all labs", all);
    }
}
