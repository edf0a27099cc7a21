package workshop.room;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.IllegalSaslStateException;
import org.apache.kafka.common.errors.UnsupportedSaslMechanismException;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import workshop.Room;
import workshop.Workshop;
import workshop.check.LearnerMessages;

/**
 * Sends each grade of a run to the room's broker, where the instructor's dashboard reads it.
 *
 * <p>The room is a courtesy, never a condition: a room that is down, far or refuses the login
 * costs a grading run about two seconds in all and one line saying so, and nothing this class
 * does throws, changes a grade or its exit code.
 *
 * <ol>
 *   <li>Connect in the background, made at the start of the run so it overlaps the grading: a
 *       TCP probe of the room's address, then a producer that fetches the progress topic's
 *       metadata, which is where a refused login shows.</li>
 *   <li>Publish each grade: wait for that connection and the broker's ack, at most
 *       {@link #PUBLISH_BOUND} in all, and print one line either way.</li>
 *   <li>After a failure, later grades of the run do not wait again: one line each, at once.</li>
 * </ol>
 */
public final class RoomPublisher implements AutoCloseable {

    /** How long the TCP probe waits for the room's address to accept a connection. */
    static final Duration PROBE_BOUND = Duration.ofSeconds(1);
    /** The most one publish waits, for the connection and the ack together. */
    static final Duration PUBLISH_BOUND = Duration.ofSeconds(2);
    static final Duration CLOSE_BOUND = Duration.ofSeconds(1);

    private final RoomSettings room;
    private final PrintStream out;
    private final CompletableFuture<Producer<String, String>> connection = new CompletableFuture<>();
    /** Set as soon as it is made, so close() reaches it while it still connects. */
    private volatile Producer<String, String> producer;
    private volatile boolean closed;
    /** Why the room was not reached, once a publish failed: later ones do not wait again. */
    private String gaveUp;

    /** Starts connecting to {@code room} in the background; each publish prints its one line on {@code out}. */
    public RoomPublisher(RoomSettings room, PrintStream out) {
        this.room = room;
        this.out = out;
        Thread connector = new Thread(this::connect, "room-publisher");
        connector.setDaemon(true); // a room that never answers must not keep the grader's JVM alive
        connector.start();
    }

    // Stage 1: connect, in the background.
    private void connect() {
        try {
            if (!answers(room.bootstrap(), PROBE_BOUND)) {
                throw new NotPublished("nothing answers there");
            }
            Producer<String, String> made = new KafkaProducer<>(producerConfig(room));
            producer = made;
            if (closed) {
                made.close(Duration.ZERO);
                throw new NotPublished("the run ended first");
            }
            made.partitionsFor(Room.PROGRESS_TOPIC); // metadata within max.block.ms: a refused login fails here
            connection.complete(made);
        } catch (Throwable e) {
            connection.completeExceptionally(e);
        }
    }

    static Properties producerConfig(RoomSettings room) {
        Properties config = new Properties();
        // How to log in to the room (nothing for a plain broker), as join saved it.
        config.putAll(room.clientConfig());
        // The room's broker.
        config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, room.bootstrap());
        // The learner's id: one learner's grades stay in order, on one partition.
        config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // The grade event as JSON text: what the dashboard parses.
        config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        // "Sent" means the broker has it: the line we print claims no more than the ack says.
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        // One record per grade, nothing to batch it with: send at once (Kafka 4 waits 5 ms by default).
        config.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        // A rare duplicate is harmless (the dashboard shows the latest grade): no producer id to fetch first.
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
        // Metadata, and with it a refused login, within the publish bound instead of the 60 s default.
        config.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, (int) PUBLISH_BOUND.toMillis());
        // An unanswered request fails after 2 s, not the 30 s default.
        config.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, (int) PUBLISH_BOUND.toMillis());
        // The record is given up within 3 s (it must cover linger.ms + request.timeout.ms).
        config.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) PUBLISH_BOUND.toMillis() + 1000);
        // A silent address fails its connection in 1 s, not after 10 s (growing to 30 s).
        config.put(ProducerConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MS_CONFIG, (int) PROBE_BOUND.toMillis());
        // ... and so does every later attempt.
        config.put(ProducerConfig.SOCKET_CONNECTION_SETUP_TIMEOUT_MAX_MS_CONFIG, (int) PROBE_BOUND.toMillis());
        // Named in the broker's logs: the kit's publisher, not some other client.
        config.put(ProducerConfig.CLIENT_ID_CONFIG, "workshop-grade-publisher");
        return config;
    }

    // Stage 2: publish one grade.
    /** Sends {@code event} and prints one line saying whether the room has it. Never throws. */
    public synchronized void publish(GradeEvent event) {
        if (gaveUp != null) {
            // Stage 3: the room failed earlier in this run; waiting again would only slow the grade.
            out.println(notPublished(gaveUp + ", as above"));
            return;
        }
        long deadline = System.nanoTime() + PUBLISH_BOUND.toNanos();
        try {
            Producer<String, String> connected = connection.get(PUBLISH_BOUND.toMillis(), TimeUnit.MILLISECONDS);
            connected.send(new ProducerRecord<>(Room.PROGRESS_TOPIC, event.learnerId(), event.toJson()))
                    .get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            out.println("↗ Sent to the room at " + room.bootstrap() + " as " + event.name() + " (lab " + event.lab() + ": "
                    + (GradeEvent.COMPILE_ERROR.equals(event.stuckOn()) ? "does not compile"
                    : event.passed() + "/" + event.total() + " checks") + ").");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            gaveUp = "the run was interrupted";
            out.println(notPublished(gaveUp));
        } catch (Exception e) {
            gaveUp = why(e);
            out.println(notPublished(gaveUp));
        }
    }

    private String notPublished(String why) {
        return "⚠ Not published to the room at " + room.bootstrap() + ": " + why + ". Your grade above stands.";
    }

    /** Why a publish failed, in a few words for the learner, with where to fix the login if that is it. */
    String why(Throwable failure) {
        List<Throwable> causes = LearnerMessages.causes(failure);
        for (Throwable cause : causes) {
            if (cause instanceof NotPublished) {
                return cause.getMessage();
            }
            if (cause instanceof IllegalSaslStateException || cause instanceof UnsupportedSaslMechanismException) {
                return "it takes no login of this kind (" + fixLogin("without --password") + ")";
            }
            if (cause instanceof AuthenticationException) {
                return "it refused the login (" + fixLogin("with the password your instructor gave") + ")";
            }
            if (cause instanceof AuthorizationException) {
                return "it does not let this login write to " + Room.PROGRESS_TOPIC;
            }
            if (cause instanceof ConfigException) {
                return "its client settings are not valid (" + firstLine(cause) + ")";
            }
        }
        for (Throwable cause : causes) {
            if (cause instanceof java.util.concurrent.TimeoutException || cause instanceof org.apache.kafka.common.errors.TimeoutException) {
                return "no answer within " + PUBLISH_BOUND.toSeconds() + " s";
            }
        }
        return firstLine(causes.get(causes.size() - 1));
    }

    /** Where this run's login came from, so the learner knows what to change. */
    private String fixLogin(String howWithJoin) {
        return switch (room.source()) {
            case RoomSettings.FROM_OPTION -> "check the --room-config file";
            case RoomSettings.FROM_ENV -> "check the file $" + RoomSettings.ROOM_CONFIG_ENV + " names";
            default -> "./jbang join it again " + howWithJoin;
        };
    }

    private static String firstLine(Throwable t) {
        String text = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage().lines().findFirst().orElse("").strip();
        return text.length() > 120 ? text.substring(0, 117) + "..." : text;
    }

    /** For tests: whether the background connection attempt has ended (either way) within {@code bound}. */
    public boolean awaitConnectAttempt(Duration bound) {
        try {
            connection.get(bound.toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (ExecutionException e) {
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private synchronized String gaveUpOn() {
        return gaveUp;
    }

    @Override
    public void close() {
        closed = true;
        Producer<String, String> made = producer;
        if (made != null) {
            // Connected and nothing failed: a clean close, quick and bounded (one without a timeout can wait
            // forever). Otherwise nothing of ours is waiting in the producer: do not wait for a silent room.
            boolean clean = gaveUpOn() == null && connection.isDone() && !connection.isCompletedExceptionally();
            try {
                made.close(clean ? CLOSE_BOUND : Duration.ZERO);
            } catch (RuntimeException e) {
                // the room is a courtesy: nothing to report at the end of a run
            }
        }
    }

    /**
     * Whether anything accepts a TCP connection at one of {@code bootstrap}'s addresses within
     * {@code bound}: no credentials needed, and a dead or wrong address is known in a moment.
     *
     * @throws IllegalArgumentException when an address is not {@code HOST:PORT}
     */
    public static boolean answers(String bootstrap, Duration bound) {
        long deadline = System.nanoTime() + bound.toNanos();
        for (String address : bootstrap.split(",")) {
            String host = Utils.getHost(address.strip());
            Integer port = Utils.getPort(address.strip());
            if (host == null || port == null) {
                throw new IllegalArgumentException("\"" + address.strip() + "\" is not HOST:PORT");
            }
            long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            if (Workshop.addressAnswers(address.strip(), (int) left)) {
                return true;
            }
        }
        return false;
    }

    /** A publish that failed for a reason already put in words. */
    private static final class NotPublished extends RuntimeException {
        NotPublished(String why) {
            super(why, null, false, false);
        }
    }
}
