package workshop.grader;

import java.util.List;

/** What grading one lab file found. */
public record LabGrade(Curriculum.Lab lab, String file, String compileErrors, List<Check> checks, String crash) {

    /** One check's outcome; {@code message} is written for the learner. */
    public record Check(String name, boolean passed, String message) {
    }

    public boolean passed() {
        return compileErrors == null && crash == null && !checks.isEmpty() && checks.stream().allMatch(Check::passed);
    }

    public long passedCount() {
        return checks.stream().filter(Check::passed).count();
    }

    public List<Check> failures() {
        return checks.stream().filter(c -> !c.passed()).toList();
    }

    /** Every learner-facing message of this grade, for tests that look for a reason. */
    public String allMessages() {
        StringBuilder text = new StringBuilder();
        if (compileErrors != null) {
            text.append(compileErrors).append('\n');
        }
        if (crash != null) {
            text.append(crash).append('\n');
        }
        failures().forEach(c -> text.append(c.name()).append(": ").append(c.message()).append('\n'));
        return text.toString();
    }
}
