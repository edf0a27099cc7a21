package workshop.room;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;
import java.util.function.UnaryOperator;

import org.apache.kafka.clients.CommonClientConfigs;

/**
 * Where this checkout publishes its grades, and how it logs in there.
 *
 * @param bootstrap    the room's broker, {@code HOST:PORT} (or several, comma-separated)
 * @param clientConfig what the clients add to log in (empty for a plain broker); never the address
 * @param source       where these settings came from, for messages: {@code --room}, an environment
 *                     variable or the join file
 */
public record RoomSettings(String bootstrap, Properties clientConfig, String source) {

    /** The room to publish to when {@code --room} is not given. */
    public static final String ROOM_ENV = "KAFKA_WORKSHOP_ROOM";
    /** The client properties file that goes with {@link #ROOM_ENV}. */
    public static final String ROOM_CONFIG_ENV = "KAFKA_WORKSHOP_ROOM_CONFIG";

    /** The sources a room can come from, as messages name them. */
    public static final String FROM_OPTION = "--room";
    public static final String FROM_ENV = "$" + ROOM_ENV;
    public static final String FROM_JOIN = "build/room.properties";

    public RoomSettings {
        Properties copy = new Properties();
        copy.putAll(clientConfig);
        copy.remove(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG); // the address is bootstrap, only there
        clientConfig = copy;
    }

    /** The file {@code ./jbang join} writes (git-ignored, like all of build/): client properties plus bootstrap.servers. */
    public static Path joinFile(Path root) {
        return root.resolve("build").resolve("room.properties");
    }

    /**
     * The room for a grading run: {@code --room} (with {@code --room-config}), else
     * {@value #ROOM_ENV} (with {@value #ROOM_CONFIG_ENV}), else the join file. Nothing configured
     * is an empty result and prints nothing; settings that cannot be read are one line on
     * {@code out} and an empty result, so the grade goes on without a room.
     */
    public static Optional<RoomSettings> resolve(Path root, String roomOption, Path roomConfigOption,
                                                 UnaryOperator<String> env, PrintStream out) {
        try {
            if (roomOption != null && !roomOption.isBlank()) {
                return Optional.of(new RoomSettings(roomOption.strip(), load(roomConfigOption, "--room-config"), FROM_OPTION));
            }
            String fromEnv = env.apply(ROOM_ENV);
            if (fromEnv != null && !fromEnv.isBlank()) {
                String configFile = env.apply(ROOM_CONFIG_ENV);
                Path config = configFile == null || configFile.isBlank() ? null : Path.of(configFile);
                return Optional.of(new RoomSettings(fromEnv.strip(), load(config, "$" + ROOM_CONFIG_ENV), FROM_ENV));
            }
            Path joined = joinFile(root);
            if (!Files.exists(joined)) {
                return Optional.empty();
            }
            Properties saved;
            try {
                saved = load(joined, "build/room.properties");
            } catch (Unreadable e) {
                throw new Unreadable(e.getMessage() + " (./jbang join HOST:PORT joins again)");
            }
            String bootstrap = saved.getProperty(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
            if (bootstrap == null || bootstrap.isBlank()) {
                throw new Unreadable("build/room.properties names no room (" + CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG
                        + "): ./jbang join HOST:PORT joins again");
            }
            return Optional.of(new RoomSettings(bootstrap.strip(), saved, FROM_JOIN));
        } catch (Unreadable e) {
            out.println("⚠ " + e.getMessage() + ". This grade is not sent to a room.");
            return Optional.empty();
        }
    }

    private static Properties load(Path file, String name) {
        Properties properties = new Properties();
        if (file == null) {
            return properties;
        }
        try (InputStream in = Files.newInputStream(file)) {
            properties.load(in);
        } catch (IOException | IllegalArgumentException e) {
            throw new Unreadable("Cannot read " + name + " (" + file + ": " + why(e) + ")");
        }
        return properties;
    }

    private static String why(Exception e) {
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null) {
            return fs.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    @Override
    public String toString() {
        return "RoomSettings[" + bootstrap + " from " + source + ", " + clientConfig.size() + " client settings (hidden)]"; // the password stays out of logs
    }

    private static final class Unreadable extends RuntimeException {
        Unreadable(String message) {
            super(message);
        }
    }
}
