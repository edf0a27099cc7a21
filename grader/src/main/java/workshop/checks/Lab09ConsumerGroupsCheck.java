package workshop.checks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.check.LabCheck;
import workshop.check.WatchedConsumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 09: one consumer group, grown and shrunk step by step, each member a real consumer on a
 * thread of its own that runs the learner's pollOnce in a loop, with the learner's rebalance
 * listener. The checker decides who joins, who leaves and who restarts, and records which
 * member was handed which record.
 *
 * <p>The story, one check per step: member-1 alone processes the first wave of readings; member-2
 * and member-3 join and the six partitions spread two each; a second wave shows whether the
 * partitions that moved went on where member-1 stopped; member-3 leaves for good and a third
 * wave shows whether its successors went on where it stopped; member-2 restarts and must get
 * its own partitions back; a fourth wave shows nothing was repeated.
 */
class Lab09ConsumerGroupsCheck extends LabCheck {

    static final int PARTITIONS = 6;
    /** Readings per partition in each wave. */
    static final int PER_WAVE = 4;
    static final Duration CLOSE_BOUND = Duration.ofSeconds(10);
    /** Generous: a broker with the default 5 s heartbeat (not the embedded 500 ms) takes a few of them. */
    static final Duration REBALANCE_BOUND = Duration.ofSeconds(30);

    static String topic;
    static String group;
    static int waves;
    static final Map<String, Member> members = new LinkedHashMap<>();
    static final List<Member> everyMember = new ArrayList<>();
    static boolean threeShareEvenly;

    @AfterAll
    static void stopMembers() {
        for (Member member : members.values()) {
            member.stop(CloseOptions.timeout(CLOSE_BOUND));
        }
        for (Member member : members.values()) {
            member.awaitClosed(Duration.ofSeconds(5));
        }
    }

    @Test
    @Order(1)
    @DisplayName("consumerConfig makes a member of the given group, on the consumer protocol, committing by itself")
    void consumerConfigIsRight() {
        String groupId = uniqueName("dashboard");
        Properties config = lab().call("consumerConfig", bootstrapServers(), groupId, "member-1");
        assertThat(config).as("consumerConfig returned null instead of the consumer's Properties").isNotNull();
        assertThat(String.valueOf(config.get(ConsumerConfig.GROUP_ID_CONFIG)))
                .as("consumerConfig(bootstrap, \"%s\", \"member-1\") set group.id to %s. Members share partitions only "
                    + "when they name the same group: set GROUP_ID_CONFIG to the groupId parameter (TODO 1)",
                        groupId, config.get(ConsumerConfig.GROUP_ID_CONFIG))
                .isEqualTo(groupId);
        Object protocol = config.get(ConsumerConfig.GROUP_PROTOCOL_CONFIG);
        assertThat(String.valueOf(protocol))
                .as("group.protocol is %s, so the member would use the classic protocol (still the client's default). "
                    + "This lab asks for the consumer group protocol of KIP-848: set GROUP_PROTOCOL_CONFIG to \"consumer\" (TODO 1)",
                        protocol == null ? "not set" : "\"" + protocol + "\"")
                .isEqualToIgnoringCase("consumer");
        Object autoCommit = config.get(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG);
        assertThat(String.valueOf(autoCommit))
                .as("enable.auto.commit is %s: the consumer would commit on its own, every 5 s, whatever was processed. "
                    + "This member commits by itself, in its rebalance listener: set ENABLE_AUTO_COMMIT_CONFIG to false (TODO 1)",
                        autoCommit == null ? "not set (true by default)" : autoCommit)
                .isEqualToIgnoringCase("false");
        // The client itself must accept the configuration, too.
        newConsumer(config).close(CloseOptions.timeout(CLOSE_BOUND));
    }

    @Test
    @Order(2)
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("three members of one group share six partitions: two each")
    void partitionsSpreadEvenly() {
        topic = createTopic("room-readings", PARTITIONS);
        group = uniqueName("dashboard");
        sendWave();
        Member first = join("member-1");
        awaitGroup(Duration.ofSeconds(20), () -> first.partitions().size() == PARTITIONS && processedIds().size() == expectedTotal(),
                () -> String.format("member-1, alone in its group, should own all %d partitions and process the %d readings on them. "
                                    + "After 20 s it owns %s and processed %d: does pollOnce process every record that poll returns (TODO 3)?",
                        PARTITIONS, expectedTotal(), first.partitions(), processedIds().size()));
        join("member-2");
        join("member-3");
        awaitGroup(REBALANCE_BOUND, () -> {
            requireNoSharedPartition();
            return members.values().stream().allMatch(m -> m.partitions().size() == 2) && brokerAtTarget();
        }, () -> String.format("Three members of one group should own two of the six partitions each within %d s; they own %s",
                REBALANCE_BOUND.toSeconds(), owners()));
        try (Admin admin = admin()) {
            ConsumerGroupDescription description = describe(admin);
            assertThat(description.type())
                    .as("The broker runs group %s as a %s group: members join with the consumer group protocol only when "
                        + "group.protocol=consumer (TODO 1)", group, description.type())
                    .isEqualTo(GroupType.CONSUMER);
        }
        threeShareEvenly = true;
    }

    @Test
    @Order(3)
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    @DisplayName("partitions that move to new members go on where the old owner stopped")
    void movedPartitionsGoOnWhereTheOwnerStopped() {
        requireThreeMembers();
        long fromTheStart = 0; // member-1 processed the whole first wave before member-2 and member-3 joined
        sendWave();
        awaitEverythingProcessed();
        requireSyncCommitsInRevoke(fromTheStart);
        requireNothingProcessedTwice(fromTheStart, "member-2 and member-3 joined and member-1 handed partitions over to them");
    }

    @Test
    @Order(4)
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("when a member leaves, nothing is lost and nothing is processed twice")
    void aMemberLeaves() {
        requireThreeMembers();
        Member leaving = members.get("member-3");
        Set<Integer> itsPartitions = leaving.partitions();
        long left = WatchedConsumer.mark();
        // A static member leaves for good only when it says so; a plain close() would be a restart.
        leave(leaving, CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(CLOSE_BOUND));
        awaitGroup(REBALANCE_BOUND, () -> {
            requireNoSharedPartition();
            return members.values().stream().allMatch(m -> m.partitions().size() == 3);
        }, () -> String.format("member-3 left the group; its partitions %s should go to member-1 and member-2 (three each) "
                               + "within %d s; they own %s", itsPartitions, REBALANCE_BOUND.toSeconds(), owners()));
        sendWave();
        awaitEverythingProcessed();
        requireSyncCommitsInRevoke(left);
        requireNothingProcessedTwice(left, "member-3 left (its close() called onPartitionsRevoked for " + itsPartitions + ")");
    }

    @Test
    @Order(5)
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("a static member that restarts within its session timeout keeps its partitions")
    void aStaticMemberKeepsItsPartitions() {
        requireThreeMembers();
        if (!members.keySet().equals(Set.of("member-1", "member-2"))) {
            fail("Not run: this check needs member-1 and member-2, as the check before it leaves them; the group has " + members.keySet());
        }
        Member restarting = members.get("member-2");
        Member other = members.get("member-1");
        Set<Integer> itsPartitions = restarting.partitions();
        Set<Integer> othersPartitions = other.partitions();
        long restarted = WatchedConsumer.mark();
        leave(restarting, CloseOptions.timeout(CLOSE_BOUND));
        // The broker's view, right after close(): a static member is only away, and keeps its place.
        try (Admin admin = admin()) {
            ConsumerGroupDescription description = describe(admin);
            List<String> seen = description.members().stream()
                    .map(m -> m.groupInstanceId().orElse("(no group.instance.id)") + " owns " + partitionsOf(m))
                    .toList();
            boolean kept = description.members().stream()
                    .anyMatch(m -> m.groupInstanceId().equals(Optional.of("member-2")) && partitionsOf(m).equals(itsPartitions));
            if (!kept) {
                fail(String.format("After member-2's close() the broker's group is %s: member-2 and its partitions %s are gone, "
                                   + "so the broker hands them to member-1 at its next heartbeat. A static member keeps its place and its partitions for the "
                                   + "session timeout (45 s): set ConsumerConfig.GROUP_INSTANCE_ID_CONFIG (group.instance.id) to the "
                                   + "instanceId parameter (TODO 4)", seen, itsPartitions));
            }
        }
        // The client's view: while member-2 is away, member-1 must not be handed its partitions.
        await().during(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(50)).until(() -> {
            requireNoFailure();
            if (!other.partitions().equals(othersPartitions)) {
                fail(String.format("While member-2 was restarting, member-1's partitions went from %s to %s: the group treated "
                                   + "the restart as a departure. Set group.instance.id to instanceId (TODO 4)",
                        othersPartitions, other.partitions()));
            }
            return true;
        });
        Member back = join("member-2");
        awaitGroup(REBALANCE_BOUND, () -> back.partitions().equals(itsPartitions) && other.partitions().equals(othersPartitions),
                () -> String.format("member-2 restarted with the same group.instance.id and should own its partitions %s again "
                                    + "(member-1 keeps %s) within %d s; they own %s",
                        itsPartitions, othersPartitions, REBALANCE_BOUND.toSeconds(), owners()));
        sendWave();
        awaitEverythingProcessed();
        requireNothingProcessedTwice(restarted, "member-2 restarted (its close() called onPartitionsRevoked for " + itsPartitions + ")");
    }

    // ------------------------------------------------------------------ the group

    /** One member: a watched consumer made from the learner's config and listener, polled by the learner's pollOnce on its own thread. */
    static final class Member {
        final String name;
        final WatchedConsumer<String, String> consumer;
        final Map<TopicPartition, OffsetAndMetadata> processed = new HashMap<>();
        final CountDownLatch closed = new CountDownLatch(1);
        volatile boolean running = true;
        volatile CloseOptions closeWith = CloseOptions.timeout(CLOSE_BOUND);
        volatile Throwable failure;

        Member(String name) {
            this.name = name;
            Properties config = lab().call("consumerConfig", bootstrapServers(), group, name);
            assertThat(config).as("consumerConfig returned null instead of the consumer's Properties").isNotNull();
            this.consumer = new WatchedConsumer<>(newConsumer(config), name);
            ConsumerRebalanceListener listener = lab().call("rebalanceListener", consumer, processed);
            assertThat(listener).as("rebalanceListener returned null instead of a ConsumerRebalanceListener (TODO 2)").isNotNull();
            consumer.subscribe(List.of(topic), listener);
            Thread thread = new Thread(this::run, "lab09-" + name);
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            try {
                while (running) {
                    lab().call("pollOnce", consumer, processed);
                }
            } catch (Throwable e) {
                failure = e;
            }
            try {
                consumer.close(closeWith);
            } catch (Throwable e) {
                if (failure == null) {
                    failure = e;
                }
            } finally {
                closed.countDown();
            }
        }

        void stop(CloseOptions options) {
            closeWith = options;
            running = false;
        }

        boolean awaitClosed(Duration bound) {
            try {
                return closed.await(bound.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }

        Set<Integer> partitions() {
            return numbers(consumer.assignmentSnapshot());
        }
    }

    static Member join(String name) {
        Member member = new Member(name);
        members.put(name, member);
        everyMember.add(member);
        return member;
    }

    static void leave(Member member, CloseOptions options) {
        member.stop(options);
        boolean closed = member.awaitClosed(CLOSE_BOUND.plusSeconds(5));
        members.remove(member.name);
        if (!closed) {
            fail(String.format("%s did not finish its last pollOnce and close() within %d s: is pollOnce or the rebalance "
                               + "listener stuck (an endless loop, a wait without a bound)?", member.name, CLOSE_BOUND.plusSeconds(5).toSeconds()));
        }
        rethrow(member.failure);
    }

    static KafkaConsumer<String, String> newConsumer(Properties config) {
        try {
            return new KafkaConsumer<>(config);
        } catch (KafkaException e) {
            Throwable root = e;
            while (root.getCause() != null) {
                root = root.getCause();
            }
            String why = String.valueOf(root.getMessage());
            if (why.contains("cannot be set when group.protocol=CONSUMER")) {
                why += ". With the consumer group protocol the broker owns the session timeout, the heartbeat interval and the "
                       + "assignor (group.consumer.session.timeout.ms, group.consumer.heartbeat.interval.ms, group.consumer.assignors): "
                       + "remove such settings from consumerConfig";
            }
            throw new AssertionError("new KafkaConsumer<>(consumerConfig(...)) failed: " + why, e);
        }
    }

    /** A wave: PER_WAVE readings on every partition, each with its partition chosen, so every member has work. */
    static void sendWave() {
        waves++;
        try (KafkaProducer<String, String> producer = newProducer()) {
            for (int partition = 0; partition < PARTITIONS; partition++) {
                for (int i = 0; i < PER_WAVE; i++) {
                    producer.send(new ProducerRecord<>(topic, partition, "sensor-" + partition, "wave " + waves + ", reading " + i));
                }
            }
            producer.flush();
        }
    }

    static int expectedTotal() {
        return waves * PER_WAVE * PARTITIONS;
    }

    static List<WatchedConsumer.Polled> polled() {
        return everyMember.stream().flatMap(m -> m.consumer.polled().stream())
                .sorted(java.util.Comparator.comparingLong(WatchedConsumer.Polled::sequence)).toList();
    }

    static Set<String> processedIds() {
        return polled().stream().map(WatchedConsumer.Polled::id).collect(Collectors.toSet());
    }

    static void awaitEverythingProcessed() {
        awaitGroup(Duration.ofSeconds(10), () -> processedIds().size() == expectedTotal(), () -> {
            Set<String> missing = new TreeSet<>();
            for (int partition = 0; partition < PARTITIONS; partition++) {
                for (int offset = 0; offset < waves * PER_WAVE; offset++) {
                    missing.add("p" + partition + "@" + offset);
                }
            }
            missing.removeAll(processedIds());
            return String.format("%d readings were sent; after 10 s the group has processed %d. Never processed: %s. Owners: %s",
                    expectedTotal(), expectedTotal() - missing.size(), missing, owners());
        });
    }

    /** Fails if a record handed out after {@code since} had been handed out before, saying by whom. */
    static void requireNothingProcessedTwice(long since, String event) {
        Map<String, WatchedConsumer.Polled> first = new HashMap<>();
        List<String> repeats = new ArrayList<>();
        for (WatchedConsumer.Polled p : polled()) {
            WatchedConsumer.Polled earlier = first.putIfAbsent(p.id(), p);
            if (earlier != null && p.sequence() > since) {
                repeats.add(p.id() + " (" + earlier.consumer() + ", then " + p.consumer() + ")");
            }
        }
        if (!repeats.isEmpty()) {
            fail(String.format("After %s, %d readings were processed again by their new owner: %s. The member giving a partition "
                               + "up must commit, in onPartitionsRevoked, the offset after the last record it processed there "
                               + "(offset + 1), with commitSync (TODO 2); the new owner starts at that offset (and "
                               + "onPartitionsAssigned must not move it)",
                    event, repeats.size(), repeats.size() > 8 ? repeats.subList(0, 8) + " and more" : repeats));
        }
    }

    /** A commit in onPartitionsRevoked must be done when the callback returns: the partitions leave right after. */
    static void requireSyncCommitsInRevoke(long since) {
        List<String> async = everyMember.stream().flatMap(m -> m.consumer.commits().stream())
                .filter(c -> c.sequence() > since && !c.sync() && c.context() == WatchedConsumer.Context.REVOKED)
                .map(WatchedConsumer.Commit::consumer).distinct().toList();
        if (!async.isEmpty()) {
            fail(String.join(" and ", async) + " committed with commitAsync in onPartitionsRevoked. commitAsync returns before "
                 + "the commit is done, and the partitions go to their new owner as soon as the callback returns: it may read "
                 + "the old offset. Use commitSync there (TODO 2)");
        }
    }

    static void requireThreeMembers() {
        if (!threeShareEvenly) {
            fail("Not run: this check needs the group of three members from the check \"three members of one group share "
                 + "six partitions: two each\", which did not pass");
        }
    }

    static void requireNoFailure() {
        for (Member member : everyMember) {
            if (member.failure != null) {
                rethrow(member.failure);
            }
        }
    }

    /** Within one group a partition has one owner at a time: two owners mean two groups. */
    static void requireNoSharedPartition() {
        Map<Integer, String> owner = new HashMap<>();
        for (Member member : members.values()) {
            for (int partition : member.partitions()) {
                String other = owner.put(partition, member.name);
                if (other != null) {
                    fail(String.format("%s and %s both own partition %d, so they are not members of one group: each reads "
                                       + "every partition by itself. Owners: %s. Every member must use the same group.id, "
                                       + "the groupId parameter (TODO 1)", other, member.name, partition, owners()));
                }
            }
        }
    }

    /** Waits up to {@code bound}; a member's failure ends the wait at once with that failure. */
    static void awaitGroup(Duration bound, Callable<Boolean> condition, Supplier<String> onTimeout) {
        try {
            await().atMost(bound).pollInterval(Duration.ofMillis(50)).until(() -> {
                requireNoFailure();
                return condition.call();
            });
        } catch (ConditionTimeoutException e) {
            requireNoFailure();
            fail(onTimeout.get());
        }
    }

    /** True when the broker has every member at its target assignment (always, for a classic group). */
    static boolean brokerAtTarget() {
        try (Admin admin = admin()) {
            ConsumerGroupDescription description = describe(admin);
            return description.members().size() == members.size() && description.members().stream()
                    .allMatch(m -> m.targetAssignment().map(t -> t.topicPartitions().equals(m.assignment().topicPartitions())).orElse(true));
        }
    }

    static ConsumerGroupDescription describe(Admin admin) {
        try {
            return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("The checker could not describe group " + group + ": " + e, e);
        }
    }

    static Set<Integer> partitionsOf(MemberDescription member) {
        return numbers(member.assignment().topicPartitions());
    }

    static Set<Integer> numbers(Collection<TopicPartition> partitions) {
        return partitions.stream().map(TopicPartition::partition).collect(Collectors.toCollection(TreeSet::new));
    }

    static String owners() {
        return members.values().stream().map(m -> m.name + " " + m.partitions()).collect(Collectors.joining(", "));
    }
}
