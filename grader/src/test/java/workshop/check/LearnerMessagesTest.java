package workshop.check;

import java.util.concurrent.ExecutionException;

import org.apache.kafka.common.config.ConfigException;
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
    void aConfigurationAClientRefusesIsTheLearners() {
        Throwable thrown = new org.apache.kafka.common.KafkaException("Failed to construct kafka producer",
                new ConfigException("To use the idempotent producer, max.in.flight.requests.per.connection must be set to at most 5."));

        assertThat(LearnerMessages.describe(thrown))
                .isEqualTo("A Kafka client refused the configuration your code returned: To use the idempotent producer,"
                           + " max.in.flight.requests.per.connection must be set to at most 5.");
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

    @Test
    void aListAssertJWouldPrintTwiceIsPrintedOnce() {
        AssertionError failure = (AssertionError) catchThrowable(() -> assertThat(java.util.List.<String>of())
                .as("The DLQ should hold each failed reading once")
                .containsExactlyInAnyOrderElementsOf(java.util.List.of("s1=21.5", "s2=19.0")));

        String message = LearnerMessages.describe(failure);

        assertThat(message).startsWith("The DLQ should hold each failed reading once\nExpecting actual:")
                .containsOnlyOnce("[\"s1=21.5\", \"s2=19.0\"]")
                .contains("but could not find the following elements: the same as above");
    }

    @Test
    void differentValuesAreAllKept() {
        AssertionError failure = (AssertionError) catchThrowable(() -> assertThat(java.util.List.of("a", "b"))
                .as("order").containsExactlyElementsOf(java.util.List.of("a", "c")));

        assertThat(LearnerMessages.describe(failure)).contains("[\"a\", \"b\"]", "[\"a\", \"c\"]", "[\"c\"]", "[\"b\"]");
    }
}
