///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//DEPS org.apache.kafka:kafka-tools:4.3.1
//SOURCES ../support/workshop/*.java

import java.io.ByteArrayOutputStream;
import java.io.FileWriter;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.tools.ProducerPerformance;

import workshop.Cluster;
import workshop.ThroughputBench;
import workshop.ThroughputBench.Result;
import workshop.Workshop;

/**
 * Lab 06: throughput, and backpressure.
 *
 * A sensor gateway forwards readings as fast as they arrive. Kafka's defaults send them in small
 * uncompressed batches; three settings make the same producer several times faster. And a source
 * faster than the broker must be held back: a bound on the records in flight, given back when
 * the broker acknowledges, keeps memory and latency in check at full speed.
 *
 * Stages, mirrored in main:
 *   1. a tuned configuration: bigger batches, a little linger, compression;
 *   2. a send loop that takes a permit for each record before it sends it...
 *   3. ...and gives it back in the callback, once the broker has answered;
 *   4. the benchmark: defaults against tuned, and Kafka's own ProducerPerformance on the same broker.
 */
class ThroughputLab {

    static final int RECORD_SIZE = 128;
    static final int RECORDS = 500_000;
    /** One partition: each request carries one batch of it, so what batch.size does shows plainly. */
    static final int PARTITIONS = 1;
    /**
     * At most this many records sent and not yet acknowledged: 50,000 x 128 bytes is 6.4 MB, enough
     * to keep 5 requests of full batches in flight while the broker is slow to answer.
     */
    static final int MAX_IN_FLIGHT = 50_000;

    static Properties producerConfig(String bootstrapServers) {
        Properties config = new Properties();
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        // The records are JSON readings, sent without a key: the producer spreads them over the partitions.
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return config;
    }

    static Properties tunedConfig(String bootstrapServers) {
        // TODO 1: start from producerConfig(bootstrapServers) and tune it for throughput, one setting per
        //         line with a ProducerConfig constant: a bigger batch.size (in bytes; the default is 16384),
        //         a linger.ms a little above the default 5 ms, and a compression.type. Leave acks and
        //         idempotence as they are: speed is not bought with durability here.
        throw Workshop.todo(1, "tune batch.size, linger.ms and compression.type");
    }

    /** Sends every value the source hands out; returns how many the broker acknowledged. */
    static long sendBounded(Producer<String, String> producer, String topic, Iterator<String> source, Semaphore permits)
            throws InterruptedException {
        // TODO 2: send every value the source hands out as a record without a key, with a callback.
        //         Before each send, take a permit: when none is left, as many records as the bound
        //         allows are in flight, and the loop must wait (that wait is the backpressure).
        // TODO 3: in the callback, give the permit back, on success and on failure alike, and count
        //         the records the broker acknowledged. Wait for every callback before returning the count.
        throw Workshop.todo(2, "take a permit before each send");
    }

    /** Sends {@code count} readings with this configuration, through the bounded loop, and times it. */
    static Result measure(String name, Properties base, Cluster cluster, List<String> readings, int count) throws Exception {
        String topic = "readings-" + UUID.randomUUID().toString().substring(0, 8);
        cluster.ensureTopic(topic, PARTITIONS);
        Properties config = new Properties();
        config.putAll(base);
        String clientId = "lab06-" + UUID.randomUUID().toString().substring(0, 8);
        config.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        // Times each record from send() to its acknowledgement, as ProducerPerformance does.
        config.put(ProducerConfig.INTERCEPTOR_CLASSES_CONFIG, ThroughputBench.Latencies.class.getName());
        ThroughputBench.Latencies.reset();
        try (ThroughputBench.BufferWatch buffer = new ThroughputBench.BufferWatch(clientId);
             Producer<String, String> producer = new KafkaProducer<>(config)) {
            producer.partitionsFor(topic); // fetch metadata before the clock starts
            long start = System.nanoTime();
            long acknowledged = sendBounded(producer, topic, ThroughputBench.source(readings, count), new Semaphore(MAX_IN_FLIGHT));
            double seconds = (System.nanoTime() - start) / 1e9;
            return new Result(name, acknowledged, RECORD_SIZE, seconds, ThroughputBench.Latencies.percentile(0.99), buffer.maxUsedBytes());
        }
    }

    /** Kafka's own ProducerPerformance, in this JVM, on the same broker, records and settings. */
    static Result producerPerformance(Properties settings, Cluster cluster, Path payloads, int count) throws Exception {
        String topic = "readings-perf-" + UUID.randomUUID().toString().substring(0, 8);
        cluster.ensureTopic(topic, PARTITIONS);
        Path configFile = Files.createTempFile("lab06-perf", ".properties");
        Properties config = new Properties();
        // As text, the way a properties file holds them (the tuned values may be numbers).
        settings.forEach((key, value) -> config.setProperty(key.toString(), value.toString()));
        String clientId = "lab06-perf-" + UUID.randomUUID().toString().substring(0, 8);
        config.setProperty(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        try (FileWriter out = new FileWriter(configFile.toFile(), StandardCharsets.UTF_8)) {
            config.store(out, null);
        }
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        PrintStream console = System.out;
        try (ThroughputBench.BufferWatch buffer = new ThroughputBench.BufferWatch(clientId)) {
            System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
            String[] perfArgs = {"--topic", topic, "--num-records", String.valueOf(count),
                "--payload-file", payloads.toString(), "--throughput", "-1",
                "--bootstrap-server", cluster.bootstrapServers(), "--command-config", configFile.toString()};
            ProducerPerformance.main(perfArgs);
            System.setOut(console);
            // "500000 records sent, 431034.482759 records/sec (52.62 MB/sec), ... ms avg latency, ..., 38 ms 99th, ..."
            Matcher total = Pattern.compile("(\\d+) records sent, ([\\d.]+) records/sec .* (\\d+) ms 99th").matcher(printed.toString(StandardCharsets.UTF_8));
            if (!total.find()) {
                throw new IllegalStateException("ProducerPerformance printed no summary:\n" + printed.toString(StandardCharsets.UTF_8));
            }
            long records = Long.parseLong(total.group(1));
            double seconds = records / Double.parseDouble(total.group(2));
            return new Result("ProducerPerformance, tuned", records, RECORD_SIZE, seconds, Integer.parseInt(total.group(3)), buffer.maxUsedBytes());
        } finally {
            System.setOut(console);
            Files.deleteIfExists(configFile);
        }
    }

    public static void main(String[] args) {
        Workshop.run("06-throughput-backpressure", args, cluster -> {
            Properties defaults = producerConfig(cluster.bootstrapServers());
            defaults.putAll(cluster.clientConfig());
            Properties tuned = tunedConfig(cluster.bootstrapServers());
            tuned.putAll(cluster.clientConfig());
            List<String> readings = ThroughputBench.readings(10_000, RECORD_SIZE);
            Path payloads = Files.createTempFile("lab06-readings", ".txt");
            Files.write(payloads, readings, StandardCharsets.UTF_8);
            try {
                System.out.printf("%,d JSON readings of %d bytes to a topic of %d partition, at most %,d records in flight.%n",
                        RECORDS, RECORD_SIZE, PARTITIONS, MAX_IN_FLIGHT);
                System.out.println("Warming up (the JIT compiles the send path first)...");
                measure("warm-up", defaults, cluster, readings, 50_000);
                measure("warm-up", tuned, cluster, readings, 100_000);

                System.out.println("Measuring: Kafka's defaults, then tuned, then ProducerPerformance (twice each, the best run counts)...");
                Result slow = best(measure("your loop, Kafka's defaults", defaults, cluster, readings, RECORDS / 2),
                        measure("your loop, Kafka's defaults", defaults, cluster, readings, RECORDS / 2));
                Result fast = null;
                Result perf = null;
                for (int round = 0; round < 2; round++) {
                    fast = best(fast, measure("your loop, tuned", tuned, cluster, readings, RECORDS));
                    perf = best(perf, producerPerformance(tuned, cluster, payloads, RECORDS));
                }
                System.out.println();
                System.out.println(Result.header());
                System.out.println(slow.row());
                System.out.println(fast.row());
                System.out.println(perf.row());
                System.out.println();
                System.out.printf("Tuned is %.1fx Kafka's defaults, and %.2f of ProducerPerformance with the same settings.%n",
                        fast.recordsPerSecond() / slow.recordsPerSecond(), fast.recordsPerSecond() / perf.recordsPerSecond());
                System.out.printf("Your loop kept at most %,d records in flight: a record waits about %,.0f ms behind the others%n",
                        MAX_IN_FLIGHT, 1000.0 * MAX_IN_FLIGHT / fast.recordsPerSecond());
                System.out.println("(bound / throughput). ProducerPerformance has no bound of its own: only buffer.memory (32 MB)");
                System.out.println("stops it, and when that is full send() blocks for up to max.block.ms (60 s), then fails the record.");
            } finally {
                Files.deleteIfExists(payloads);
            }
        });
        // Check your work: ./jbang grade 06
    }

    static Result best(Result a, Result b) {
        return a == null || b.recordsPerSecond() > a.recordsPerSecond() ? b : a;
    }
}
