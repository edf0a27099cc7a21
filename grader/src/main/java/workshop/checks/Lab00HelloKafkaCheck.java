package workshop.checks;

import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.check.LabCheck;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/** Lab 00: topic creation that is safe to repeat, a cluster description, and a fast failure. */
class Lab00HelloKafkaCheck extends LabCheck {

    /** What "fails in seconds" means here; the check itself gives up a little later. */
    static final Duration DEAD_BROKER_BOUND = Duration.ofSeconds(15);

    @Test
    @Order(1)
    @DisplayName("adminConfig points the Admin client at the given broker")
    void adminConfigReachesTheBroker() throws Exception {
        Properties config = lab().call("adminConfig", bootstrapServers());
        assertThat(config.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG))
                .as("adminConfig should set %s to the address it is given", AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG)
                .hasToString(bootstrapServers());
        try (Admin admin = Admin.create(config)) {
            assertThat(admin.describeCluster().clusterId().get(15, TimeUnit.SECONDS)).isNotBlank();
        }
    }

    @Test
    @Order(2)
    @DisplayName("createTopicIfMissing creates the topic with the partitions asked for")
    void createsTheTopic() throws Exception {
        String topic = uniqueName("sensor-readings");
        try (Admin admin = admin()) {
            boolean created = lab().call("createTopicIfMissing", admin, topic, 3);
            assertThat(created).as("createTopicIfMissing should return true when it created the topic").isTrue();
            assertThat(partitionsOf(admin, topic))
                    .as("The topic should have the 3 partitions asked for")
                    .isEqualTo(3);
        }
    }

    @Test
    @Order(3)
    @DisplayName("a second run is a no-op, not an error")
    void secondRunIsANoOp() throws Exception {
        String topic = uniqueName("sensor-readings");
        try (Admin admin = admin()) {
            lab().call("createTopicIfMissing", admin, topic, 3);
            boolean createdAgain;
            try {
                createdAgain = lab().call("createTopicIfMissing", admin, topic, 3);
            } catch (RuntimeException | AssertionError e) {
                throw new AssertionError("The second run of createTopicIfMissing failed with " + e
                        + ". When the topic already exists (a TopicExistsException as the cause), return false instead.", e);
            }
            assertThat(createdAgain).as("The second call should return false: the topic was already there").isFalse();
            assertThat(partitionsOf(admin, topic)).as("The topic should still have 3 partitions").isEqualTo(3);
        }
    }

    @Test
    @Order(4)
    @DisplayName("describeCluster names the cluster id and the controller")
    void describesTheCluster() throws Exception {
        try (Admin admin = admin()) {
            String clusterId = admin.describeCluster().clusterId().get(15, TimeUnit.SECONDS);
            int controller = admin.describeCluster().controller().get(15, TimeUnit.SECONDS).id();
            String description = lab().call("describeCluster", admin);
            assertThat(description)
                    .as("describeCluster should return a line with the cluster id (%s) and the controller's id (%d)", clusterId, controller)
                    .contains(clusterId)
                    .contains(Integer.toString(controller));
        }
    }

    @Test
    @Order(5)
    @Timeout(40)
    @DisplayName("a wrong bootstrap address fails within 15 s")
    void deadBootstrapFailsFast() {
        Properties config = lab().call("adminConfig", deadBootstrap());
        Admin admin = Admin.create(config);
        long start = System.nanoTime();
        try {
            Throwable failure = assertTimeoutPreemptively(DEAD_BROKER_BOUND.plusSeconds(5), () -> {
                try {
                    Object result = lab().call("describeCluster", admin);
                    return new AssertionError("describeCluster returned \"" + result + "\" for an address where no broker runs; it should fail");
                } catch (RuntimeException e) {
                    return null;
                }
            }, () -> "With no broker at the address, describeCluster was still waiting after " + DEAD_BROKER_BOUND.plusSeconds(5).toSeconds()
                     + " s (the Admin default is 60 s). Bound the Admin calls in adminConfig (" + AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG
                     + ") so a wrong address fails in seconds");
            if (failure != null) {
                throw (AssertionError) failure;
            }
        } finally {
            admin.close(Duration.ZERO);
        }
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertThat(took)
                .as("With no broker at the address, describeCluster failed only after %d s: bound the Admin calls "
                    + "(%s) so a wrong address fails in seconds", took.toSeconds(), AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG)
                .isLessThanOrEqualTo(DEAD_BROKER_BOUND);
    }

    private static int partitionsOf(Admin admin, String topic) throws Exception {
        TopicDescription description = admin.describeTopics(List.of(topic)).allTopicNames().get(15, TimeUnit.SECONDS).get(topic);
        return description.partitions().size();
    }
}
