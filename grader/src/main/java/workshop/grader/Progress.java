package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

/**
 * The learner's last grade of each lab, kept in {@code build/progress.json} and keyed by the
 * content of the lab file and of the grader: a grade is reused only while neither changed, so
 * the progress table costs no broker, and a changed lab or checker is graded again.
 */
final class Progress {

    /** One lab's last grade, as the table and the hints need it. */
    record Entry(String fileHash, String graderHash, String gradedAt, boolean passed, boolean compileError,
                 String crash, List<LabGrade.Check> checks) {

        static Entry of(LabGrade grade, String fileHash, String graderHash) {
            return new Entry(fileHash, graderHash, Instant.now().toString(), grade.passed(), grade.compileErrors() != null,
                    grade.crash(), grade.checks());
        }

        long passedCount() {
            return checks.stream().filter(LabGrade.Check::passed).count();
        }

        /** The grade again, enough for {@link LabGrade#fixFirst()} and the table. */
        LabGrade toGrade(Curriculum.Lab lab, String file) {
            return new LabGrade(lab, file, compileError ? "does not compile" : null, checks, crash);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .enable(SerializationFeature.INDENT_OUTPUT);

    private final Path file;
    private final String graderHash;
    private final Map<String, Entry> entries;

    private Progress(Path file, String graderHash, Map<String, Entry> entries) {
        this.file = file;
        this.graderHash = graderHash;
        this.entries = entries;
    }

    static Progress load(Path root) {
        Path file = root.resolve("build/progress.json");
        Map<String, Entry> entries = new TreeMap<>();
        if (Files.isRegularFile(file)) {
            try {
                entries.putAll(JSON.readValue(file.toFile(), JSON.getTypeFactory().constructMapType(TreeMap.class, String.class, Entry.class)));
            } catch (IOException e) {
                // A damaged record costs a re-grade, nothing more.
                entries.clear();
            }
        }
        return new Progress(file, graderHash(root), entries);
    }

    /** The lab's grade if it still holds: same file content, same grader. */
    Optional<Entry> current(Curriculum.Lab lab, Path labFile) {
        Entry entry = entries.get(lab.id());
        if (entry == null || !entry.graderHash().equals(graderHash)) {
            return Optional.empty();
        }
        return fileHash(labFile).filter(entry.fileHash()::equals).map(h -> entry);
    }

    /** The lab's last grade, even if the file or the grader changed since. */
    Optional<Entry> last(Curriculum.Lab lab) {
        return Optional.ofNullable(entries.get(lab.id()));
    }

    void record(Curriculum.Lab lab, Path labFile, LabGrade grade) {
        fileHash(labFile).ifPresent(hash -> {
            entries.put(lab.id(), Entry.of(grade, hash, graderHash));
            save();
        });
    }

    private void save() {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = Files.createTempFile(file.getParent(), "progress-", ".tmp");
            JSON.writeValue(tmp.toFile(), entries);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            // The grade was printed; only the memory of it is lost.
            System.err.println("(Could not remember this grade in " + file + ": " + e.getMessage() + ")");
        }
    }

    static Optional<String> fileHash(Path labFile) {
        try {
            return Optional.of(sha256(List.of(labFile)));
        } catch (UncheckedIOException e) {
            return Optional.empty();
        }
    }

    /** Everything a grade depends on besides the lab file: the grader, its checkers, the labs' support code. */
    static String graderHash(Path root) {
        List<Path> sources = new ArrayList<>();
        for (String folder : List.of("grader/src/main/java", "support")) {
            Path dir = root.resolve(folder);
            if (Files.isDirectory(dir)) {
                try (Stream<Path> files = Files.walk(dir)) {
                    files.filter(Files::isRegularFile).sorted().forEach(sources::add);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        Path script = root.resolve("tools/grade.java");
        if (Files.isRegularFile(script)) {
            sources.add(script);
        }
        return sha256(sources);
    }

    private static String sha256(List<Path> files) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (Path f : files) {
                digest.update(f.getFileName().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                digest.update(Files.readAllBytes(f));
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
