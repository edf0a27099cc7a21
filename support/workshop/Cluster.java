package workshop;

import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/** The broker a lab talks to: its address, extra client settings, and an embedded broker to stop. */
public final class Cluster implements AutoCloseable {

    private final String bootstrapServers;
    private final Properties clientConfig;
    private final AutoCloseable embedded;
    private final IntPredicate brokerStopper;

    public Cluster(String bootstrapServers, Properties clientConfig, EmbeddedKafka embedded) {
        this(bootstrapServers, clientConfig, embedded, id -> false);
    }

    /**
     * A cluster whose brokers this run may stop: {@code brokerStopper} kills broker {@code id}
     * and says whether it could.
     */
    public Cluster(String bootstrapServers, Properties clientConfig, AutoCloseable embedded, IntPredicate brokerStopper) {
        this.bootstrapServers = bootstrapServers;
        this.clientConfig = clientConfig;
        this.embedded = embedded;
        this.brokerStopper = brokerStopper;
    }

    /**
     * Stops broker {@code id} as a crash would, when this run may (a cluster it started, or one
     * that {@code ./jbang broker --nodes 3} runs from this folder); false when it cannot.
     */
    public boolean stopBroker(int id) {
        return brokerStopper.test(id);
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** Bootstrap address plus any settings from --command-config (SASL, SSL). */
    public Properties clientConfig() {
        Properties config = new Properties();
        config.putAll(clientConfig);
        config.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return config;
    }

    public Admin admin() {
        return Admin.create(clientConfig());
    }

    /** Creates the topic unless it exists; the labs' own plumbing, not a TODO. */
    public void ensureTopic(String topic, int partitions) {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new Workshop.WorkshopException("Could not create topic " + topic + ": " + e.getCause().getMessage());
            }
        } catch (Exception e) {
            throw new Workshop.WorkshopException("Could not create topic " + topic + ": " + e);
        }
    }

    @Override
    public void close() {
        if (embedded != null) {
            try {
                embedded.close();
            } catch (Exception e) {
                System.err.println("The embedded Kafka did not stop cleanly: " + e.getMessage());
            }
        }
    }
}
