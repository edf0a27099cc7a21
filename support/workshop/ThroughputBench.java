package workshop;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Lab 06's benchmark plumbing: the records it sends, the latency of each one, and a result line.
 * Not a TODO: the lab's lesson is in its tuned configuration and its bounded send loop.
 */
public final class ThroughputBench {

    private ThroughputBench() {
    }

    /**
     * {@code distinct} sensor readings as JSON, each padded with spaces to exactly {@code size}
     * bytes, the same every run. Real readings repeat their field names and most of their values:
     * compression finds that. (ProducerPerformance's own --record-size payload is random letters
     * A to Z, drawn afresh for every record: LZ4 and Snappy find nothing to shorten there.)
     */
    public static List<String> readings(int distinct, int size) {
        SplittableRandom random = new SplittableRandom(6);
        String[] rooms = {"kitchen", "bedroom", "hallway", "office", "garage", "cellar"};
        List<String> readings = new ArrayList<>(distinct);
        for (int i = 0; i < distinct; i++) {
            String json = String.format(Locale.ROOT,
                    "{\"sensor\":\"sensor-%03d\",\"room\":\"%s\",\"humidity\":%.1f,\"temperature\":%.1f,\"battery\":%d,\"ts\":%d}",
                    random.nextInt(200), rooms[random.nextInt(rooms.length)], 30 + random.nextDouble() * 40,
                    15 + random.nextDouble() * 10, random.nextInt(100), 1_764_600_000_000L + i * 37L);
            if (json.length() > size) {
                throw new IllegalArgumentException("a reading needs " + json.length() + " bytes, more than " + size);
            }
            readings.add(json + " ".repeat(size - json.length()));
        }
        return readings;
    }

    /** A source that hands out {@code count} readings, cycling through {@code readings}. */
    public static java.util.Iterator<String> source(List<String> readings, long count) {
        return new java.util.Iterator<>() {
            private long next;

            @Override
            public boolean hasNext() {
                return next < count;
            }

            @Override
            public String next() {
                if (next >= count) {
                    throw new java.util.NoSuchElementException();
                }
                return readings.get((int) (next++ % readings.size()));
            }
        };
    }

    /**
     * Times every acknowledged record, as ProducerPerformance does: from send() (the record's
     * timestamp, set by the producer when the record is sent) to its acknowledgement, in ms.
     * Add it with {@code interceptor.classes}; {@link #reset()} before a run.
     */
    public static final class Latencies implements ProducerInterceptor<Object, Object> {
        private static int[] samples = new int[1 << 16];
        private static int count;

        public static synchronized void reset() {
            count = 0;
        }

        /** The latency in ms that this share (0.99 for p99) of the records did not exceed. */
        public static synchronized int percentile(double share) {
            if (count == 0) {
                return 0;
            }
            int[] sorted = Arrays.copyOf(samples, count);
            Arrays.sort(sorted);
            return sorted[Math.min(count - 1, (int) (share * count))];
        }

        private static synchronized void add(int millis) {
            if (count == samples.length) {
                samples = Arrays.copyOf(samples, count * 2);
            }
            samples[count++] = millis;
        }

        @Override
        public ProducerRecord<Object, Object> onSend(ProducerRecord<Object, Object> record) {
            return record;
        }

        @Override
        public void onAcknowledgement(RecordMetadata metadata, Exception exception) {
            if (exception == null && metadata != null && metadata.hasTimestamp()) {
                add((int) Math.max(0, System.currentTimeMillis() - metadata.timestamp()));
            }
        }

        @Override
        public void close() {
        }

        @Override
        public void configure(Map<String, ?> configs) {
        }
    }

    /**
     * Watches one producer's buffer (its {@code buffer.memory}) through JMX while it runs, by its
     * {@code client.id}: how much of it the records waiting to be sent took at most.
     */
    public static final class BufferWatch implements AutoCloseable {
        private final Thread thread;
        private volatile boolean done;
        private volatile long maxUsedBytes;

        public BufferWatch(String clientId) {
            thread = new Thread(() -> {
                javax.management.MBeanServer server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
                while (!done) {
                    try {
                        javax.management.ObjectName name = new javax.management.ObjectName(
                                "kafka.producer:type=producer-metrics,client-id=" + clientId);
                        double total = (Double) server.getAttribute(name, "buffer-total-bytes");
                        double available = (Double) server.getAttribute(name, "buffer-available-bytes");
                        maxUsedBytes = Math.max(maxUsedBytes, (long) (total - available));
                    } catch (Exception notYetRegistered) {
                        // the producer is not created yet, or already closed
                    }
                    java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
                }
            }, "buffer-watch-" + clientId);
            thread.setDaemon(true);
            thread.start();
        }

        public long maxUsedBytes() {
            return maxUsedBytes;
        }

        @Override
        public void close() {
            done = true;
        }
    }

    /** One line of the benchmark table. */
    public record Result(String name, long records, int recordSize, double seconds, int p99Millis, long maxBufferBytes) {
        public double recordsPerSecond() {
            return records / seconds;
        }

        public double megabytesPerSecond() {
            return records * (double) recordSize / seconds / (1024 * 1024);
        }

        public String row() {
            return String.format(Locale.ROOT, "  %-30s %,11.0f %9.1f %9d %11.1f",
                    name, recordsPerSecond(), megabytesPerSecond(), p99Millis, maxBufferBytes / (1024.0 * 1024));
        }

        public static String header() {
            return String.format(Locale.ROOT, "  %-30s %11s %9s %9s %11s", "", "records/s", "MB/s", "p99 (ms)", "buffer (MB)");
        }
    }
}
