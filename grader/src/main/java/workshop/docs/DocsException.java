package workshop.docs;

import java.util.List;

/**
 * A docs build that cannot go on (missing source, reveal.js not to be had) or, from
 * {@link Docs#renderStrict}, one whose output has problems. The message is fit to print as is.
 */
public class DocsException extends RuntimeException {

    private final transient List<Docs.Problem> problems;

    public DocsException(String message) {
        this(message, List.of());
    }

    public DocsException(String message, List<Docs.Problem> problems) {
        super(message);
        this.problems = List.copyOf(problems);
    }

    /** The problems found, empty unless thrown by a strict render. */
    public List<Docs.Problem> problems() {
        return problems;
    }
}
