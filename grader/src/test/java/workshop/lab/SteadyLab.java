package workshop.lab;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import workshop.Workshop;

/**
 * A lab in miniature, run by {@link BrokerDeathTest} in a JVM of its own: through
 * {@link Workshop#run} like every lab, it sends a reading every 100 ms and waits for each.
 * {@code -Dsteady.mode} picks how it meets a broker that dies:
 * <ul>
 *   <li>{@code patient}: waits on each send without a bound, as a lab with Kafka's defaults does;</li>
 *   <li>{@code hasty}: notices the dead address itself and makes one more Kafka call, bounded at
 *       0.5 s, whose exception reaches {@code Workshop.run} before any watch could speak;</li>
 *   <li>{@code brief}: stops by itself after {@code -Dsteady.seconds} and ends cleanly.</li>
 * </ul>
 */
public final class SteadyLab {

    private SteadyLab() {
    }

    public static void main(String[] args) {
        String mode = System.getProperty("steady.mode", "patient");
        Duration runFor = Duration.ofSeconds(Long.getLong("steady.seconds", 3_600));
        Workshop.run("SteadyLab", args, cluster -> {
            cluster.ensureTopic("steady", 1);
            Properties config = cluster.clientConfig();
            config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
            long end = System.nanoTime() + runFor.toNanos();
            boolean first = true;
            try (Producer<String, String> producer = new KafkaProducer<>(config)) {
                while (System.nanoTime() < end) {
                    if (mode.equals("hasty")) {
                        if (!answers(cluster.bootstrapServers())) {
                            producer.close(Duration.ZERO); // a send still waiting would hold the close below for 2 min
                            lookUpWithoutBroker(config); // throws within 0.5 s
                        }
                        try {
                            producer.send(new ProducerRecord<>("steady", "sensor-1", "reading")).get(200, TimeUnit.MILLISECONDS);
                        } catch (TimeoutException slow) {
                            continue; // look at the address again before the next send
                        }
                    } else {
                        producer.send(new ProducerRecord<>("steady", "sensor-1", "reading")).get();
                    }
                    if (first) {
                        System.out.println("sent the first reading");
                        first = false;
                    }
                    TimeUnit.MILLISECONDS.sleep(100);
                }
            }
            System.out.println("done sending");
        });
    }

    /** What a lab's client meets when it asks a dead broker for metadata: a TimeoutException. */
    private static void lookUpWithoutBroker(Properties config) {
        Properties bounded = new Properties();
        bounded.putAll(config);
        // A lab that bounds its waits learns of a dead broker from its own client first.
        bounded.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 500);
        try (Producer<String, String> producer = new KafkaProducer<>(bounded)) {
            producer.partitionsFor("steady");
        }
    }

    private static boolean answers(String address) {
        String[] hostPort = address.split(",")[0].split(":");
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(hostPort[0], Integer.parseInt(hostPort[1])), 1_000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
