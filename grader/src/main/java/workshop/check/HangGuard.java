package workshop.check;

import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;

/**
 * Once a check times out, the learner's stuck thread is still running: later checks would only
 * hang behind it, so they fail at once, saying why. This keeps a hung lab within one check's bound.
 */
public final class HangGuard implements BeforeEachCallback, TestExecutionExceptionHandler {

    private static volatile String hungCheck;

    @Override
    public void beforeEach(ExtensionContext context) {
        if (hungCheck != null) {
            throw new AssertionError("Not run: the lab's code is still stuck in the check \"" + hungCheck + "\".");
        }
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable failure) throws Throwable {
        if (failure instanceof TimeoutException) {
            hungCheck = context.getDisplayName();
            throw new AssertionError(LearnerMessages.describe(failure), failure);
        }
        throw failure;
    }
}
