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

    static Properties adminConfig(String bootstrapServers) {
        Properties config = new Properties();
        // TODO 1: point the Admin client at bootstrapServers, and bound how long any Admin call may
        //         take (AdminClientConfig has the keys), so a wrong address fails in seconds.
        throw Workshop.todo(1, "configure the Admin client to fail fast");
    }

    static boolean createTopicIfMissing(Admin admin, String topic, int partitions) throws InterruptedException {
        // TODO 2: create the topic with this many partitions and replication factor 1, and return
        //         true. If it already exists, return false: running the lab twice is not an error.
        throw Workshop.todo(2, "create the topic unless it exists");
    }

    static String describeCluster(Admin admin) throws InterruptedException, ExecutionException {
        // TODO 3: describe the cluster: return a line with its cluster id, how many brokers it has,
        //         and which one is the controller.
        throw Workshop.todo(3, "describe the cluster");
    }

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
