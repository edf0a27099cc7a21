package workshop.checks;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ForwardingAdmin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.check.LabCheck;
import workshop.check.LearnerMessages;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Lab 00: topic creation that is safe to repeat and lets real failures out, a cluster
 * description, and a fast failure on a dead address.
 *
 * <p>The dead-address call starts in the background before the first check: its wait (the
 * learner's own timeout) overlaps the other checks instead of adding to them.
 */
class Lab00HelloKafkaCheck extends LabCheck {

    /** What "fails in seconds" means here. */
    static final Duration DEAD_BROKER_BOUND = Duration.ofSeconds(15);
    /** How long past the bound the check waits before it calls the lab's call a hang. */
    static final Duration HANG_MARGIN = Duration.ofSeconds(5);
    /** Below this, an Admin call cannot even connect: a timeout in seconds written as milliseconds. */
    static final int SHORTEST_SENSIBLE_TIMEOUT_MS = 1_000;
    /** A topic a create has just made may take a moment to reach the broker's metadata. */
    static final Duration METADATA_BOUND = Duration.ofSeconds(15);

    static Admin checkerAdmin;
    static long deadCallStart;
    static CompletableFuture<DeadCall> deadCall;

    /** What the lab's describeCluster did against an address where no broker runs. */
    record DeadCall(Object returned, Throwable thrown, Duration took) {
    }

    @BeforeAll
    static void startDeadBootstrapCall() {
        checkerAdmin = admin();
        deadCallStart = System.nanoTime();
        deadCall = new CompletableFuture<>();
        Thread caller = new Thread(() -> {
            Admin dead = null;
            try {
                Properties config = lab().call("adminConfig", deadBootstrap());
                try {
                    dead = Admin.create(config);
                } catch (RuntimeException e) {
                    throw new AssertionError("No Admin client can be built from adminConfig's properties:\n    "
                            + LearnerMessages.chain(e), e);
                }
                long start = System.nanoTime();
                try {
                    Object result = lab().call("describeCluster", dead);
                    deadCall.complete(new DeadCall(result, null, Duration.ofNanos(System.nanoTime() - start)));
                } catch (Throwable e) {
                    deadCall.complete(new DeadCall(null, e, Duration.ofNanos(System.nanoTime() - start)));
                }
            } catch (Throwable e) {
                // adminConfig unfinished or unusable: the first check reports that, with its reason.
                deadCall.completeExceptionally(e);
            } finally {
                if (dead != null) {
                    dead.close(Duration.ZERO);
                }
            }
        }, "lab-describeCluster-dead-bootstrap");
        caller.setDaemon(true);
        caller.start();
    }

    @AfterAll
    static void closeAdmin() {
        if (checkerAdmin != null) {
            checkerAdmin.close(Duration.ofSeconds(5));
        }
    }

    @Test
    @Order(1)
    @Timeout(60)
    @DisplayName("adminConfig points the Admin client at the given broker")
    void adminConfigReachesTheBroker() throws Exception {
        Properties config = lab().call("adminConfig", bootstrapServers());
        assertThat(config).as("adminConfig returned null: return the Properties it filled").isNotNull();
        assertThat(config.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG))
                .as("adminConfig should set %s to the address it is given", AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG)
                .hasToString(bootstrapServers());
        Admin admin;
        try {
            admin = Admin.create(config);
        } catch (RuntimeException e) {
            throw new AssertionError("No Admin client can be built from adminConfig's properties:\n    "
                    + LearnerMessages.chain(e), e);
        }
        try (admin) {
            AdminClientConfig effective = new AdminClientConfig(config);
            for (String key : List.of(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG)) {
                int ms = effective.getInt(key);
                if (ms < SHORTEST_SENSIBLE_TIMEOUT_MS) {
                    throw new AssertionError("adminConfig sets " + key + " to " + ms + " ms: too short for any call to reach a "
                            + "broker. Kafka's timeouts are in milliseconds (10 s is 10000).");
                }
            }
            // With sane timeouts, a time-out here means a loaded machine, not a wrong answer: try again.
            for (int attempt = 1; ; attempt++) {
                try {
                    assertThat(admin.describeCluster().clusterId().get(30, TimeUnit.SECONDS)).isNotBlank();
                    break;
                } catch (ExecutionException e) {
                    if (attempt < 3 && e.getCause() instanceof org.apache.kafka.common.errors.TimeoutException) {
                        continue;
                    }
                    throw new AssertionError("An Admin client built from adminConfig could not reach the broker at "
                            + bootstrapServers() + ":\n    " + LearnerMessages.chain(e.getCause()), e);
                }
            }
        }
    }

    @Test
    @Order(2)
    @DisplayName("createTopicIfMissing creates the topic with the partitions asked for")
    void createsTheTopic() {
        String topic = uniqueName("sensor-readings");
        boolean created = lab().call("createTopicIfMissing", checkerAdmin, topic, 3);
        assertThat(created).as("createTopicIfMissing should return true when it created the topic").isTrue();
        assertThat(partitionsOf(topic, "createTopicIfMissing returned true"))
                .as("The topic should have the 3 partitions asked for")
                .isEqualTo(3);
    }

    @Test
    @Order(3)
    @DisplayName("a second run is a no-op, not an error")
    void secondRunIsANoOp() {
        String topic = uniqueName("sensor-readings");
        lab().call("createTopicIfMissing", checkerAdmin, topic, 3);
        boolean createdAgain;
        try {
            createdAgain = lab().call("createTopicIfMissing", checkerAdmin, topic, 3);
        } catch (RuntimeException | AssertionError e) {
            throw new AssertionError("The second run of createTopicIfMissing failed with " + LearnerMessages.chain(e)
                    + "\nWhen the topic already exists (a TopicExistsException as the cause), return false instead.", e);
        }
        assertThat(createdAgain).as("The second call should return false: the topic was already there").isFalse();
        assertThat(partitionsOf(topic, "After two runs")).as("The topic should still have 3 partitions").isEqualTo(3);
    }

    @Test
    @Order(4)
    @DisplayName("a topic another process creates at the same moment is not an error")
    void concurrentCreateIsANoOp() {
        String topic = uniqueName("sensor-readings");
        boolean created;
        try (RacingAdmin racing = new RacingAdmin()) {
            try {
                created = lab().call("createTopicIfMissing", racing, topic, 3);
            } catch (RuntimeException | AssertionError e) {
                if (causedBy(e, TopicExistsException.class)) {
                    throw new AssertionError("Another process created " + topic + " just before your createTopics call (as two "
                            + "deployments started together would), and createTopicIfMissing failed with "
                            + LearnerMessages.chain(e) + "\nChecking first (listTopics, describeTopics) cannot rule this out: "
                            + "treat a TopicExistsException from the create itself as \"nothing to do\" and return false.", e);
                }
                throw e;
            }
            assertThat(racing.raced).as("The checker's admin saw no createTopics call: createTopicIfMissing should create "
                    + "the topic with the Admin client it is given").isTrue();
        }
        assertThat(created)
                .as("Another process created %s just before your createTopics call, so that create failed with a "
                    + "TopicExistsException, yet createTopicIfMissing returned true. Did it wait for the create's result "
                    + "(all().get()) and look at the failure?", topic)
                .isFalse();
    }

    @Test
    @Order(5)
    @DisplayName("a failure other than \"already exists\" is not hidden")
    void otherFailuresAreLetOut() {
        String topic = uniqueName("sensor-readings");
        Object returned;
        try {
            // Zero partitions: the broker refuses the topic, a failure that has nothing to do with its existence.
            returned = lab().call("createTopicIfMissing", checkerAdmin, topic, 0);
        } catch (RuntimeException | AssertionError e) {
            if (e instanceof AssertionError && e.getMessage() != null && e.getMessage().startsWith("TODO")) {
                throw e;
            }
            return;
        }
        String refusal;
        try {
            checkerAdmin.createTopics(List.of(new NewTopic(topic, 0, (short) 1)), new CreateTopicsOptions().validateOnly(true))
                    .all().get(30, TimeUnit.SECONDS);
            throw new IllegalStateException("The checker expected the broker to refuse a topic with 0 partitions, and it did not");
        } catch (ExecutionException e) {
            refusal = e.getCause().toString();
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not ask the broker about a topic with 0 partitions: " + e, e);
        }
        throw new AssertionError("createTopicIfMissing(admin, \"" + topic + "\", 0) returned " + returned + ", but the broker "
                + "refused to create that topic (" + refusal + "). Only a TopicExistsException means \"already there\": "
                + "let every other failure out (throw), or a deployment script reports success for a topic that does not exist.");
    }

    @Test
    @Order(6)
    @DisplayName("describeCluster names the cluster id and the controller")
    void describesTheCluster() throws Exception {
        DescribeClusterResult cluster = checkerAdmin.describeCluster();
        String clusterId = cluster.clusterId().get(30, TimeUnit.SECONDS);
        int controller = cluster.controller().get(30, TimeUnit.SECONDS).id();
        String description = lab().call("describeCluster", checkerAdmin);
        assertThat(description)
                .as("describeCluster should return a line with the cluster id (%s) and the controller's id (%d)", clusterId, controller)
                .contains(clusterId)
                .contains(Integer.toString(controller));
    }

    @Test
    @Order(7)
    @Timeout(40)
    @DisplayName("a wrong bootstrap address fails within 15 s")
    void deadBootstrapFailsFast() throws Exception {
        Duration hang = DEAD_BROKER_BOUND.plus(HANG_MARGIN);
        long waitMs = hang.toMillis() - (System.nanoTime() - deadCallStart) / 1_000_000;
        DeadCall call;
        try {
            call = deadCall.get(Math.max(waitMs, 0), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            // adminConfig itself failed (a TODO, or properties no client accepts): said as the first check says it.
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error error) {
                throw error;
            }
            throw e;
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError(stillWaiting(hang));
        }
        if (call.thrown() == null) {
            throw new AssertionError("describeCluster returned \"" + call.returned() + "\" for an address where no broker runs: "
                    + "it should fail (throw), so a wrong address is noticed");
        }
        if (call.thrown() instanceof AssertionError todo) {
            throw todo;
        }
        assertThat(call.took())
                .as("With no broker at the address, describeCluster failed only after %d s. %s", call.took().toSeconds(),
                        timeoutAdvice())
                .isLessThanOrEqualTo(DEAD_BROKER_BOUND);
    }

    private static String stillWaiting(Duration hang) {
        return "With no broker at the address, describeCluster was still waiting after " + hang.toSeconds() + " s. " + timeoutAdvice();
    }

    /** Tells an unbounded configuration apart from a bound that describeCluster does not honour. */
    private static String timeoutAdvice() {
        Properties config = lab().call("adminConfig", deadBootstrap());
        int apiTimeout;
        try {
            apiTimeout = new AdminClientConfig(config).getInt(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG);
        } catch (RuntimeException e) {
            return "Bound the Admin calls in adminConfig (" + AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG + ").";
        }
        if (apiTimeout > DEAD_BROKER_BOUND.toMillis()) {
            return "adminConfig leaves " + AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG + " at " + apiTimeout
                   + " ms" + (config.containsKey(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG) ? "" : " (the default)")
                   + ": bound the Admin calls there so a wrong address fails in seconds.";
        }
        return "adminConfig bounds Admin calls at " + apiTimeout + " ms, yet describeCluster took longer: does it set a longer "
               + "timeout of its own (DescribeClusterOptions.timeoutMs), retry after a failure, or wait on something else?";
    }

    /** The topic's partition count, once the broker's metadata knows the topic. */
    private static int partitionsOf(String topic, String after) {
        AtomicReference<Integer> partitions = new AtomicReference<>();
        try {
            await().atMost(METADATA_BOUND).pollInterval(Duration.ofMillis(50)).until(() -> {
                try {
                    partitions.set(checkerAdmin.describeTopics(List.of(topic)).allTopicNames().get(10, TimeUnit.SECONDS)
                            .get(topic).partitions().size());
                    return true;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        return false;
                    }
                    throw new IllegalStateException("The checker could not describe topic " + topic + ": " + e.getCause(), e);
                }
            });
        } catch (ConditionTimeoutException e) {
            throw new AssertionError(after + ", but " + METADATA_BOUND.toSeconds() + " s later the broker still knows no topic "
                    + topic + ": did createTopicIfMissing create it, with the name it was given, and wait for all().get()?");
        }
        return partitions.get();
    }

    private static boolean causedBy(Throwable failure, Class<? extends Throwable> type) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return true;
            }
        }
        return false;
    }

    /**
     * An Admin client where another process wins the race: just before the lab's createTopics
     * reaches the broker, the same topic is created by someone else.
     */
    static final class RacingAdmin extends ForwardingAdmin {
        volatile boolean raced;

        RacingAdmin() {
            super(Map.of(
                    AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
                    // The checker's own calls get a generous bound on a loaded machine.
                    AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000));
        }

        @Override
        public CreateTopicsResult createTopics(Collection<NewTopic> newTopics, CreateTopicsOptions options) {
            if (!raced && !options.shouldValidateOnly()) {
                raced = true;
                List<NewTopic> theirs = newTopics.stream().map(t -> new NewTopic(t.name(), 3, (short) 1)).toList();
                try {
                    super.createTopics(theirs, new CreateTopicsOptions()).all().get(30, TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new IllegalStateException("The checker could not create " + newTopics + " ahead of the lab: " + e, e);
                }
            }
            return super.createTopics(newTopics, options);
        }
    }
}
