package workshop;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.security.auth.SecurityProtocol;

/**
 * A workshop room: one broker on the room's network that every learner's grades reach, read by
 * the instructor's dashboard. Only clients that log in (SASL/PLAIN) get in; the passwords are made
 * once per room and kept out of git.
 */
public final class Room {

    /** Where each grading run publishes its result; the dashboard reads it from the beginning. */
    public static final String PROGRESS_TOPIC = "workshop-progress";

    /** The user every learner logs in as: they share one password, handed out with the join command. */
    public static final String LEARNER = "learner";
    /** The user the dashboard and the instructor's own tools log in as. */
    public static final String INSTRUCTOR = "instructor";
    /** The user the broker's own listeners log in as, controller to broker. */
    public static final String BROKER = "broker";

    private Room() {
    }

    /** The room's three passwords. */
    public record Secrets(String learnerPassword, String instructorPassword, String brokerPassword) {

        private static final String ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"; // nothing to misread aloud: no 0/o, 1/l/i
        private static final SecureRandom RANDOM = new SecureRandom();

        /** New passwords like {@code q925-kyq3-79dp}: easy to read off a projector, 60 bits of chance. */
        public static Secrets random() {
            return new Secrets(password(), password(), password());
        }

        /** The room's passwords from {@code file}, or new ones written there (readable by its owner only). */
        public static Secrets loadOrMake(Path file) {
            if (Files.isRegularFile(file)) {
                Properties stored = load(file);
                String learner = stored.getProperty(LEARNER);
                String instructor = stored.getProperty(INSTRUCTOR);
                String broker = stored.getProperty(BROKER);
                if (learner != null && instructor != null && broker != null) {
                    return new Secrets(learner, instructor, broker);
                }
            }
            Secrets made = random();
            Properties stored = new Properties();
            stored.setProperty(LEARNER, made.learnerPassword());
            stored.setProperty(INSTRUCTOR, made.instructorPassword());
            stored.setProperty(BROKER, made.brokerPassword());
            store(file, stored, "The room's passwords, made once. Delete this file (and the room's data) for new ones.");
            return made;
        }

        static String password() {
            StringBuilder password = new StringBuilder();
            for (int i = 0; i < 12; i++) {
                if (i > 0 && i % 4 == 0) {
                    password.append('-');
                }
                password.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
            }
            return password.toString();
        }

        /** The JAAS line a PLAIN listener reads: the broker's own login, then every user it accepts. */
        String brokerJaasConfig() {
            return "org.apache.kafka.common.security.plain.PlainLoginModule required"
                    + " username=" + quoted(BROKER) + " password=" + quoted(brokerPassword)
                    + " user_" + BROKER + "=" + quoted(brokerPassword)
                    + " user_" + INSTRUCTOR + "=" + quoted(instructorPassword)
                    + " user_" + LEARNER + "=" + quoted(learnerPassword) + ";";
        }

        @Override
        public String toString() {
            return "Secrets[hidden]"; // never in a log by accident
        }
    }

    /**
     * Readies a room's broker: the progress topic, which learners may write to and look up but
     * not read, alter or delete, since it holds everyone's names. Made with the instructor's login.
     */
    static void prepare(String bootstrap, Secrets secrets) {
        Properties config = clientConfig(INSTRUCTOR, secrets.instructorPassword());
        config.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        // The broker has just started on this machine: seconds are plenty, and a broken setup says so soon.
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 20_000);
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        try (Admin admin = Admin.create(config)) {
            try {
                // One partition: every grade of the day in the order it was made.
                admin.createTopics(List.of(new NewTopic(PROGRESS_TOPIC, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
            ResourcePattern topic = new ResourcePattern(ResourceType.TOPIC, PROGRESS_TOPIC, PatternType.LITERAL);
            admin.createAcls(List.of(
                    new AclBinding(topic, new AccessControlEntry("User:" + LEARNER, "*", AclOperation.WRITE, AclPermissionType.ALLOW)),
                    new AclBinding(topic, new AccessControlEntry("User:" + LEARNER, "*", AclOperation.DESCRIBE, AclPermissionType.ALLOW))))
                    .all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new Workshop.WorkshopException("The room's broker started but could not be readied (topic " + PROGRESS_TOPIC
                    + " and who may read it): " + e.getCause().getMessage());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new Workshop.WorkshopException("The room's broker did not answer its own instructor's login at " + bootstrap + " within 30 s.");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new Workshop.WorkshopException("Interrupted while readying the room's broker");
        }
    }

    /** What a client adds to its settings to log in to a room as {@code user}: what --command-config files hold. */
    public static Properties clientConfig(String user, String password) {
        Properties config = new Properties();
        // The room's listener takes only logged-in clients; PLAINTEXT: a room's LAN, no certificates to hand out.
        config.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, SecurityProtocol.SASL_PLAINTEXT.name);
        // PLAIN: a user and a password, checked against the broker's list.
        config.put(SaslConfigs.SASL_MECHANISM, "PLAIN");
        config.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.plain.PlainLoginModule required"
                + " username=" + quoted(user) + " password=" + quoted(password) + ";");
        return config;
    }

    /** Writes client settings as a properties file for {@code --command-config}, readable by its owner only. */
    public static void writeClientConfig(Path file, Properties config, String comment) {
        store(file, config, comment);
    }

    /**
     * The address learners use to reach this machine: its first site-local IPv4 address (a room's
     * Wi-Fi or LAN), else loopback, which serves learners on this machine only.
     */
    public static String roomAddress() {
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces()).stream()
                    .sorted(Comparator.comparing(NetworkInterface::getName)).toList()) {
                if (!nic.isUp() || nic.isLoopback() || nic.isVirtual()) {
                    continue;
                }
                for (InetAddress address : Collections.list(nic.getInetAddresses())) {
                    if (address instanceof Inet4Address && address.isSiteLocalAddress()) {
                        return address.getHostAddress();
                    }
                }
            }
        } catch (SocketException e) {
            // no interfaces to list: loopback below
        }
        return "127.0.0.1";
    }

    static String quoted(String value) {
        return "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static Properties load(Path file) {
        Properties properties = new Properties();
        try (InputStream in = Files.newInputStream(file)) {
            properties.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return properties;
    }

    private static void store(Path file, Properties properties, String comment) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            Path written = Files.createTempFile(parent, file.getFileName().toString(), ".tmp");
            try {
                Files.setPosixFilePermissions(written, PosixFilePermissions.fromString("rw-------"));
            } catch (UnsupportedOperationException e) {
                // Windows: the user's profile folder already keeps others out
            }
            try (OutputStream out = Files.newOutputStream(written)) {
                properties.store(out, comment);
            }
            Files.move(written, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
