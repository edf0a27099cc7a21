package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Shared by the tests that grade real lab files: one broker for the JVM, and the fixtures. */
final class GradingTestSupport {

    private static GradingBroker broker;

    private GradingTestSupport() {
    }

    private static LabRunner runner;

    /** One runner for the JVM: it keeps a checking JVM started ahead of the next grading. */
    static synchronized LabRunner runner() {
        if (broker == null) {
            broker = GradingBroker.start(null);
            runner = new LabRunner(Project.root(), broker.bootstrapServers());
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                runner.close();
                broker.close();
            }));
        }
        return runner;
    }

    static List<Fixture> fixtures(Curriculum.Lab lab) {
        return Fixture.of(Project.root(), lab);
    }

    /** The ready labs this run grades: all, or those named by {@code -Dlabs=02,10}. */
    static List<Curriculum.Lab> labsToGrade() {
        String only = System.getProperty("labs", "").strip();
        List<Curriculum.Lab> ready = Curriculum.load(Project.root()).ready();
        if (only.isEmpty()) {
            return ready;
        }
        List<String> ids = List.of(only.split("\\s*,\\s*"));
        return ready.stream().filter(lab -> ids.contains(lab.id()) || ids.contains(lab.label())).toList();
    }

    /** A copy of a lab file with one piece replaced, written where the grader can find it. */
    static Path variant(Path source, String replace, String with) {
        try {
            String text = Files.readString(source);
            if (!text.contains(replace)) {
                throw new IllegalStateException(source + " does not contain " + replace);
            }
            Path dir = Files.createTempDirectory("lab-variant-");
            Path copy = dir.resolve(source.getFileName());
            Files.writeString(copy, text.replace(replace, with));
            // Deleted in reverse order of registration at exit: the file, then its folder.
            dir.toFile().deleteOnExit();
            copy.toFile().deleteOnExit();
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
