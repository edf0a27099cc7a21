package workshop.grader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

/** The lab list, read from labs/info.yaml: order, minutes, checker and hints. */
public record Curriculum(List<Lab> labs) {

    /** One lab: {@code id} is its two-digit number, {@code name} its file name without .java. */
    public record Lab(String id, String name, String title, int part, int minutes, boolean ready, String checker, List<String> hints) {

        public String fileName() {
            return id + "-" + name + ".java";
        }

        public String label() {
            return id + "-" + name;
        }
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

    public List<Lab> ready() {
        return labs.stream().filter(Lab::ready).toList();
    }
}
