package workshop.grader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import workshop.Workshop;

/**
 * {@code ./jbang flakes}: grades every solution, starter and fixture of the ready labs several
 * times, optionally while a second grading run loads the machine, and counts each verdict that
 * differs from what the build expects. A benchmark, not a test: it prints the counts and the
 * grading times (min, median, max) per lab, and exits 1 when anything flaked.
 */
@Command(name = "flakes", mixinStandardHelpOptions = true,
        description = "Grades every solution, starter and fixture N times and counts flakes.")
public final class FlakeBench implements Callable<Integer> {

    @Parameters(arity = "0..*", paramLabel = "LAB", description = "labs to grade (default: every ready lab)")
    List<String> labQueries = new ArrayList<>();

    @Option(names = "--runs", defaultValue = "3", description = "how many times to grade each file (default ${DEFAULT-VALUE})")
    int runs;

    @Option(names = "--load", description = "grade the solutions over and over in parallel, to load the machine like a second grading run")
    boolean load;

    @Option(names = "--no-fixtures", description = "grade only the solutions and the starters")
    boolean noFixtures;

    /** One file graded as the build grades it, and how each of its gradings went. */
    private record Item(Curriculum.Lab lab, String what, Path file, Fixture fixture, List<Double> seconds, List<String> flakes) {
    }

    public static void main(String[] args) {
        Workshop.quietLogs();
        int code = new CommandLine(new FlakeBench()).execute(args);
        System.out.flush();
        System.exit(code);
    }

    @Override
    public Integer call() throws Exception {
        Path root = Project.root();
        Curriculum curriculum = Curriculum.load(root);
        List<Curriculum.Lab> labs = new ArrayList<>();
        for (String query : labQueries) {
            Optional<Curriculum.Lab> lab = curriculum.find(query).filter(Curriculum.Lab::ready);
            if (lab.isEmpty()) {
                System.err.println("✗ There is no ready lab \"" + query + "\".");
                return 2;
            }
            labs.add(lab.get());
        }
        if (labs.isEmpty()) {
            labs.addAll(curriculum.ready());
        }
        List<Item> items = new ArrayList<>();
        for (Curriculum.Lab lab : labs) {
            items.add(new Item(lab, "solution", root.resolve("solutions").resolve(lab.fileName()), null, new ArrayList<>(), new ArrayList<>()));
            items.add(new Item(lab, "starter", root.resolve("labs").resolve(lab.fileName()), null, new ArrayList<>(), new ArrayList<>()));
            if (!noFixtures) {
                for (Fixture fixture : Fixture.of(root, lab)) {
                    items.add(new Item(lab, "fixture " + fixture.name(), null, fixture, new ArrayList<>(), new ArrayList<>()));
                }
            }
        }
        System.out.printf("Grading %d files of %d labs, %d times each%s.%n", items.size(), labs.size(), runs,
                load ? ", while a second grading run loads the machine" : "");
        AtomicBoolean finished = new AtomicBoolean();
        AtomicInteger loadGradings = new AtomicInteger();
        long start = System.nanoTime();
        try (GradingBroker broker = GradingBroker.start(null);
             LabRunner runner = new LabRunner(root, broker.bootstrapServers())) {
            Thread loader = new Thread(() -> {
                while (!finished.get()) {
                    for (Curriculum.Lab lab : curriculum.ready()) {
                        if (finished.get()) {
                            return;
                        }
                        runner.grade(lab, root.resolve("solutions").resolve(lab.fileName()));
                        loadGradings.incrementAndGet();
                    }
                }
            }, "load");
            loader.setDaemon(true);
            if (load) {
                loader.start();
            }
            for (int run = 1; run <= runs; run++) {
                for (Item item : items) {
                    grade(root, runner, item, run);
                }
            }
            finished.set(true);
        }
        print(items, labs, (System.nanoTime() - start) / 1e9, loadGradings.get());
        return items.stream().allMatch(i -> i.flakes().isEmpty()) ? 0 : 1;
    }

    private void grade(Path root, LabRunner runner, Item item, int run) {
        Path file = item.fixture() == null ? item.file() : item.fixture().apply(root);
        long start = System.nanoTime();
        try {
            boolean failFast = item.fixture() != null && !item.fixture().mustPass();
            LabGrade grade = runner.grade(item.lab(), file, item.what(), failFast);
            double seconds = (System.nanoTime() - start) / 1e9;
            item.seconds().add(seconds);
            Optional<String> problem = verdict(item, grade);
            problem.ifPresent(p -> item.flakes().add("run " + run + ": " + p));
            System.out.printf(Locale.ROOT, "  run %d  %-26s %-44s %s %5.1f s%n", run, item.lab().label(), item.what(),
                    problem.isEmpty() ? "✓ as expected" : "✗ FLAKE", seconds);
            problem.ifPresent(p -> System.out.println("      " + p.replace("\n", "\n      ")));
        } finally {
            if (item.fixture() != null) {
                LabCompiler.deleteQuietly(file.getParent());
            }
        }
    }

    /** What the build expects of this file's grade, or why this grade is not it. */
    static Optional<String> verdict(Item item, LabGrade grade) {
        if (item.fixture() != null) {
            return item.fixture().problemWith(grade);
        }
        if (item.what().equals("solution")) {
            return grade.passed() ? Optional.empty() : Optional.of("the solution failed:\n" + grade.allMessages());
        }
        boolean onTodo = !grade.passed() && grade.compileErrors() == null && !grade.failures().isEmpty()
                && grade.failures().get(0).message().contains("TODO")
                && grade.failures().stream().allMatch(f -> f.message().contains("TODO") || f.message().contains("Not run"));
        return onTodo ? Optional.empty() : Optional.of("the starter did not fail on its TODOs:\n" + grade.allMessages());
    }

    private void print(List<Item> items, List<Curriculum.Lab> labs, double seconds, int loadGradings) {
        System.out.println();
        System.out.printf(Locale.ROOT, "%d runs%s, %.0f s in all.%n", runs,
                load ? " under load (" + loadGradings + " solution gradings ran beside them)" : "", seconds);
        System.out.printf(Locale.ROOT, "  %-26s %-10s %6s %8s %8s %8s %8s%n", "lab", "files", "graded", "flakes", "min s", "median s", "max s");
        Map<String, List<Item>> groups = new LinkedHashMap<>();
        for (Curriculum.Lab lab : labs) {
            for (String kind : List.of("solution", "starter", "fixtures")) {
                groups.put(lab.label() + "\t" + kind, new ArrayList<>());
            }
        }
        for (Item item : items) {
            String kind = item.fixture() != null ? "fixtures" : item.what();
            groups.get(item.lab().label() + "\t" + kind).add(item);
        }
        int totalFlakes = 0;
        int totalGraded = 0;
        for (Map.Entry<String, List<Item>> group : groups.entrySet()) {
            if (group.getValue().isEmpty()) {
                continue;
            }
            String[] key = group.getKey().split("\t");
            List<Double> times = group.getValue().stream().flatMap(i -> i.seconds().stream()).sorted().toList();
            int flakes = group.getValue().stream().mapToInt(i -> i.flakes().size()).sum();
            totalFlakes += flakes;
            totalGraded += times.size();
            System.out.printf(Locale.ROOT, "  %-26s %-10s %6d %8d %8.1f %8.1f %8.1f%n", key[0], key[1], times.size(), flakes,
                    times.get(0), times.get(times.size() / 2), times.get(times.size() - 1));
        }
        System.out.printf("%nFlakes: %d of %d gradings.%n", totalFlakes, totalGraded);
        items.stream().filter(i -> !i.flakes().isEmpty()).forEach(i ->
                i.flakes().forEach(f -> System.out.println("  " + i.lab().label() + " " + i.what() + ", " + f.lines().findFirst().orElse(""))));
    }
}
