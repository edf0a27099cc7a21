package workshop.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The slides' style, checked without a browser: the numbers of slides/slides.adoc and
 * slides/docinfo-revealjs.html (code size on a 1280x720 screen, contrast of every highlight colour,
 * where the slide number sits), and a small deck rendered with that stylesheet (it is embedded after
 * Rouge's colours, and each listing line is its own block). {@link SlidesInBrowserTest} measures the
 * real deck in Chromium.
 */
class SlidesStyleTest {

    /** The smallest code text, in screen pixels on a 1280x720 screen, readable from the back of a room. */
    static final double MIN_CODE_PX = 20;
    /** WCAG AA for normal text. */
    static final double MIN_CONTRAST = 4.5;

    static final Path ROOT = ProjectDocsTest.projectRoot();
    static Docs docs;
    static String css;

    @BeforeAll
    static void setUp(@TempDir Path tmp) throws IOException {
        css = Files.readString(ROOT.resolve("slides/docinfo-revealjs.html"));
        Path fakeReveal = tmp.resolve("reveal.js-fake");
        // the kit's deck uses the white theme
        for (String f : java.util.stream.Stream.concat(java.util.Arrays.stream(RevealJs.REQUIRED),
                java.util.stream.Stream.of("dist/theme/white.css")).toList()) {
            Files.createDirectories(fakeReveal.resolve(f).getParent());
            Files.writeString(fakeReveal.resolve(f), "/* stand-in */\n");
        }
        docs = Docs.open(RevealJs.at(fakeReveal), System.err);
    }

    @AfterAll
    static void tearDown() {
        if (docs != null) {
            docs.close();
        }
    }

    /** The scale reveal.js gives the deck on a 1280x720 screen: the smaller of the two ratios, after its margin. */
    static double scaleOn1280x720() throws IOException {
        String adoc = Files.readString(ROOT.resolve(Docs.SLIDES_SOURCE));
        double width = Double.parseDouble(attribute(adoc, "revealjs_width"));
        double height = Double.parseDouble(attribute(adoc, "revealjs_height"));
        double margin = Double.parseDouble(attribute(adoc, "revealjs_margin"));
        return Math.min(1280 * (1 - margin) / width, 720 * (1 - margin) / height);
    }

    static String attribute(String adoc, String name) {
        Matcher m = Pattern.compile("(?m)^:" + name + ": *(\\S+)\\s*$").matcher(adoc);
        assertThat(m.find()).as("slides/slides.adoc sets :%s:", name).isTrue();
        return m.group(1);
    }

    /** The declarations of the last rule whose selector list contains {@code selector} exactly. */
    static String rule(String stylesheet, String selector) {
        Matcher m = Pattern.compile("([^{}]+)\\{([^}]*)}").matcher(stylesheet.replaceAll("(?s)/\\*.*?\\*/", ""));
        String found = null;
        while (m.find()) {
            for (String s : m.group(1).split(",")) {
                if (s.trim().replaceAll("\\s+", " ").equals(selector)) {
                    found = m.group(2);
                }
            }
        }
        return found;
    }

    static String property(String declarations, String name) {
        if (declarations == null) {
            return null;
        }
        Matcher m = Pattern.compile("(?:^|;)\\s*" + Pattern.quote(name) + "\\s*:\\s*([^;]+)").matcher(declarations);
        return m.find() ? m.group(1).trim() : null;
    }

    static double luminance(String hex) {
        String h = hex.startsWith("#") ? hex.substring(1) : hex;
        if (h.length() == 3) {
            h = "" + h.charAt(0) + h.charAt(0) + h.charAt(1) + h.charAt(1) + h.charAt(2) + h.charAt(2);
        }
        double[] weights = {0.2126, 0.7152, 0.0722};
        double l = 0;
        for (int i = 0; i < 3; i++) {
            double c = Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16) / 255.0;
            l += weights[i] * (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
        }
        return l;
    }

    static double contrast(String a, String b) {
        double x = luminance(a);
        double y = luminance(b);
        return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
    }

    @Test
    void codeIsAtLeast20PxOnA1280x720Screen() throws IOException {
        String size = property(rule(css, ".reveal pre"), "font-size");
        assertThat(size).as("docinfo-revealjs.html sizes code in px (.reveal pre { font-size: NNpx })").matches("\\d+(\\.\\d+)?px");
        double scale = scaleOn1280x720();
        double onScreen = Double.parseDouble(size.replace("px", "")) * scale;
        assertThat(onScreen)
                .as("code of %s at the deck's scale %.3f on a 1280x720 screen: %.2f px on screen", size, scale, onScreen)
                .isGreaterThanOrEqualTo(MIN_CODE_PX);
    }

    @Test
    void everyHighlightColourHasAaContrastOnTheCodeBackground(@TempDir Path dir) throws IOException {
        String html = renderSmallDeck(dir);
        String background = property(rule(css, ".reveal pre.rouge code"), "background-color");
        String text = property(rule(css, ".reveal pre.rouge code"), "color");
        assertThat(background).as("the code background of docinfo-revealjs.html").matches("#[0-9a-fA-F]{6}");
        assertThat(contrast(text, background)).as("plain code %s on %s", text, background)
                .isGreaterThanOrEqualTo(MIN_CONTRAST);
        // every class Rouge's theme gives a colour of its own must get one of ours, readable on ours
        Matcher rouge = Pattern.compile("pre\\.rouge \\.([a-z0-9]+)[^{]*\\{[^}]*\\bcolor:").matcher(rougeStyle(html));
        Map<String, String> colours = new LinkedHashMap<>();
        TreeSet<String> classes = new TreeSet<>();
        while (rouge.find()) {
            classes.add(rouge.group(1));
        }
        Matcher list = Pattern.compile("pre\\.rouge \\.([a-z0-9]+)\\s*[,{]").matcher(rougeStyle(html));
        while (list.find()) {
            classes.add(list.group(1));
        }
        assertThat(classes).as("Rouge's classes in the rendered deck").contains("c1", "cm", "k", "s", "o");
        for (String c : classes) {
            String declarations = rule(css, ".reveal pre.rouge ." + c);
            String colour = property(declarations, "color");
            if (colour == null) {
                continue; // Rouge gives it no colour: it is plain code, checked above
            }
            String own = property(declarations, "background-color");
            colours.put(c, colour);
            assertThat(contrast(colour, own != null ? own : background))
                    .as("highlight class .%s: %s on %s", c, colour, own != null ? own : background)
                    .isGreaterThanOrEqualTo(MIN_CONTRAST);
        }
        for (String c : classes) {
            String rougeColour = property(rule(rougeStyle(html), "pre.rouge ." + c), "color");
            if (rougeColour != null && !colours.containsKey(c)) {
                // a colour of Rouge's we keep must be readable on our background too
                assertThat(contrast(rougeColour, background))
                        .as("Rouge's colour for .%s (%s) on %s: override it in docinfo-revealjs.html", c, rougeColour, background)
                        .isGreaterThanOrEqualTo(MIN_CONTRAST);
            }
        }
        assertThat(contrast(colours.get("c1"), background)).as("comments").isGreaterThanOrEqualTo(MIN_CONTRAST);
    }

    @Test
    void theSlideNumberSitsBottomLeftAwayFromTheControls() {
        String number = rule(css, ".reveal .slide-number");
        assertThat(property(number, "left")).as(".reveal .slide-number { left: ... }").isNotNull();
        assertThat(property(number, "right")).as("the slide number lets go of reveal.js's right: 8px").isEqualTo("auto");
    }

    @Test
    void theRenderedDeckCarriesTheStyleAfterRougesAndWrapsEachLine(@TempDir Path dir) throws IOException {
        String html = renderSmallDeck(dir);
        int ours = html.indexOf("<style id=\"workshop-slides\">");
        assertThat(ours).as("the deck's <head> embeds docinfo-revealjs.html").isPositive();
        assertThat(ours).as("after Rouge's colours, so it wins over them").isGreaterThan(html.indexOf("pre.rouge {"));
        assertThat(ours).as("in the <head>").isLessThan(html.indexOf("<body>"));
        assertThat(html).as("each listing line its own block, with its indent")
                .containsPattern("<code data-lang=\"java\"><span class=\"line\" style=\"--indent:0\"><span[^>]*>void</span>")
                .containsPattern("<span class=\"line\" style=\"--indent:4\">    <span[^>]*>producer</span>");
        DocsTest.assertNoRemoteLoads(html);
    }

    @Test
    void aSpanAcrossLinesIsClosedAndReopenedAndABlankLineStays() {
        String body = "<span class=\"cm\">/* one\n   two */</span>\n\n  x\n";
        assertThat(CodeLines.lines(body)).isEqualTo(
                "<span class=\"line\" style=\"--indent:0\"><span class=\"cm\">/* one</span></span>"
                        + "<span class=\"line\" style=\"--indent:3\"><span class=\"cm\">   two */</span></span>"
                        + "<span class=\"line\" style=\"--indent:0\"></span>"
                        + "<span class=\"line\" style=\"--indent:2\">  x</span>");
    }

    /** A deck with the kit's header and stylesheet, and one tagged include of a solution. */
    private static String renderSmallDeck(Path dir) throws IOException {
        Files.createDirectories(dir.resolve("slides"));
        Files.createDirectories(dir.resolve("solutions"));
        Files.writeString(dir.resolve("solutions/Callback.java"), DocsTest.SOLUTION);
        Files.copy(ROOT.resolve("slides/docinfo-revealjs.html"), dir.resolve("slides/docinfo-revealjs.html"));
        String header = Files.readString(ROOT.resolve(Docs.SLIDES_SOURCE)).lines()
                .takeWhile(line -> !line.isBlank())
                .reduce("", (a, b) -> a + b + "\n");
        Files.writeString(dir.resolve(Docs.SLIDES_SOURCE), header + """

                == The code

                [source,java]
                ----
                include::../solutions/Callback.java[tag=callback,indent=0]
                ----
                """);
        Docs.Result result = docs.renderProject(dir, dir.resolve("out"), Docs.Target.SLIDES);
        assertThat(result.problems()).as("%s", result.problemReport()).isEmpty();
        return Files.readString(result.output("slides").orElseThrow().html());
    }

    /** Rouge's own stylesheet in a rendered deck (the <style> holding "pre.rouge {"). */
    private static String rougeStyle(String html) {
        int at = html.indexOf("pre.rouge {");
        int start = html.lastIndexOf("<style", at);
        return html.substring(start, html.indexOf("</style>", at));
    }
}
