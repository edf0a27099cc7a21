package workshop.docs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real deck measured in headless Chromium on a 1280x720 viewport: every listing's text at least
 * 20 px on screen, every highlighted token at least 4.5:1 against its background, no slide's content
 * past the slide, and the slide number clear of the controls on every slide. Skips, saying why, when
 * no Chromium is on the PATH or reveal.js is not cached ({@code ./jbang prefetch}).
 */
class SlidesInBrowserTest {

    @Test
    void everySlideIsReadableOnA1280x720Screen(@TempDir Path tmp) throws Exception {
        Optional<Path> chromium = Stream.of("chromium", "chromium-browser", "google-chrome")
                .flatMap(name -> Stream.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator))
                        .map(dir -> Path.of(dir, name)))
                .filter(Files::isExecutable)
                .findFirst();
        assumeTrue(chromium.isPresent(), "no chromium on the PATH (apt-get install chromium): slides not measured in a browser");
        RevealJs reveal = RevealJs.standard();
        assumeTrue(reveal.isCached(), "reveal.js is not cached (./jbang prefetch): slides not measured in a browser");

        Path root = ProjectDocsTest.projectRoot();
        Docs.Result result = Docs.render(root, tmp.resolve("docs"), Docs.Target.SLIDES, reveal, System.err);
        assertThat(result.problems()).as("%s", result.problemReport()).isEmpty();
        Path html = result.output("slides").orElseThrow().html();
        String page = Files.readString(html);
        int end = page.lastIndexOf("</body>");
        Path measured = html.resolveSibling("measure.html");
        Files.writeString(measured, page.substring(0, end) + "<script>" + MEASURE + "</script>" + page.substring(end));

        // headless Chromium's viewport is its window less some browser chrome: find the window that gives 720
        JsonNode m = measure(chromium.get(), measured, tmp, 720);
        int viewportHeight = Integer.parseInt(m.get("viewport").asText().split("x")[1]);
        if (viewportHeight != 720) {
            m = measure(chromium.get(), measured, tmp, 720 + (720 - viewportHeight));
        }
        assertThat(m.get("viewport").asText()).as("the measured viewport").isEqualTo("1280x720");

        List<String> scrolling = new ArrayList<>();
        for (JsonNode slide : m.get("slides")) {
            String where = "slide " + slide.get("number").asInt() + " (#/" + slide.get("id").asText() + ")";
            assertThat(slide.get("overflowY").asInt()).as("%s: content below the slide's bottom, px", where).isLessThanOrEqualTo(0);
            assertThat(slide.get("overflowX").asInt()).as("%s: content past the slide's right edge, px", where).isLessThanOrEqualTo(0);
            assertThat(slide.path("numberOverlapsControls").asBoolean()).as("%s: the slide number overlaps the controls", where).isFalse();
            for (JsonNode code : slide.path("code")) {
                assertThat(code.get("px").asDouble()).as("%s: code size on screen, px", where)
                        .isGreaterThanOrEqualTo(SlidesStyleTest.MIN_CODE_PX);
                assertThat(code.get("minContrast").asDouble()).as("%s: weakest contrast in its code (%s on %s)",
                        where, code.get("worst").asText(), code.get("bg").asText()).isGreaterThanOrEqualTo(SlidesStyleTest.MIN_CONTRAST);
                assertThat(code.get("scrollX").asBoolean()).as("%s: a listing scrolls sideways", where).isFalse();
                if (code.get("scrollY").asBoolean()) {
                    scrolling.add(where);
                }
            }
        }
        if (!scrolling.isEmpty()) {
            // taller than a slide: the solution needs a tag around a part of it for the slides to show that part
            System.err.println("Listings that scroll inside their slide: " + scrolling);
        }
    }

    private static JsonNode measure(Path chromium, Path page, Path tmp, int windowHeight) throws IOException, InterruptedException {
        Path out = tmp.resolve("dom-" + windowHeight + ".html");
        Process p = new ProcessBuilder(chromium.toString(), "--headless", "--no-sandbox", "--disable-gpu",
                "--hide-scrollbars", "--window-size=1280," + windowHeight, "--virtual-time-budget=5000",
                "--user-data-dir=" + tmp.resolve("profile"), "--dump-dom", page.toUri().toString())
                .redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not finish measuring the slides within 120 s");
        }
        Matcher m = Pattern.compile("<pre id=\"slide-measurements\">(.*?)</pre>", Pattern.DOTALL)
                .matcher(Files.readString(out, StandardCharsets.UTF_8));
        assertThat(m.find()).as("chromium printed the slides' measurements (exit %d)", p.exitValue()).isTrue();
        String json = m.group(1).replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
        return new ObjectMapper().readTree(json);
    }

    /** Walks every slide and reports, as JSON in a <pre>, what a person at 1280x720 would see. */
    private static final String MEASURE = """
(function () {
  function lum(c) {
    var m = c.match(/rgba?\\(([\\d.]+),\\s*([\\d.]+),\\s*([\\d.]+)/);
    var ch = [m[1], m[2], m[3]].map(function (v) {
      v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  }
  function contrast(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function opaqueBg(el) {
    for (; el; el = el.parentElement) {
      var bg = getComputedStyle(el).backgroundColor;
      if (bg && bg !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(bg)) return bg;
    }
    return 'rgb(255, 255, 255)';
  }
  function overlap(a, b) { return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; }
  function measure() {
    var scale = Reveal.getScale();
    var box = document.querySelector('.reveal .slides').getBoundingClientRect();
    var out = { scale: scale, viewport: innerWidth + 'x' + innerHeight, slides: [] };
    Reveal.getSlides().forEach(function (slide) {
      var idx = Reveal.getIndices(slide);
      Reveal.slide(idx.h, idx.v);
      var r = { id: slide.id || ('h' + idx.h + 'v' + idx.v), number: Reveal.getSlidePastCount() + 1 };
      // content past the slide's box
      var bottom = 0, right = 0;
      slide.querySelectorAll(':scope > *, .slide-content > *').forEach(function (el) {
        if (el.tagName === 'ASIDE' || el.tagName === 'STYLE') return;
        var e = el.getBoundingClientRect();
        bottom = Math.max(bottom, e.bottom); right = Math.max(right, e.right);
      });
      r.overflowY = Math.round(bottom - box.bottom);
      r.overflowX = Math.round(right - box.right);
      var codes = slide.querySelectorAll('pre code');
      if (codes.length) {
        r.code = [];
        codes.forEach(function (code) {
          var c = { lang: code.getAttribute('data-lang'), px: +(parseFloat(getComputedStyle(code).fontSize) * scale).toFixed(2),
                    scrollX: code.scrollWidth > code.clientWidth, scrollY: code.scrollHeight > code.clientHeight };
          var bg = opaqueBg(code), min = 99, worst = '';
          var texts = [code].concat(Array.prototype.slice.call(code.querySelectorAll('span')));
          texts.forEach(function (s) {
            if (!s.textContent.trim()) return;
            var k = contrast(getComputedStyle(s).color, bg);
            if (k < min) { min = k; worst = (s === code ? 'code' : s.className) + ' ' + getComputedStyle(s).color; }
          });
          c.bg = bg; c.minContrast = +min.toFixed(2); c.worst = worst;
          r.code.push(c);
        });
      }
      var num = document.querySelector('.reveal .slide-number');
      if (num && getComputedStyle(num).display !== 'none') {
        var n = num.getBoundingClientRect();
        r.numberOverlapsControls = Array.prototype.some.call(document.querySelectorAll('.reveal .controls button.enabled'), function (b) {
          return overlap(n, b.getBoundingClientRect());
        });
      }
      out.slides.push(r);
    });
    var pre = document.createElement('pre');
    pre.id = 'slide-measurements';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  if (Reveal.isReady()) measure(); else Reveal.on('ready', measure);
})();
            """;
}
