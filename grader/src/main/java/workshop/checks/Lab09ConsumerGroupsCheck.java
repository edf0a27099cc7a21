package workshop.checks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
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
import org.apache.kafka.common.config.ConfigResource;
import org.awaitility.core.ConditionTimeoutException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.check.LabCheck;
import workshop.check.WatchedConsumer;
import workshop.check.WatchedConsumer.Commit;
import workshop.check.WatchedConsumer.Context;
import workshop.check.WatchedConsumer.Polled;
import workshop.check.WatchedConsumer.Rebalance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.awaitility.Awaitility.await;

/**
 * Lab 09: one consumer group, grown and shrunk step by step, each member a real consumer on a
 * thread of its own that runs the learner's pollOnce in a loop, with the learner's rebalance
 * listener. The checker decides who joins, who leaves, who restarts and who stalls, and records
 * which member was handed which record, what it committed, and when partitions moved.
 *
 * <p>The story, one check per step: member-1 alone processes the first wave of readings;
 * member-2 and member-3 join and the six partitions spread two each; the partitions that moved
 * must go on exactly where member-1 stopped; member-3 leaves for good, and its successors must go
 * on where it stopped; member-2 restarts and must get its own partitions back; member-3 comes
 * back and stalls past max.poll.interval.ms, so the group drops it: it must not commit for the
 * partitions it lost.
 *
 * <p>Every wave puts a different number of readings on each partition, so offsets differ from
 * partition to partition and a poll that spans partitions tells "one offset per partition" from
 * "one offset for the whole poll". A handover is judged by its cause first (what the old owner
 * committed, against the last record it processed there; where the new owner started) and only
 * then by its effect (records lost or repeated), so each message names what it has isolated.
 */
class Lab09ConsumerGroupsCheck extends LabCheck {

    static final int PARTITIONS = 6;
    static final Duration CLOSE_BOUND = Duration.ofSeconds(10);
    /** Generous: a broker with the default 5 s heartbeat (not the embedded one) takes a few of them. */
    static final Duration REBALANCE_BOUND = Duration.ofSeconds(30);
    /**
     * The group's heartbeat while it is graded: rebalances then take a fraction of a second. The
     * embedded broker allows it (group.consumer.min.heartbeat.interval.ms=100); a broker that does
     * not keeps its own, and the bounds above still hold.
     */
    static final String GROUP_HEARTBEAT_MS = "100";
    /** The stalling member's max.poll.interval.ms: short enough to hit, long enough not to be hit by load. */
    static final int STALL_POLL_INTERVAL_MS = 1_000;

    static String topic;
    static String group;
    static int waves;
    /** Readings sent so far, by partition: the next offset each partition will get. */
    static final int[] sent = new int[PARTITIONS];
    static final Map<String, Member> members = new LinkedHashMap<>();
    static final List<Member> everyMember = new CopyOnWriteArrayList<>();
    static boolean aloneReadsAll;
    static boolean threeShareEvenly;
    static boolean staticRestartKept;
    static Admin admin;
    /** One producer for every wave: a new one per wave would fetch metadata each time. */
    static KafkaProducer<String, String> producer;

    @AfterAll
    static void stopMembers() {
        // Every check is over and the group is this run's own: no need to wait for a clean leave.
        for (Member member : members.values()) {
            member.stop(CloseOptions.timeout(Duration.ZERO));
        }
        for (Member member : members.values()) {
            member.awaitClosed(Duration.ofSeconds(5));
        }
        if (producer != null) {
            producer.close(Duration.ZERO);
        }
        if (admin != null) {
            admin.close(Duration.ZERO);
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
        // Static membership is graded by its effect (a restart keeps its partitions); what would make
        // the group refuse a member, or forget it at every restart, is told apart here.
        Object id1 = config.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
        if (id1 != null) {
            Object again = lab().<Properties>call("consumerConfig", bootstrapServers(), groupId, "member-1")
                    .get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
            if (!id1.equals(again)) {
                fail(String.format("consumerConfig(..., \"member-1\") gives a new group.instance.id on every call (\"%s\", then \"%s\"): "
                                   + "a restarted member comes back as a stranger, and the group hands its partitions to others. "
                                   + "An instance id must stay the same across restarts: use the instanceId parameter (TODO 4)", id1, again));
            }
            Object id2 = lab().<Properties>call("consumerConfig", bootstrapServers(), groupId, "member-2")
                    .get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
            if (id1.equals(id2)) {
                fail(String.format("consumerConfig gives member-1 and member-2 the same group.instance.id, \"%s\": the broker "
                                   + "refuses a second running member with an id in use (UnreleasedInstanceIdException). Each member "
                                   + "needs an id of its own: use the instanceId parameter (TODO 4)", id1));
            }
        }
        // The client itself must accept the configuration, too.
        newConsumer(config).close(CloseOptions.timeout(CLOSE_BOUND));
    }

    @Test
    @Order(2)
    @Timeout(value = 40, unit = TimeUnit.SECONDS)
    @DisplayName("a member alone in its group gets all six partitions and processes every record poll returns")
    void aMemberAloneReadsAll() {
        topic = createTopic("room-readings", PARTITIONS);
        group = uniqueName("dashboard");
        quickenGroupHeartbeat();
        // The wave is on the broker before member-1 joins: its polls return records of several partitions at once.
        sendWave();
        Member first = join("member-1");
        awaitGroup(Duration.ofSeconds(20), () -> first.partitions().size() == PARTITIONS && handedOut().size() == expectedTotal() && idle(),
                () -> String.format("member-1, alone in its group, should own all %d partitions and be handed the %d readings on them "
                                    + "by its polls. After 20 s it owns %s and was handed %d. Likely causes: a seek in "
                                    + "onPartitionsAssigned or pollOnce, or auto.offset.reset no longer \"earliest\"",
                        PARTITIONS, expectedTotal(), first.partitions(), handedOut().size()));
        requireEveryRecordProcessed();
        aloneReadsAll = true;
    }

    @Test
    @Order(3)
    @Timeout(value = 40, unit = TimeUnit.SECONDS)
    @DisplayName("three members of one group share six partitions: two each")
    void partitionsSpreadEvenly() {
        requirePassed(aloneReadsAll, "a member alone in its group gets all six partitions");
        join("member-2");
        join("member-3");
        awaitGroup(REBALANCE_BOUND, () -> {
            requireNoSharedPartition();
            return members.values().stream().allMatch(m -> m.partitions().size() == 2) && brokerAtTarget();
        }, () -> String.format("Three members of one group should own two of the six partitions each within %d s; they own %s",
                REBALANCE_BOUND.toSeconds(), owners()));
        ConsumerGroupDescription description = describe();
        assertThat(description.type())
                .as("The broker runs group %s as a %s group: members join with the consumer group protocol only when "
                    + "group.protocol=consumer (TODO 1)", group, description.type())
                .isEqualTo(GroupType.CONSUMER);
        threeShareEvenly = true;
    }

    @Test
    @Order(4)
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    @DisplayName("partitions that move to new members go on where the old owner stopped")
    void movedPartitionsGoOnWhereTheOwnerStopped() {
        requirePassed(threeShareEvenly, "three members of one group share six partitions: two each");
        long fromTheStart = 0; // member-1 processed the whole first wave before member-2 and member-3 joined
        requireHandoversCommitted(fromTheStart);
        sendWave();
        awaitEverythingProcessed();
        requireOwnersStartWhereTheOthersStopped(fromTheStart);
        requireNothingProcessedTwice(fromTheStart, "member-2 and member-3 joined and member-1 handed partitions over to them");
    }

    @Test
    @Order(5)
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("when a member leaves, nothing is lost and nothing is processed twice")
    void aMemberLeaves() {
        requirePassed(threeShareEvenly, "three members of one group share six partitions: two each");
        Member leaving = members.get("member-3");
        Set<Integer> itsPartitions = leaving.partitions();
        long left = WatchedConsumer.mark();
        // A static member leaves for good only when it says so; a plain close() would be a restart.
        leave(leaving, CloseOptions.groupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP).withTimeout(CLOSE_BOUND));
        requireHandoversCommitted(left);
        awaitGroup(REBALANCE_BOUND, () -> {
            requireNoSharedPartition();
            return members.values().stream().allMatch(m -> m.partitions().size() == 3);
        }, () -> String.format("member-3 left the group; its partitions %s should go to member-1 and member-2 (three each) "
                               + "within %d s; they own %s", itsPartitions, REBALANCE_BOUND.toSeconds(), owners()));
        sendWave();
        awaitEverythingProcessed();
        requireOwnersStartWhereTheOthersStopped(left);
        requireNothingProcessedTwice(left, "member-3 left (its close() called onPartitionsRevoked for " + itsPartitions + ")");
    }

    @Test
    @Order(6)
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("a static member that restarts within its session timeout keeps its partitions")
    void aStaticMemberKeepsItsPartitions() {
        requirePassed(threeShareEvenly, "three members of one group share six partitions: two each");
        if (!members.keySet().equals(Set.of("member-1", "member-2"))) {
            fail("Not run: this check needs member-1 and member-2, as the check before it leaves them; the group has " + members.keySet());
        }
        Member restarting = members.get("member-2");
        Member other = members.get("member-1");
        Set<Integer> itsPartitions = restarting.partitions();
        Set<Integer> othersPartitions = other.partitions();
        long restarted = WatchedConsumer.mark();
        leave(restarting, CloseOptions.timeout(CLOSE_BOUND));
        requireHandoversCommitted(restarted);
        // The broker's view, right after close(): a static member is only away, and keeps its place.
        Object instanceId = restarting.instanceId;
        ConsumerGroupDescription description = describe();
        List<String> seen = description.members().stream()
                .map(m -> m.groupInstanceId().orElse("(no group.instance.id)") + " owns " + partitionsOf(m))
                .toList();
        boolean kept = instanceId != null && description.members().stream()
                .anyMatch(m -> m.groupInstanceId().equals(Optional.of(instanceId.toString())) && partitionsOf(m).equals(itsPartitions));
        if (!kept) {
            fail(String.format("After member-2's close() the broker's group is %s: member-2 and its partitions %s are gone, "
                               + "so the broker hands them to member-1 at its next heartbeat. %s", seen, itsPartitions,
                    instanceId == null
                            ? "A static member keeps its place and its partitions for the session timeout (45 s): set "
                              + "ConsumerConfig.GROUP_INSTANCE_ID_CONFIG (group.instance.id) to the instanceId parameter (TODO 4)"
                            : "Its group.instance.id was \"" + instanceId + "\", yet its close() (without LEAVE_GROUP) "
                              + "ended its membership."));
        }
        Member back = join("member-2", "member-2 (restarted)", Map.of());
        awaitGroup(REBALANCE_BOUND, () -> back.partitions().equals(itsPartitions) && other.partitions().equals(othersPartitions),
                () -> String.format("member-2 restarted with the same group.instance.id and should own its partitions %s again "
                                    + "(member-1 keeps %s) within %d s; they own %s",
                        itsPartitions, othersPartitions, REBALANCE_BOUND.toSeconds(), owners()));
        // The client's view, over the whole restart: member-1 was never handed member-2's partitions.
        List<Set<Integer>> handed = other.consumer.rebalances().stream()
                .filter(r -> r.sequence() > restarted && r.kind() == Context.ASSIGNED && !r.partitions().isEmpty())
                .map(r -> numbers(r.partitions())).toList();
        if (!handed.isEmpty()) {
            fail(String.format("While member-2 was restarting, member-1 was handed %s: the group treated the restart as a "
                               + "departure. A static member (group.instance.id = instanceId, TODO 4) keeps its partitions", handed));
        }
        sendWave();
        awaitEverythingProcessed();
        requireOwnersStartWhereTheOthersStopped(restarted);
        requireNothingProcessedTwice(restarted, "member-2 restarted (its close() called onPartitionsRevoked for " + itsPartitions + ")");
        staticRestartKept = true;
    }

    @Test
    @Order(7)
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    @DisplayName("a member dropped from the group for a too long pause forgets its lost partitions and commits nothing for them")
    void aMemberThatLostItsPartitionsCommitsNothing() {
        requirePassed(staticRestartKept, "a static member that restarts within its session timeout keeps its partitions");
        long joined = WatchedConsumer.mark();
        // member-3 comes back, with a short max.poll.interval.ms that the checker will overrun on purpose.
        Member stalling = join("member-3", "member-3", Map.of(ConsumerConfig.MAX_POLL_INTERVAL_MS_CONFIG, STALL_POLL_INTERVAL_MS));
        long stalled;
        try {
            awaitGroup(REBALANCE_BOUND, () -> {
                requireNoSharedPartition();
                return members.values().stream().allMatch(m -> m.partitions().size() == 2);
            }, () -> String.format("member-3 joined member-1 and member-2; each should own two partitions within %d s; they own %s",
                    REBALANCE_BOUND.toSeconds(), owners()));
            requireHandoversCommitted(joined);
            // Records processed and not yet committed: exactly what a commit on losing them would try to commit.
            sendWave();
            awaitEverythingProcessed();
            stalled = WatchedConsumer.mark();
            stalling.paused = true;
            try {
                // The consumer's own thread notices the overrun and leaves; the broker shows it with a negative epoch.
                await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50))
                        .until(() -> stalling.failure != null || droppedByTheBroker(stalling));
            } catch (ConditionTimeoutException e) {
                throw new IllegalStateException("The checker stalled member-3 past its max.poll.interval.ms ("
                        + STALL_POLL_INTERVAL_MS + " ms), but after 20 s the broker still lists it as active: " + describe().members());
            } finally {
                stalling.paused = false;
            }
            // Its next poll learns it was dropped, and calls onPartitionsLost.
            try {
                await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(20))
                        .until(() -> stalling.failure != null || !lostSince(stalling, stalled).isEmpty());
            } catch (ConditionTimeoutException e) {
                throw new IllegalStateException("The broker dropped member-3, but within 15 s of its next polls no onPartitionsLost "
                        + "ran; its rebalance callbacks since: " + stalling.consumer.rebalances().stream().filter(r -> r.sequence() > stalled).toList());
            }
        } catch (AssertionError | RuntimeException e) {
            // A loaded machine may overrun the interval before the checker does: a commit on that loss is the cause to report.
            requireNothingCommittedOnLoss(stalling, joined);
            throw e;
        }
        requireNothingCommittedOnLoss(stalling, joined);
        rethrow(stalling.failure);
        if (!stalling.notForgotten.isEmpty()) {
            fail(String.format("After onPartitionsLost(%s), processed still holds offsets for %s. Those offsets belong to an ownership "
                               + "that has ended: if such a partition comes back and is revoked before a new record is processed "
                               + "there, onPartitionsRevoked commits the stale offset and rewinds what the other owner committed "
                               + "meanwhile. onPartitionsLost removes the lost partitions from processed (TODO 2)",
                    numbers(lostSince(stalling, stalled)), new TreeSet<>(stalling.notForgotten)));
        }
    }

    static void requireNothingCommittedOnLoss(Member member, long since) {
        List<Commit> lostCommits = member.consumer.commits().stream()
                .filter(c -> c.sequence() > since && c.context() == Context.LOST).toList();
        if (lostCommits.isEmpty()) {
            return;
        }
        String what = lostCommits.stream().map(c -> (c.sync() ? "commitSync" : "commitAsync")
                + (c.offsets() == null ? "()" : " " + nextOffsets(c.offsets()))).distinct().collect(Collectors.joining(", "));
        fail(String.format("%s went over %d ms without a poll, so the group dropped it, and its consumer called "
                           + "onPartitionsLost for %s; in that callback it committed: %s. %s Lost partitions may already be "
                           + "another member's: such a commit fails (CommitFailedException) or, worse, rewinds what the next "
                           + "owner committed. onPartitionsLost must only forget the lost partitions (TODO 2)",
                member.name, STALL_POLL_INTERVAL_MS, numbers(lostSince(member, since)), what,
                member.overridesLost ? "It was onPartitionsLost that committed."
                        : "The listener does not override onPartitionsLost, and the interface's default onPartitionsLost "
                          + "calls onPartitionsRevoked, which commits."));
    }

    // ------------------------------------------------------------------ the group

    /** One member: a watched consumer made from the learner's config and listener, polled by the learner's pollOnce on its own thread. */
    static final class Member {
        final String name;
        final WatchedConsumer<String, String> consumer;
        final Object instanceId;
        // The checker reads it from its own thread between waves: a concurrent map, unlike the lab's own HashMap.
        final Map<TopicPartition, OffsetAndMetadata> processed = new ConcurrentHashMap<>();
        final CountDownLatch closed = new CountDownLatch(1);
        final boolean overridesLost;
        /** What each pollOnce was handed, one list per call that got records. */
        final List<List<Polled>> polls = new CopyOnWriteArrayList<>();
        /** Partitions that onPartitionsLost left in processed. */
        final Set<Integer> notForgotten = ConcurrentHashMap.newKeySet();
        volatile boolean running = true;
        /** While true, the member's thread does not poll: a slow handler, as the consumer sees it. */
        volatile boolean paused;
        volatile String memberId;
        /** How many of its polled records pollOnce has returned from: those it has processed. */
        volatile int returnedFrom;
        volatile CloseOptions closeWith = CloseOptions.timeout(CLOSE_BOUND);
        volatile Throwable failure;

        Member(String instance, String name, Map<String, Object> overrides) {
            this.name = name;
            Properties config = lab().call("consumerConfig", bootstrapServers(), group, instance);
            assertThat(config).as("consumerConfig returned null instead of the consumer's Properties").isNotNull();
            this.instanceId = config.get(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG);
            config.putAll(overrides);
            this.consumer = new WatchedConsumer<>(newConsumer(config), name);
            ConsumerRebalanceListener learners = lab().call("rebalanceListener", consumer, processed);
            assertThat(learners).as("rebalanceListener returned null instead of a ConsumerRebalanceListener (TODO 2)").isNotNull();
            this.overridesLost = overrides(learners, "onPartitionsLost");
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    learners.onPartitionsRevoked(partitions);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    learners.onPartitionsAssigned(partitions);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    learners.onPartitionsLost(partitions);
                    // Seen on the member's own thread, right as the callback returns.
                    partitions.stream().filter(processed::containsKey).forEach(p -> notForgotten.add(p.partition()));
                }
            });
            Thread thread = new Thread(this::run, "lab09-" + name);
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            try {
                while (running) {
                    if (paused) {
                        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
                        continue;
                    }
                    int before = consumer.polled().size();
                    Object returned = lab().call("pollOnce", consumer, processed);
                    int handed = consumer.polled().size() - before;
                    if (!Objects.equals(returned, handed)) {
                        failure = new AssertionError(String.format("%s's pollOnce returned %s, but the poll inside it returned %d "
                                + "records: pollOnce returns the number of records it polled and processed (TODO 3)", name, returned, handed));
                        break;
                    }
                    if (handed > 0) {
                        polls.add(consumer.polled().subList(before, before + handed));
                    }
                    returnedFrom = before + handed;
                    memberId = consumer.groupMetadata().memberId();
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
            paused = false;
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

        /** No pollOnce is halfway through records it was handed. */
        boolean idle() {
            return failure != null || closed.getCount() == 0 || returnedFrom == consumer.polled().size();
        }
    }

    static boolean overrides(ConsumerRebalanceListener listener, String method) {
        try {
            return listener.getClass().getMethod(method, Collection.class).getDeclaringClass() != ConsumerRebalanceListener.class;
        } catch (NoSuchMethodException e) {
            return true;
        }
    }

    static Member join(String name) {
        return join(name, name, Map.of());
    }

    static Member join(String instance, String name, Map<String, Object> overrides) {
        Member member = new Member(instance, name, overrides);
        members.put(instance, member);
        everyMember.add(member);
        return member;
    }

    static void leave(Member member, CloseOptions options) {
        member.stop(options);
        boolean closed = member.awaitClosed(CLOSE_BOUND.plusSeconds(5));
        members.values().remove(member);
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

    /**
     * A wave: on partition p, 2 + p readings (27 in all), each with its partition chosen so every
     * member has work. Counts that differ by partition make each partition's offsets its own.
     */
    static void sendWave() {
        waves++;
        if (producer == null) {
            producer = newProducer();
        }
        for (int partition = 0; partition < PARTITIONS; partition++) {
            for (int i = 0; i < 2 + partition; i++) {
                producer.send(new ProducerRecord<>(topic, partition, "sensor-" + partition, "wave " + waves + ", reading " + i));
                sent[partition]++;
            }
        }
        // Every reading is on the broker before the checker looks for it.
        producer.flush();
    }

    static int expectedTotal() {
        int total = 0;
        for (int count : sent) {
            total += count;
        }
        return total;
    }

    /** Everything poll() handed to any member, in the order it happened. */
    static List<Polled> polled() {
        return everyMember.stream().flatMap(m -> m.consumer.polled().stream())
                .sorted(Comparator.comparingLong(Polled::sequence)).toList();
    }

    static Set<String> handedOut() {
        return polled().stream().map(Polled::id).collect(Collectors.toSet());
    }

    /** Every member has returned from the pollOnce that got its last records: what it was handed, it has processed. */
    static boolean idle() {
        return everyMember.stream().allMatch(Member::idle);
    }

    /** The lab's process() notes each record in SEEN: every record a poll returned must be there. */
    static void requireEveryRecordProcessed() {
        Set<String> seen = new HashSet<>(lab().<Set<String>>staticField("SEEN"));
        List<String> skipped = polled().stream().filter(p -> !seen.contains(p.partition().partition() + "@" + p.offset()))
                .map(p -> p.id() + " (" + p.consumer() + ")").distinct().toList();
        if (!skipped.isEmpty()) {
            fail(String.format("poll() returned %d records that process(record) never saw: %s. pollOnce must call process(record) "
                               + "for every record it polls before noting its offset (TODO 3)",
                    skipped.size(), skipped.size() > 8 ? skipped.subList(0, 8) + " and more" : skipped));
        }
    }

    static void awaitEverythingProcessed() {
        awaitGroup(Duration.ofSeconds(10), () -> handedOut().size() == expectedTotal() && idle(), () -> {
            Set<String> missing = new TreeSet<>();
            for (int partition = 0; partition < PARTITIONS; partition++) {
                for (int offset = 0; offset < sent[partition]; offset++) {
                    missing.add("p" + partition + "@" + offset);
                }
            }
            missing.removeAll(handedOut());
            return String.format("%d readings were sent; after 10 s the group has been handed %d. Never handed out: %s. Owners: %s. "
                                 + "Likely causes: a position moved forward (a seek in onPartitionsAssigned or pollOnce), or a member "
                                 + "that stopped polling",
                    expectedTotal(), expectedTotal() - missing.size(), missing, owners());
        });
        requireEveryRecordProcessed();
    }

    /** One member's spell as the owner of one partition: from the callback that gave it, to the one that took it. */
    record Ownership(Member member, TopicPartition partition, long from, long to, Context end) {
        List<Polled> records() {
            return member.consumer.polled().stream()
                    .filter(p -> p.partition().equals(partition) && p.sequence() > from && p.sequence() < to).toList();
        }
    }

    static List<Ownership> ownerships() {
        List<Ownership> all = new ArrayList<>();
        for (Member member : everyMember) {
            Map<TopicPartition, Long> since = new HashMap<>();
            for (Rebalance r : member.consumer.rebalances()) {
                for (TopicPartition p : r.partitions()) {
                    if (r.kind() == Context.ASSIGNED) {
                        since.putIfAbsent(p, r.sequence());
                    } else if (since.containsKey(p)) {
                        all.add(new Ownership(member, p, since.remove(p), r.sequence(), r.kind()));
                    }
                }
            }
            since.forEach((p, from) -> all.add(new Ownership(member, p, from, Long.MAX_VALUE, null)));
        }
        return all;
    }

    /**
     * The cause of a handover gone wrong, told apart: for every partition a member gave up (revoked)
     * after {@code since}, having processed records there, the offset committed for it by the time the
     * callback returned must be one past the last of those records, and committed synchronously.
     */
    static void requireHandoversCommitted(long since) {
        List<WrongCommit> wrong = new ArrayList<>();
        List<String> async = new ArrayList<>();
        for (Ownership o : ownerships()) {
            if (o.end() != Context.REVOKED || o.to() <= since) {
                continue;
            }
            List<Polled> records = o.records();
            if (records.isEmpty()) {
                continue; // nothing processed there while it owned it: nothing to commit
            }
            long last = records.stream().mapToLong(Polled::offset).max().getAsLong();
            int p = o.partition().partition();
            String who = o.member().name;
            long callbackEnd = endOfCallback(o.member(), o.to());
            List<Commit> commits = o.member().consumer.commits().stream()
                    .filter(c -> c.sequence() > o.from() && c.sequence() < callbackEnd).toList();
            List<Commit> covering = commits.stream()
                    .filter(c -> c.offsets() == null || c.offsets().containsKey(o.partition())).toList();
            if (covering.isEmpty()) {
                Set<String> otherTopics = new TreeSet<>();
                commits.stream().filter(c -> c.offsets() != null).flatMap(c -> c.offsets().keySet().stream())
                        .map(TopicPartition::topic).filter(t -> !t.equals(topic)).forEach(otherTopics::add);
                o.member().processed.keySet().stream().map(TopicPartition::topic).filter(t -> !t.equals(topic)).forEach(otherTopics::add);
                if (!otherTopics.isEmpty()) {
                    fail(String.format("%s notes and commits offsets for topic %s, but its records came from topic \"%s\" (the "
                                       + "checker's own): nothing was committed for partition %d when %s gave it up. Build the "
                                       + "TopicPartition from the record itself: new TopicPartition(record.topic(), record.partition()) (TODO 3)",
                            who, otherTopics.stream().map(t -> "\"" + t + "\"").collect(Collectors.joining(", ")), topic, p, who));
                }
                fail(String.format("%s gave partition %d up without committing what it processed there (up to offset %d): its new "
                                   + "owner starts at the group's last committed offset and processes those records again. In "
                                   + "onPartitionsRevoked, commit the revoked partitions' offsets from processed, with commitSync (TODO 2)",
                        who, p, last));
            }
            Commit latest = covering.get(covering.size() - 1);
            long committed = offsetOf(latest, o);
            boolean doneInTime = covering.stream().anyMatch(c -> c.sync() && offsetOf(c, o) == last + 1);
            if (committed == last + 1 || doneInTime) {
                if (!doneInTime) {
                    async.add(String.format("%s committed partition %d's offset with commitAsync %s before giving it up. commitAsync returns "
                                       + "before the commit is done, and the partition goes to its new owner as soon as onPartitionsRevoked "
                                       + "returns: the new owner may read the old offset. Commit with commitSync in onPartitionsRevoked (TODO 2)",
                            who, p, latest.context() == Context.REVOKED ? "in onPartitionsRevoked" : "in pollOnce"));
                }
                continue;
            }
            wrong.add(new WrongCommit(o, committed, last, lastOfItsPoll(o)));
        }
        if (!wrong.isEmpty()) {
            // One cause for all the partitions it explains, so that a coincidence on one partition cannot mislead.
            WrongCommit w = wrong.get(0);
            String who = w.ownership().member().name;
            int p = w.ownership().partition().partition();
            if (wrong.stream().allMatch(x -> x.committed() == x.last())) {
                fail(String.format("%s gave partition %d up with offset %d committed: the offset of the last record it processed "
                                   + "there, so its new owner processes that record again. A committed offset names the next record "
                                   + "to read: one past the last processed, %d (TODO 3)", who, p, w.committed(), w.last() + 1));
            }
            String batch = "";
            if (wrong.stream().allMatch(WrongCommit::fitsOneOffsetPerPoll)) {
                batch = String.format(" (%d is one past the last record of the poll that read it, which was on partition %d: "
                                      + "one offset for every partition of a poll?)", w.committed(), w.lastOfItsPoll().partition().partition());
            }
            fail(String.format("%s gave partition %d up with offset %d committed, but the last record it processed on partition %d "
                               + "is at offset %d%s: its new owner would %s. Note, for each partition, one past the last record "
                               + "processed on that partition: here %d (TODO 3)",
                    who, p, w.committed(), p, w.last(), batch,
                    w.committed() > w.last() ? "skip " + offsets(w.last() + 1, w.committed() - 1) + ", never processed"
                            : "process " + offsets(w.committed(), w.last()) + " again",
                    w.last() + 1));
        }
        if (!async.isEmpty()) {
            fail(async.get(0));
        }
    }

    /** A handover whose commit was not one past the last record processed on the partition. */
    record WrongCommit(Ownership ownership, long committed, long last, Polled lastOfItsPoll) {
        boolean fitsOneOffsetPerPoll() {
            return lastOfItsPoll != null && !lastOfItsPoll.partition().equals(ownership.partition())
                   && committed == lastOfItsPoll.offset() + 1;
        }
    }

    /** The last record of the last poll that handed the owner records of this partition. */
    static Polled lastOfItsPoll(Ownership o) {
        Polled found = null;
        for (List<Polled> poll : o.member().polls) {
            if (poll.stream().anyMatch(r -> r.partition().equals(o.partition()) && r.sequence() > o.from() && r.sequence() < o.to())) {
                found = poll.get(poll.size() - 1);
            }
        }
        return found;
    }

    static String offsets(long from, long to) {
        return from == to ? "offset " + from : "offsets " + from + " to " + to;
    }

    /** The offset a commit set for the ownership's partition; for a commit of positions, one past what was polled before it. */
    static long offsetOf(Commit commit, Ownership o) {
        if (commit.offsets() != null) {
            return commit.offsets().get(o.partition()).offset();
        }
        return o.records().stream().filter(r -> r.sequence() < commit.sequence()).mapToLong(Polled::offset).max().orElse(-1) + 1;
    }

    /** The member's next event after a callback that began at {@code start}: commits before it were made in that callback. */
    static long endOfCallback(Member member, long start) {
        long next = Long.MAX_VALUE;
        for (Rebalance r : member.consumer.rebalances()) {
            if (r.sequence() > start) {
                next = Math.min(next, r.sequence());
            }
        }
        for (Polled p : member.consumer.polled()) {
            if (p.sequence() > start) {
                next = Math.min(next, p.sequence());
                break;
            }
        }
        return next;
    }

    /**
     * The new owner's side of each handover after {@code since}: its first record on the partition is
     * one past the last that any member had been handed there. With the old owner's commit already
     * found right, a different start means the new owner's position was moved.
     */
    static void requireOwnersStartWhereTheOthersStopped(long since) {
        List<Polled> all = polled();
        for (Ownership o : ownerships()) {
            if (o.from() <= since) {
                continue;
            }
            List<Polled> records = o.records();
            if (records.isEmpty()) {
                continue;
            }
            Polled first = records.get(0);
            long before = all.stream().filter(r -> r.partition().equals(o.partition()) && r.sequence() < first.sequence())
                    .mapToLong(Polled::offset).max().orElse(-1);
            if (first.offset() != before + 1) {
                fail(String.format("%s took partition %d over and started at offset %d, though the partition had been read up to "
                                   + "offset %d and that was committed: it %s. Something moved its position when it got the "
                                   + "partition: a seek (seekToBeginning, seekToEnd, seek) in onPartitionsAssigned or pollOnce? A new "
                                   + "owner starts at the committed offset by itself; onPartitionsAssigned has nothing to do (TODO 2)",
                        o.member().name, o.partition().partition(), first.offset(), before,
                        first.offset() <= before ? "processed " + offsets(first.offset(), before) + " again"
                                : "skipped " + offsets(before + 1, first.offset() - 1)));
            }
        }
    }

    /** Fails if a record handed out after {@code since} had been handed out before, saying by whom. */
    static void requireNothingProcessedTwice(long since, String event) {
        Map<String, Polled> first = new HashMap<>();
        List<String> repeats = new ArrayList<>();
        for (Polled p : polled()) {
            Polled earlier = first.putIfAbsent(p.id(), p);
            if (earlier != null && p.sequence() > since) {
                repeats.add(p.id() + " (" + earlier.consumer() + ", then " + p.consumer() + ")");
            }
        }
        if (!repeats.isEmpty()) {
            fail(String.format("After %s, %d readings were processed again: %s. The members that gave partitions up committed "
                               + "the right offsets, and the new owners started there, so a position moved back later. Likely "
                               + "causes: a seek in onPartitionsAssigned (with KIP-848 it is often called with no partitions at "
                               + "all, and seekToBeginning of an empty collection rewinds every partition the member owns), or a "
                               + "seek in pollOnce",
                    event, repeats.size(), repeats.size() > 8 ? repeats.subList(0, 8) + " and more" : repeats));
        }
    }

    static List<TopicPartition> lostSince(Member member, long since) {
        return member.consumer.rebalances().stream().filter(r -> r.sequence() > since && r.kind() == Context.LOST)
                .flatMap(r -> r.partitions().stream()).toList();
    }

    /** True when the broker no longer counts the member as active: gone, or away with a negative epoch. */
    static boolean droppedByTheBroker(Member member) {
        String id = member.memberId;
        if (id == null || id.isEmpty()) {
            return false;
        }
        return describe().members().stream().filter(m -> m.consumerId().equals(id))
                .allMatch(m -> m.memberEpoch().orElse(0) < 0);
    }

    static void requirePassed(boolean passed, String check) {
        if (!passed) {
            fail("Not run: this check needs the group left by the check \"" + check + "\", which did not pass");
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
            // A member that failed while the condition was being read: its failure, not the condition, counts.
            requireNoFailure();
        } catch (ConditionTimeoutException e) {
            requireNoFailure();
            fail(onTimeout.get());
        }
    }

    /** Rebalances in a fraction of a second where the broker allows it; the checks hold either way. */
    static void quickenGroupHeartbeat() {
        try {
            groupAdmin().incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), List.of(
                    new AlterConfigOp(new ConfigEntry("consumer.heartbeat.interval.ms", GROUP_HEARTBEAT_MS), AlterConfigOp.OpType.SET))))
                    .all().get(10, TimeUnit.SECONDS);
        } catch (Exception e) {
            // A broker with a higher minimum heartbeat keeps its own: slower, as right.
        }
    }

    /** True when the broker has every member at its target assignment (always, for a classic group). */
    static boolean brokerAtTarget() {
        ConsumerGroupDescription description = describe();
        return description.members().size() == members.size() && description.members().stream()
                .allMatch(m -> m.targetAssignment().map(t -> t.topicPartitions().equals(m.assignment().topicPartitions())).orElse(true));
    }

    static synchronized Admin groupAdmin() {
        if (admin == null) {
            admin = admin();
        }
        return admin;
    }

    static ConsumerGroupDescription describe() {
        try {
            return groupAdmin().describeConsumerGroups(List.of(group)).describedGroups().get(group).get(10, TimeUnit.SECONDS);
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

    static Map<Integer, Long> nextOffsets(Map<TopicPartition, OffsetAndMetadata> offsets) {
        return offsets.entrySet().stream().collect(Collectors.toMap(e -> e.getKey().partition(), e -> e.getValue().offset(),
                (a, b) -> b, TreeMap::new));
    }

    static String owners() {
        return members.values().stream().map(m -> m.name + " " + m.partitions()).collect(Collectors.joining(", "));
    }
}
