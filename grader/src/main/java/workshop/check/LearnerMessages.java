package workshop.check;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.common.config.ConfigException;

/** Turns what a failed check threw into the sentence a learner reads. */
public final class LearnerMessages {

    private LearnerMessages() {
    }

    private static final Pattern ASSERTJ_DESCRIPTION = Pattern.compile("^\\[(.*?)\\]\\s*\\n(.*)$", Pattern.DOTALL);

    /** Causes beyond this many add nothing a learner reads. */
    private static final int MAX_CAUSES = 6;

    /** AssertJ prints "[description] expected/actual"; a learner reads the description first. */
    static String withoutBrackets(String message) {
        Matcher m = ASSERTJ_DESCRIPTION.matcher(message);
        return m.matches() ? m.group(1).strip() + "\n" + withoutRepeatedValues(m.group(2).strip()) : message;
    }

    /**
     * AssertJ prints a value under each heading ("to contain exactly in any order:", "but could
     * not find the following elements:"); when nothing matched, two of them are the same list.
     * A learner reads it once: the repeat becomes a pointer to the value above.
     */
    static String withoutRepeatedValues(String assertj) {
        List<String> out = new ArrayList<>();
        List<String> seen = new ArrayList<>();
        String[] lines = assertj.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String heading = lines[i];
            if (!heading.endsWith(":") || heading.startsWith(" ")) {
                out.add(heading);
                continue;
            }
            StringBuilder value = new StringBuilder();
            int j = i + 1;
            while (j < lines.length && lines[j].startsWith(" ")) {
                value.append(lines[j]).append('\n');
                j++;
            }
            String text = value.toString().strip();
            if (text.length() > 2 && seen.contains(text)) {
                out.add(heading.substring(0, heading.length() - 1) + ": the same as above");
            } else {
                out.add(heading);
                value.toString().lines().forEach(out::add);
                seen.add(text);
            }
            i = j - 1;
        }
        return String.join("\n", out);
    }

    public static String describe(Throwable failure) {
        if (failure instanceof AssertionError) {
            return failure.getMessage() == null ? "the check failed" : withoutBrackets(failure.getMessage().strip());
        }
        if (failure instanceof TimeoutException) {
            return "Your code did not return within the check's time limit: is there an endless loop, "
                   + "or a wait with no bound (get() without a timeout, close() without a Duration)?";
        }
        Throwable shown = failure instanceof LabUnderTest.LabThrew && failure.getCause() != null ? failure.getCause() : failure;
        StackTraceElement labFrame = firstLabFrame(shown);
        ConfigException refused = causeOfType(shown, ConfigException.class);
        if (labFrame == null && refused != null) {
            // The checkers build clients only from fixed settings and from those a lab returns.
            return "A Kafka client refused the configuration your code returned: " + refused.getMessage();
        }
        if (labFrame == null && (shown instanceof java.util.concurrent.ExecutionException
                                 || shown instanceof java.util.concurrent.CompletionException)) {
            // A future's failure carries no stack of whoever made the future: say what it was, blame no one.
            return "A future failed: " + chain(shown);
        }
        if (labFrame == null) {
            // Nothing of the lab's on the way: the checker's own code failed, not the learner's.
            return "The checker itself failed, not your code (grade again; if it fails the same way, tell the instructor): "
                   + chain(shown);
        }
        return "Your code threw " + chain(shown) + "\n    at " + LabUnderTest.currentFile() + ':' + labFrame.getLineNumber()
               + " (" + labFrame.getMethodName() + ')';
    }

    static <T extends Throwable> T causeOfType(Throwable failure, Class<T> type) {
        return causes(failure).stream().filter(type::isInstance).map(type::cast).findFirst().orElse(null);
    }

    /** {@code failure} and its causes, outermost first, at most {@link #MAX_CAUSES} of them: a cycle or a deep chain ends the walk. */
    public static List<Throwable> causes(Throwable failure) {
        List<Throwable> causes = new ArrayList<>();
        for (Throwable t = failure; t != null && causes.size() < MAX_CAUSES; t = t.getCause() == t ? null : t.getCause()) {
            causes.add(t);
        }
        return causes;
    }

    /**
     * The exception and its causes, one per line, down to the sentence that explains it. A cause
     * whose text the outer message already quotes is not repeated.
     */
    public static String chain(Throwable failure) {
        List<String> lines = new ArrayList<>();
        String previous = null;
        for (Throwable t : causes(failure)) {
            String text = t.toString();
            if (previous == null) {
                lines.add(text);
            } else if (!previous.contains(t.getMessage() == null ? text : t.getMessage())) {
                lines.add("caused by " + text);
            }
            previous = text;
        }
        return String.join("\n      ", lines);
    }

    /**
     * Where the lab's own code is in a stack: lab classes live in the default package. Looks
     * through the causes too, since a client may wrap what the lab's call threw.
     */
    static StackTraceElement firstLabFrame(Throwable failure) {
        for (Throwable t : causes(failure)) {
            for (StackTraceElement frame : t.getStackTrace()) {
                // A lambda's hidden frame has no line (-1): the learner's line is further down.
                if (frame.getClassName().indexOf('.') < 0 && frame.getLineNumber() > 0) {
                    return frame;
                }
            }
        }
        return null;
    }
}
