package workshop.grader;

import java.nio.file.Files;
import java.nio.file.Path;

/** The kit's root folder, found from the working directory so the grader runs from anywhere inside it. */
public final class Project {

    private Project() {
    }

    public static Path root() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path candidate = dir; candidate != null; candidate = candidate.getParent()) {
            if (Files.isRegularFile(candidate.resolve("jbang-catalog.json")) && Files.isDirectory(candidate.resolve("labs"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("Run this inside the workshop folder (no jbang-catalog.json with labs/ above " + dir + ")");
    }
}
