package workshop.grader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The kit's files agree with each other: catalog, lab list, headers and pinned versions. */
class KitConsistencyTest {

    private final Path root = Project.root();
    private final Curriculum curriculum = Curriculum.load(root);

    @Test
    void everyCatalogAliasPointsAtAScriptThatExists() throws Exception {
        JsonNode aliases = new ObjectMapper().readTree(root.resolve("jbang-catalog.json").toFile()).get("aliases");
        assertThat(aliases.size()).isGreaterThan(0);
        aliases.properties().forEach(alias -> assertThat(root.resolve(alias.getValue().get("script-ref").asText()))
                .as("alias %s", alias.getKey())
                .isRegularFile());
        for (var alias : aliases.properties()) {
            if (alias.getValue().has("main")) {
                assertThat(Class.forName(alias.getValue().get("main").asText()).getMethod("main", String[].class))
                        .as("alias %s's main class", alias.getKey()).isNotNull();
            }
        }
        for (String verb : List.of("help", "grade", "reset", "broker", "playground", "guide", "slides", "prefetch", "join", "dashboard")) {
            assertThat(aliases.has(verb)).as("the catalog has the %s alias", verb).isTrue();
        }
        for (Curriculum.Lab lab : curriculum.ready()) {
            assertThat(aliases.has("lab-" + lab.id())).as("the catalog has an alias for lab %s", lab.id()).isTrue();
        }
    }

    @Test
    void theCurriculumHasSixteenLabsInOrder() {
        assertThat(curriculum.labs()).extracting(Curriculum.Lab::id)
                .containsExactly("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15");
    }

    @Test
    void everyReadyLabIsComplete() throws Exception {
        for (Curriculum.Lab lab : curriculum.ready()) {
            String starter = Files.readString(root.resolve("labs").resolve(lab.fileName()));
            String solution = Files.readString(root.resolve("solutions").resolve(lab.fileName()));
            assertThat(starter).as("labs/%s has a TODO that throws Workshop.todo", lab.fileName())
                    .contains("// TODO 1").contains("Workshop.todo(");
            assertThat(solution).as("solutions/%s has no TODO left", lab.fileName())
                    .doesNotContain("TODO").doesNotContain("Workshop.todo(");
            for (String header : List.of("///usr/bin/env jbang", "//JAVA 17+", "//DEPS org.apache.kafka:kafka-clients:4.3.1",
                    "//SOURCES ../support/workshop/*.java")) {
                assertThat(starter).as("labs/%s header", lab.fileName()).contains(header);
                assertThat(solution).as("solutions/%s header", lab.fileName()).contains(header);
            }
            assertThat(GradingTestSupport.fixtures(lab)).as("lab %s has wrong-answer fixtures", lab.id()).isNotEmpty();
            assertThat(Class.forName(lab.checker())).as("lab %s's checker", lab.id()).isNotNull();
            assertThat(root.resolve("guide").resolve(lab.label() + ".adoc")).as("lab %s's guide chapter", lab.id()).isRegularFile();
            assertThat(root.resolve("slides").resolve(lab.label() + ".adoc")).as("lab %s's slides", lab.id()).isRegularFile();
        }
    }

    /**
     * {@code --hint} answers where the learner is: each TODO of a starter has two or three hints
     * (a nudge first, the exact calls last), each check one to three, and each hint is for a TODO
     * or a check that exists.
     */
    @Test
    void everyTodoAndEveryCheckHasItsHints() throws Exception {
        for (Curriculum.Lab lab : curriculum.ready()) {
            String starter = Files.readString(root.resolve("labs").resolve(lab.fileName()));
            List<String> todos = Pattern.compile("// TODO (\\d+):").matcher(starter).results()
                    .map(m -> "TODO " + m.group(1)).distinct().toList();
            List<String> checks = Arrays.stream(Class.forName(lab.checker()).getDeclaredMethods())
                    .filter(m -> m.isAnnotationPresent(Test.class))
                    .map(m -> m.getAnnotation(DisplayName.class))
                    .filter(Objects::nonNull).map(DisplayName::value).toList();
            assertThat(todos).as("labs/%s's TODOs", lab.fileName()).isNotEmpty();
            assertThat(checks).as("%s's checks", lab.checker()).isNotEmpty();
            for (Curriculum.Hint hint : lab.hints()) {
                assertThat(hint.targets()).as("lab %s: each hint names what it is for", lab.id()).isNotEmpty();
                assertThat(hint.text()).as("lab %s: a hint for %s has text", lab.id(), hint.targets()).isNotBlank();
                for (String target : hint.targets()) {
                    assertThat(todos.contains(target) || checks.contains(target))
                            .as("lab %s: a hint is for \"%s\", which is none of its TODOs %s nor its checks %s", lab.id(), target, todos, checks)
                            .isTrue();
                }
            }
            for (String todo : todos) {
                assertThat(lab.hintsFor(todo)).as("lab %s: hints for %s", lab.id(), todo).hasSizeBetween(2, 3);
            }
            for (String check : checks) {
                assertThat(lab.hintsFor(check)).as("lab %s: hints for the check \"%s\"", lab.id(), check).hasSizeBetween(1, 3);
            }
        }
    }

    @Test
    void theReadmeAgendaNamesEveryLab() throws IOException {
        String readme = Files.readString(root.resolve("README.adoc"));
        for (Curriculum.Lab lab : curriculum.labs()) {
            assertThat(readme).as("README.adoc's agenda").contains(lab.label());
        }
        assertThat(readme).contains("./mvnw -B verify");
    }

    /** JBang scripts pin their own dependencies: they must be the versions Maven builds and tests. */
    @Test
    void everyJbangDependencyMatchesThePom() throws IOException {
        Map<String, String> pom = new HashMap<>();
        Matcher dep = Pattern.compile("<groupId>([^<]+)</groupId>\\s*<artifactId>([^<]+)</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(Files.readString(root.resolve("grader/pom.xml")));
        String pomText = Files.readString(root.resolve("grader/pom.xml"));
        while (dep.find()) {
            pom.put(dep.group(1) + ":" + dep.group(2), dep.group(3).replace("${kafka.version}", property(pomText, "kafka.version"))
                    .replace("${junit.version}", property(pomText, "junit.version"))
                    .replace("${junit.platform.version}", property(pomText, "junit.platform.version")));
        }
        Pattern deps = Pattern.compile("^//DEPS ([^:\\s]+):([^:\\s]+):(\\S+)", Pattern.MULTILINE);
        try (Stream<Path> files = Stream.of("labs", "solutions", "tools", "support/workshop")
                .flatMap(d -> list(root.resolve(d)))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                Matcher m = deps.matcher(Files.readString(file));
                while (m.find()) {
                    String ga = m.group(1) + ":" + m.group(2);
                    if (ga.startsWith("org.apache.kafka:")) {
                        assertThat(m.group(3)).as("%s pins %s", root.relativize(file), ga).isEqualTo("4.3.1");
                    }
                    if (pom.containsKey(ga)) {
                        assertThat(m.group(3)).as("%s pins %s like grader/pom.xml", root.relativize(file), ga).isEqualTo(pom.get(ga));
                    }
                }
            }
        }
    }

    /** A fixture that no longer applies to its solution fails the build, naming the fixture. */
    @Test
    void everyFixtureAppliesToItsSolution() throws IOException {
        for (Curriculum.Lab lab : curriculum.ready()) {
            try (Stream<Path> files = Files.list(Fixture.folder(root, lab))) {
                assertThat(files.map(f -> f.getFileName().toString()).filter(n -> !n.endsWith(".diff") && !n.endsWith(".txt")))
                        .as("grader/fixtures/%s holds only fixtures (.diff) and the first failures the guide quotes (.txt)", lab.label())
                        .isEmpty();
            }
            for (Fixture fixture : GradingTestSupport.fixtures(lab)) {
                Path applied = fixture.apply(root);
                LabCompiler.deleteQuietly(applied.getParent());
            }
            assertThat(GradingTestSupport.fixtures(lab).stream().filter(Fixture::mustPass))
                    .as("lab %s has at least two \"also right\" fixtures (expect: pass)", lab.id())
                    .hasSizeGreaterThanOrEqualTo(2);
        }
    }

    /**
     * Each ready chapter shows two or three wrong answers as diffs with the grader's real first
     * failure (a .txt the build checks against a real grading), and includes each diff from its
     * first line, past the preamble.
     */
    @Test
    void everyChapterShowsCommonMistakesFromRealFixtures() throws IOException {
        Pattern include = Pattern.compile("include::\\.\\./grader/fixtures/([^/]+)/([^/\\[]+)\\.(diff|txt)\\[([^\\]]*)\\]");
        for (Curriculum.Lab lab : curriculum.ready()) {
            String chapter = Files.readString(root.resolve("guide").resolve(lab.label() + ".adoc"));
            Matcher m = include.matcher(chapter);
            int diffs = 0;
            while (m.find()) {
                assertThat(m.group(1)).as("guide/%s.adoc includes its own lab's fixtures", lab.label()).isEqualTo(lab.label());
                Fixture fixture = Fixture.find(root, lab, m.group(2)).orElse(null);
                assertThat(fixture).as("guide/%s.adoc includes fixture %s, which exists", lab.label(), m.group(2)).isNotNull();
                if (m.group(3).equals("diff")) {
                    diffs++;
                    assertThat(m.group(4)).as("guide/%s.adoc includes %s.diff from its first diff line", lab.label(), m.group(2))
                            .isEqualTo("lines=" + fixture.diffStartLine() + "..-1");
                    assertThat(chapter).as("guide/%s.adoc quotes the grader's answer to %s", lab.label(), m.group(2))
                            .contains("include::../grader/fixtures/" + lab.label() + "/" + m.group(2) + ".txt[]");
                    assertThat(fixture.expectedMessage()).as("the first failure of %s, checked by the build", m.group(2)).isRegularFile();
                }
            }
            assertThat(diffs).as("guide/%s.adoc shows two or three wrong answers from grader/fixtures", lab.label()).isBetween(2, 3);
        }
    }

    /** A fresh clone is clean: no tracked file is stored with line endings that checkout would change. */
    @Test
    void aCleanCloneHasNothingToRenormalise() throws Exception {
        Process git = new ProcessBuilder("git", "ls-files", "--eol").directory(root.toFile()).redirectErrorStream(true).start();
        String out = new String(git.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        org.junit.jupiter.api.Assumptions.assumeTrue(git.waitFor() == 0, "not a git checkout: " + out.strip());
        List<String> dirty = out.lines()
                .filter(l -> l.contains("attr/text") && (l.startsWith("i/crlf") || l.startsWith("i/mixed")))
                .toList();
        assertThat(dirty).as("files stored with CRLF though .gitattributes normalises them (fix: git add --renormalize .)").isEmpty();
    }

    private static String property(String pom, String name) {
        Matcher m = Pattern.compile("<" + Pattern.quote(name) + ">([^<]+)</").matcher(pom);
        return m.find() ? m.group(1) : "?";
    }

    private static Stream<Path> list(Path dir) {
        try {
            return Files.list(dir).toList().stream();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
