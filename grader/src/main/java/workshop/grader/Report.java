package workshop.grader;

import java.io.PrintStream;

/** Prints one lab's grade the way a learner wants to read it: what failed, why, what next. */
final class Report {

    private final PrintStream out;

    Report(PrintStream out) {
        this.out = out;
    }

    void print(LabGrade grade, double seconds, boolean detailed, boolean instructor) {
        Curriculum.Lab lab = grade.lab();
        if (grade.compileErrors() != null) {
            out.printf("✗ %s does not compile:%n%s%n", grade.file(), Grade.indent(grade.compileErrors()));
            out.printf("  Fix the line above, save, and grade again: ./jbang grade %s%n", lab.id());
            return;
        }
        if (grade.checks().isEmpty() && grade.crash() != null) {
            // Nothing was graded: a missing file, say, is one sentence, not "0 of 0 checks".
            out.printf("✗ %s: %s%n", lab.label(), grade.crash());
            return;
        }
        if (grade.passed()) {
            out.printf("✓ %s: all %d checks pass (%.1f s)%n", lab.label(), grade.checks().size(), seconds);
            if (detailed) {
                grade.checks().forEach(c -> out.println("    ✓ " + c.name()));
            }
            return;
        }
        out.printf("✗ %s: %d of %d checks pass (%.1f s)%n", lab.label(), grade.passedCount(), grade.checks().size(), seconds);
        if (grade.crash() != null && grade.failures().isEmpty()) {
            out.println(Grade.indent(grade.crash()));
        }
        if (!detailed) {
            // Among several labs: each failed check on one line, so the reader sees which and why.
            for (LabGrade.Check check : grade.failures()) {
                String first = check.message().lines().findFirst().orElse("").strip();
                out.println("    ✗ " + check.name() + ": " + (first.length() > 110 ? first.substring(0, 107) + "..." : first));
            }
            return;
        }
        String previous = null;
        for (LabGrade.Check check : grade.checks()) {
            if (check.passed()) {
                out.println("    ✓ " + check.name());
            } else {
                out.println("    ✗ " + check.name());
                if (check.cause() != null && grade.failures().stream().anyMatch(c -> c.name().equals(check.cause()))) {
                    out.println("        This follows from ✗ \"" + check.cause() + "\": fix that one first.");
                }
                // An unfinished TODO fails every check the same way: say it once.
                out.println("        " + (check.message().equals(previous) ? "(same reason as above)" : check.message().replace("\n", "\n        ")));
                previous = check.message();
            }
        }
        if (!instructor) {
            LabGrade.Check first = grade.fixFirst().orElse(null);
            boolean firstInOrder = first == null || first.equals(grade.failures().get(0));
            out.printf("  Next: fix %s in %s and grade again. Stuck? ./jbang grade %s --hint%n",
                    firstInOrder ? "the first ✗ above" : "✗ \"" + first.name() + "\" first (the others follow from it)",
                    grade.file(), lab.id());
        }
    }
}
