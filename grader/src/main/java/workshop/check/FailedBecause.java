package workshop.check;

/**
 * A check's failure whose cause another check isolates: the report names that check as the one
 * to fix first, so the learner starts at the cause rather than at the first ✗ in order.
 */
public final class FailedBecause extends AssertionError {

    private final String causeCheck;

    /** {@code causeCheck} is the other check's name exactly as its {@code @DisplayName}. */
    public FailedBecause(String causeCheck, String message) {
        super(message);
        this.causeCheck = causeCheck;
    }

    public String causeCheck() {
        return causeCheck;
    }
}
