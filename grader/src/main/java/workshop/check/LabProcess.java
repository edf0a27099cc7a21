package workshop.check;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a piece of the learner's lab in a JVM of its own, so a checker can crash it the way
 * production crashes: {@link #crash()} halts that JVM on the spot. No {@code close()} runs, no
 * final commit is sent, no shutdown hook fires; the broker simply loses the connection.
 *
 * <p>A checker writes a {@link Body} (a public static nested class with a public no-argument
 * constructor) that builds real clients, wraps them where a crash should strike, and calls the
 * lab's methods. The body records what it processed with {@link #record}, which appends to a
 * file that outlives the crash.
 */
public final class LabProcess {

    /** The exit code of a JVM that {@link #crash()} ended: what a crash looks like from outside. */
    public static final int CRASHED = 137;
    /** The exit code of a body that threw: learner code failed, not a crash. */
    public static final int THREW = 3;

    /** Code that runs inside the separate JVM. */
    public interface Body {
        void run(String[] args) throws Exception;
    }

    /** How the separate JVM ended, and what it recorded. */
    public record Outcome(int exitCode, boolean timedOut, List<String> records, String output) {
        public boolean crashed() {
            return exitCode == CRASHED;
        }

        public boolean completed() {
            return exitCode == 0 && !timedOut;
        }
    }

    private static Path recordFile;

    private LabProcess() {
    }

    /** In the separate JVM: ends it now, like {@code kill -9}. */
    public static void crash() {
        System.out.flush();
        Runtime.getRuntime().halt(CRASHED);
    }

    /** In the separate JVM: notes one fact (e.g. "processed 42") where the checker can read it after a crash. */
    public static synchronized void record(String line) {
        try {
            // An unbuffered append: once write() returns, the line survives the JVM's death.
            Files.writeString(recordFile, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** In the checker: runs {@code body} with the lab under test in a new JVM, bounded in time. */
    public static Outcome run(Class<? extends Body> body, Duration bound, String... args) {
        try (Started started = start(body, args)) {
            // A body that never waits for go() ignores it; its bound starts now either way.
            started.go();
            return started.finish(bound);
        }
    }

    /**
     * In the checker: starts {@code body} in a new JVM now, ahead of need. The body prepares what
     * it can (class loading, clients) and waits in {@link #awaitGo()} until {@link Started#go()}:
     * a checker that restarts a crashed instance many times starts the next JVM while the current
     * one still runs, so the restart itself waits for nothing but the crash.
     */
    public static Started start(Class<? extends Body> body, String... args) {
        LabUnderTest lab = LabUnderTest.current();
        try {
            Path records = Files.createTempFile("lab-process-", ".records");
            Path output = Files.createTempFile("lab-process-", ".log");
            List<String> command = new ArrayList<>(List.of(
                    ProcessHandle.current().info().command().orElse("java"),
                    "-cp", System.getProperty("java.class.path"),
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=error",
                    "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
            String archive = System.getProperty("workshop.cds.archive");
            if (archive != null) {
                // The checking JVM's class data archive: this JVM loads the same classes.
                command.addAll(List.of("-XX:SharedArchiveFile=" + archive, "-Xshare:auto", "-Xlog:cds=off"));
            }
            command.addAll(List.of(LabProcess.class.getName(), body.getName(), lab.classesDir().toString(), lab.file(),
                    lab.bootstrapServers(), records.toString()));
            command.addAll(List.of(args));
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
            return new Started(process, records, output);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** In the separate JVM: waits until the checker calls {@link Started#go()}; ends the JVM if the checker is gone. */
    public static void awaitGo() {
        try {
            if (System.in.read() < 0) {
                Runtime.getRuntime().halt(CANCELLED);
            }
        } catch (IOException e) {
            Runtime.getRuntime().halt(CANCELLED);
        }
    }

    /** The exit code of a started JVM that was never let go. */
    public static final int CANCELLED = 4;

    /** A JVM started by {@link #start}: let it go, then wait for its outcome; close() ends it if it still runs. */
    public static final class Started implements AutoCloseable {
        private final Process process;
        private final Path records;
        private final Path output;

        private Started(Process process, Path records, Path output) {
            this.process = process;
            this.records = records;
            this.output = output;
        }

        /** Lets the body go on past {@link #awaitGo()}. */
        public void go() {
            try {
                process.getOutputStream().write('\n');
                process.getOutputStream().flush();
            } catch (IOException e) {
                // the JVM already ended (its body threw while preparing): finish() reports how
            }
        }

        /** Waits at most {@code bound} from now for the JVM to end, and says how it ended. */
        public Outcome finish(Duration bound) {
            try {
                boolean finished = process.waitFor(bound.toMillis(), TimeUnit.MILLISECONDS);
                if (!finished) {
                    process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
                return new Outcome(finished ? process.exitValue() : -1, !finished,
                        Files.readAllLines(records, StandardCharsets.UTF_8), Files.readString(output, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void close() {
            if (process.isAlive()) {
                process.destroyForcibly();
                try {
                    process.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                Files.deleteIfExists(records);
                Files.deleteIfExists(output);
            } catch (IOException e) {
                // a temp file left behind harms nothing
            }
        }
    }

    /** The separate JVM's entry point: body class, lab classes, lab file, bootstrap, record file, body arguments. */
    public static void main(String[] args) {
        recordFile = Path.of(args[4]);
        LabUnderTest.install(Path.of(args[1]), args[2], args[3]);
        String[] bodyArgs = java.util.Arrays.copyOfRange(args, 5, args.length);
        int exit = 0;
        try {
            Body body = (Body) Class.forName(args[0]).getDeclaredConstructor().newInstance();
            body.run(bodyArgs);
        } catch (Throwable e) {
            System.out.println("THREW " + LearnerMessages.describe(e));
            exit = THREW;
        }
        System.out.flush();
        // Learner threads must not keep this JVM alive after the body is done.
        Runtime.getRuntime().halt(exit);
    }
}
