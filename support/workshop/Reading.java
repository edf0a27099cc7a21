package workshop;

import java.util.ArrayList;
import java.util.List;

/**
 * One humidity reading from a sensor: the labs' running example. The sensor id is the record
 * key, so every reading of one sensor lands on one partition, in order.
 */
public record Reading(String sensorId, String room, int humidity) {

    private static final String[] ROOMS = {"kitchen", "bedroom", "garage", "outside", "cellar"};

    public String key() {
        return sensorId;
    }

    public String value() {
        return room + "," + humidity;
    }

    /** A deterministic series: {@code count} readings spread over {@code sensors} sensors. */
    public static List<Reading> sample(int count, int sensors) {
        List<Reading> readings = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int sensor = i % sensors;
            readings.add(new Reading("sensor-" + sensor, ROOMS[sensor % ROOMS.length], 40 + (i * 7) % 50));
        }
        return readings;
    }
}
