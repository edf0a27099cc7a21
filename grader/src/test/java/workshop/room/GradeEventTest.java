package workshop.room;

import java.time.Instant;
import java.util.List;

import org.junit.jupiter.api.Test;
import workshop.grader.Curriculum;
import workshop.grader.LabGrade;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What a grading run tells the room: its JSON, what the dashboard accepts, and the check it names. */
class GradeEventTest {

    private static final Curriculum.Lab LAB = new Curriculum.Lab("02", "callback", "Callbacks", 1, 15, true, "none", List.of());
    private static final Learner ADA = new Learner("6f1c0d2e-8a4b-4c3d-9e2f-1a2b3c4d5e6f", "Ada");
    private static final Instant AT = Instant.parse("2026-12-02T15:04:05.123Z");

    private static final String VALID = """
            {"learnerId":"6f1c0d2e-8a4b-4c3d-9e2f-1a2b3c4d5e6f","name":"Ada","lab":"02","passed":3,"total":7,
             "stuckOn":"every failed reading lands in the DLQ","at":"2026-12-02T15:04:05.123Z","kitVersion":"1.0.0"}""";

    private static LabGrade grade(LabGrade.Check... checks) {
        return new LabGrade(LAB, "labs/02-callback.java", null, List.of(checks), null);
    }

    @Test
    void anEventSurvivesItsJson() {
        GradeEvent event = new GradeEvent(ADA.id(), "Ada", "02", 3, 7, "every failed reading lands in the DLQ", AT.toString(), "1.0.0");

        GradeEvent read = GradeEvent.parse(event.toJson());

        assertThat(read).isEqualTo(event);
        assertThat(read.instant()).isEqualTo(AT);
        assertThat(GradeEvent.parse(VALID)).isEqualTo(event);
    }

    @Test
    void anEventWithEveryCheckPassedSurvivesItsJsonToo() {
        GradeEvent event = new GradeEvent(ADA.id(), "Ada", "02", 7, 7, null, AT.toString(), null);

        assertThat(GradeEvent.parse(event.toJson())).isEqualTo(event);
        assertThat(event.allPassed()).isTrue();
    }

    @Test
    void fieldsTheDashboardDoesNotKnowAreIgnored() {
        String newer = VALID.replace("\"kitVersion\"", "\"mood\":\"happy\",\"extra\":{\"nested\":[1,2]},\"kitVersion\"");

        assertThat(GradeEvent.parse(newer)).isEqualTo(GradeEvent.parse(VALID));
    }

    @Test
    void whatIsNotAnEventIsRejected() {
        assertThatThrownBy(() -> GradeEvent.parse("{not json")).isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("not a grade event");
        assertThatThrownBy(() -> GradeEvent.parse("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GradeEvent.parse("null")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GradeEvent.parse("[1,2]")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"passed\":3", "\"passed\":\"three\"")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void anEventMissingAFieldIsRejected() {
        for (String field : List.of("learnerId", "name", "lab", "passed", "total", "at")) {
            String without = VALID.replaceAll("\"" + field + "\":(\"[^\"]*\"|\\d+),", "");
            assertThat(without).as("the test removed %s", field).doesNotContain("\"" + field + "\"");
            assertThatThrownBy(() -> GradeEvent.parse(without)).as("without %s", field)
                    .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("not a grade event");
        }
    }

    @Test
    void anEventWhoseValuesCannotBeIsRejected() {
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"passed\":3", "\"passed\":8")))
                .as("more checks passed than graded").hasMessageContaining("passed/total");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"passed\":3", "\"passed\":-1")))
                .hasMessageContaining("passed/total");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"lab\":\"02\"", "\"lab\":\"2\"")))
                .hasMessageContaining("lab");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"lab\":\"02\"", "\"lab\":\"../etc\"")))
                .hasMessageContaining("lab");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("2026-12-02T15:04:05.123Z", "yesterday")))
                .hasMessageContaining("at");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"Ada\"", "\"" + "A".repeat(GradeEvent.MAX_NAME + 1) + "\"")))
                .hasMessageContaining("name");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("\"Ada\"", "\"  \"")))
                .hasMessageContaining("name");
        assertThatThrownBy(() -> GradeEvent.parse(VALID.replace("6f1c0d2e-8a4b-4c3d-9e2f-1a2b3c4d5e6f", "id with spaces")))
                .hasMessageContaining("learnerId");
    }

    @Test
    void aNameIsKeptVerbatimEvenWithMarkup() {
        String name = "<script>alert('Ada')</script>";

        GradeEvent event = GradeEvent.parse(new GradeEvent(ADA.id(), name, "02", 0, 7, "x", AT.toString(), "1.0.0").toJson());

        assertThat(event.name()).as("escaping is the page's job, not the event's").isEqualTo(name);
    }

    @Test
    void aNameIsCutToOneLineOfAtMostSixtyCharacters() {
        assertThat(GradeEvent.cut("  Ada \n  Lovelace\t")).isEqualTo("Ada Lovelace");
        assertThat(GradeEvent.cut("x".repeat(100))).hasSize(GradeEvent.MAX_NAME);
    }

    @Test
    void anUntouchedTodoIsWhatTheLearnerIsStuckOn() {
        LabGrade grade = grade(
                new LabGrade.Check("every reading is sent", false,
                        "TODO 1 in 02-callback.java is not done yet: send every reading with a callback.\n  Open labs/02-callback.java"),
                new LabGrade.Check("every failed reading lands in the DLQ", false, "(same)"));

        GradeEvent event = GradeEvent.of(ADA, grade, AT, "1.0.0");

        assertThat(event.stuckOn()).isEqualTo("TODO 1 not done yet: send every reading with a callback");
        assertThat(event).extracting(GradeEvent::passed, GradeEvent::total, GradeEvent::lab, GradeEvent::name, GradeEvent::at)
                .containsExactly(0, 2, "02", "Ada", AT.toString());
    }

    @Test
    void aFailedCheckIsNamed() {
        LabGrade grade = grade(
                new LabGrade.Check("every reading is sent", true, null),
                new LabGrade.Check("every failed reading lands in the DLQ", false, "None of the 6 failed readings reached <topic>.DLQ"),
                new LabGrade.Check("the callback never blocks", false, "The callback blocked for 2 s"));

        GradeEvent event = GradeEvent.of(ADA, grade, AT, "1.0.0");

        assertThat(event.stuckOn()).isEqualTo("every failed reading lands in the DLQ");
        assertThat(event.passed()).isEqualTo(1);
        assertThat(event.total()).isEqualTo(3);
        assertThat(event.allPassed()).isFalse();
    }

    @Test
    void aLabThatDoesNotCompileIsStuckOnCompiling() {
        LabGrade grade = new LabGrade(LAB, "labs/02-callback.java", "labs/02-callback.java:12: error: ';' expected", List.of(), null);

        GradeEvent event = GradeEvent.of(ADA, grade, AT, "1.0.0");

        assertThat(event.stuckOn()).isEqualTo(GradeEvent.COMPILE_ERROR).isEqualTo("the lab compiles");
        assertThat(event.total()).isZero();
        assertThat(GradeEvent.parse(event.toJson())).isEqualTo(event);
    }

    @Test
    void aLabWithEveryCheckPassedIsStuckOnNothing() {
        LabGrade grade = grade(new LabGrade.Check("every reading is sent", true, null),
                new LabGrade.Check("every failed reading lands in the DLQ", true, null));

        GradeEvent event = GradeEvent.of(ADA, grade, AT, "1.0.0");

        assertThat(event.stuckOn()).isNull();
        assertThat(event.allPassed()).isTrue();
        assertThat(event.passed()).isEqualTo(2);
    }

    @Test
    void theEventCarriesNoCode() {
        LabGrade grade = new LabGrade(LAB, "labs/02-callback.java", "labs/02-callback.java:12: error: String secret = \"hunter2\"", List.of(), null);

        assertThat(GradeEvent.of(ADA, grade, AT, "1.0.0").toJson()).doesNotContain("hunter2").doesNotContain("02-callback.java");
    }
}
