package workshop.check;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import workshop.Workshop;

/**
 * The learner's compiled lab, as a checker sees it: its static methods, called by name, on the
 * broker of this grading run.
 */
public final class LabUnderTest {

    private static LabUnderTest current;

    private final List<Class<?>> classes;
    private final Path classesDir;
    private final String file;
    private final String bootstrapServers;

    private LabUnderTest(List<Class<?>> classes, Path classesDir, String file, String bootstrapServers) {
        this.classes = classes;
        this.classesDir = classesDir;
        this.file = file;
        this.bootstrapServers = bootstrapServers;
    }

    /** Loads the compiled lab for this JVM's checks. */
    public static void install(Path classesDir, String file, String bootstrapServers) {
        try (Stream<Path> paths = Files.walk(classesDir)) {
            URLClassLoader loader = new URLClassLoader(new URL[] {classesDir.toUri().toURL()}, LabUnderTest.class.getClassLoader());
            List<Class<?>> classes = new ArrayList<>();
            for (Path p : paths.filter(p -> p.toString().endsWith(".class")).toList()) {
                String name = classesDir.relativize(p).toString().replace('/', '.').replace('\\', '.');
                classes.add(Class.forName(name.substring(0, name.length() - ".class".length()), false, loader));
            }
            current = new LabUnderTest(classes, classesDir, file, bootstrapServers);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
    }

    public static LabUnderTest current() {
        if (current == null) {
            throw new IllegalStateException("No lab is installed: checkers run through the grader");
        }
        return current;
    }

    static String currentFile() {
        return current == null ? "the lab" : current.file;
    }

    /** Where the compiled lab lives: a {@link LabProcess} loads it again in its own JVM. */
    public Path classesDir() {
        return classesDir;
    }

    public String file() {
        return file;
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /**
     * Calls the lab's static method {@code name}. An unfinished TODO becomes a failed check that
     * says so; anything else the method throws is rethrown as it was.
     */
    @SuppressWarnings("unchecked")
    public <T> T call(String name, Object... args) {
        Method method = method(name);
        try {
            method.setAccessible(true);
            return (T) method.invoke(null, args);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Workshop.Todo todo) {
                throw new AssertionError(TodoNotDone.message(todo.number(), file, todo.what()));
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (cause instanceof Error error) {
                throw error;
            }
            throw new LabThrew(cause);
        } catch (IllegalAccessException | IllegalArgumentException e) {
            throw new AssertionError("The checker could not call " + name + " in " + file + ": " + e.getMessage()
                    + ". Keep the method's parameters as the starter has them.");
        }
    }

    /**
     * The value of the lab's static field {@code name}: for a checker that reads what the lab's
     * given code notes (e.g. the records it processed). A missing field is the learner's edit of
     * given code, and says so.
     */
    @SuppressWarnings("unchecked")
    public <T> T staticField(String name) {
        List<java.lang.reflect.Field> found = classes.stream()
                .flatMap(c -> Stream.of(c.getDeclaredFields()))
                .filter(f -> f.getName().equals(name) && Modifier.isStatic(f.getModifiers()))
                .toList();
        if (found.size() != 1) {
            throw new AssertionError(file + " has " + (found.isEmpty() ? "no" : found.size()) + " static field named " + name
                    + ": the checker reads it, so keep the given code that declares and fills it as the starter has it.");
        }
        try {
            found.get(0).setAccessible(true);
            return (T) found.get(0).get(null);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException("The checker could not read " + name + " in " + file + ": " + e.getMessage(), e);
        }
    }

    private Method method(String name) {
        List<Method> found = classes.stream()
                .flatMap(c -> Stream.of(c.getDeclaredMethods()))
                .filter(m -> m.getName().equals(name) && Modifier.isStatic(m.getModifiers()))
                .toList();
        if (found.isEmpty()) {
            throw new AssertionError(file + " has no static method " + name + "(...): the checker calls it, so keep its name and parameters.");
        }
        if (found.size() > 1) {
            throw new AssertionError(file + " has " + found.size() + " static methods named " + name + ": keep just one.");
        }
        return found.get(0);
    }

    /** A checked exception thrown by lab code, carried unchanged. */
    public static final class LabThrew extends RuntimeException {
        public LabThrew(Throwable cause) {
            super(cause.toString(), cause);
        }
    }

    /** A check that failed on an untouched TODO, as its message says: read back by hints and by the room. */
    public record TodoNotDone(int number, String what) {

        private static final Pattern MESSAGE = Pattern.compile("^TODO (\\d+) in .*? is not done yet: ([^\\n]*?)\\.?(?:\\n|$)");

        static String message(int number, String file, String what) {
            return "TODO " + number + " in " + file + " is not done yet: " + what + ".";
        }

        /** The TODO a check's {@code message} says is not done, if it says so. */
        public static Optional<TodoNotDone> in(String message) {
            Matcher matcher = MESSAGE.matcher(message == null ? "" : message);
            return matcher.find() ? Optional.of(new TodoNotDone(Integer.parseInt(matcher.group(1)), matcher.group(2))) : Optional.empty();
        }
    }
}
