package workshop.grader;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import workshop.check.LabUnderTest;

/**
 * {@code ./jbang grade NN --hint}: the hints for where the learner is, read from the lab's last
 * grade (its first failed check, or the TODO that check says is not done), progressive within
 * that target, remembered in {@code build/hints.properties}.
 */
final class Hints {

    private static final Pattern TODO_IN_FILE = Pattern.compile("Workshop\\.todo\\(\\s*(\\d+)\\s*,\\s*\"((?:[^\"\\\\]|\\\\.)*)\"");

    private final Path root;
    private final Path state;
    private final PrintStream out;

    Hints(Path root, PrintStream out) {
        this.root = root;
        this.state = root.resolve("build/hints.properties");
        this.out = out;
    }

    /** What the hint is for: "TODO 2" or a check's name, and how to show it. */
    record Target(String key, String shown, String note) {
    }

    int show(Curriculum.Lab lab, Path labFile, Progress progress, boolean reset) throws IOException {
        Properties shown = load();
        if (reset) {
            shown.stringPropertyNames().stream().filter(k -> k.startsWith(lab.id() + "|")).forEach(shown::remove);
            store(shown);
            out.println("Hints for " + lab.label() + " start over from the first.");
            out.println();
        }
        Optional<Progress.Entry> current = progress.current(lab, labFile);
        if (current.isPresent() && current.get().passed()) {
            out.println("✓ " + lab.label() + " passes every check: no hint needed. The progress table: ./jbang grade");
            return 0;
        }
        if (current.isPresent() && current.get().compileError()) {
            out.println("✗ " + LabCompiler.displayName(labFile, root) + " does not compile: javac's message says where."
                    + " ./jbang grade " + lab.id() + " shows it.");
            return 1;
        }
        Optional<Target> target = current.flatMap(entry -> fromGrade(lab, labFile, entry, null))
                .or(() -> firstTodoLeft(labFile))
                .or(() -> progress.last(lab).flatMap(entry -> fromGrade(lab, labFile, entry,
                        "from your last grading, before your latest changes: grade again for a hint that follows them")));
        if (target.isEmpty()) {
            out.println("No grade of " + lab.label() + " yet, and no TODO left in it: grade it first (./jbang grade " + lab.id()
                    + "), then --hint gives hints for the first check that fails.");
            return 1;
        }
        List<Curriculum.Hint> hints = lab.hintsFor(target.get().key());
        String about = target.get().shown();
        if (hints.isEmpty()) {
            hints = lab.hints();
            about = lab.label();
        }
        String stateKey = lab.id() + "|" + target.get().key();
        int index = Math.min(Integer.parseInt(shown.getProperty(stateKey, "0")), hints.size() - 1);
        out.printf("Hint %d of %d for: %s%n", index + 1, hints.size(), about);
        if (target.get().note() != null) {
            out.println("(" + target.get().note() + ")");
        }
        out.println();
        out.println(Grade.indent(hints.get(index).text().strip()));
        out.println();
        out.println(index + 1 < hints.size()
                ? "Run it again for a stronger hint. The guide has the whole story: guide/" + lab.label() + ".adoc"
                : "That was the last hint for this. solutions/" + lab.fileName() + " has the answer, if you must;"
                  + " ./jbang grade " + lab.id() + " --hint --reset starts the hints over.");
        shown.setProperty(stateKey, Integer.toString(index + 1));
        store(shown);
        return 0;
    }

    /** The check to fix first in a grade, as a hint target. */
    private Optional<Target> fromGrade(Curriculum.Lab lab, Path labFile, Progress.Entry entry, String note) {
        return entry.toGrade(lab, labFile.toString()).fixFirst().map(check -> {
            return LabUnderTest.TodoNotDone.in(check.message())
                    .map(todo -> new Target("TODO " + todo.number(), todoLabel(labFile, todo.number()), note))
                    .orElseGet(() -> new Target(check.name(), check.name(), note));
        });
    }

    /** The first {@code throw Workshop.todo(n, ...)} left in the file: where a learner who has not graded yet is. */
    private static Optional<Target> firstTodoLeft(Path labFile) {
        try {
            Matcher m = TODO_IN_FILE.matcher(Files.readString(labFile, StandardCharsets.UTF_8));
            return m.find() ? Optional.of(new Target("TODO " + m.group(1), "TODO " + m.group(1) + ": " + m.group(2), null))
                    : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static String todoLabel(Path labFile, int number) {
        try {
            Matcher m = TODO_IN_FILE.matcher(Files.readString(labFile, StandardCharsets.UTF_8));
            while (m.find()) {
                if (Integer.parseInt(m.group(1)) == number) {
                    return "TODO " + number + ": " + m.group(2);
                }
            }
        } catch (IOException e) {
            // the label is only decoration
        }
        return "TODO " + number;
    }

    private Properties load() throws IOException {
        Properties shown = new Properties();
        if (Files.exists(state)) {
            try (InputStream in = Files.newInputStream(state)) {
                shown.load(in);
            }
        }
        return shown;
    }

    private void store(Properties shown) throws IOException {
        Files.createDirectories(state.getParent());
        try (OutputStream o = Files.newOutputStream(state)) {
            shown.store(o, "hints shown per lab and target");
        }
    }
}
