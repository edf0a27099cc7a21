package workshop.grader;

import java.nio.file.Files;
import java.nio.file.Path;

import workshop.Workshop;

/** The kit's root folder, found from the working directory so the grader runs from anywhere inside it. */
public final class Project {

    private Project() {
    }

    /**
     * The folder the kit's launcher ran from ({@code KAFKA_WORKSHOP_HOME}, set by {@code ./jbang}),
     * so {@code /path/to/kit/jbang grade 02} works from any folder; else found from the working directory.
     */
    public static Path root() {
        String home = System.getenv("KAFKA_WORKSHOP_HOME");
        if (home != null && Files.isRegularFile(Path.of(home, "jbang-catalog.json"))) {
            return Path.of(home).toAbsolutePath();
        }
        return Workshop.workshopFolder();
    }
}
