package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Shared by the tests that grade real lab files: one broker for the JVM, and the fixtures. */
final class GradingTestSupport {

    private static GradingBroker broker;

    private GradingTestSupport() {
    }

    static synchronized LabRunner runner() {
        if (broker == null) {
            broker = GradingBroker.start(null);
            Runtime.getRuntime().addShutdownHook(new Thread(broker::close));
        }
        return new LabRunner(Project.root(), broker.bootstrapServers());
    }

    /** A wrong answer kept beside the checker, with the reason it must fail for. */
    record Fixture(Path file, String expectedReason) {
        String name() {
            return file.getFileName().toString();
        }
    }

    private static final Pattern EXPECT = Pattern.compile("^// expect: (.+)$", Pattern.MULTILINE);

    static List<Fixture> fixtures(Curriculum.Lab lab) {
        Path dir = Project.root().resolve("grader/fixtures").resolve(lab.label());
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".java")).sorted().map(f -> {
                try {
                    Matcher m = EXPECT.matcher(Files.readString(f));
                    if (!m.find()) {
                        throw new IllegalStateException(f + " has no \"// expect: <reason>\" line");
                    }
                    return new Fixture(f, m.group(1).strip());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
