package workshop.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;

import workshop.grader.Curriculum;

/**
 * The kit's real docs: README.adoc with its chapters and the slides render strictly (no Asciidoctor
 * warning, no broken include or tag, nothing loaded from the network), and they keep up with
 * labs/info.yaml: every ready lab has its chapter in the guide and its section in the slides, and
 * the README's agenda matches the lab list.
 */
class ProjectDocsTest {

    private final Path root = projectRoot();
    private final Curriculum curriculum = Curriculum.load(root);

    /** The folder holding jbang-catalog.json, found walking up from the working directory. */
    static Path projectRoot() {
        Path start = Path.of("").toAbsolutePath().normalize();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("jbang-catalog.json"))) {
                return dir;
            }
        }
        throw new IllegalStateException("No jbang-catalog.json in " + start + " or above: run the tests inside the kit");
    }

    @Test
    void theGuideAndTheSlidesRenderWithoutProblems() {
        Path out = root.resolve("grader/target/docs-test");
        Docs.Result result = Docs.render(root, out, Docs.Target.ALL);
        assertThat(result.problems())
                .as("problems in the docs:%n%s", result.problemReport())
                .isEmpty();
        for (String name : List.of("guide", "slides")) {
            assertThat(result.output(name)).as("the %s was rendered", name).isPresent();
            assertThat(result.output(name).get().html()).as("the %s's HTML", name).isRegularFile();
        }
    }

    @Test
    void theReadmeIncludesTheChapterOfEveryReadyLab() throws IOException {
        String readme = Files.readString(root.resolve(Docs.GUIDE_SOURCE));
        for (Curriculum.Lab lab : curriculum.ready()) {
            String chapter = "guide/" + lab.label() + ".adoc";
            assertThat(root.resolve(chapter)).as("lab %s is ready, so its chapter exists", lab.id()).isRegularFile();
            assertThat(readme)
                    .as("lab %s is ready: README.adoc should include its chapter", lab.id())
                    .contains("include::" + chapter + "[leveloffset=+1]");
        }
    }

    @Test
    void theSlidesIncludeTheSectionOfEveryReadyLab() throws IOException {
        String slides = Files.readString(root.resolve(Docs.SLIDES_SOURCE));
        for (Curriculum.Lab lab : curriculum.ready()) {
            String section = lab.label() + ".adoc";
            assertThat(root.resolve("slides").resolve(section)).as("lab %s is ready, so its slides exist", lab.id()).isRegularFile();
            assertThat(slides)
                    .as("lab %s is ready: slides/slides.adoc should include its section", lab.id())
                    .contains("include::" + section + "[]");
        }
    }

    /** One agenda row: {@code | 02-callback | <<lab-02,Callbacks and a dead letter topic>> | 15 | ready}. */
    private static final Pattern AGENDA_ROW =
            Pattern.compile("^\\| (\\d\\d-[a-z0-9-]+) \\| (.+) \\| (\\d+) \\| (ready|coming)\\r?$", Pattern.MULTILINE);

    @Test
    void theReadmeAgendaMatchesTheLabList() throws IOException {
        Map<String, List<String>> rows = new LinkedHashMap<>();
        Matcher m = AGENDA_ROW.matcher(Files.readString(root.resolve(Docs.GUIDE_SOURCE)));
        while (m.find()) {
            rows.put(m.group(1), List.of(m.group(2), m.group(3), m.group(4)));
        }
        assertThat(List.copyOf(rows.keySet()))
                .as("the README's agenda lists every lab of labs/info.yaml, in order")
                .containsExactlyElementsOf(curriculum.labs().stream().map(Curriculum.Lab::label).toList());
        for (Curriculum.Lab lab : curriculum.labs()) {
            List<String> row = rows.get(lab.label());
            String title = lab.ready() ? "<<lab-" + lab.id() + "," + lab.title() + ">>" : lab.title();
            assertThat(row.get(0)).as("the agenda's title of lab %s (a ready lab links to its chapter)", lab.id()).isEqualTo(title);
            assertThat(Integer.parseInt(row.get(1))).as("the agenda's minutes for lab %s", lab.id()).isEqualTo(lab.minutes());
            assertThat(row.get(2)).as("the agenda's status of lab %s", lab.id()).isEqualTo(lab.ready() ? "ready" : "coming");
        }
    }
}
