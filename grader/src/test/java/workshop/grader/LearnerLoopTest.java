package workshop.grader;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/** The loop between grades: what is remembered, which hint comes next, which check to fix first. */
class LearnerLoopTest {

    @TempDir
    Path root;

    private static final String DLQ = "every failed reading lands in the DLQ";
    private static final String NO_BLOCKING = "the callback never blocks";

    private final Curriculum.Lab lab = new Curriculum.Lab("02", "callback", "Callbacks", 1, 15, true, "none", List.of(
            new Curriculum.Hint(List.of("TODO 1"), "send with a callback"),
            new Curriculum.Hint(List.of("TODO 1"), "producer.send(record, callback)"),
            new Curriculum.Hint(List.of("TODO 2"), "the failure branch"),
            new Curriculum.Hint(List.of("TODO 2", DLQ), "new ProducerRecord<>(topic + \".DLQ\", key, value)"),
            new Curriculum.Hint(List.of(DLQ), "send it with a plain send, and an error header"),
            new Curriculum.Hint(List.of(NO_BLOCKING), "partitionsFor(dlqTopic) before the loop")));

    private Path labFile() throws Exception {
        Path file = root.resolve("labs/02-callback.java");
        if (!Files.exists(file)) {
            Files.createDirectories(file.getParent());
            Files.writeString(file, "class CallbackLab { void send() { throw Workshop.todo(2, \"send failures to the DLQ\"); } }\n");
        }
        return file;
    }

    private static LabGrade grade(Curriculum.Lab lab, LabGrade.Check... checks) {
        return new LabGrade(lab, "labs/02-callback.java", null, List.of(checks), null);
    }

    private String hint(Progress progress, boolean reset) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new Hints(root, new PrintStream(out, true, StandardCharsets.UTF_8)).show(lab, labFile(), progress, reset);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void aGradeIsRememberedUntilTheLabFileOrTheGraderChanges() throws Exception {
        Path file = labFile();
        Progress progress = Progress.load(root);
        progress.record(lab, file, grade(lab, new LabGrade.Check(DLQ, true, null)));

        assertThat(Progress.load(root).current(lab, file)).as("same file, same grader").isPresent();

        Files.writeString(file, "// edited\n", java.nio.file.StandardOpenOption.APPEND);
        assertThat(Progress.load(root).current(lab, file)).as("after an edit").isEmpty();
        assertThat(Progress.load(root).last(lab)).as("the last grade is still known").isPresent();

        Progress.load(root).record(lab, file, grade(lab, new LabGrade.Check(DLQ, true, null)));
        Files.createDirectories(root.resolve("support/workshop"));
        Files.writeString(root.resolve("support/workshop/Reading.java"), "class Reading {}\n");
        assertThat(Progress.load(root).current(lab, file)).as("after the support code changed").isEmpty();
    }

    @Test
    void hintsFollowTheFirstFailedCheckAndProgressWithinIt() throws Exception {
        Progress progress = Progress.load(root);
        progress.record(lab, labFile(), grade(lab,
                new LabGrade.Check(NO_BLOCKING, true, null),
                new LabGrade.Check(DLQ, false, "None of the 6 failed readings reached <topic>.DLQ")));

        assertThat(hint(progress, false)).startsWith("Hint 1 of 2 for: " + DLQ).contains("new ProducerRecord<>(topic + \".DLQ\"");
        assertThat(hint(progress, false)).startsWith("Hint 2 of 2 for: " + DLQ).contains("error header").contains("last hint");
        assertThat(hint(progress, false)).as("after the last, the last again").startsWith("Hint 2 of 2 for: " + DLQ);
        assertThat(hint(progress, true)).as("--hint --reset").contains("start over").contains("Hint 1 of 2 for: " + DLQ);
    }

    @Test
    void aTodoNotDoneIsTheHintsTarget() throws Exception {
        Progress progress = Progress.load(root);
        progress.record(lab, labFile(), grade(lab,
                new LabGrade.Check(NO_BLOCKING, false, "TODO 2 in labs/02-callback.java is not done yet: send failures to the DLQ.")));

        assertThat(hint(progress, false)).startsWith("Hint 1 of 2 for: TODO 2: send failures to the DLQ").contains("the failure branch");
    }

    @Test
    void withNoGradeTheFirstTodoLeftInTheFileIsTheTarget() throws Exception {
        assertThat(hint(Progress.load(root), false)).startsWith("Hint 1 of 2 for: TODO 2: send failures to the DLQ");
    }

    @Test
    void aCheckThatFollowsFromAnotherPointsTheLearnerAtTheCause() throws Exception {
        LabGrade grade = grade(lab,
                new LabGrade.Check(DLQ, false, "2 of the 6 failed readings reached <topic>.DLQ", NO_BLOCKING),
                new LabGrade.Check(NO_BLOCKING, false, "A callback's send() waited for the DLQ topic's metadata"));
        Progress progress = Progress.load(root);
        progress.record(lab, labFile(), grade);

        assertThat(grade.fixFirst()).map(LabGrade.Check::name).hasValue(NO_BLOCKING);
        ByteArrayOutputStream report = new ByteArrayOutputStream();
        new Report(new PrintStream(report, true, StandardCharsets.UTF_8)).print(grade, 1.0, true, false);
        assertThat(report.toString(StandardCharsets.UTF_8))
                .contains("This follows from ✗ \"" + NO_BLOCKING + "\": fix that one first.")
                .contains("Next: fix ✗ \"" + NO_BLOCKING + "\" first");
        assertThat(hint(progress, false)).startsWith("Hint 1 of 1 for: " + NO_BLOCKING);
    }

    @Test
    void aStarterIsRecognisedByGitsOwnBlobId() throws Exception {
        Path file = labFile();
        Process git;
        try {
            git = new ProcessBuilder("git", "hash-object", file.toString()).start();
        } catch (java.io.IOException e) {
            Assumptions.abort("no git on this machine: " + e.getMessage());
            return;
        }
        assertThat(git.waitFor(10, TimeUnit.SECONDS)).isTrue();
        String expected = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(Starters.blobId(Files.readAllBytes(file))).isEqualTo(expected);
    }
}
