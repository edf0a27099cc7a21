package workshop.room;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;

/**
 * Who grades in this checkout: a name the learner chose and an id made once, kept in
 * {@code build/learner.properties} (git-ignored), so a learner stays one row when they rename.
 */
public record Learner(String id, String name) {

    public static Path file(Path root) {
        return root.resolve("build").resolve("learner.properties");
    }

    /** The learner of this checkout, if they have joined a room. */
    public static Optional<Learner> load(Path root) {
        Path file = file(root);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        Properties stored = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            stored.load(in);
        } catch (IOException e) {
            return Optional.empty();
        }
        String id = stored.getProperty("id");
        String name = stored.getProperty("name");
        return id == null || name == null || name.isBlank() ? Optional.empty() : Optional.of(new Learner(id, name));
    }

    /** Saves {@code name} for this checkout, keeping the id made the first time. */
    public static Learner saveName(Path root, String name) {
        String id = load(root).map(Learner::id).orElseGet(() -> UUID.randomUUID().toString());
        Learner learner = new Learner(id, GradeEvent.cut(name));
        Properties stored = new Properties();
        stored.setProperty("id", learner.id());
        stored.setProperty("name", learner.name());
        try {
            Files.createDirectories(file(root).getParent());
            try (OutputStream out = Files.newOutputStream(file(root))) {
                stored.store(out, "Who grades in this checkout: shown on the room's dashboard");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return learner;
    }
}
