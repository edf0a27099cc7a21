package workshop.checks;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import workshop.RecordHandler;
import workshop.check.LabCheck;
import workshop.check.LearnerMessages;

import static org.assertj.core.api.Assertions.fail;

/**
 * Lab 14: the idempotent consumer. The store of seen ids is tried alone first (its bound, and
 * which ids it forgets). Then the checker's own consumer reads real topics and hands every
 * record to the learner's {@code applyOnce}, with a store from the learner's {@code seenIds}:
 *
 * <ul>
 * <li>an orders topic with 3 partitions: 90 distinct ids, several per key and several per
 * payload, with copies of some ids at later offsets of the same partition (a caller that sent
 * again) and of the same key on another partition (a replay after the topic grew), one id three
 * times, and records with no id at all;</li>
 * <li>a window topic with 1 partition, so the order is known: copies of ids that come back after
 * fewer ids than the store keeps (the oldest it must still know: 39 of 40) and after many more.</li>
 * </ul>
 *
 * A record applied is a handler call that returned; the handler fails on purpose once for chosen
 * ids, and the checker's loop then seeks back to the failed record, as the lab's own loop does.
 */
class Lab14DedupCheck extends LabCheck {

    static final String MESSAGE_ID = "message-id";
    static final int ORDERS = 90;
    static final int PARTITIONS = 3;
    /** Larger than the orders topic: every copy there is inside the store's window. */
    static final int ROOMY = 1_000;
    /** The window topic's store: small, so the topic passes through it four times. */
    static final int WINDOW = 40;
    static final int WINDOW_IDS = 160;
    /**
     * Copies of window ids that must be skipped: {after id, copy of id}; at most WINDOW - 1 new ids since the first.
     * No OUTSIDE copy lies between one of these and its original: a forgotten id that comes back enters the store
     * again, as a new id, and would push the original out.
     */
    static final int[][] INSIDE = {{10, 10}, {30, 23}, {50, 11}, {70, 50}, {90, 51}, {110, 100}, {130, 91}, {150, 149}};
    /** Copies of window ids never repeated before, after far more than WINDOW new ids: the store forgot them. */
    static final int[][] OUTSIDE = {{135, 5}, {140, 40}, {159, 60}};
    /** Ids whose first delivery the handler fails, once. */
    static final List<String> FAIL_ONCE = List.of("order-5", "order-18", "order-26", "order-45", "order-61");
    static final String[] PAYLOADS = {"{\"item\":\"book\",\"qty\":1}", "{\"item\":\"pen\",\"qty\":3}",
                                      "{\"item\":\"lamp\",\"qty\":1}", "{\"item\":\"mug\",\"qty\":2}"};
    static final Duration READ_BOUND = Duration.ofSeconds(30);

    private static String orders;
    private static String window;

    @Test
    @Order(1)
    @DisplayName("the store keeps the newest ids, up to its capacity, and forgets the oldest first")
    void storeKeepsTheNewestIds() {
        int capacity = 50;
        Set<String> seen = lab().call("seenIds", capacity);
        if (seen == null) {
            fail("seenIds(" + capacity + ") returned null: return the Set that remembers the ids (TODO 1)");
        }
        List<String> ids = new ArrayList<>();
        int largest = 0;
        for (int i = 0; i < 4 * capacity; i++) {
            String id = "id-" + i;
            ids.add(id);
            seen.add(id);
            int size = seen.size();
            if (size > capacity) {
                fail("seenIds(" + capacity + ") held " + size + " ids after " + (i + 1) + " different ids were added: a store "
                     + "with a capacity of " + capacity + " must never hold more than " + capacity + ". Memory is bounded; "
                     + "an id set that only grows is a leak with a delay. Forget the oldest id when a new one would make "
                     + "it hold more (TODO 1)");
            }
            int dropped = largest - size;
            largest = Math.max(largest, size);
            for (int k = Math.max(0, i - capacity + 1); k <= i; k++) {
                if (!seen.contains(ids.get(k))) {
                    fail(forgotTooSoon(capacity, i, k, size, dropped, seen, ids));
                }
            }
        }
        List<String> remembered = ids.subList(0, 3 * capacity).stream().filter(seen::contains).toList();
        if (!remembered.isEmpty()) {
            fail("After " + 4 * capacity + " different ids, seenIds(" + capacity + ") still knows " + remembered.size()
                 + " of the first " + 3 * capacity + " (" + first(remembered) + "), though its size() says " + seen.size()
                 + ": the store must forget old ids, not only report a bounded size (TODO 1)");
        }
    }

    @Test
    @Order(2)
    @Timeout(45) // the first check on the broker also creates and fills the topics
    @DisplayName("each message id is applied once, whatever offset or partition its copies land on")
    void eachIdAppliedOnce() {
        topics();
        Set<String> seen = store(ROOMY);
        Run run = consume(orders, seen, ROOMY, Lab14DedupCheck::hasId, List.of());
        Map<String, List<String>> planned = idsIn(run.delivered);
        List<String> missing = planned.keySet().stream().filter(id -> !run.applied.containsKey(id)).sorted(BY_NUMBER).toList();
        List<String> twice = run.applied.entrySet().stream().filter(e -> e.getValue().size() > 1).map(Map.Entry::getKey)
                .sorted(BY_NUMBER).toList();
        if (!missing.isEmpty() || !twice.isEmpty()) {
            StringBuilder message = new StringBuilder("With a store of " + ROOMY + " ids (more than the topic holds, so every copy "
                    + "is inside its window), the checker read " + run.delivered.size() + " records of " + planned.size()
                    + " different message ids from " + PARTITIONS + " partitions.\n");
            if (!missing.isEmpty()) {
                message.append(missing.size()).append(" of them were never applied, such as ").append(whyMissing(run, missing))
                        .append(".\n");
            }
            if (!twice.isEmpty()) {
                message.append(twice.size()).append(" were applied more than once: ").append(twice.stream().limit(4)
                        .map(id -> id + " at " + String.join(" and ", run.applied.get(id))).collect(Collectors.joining("; ")))
                        .append(" (partition@offset: the same message id at another offset).\n");
            }
            fail(message + whatTheStoreHolds(seen, run, planned.keySet()));
        }
        List<String> notKept = planned.keySet().stream().filter(id -> !seen.contains(id)).toList();
        if (!notKept.isEmpty()) {
            fail("Every id was applied once, but the store handed to applyOnce does not hold " + notKept.size() + " of the "
                 + planned.size() + " ids applied (" + first(notKept) + "). applyOnce must remember ids in the `seen` set it is "
                 + "given: the consumer owns that store, sizes it, and keeps it across calls (TODO 2)");
        }
        requireHonestResults(run);
    }

    @Test
    @Order(3)
    @Timeout(40) // a pass over a topic takes a second or two, several on a loaded machine
    @DisplayName("a copy inside the store's window is skipped; one from further back is applied again, and the store stays bounded")
    void theWindowIsTheStoresCapacity() {
        topics();
        Set<String> seen = store(WINDOW);
        Run run = consume(window, seen, WINDOW, Lab14DedupCheck::hasId, List.of());
        if (run.largest > WINDOW) {
            fail("The store from seenIds(" + WINDOW + ") held " + run.largest + " ids after applyOnce had been called for "
                 + run.largestAt + ": it must never hold more than its capacity (TODO 1, or TODO 2 if applyOnce adds more than "
                 + "the record's id)");
        }
        List<String> wrong = new ArrayList<>();
        for (int[] copy : INSIDE) {
            String id = "w-" + copy[1];
            int times = run.applied.getOrDefault(id, List.of()).size();
            if (times != 1) {
                wrong.add(id + " came again after " + (copy[0] - copy[1]) + " other new ids and was applied " + times(times));
            }
        }
        if (!wrong.isEmpty()) {
            fail("With seenIds(" + WINDOW + "), on one partition, an id that comes again after at most " + (WINDOW - 1) + " other new "
                 + "ids is inside the window and must be skipped, the oldest of those ids too: " + String.join("; ", wrong)
                 + ". The store must keep the last " + WINDOW + " different ids (TODO 1)");
        }
        for (int[] copy : OUTSIDE) {
            String id = "w-" + copy[1];
            int times = run.applied.getOrDefault(id, List.of()).size();
            if (times != 2) {
                wrong.add(id + " came again after " + (copy[0] - copy[1]) + " other new ids and was applied " + times(times));
            }
        }
        if (!wrong.isEmpty()) {
            fail("With seenIds(" + WINDOW + "), an id that comes again after far more than " + WINDOW + " other new ids has left "
                 + "the window: the store has forgotten it, so it is applied again (that is the cost of the bound). But: "
                 + String.join("; ", wrong) + ". Does applyOnce use only the `seen` store it is given (TODO 2)?");
        }
        List<String> distinct = idsIn(run.delivered).keySet().stream().filter(id -> !run.applied.containsKey(id)).toList();
        if (!distinct.isEmpty()) {
            fail(distinct.size() + " message ids were never applied: " + first(distinct) + " (TODO 2)");
        }
        requireHonestResults(run);
    }

    @Test
    @Order(4)
    @Timeout(40) // a pass over a topic takes a second or two, several on a loaded machine
    @DisplayName("a record whose handler failed is applied when it comes again")
    void aFailedRecordIsAppliedOnItsRetry() {
        topics();
        Set<String> seen = store(ROOMY);
        Run run = consume(orders, seen, ROOMY, Lab14DedupCheck::hasId, FAIL_ONCE);
        if (!run.swallowed.isEmpty()) {
            String at = run.swallowed.get(0);
            fail("The handler threw on " + at + " (a failure the checker injected), and applyOnce returned normally: its caller "
                 + "cannot know that the work failed, moves on, and commits past the record, which is then lost. Let the "
                 + "handler's exception escape applyOnce, so that the caller can retry (TODO 2)");
        }
        for (String id : FAIL_ONCE) {
            List<String> applied = run.applied.getOrDefault(id, List.of());
            if (applied.size() != 1) {
                String failedAt = run.failedAt.getOrDefault(id, "?");
                String next = run.afterFailure.getOrDefault(id, "");
                String again = next.isEmpty() ? "" : "; when " + id + " came again, " + next;
                fail("The handler threw on " + id + " at " + failedAt + " (a failure the checker injected). The exception "
                     + "escaped applyOnce, so the checker's loop sought back to that offset and polled again, as a retrying "
                     + "consumer does" + again + ". In the end " + id + " was "
                     + (applied.isEmpty() ? "never applied." : "applied " + times(applied.size()) + ".")
                     + (applied.isEmpty() && next.contains("skipped")
                        ? " Its id was marked seen before the work succeeded: remember an id only after handler.handle "
                          + "returned (TODO 2)" : " (TODO 2)"));
            }
        }
        Map<String, List<String>> planned = idsIn(run.delivered);
        List<String> notOnce = planned.keySet().stream().filter(id -> run.applied.getOrDefault(id, List.of()).size() != 1).toList();
        if (!notOnce.isEmpty()) {
            fail("With some handler calls failing once, " + notOnce.size() + " message ids were not applied exactly once: "
                 + notOnce.stream().limit(4).map(id -> id + " " + times(run.applied.getOrDefault(id, List.of()).size()))
                         .collect(Collectors.joining(", ")) + " (TODO 2)");
        }
    }

    @Test
    @Order(5)
    @Timeout(40) // a pass over a topic takes a second or two, several on a loaded machine
    @DisplayName("a record with no message id is applied, every time")
    void aRecordWithoutAnIdIsApplied() {
        topics();
        Set<String> seen = store(ROOMY);
        Run run = consume(orders, seen, ROOMY, record -> true, List.of());
        List<String> noId = run.delivered.stream().filter(r -> !hasId(r)).map(Lab14DedupCheck::at).toList();
        List<String> applied = run.appliedWithoutId;
        if (applied.size() != noId.size()) {
            List<String> skipped = noId.stream().filter(at -> !applied.contains(at)).toList();
            fail("The topic holds " + noId.size() + " records with no " + MESSAGE_ID + " header, some with the same key and "
                 + "payload; " + (applied.isEmpty() ? "none" : "only " + applied.size()) + " of them "
                 + (applied.size() == 1 ? "was" : "were") + " applied (skipped: " + first(skipped) + "). "
                 + (applied.isEmpty()
                    ? "Dropping a record because it carries no id loses it for good."
                    : applied.size() == 1
                    ? "Records with no id are not copies of each other: a missing id is not an id (null equals null)."
                    : "Records with no id are not copies of each other, even when their keys and payloads are equal.")
                 + " With no id there is no way to tell a repeat: apply such a record, as a consumer without a store would "
                 + "(TODO 2)");
        }
    }

    // ---- the topics ------------------------------------------------------------------------------

    /** One record the checker writes: a message id (or none) on a partition, with a key and a payload. */
    record Planned(String id, int partition, String key, String value) {
    }

    private static synchronized void topics() {
        if (orders != null) {
            return;
        }
        String ordersTopic = uniqueName("dedup-orders");
        String windowTopic = uniqueName("dedup-window");
        createTopicsAndWait(Map.of(ordersTopic, PARTITIONS, windowTopic, 1));
        try (KafkaProducer<String, String> producer = newProducer()) {
            for (Planned p : ordersPlan()) {
                producer.send(record(ordersTopic, p));
            }
            for (Planned p : windowPlan()) {
                producer.send(record(windowTopic, p));
            }
            producer.flush();
        }
        window = windowTopic;
        orders = ordersTopic;
    }

    private static ProducerRecord<String, String> record(String topic, Planned p) {
        ProducerRecord<String, String> record = new ProducerRecord<>(topic, p.partition(), p.key(), p.value());
        if (p.id() != null) {
            record.headers().add(MESSAGE_ID, p.id().getBytes(StandardCharsets.UTF_8));
        }
        return record;
    }

    /**
     * Order n goes to partition n % 3 with key customer-(n % 6) (so a key keeps its partition)
     * and one of four payloads: distinct ids share keys and payloads. Copies: every 9th order
     * right after itself (a caller's retry); orders 4, 14, ... six orders later on the same
     * partition; every 13th order two orders later on the next partition (the same key, after
     * the topic grew); order 45 three times. Six records carry no id: two of each alike.
     */
    static List<Planned> ordersPlan() {
        List<Planned> plan = new ArrayList<>();
        Map<Integer, List<Planned>> later = new TreeMap<>();
        for (int n = 1; n <= ORDERS; n++) {
            Planned order = new Planned("order-" + n, n % PARTITIONS, "customer-" + n % 6, PAYLOADS[n % PAYLOADS.length]);
            plan.add(order);
            if (n % 9 == 0) {
                plan.add(order);
            }
            if (n % 10 == 4) {
                later.computeIfAbsent(n + 6, k -> new ArrayList<>()).add(order);
            }
            if (n % 13 == 0) {
                later.computeIfAbsent(n + 2, k -> new ArrayList<>())
                        .add(new Planned(order.id(), (order.partition() + 1) % PARTITIONS, order.key(), order.value()));
            }
            if (n == 45) {
                later.computeIfAbsent(n + 20, k -> new ArrayList<>()).add(order);
            }
            if (n % 30 == 10) {
                for (int copy = 0; copy < 2; copy++) {
                    plan.add(new Planned(null, n % PARTITIONS, "customer-1", PAYLOADS[0]));
                }
            }
            plan.addAll(later.getOrDefault(n, List.of()));
        }
        return plan;
    }

    /** Ids w-0 to w-159 in order on one partition, with the copies of INSIDE and OUTSIDE after their ids. */
    static List<Planned> windowPlan() {
        List<Planned> plan = new ArrayList<>();
        for (int i = 0; i < WINDOW_IDS; i++) {
            plan.add(new Planned("w-" + i, 0, "key-" + i % 5, "{\"n\":" + i + "}"));
            for (int[][] copies : List.of(INSIDE, OUTSIDE)) {
                for (int[] copy : copies) {
                    if (copy[0] == i) {
                        plan.add(new Planned("w-" + copy[1], 0, "key-" + copy[1] % 5, "{\"n\":" + copy[1] + "}"));
                    }
                }
            }
        }
        return plan;
    }

    // ---- the consumer loop -----------------------------------------------------------------------

    /** What one pass over a topic did: every record delivered, and what applyOnce made of each. */
    static final class Run {
        final List<ConsumerRecord<String, String>> delivered = new ArrayList<>();
        /** Message id to the partition@offset of each successful handler call. */
        final Map<String, List<String>> applied = new LinkedHashMap<>();
        final List<String> appliedWithoutId = new ArrayList<>();
        final Map<String, String> failedAt = new LinkedHashMap<>();
        final Map<String, String> afterFailure = new LinkedHashMap<>();
        final List<String> swallowed = new ArrayList<>();
        final List<String> dishonest = new ArrayList<>();
        int largest;
        String largestAt = "";
    }

    private static Set<String> store(int capacity) {
        Set<String> seen = lab().call("seenIds", capacity);
        if (seen == null) {
            fail("seenIds(" + capacity + ") returned null: return the Set that remembers the ids (TODO 1)");
        }
        return seen;
    }

    /**
     * Reads the topic from the start to its end and hands each record {@code feed} accepts to
     * applyOnce. The handler fails the first delivery of each id in {@code failOnce}; the loop then
     * seeks back to that record and stops the partition's batch there, so the next poll brings it again.
     */
    private static Run consume(String topic, Set<String> seen, int capacity, Predicate<ConsumerRecord<String, String>> feed,
                               Collection<String> failOnce) {
        Run run = new Run();
        Set<String> failed = new LinkedHashSet<>();
        int[] calls = {0};
        boolean[] threw = {false};
        RecordHandler handler = record -> {
            calls[0]++;
            String id = idOf(record);
            if (id != null && failOnce.contains(id) && failed.add(id)) {
                run.failedAt.put(id, at(record));
                threw[0] = true;
                throw new IllegalStateException("the handler failed on " + id + " at " + at(record) + " (a failure the checker injected)");
            }
            if (id == null) {
                run.appliedWithoutId.add(at(record));
            } else {
                run.applied.computeIfAbsent(id, k -> new ArrayList<>()).add(at(record));
            }
        };
        Properties config = new Properties();
        config.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        config.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        // Small batches: a failed record has more of its batch after it, which the retry must not run first.
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 7);
        // Everything is written already: a fetch for partitions read to the end must not hold up the others.
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 20);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, READ_BOUND).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions, READ_BOUND);
            long deadline = System.nanoTime() + READ_BOUND.toNanos();
            while (partitions.stream().anyMatch(tp -> consumer.position(tp, READ_BOUND) < ends.get(tp))) {
                if (System.nanoTime() > deadline) {
                    fail("The checker's consumer did not get through topic " + topic + " within " + READ_BOUND.toSeconds()
                         + " s: it delivered " + run.delivered.size() + " records. Does applyOnce return, or throw only what the "
                         + "handler threw?");
                }
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                for (TopicPartition tp : records.partitions()) {
                    for (ConsumerRecord<String, String> record : records.records(tp)) {
                        if (!feed.test(record)) {
                            continue;
                        }
                        run.delivered.add(record);
                        String id = idOf(record);
                        String pending = id == null ? null : run.failedAt.containsKey(id) && !run.afterFailure.containsKey(id) ? id : null;
                        int before = calls[0];
                        threw[0] = false;
                        boolean result;
                        try {
                            result = lab().call("applyOnce", record, seen, handler);
                        } catch (RuntimeException e) {
                            if (!injected(e)) {
                                throw new AssertionError("On the record at " + at(record) + " ("
                                        + (id == null ? "no " + MESSAGE_ID + " header" : "message id " + id) + "): "
                                        + LearnerMessages.describe(e) + (id == null ? "\nA record with no id cannot be "
                                        + "recognised as a repeat: apply it rather than fail (TODO 2)" : ""), e);
                            }
                            consumer.seek(tp, record.offset());
                            break; // the next poll starts again at the failed record
                        }
                        boolean handled = calls[0] > before;
                        if (threw[0]) {
                            run.swallowed.add(id + " at " + at(record));
                        }
                        if (pending != null) {
                            run.afterFailure.put(pending, handled ? "it was handed to the handler again"
                                    : "applyOnce skipped it as seen (returned " + result + " without calling the handler)");
                        }
                        if (result != handled && run.dishonest.size() < 3) {
                            run.dishonest.add(at(record) + ": returned " + result + (handled ? " after handing it to the handler"
                                    : " without handing it to the handler"));
                        }
                        int size = seen.size();
                        if (size > run.largest) {
                            run.largest = size;
                            run.largestAt = run.delivered.size() + " records";
                        }
                        if (size > capacity) {
                            return run; // the check names it
                        }
                    }
                }
            }
        }
        return run;
    }

    // ---- what a failed check says ----------------------------------------------------------------

    private static String forgotTooSoon(int capacity, int i, int k, int size, int dropped, Set<String> seen, List<String> ids) {
        String seenNow = "After adding " + (i + 1) + " different ids to seenIds(" + capacity + "), it no longer knows " + ids.get(k)
                         + (k == i ? ", the id it was just given" : ", though only " + (i - k) + (i - k == 1 ? " id" : " ids")
                         + " came after it") + "; it holds " + size + ". ";
        boolean keepsOldest = k == i && i >= capacity && seen.contains(ids.get(0));
        if (keepsOldest) {
            return seenNow + "It still knows " + ids.get(0) + ", the first id: when full, it drops or refuses the NEWEST ids. "
                   + "A duplicate comes soon after its original, so the store must forget the OLDEST id first (TODO 1)";
        }
        if (dropped > 1) {
            return seenNow + "Its size fell by " + dropped + " at once: it forgets many ids when it is full (all of them?). A copy "
                   + "of an id seen just before that moment is then applied twice, though it is well inside the window. "
                   + "Forget one id per new id, the oldest (TODO 1)";
        }
        if (size == capacity - 1 && i - k == capacity - 1) {
            return seenNow + "It keeps only " + (capacity - 1) + " ids, not " + capacity + ": off by one. removeEldestEntry is "
                   + "asked after the new entry is in, so its size() already counts it (TODO 1)";
        }
        String older = ids.subList(0, k).stream().filter(seen::contains).findFirst().orElse(null);
        if (older != null) {
            return seenNow + "Yet it still knows " + older + ", which is older: it does not forget in the order the ids came. "
                   + "A HashSet or a TreeSet has no notion of age; a LinkedHashMap keeps its keys in insertion order. "
                   + "A store with a capacity of " + capacity + " must know the last " + capacity + " different ids it was given, "
                   + "and forget the oldest first (TODO 1)";
        }
        return seenNow + "A store with a capacity of " + capacity + " must know the last " + capacity + " different ids it was "
               + "given, and forget the oldest first (TODO 1)";
    }

    /** Each missing id with what it shares with an id applied before it: a key, a payload. */
    private static String whyMissing(Run run, List<String> missing) {
        Map<String, ConsumerRecord<String, String>> firstCopy = new LinkedHashMap<>();
        run.delivered.forEach(r -> firstCopy.putIfAbsent(idOf(r), r));
        List<String> lines = new ArrayList<>();
        for (String id : missing.stream().limit(3).toList()) {
            ConsumerRecord<String, String> r = firstCopy.get(id);
            String sameKey = null;
            String samePayload = null;
            for (ConsumerRecord<String, String> other : run.delivered) {
                if (other == r) {
                    break;
                }
                String otherId = idOf(other);
                if (otherId.equals(id) || !run.applied.containsKey(otherId)) {
                    continue;
                }
                if (sameKey == null && other.key().equals(r.key())) {
                    sameKey = "the same key, " + r.key() + ", as " + otherId;
                }
                if (samePayload == null && other.value().equals(r.value())) {
                    samePayload = "the same payload, " + r.value() + ", as " + otherId;
                }
            }
            String shares = sameKey == null && samePayload == null ? ""
                    : " (" + (sameKey == null ? samePayload : samePayload == null ? sameKey : sameKey + "; " + samePayload)
                      + ", applied before it)";
            lines.add(id + " at " + at(r) + shares);
        }
        return String.join("; ", lines);
    }

    /** What the learner's store holds, compared with the ids, keys, payloads and offsets of the topic. */
    private static String whatTheStoreHolds(Set<String> seen, Run run, Set<String> ids) {
        List<String> entries = new ArrayList<>(seen);
        String sample = entries.stream().limit(3).map(e -> "\"" + e + "\"").collect(Collectors.joining(", "));
        Set<String> keys = run.delivered.stream().map(ConsumerRecord::key).collect(Collectors.toSet());
        Set<String> values = run.delivered.stream().map(ConsumerRecord::value).collect(Collectors.toSet());
        Set<String> hashes = new LinkedHashSet<>();
        run.delivered.forEach(r -> {
            hashes.add(String.valueOf(r.value().hashCode()));
            hashes.add(String.valueOf(java.util.Arrays.hashCode(r.value().getBytes(StandardCharsets.UTF_8))));
        });
        Set<String> offsets = new LinkedHashSet<>();
        run.delivered.forEach(r -> {
            offsets.add(String.valueOf(r.offset()));
            offsets.add(r.partition() + "-" + r.offset());
            offsets.add(r.partition() + "@" + r.offset());
            offsets.add(r.partition() + ":" + r.offset());
            offsets.add(r.topic() + "-" + r.partition() + "-" + r.offset());
            offsets.add(r.topic() + "-" + r.partition() + "@" + r.offset());
        });
        String holds = "The store holds " + entries.size() + (entries.size() == 1 ? " entry" : " entries")
                       + (entries.isEmpty() ? "" : ", such as " + sample) + ". ";
        if (entries.isEmpty()) {
            return holds + "applyOnce must add each applied record's id to the `seen` set it is given, and skip a record whose "
                   + "id is in it (TODO 2)";
        }
        if (entries.stream().anyMatch(e -> e.startsWith("[B@"))) {
            return holds + "\"[B@...\" is how a byte array prints itself: its identity, new for every record, not its content. "
                   + "Read the id with new String(header.value(), StandardCharsets.UTF_8) (TODO 2)";
        }
        if (entries.stream().anyMatch(keys::contains)) {
            return holds + "Those are record keys. A key names an entity (a customer), which sends many different messages; "
                   + "deduplicate by the id in the " + MESSAGE_ID + " header (TODO 2)";
        }
        if (entries.stream().anyMatch(e -> values.contains(e) || hashes.contains(e))) {
            return holds + "Those are payloads (or their hashes). Two different orders can carry the same payload, and both must "
                   + "apply; deduplicate by the id in the " + MESSAGE_ID + " header (TODO 2)";
        }
        if (entries.stream().anyMatch(offsets::contains)) {
            return holds + "Those are offsets. A copy of a message is a new record at a new offset, so an offset never repeats "
                   + "within a partition: deduplicate by the id in the " + MESSAGE_ID + " header (TODO 2)";
        }
        if (entries.stream().noneMatch(ids::contains)) {
            return holds + "None of them is a message id of the topic (such as " + ids.iterator().next() + "): read the id from "
                   + "the " + MESSAGE_ID + " header (TODO 2)";
        }
        return "applyOnce must skip a record whose message id the store holds, apply the others, and then remember their "
               + "ids (TODO 2)";
    }

    private static void requireHonestResults(Run run) {
        if (!run.dishonest.isEmpty()) {
            fail("applyOnce must return true when it applied the record (handed it to the handler) and false when it skipped "
                 + "it as a copy; it did not: " + String.join("; ", run.dishonest) + " (TODO 2)");
        }
    }

    // ---- small helpers ---------------------------------------------------------------------------

    private static boolean hasId(ConsumerRecord<String, String> record) {
        return idOf(record) != null;
    }

    static String idOf(ConsumerRecord<String, String> record) {
        Header header = record.headers().lastHeader(MESSAGE_ID);
        return header == null || header.value() == null ? null : new String(header.value(), StandardCharsets.UTF_8);
    }

    /** Distinct message ids in delivery order, each with where its copies were. */
    private static Map<String, List<String>> idsIn(List<ConsumerRecord<String, String>> delivered) {
        Map<String, List<String>> ids = new LinkedHashMap<>();
        delivered.stream().filter(Lab14DedupCheck::hasId).forEach(r -> ids.computeIfAbsent(idOf(r), k -> new ArrayList<>()).add(at(r)));
        return ids;
    }

    /** Ids in the order of their number: the order the checker wrote them, whatever the order of delivery. */
    static final java.util.Comparator<String> BY_NUMBER = java.util.Comparator.comparingInt(id -> Integer.parseInt(id.replaceAll("\\D", "")));

    private static String at(ConsumerRecord<?, ?> record) {
        return record.partition() + "@" + record.offset();
    }

    private static boolean injected(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof IllegalStateException && String.valueOf(t.getMessage()).endsWith("(a failure the checker injected)")) {
                return true;
            }
        }
        return false;
    }

    private static String times(int n) {
        return n == 0 ? "never" : n == 1 ? "once" : n == 2 ? "twice" : n + " times";
    }

    private static String first(Collection<String> items) {
        return items.stream().limit(6).collect(Collectors.joining(", ")) + (items.size() > 6 ? ", ..." : "");
    }
}
