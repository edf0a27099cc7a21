package workshop.check;

import java.util.concurrent.ExecutionException;

import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

class LearnerMessagesTest {

    @Test
    void aLearnersExceptionShowsItsCauseChainAndTheLabsLine() {
        // A class in the default package, like a lab: named code cannot refer to it but by reflection.
        Throwable thrown = catchThrowable(() -> Class.forName("LabLike").getMethod("adminWithBadTimeouts").invoke(null)).getCause();

        String message = LearnerMessages.describe(thrown);

        assertThat(message).startsWith("Your code threw org.apache.kafka.common.KafkaException: Failed to create new KafkaAdminClient")
                .contains("caused by org.apache.kafka.common.config.ConfigException: The specified value of default.api.timeout.ms")
                .contains("(adminWithBadTimeouts)");
    }

    @Test
    void anExceptionFromCheckerCodeIsTheCheckersFailure() {
        Throwable thrown = new IllegalStateException("could not read the topic",
                new UnknownTopicOrPartitionException("This server does not host this topic-partition."));

        String message = LearnerMessages.describe(thrown);

        assertThat(message).startsWith("The checker itself failed, not your code")
                .contains("caused by org.apache.kafka.common.errors.UnknownTopicOrPartitionException")
                .doesNotContain("Your code threw");
    }

    @Test
    void aFuturesFailureBlamesNoOne() {
        Throwable thrown = new ExecutionException(new UnknownTopicOrPartitionException("gone"));

        assertThat(LearnerMessages.describe(thrown)).startsWith("A future failed: ").doesNotContain("Your code threw")
                .doesNotContain("checker itself");
    }

    @Test
    void aCauseTheOuterMessageAlreadyQuotesIsNotRepeated() {
        UnknownTopicOrPartitionException cause = new UnknownTopicOrPartitionException("gone");
        Throwable thrown = new RuntimeException(cause);

        assertThat(LearnerMessages.chain(thrown)).isEqualTo(thrown.toString());
    }
}
