///usr/bin/env jbang "$0" "$@" ; exit $?
//JAVA 17+
//DEPS org.apache.kafka:kafka-clients:4.3.1
//SOURCES ../support/workshop/*.java

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnreleasedInstanceIdException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import workshop.Cluster;
import workshop.Reading;
import workshop.Workshop;

import static org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation.LEAVE_GROUP;

/**
 * Lab 09: consumer groups and rebalancing.
 *
 * One dashboard cannot keep up with every sensor, so three share the work: members of one consumer
 * group split the topic's partitions, and each partition is read by one member at a time. When a
 * member joins or leaves, partitions change hands (a rebalance). The member that gives a partition
 * up commits what it processed first, in its rebalance listener, so the next owner starts right
 * after it: no reading lost, none shown twice. A member that merely restarts moves nothing.
 *
 * Stages, mirrored in main:
 *   1. send readings to a topic with six partitions;
 *   2. dashboard-1 starts alone and gets all six partitions;
 *   3. dashboard-2 and dashboard-3 join: dashboard-1 commits, then hands four partitions over;
 *   4. dashboard-2 restarts: a static member gets its own partitions back;
 *   5. the members leave one by one, each committing as its partitions move to the rest;
 *      the next run resumes from there.
 */
class ConsumerGroupsLab {

    static final String TOPIC = "room-readings";
    static final String GROUP = "dashboard";
    static final Duration POLL_TIMEOUT = Duration.ofMillis(100);
    // Every member calls process(): here from main's one thread, but a member may just as well run
    // on a thread of its own (the grader gives each one its own). What they share must be safe to
    // update from several threads at once: a concurrent set, an atomic counter.
    static final Set<String> SEEN = ConcurrentHashMap.newKeySet();
    static final AtomicInteger SHOWN_AGAIN = new AtomicInteger();

    // tag::config[]
    static Properties consumerConfig(String bootstrapServers, String groupId, String instanceId) {
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        // A partition the group never committed on is read from its first record.
        config.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // Every member of the group names the same group: together they share the partitions.
        config.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
        // KIP-848: the broker assigns partitions and moves only those that change owner.
        // The client's default is still "classic".
        config.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer");
        // No commits behind our back: this member commits what it processed, in its listener.
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Static membership: restarting with the same id within the session timeout (45 s,
        // the broker's group.consumer.session.timeout.ms) keeps this member's partitions.
        config.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instanceId);
        return config;
    }
    // end::config[]

    // tag::listener[]
    // tag::listener-revoked[]
    static ConsumerRebalanceListener rebalanceListener(Consumer<String, String> consumer,
                                                       Map<TopicPartition, OffsetAndMetadata> processed) {
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                // Once this returns, the partitions go to another member: commit what was
                // processed on them, and wait for the commit (commitSync) before letting go.
                Map<TopicPartition, OffsetAndMetadata> done = new HashMap<>();
                for (TopicPartition partition : partitions) {
                    OffsetAndMetadata next = processed.remove(partition);
                    if (next != null) {
                        done.put(partition, next);
                    }
                }
                if (!done.isEmpty()) {
                    consumer.commitSync(done);
                }
                System.out.printf("  %s gives up %s, committed %s%n", name(consumer), numbers(partitions), nextOffsets(done));
            }
            // end::listener-revoked[]

            // tag::listener-assigned-lost[]
            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                // Nothing to do: a new partition starts at the group's committed offset.
                if (!partitions.isEmpty()) {
                    System.out.printf("  %s takes %s%n", name(consumer), numbers(partitions));
                }
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                // Lost, not revoked: the group has already given them to others (this member
                // missed its session timeout, or went longer than max.poll.interval.ms between
                // two polls). They are no longer ours to commit: just forget them.
                partitions.forEach(processed::remove);
            }
        };
    }
    // end::listener-assigned-lost[]
    // end::listener[]

    // tag::poll[]
    static int pollOnce(Consumer<String, String> consumer, Map<TopicPartition, OffsetAndMetadata> processed) {
        // A rebalance happens inside poll(): the listener runs here, on this thread.
        ConsumerRecords<String, String> records = consumer.poll(POLL_TIMEOUT);
        for (ConsumerRecord<String, String> record : records) {
            process(record);
            // What to commit is the next record to read: one past the last one processed.
            processed.put(new TopicPartition(record.topic(), record.partition()), new OffsetAndMetadata(record.offset() + 1));
        }
        return records.count();
    }
    // end::poll[]

    /** The work each reading needs: here, a line on the console (and a note of repeats). */
    static void process(ConsumerRecord<String, String> record) {
        // add() both checks and records, in one atomic step: no other member can slip in between.
        boolean again = !SEEN.add(record.partition() + "@" + record.offset());
        if (again) {
            SHOWN_AGAIN.incrementAndGet();
        }
        System.out.printf("    p%d@%d %s %s%s%n", record.partition(), record.offset(), record.key(), record.value(),
                again ? "   <- shown again!" : "");
    }

    /** One member of the group: its own consumer (used by one thread only) and its own notes. */
    record Member(String name, Consumer<String, String> consumer, Map<TopicPartition, OffsetAndMetadata> processed) {
        static Member start(Cluster cluster, String name) {
            Properties config = consumerConfig(cluster.bootstrapServers(), GROUP, name);
            config.putAll(cluster.clientConfig());
            Consumer<String, String> consumer = new KafkaConsumer<>(config);
            Map<TopicPartition, OffsetAndMetadata> processed = new HashMap<>();
            consumer.subscribe(List.of(TOPIC), rebalanceListener(consumer, processed));
            return new Member(name, consumer, processed);
        }
    }

    /** Polls each member in turn until each owns partitions, all are owned, and nothing is left to read. */
    static void settle(List<Member> members, int partitions) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        try {
            for (int quiet = 0; quiet < 3; ) {
                int read = 0;
                int owned = 0;
                boolean everyoneOwns = true;
                for (Member member : members) {
                    read += pollOnce(member.consumer(), member.processed());
                    owned += member.consumer().assignment().size();
                    everyoneOwns &= !member.consumer().assignment().isEmpty();
                }
                quiet = read == 0 && owned == partitions && everyoneOwns ? quiet + 1 : 0;
                if (System.nanoTime() > deadline) {
                    throw new Workshop.WorkshopException("The group did not settle within 30 s: " + owners(members));
                }
            }
        } catch (UnreleasedInstanceIdException e) {
            throw new Workshop.WorkshopException("A member of an earlier run that was not closed (Ctrl+C?) still holds its "
                    + "group.instance.id; the broker frees it after the session timeout, 45 s. Try again in a minute.");
        }
        System.out.println("  " + owners(members));
    }

    public static void main(String[] args) {
        Workshop.run("09-consumer-groups", args, cluster -> {
            // 1. Twelve readings per batch, spread over the six partitions by sensor id.
            cluster.ensureTopic(TOPIC, 6);
            send(cluster, 12);
            List<Member> members = new ArrayList<>();
            try {
                System.out.println("2. dashboard-1 starts alone:");
                members.add(Member.start(cluster, "dashboard-1"));
                settle(members, 6);
                System.out.println("3. dashboard-2 and dashboard-3 join, then twelve more readings arrive:");
                members.add(Member.start(cluster, "dashboard-2"));
                members.add(Member.start(cluster, "dashboard-3"));
                settle(members, 6);
                send(cluster, 12);
                settle(members, 6);
                System.out.println("4. dashboard-2 restarts:");
                Member restarting = members.remove(1);
                Set<Integer> before = numbers(restarting.consumer().assignment());
                restarting.consumer().close();
                // A restart takes a moment: the others keep polling meanwhile.
                for (long end = System.nanoTime() + 2_000_000_000L; System.nanoTime() < end; ) {
                    members.forEach(member -> pollOnce(member.consumer(), member.processed()));
                }
                members.add(1, Member.start(cluster, "dashboard-2"));
                settle(members, 6);
                System.out.printf("  dashboard-2 had %s before, %s now%n", before, numbers(members.get(1).consumer().assignment()));
                System.out.println("5. the group scales in: one by one, members leave for good:");
                while (!members.isEmpty()) {
                    // A static member's plain close() means "back soon": the group holds its partitions
                    // for 45 s. Leaving for good says so, and the others take them over at once.
                    members.remove(0).consumer().close(CloseOptions.groupMembershipOperation(LEAVE_GROUP));
                    if (!members.isEmpty()) {
                        settle(members, 6);
                    }
                }
            } finally {
                members.forEach(member -> member.consumer().close(CloseOptions.groupMembershipOperation(LEAVE_GROUP)));
            }
            System.out.printf("%d readings shown, %d of them again. Run it again: the group resumes where it committed.%n",
                    SEEN.size(), SHOWN_AGAIN.get());
        });
        // Check your work: ./jbang grade 09
    }

    static void send(Cluster cluster, int count) {
        Properties config = cluster.clientConfig();
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (Producer<String, String> producer = new KafkaProducer<>(config)) {
            for (Reading reading : Reading.sample(count, count)) {
                producer.send(new ProducerRecord<>(TOPIC, reading.key(), reading.value()));
            }
        }
    }

    static String name(Consumer<String, String> consumer) {
        return consumer.groupMetadata().groupInstanceId().orElse("a dynamic member");
    }

    static Set<Integer> numbers(Collection<TopicPartition> partitions) {
        return partitions.stream().map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new));
    }

    /** Partition number to the committed offset: the next record its new owner reads. */
    static Map<Integer, Long> nextOffsets(Map<TopicPartition, OffsetAndMetadata> offsets) {
        return offsets.entrySet().stream().collect(Collectors.toMap(e -> e.getKey().partition(), e -> e.getValue().offset(),
                (a, b) -> b, TreeMap::new));
    }

    static String owners(List<Member> members) {
        return members.stream().map(m -> m.name() + " reads " + numbers(m.consumer().assignment())).collect(Collectors.joining("  "));
    }
}
