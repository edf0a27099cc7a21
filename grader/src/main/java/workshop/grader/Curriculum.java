package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

/** The lab list, read from labs/info.yaml: order, minutes, checker and hints. */
public record Curriculum(List<Lab> labs) {

    /** One lab: {@code id} is its two-digit number, {@code name} its file name without .java. */
    public record Lab(String id, String name, String title, int part, int minutes, boolean ready, String checker, List<Hint> hints) {

        /** The hints for one target ("TODO 2", or a check's name), in the order they are given. */
        public List<Hint> hintsFor(String target) {
            return hints.stream().filter(h -> h.targets().contains(target)).toList();
        }

        public String fileName() {
            return id + "-" + name + ".java";
        }

        public String label() {
            return id + "-" + name;
        }
    }

    /**
     * A hint, for the TODOs ("TODO 1") and checks (by name) it helps with; a target's hints go
     * from a nudge to the exact calls.
     */
    public record Hint(@JsonProperty("for") List<String> targets, String text) {
    }

    public static Curriculum load(Path root) {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory())
                .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);
        try {
            Curriculum curriculum = yaml.readValue(root.resolve("labs/info.yaml").toFile(), Curriculum.class);
            return curriculum;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read labs/info.yaml: " + e.getMessage(), e);
        }
    }

    /** Finds a lab by number ("2", "02") or by name ("02-callback", "callback"). */
    public Optional<Lab> find(String query) {
        String q = query.endsWith(".java") ? query.substring(0, query.length() - 5) : query;
        String q2 = q.length() == 1 && Character.isDigit(q.charAt(0)) ? "0" + q : q;
        return labs.stream()
                .filter(lab -> lab.id().equals(q2) || lab.label().equals(q) || lab.name().equals(q))
                .findFirst();
    }

    /** What to say for a lab that does not exist: the labs that do. */
    public String noSuchLab(String query) {
        return "There is no lab \"" + query + "\". The labs: " + String.join(", ", labs.stream().map(Lab::label).toList()) + ".";
    }

    public List<Lab> ready() {
        return labs.stream().filter(Lab::ready).toList();
    }
}
