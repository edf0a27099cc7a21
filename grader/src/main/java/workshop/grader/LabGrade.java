package workshop.grader;

import java.util.List;
import java.util.Optional;

/** What grading one lab file found. */
public record LabGrade(Curriculum.Lab lab, String file, String compileErrors, List<Check> checks, String crash) {

    /**
     * One check's outcome; {@code message} is written for the learner, and {@code cause} names
     * another failed check that this failure follows from, if the check isolated one.
     */
    public record Check(String name, boolean passed, String message, String cause) {
        public Check(String name, boolean passed, String message) {
            this(name, passed, message, null);
        }
    }

    public boolean passed() {
        return compileErrors == null && crash == null && !checks.isEmpty() && checks.stream().allMatch(Check::passed);
    }

    public long passedCount() {
        return checks.stream().filter(Check::passed).count();
    }

    /**
     * The failed check to fix first: the first failure, or the failed check it says it follows
     * from (followed to the end, should causes chain).
     */
    public Optional<Check> fixFirst() {
        Optional<Check> first = checks.stream().filter(c -> !c.passed()).findFirst();
        Check check = first.orElse(null);
        for (int hops = 0; check != null && check.cause() != null && hops < checks.size(); hops++) {
            String cause = check.cause();
            Check next = checks.stream().filter(c -> !c.passed() && c.name().equals(cause)).findFirst().orElse(null);
            if (next == null) {
                break;
            }
            check = next;
        }
        return Optional.ofNullable(check);
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
