///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

import workshop.Workshop;

/**
 * Lab 00: hello, Kafka.
 *
 * Before sending anything, make sure the topic exists, the way a deployment script would: with
 * the Admin client, safely re-runnable, and failing fast when the cluster is not there.
 *
 * Stages, mirrored in main:
 *   1. an Admin configuration that fails in seconds on a wrong address;
 *   2. create sensor-readings with 3 partitions unless it already exists;
 *   3. describe the cluster: its id, its brokers, its controller.
 */
class HelloKafka {

    static final String TOPIC = "sensor-readings";

    // tag::admin-config[]
    static Properties adminConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // Every Admin call gives up after 5 s instead of the 60 s default: a typo fails fast.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 5_000);
        // One request may not outlive the call it belongs to.
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
        return config;
    }
    // end::admin-config[]

    // tag::create-topic[]
    static boolean createTopicIfMissing(Admin admin, String topic, int partitions) throws InterruptedException {
        try {
            // Replication factor 1: a workshop broker is a cluster of one.
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get();
            return true;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) {
                return false; // a second run is a no-op, not an error
            }
            throw new IllegalStateException("Could not create " + topic + ": " + e.getCause().getMessage(), e.getCause());
        }
    }
    // end::create-topic[]

    // tag::describe[]
    static String describeCluster(Admin admin) throws InterruptedException, ExecutionException {
        DescribeClusterResult cluster = admin.describeCluster();
        return "cluster " + cluster.clusterId().get()
                + " with " + cluster.nodes().get().size() + " broker(s), controller " + cluster.controller().get().id();
    }
    // end::describe[]

    public static void main(String[] args) {
        Workshop.run("00-hello-kafka", args, cluster -> {
            Properties config = adminConfig(cluster.bootstrapServers());
            config.putAll(cluster.clientConfig());
            try (Admin admin = Admin.create(config)) {
                System.out.println("Connected to " + describeCluster(admin));
                boolean created = createTopicIfMissing(admin, TOPIC, 3);
                System.out.println(created ? "Created " + TOPIC + " with 3 partitions." : TOPIC + " already exists: nothing to do.");
                var description = admin.describeTopics(List.of(TOPIC)).allTopicNames().get().get(TOPIC);
                description.partitions().forEach(p ->
                        System.out.printf("  partition %d: leader broker %d%n", p.partition(), p.leader().id()));
            }
            // A typo in the address: how long until the lab hears of it?
            String nowhere = "127.0.0.1:1";
            long start = System.nanoTime();
            try (Admin lost = Admin.create(adminConfig(nowhere))) {
                System.out.println("✗ describeCluster answered \"" + describeCluster(lost) + "\" for " + nowhere + ", where no broker runs");
            } catch (ExecutionException | RuntimeException e) {
                Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
                System.out.printf("A wrong address (%s, no broker there) failed after %.1f s with %s; grading allows 15 s.%n",
                        nowhere, (System.nanoTime() - start) / 1e9, cause.getClass().getSimpleName());
            }
        });
        // Run me twice: the second run must say the topic exists. Then: ./jbang grade 00
    }
}
