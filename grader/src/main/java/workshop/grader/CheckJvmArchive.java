package workshop.grader;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Class data sharing for the checking JVMs: every grading starts a JVM that loads the same few
 * thousand classes (Kafka's clients, JUnit, AssertJ), and on two cores that loading is much of a
 * grading's cost. The first checking JVM lists the classes it loads; a background JVM then dumps
 * them into an archive under {@code build/cds/}, which every later checking JVM maps instead of
 * loading and verifying each class again. Nothing depends on it: a JVM that cannot use the
 * archive loads its classes as usual, and {@code -Dworkshop.cds=false} (or {@code WORKSHOP_CDS=false}) turns it off.
 *
 * <p>Only JAR files can be archived, so the class path puts the JARs first and the folders
 * (Maven's {@code target/classes}) after them: the archive's class path is then a prefix of the
 * JVM's, as class data sharing requires.
 */
final class CheckJvmArchive {

    private final String javaExecutable;
    private final List<String> jars = new ArrayList<>();
    private final List<String> folders = new ArrayList<>();
    private final Path archive;
    private final Path classList;
    private final AtomicBoolean listing = new AtomicBoolean();

    CheckJvmArchive(Path root, String javaExecutable, String classPath) {
        this.javaExecutable = javaExecutable;
        for (String entry : classPath.split(File.pathSeparator)) {
            if (entry.isEmpty()) {
                continue;
            }
            (entry.endsWith(".jar") ? jars : folders).add(entry);
        }
        Path dir = root.resolve("build/cds");
        String key = hash(System.getProperty("java.home") + "|" + System.getProperty("java.vm.version") + "|" + String.join(File.pathSeparator, jars));
        this.archive = dir.resolve("checks-" + key + ".jsa");
        this.classList = dir.resolve("checks-" + key + ".classlist");
    }

    /** The class path for a checking JVM: the same entries, JARs first. */
    String classPath() {
        List<String> all = new ArrayList<>(jars);
        all.addAll(folders);
        return String.join(File.pathSeparator, all);
    }

    /**
     * The options that make a new checking JVM use the archive, or list its classes for one when
     * there is none yet and no other JVM is listing. {@code listed} is then set to true.
     */
    List<String> options(boolean[] listed) {
        String enabled = System.getProperty("workshop.cds", System.getenv().getOrDefault("WORKSHOP_CDS", "true"));
        if (!Boolean.parseBoolean(enabled)) {
            return List.of();
        }
        if (Files.isRegularFile(archive)) {
            // The lab JVMs a check starts (LabProcess) have the same class path: they map the archive too.
            return List.of("-XX:SharedArchiveFile=" + archive, "-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+map=off",
                    "-Dworkshop.cds.archive=" + archive);
        }
        if (!jars.isEmpty() && listing.compareAndSet(false, true)) {
            try {
                Files.createDirectories(classList.getParent());
            } catch (IOException e) {
                return List.of();
            }
            listed[0] = true;
            return List.of("-XX:DumpLoadedClassList=" + classList);
        }
        return List.of();
    }

    /** Once the listing JVM has graded a lab, dumps the archive in the background, bounded. */
    void dumpInBackground() {
        Thread dump = new Thread(() -> {
            Path partial = archive.resolveSibling(archive.getFileName() + ".partial");
            try {
                Process process = new ProcessBuilder(javaExecutable, "-Xshare:dump",
                        "-XX:SharedClassListFile=" + classList, "-XX:SharedArchiveFile=" + partial,
                        "-cp", String.join(File.pathSeparator, jars))
                        .redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .start();
                if (process.waitFor(2, TimeUnit.MINUTES) && process.exitValue() == 0 && Files.isRegularFile(partial)) {
                    Files.move(partial, archive, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } else {
                    process.destroyForcibly();
                }
            } catch (IOException e) {
                // no archive: checking JVMs load their classes as usual
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                LabCompiler.deleteQuietly(partial);
            }
        }, "class-data-archive");
        dump.setDaemon(true);
        dump.start();
    }

    private static String hash(String text) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
