package workshop.docs;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Pattern;

import org.asciidoctor.Asciidoctor;
import org.asciidoctor.Attributes;
import org.asciidoctor.Options;
import org.asciidoctor.SafeMode;
import org.asciidoctor.ast.Cursor;
import org.asciidoctor.ast.Document;
import org.asciidoctor.ast.StructuralNode;
import org.asciidoctor.extension.Treeprocessor;
import org.asciidoctor.log.LogHandler;
import org.asciidoctor.log.LogRecord;
import org.asciidoctor.log.Severity;

/**
 * Renders the workshop's docs to HTML that works offline: the guide ({@value #GUIDE_SOURCE} and the
 * chapters it includes) to {@code OUT/index.html}, and the reveal.js deck ({@value #SLIDES_SOURCE}) to
 * {@code OUT/slides/index.html} with a local copy of reveal.js in {@code OUT/slides/reveal.js/}.
 *
 * <p>Every render is checked: Asciidoctor's warnings and errors (unresolved include, missing tag,
 * missing image, missing attribute...) and what the HTML refers to (no http(s) stylesheet, script
 * or image; every local stylesheet, script and image exists) come back as {@link Problem}s.
 *
 * <pre>{@code
 * Docs.Result r = Docs.render(projectDir, projectDir.resolve("build/docs"), Docs.Target.ALL);
 * assertThat(r.problems()).isEmpty();            // or Docs.renderStrict(...), which throws listing them
 * }</pre>
 *
 * <p>Starting Asciidoctor (JRuby) takes seconds: the static methods start one per call; to render
 * several times, {@link #open()} one instance, call {@link #renderProject(Path, Path, Target)} on it, and close it.
 */
public final class Docs implements AutoCloseable {

    public static final String GUIDE_SOURCE = "README.adoc";
    public static final String SLIDES_SOURCE = "slides/slides.adoc";
    public static final String GUIDE_HTML = "index.html";
    public static final String SLIDES_HTML = "slides/index.html";
    /** Where reveal.js is copied, relative to the slides' HTML (the {@code revealjsdir} attribute). */
    public static final String REVEALJS_DIR = "reveal.js";

    /** What to render. */
    public enum Target {
        GUIDE, SLIDES, ALL;

        public boolean guide() {
            return this != SLIDES;
        }

        public boolean slides() {
            return this != GUIDE;
        }
    }

    /**
     * Something wrong with a render. {@code file} is relative to the project directory when inside it
     * (null when unknown); {@code line} is 0 when unknown.
     */
    public record Problem(String severity, String file, int line, String message) {
        @Override
        public String toString() {
            String where = file == null ? "" : line > 0 ? file + ":" + line + ": " : file + ": ";
            return where + severity + ": " + message;
        }
    }

    /** One HTML file written. */
    public record Output(String name, Path html, Duration took) {
        public String url() {
            return html.toUri().toString();
        }
    }

    /** What a render wrote and what is wrong with it. */
    public record Result(List<Output> outputs, List<Problem> problems) {
        public Result {
            outputs = List.copyOf(outputs);
            problems = List.copyOf(problems);
        }

        public boolean ok() {
            return problems.isEmpty();
        }

        public Optional<Output> output(String name) {
            return outputs.stream().filter(o -> o.name().equals(name)).findFirst();
        }

        /** The problems, one a line. */
        public String problemReport() {
            StringBuilder sb = new StringBuilder();
            for (Problem p : problems) {
                sb.append(p).append('\n');
            }
            return sb.toString();
        }
    }

    private final Asciidoctor asciidoctor;
    private final RevealJs reveal;
    private final PrintStream progress;
    private final Duration startup;
    private final List<LogRecord> log = Collections.synchronizedList(new ArrayList<>());
    private final ImageLocations imageLocations = new ImageLocations();

    /**
     * asciidoctorj also forwards every message to java.util.logging's "asciidoctor" logger, which
     * prints them to stderr; they come back here as problems instead. Held so it is not collected.
     */
    private static final Logger JUL = Logger.getLogger("asciidoctor");

    private Docs(RevealJs reveal, PrintStream progress) {
        JUL.setLevel(Level.OFF);
        this.reveal = reveal;
        this.progress = progress;
        long t0 = System.nanoTime();
        this.asciidoctor = Asciidoctor.Factory.create();
        this.asciidoctor.registerLogHandler(new Collector());
        this.asciidoctor.javaExtensionRegistry().treeprocessor(imageLocations);
        // the slides' listings line by line, so their CSS can wrap a line wider than the slide
        this.asciidoctor.javaExtensionRegistry().postprocessor(new CodeLines());
        this.startup = Duration.ofNanos(System.nanoTime() - t0);
    }

    /** One Asciidoctor (slow to start) for several renders; reveal.js from the standard cache. */
    public static Docs open() {
        return open(RevealJs.standard(), System.err);
    }

    /** One Asciidoctor for several renders, reveal.js from {@code reveal}, progress lines (a fetch) to {@code progress}. */
    public static Docs open(RevealJs reveal, PrintStream progress) {
        return new Docs(reveal, progress);
    }

    /** Renders {@code target} of the project into {@code outDir}; never throws for content problems, see {@link Result#problems()}. */
    public static Result render(Path projectDir, Path outDir, Target target) {
        return render(projectDir, outDir, target, RevealJs.standard(), System.err);
    }

    public static Result render(Path projectDir, Path outDir, Target target, RevealJs reveal, PrintStream progress) {
        // fail fast, before the slow Asciidoctor start
        checkSources(projectDir, target);
        if (target.slides()) {
            reveal.ensure(progress);
        }
        try (Docs docs = open(reveal, progress)) {
            return docs.renderProject(projectDir, outDir, target);
        }
    }

    /** As {@link #render(Path, Path, Target)}, but throws a {@link DocsException} listing every problem. */
    public static Result renderStrict(Path projectDir, Path outDir, Target target) {
        return strict(render(projectDir, outDir, target));
    }

    /** How long starting this instance's Asciidoctor took. */
    public Duration startup() {
        return startup;
    }

    /** As {@link #render(Path, Path, Target)}, with this instance's Asciidoctor. */
    public Result renderProject(Path projectDir, Path outDir, Target target) {
        Path project = projectDir.toAbsolutePath().normalize();
        Path out = outDir.toAbsolutePath().normalize();
        checkSources(project, target);
        List<Output> outputs = new ArrayList<>();
        List<Problem> problems = new ArrayList<>();
        if (target.guide()) {
            outputs.add(convert("guide", project, project.resolve(GUIDE_SOURCE), out.resolve(GUIDE_HTML), false, problems));
        }
        if (target.slides()) {
            Path html = out.resolve(SLIDES_HTML);
            reveal.copyTo(html.getParent().resolve(REVEALJS_DIR), progress);
            outputs.add(convert("slides", project, project.resolve(SLIDES_SOURCE), html, true, problems));
        }
        return new Result(outputs, problems);
    }

    /** As {@link #renderStrict(Path, Path, Target)}, with this instance's Asciidoctor. */
    public Result renderProjectStrict(Path projectDir, Path outDir, Target target) {
        return strict(renderProject(projectDir, outDir, target));
    }

    @Override
    public void close() {
        asciidoctor.close();
    }

    private static Result strict(Result result) {
        if (!result.ok()) {
            throw new DocsException(result.problems().size() + " problem(s) in the docs:\n" + result.problemReport().strip(),
                    result.problems());
        }
        return result;
    }

    private static void checkSources(Path projectDir, Target target) {
        List<String> missing = new ArrayList<>();
        if (target.guide() && !Files.isRegularFile(projectDir.resolve(GUIDE_SOURCE))) {
            missing.add(projectDir.resolve(GUIDE_SOURCE).toAbsolutePath().normalize().toString());
        }
        if (target.slides() && !Files.isRegularFile(projectDir.resolve(SLIDES_SOURCE))) {
            missing.add(projectDir.resolve(SLIDES_SOURCE).toAbsolutePath().normalize().toString());
        }
        if (!missing.isEmpty()) {
            throw new DocsException("missing source: " + String.join(", ", missing));
        }
    }

    // ---------------------------------------------------------------- conversion

    /**
     * The attributes. A trailing {@code @} makes one a default the document may override; the others
     * win over the document (so a chapter cannot bring back a CDN).
     */
    static Map<String, Object> attributes(boolean slides) {
        Map<String, Object> a = new LinkedHashMap<>();
        // Rouge is bundled in asciidoctorj (gems/rouge); it highlights at conversion time and its
        // stylesheet is embedded: nothing to load. highlight.js would load from cdnjs.
        a.put("source-highlighter", "rouge");
        a.put("rouge-style", slides ? "monokai@" : "github@");
        // no font icons (Font Awesome from cdnjs), no Google webfonts, stylesheet embedded not linked
        a.put("icons!", "");
        a.put("webfonts!", "");
        a.put("linkcss!", "");
        // images embedded in the HTML as data: URIs: self-contained output; a missing one is a warning
        a.put("data-uri", "");
        a.put("allow-uri-read!", "");
        a.put("attribute-missing", "warn@");
        a.put("reproducible", "@");
        if (slides) {
            a.put("revealjsdir", REVEALJS_DIR);
            a.put("revealjs_hash", "true@");
        } else {
            a.put("toc", "left@");
            a.put("sectanchors", "@");
        }
        return a;
    }

    private static Attributes toAttributes(Map<String, Object> map) {
        var builder = Attributes.builder();
        map.forEach(builder::attribute);
        return builder.build();
    }

    private Output convert(String name, Path project, Path source, Path html, boolean slides, List<Problem> problems) {
        long t0 = System.nanoTime();
        log.clear();
        imageLocations.clear();
        try {
            Files.createDirectories(html.getParent());
        } catch (IOException e) {
            throw new DocsException("cannot create " + html.getParent() + ": " + e);
        }
        Options options = Options.builder()
                .backend(slides ? "revealjs" : "html5")
                .standalone(true)
                // UNSAFE: the sources are the kit's own; includes resolve relative to the including
                // file wherever they point (the slides include ../solutions/, outside their directory,
                // which SAFE would jail to slides/). URIs are still not read (allow-uri-read is off).
                .safe(SafeMode.UNSAFE)
                .sourcemap(true)
                .toFile(html.toFile())
                .mkDirs(true)
                .attributes(toAttributes(attributes(slides)))
                .build();
        asciidoctor.convertFile(source.toFile(), options);
        List<LogRecord> records;
        synchronized (log) {
            records = new ArrayList<>(log);
            log.clear();
        }
        for (LogRecord r : records) {
            if (counts(r)) {
                problems.addAll(toProblems(project, r));
            }
        }
        if (!Files.isRegularFile(html)) {
            problems.add(new Problem("error", rel(project, source), 0, "no HTML written to " + html));
        } else {
            checkHtml(project, html, problems);
        }
        return new Output(name, html, Duration.ofNanos(System.nanoTime() - t0));
    }

    /** WARN and above; and the INFO Asciidoctor gives for a cross reference to nowhere. */
    private static boolean counts(LogRecord r) {
        Severity s = r.getSeverity();
        if (s == Severity.WARN || s == Severity.ERROR || s == Severity.FATAL || s == Severity.UNKNOWN) {
            return true;
        }
        return s == Severity.INFO && r.getMessage() != null && r.getMessage().startsWith("possible invalid reference");
    }

    private static final String IMAGE_NOT_FOUND = "image to embed not found or not readable: ";

    private List<Problem> toProblems(Path project, LogRecord r) {
        // a dangling cross reference is only INFO for Asciidoctor; here it counts as a warning
        Severity level = r.getSeverity() == Severity.INFO ? Severity.WARN : r.getSeverity();
        String severity = level.name().toLowerCase(Locale.ROOT);
        String message = r.getMessage() == null ? "" : r.getMessage();
        Cursor c = r.getCursor();
        if (c == null && message.startsWith(IMAGE_NOT_FOUND)) {
            // Asciidoctor gives no line for this one: take it from the image blocks seen while parsing
            String path = message.substring(IMAGE_NOT_FOUND.length());
            List<Where> where = imageLocations.find(path);
            if (!where.isEmpty()) {
                List<Problem> ps = new ArrayList<>();
                for (Where w : where) {
                    ps.add(new Problem(severity, w.file() == null ? null : rel(project, Path.of(w.file())), w.line(),
                            "image not found: " + relText(project, path)));
                }
                return ps;
            }
            return List.of(new Problem(severity, null, 0, "image not found: " + relText(project, path)));
        }
        return List.of(new Problem(severity, c == null ? null : cursorFile(project, c),
                c == null ? 0 : c.getLineNumber(), relText(project, message)));
    }

    private static String cursorFile(Path project, Cursor c) {
        String f = cursorPath(c);
        return f == null ? null : rel(project, Path.of(f));
    }

    private static String cursorPath(Cursor c) {
        String f = c.getFile();
        if (f == null && c.getDir() != null && c.getPath() != null) {
            f = Path.of(c.getDir()).resolve(c.getPath()).toString();
        }
        if (f == null) {
            f = c.getPath();
        }
        return f;
    }

    private static String rel(Path project, Path p) {
        Path abs = p.toAbsolutePath().normalize();
        return abs.startsWith(project) ? project.relativize(abs).toString() : abs.toString();
    }

    /** Shortens absolute paths under the project in a message. */
    private static String relText(Path project, String message) {
        return message.replace(project + "/", "");
    }

    // ---------------------------------------------------------------- HTML checks

    private static final Pattern TAG = Pattern.compile("<(link|script|img)\\b([^>]*)>", Pattern.CASE_INSENSITIVE);
    private static final Pattern ATTR = Pattern.compile("\\b(href|src|rel)\\s*=\\s*(?:\"([^\"]*)\"|'([^']*)')",
            Pattern.CASE_INSENSITIVE);
    /** reveal.js plugins the converter loads via {@code dependencies: [{ src: '...' }]}. */
    private static final Pattern JS_SRC = Pattern.compile("\\bsrc:\\s*'([^']+)'");

    /** Remote loads are problems; local stylesheets, scripts and images must exist. */
    static void checkHtml(Path project, Path html, List<Problem> problems) {
        String text;
        try {
            text = Files.readString(html, StandardCharsets.UTF_8);
        } catch (IOException e) {
            problems.add(new Problem("error", rel(project, html), 0, "cannot read: " + e));
            return;
        }
        String file = rel(project, html);
        Matcher m = TAG.matcher(text);
        while (m.find()) {
            String tag = m.group(1).toLowerCase(Locale.ROOT);
            Map<String, String> attrs = new LinkedHashMap<>();
            Matcher a = ATTR.matcher(m.group(2));
            while (a.find()) {
                attrs.put(a.group(1).toLowerCase(Locale.ROOT), a.group(2) != null ? a.group(2) : a.group(3));
            }
            String ref = tag.equals("link") ? attrs.get("href") : attrs.get("src");
            if (ref == null) {
                continue;
            }
            String rel = attrs.getOrDefault("rel", "").toLowerCase(Locale.ROOT);
            boolean mustExist = !tag.equals("link") || rel.matches(".*\\b(stylesheet|icon)\\b.*");
            Path local = checkRef(html, file, lineOf(text, m.start()), "<" + tag + "> ", ref, mustExist, problems);
            if (local != null && tag.equals("link") && rel.contains("stylesheet")) {
                checkCssImports(project, local, problems);
            }
        }
        Matcher js = JS_SRC.matcher(text);
        while (js.find()) {
            checkRef(html, file, lineOf(text, js.start()), "script dependency ", js.group(1), true, problems);
        }
    }

    /** Returns the local file referred to when it exists, else null. */
    private static Path checkRef(Path html, String file, int line, String what, String rawRef, boolean mustExist,
                                 List<Problem> problems) {
        String ref = rawRef.replace("&amp;", "&").trim();
        String lower = ref.toLowerCase(Locale.ROOT);
        if (lower.startsWith("data:")) {
            return null; // embedded; a missing image file was already reported by Asciidoctor
        }
        if (isRemote(lower)) {
            problems.add(new Problem("error", file, line, what + "loads a remote URL (the docs must work offline): " + ref));
            return null;
        }
        if (!mustExist || ref.isEmpty() || ref.startsWith("#") || lower.matches("^[a-z][a-z0-9+.-]*:.*")) {
            return null;
        }
        String path = ref.replaceAll("[?#].*$", "");
        try {
            String decoded = new URI(path).getPath();
            if (decoded != null) {
                path = decoded;
            }
        } catch (URISyntaxException e) {
            // keep it as written
        }
        Path target = html.getParent().resolve(path).normalize();
        if (!Files.exists(target)) {
            problems.add(new Problem("error", file, line, what + "refers to a missing file: " + ref + " (looked for " + target + ")"));
            return null;
        }
        return target;
    }

    private static boolean isRemote(String lowerRef) {
        return lowerRef.startsWith("http:") || lowerRef.startsWith("https:") || lowerRef.startsWith("//");
    }

    private static final Pattern CSS_IMPORT = Pattern.compile("@import\\s+(?:url\\()?\\s*['\"]?([^'\")\\s;]+)");

    /** A local stylesheet (say a reveal.js theme) that pulls web fonts does not work offline either. */
    private static void checkCssImports(Path project, Path css, List<Problem> problems) {
        String text;
        try {
            text = Files.readString(css, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return;
        }
        text = text.replaceAll("(?s)/\\*.*?\\*/", "");
        Matcher m = CSS_IMPORT.matcher(text);
        while (m.find()) {
            if (isRemote(m.group(1).toLowerCase(Locale.ROOT))) {
                problems.add(new Problem("error", rel(project, css), 0,
                        "stylesheet imports a remote URL (the docs must work offline; for the slides pick a theme"
                                + " without web fonts, e.g. black or white): " + m.group(1)));
            }
        }
    }

    private static int lineOf(String text, int offset) {
        int line = 1;
        for (int i = 0; i < offset; i++) {
            if (text.charAt(i) == '\n') {
                line++;
            }
        }
        return line;
    }

    // ---------------------------------------------------------------- Asciidoctor hooks

    private final class Collector implements LogHandler {
        @Override
        public void log(LogRecord logRecord) {
            log.add(logRecord);
        }
    }

    /** A source location, copied. */
    record Where(String file, int line) {
        Where(Cursor c) {
            this(cursorPath(c), c.getLineNumber());
        }
    }

    /** Remembers where each block image is (its resolved file and source line), to place "image not found". */
    static final class ImageLocations extends Treeprocessor {
        private final Map<String, List<Where>> byPath = Collections.synchronizedMap(new LinkedHashMap<>());

        void clear() {
            byPath.clear();
        }

        List<Where> find(String path) {
            return byPath.getOrDefault(Path.of(path).normalize().toString(), List.of());
        }

        @Override
        public Document process(Document document) {
            Object docdir = document.getAttribute("docdir");
            if (docdir == null) {
                return document;
            }
            for (StructuralNode node : document.findBy(Map.of("context", ":image"))) {
                Object target = node.getAttribute("target");
                Cursor where = node.getSourceLocation();
                if (target == null || where == null || target.toString().contains(":")) {
                    continue;
                }
                Object imagesdir = node.getAttribute("imagesdir", document.getAttribute("imagesdir", ""), true);
                Path p = Path.of(docdir.toString()).resolve(String.valueOf(imagesdir == null ? "" : imagesdir))
                        .resolve(target.toString()).normalize();
                // read now: the cursor is a live view of Asciidoctor's
                byPath.computeIfAbsent(p.toString(), k -> new ArrayList<>()).add(new Where(where));
            }
            return document;
        }
    }

    // ---------------------------------------------------------------- command line

    /** {@code docs guide|slides|all|prefetch}: see {@link DocsCli}. */
    public static void main(String[] args) {
        System.exit(DocsCli.run(args));
    }
}
