package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import workshop.EmbeddedKafka;
import workshop.Workshop;

/** {@code ./jbang grade}: grades labs against a real broker and says what to do next. */
@Command(name = "grade", mixinStandardHelpOptions = true,
        description = "Grades your labs against a real Kafka broker. With no lab named, shows the progress of all labs.")
public final class Grade implements Callable<Integer> {

    @Parameters(arity = "0..*", paramLabel = "LAB", description = "lab numbers or names, e.g. 02 or 02-callback")
    List<String> labQueries = new ArrayList<>();

    @Option(names = "--hint", description = "show the next hint for the lab instead of grading it")
    boolean hint;

    @Option(names = "--watch", description = "re-grade whichever lab file is saved, until Ctrl+C")
    boolean watch;

    @Option(names = "--solutions", description = "grade the reference solutions instead of your labs")
    boolean solutions;

    @Option(names = "--file", paramLabel = "PATH", description = "grade this file as the named lab (e.g. a student's submission)")
    Path file;

    @Option(names = "--fixture", paramLabel = "NAME", description = "grade one of the lab's wrong-answer fixtures (grader/fixtures/NN-name/NAME.diff)")
    String fixture;

    @Option(names = "--bootstrap-server", paramLabel = "HOST:PORT", description = "grade against this broker instead of a fresh embedded one")
    String bootstrapServer;

    @Option(names = "--docker", description = "grade against Kafka in Docker (apache/kafka:4.3.1, via Testcontainers)")
    boolean docker;

    private Path root;
    private Curriculum curriculum;

    public static void main(String[] args) {
        Workshop.quietLogs();
        int code = new CommandLine(new Grade()).execute(args);
        System.out.flush();
        System.exit(code);
    }

    @Override
    public Integer call() throws Exception {
        root = Project.root();
        curriculum = Curriculum.load(root);
        List<Curriculum.Lab> named = new ArrayList<>();
        for (String query : labQueries) {
            Optional<Curriculum.Lab> lab = curriculum.find(query);
            if (lab.isEmpty()) {
                System.err.println("✗ There is no lab \"" + query + "\". Run ./jbang grade to list them.");
                return 2;
            }
            if (!lab.get().ready()) {
                System.err.println("· Lab " + lab.get().label() + " is coming in a later release of this kit.");
                return 2;
            }
            named.add(lab.get());
        }
        if (hint) {
            return showHint(named);
        }
        if (fixture != null) {
            return gradeFixture(named);
        }
        if (file != null && named.size() != 1) {
            System.err.println("✗ --file grades one file: name the lab it is, e.g. ./jbang grade 02 --file " + file);
            return 2;
        }
        boolean table = named.isEmpty() && !watch;
        List<Curriculum.Lab> toGrade = named.isEmpty() && !watch ? curriculum.ready() : named;
        try (GradingBroker broker = docker ? GradingBroker.startInDocker() : GradingBroker.start(bootstrapServer);
             LabRunner runner = new LabRunner(root, broker.bootstrapServers())) {
            Map<Curriculum.Lab, LabGrade> grades = new LinkedHashMap<>();
            for (Curriculum.Lab lab : toGrade) {
                grades.put(lab, gradeAndReport(runner, lab, fileFor(lab), !table));
            }
            if (table) {
                printTable(grades);
            }
            if (watch) {
                watchAndGrade(runner);
                return 0;
            }
            return grades.values().stream().allMatch(LabGrade::passed) ? 0 : 1;
        } catch (EmbeddedKafka.PortInUseException | Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            return 2;
        }
    }

    /** Grades one fixture the way the build does: applied to the solution, stopping at the first failure. */
    private int gradeFixture(List<Curriculum.Lab> named) {
        if (named.size() != 1) {
            System.err.println("✗ --fixture grades one lab's fixture: name the lab, e.g. ./jbang grade 02 --fixture " + fixture);
            return 2;
        }
        Curriculum.Lab lab = named.get(0);
        Optional<Fixture> found = Fixture.find(root, lab, fixture);
        if (found.isEmpty()) {
            System.err.println("✗ Lab " + lab.label() + " has no fixture \"" + fixture + "\". Its fixtures: "
                    + String.join(", ", Fixture.of(root, lab).stream().map(Fixture::name).toList()));
            return 2;
        }
        Fixture f = found.get();
        Path applied;
        try {
            applied = f.apply(root);
        } catch (Fixture.FixtureException e) {
            System.err.println("✗ " + e.getMessage());
            return 2;
        }
        try (GradingBroker broker = docker ? GradingBroker.startInDocker() : GradingBroker.start(bootstrapServer);
             LabRunner runner = new LabRunner(root, broker.bootstrapServers())) {
            String shown = "fixture " + f.name();
            System.out.printf("Grading %s (%s)%n  %s%n", lab.label(), shown, f.description());
            long start = System.nanoTime();
            LabGrade grade = runner.grade(lab, applied, shown, !f.mustPass());
            new Report(System.out).print(grade, (System.nanoTime() - start) / 1e9, true, true);
            Optional<String> problem = f.problemWith(grade);
            System.out.println(problem.map(p -> "✗ Not as the fixture expects: " + p.replace("\n", "\n  "))
                    .orElse(f.mustPass() ? "✓ As expected: a right answer, and it passes."
                            : "✓ As expected: a wrong answer, and it fails first for its reason (\"" + f.expect() + "\")."));
            return problem.isEmpty() ? 0 : 1;
        } catch (EmbeddedKafka.PortInUseException | Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            return 2;
        } finally {
            LabCompiler.deleteQuietly(applied.getParent());
        }
    }

    private Path fileFor(Curriculum.Lab lab) {
        if (file != null) {
            return file.toAbsolutePath();
        }
        return root.resolve(solutions ? "solutions" : "labs").resolve(lab.fileName());
    }

    private LabGrade gradeAndReport(LabRunner runner, Curriculum.Lab lab, Path path, boolean detailed) {
        System.out.printf("Grading %s (%s)...%n", lab.label(), LabCompiler.displayName(path, root));
        long start = System.nanoTime();
        LabGrade grade = runner.grade(lab, path);
        double seconds = (System.nanoTime() - start) / 1e9;
        new Report(System.out).print(grade, seconds, detailed, solutions || file != null);
        return grade;
    }

    private void printTable(Map<Curriculum.Lab, LabGrade> grades) {
        System.out.println();
        System.out.println("  Lab  Name                        Min  Status");
        int part = 0;
        for (Curriculum.Lab lab : curriculum.labs()) {
            if (lab.part() != part) {
                part = lab.part();
                System.out.println("  Part " + part);
            }
            LabGrade grade = grades.get(lab);
            String status = grade == null ? "· coming"
                    : grade.passed() ? "✓ done"
                    : grade.compileErrors() != null ? "✗ does not compile"
                    : "✗ " + grade.passedCount() + "/" + grade.checks().size() + " checks";
            System.out.printf("  %-4s %-27s %3d  %s%n", lab.id(), lab.name(), lab.minutes(), status);
        }
        long done = grades.values().stream().filter(LabGrade::passed).count();
        if (solutions) {
            // Spoken to the instructor: a failing reference solution is the kit's defect, not a learner's.
            System.out.printf("%nReference solutions: %d of %d ready labs pass.%n", done, grades.size());
            if (done < grades.size()) {
                System.out.println("A failing solution means the kit is broken on this machine: re-run that lab with"
                        + " ./jbang grade NN --solutions to see each check, and see grader/README.adoc.");
            }
            return;
        }
        System.out.printf("%nProgress: %d of %d ready labs done (%d labs in the workshop).%n", done, grades.size(), curriculum.labs().size());
        grades.values().stream().filter(g -> !g.passed()).findFirst().ifPresent(next ->
                System.out.printf("Next: lab %s. Run ./jbang labs/%s, then ./jbang grade %s%n",
                        next.lab().label(), next.lab().fileName(), next.lab().id()));
    }

    private int showHint(List<Curriculum.Lab> named) throws IOException {
        if (named.size() != 1) {
            System.err.println("✗ Name one lab for a hint, e.g. ./jbang grade 02 --hint");
            return 2;
        }
        Curriculum.Lab lab = named.get(0);
        Path state = root.resolve("build/hints.properties");
        Properties shown = new Properties();
        if (Files.exists(state)) {
            try (var in = Files.newInputStream(state)) {
                shown.load(in);
            }
        }
        int next = Integer.parseInt(shown.getProperty(lab.id(), "0"));
        int index = Math.min(next, lab.hints().size() - 1);
        System.out.printf("Hint %d of %d for %s:%n%n", index + 1, lab.hints().size(), lab.label());
        System.out.println(indent(lab.hints().get(index).strip()));
        System.out.println();
        System.out.println(index + 1 < lab.hints().size()
                ? "Run it again for a stronger hint. The guide has the whole story: guide/" + lab.label() + ".adoc"
                : "That was the last hint: solutions/" + lab.fileName() + " has the answer, if you must.");
        shown.setProperty(lab.id(), Integer.toString(index + 1));
        Files.createDirectories(state.getParent());
        try (var out = Files.newOutputStream(state)) {
            shown.store(out, "hints shown per lab");
        }
        return 0;
    }

    static String indent(String text) {
        return "  " + text.replace("\n", "\n  ");
    }

    private void watchAndGrade(LabRunner runner) throws IOException, InterruptedException {
        Path labs = root.resolve("labs");
        System.out.println();
        System.out.println("Watching " + LabCompiler.displayName(labs, root) + "/ : save a lab file to grade it. Ctrl+C to stop.");
        try (WatchService watcher = FileSystems.getDefault().newWatchService()) {
            labs.register(watcher, StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_CREATE);
            while (true) {
                WatchKey key = watcher.take();
                // Editors save in bursts (write, rename, touch): let the burst finish.
                TimeUnit.MILLISECONDS.sleep(300);
                Path changed = null;
                for (var event : key.pollEvents()) {
                    if (event.context() instanceof Path name && name.toString().endsWith(".java")) {
                        changed = labs.resolve(name);
                    }
                }
                key.reset();
                if (changed != null) {
                    Optional<Curriculum.Lab> lab = curriculum.find(changed.getFileName().toString());
                    if (lab.isPresent() && lab.get().ready()) {
                        System.out.println();
                        gradeAndReport(runner, lab.get(), changed, true);
                    }
                }
            }
        } catch (ClosedWatchServiceException e) {
            // Ctrl+C
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }
}
