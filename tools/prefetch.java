///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.asciidoctor:asciidoctorj:3.0.1
//DEPS org.asciidoctor:asciidoctorj-revealjs:5.1.0
//DEPS org.apache.commons:commons-compress:1.28.0
//DEPS info.picocli:picocli:4.7.7
//SOURCES ../grader/src/main/java/workshop/docs/*.java
//MAIN Prefetch

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import workshop.docs.RevealJs;

/**
 * ./jbang prefetch: before a workshop on bad Wi-Fi, fetch everything once. JBang resolves this
 * script's dependencies (the docs toolchain) before it runs; then reveal.js is cached, and every
 * lab, solution and tool is built, which resolves Kafka, the broker and the grader's libraries.
 */
class Prefetch {

    public static void main(String[] args) throws IOException, InterruptedException {
        Path root = workshopFolder();
        System.out.println("Fetching reveal.js " + RevealJs.VERSION + " for the slides...");
        RevealJs.standard().ensure(System.out);
        List<Path> scripts = new ArrayList<>();
        for (String dir : List.of("tools", "labs", "solutions")) {
            try (Stream<Path> files = Files.list(root.resolve(dir))) {
                files.filter(f -> f.toString().endsWith(".java") && !f.getFileName().toString().equals("prefetch.java"))
                        .sorted().forEach(scripts::add);
            }
        }
        int failed = 0;
        for (int i = 0; i < scripts.size(); i++) {
            Path script = scripts.get(i);
            System.out.printf("[%2d/%d] building %s%n", i + 1, scripts.size(), root.relativize(script));
            String launcher = System.getProperty("os.name").startsWith("Windows") ? "jbang.cmd" : "jbang";
            Process build = new ProcessBuilder(root.resolve(launcher).toString(), "build", script.toString())
                    .directory(root.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!build.waitFor(10, TimeUnit.MINUTES) || build.exitValue() != 0) {
                build.destroyForcibly();
                System.out.println("       ✗ failed: run ./jbang build " + root.relativize(script) + " to see why");
                failed++;
            }
        }
        System.out.println(failed == 0
                ? "✓ Everything is cached: labs, grading and docs now work offline."
                : "✗ " + failed + " of " + scripts.size() + " scripts did not build (see above).");
        System.exit(failed == 0 ? 0 : 1);
    }

    private static Path workshopFolder() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path candidate = dir; candidate != null; candidate = candidate.getParent()) {
            if (Files.isRegularFile(candidate.resolve("jbang-catalog.json"))) {
                return candidate;
            }
        }
        throw new IllegalStateException("Run ./jbang prefetch inside the workshop folder");
    }
}
