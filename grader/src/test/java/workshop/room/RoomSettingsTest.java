package workshop.room;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;

import org.apache.kafka.common.config.SaslConfigs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import workshop.Room;

import static org.assertj.core.api.Assertions.assertThat;

/** Which room a grading run sends to: --room, else the environment, else the join file; or none, silently. */
class RoomSettingsTest {

    @TempDir
    Path root;

    private final ByteArrayOutputStream printed = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(printed, true, StandardCharsets.UTF_8);

    private Optional<RoomSettings> resolve(String room, Path roomConfig, Map<String, String> env) {
        return RoomSettings.resolve(root, room, roomConfig, env::get, out);
    }

    private Path joined(String bootstrap, String password) {
        Properties saved = Room.clientConfig(Room.LEARNER, password);
        saved.setProperty("bootstrap.servers", bootstrap);
        Room.writeClientConfig(RoomSettings.joinFile(root), saved, "test");
        return RoomSettings.joinFile(root);
    }

    private String printed() {
        return printed.toString(StandardCharsets.UTF_8);
    }

    @Test
    void noRoomAnywhereIsNoRoomAndNotAWord() {
        assertThat(resolve(null, null, Map.of())).isEmpty();
        assertThat(printed()).isEmpty();
    }

    @Test
    void theJoinFileGivesTheRoomAndItsLogin() {
        joined("192.168.1.20:9092", "q925-kyq3-79dp");

        RoomSettings room = resolve(null, null, Map.of()).orElseThrow();

        assertThat(room.bootstrap()).isEqualTo("192.168.1.20:9092");
        assertThat(room.clientConfig().getProperty(SaslConfigs.SASL_JAAS_CONFIG)).contains("q925-kyq3-79dp");
        assertThat(room.clientConfig()).as("the address is bootstrap, not a client setting").doesNotContainKey("bootstrap.servers");
        assertThat(room.source()).isEqualTo("build/room.properties");
        assertThat(room.toString()).doesNotContain("q925-kyq3-79dp");
        assertThat(printed()).isEmpty();
    }

    @Test
    void theEnvironmentComesBeforeTheJoinFileAndTheOptionBeforeBoth() throws Exception {
        joined("joined:9092", "from-join");
        Path envConfig = root.resolve("env.properties");
        Room.writeClientConfig(envConfig, Room.clientConfig(Room.LEARNER, "from-env"), "test");
        Path optionConfig = root.resolve("option.properties");
        Room.writeClientConfig(optionConfig, Room.clientConfig(Room.INSTRUCTOR, "from-option"), "test");
        Map<String, String> env = Map.of(RoomSettings.ROOM_ENV, "env:9092", RoomSettings.ROOM_CONFIG_ENV, envConfig.toString());

        RoomSettings fromEnv = resolve(null, null, env).orElseThrow();
        RoomSettings fromOption = resolve("option:9092", optionConfig, env).orElseThrow();
        RoomSettings plain = resolve("plain:9092", null, env).orElseThrow();

        assertThat(fromEnv.bootstrap()).isEqualTo("env:9092");
        assertThat(fromEnv.clientConfig().getProperty(SaslConfigs.SASL_JAAS_CONFIG)).contains("from-env");
        assertThat(fromOption.bootstrap()).isEqualTo("option:9092");
        assertThat(fromOption.clientConfig().getProperty(SaslConfigs.SASL_JAAS_CONFIG)).contains("from-option");
        assertThat(plain.clientConfig()).as("--room without --room-config: a plain broker, no login").isEmpty();
        assertThat(printed()).isEmpty();
    }

    @Test
    void aJoinFileThatCannotBeReadIsOneWarningAndNoRoom() throws Exception {
        Files.createDirectories(RoomSettings.joinFile(root)); // a folder where the file should be: unreadable, even for root

        assertThat(resolve(null, null, Map.of())).isEmpty();
        assertThat(printed()).startsWith("⚠ Cannot read build/room.properties").contains("not sent to a room").hasLineCount(1);
    }

    @Test
    void aJoinFileWithoutAnAddressIsOneWarningAndNoRoom() throws Exception {
        Files.createDirectories(root.resolve("build"));
        Files.writeString(RoomSettings.joinFile(root), "security.protocol=SASL_PLAINTEXT\n");

        assertThat(resolve(null, null, Map.of())).isEmpty();
        assertThat(printed()).contains("names no room").contains("./jbang join").hasLineCount(1);
    }

    @Test
    void aRoomConfigThatCannotBeReadIsOneWarningAndNoRoom() {
        assertThat(resolve("room:9092", root.resolve("missing.properties"), Map.of())).isEmpty();
        assertThat(printed()).startsWith("⚠ Cannot read --room-config").contains("no such file").hasLineCount(1);
    }
}
