package workshop.grader;

import java.nio.file.Path;

import workshop.Workshop;

/** The kit's root folder, found from the working directory so the grader runs from anywhere inside it. */
public final class Project {

    private Project() {
    }

    /** The kit's folder: where the ./jbang launcher ran from, else found from the working directory. */
    public static Path root() {
        return Workshop.workshopFolder();
    }
}
