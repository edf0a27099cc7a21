package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Grades one lab file: compiles it alone, then runs its checker in a fresh JVM against the
 * grading broker, bounded in time. A hang or a {@code System.exit} in learner code becomes a
 * failed check with a message, never a stuck or dead grader.
 */
public final class LabRunner implements AutoCloseable {

    /** Far above the sum of the per-check bounds: only a wedged JVM ever reaches it. */
    static final Duration LAB_BOUND = Duration.ofMinutes(4);

    private final Path root;
    /** Asked only once a lab compiles: the cheap verdicts need no broker. */
    private final Supplier<String> bootstrapServers;
    private Process standby;
    private Process listingJvm;
    private static CheckJvmArchive archive;
    private int gradings;

    public LabRunner(Path root, String bootstrapServers) {
        this(root, () -> bootstrapServers);
    }

    public LabRunner(Path root, Supplier<String> bootstrapServers) {
        this.root = root;
        this.bootstrapServers = bootstrapServers;
    }

    public LabGrade grade(Curriculum.Lab lab, Path file) {
        return grade(lab, file, LabCompiler.displayName(file, root), false);
    }

    /**
     * Grades {@code file}, naming it {@code shown} in every message. With {@code failFast} the
     * checks stop at the first failure and the rest are reported as not run: enough to prove
     * that a wrong answer fails, and for which reason.
     */
    public LabGrade grade(Curriculum.Lab lab, Path file, String shown, boolean failFast) {
        if (!Files.isRegularFile(file)) {
            return new LabGrade(lab, shown, null, List.of(), "There is no file " + shown + ".");
        }
        LabCompiler.Compiled compiled = LabCompiler.compile(file, root);
        if (!compiled.ok()) {
            return new LabGrade(lab, shown, compiled.errors(), List.of(), null);
        }
        try {
            String bootstrap;
            try {
                bootstrap = bootstrapServers.get();
            } catch (RuntimeException e) {
                LabCompiler.deleteQuietly(compiled.classes());
                throw e;
            }
            Path results = Files.createTempFile("lab-results-", ".txt");
            Process process = takeStandby();
            List<String> job = List.of(lab.checker(), compiled.classes().toString(), shown, bootstrap,
                    results.toString(), Boolean.toString(failFast));
            try (var in = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8)) {
                in.write(String.join("\n", job) + "\n\n");
            }
            boolean finished = process.waitFor(LAB_BOUND.toMillis(), TimeUnit.MILLISECONDS);
            if (process == listingJvm) {
                archive().dumpInBackground();
            }
            if (!finished) {
                // The checker's own lab JVMs first: a crash-injecting check may have left one running.
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            try {
                return read(lab, shown, Files.readAllLines(results, StandardCharsets.UTF_8), finished, process.exitValue());
            } finally {
                LabCompiler.deleteQuietly(results);
                LabCompiler.deleteQuietly(compiled.classes());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Grading was interrupted", e);
        }
    }

    /**
     * A checking JVM for this grading: the one started ahead of time if there is one, and a new
     * one put on standby for the next grading, so its start overlaps this lab's checks. Each
     * JVM grades one lab only, so learner code never outlives its own grading.
     */
    private synchronized Process takeStandby() throws IOException {
        Process process = standby != null && standby.isAlive() ? standby : startJvm();
        // A single grading needs no spare: only a runner that grades again keeps one ready.
        standby = ++gradings > 1 ? startJvm() : null;
        return process;
    }

    private Process startJvm() throws IOException {
        boolean[] listed = {false};
        List<String> command = new ArrayList<>(List.of(javaExecutable(), "-cp", archive().classPath()));
        command.addAll(archive().options(listed));
        command.addAll(List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                CheckRunner.class.getName(), CheckRunner.STANDBY));
        // What the checks print is not read: they report through the results file.
        Process process = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (listed[0]) {
            listingJvm = process;
        }
        return process;
    }

    private static synchronized CheckJvmArchive archive() {
        if (archive == null) {
            archive = new CheckJvmArchive(Project.root(), javaExecutable(), System.getProperty("java.class.path"));
        }
        return archive;
    }

    /** Ends the JVM kept on standby; it would end by itself once this JVM is gone. */
    @Override
    public synchronized void close() {
        if (standby != null) {
            standby.destroyForcibly();
            standby = null;
        }
    }

    private static LabGrade read(Curriculum.Lab lab, String shown, List<String> lines, boolean finished, int exitCode) {
        List<String> planned = new ArrayList<>();
        Map<String, LabGrade.Check> checks = new LinkedHashMap<>();
        String running = null;
        boolean done = false;
        for (String line : lines) {
            String[] parts = line.split("\t", 3);
            switch (parts[0]) {
                case "PLAN" -> planned.add(ResultLine.unescape(parts[1]));
                case "START" -> running = ResultLine.unescape(parts[1]);
                case "PASS" -> {
                    checks.put(ResultLine.unescape(parts[1]), new LabGrade.Check(ResultLine.unescape(parts[1]), true, null));
                    running = null;
                }
                case "FAIL" -> {
                    String[] fields = line.split("\t", 4);
                    String name = ResultLine.unescape(fields[1]);
                    checks.put(name, new LabGrade.Check(name, false, fields.length > 2 ? ResultLine.unescape(fields[2]) : "failed",
                            fields.length > 3 ? ResultLine.unescape(fields[3]) : null));
                    running = null;
                }
                case "DONE" -> done = true;
                default -> { }
            }
        }
        String crash = null;
        if (!done) {
            crash = !finished
                    ? "The checks did not finish within " + LAB_BOUND.toMinutes() + " minutes and were stopped."
                    : "The lab's code ended the checking JVM (exit code " + exitCode + "): does it call System.exit or Runtime.halt? "
                      + "A lab's methods must return or throw; only main may exit.";
            if (running != null && !running.equals(CheckRunner.SETUP)) {
                checks.put(running, new LabGrade.Check(running, false, crash));
            }
        }
        // A set-up that never finished takes every check with it, for the same reason.
        String notRun = crash != null && (running == null || running.equals(CheckRunner.SETUP)) ? crash
                : "Not run: the checks stopped before this one (see the failure above).";
        List<LabGrade.Check> ordered = new ArrayList<>();
        for (String name : planned) {
            ordered.add(checks.containsKey(name) ? checks.remove(name)
                    : new LabGrade.Check(name, false, notRun));
        }
        ordered.addAll(checks.values());
        return new LabGrade(lab, shown, null, ordered, crash);
    }

    private static String javaExecutable() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }
}
