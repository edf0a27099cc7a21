package workshop.check;

import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Turns what a failed check threw into the sentence a learner reads. */
public final class LearnerMessages {

    private LearnerMessages() {
    }

    private static final Pattern ASSERTJ_DESCRIPTION = Pattern.compile("^\\[(.*?)\\]\\s*\\n(.*)$", Pattern.DOTALL);

    /** AssertJ prints "[description] expected/actual"; a learner reads the description first. */
    static String withoutBrackets(String message) {
        Matcher m = ASSERTJ_DESCRIPTION.matcher(message);
        return m.matches() ? m.group(1).strip() + "\n" + m.group(2).strip() : message;
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
        StringBuilder text = new StringBuilder("Your code threw ").append(shown);
        for (StackTraceElement frame : shown.getStackTrace()) {
            if (frame.getClassName().indexOf('.') < 0) { // lab classes live in the default package
                text.append("\n    at ").append(LabUnderTest.currentFile()).append(':').append(frame.getLineNumber())
                        .append(" (").append(frame.getMethodName()).append(')');
                break;
            }
        }
        return text.toString();
    }
}
