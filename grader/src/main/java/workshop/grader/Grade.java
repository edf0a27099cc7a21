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
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import workshop.EmbeddedKafka;
import workshop.Workshop;
import workshop.room.GradeEvent;
import workshop.room.Learner;
import workshop.room.RoomPublisher;
import workshop.room.RoomSettings;

/** {@code ./jbang grade}: grades labs against a real broker and says what to do next. */
@Command(name = "grade", mixinStandardHelpOptions = true,
        description = "Grades your labs against a real Kafka broker. With no lab named, shows the progress of all labs.")
public final class Grade implements Callable<Integer> {

    @Parameters(arity = "0..*", paramLabel = "LAB", description = "lab numbers or names, e.g. 02 or 02-callback")
    List<String> labQueries = new ArrayList<>();

    @Option(names = "--hint", description = "show the next hint for where the lab is: its first failed check, or its next TODO")
    boolean hint;

    @Option(names = "--reset", description = "with --hint: start the lab's hints over")
    boolean resetHints;

    @Option(names = "--list", description = "show the progress table from the last grades, without grading anything")
    boolean list;

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

    @Option(names = "--room", paramLabel = "HOST:PORT",
            description = "also send each grade (never code) to this room's broker (default: $KAFKA_WORKSHOP_ROOM, else the room ./jbang join saved)")
    String room;

    @Option(names = "--room-config", paramLabel = "FILE", description = "with --room: client properties to log in to it, as Kafka's --command-config takes them")
    Path roomConfig;

    @Option(names = "--no-room", description = "send nothing to a room in this run")
    boolean noRoom;

    private Path root;
    private Curriculum curriculum;
    private Progress progress;
    /** Sends each grade to the room; null when there is no room (or for --file and --fixture). */
    private RoomPublisher publisher;
    private Learner learner;

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
                System.err.println("✗ " + curriculum.noSuchLab(query));
                return 2;
            }
            if (!lab.get().ready()) {
                System.err.println("· Lab " + lab.get().label() + " is coming in a later release of this kit.");
                return 2;
            }
            named.add(lab.get());
        }
        if (resetHints && !hint) {
            System.err.println("✗ --reset goes with --hint: ./jbang grade 02 --hint --reset starts lab 02's hints over."
                    + " To put a lab file back to its starter: ./jbang reset 02");
            return 2;
        }
        if (roomConfig != null && room == null) {
            System.err.println("✗ --room-config goes with --room: ./jbang grade 02 --room HOST:PORT --room-config FILE");
            return 2;
        }
        if (noRoom && (room != null || roomConfig != null)) {
            System.err.println("✗ --no-room and --room contradict each other: give one of them.");
            return 2;
        }
        if (docker && !hint) {
            // Before any file is compiled: --docker without Docker is the whole answer.
            try {
                GradingBroker.requireDocker();
            } catch (Workshop.WorkshopException e) {
                System.err.println("✗ " + e.getMessage());
                return 2;
            }
        }
        progress = Progress.load(root);
        if (hint) {
            if (named.size() != 1) {
                System.err.println("✗ Name one lab for a hint, e.g. ./jbang grade 02 --hint");
                return 2;
            }
            return new Hints(root, System.out).show(named.get(0), fileFor(named.get(0)), progress, resetHints);
        }
        if (fixture != null) {
            return gradeFixture(named);
        }
        if (file != null && named.size() != 1) {
            System.err.println("✗ --file grades one file: name the lab it is, e.g. ./jbang grade 02 --file " + file);
            return 2;
        }
        boolean table = named.isEmpty() && !watch;
        if (list && !table) {
            System.err.println("✗ --list shows the progress of every lab: use it without naming a lab (./jbang grade --list).");
            return 2;
        }
        // Made before the grading broker, so connecting to the room overlaps the grading.
        try (RoomPublisher roomPublisher = openRoom();
             GradingBroker.OnDemand broker = new GradingBroker.OnDemand(docker, bootstrapServer);
             LabRunner runner = new LabRunner(root, broker)) {
            publisher = roomPublisher;
            if (table) {
                return progressTable(runner);
            }
            boolean passed = true;
            for (Curriculum.Lab lab : named) {
                passed &= gradeAndReport(runner, lab, fileFor(lab), true).passed();
            }
            if (watch) {
                watchAndGrade(runner);
                return 0;
            }
            return passed ? 0 : 1;
        } catch (EmbeddedKafka.PortInUseException | Workshop.WorkshopException e) {
            System.err.println("✗ " + e.getMessage());
            return 2;
        }
    }

    /**
     * The progress table: each lab's remembered grade while its file and the grader are
     * unchanged, "not started" for a file that is still its starter, and a fresh grade for the
     * rest (none with --list). Reference solutions are always graded.
     */
    private int progressTable(LabRunner runner) {
        Starters starters = solutions ? null : Starters.of(root);
        Map<Curriculum.Lab, Row> rows = new LinkedHashMap<>();
        List<Curriculum.Lab> toGrade = new ArrayList<>();
        for (Curriculum.Lab lab : curriculum.ready()) {
            Path path = fileFor(lab);
            Optional<Progress.Entry> remembered = solutions ? Optional.empty() : progress.current(lab, path);
            if (!solutions && !Files.isRegularFile(path)) {
                rows.put(lab, Row.notDone("✗ no file: ./jbang reset " + lab.id() + " brings back its starter"));
            } else if (!solutions && starters.isStarter(lab, path)) {
                rows.put(lab, Row.notDone("· not started"));
            } else if (remembered.isPresent()) {
                rows.put(lab, Row.of(remembered.get().toGrade(lab, path.toString())));
            } else if (list) {
                rows.put(lab, Row.notDone(progress.last(lab).isPresent() ? "· changed since its last grade" : "· not graded yet"));
            } else {
                toGrade.add(lab);
            }
        }
        if (!toGrade.isEmpty() && !solutions) {
            System.out.println(toGrade.size() == 1 ? "1 lab changed since its last grade: grading it."
                    : toGrade.size() + " labs changed since their last grade: grading them.");
        }
        for (Curriculum.Lab lab : toGrade) {
            rows.put(lab, Row.of(gradeAndReport(runner, lab, fileFor(lab), false)));
        }
        printTable(rows);
        return rows.values().stream().allMatch(Row::done) ? 0 : 1;
    }

    /** One lab's line in the progress table. */
    private record Row(String status, boolean done) {
        static Row notDone(String status) {
            return new Row(status, false);
        }

        static Row of(LabGrade grade) {
            return new Row(statusOf(grade), grade.passed());
        }
    }

    private static String statusOf(LabGrade grade) {
        return grade.passed() ? "✓ done"
                : grade.compileErrors() != null ? "✗ does not compile"
                : "✗ " + grade.passedCount() + "/" + grade.checks().size() + " checks";
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
        try (GradingBroker.OnDemand broker = new GradingBroker.OnDemand(docker, bootstrapServer);
             LabRunner runner = new LabRunner(root, broker)) {
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

    /**
     * The room this run sends its grades to, if any: none with --no-room, none for --file (an
     * instructor grading someone else's file) and none for --fixture, which never get here.
     */
    private RoomPublisher openRoom() {
        if (noRoom || file != null || list) {
            return null;
        }
        Optional<RoomSettings> settings = RoomSettings.resolve(root, room, roomConfig, System::getenv, System.out);
        if (settings.isEmpty()) {
            return null;
        }
        learner = Learner.load(root).orElseGet(this::learnerFromLogin);
        return new RoomPublisher(settings.get(), System.out);
    }

    /** A room named by --room or the environment without a join: the learner is this machine's user. */
    private Learner learnerFromLogin() {
        String user = System.getProperty("user.name", "");
        String name = user.isBlank() ? "learner" : user;
        try {
            return Learner.saveName(root, name);
        } catch (UncheckedIOException e) {
            return new Learner(java.util.UUID.randomUUID().toString(), GradeEvent.cut(name)); // a read-only checkout: this run only
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
        if (!solutions && file == null) {
            progress.record(lab, path, grade);
        }
        if (publisher != null) {
            publisher.publish(GradeEvent.of(learner, grade, Instant.now(), Project.VERSION));
        }
        return grade;
    }

    private void printTable(Map<Curriculum.Lab, Row> rows) {
        System.out.println();
        System.out.println("  Lab  Name                        Min  Status");
        int part = 0;
        for (Curriculum.Lab lab : curriculum.labs()) {
            if (lab.part() != part) {
                part = lab.part();
                System.out.println("  Part " + part);
            }
            System.out.printf("  %-4s %-27s %3d  %s%n", lab.id(), lab.name(), lab.minutes(), rows.containsKey(lab) ? rows.get(lab).status() : "· coming");
        }
        long passed = rows.values().stream().filter(Row::done).count();
        if (solutions) {
            // Spoken to the instructor: a failing reference solution is the kit's defect, not a learner's.
            System.out.printf("%nReference solutions: %d of %d ready labs pass.%n", passed, rows.size());
            if (passed < rows.size()) {
                System.out.println("A failing solution means the kit is broken on this machine: re-run that lab with"
                        + " ./jbang grade NN --solutions to see each check, and see grader/README.adoc.");
            }
            return;
        }
        System.out.printf("%nProgress: %d of %d ready labs done (%d labs in the workshop).%n", passed, rows.size(), curriculum.labs().size());
        rows.entrySet().stream().filter(e -> !e.getValue().done()).findFirst().ifPresent(next ->
                System.out.printf("Next: lab %s. Run ./jbang labs/%s, then ./jbang grade %s%n",
                        next.getKey().label(), next.getKey().fileName(), next.getKey().id()));
        if (list) {
            System.out.println("(From the last grades: ./jbang grade, without --list, grades the labs that changed.)");
        }
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
