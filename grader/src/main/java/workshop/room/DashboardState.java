package workshop.room;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import workshop.grader.Curriculum;

/**
 * What the room's dashboard shows, built from every grade event read so far: per learner their
 * latest name and, per lab, their latest grade; per lab the checks people are stuck on. Safe to use
 * from any thread: the topic's reader writes it, each page's connection reads it.
 */
public final class DashboardState {

    public static final String PASSED = "passed";
    public static final String PARTLY = "partly";
    public static final String FAILED = "failed";
    public static final String NOT_STARTED = "not started";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Comparator<Row> BY_NAME = Comparator.comparing((Row row) -> row.name.toLowerCase(java.util.Locale.ROOT))
            .thenComparing(row -> row.id);

    /** A lab the page has a column for. */
    public record Column(String id, String name, String title) {
    }

    /** Everything the page shows, at one version. */
    public record Snapshot(long version, String reading, boolean topicFound, boolean waiting, long eventsRead,
                           long malformedSkipped, String problem, List<LabView> labs, List<LearnerView> learners) {
    }

    /** A lab's column, with the checks its learners are stuck on, most common first. */
    public record LabView(String id, String name, String title, List<Stuck> stuck) {
    }

    /** One check that {@code learners} people are stuck on (their latest grade of the lab names it). */
    public record Stuck(String check, int learners, List<String> names) {
    }

    /** A learner's row: one cell per column, in the columns' order. */
    public record LearnerView(String id, String name, List<Cell> cells) {
    }

    /** A learner's latest grade of a lab; {@code status} is one of passed, partly, failed, not started. */
    public record Cell(String lab, String status, int passed, int total, String stuckOn, String at) {
    }

    private static final class Row {
        final String id;
        String name;
        final Map<String, GradeEvent> latest = new HashMap<>(); // by lab

        Row(String id, String name) {
            this.id = id;
            this.name = name;
        }
    }

    private final List<Column> curriculum;
    private final String reading;
    private final Map<String, Row> learners = new HashMap<>(); // by learner id
    private final Set<String> otherLabs = new TreeSet<>(); // graded labs this kit's curriculum does not list
    private long version;
    private long eventsRead;
    private long malformedSkipped;
    private boolean topicFound;
    private String problem;
    private boolean closed;

    /**
     * An empty room with a column for each of {@code labs}; {@code reading} says where the events
     * come from, e.g. "workshop-progress at 127.0.0.1:9092".
     */
    public DashboardState(List<Column> labs, String reading) {
        this.curriculum = List.copyOf(labs);
        this.reading = reading;
    }

    /** The columns of {@code curriculum}, every lab in its order. */
    public static List<Column> columns(Curriculum curriculum) {
        return curriculum.labs().stream().map(lab -> new Column(lab.id(), lab.name(), lab.title())).toList();
    }

    /** The status of a grade's cell: passed, partly, failed. */
    public static String status(GradeEvent event) {
        if (event.allPassed()) {
            return PASSED;
        }
        return event.passed() > 0 && event.passed() < event.total() ? PARTLY : FAILED;
    }

    /** A grade, read after every earlier one: it replaces the learner's earlier grade of that lab. */
    public synchronized void accept(GradeEvent event) {
        Row row = learners.computeIfAbsent(event.learnerId(), id -> new Row(id, event.name()));
        row.name = event.name(); // a learner who renamed shows under the new name
        row.latest.put(event.lab(), event);
        if (curriculum.stream().noneMatch(column -> column.id().equals(event.lab()))) {
            otherLabs.add(event.lab());
        }
        eventsRead++;
        topicFound = true;
        changed();
    }

    /** A record that is not a grade event: counted, shown, otherwise ignored. */
    public synchronized void skipMalformed() {
        malformedSkipped++;
        topicFound = true;
        changed();
    }

    /** Whether the progress topic exists yet (no learner has graded before it does). */
    public synchronized void topicFound(boolean found) {
        if (topicFound != found) {
            topicFound = found;
            changed();
        }
    }

    /** Why the topic cannot be read right now (one line), or null once it can. */
    public synchronized void problem(String why) {
        if (!java.util.Objects.equals(problem, why)) {
            problem = why;
            changed();
        }
    }

    public synchronized long version() {
        return version;
    }

    public synchronized long eventsRead() {
        return eventsRead;
    }

    public synchronized long malformedSkipped() {
        return malformedSkipped;
    }

    /**
     * Waits, at most {@code bound}, for a version other than {@code seen}, and returns the version
     * then (still {@code seen} when nothing changed in time, or when the state is closed).
     */
    public synchronized long awaitChange(long seen, Duration bound) throws InterruptedException {
        long deadline = System.nanoTime() + bound.toNanos();
        while (version == seen && !closed) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                break;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return version;
    }

    /** Wakes everyone waiting for a change: the dashboard is stopping. */
    public synchronized void close() {
        closed = true;
        notifyAll();
    }

    public synchronized boolean isClosed() {
        return closed;
    }

    private void changed() {
        version++;
        notifyAll();
    }

    /** The whole state at one version. */
    public synchronized Snapshot snapshot() {
        List<Column> columns = new ArrayList<>(curriculum);
        otherLabs.forEach(id -> columns.add(new Column(id, "not in this kit", "Lab " + id + " (not in this kit's curriculum)")));
        List<Row> rows = learners.values().stream().sorted(BY_NAME).toList();

        List<LabView> labs = new ArrayList<>();
        for (Column column : columns) {
            labs.add(new LabView(column.id(), column.name(), column.title(), stuck(column.id(), rows)));
        }
        List<LearnerView> people = new ArrayList<>();
        for (Row row : rows) {
            List<Cell> cells = new ArrayList<>();
            for (Column column : columns) {
                GradeEvent event = row.latest.get(column.id());
                cells.add(event == null
                        ? new Cell(column.id(), NOT_STARTED, 0, 0, null, null)
                        : new Cell(column.id(), status(event), event.passed(), event.total(), event.stuckOn(), event.at()));
            }
            people.add(new LearnerView(row.id, row.name, List.copyOf(cells)));
        }
        return new Snapshot(version, reading, topicFound, eventsRead == 0, eventsRead, malformedSkipped, problem,
                List.copyOf(labs), List.copyOf(people));
    }

    /** Among the learners whose latest grade of {@code lab} did not pass, how many are stuck on which check. */
    private static List<Stuck> stuck(String lab, List<Row> rows) {
        Map<String, List<String>> byCheck = new LinkedHashMap<>();
        for (Row row : rows) {
            GradeEvent event = row.latest.get(lab);
            if (event != null && !event.allPassed() && event.stuckOn() != null) {
                byCheck.computeIfAbsent(event.stuckOn(), check -> new ArrayList<>()).add(row.name);
            }
        }
        return byCheck.entrySet().stream()
                .map(entry -> new Stuck(entry.getKey(), entry.getValue().size(), List.copyOf(entry.getValue())))
                .sorted(Comparator.comparingInt(Stuck::learners).reversed().thenComparing(Stuck::check))
                .toList();
    }

    /** The whole state as JSON on one line, as {@code /data} and each server-sent event carry it. */
    public String toJson() {
        return toJson(snapshot());
    }

    static String toJson(Snapshot snapshot) {
        try {
            return JSON.writeValueAsString(snapshot);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("the dashboard's state did not turn into JSON", e);
        }
    }
}
