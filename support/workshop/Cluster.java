package workshop;

import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntPredicate;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;

/** The broker a lab talks to: its address, extra client settings, and an embedded broker to stop. */
public final class Cluster implements AutoCloseable {

    /** How long one of the runtime's own admin calls may take: seconds, as fits a workshop. */
    static final Duration ADMIN_CALL_BOUND = Duration.ofSeconds(15);

    private final String bootstrapServers;
    private final Properties clientConfig;
    private final AutoCloseable embedded;
    private final IntPredicate brokerStopper;
    private volatile List<String> knownBrokers = List.of();

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

    /**
     * Remembers the brokers the cluster itself named at connect time ("host:port"): the bootstrap
     * address may name one broker of several, and only when none of them answers is it gone.
     */
    Cluster knowingBrokers(List<String> addresses) {
        this.knownBrokers = List.copyOf(addresses);
        return this;
    }

    /** The brokers the cluster named at connect time, one address each; empty if it was not asked. */
    List<String> knownBrokers() {
        return knownBrokers;
    }

    /** Every address this run knows a broker of this cluster at: the bootstrap ones first. */
    List<String> knownAddresses() {
        Set<String> addresses = new LinkedHashSet<>();
        for (String address : bootstrapServers.split(",")) {
            if (!address.isBlank()) {
                addresses.add(address.trim());
            }
        }
        addresses.addAll(knownBrokers);
        return List.copyOf(addresses);
    }

    /** Whether this run started the broker (or brokers) for itself, to throw away at the end. */
    boolean isThrowaway() {
        return embedded != null;
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

    /**
     * An Admin client for the lab's plumbing, bounded for a workshop: a call fails after
     * {@link #ADMIN_CALL_BOUND}, not after Kafka's 60 s default (settings from --command-config win).
     */
    public Admin admin() {
        Properties config = new Properties();
        // A lab's admin calls take milliseconds on a live broker: waiting a minute only hides a dead one.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ADMIN_CALL_BOUND.toMillis());
        // Each request within the call's bound, so a lost one is retried before the call gives up.
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) ADMIN_CALL_BOUND.toMillis() * 2 / 3);
        config.putAll(clientConfig());
        return Admin.create(config);
    }

    /** Creates the topic unless it exists; the labs' own plumbing, not a TODO. */
    public void ensureTopic(String topic, int partitions) {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(ADMIN_CALL_BOUND.toMillis(), TimeUnit.MILLISECONDS);
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
