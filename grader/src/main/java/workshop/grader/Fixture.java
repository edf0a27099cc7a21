package workshop.grader;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

import com.github.difflib.patch.PatchFailedException;
import com.github.difflib.unifieddiff.UnifiedDiff;
import com.github.difflib.unifieddiff.UnifiedDiffFile;
import com.github.difflib.unifieddiff.UnifiedDiffReader;

/**
 * A fixture: a small unified diff against a lab's reference solution, kept in
 * {@code grader/fixtures/NN-name/<name>.diff}. Its preamble (the lines before the diff) says
 * what the patched program gets wrong ({@code Wrong answer:}) or why it is right all the same
 * ({@code Also right:}), and {@code expect:} names the reason the grade must give: a phrase
 * of the first failed check, or {@code pass}.
 */
public record Fixture(Curriculum.Lab lab, Path diff, String description, String expect) {

    static final String PASS = "pass";

    public String name() {
        String file = diff.getFileName().toString();
        return file.substring(0, file.length() - ".diff".length());
    }

    /** An "also right" fixture: a correct answer written differently, which must pass. */
    public boolean mustPass() {
        return PASS.equalsIgnoreCase(expect);
    }

    /** The grader's first failure for this fixture as the guide shows it, if the kit keeps one. */
    public Path expectedMessage() {
        return diff.resolveSibling(name() + ".txt");
    }

    /** The folder of a lab's fixtures. */
    public static Path folder(Path root, Curriculum.Lab lab) {
        return root.resolve("grader/fixtures").resolve(lab.label());
    }

    /** Every fixture of a lab, by name; a fixture without its preamble fails, naming the file. */
    public static List<Fixture> of(Path root, Curriculum.Lab lab) {
        Path dir = folder(root, lab);
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            List<Fixture> fixtures = new ArrayList<>();
            for (Path diff : files.filter(f -> f.toString().endsWith(".diff")).sorted().toList()) {
                fixtures.add(read(lab, diff));
            }
            return fixtures;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static Optional<Fixture> find(Path root, Curriculum.Lab lab, String name) {
        String wanted = name.endsWith(".diff") ? name.substring(0, name.length() - 5) : name;
        return of(root, lab).stream().filter(f -> f.name().equals(wanted)).findFirst();
    }

    static Fixture read(Curriculum.Lab lab, Path diff) {
        List<String> preamble = preamble(lines(diff));
        String description = preamble.stream().filter(l -> l.startsWith("Wrong answer:") || l.startsWith("Also right:"))
                .findFirst().orElseThrow(() -> new FixtureException(diff, "has no \"Wrong answer:\" or \"Also right:\" line before its diff"));
        String expect = preamble.stream().filter(l -> l.startsWith("expect:")).map(l -> l.substring("expect:".length()).strip())
                .filter(s -> !s.isEmpty())
                .findFirst().orElseThrow(() -> new FixtureException(diff, "has no \"expect: <reason>\" line before its diff"));
        if (description.startsWith("Also right:") != PASS.equalsIgnoreCase(expect)) {
            throw new FixtureException(diff, "says \"" + description.substring(0, description.indexOf(':') + 1)
                    + "\" but \"expect: " + expect + "\": an also-right fixture expects pass, a wrong answer a reason");
        }
        return new Fixture(lab, diff, description, expect);
    }

    /** The 1-based line where the diff itself starts: the guide includes the fixture from there. */
    public int diffStartLine() {
        List<String> lines = lines(diff);
        return preamble(lines).size() + 1;
    }

    /**
     * Applies the diff to the lab's solution and writes the result, under the lab's own file
     * name, to a new temporary folder. A diff that no longer applies fails, naming the fixture.
     */
    public Path apply(Path root) {
        Path solution = root.resolve("solutions").resolve(lab.fileName());
        try {
            List<String> original = Files.readAllLines(solution, StandardCharsets.UTF_8);
            List<String> all = lines(diff);
            String body = String.join("\n", all.subList(preamble(all).size(), all.size())) + "\n";
            UnifiedDiff parsed = UnifiedDiffReader.parseUnifiedDiff(new ByteArrayInputStream(body.getBytes(StandardCharsets.UTF_8)));
            if (parsed.getFiles().size() != 1) {
                throw new FixtureException(diff, "must patch exactly one file (solutions/" + lab.fileName() + "), but patches "
                        + parsed.getFiles().size());
            }
            UnifiedDiffFile file = parsed.getFiles().get(0);
            if (file.getPatch().getDeltas().isEmpty()) {
                throw new FixtureException(diff, "changes nothing: it has no hunks");
            }
            List<String> patched = file.getPatch().applyTo(original);
            Path dir = Files.createTempDirectory("lab-fixture-");
            Path out = dir.resolve(lab.fileName());
            Files.write(out, patched, StandardCharsets.UTF_8);
            return out;
        } catch (PatchFailedException e) {
            throw new FixtureException(diff, "no longer applies to solutions/" + lab.fileName() + " (" + e.getMessage()
                    + "): update the fixture for the changed solution");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * What is wrong with this grade of the fixture, or empty when it is what the fixture
     * expects: a pass for an also-right fixture, a first failure naming the expected reason for
     * a wrong answer, and the first failure the guide quotes, if the kit keeps one.
     */
    public Optional<String> problemWith(LabGrade grade) {
        if (grade.compileErrors() != null) {
            return Optional.of(name() + " does not compile once applied:\n" + grade.compileErrors());
        }
        if (mustPass()) {
            return grade.passed() ? Optional.empty()
                    : Optional.of(name() + " is a right answer and must pass, but:\n" + grade.allMessages());
        }
        if (grade.passed()) {
            return Optional.of(name() + " is a wrong answer (" + description + ") and must fail, but every check passed");
        }
        String first = firstFailure(grade);
        if (!first.toLowerCase(java.util.Locale.ROOT).contains(expect.toLowerCase(java.util.Locale.ROOT))) {
            return Optional.of(name() + " must fail first for its reason (\"" + expect + "\"), but its first failure was:\n" + first);
        }
        if (Files.isRegularFile(expectedMessage())) {
            List<String> expected = lines(expectedMessage());
            if (!matches(expected, first)) {
                return Optional.of(name() + ": the guide quotes its first failure as "
                        + Project.root().relativize(expectedMessage().toAbsolutePath()) + " has it:\n"
                        + String.join("\n", expected) + "\nbut the grader now prints:\n" + first);
            }
        }
        return Optional.empty();
    }

    /** A grade's first failure as the grader prints it: the check's name, then its message. */
    public static String firstFailure(LabGrade grade) {
        if (grade.failures().isEmpty()) {
            return grade.crash() == null ? "" : grade.crash();
        }
        LabGrade.Check check = grade.failures().get(0);
        return "✗ " + check.name() + "\n" + check.message();
    }

    /** Line by line, ignoring indentation, where "…" in the expected text stands for any text. */
    static boolean matches(List<String> expected, String actual) {
        List<String> want = expected.stream().map(String::strip).filter(l -> !l.isEmpty()).toList();
        List<String> got = actual.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
        if (want.size() != got.size()) {
            return false;
        }
        for (int i = 0; i < want.size(); i++) {
            StringBuilder regex = new StringBuilder();
            for (String part : want.get(i).split("…", -1)) {
                if (regex.length() > 0) {
                    regex.append(".*?");
                }
                regex.append(java.util.regex.Pattern.quote(part));
            }
            if (!got.get(i).matches(regex.toString())) {
                return false;
            }
        }
        return true;
    }

    private static List<String> lines(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> preamble(List<String> lines) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith("--- ")) {
                return lines.subList(0, i);
            }
        }
        return lines;
    }

    /** A fixture that cannot be used as it is: the message names its file. */
    public static final class FixtureException extends RuntimeException {
        FixtureException(Path diff, String problem) {
            super("Fixture " + Project.root().relativize(diff.toAbsolutePath()) + " " + problem);
        }
    }
}
