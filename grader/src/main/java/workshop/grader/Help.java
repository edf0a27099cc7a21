package workshop.grader;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** {@code ./jbang help} (and {@code ./jbang} alone): the workshop's verbs, one line each, from the catalog. */
public final class Help {

    private Help() {
    }

    public static void main(String[] args) throws IOException {
        Path root = Project.root();
        JsonNode aliases = new ObjectMapper().readTree(root.resolve("jbang-catalog.json").toFile()).get("aliases");
        List<String> labs = new ArrayList<>();
        StringBuilder verbs = new StringBuilder();
        for (Map.Entry<String, JsonNode> alias : aliases.properties()) {
            if (alias.getKey().startsWith("lab-")) {
                labs.add(alias.getKey());
            } else {
                verbs.append(String.format("  ./jbang %-12s %s%n", alias.getKey(), alias.getValue().path("description").asText()));
            }
        }
        System.out.println("Asynchronous Kafka in Java: the workshop's commands.");
        System.out.println();
        System.out.println("  ./jbang labs/02-callback.java   run a lab (its TODOs first; it finds or starts a broker)");
        System.out.println("  ./jbang grade 02                grade it against a real broker; ./jbang grade 02 --hint when stuck");
        System.out.println();
        System.out.print(verbs);
        if (!labs.isEmpty()) {
            System.out.printf("  ./jbang %-12s run lab NN, the same as ./jbang labs/NN-name.java (%s to %s)%n",
                    "lab-NN", labs.get(0), labs.get(labs.size() - 1));
        }
        System.out.println();
        System.out.println("Each command takes --help. These work from any folder as " + root.resolve("jbang") + " ...");
        System.out.println("The whole story: README.adoc, or ./jbang guide for the guide as HTML.");
    }
}
