/** Stands in for a learner's lab class: lab classes live in the default package. */
public final class LabLike {

    private LabLike() {
    }

    public static void adminWithBadTimeouts() {
        throw new org.apache.kafka.common.KafkaException("Failed to create new KafkaAdminClient",
                new org.apache.kafka.common.config.ConfigException(
                        "The specified value of default.api.timeout.ms must be no smaller than the value of request.timeout.ms."));
    }
}
