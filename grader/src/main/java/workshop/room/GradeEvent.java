package workshop.room;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.regex.Pattern;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import workshop.check.LabUnderTest;
import workshop.grader.LabGrade;

/**
 * One grading run's result, as the room sees it: who, which lab, how many checks passed, and the
 * check to fix first. Never the learner's code, nor anything from their files.
 *
 * @param learnerId  stable for one learner's checkout, so a renamed learner stays one row
 * @param name       the name the learner gave when joining
 * @param lab        the lab's number, e.g. {@code 02}
 * @param passed     checks passed
 * @param total      checks graded (0 when the file did not compile)
 * @param stuckOn    the check to fix first, or the TODO it waits on; null when every check passed
 * @param at         when the grade was made, ISO-8601
 * @param kitVersion the kit's version, to tell an old checkout from a new one
 */
@JsonIgnoreProperties(ignoreUnknown = true)
public record GradeEvent(@JsonProperty(required = true) String learnerId, @JsonProperty(required = true) String name,
                         @JsonProperty(required = true) String lab, @JsonProperty(required = true) int passed,
                         @JsonProperty(required = true) int total, String stuckOn, @JsonProperty(required = true) String at,
                         String kitVersion) {

    public static final int MAX_NAME = 60;
    public static final String COMPILE_ERROR = "the lab compiles";
    public static final String CRASHED = "the grading runs to its end";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LAB = Pattern.compile("\\d{2}");
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9-]{1,64}");

    /** The event for {@code grade}, made by {@code learner} at {@code at}. */
    public static GradeEvent of(Learner learner, LabGrade grade, Instant at, String kitVersion) {
        String stuckOn = grade.passed() ? null
                : grade.compileErrors() != null ? COMPILE_ERROR
                : grade.crash() != null ? CRASHED
                : grade.fixFirst().map(GradeEvent::stuckOn).orElse(CRASHED);
        return new GradeEvent(learner.id(), cut(learner.name()), grade.lab().id(), (int) grade.passedCount(),
                grade.compileErrors() != null ? 0 : grade.checks().size(), stuckOn, at.toString(), kitVersion);
    }

    /** A check's name, or for a check that waits on an untouched TODO, that TODO. */
    static String stuckOn(LabGrade.Check check) {
        return LabUnderTest.TodoNotDone.in(check.message())
                .map(todo -> "TODO " + todo.number() + " not done yet: " + todo.what())
                .orElse(check.name());
    }

    public boolean allPassed() {
        return stuckOn == null && total > 0 && passed == total;
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The event in {@code json}; anything that is not a well-formed event is an {@link IllegalArgumentException}. */
    public static GradeEvent parse(String json) {
        GradeEvent event;
        try {
            event = JSON.readValue(json, GradeEvent.class);
        } catch (JsonProcessingException | RuntimeException e) {
            throw new IllegalArgumentException("not a grade event: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (event == null) {
            throw new IllegalArgumentException("not a grade event: null");
        }
        event.validate();
        return event;
    }

    private void validate() {
        require(learnerId != null && ID.matcher(learnerId).matches(), "learnerId");
        require(name != null && !name.isBlank() && name.length() <= MAX_NAME, "name");
        require(lab != null && LAB.matcher(lab).matches(), "lab");
        require(total >= 0 && total <= 100 && passed >= 0 && passed <= total, "passed/total");
        require(stuckOn == null || stuckOn.length() <= 500, "stuckOn");
        require(at != null && parsesAsInstant(at), "at");
        require(kitVersion == null || kitVersion.length() <= 40, "kitVersion");
    }

    /** When the grade was made. */
    public Instant instant() {
        return Instant.parse(at);
    }

    private static boolean parsesAsInstant(String text) {
        try {
            Instant.parse(text);
            return true;
        } catch (DateTimeParseException e) {
            return false;
        }
    }

    private static void require(boolean ok, String field) {
        if (!ok) {
            throw new IllegalArgumentException("not a grade event: bad or missing " + field);
        }
    }

    /** A name as the room shows it: trimmed, one line, at most {@value #MAX_NAME} characters. */
    public static String cut(String name) {
        String oneLine = name.strip().replaceAll("\\s+", " ");
        return oneLine.length() <= MAX_NAME ? oneLine : oneLine.substring(0, MAX_NAME);
    }
}
