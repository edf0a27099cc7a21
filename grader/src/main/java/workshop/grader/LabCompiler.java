package workshop.grader;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * Compiles one lab file on its own, against the grader's class path (Kafka clients and the
 * shared support code), so a compile error in one lab fails only that lab.
 */
public final class LabCompiler {

    /** Either the folder of compiled classes, or javac's messages. */
    public record Compiled(Path classes, String errors) {
        public boolean ok() {
            return errors == null;
        }
    }

    public static Compiled compile(Path source, Path displayRoot) {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            throw new IllegalStateException("The grader needs a JDK (javac), not just a JRE");
        }
        try {
            Path out = Files.createTempDirectory("lab-classes-");
            DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
            try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT, null)) {
                List<String> options = List.of(
                        "-d", out.toString(),
                        "-classpath", System.getProperty("java.class.path"),
                        "-proc:none",
                        "-encoding", "UTF-8",
                        "-nowarn");
                boolean ok = javac.getTask(new StringWriter(), files, diagnostics, options, null,
                        files.getJavaFileObjects(source.toFile())).call();
                if (ok) {
                    return new Compiled(out, null);
                }
            }
            deleteQuietly(out);
            return new Compiled(null, describe(diagnostics, source, displayRoot));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String describe(DiagnosticCollector<JavaFileObject> diagnostics, Path source, Path displayRoot) {
        String shown = displayName(source, displayRoot);
        StringBuilder text = new StringBuilder();
        for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
            if (d.getKind() != Diagnostic.Kind.ERROR) {
                continue;
            }
            text.append(shown).append(':').append(d.getLineNumber()).append(": error: ")
                    .append(d.getMessage(Locale.ROOT)).append('\n');
            String line = sourceLine(source, d.getLineNumber());
            if (line != null) {
                text.append("    ").append(line).append('\n');
                if (d.getColumnNumber() > 0) {
                    text.append("    ").append(" ".repeat((int) d.getColumnNumber() - 1)).append("^\n");
                }
            }
        }
        return text.toString().stripTrailing();
    }

    /** Deletes a temp file or folder the grader made; a leftover is harmless. */
    static void deleteQuietly(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a leftover temp folder is harmless
        }
    }

    static String displayName(Path source, Path root) {
        Path absolute = source.toAbsolutePath().normalize();
        return root != null && absolute.startsWith(root) ? root.relativize(absolute).toString() : absolute.toString();
    }

    private static String sourceLine(Path source, long lineNumber) {
        try {
            List<String> lines = Files.readAllLines(source);
            return lineNumber >= 1 && lineNumber <= lines.size() ? lines.get((int) lineNumber - 1) : null;
        } catch (IOException e) {
            return null;
        }
    }
}
