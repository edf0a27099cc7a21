package workshop.docs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.sun.net.httpserver.HttpServer;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The strict checks of {@link Docs} on small projects made here, rendered with one shared Asciidoctor.
 * reveal.js is a stand-in directory (no network); {@link RevealJs}'s fetch is tested against a local
 * HTTP server.
 */
class DocsTest {

    static Docs docs;
    static Path fakeReveal;

    @BeforeAll
    static void startAsciidoctor(@TempDir Path tmp) throws IOException {
        fakeReveal = tmp.resolve("reveal.js-fake");
        for (String f : RevealJs.REQUIRED) {
            write(fakeReveal, f, "/* stand-in for " + f + " */\n");
        }
        docs = Docs.open(RevealJs.at(fakeReveal), System.err);
    }

    @AfterAll
    static void stopAsciidoctor() {
        if (docs != null) {
            docs.close();
        }
    }

    // ------------------------------------------------------------------ fixtures

    static final String SOLUTION = """
            package solutions;

            public class Callback {
                // tag::callback[]
                void send() {
                    producer.send(record, (metadata, exception) -> log(metadata));
                }
                // end::callback[]
                void notShown() { }
            }
            """;

    static final String DOT_SVG = "<svg xmlns='http://www.w3.org/2000/svg' width='8' height='8'><circle cx='4' cy='4' r='3'/></svg>\n";

    /**
     * A project whose guide and slides are fine: chapters, a tagged include of ../solutions, an image
     * (looked up in imagesdir, relative to the main document), and header attributes that would pull a
     * CDN if the document could set them.
     */
    static Path goodProject(Path dir) throws IOException {
        write(dir, "README.adoc", """
                = Kafka Workshop
                :icons: font
                :source-highlighter: highlight.js
                :imagesdir: images

                The front page.

                include::guide/02-callback.adoc[]

                NOTE: a note; with icons=font this would load Font Awesome from a CDN.
                """);
        write(dir, "guide/02-callback.adoc", """
                [[callback]]
                == Callbacks

                [source,java]
                ----
                include::../solutions/02-callback.java[tag=callback]
                ----

                image::dot.svg[A dot]

                See <<callback>>.
                """);
        write(dir, "images/dot.svg", DOT_SVG);
        write(dir, "solutions/02-callback.java", SOLUTION);
        write(dir, "slides/slides.adoc", """
                = Kafka Workshop
                :imagesdir: ../images

                include::02-callback.adoc[]
                """);
        write(dir, "slides/02-callback.adoc", """
                == Callbacks

                [source,java]
                ----
                include::../solutions/02-callback.java[tag=callback]
                ----

                image::dot.svg[A dot]
                """);
        return dir;
    }

    // ------------------------------------------------------------------ good docs

    @Test
    void goodProjectRendersWithoutProblems(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.ALL);

        assertThat(result.problems()).as(result.problemReport()).isEmpty();
        assertThat(result.ok()).isTrue();
        assertThat(result.outputs()).extracting(Docs.Output::name).containsExactly("guide", "slides");

        Path guide = project.resolve("build/docs/index.html");
        assertThat(result.output("guide").orElseThrow().html()).isEqualTo(guide);
        String html = Files.readString(guide);
        assertThat(html)
                .as("the tagged region of the solution, highlighted by rouge")
                .contains("rouge highlight").contains("producer").contains("exception")
                .doesNotContain("notShown")
                .as("the image embedded").contains("src=\"data:image/svg+xml;base64,");
        assertNoRemoteLoads(html);
        assertThat(html).as("stylesheet embedded, no font icons, no webfonts")
                .doesNotContain("<link").doesNotContain("font-awesome").doesNotContain("highlight.min.js");
    }

    @Test
    void slidesReferToALocalRevealJsByARelativePath(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.SLIDES);

        assertThat(result.problems()).as(result.problemReport()).isEmpty();
        Path slides = project.resolve("build/docs/slides/index.html");
        String html = Files.readString(slides);
        assertThat(html)
                .contains("<script src=\"reveal.js/dist/reveal.js\"></script>")
                .contains("href=\"reveal.js/dist/reveal.css\"")
                .contains("reveal.js/plugin/notes/notes.js")
                .contains("producer").doesNotContain("notShown");
        assertNoRemoteLoads(html);
        assertThat(slides.resolveSibling("reveal.js/dist/reveal.js")).isRegularFile();
        assertThat(slides.resolveSibling("reveal.js/plugin/zoom/zoom.js")).isRegularFile();
    }

    // ------------------------------------------------------------------ strict mode

    @Test
    void anUnresolvedIncludeFailsNamingIt(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        write(project, "README.adoc", """
                = Guide

                include::guide/99-nowhere.adoc[]
                """);

        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.GUIDE);

        assertThat(result.ok()).isFalse();
        assertThat(result.problems()).anySatisfy(p -> {
            assertThat(p.file()).isEqualTo("README.adoc");
            assertThat(p.line()).isEqualTo(3);
            assertThat(p.message()).contains("include file not found").contains("guide/99-nowhere.adoc");
        });
        assertThatThrownBy(() -> docs.renderProjectStrict(project, project.resolve("build/docs"), Docs.Target.GUIDE))
                .isInstanceOf(DocsException.class)
                .hasMessageContaining("README.adoc:3: error: include file not found: guide/99-nowhere.adoc")
                .satisfies(e -> assertThat(((DocsException) e).problems()).isNotEmpty());
    }

    @Test
    void aMissingTagFailsNamingItAndTheIncludingFile(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        write(project, "guide/02-callback.adoc", """
                == Callbacks

                [source,java]
                ----
                include::../solutions/02-callback.java[tag=no-such-tag]
                ----
                """);

        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.GUIDE);

        assertThat(result.problems()).anySatisfy(p -> {
            assertThat(p.file()).isEqualTo("guide/02-callback.adoc");
            assertThat(p.line()).isEqualTo(5);
            assertThat(p.message()).contains("no-such-tag").contains("solutions/02-callback.java");
        });
    }

    @Test
    void aMissingImageFailsNamingItWithItsLine(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        write(project, "guide/02-callback.adoc", """
                == Callbacks

                image::architecture.png[Architecture]

                An inline one too: image:also-missing.svg[].
                """);

        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.GUIDE);

        assertThat(result.problems()).anySatisfy(p -> {
            assertThat(p.file()).isEqualTo("guide/02-callback.adoc");
            assertThat(p.line()).isEqualTo(3);
            assertThat(p.message()).isEqualTo("image not found: images/architecture.png");
        });
        assertThat(result.problems()).anySatisfy(p -> assertThat(p.message()).contains("also-missing.svg"));
    }

    @Test
    void aMissingImageInTheSlidesFailsToo(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        // (were the image the very last line of the included file, Asciidoctor would place it on
        // the include line of slides.adoc instead)
        write(project, "slides/02-callback.adoc", """
                == Callbacks

                image::nope.png[]

                That's it.
                """);

        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.SLIDES);

        assertThat(result.problems()).anySatisfy(p -> {
            assertThat(p.file()).isEqualTo("slides/02-callback.adoc");
            assertThat(p.line()).isEqualTo(3);
            assertThat(p.message()).isEqualTo("image not found: images/nope.png");
        });
    }

    @Test
    void aMissingAttributeAndADanglingCrossReferenceAreProblems(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        write(project, "README.adoc", """
                = Guide

                Kafka {kafka-verison}, see <<no-such-section>>.
                """);

        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.GUIDE);

        assertThat(result.problems()).extracting(Docs.Problem::message)
                .anySatisfy(m -> assertThat(m).contains("missing attribute").contains("kafka-verison"))
                .anySatisfy(m -> assertThat(m).contains("invalid reference").contains("no-such-section"));
    }

    @Test
    void remoteScriptsAndStylesheetsAreProblems(@TempDir Path dir) throws IOException {
        Path project = goodProject(dir);
        write(project, "README.adoc", """
                = Guide

                ++++
                <link rel="stylesheet" href="https://cdn.example.com/x.css">
                <script src="//cdn.example.com/x.js"></script>
                <img src="https://example.com/logo.png">
                <img src="local-missing.png">
                ++++
                """);

        Docs.Result result = docs.renderProject(project, project.resolve("build/docs"), Docs.Target.GUIDE);

        assertThat(result.problems()).extracting(Docs.Problem::toString)
                .anySatisfy(s -> assertThat(s).startsWith("build/docs/index.html:").contains("remote URL").contains("https://cdn.example.com/x.css"))
                .anySatisfy(s -> assertThat(s).contains("remote URL").contains("//cdn.example.com/x.js"))
                .anySatisfy(s -> assertThat(s).contains("remote URL").contains("https://example.com/logo.png"))
                .anySatisfy(s -> assertThat(s).contains("missing file").contains("local-missing.png"));
    }

    @Test
    void aMissingSourceIsAOneLineError(@TempDir Path dir) {
        assertThatThrownBy(() -> docs.renderProject(dir, dir.resolve("out"), Docs.Target.ALL))
                .isInstanceOf(DocsException.class)
                .hasMessage("missing source: " + dir.resolve("README.adoc") + ", " + dir.resolve("slides/slides.adoc"));
    }

    @Test
    void theCommandLineSaysWhereItWroteAndExitsNonZeroOnAMissingSource(@TempDir Path dir) throws IOException {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int status = DocsCli.commandLine(new PrintWriter(out), new PrintWriter(err))
                .execute("guide", "--dir", dir.toString());
        assertThat(status).isEqualTo(2);
        assertThat(err.toString().strip()).isEqualTo("docs: error: missing source: " + dir.resolve("README.adoc"));
        assertThat(err.toString()).doesNotContain("Exception").doesNotContain("\tat ");

        Path project = goodProject(dir);
        status = DocsCli.commandLine(new PrintWriter(out), new PrintWriter(err))
                .execute("guide", "--dir", project.toString());
        assertThat(status).as(err.toString()).isZero();
        Path html = project.resolve("build/docs/index.html");
        assertThat(out.toString()).contains(html.toString()).contains(html.toUri().toString()).containsPattern("\\d+\\.\\d s");
    }

    // ------------------------------------------------------------------ fetching reveal.js

    @Test
    void fetchesVerifiesExtractsAndCachesOnce(@TempDir Path tmp) throws Exception {
        byte[] tgz = tarball();
        try (Served served = serve(200, tgz, 0)) {
            RevealJs reveal = new RevealJs(served.uri, integrity(tgz), tmp.resolve("cache/reveal.js-5.1.0"), Duration.ofSeconds(10));
            ByteArrayOutputStream progress = new ByteArrayOutputStream();

            Path dir = reveal.ensure(new PrintStream(progress, true, StandardCharsets.UTF_8));
            reveal.ensure(new PrintStream(progress, true, StandardCharsets.UTF_8));

            assertThat(dir).isEqualTo(tmp.resolve("cache/reveal.js-5.1.0"));
            assertThat(dir.resolve("dist/reveal.js")).hasContent("// dist/reveal.js");
            assertThat(dir.resolve("package.json")).exists();
            assertThat(served.hits.get()).as("fetched once, then cached").isEqualTo(1);
            assertThat(progress.toString(StandardCharsets.UTF_8).lines()).hasSize(1).first().asString().startsWith("Fetching reveal.js");
            try (var left = Files.list(tmp.resolve("cache"))) {
                assertThat(left).as("no temporary directory left").containsExactly(dir);
            }

            Path target = tmp.resolve("out/slides/reveal.js");
            reveal.copyTo(target, null);
            assertThat(target.resolve("dist/theme/black.css")).exists();
            assertThat(target.resolve("plugin/notes/notes.js")).exists();
            assertThat(target.resolve("package.json")).doesNotExist();
        }
    }

    @Test
    void aTarballNotMatchingItsIntegrityIsRefusedAndNotCached(@TempDir Path tmp) throws Exception {
        byte[] tgz = tarball();
        try (Served served = serve(200, tgz, 0)) {
            RevealJs reveal = new RevealJs(served.uri, RevealJs.INTEGRITY, tmp.resolve("cache/reveal.js-5.1.0"), Duration.ofSeconds(10));
            assertThatThrownBy(() -> reveal.ensure(null))
                    .isInstanceOf(DocsException.class)
                    .hasMessageContaining("failed its integrity check")
                    .hasMessageContaining("prefetch");
            assertThat(tmp.resolve("cache/reveal.js-5.1.0")).doesNotExist();
            if (Files.exists(tmp.resolve("cache"))) {
                try (var left = Files.list(tmp.resolve("cache"))) {
                    assertThat(left).isEmpty();
                }
            }
        }
    }

    @Test
    void anHttpErrorOrATimeoutIsAClearMessage(@TempDir Path tmp) throws Exception {
        try (Served served = serve(404, new byte[0], 0)) {
            RevealJs reveal = new RevealJs(served.uri, RevealJs.INTEGRITY, tmp.resolve("a"), Duration.ofSeconds(10));
            assertThatThrownBy(() -> reveal.ensure(null))
                    .isInstanceOf(DocsException.class)
                    .hasMessageContaining("could not fetch reveal.js")
                    .hasMessageContaining("HTTP 404")
                    .hasMessageContaining(RevealJs.PREFETCH_HINT);
        }
        try (Served served = serve(200, tarball(), 5_000)) {
            RevealJs reveal = new RevealJs(served.uri, RevealJs.INTEGRITY, tmp.resolve("b"), Duration.ofSeconds(1));
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> reveal.ensure(null))
                    .isInstanceOf(DocsException.class)
                    .hasMessageContaining("timed out after 1 s");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(4));
        }
    }

    @Test
    void theStandardSourceIsPinned() {
        RevealJs standard = RevealJs.standard();
        assertThat(RevealJs.TARBALL).hasToString("https://registry.npmjs.org/reveal.js/-/reveal.js-5.1.0.tgz");
        assertThat(RevealJs.INTEGRITY).startsWith("sha512-");
        assertThat(standard.cacheDir()).endsWithRaw(Path.of("kafka-workshop", "reveal.js-5.1.0"));
    }

    @Test
    void aCopyWithoutRevealJsSaysHowToGetIt(@TempDir Path tmp) {
        assertThatThrownBy(() -> RevealJs.at(tmp.resolve("empty")).ensure(null))
                .isInstanceOf(DocsException.class)
                .hasMessageContaining("prefetch");
    }

    // ------------------------------------------------------------------ helpers

    private static final Pattern LOADS = Pattern.compile("<link[^>]*href=\"([^\"]*)\"|<script[^>]*src=\"([^\"]*)\"");

    static void assertNoRemoteLoads(String html) {
        Matcher m = LOADS.matcher(html);
        while (m.find()) {
            String ref = m.group(1) != null ? m.group(1) : m.group(2);
            assertThat(ref).doesNotStartWith("http").doesNotStartWith("//");
        }
    }

    static Path write(Path dir, String relative, String content) throws IOException {
        Path p = dir.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, content);
        return p;
    }

    /** An npm-style tarball (everything under package/) holding what a usable reveal.js copy needs. */
    static byte[] tarball() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(bytes))) {
            String[] files = new String[RevealJs.REQUIRED.length + 1];
            System.arraycopy(RevealJs.REQUIRED, 0, files, 0, RevealJs.REQUIRED.length);
            files[files.length - 1] = "package.json";
            for (String f : files) {
                byte[] data = ("// " + f).getBytes(StandardCharsets.UTF_8);
                TarArchiveEntry e = new TarArchiveEntry("package/" + f);
                e.setSize(data.length);
                tar.putArchiveEntry(e);
                tar.write(data);
                tar.closeArchiveEntry();
            }
        }
        return bytes.toByteArray();
    }

    static String integrity(byte[] data) throws Exception {
        return "sha512-" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-512").digest(data));
    }

    record Served(HttpServer server, URI uri, AtomicInteger hits) implements AutoCloseable {
        @Override
        public void close() {
            server.stop(0);
        }
    }

    /** A one-path HTTP server on the loopback address. */
    static Served serve(int status, byte[] body, long delayMillis) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        AtomicInteger hits = new AtomicInteger();
        server.createContext("/reveal.js-5.1.0.tgz", exchange -> {
            hits.incrementAndGet();
            try {
                exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
                if (delayMillis > 0) {
                    Thread.sleep(delayMillis); // headers sent, body late: only the whole-request bound catches it
                }
                if (body.length > 0) {
                    try (OutputStream os = exchange.getResponseBody()) {
                        os.write(body);
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException e) {
                // client gone
            } finally {
                exchange.close();
            }
        });
        server.setExecutor(java.util.concurrent.Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "test-http");
            t.setDaemon(true);
            return t;
        }));
        server.start();
        return new Served(server, URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/reveal.js-5.1.0.tgz"), hits);
    }
}
