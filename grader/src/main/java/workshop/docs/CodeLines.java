package workshop.docs;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.asciidoctor.ast.Document;
import org.asciidoctor.extension.Postprocessor;

/**
 * In the slides, puts each line of a highlighted listing in its own {@code <span class="line"
 * style="--indent:N">}, N its leading spaces, so the slides' CSS can wrap a line that is wider than
 * the slide with the continuation indented under it (the listings are the solutions' own code, whose
 * lines may be wider than a slide at a size readable from the back of a room). Rouge's spans that
 * cross a line end (a block comment) are closed at the end of the line and reopened on the next.
 * The guide (html5 backend) is left alone.
 */
final class CodeLines extends Postprocessor {

    private static final Pattern LISTING =
            Pattern.compile("(<pre class=\"rouge highlight\"><code[^>]*>)(.*?)(</code></pre>)", Pattern.DOTALL);
    private static final Pattern TAG = Pattern.compile("<span[^>]*>|</span>");

    @Override
    public String process(Document document, String output) {
        if (!"revealjs".equals(document.getAttribute("backend"))) {
            return output;
        }
        return wrapLines(output);
    }

    static String wrapLines(String html) {
        Matcher m = LISTING.matcher(html);
        StringBuilder out = new StringBuilder(html.length() + html.length() / 4);
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(m.group(1) + lines(m.group(2)) + m.group(3)));
        }
        m.appendTail(out);
        return out.toString();
    }

    /** The body of one {@code <code>}: each line its own block, joined without newlines (a block ends a line). */
    static String lines(String body) {
        StringBuilder out = new StringBuilder(body.length() * 2);
        Deque<String> open = new ArrayDeque<>(); // innermost first
        String[] lines = body.split("\n", -1);
        int last = lines.length;
        if (last > 1 && lines[last - 1].isEmpty()) {
            last--; // a trailing newline is no line of its own
        }
        for (int i = 0; i < last; i++) {
            String line = lines[i];
            out.append("<span class=\"line\" style=\"--indent:").append(indent(line)).append("\">");
            open.descendingIterator().forEachRemaining(out::append);
            out.append(line);
            Matcher tag = TAG.matcher(line);
            while (tag.find()) {
                if (tag.group().startsWith("</")) {
                    open.pollFirst();
                } else {
                    open.addFirst(tag.group());
                }
            }
            out.append("</span>".repeat(open.size())).append("</span>");
        }
        return out.toString();
    }

    /** The leading spaces of a line's text (tags do not count; a tab counts as one). */
    static int indent(String line) {
        String text = TAG.matcher(line).replaceAll("");
        int n = 0;
        while (n < text.length() && (text.charAt(n) == ' ' || text.charAt(n) == '\t')) {
            n++;
        }
        return n;
    }
}
