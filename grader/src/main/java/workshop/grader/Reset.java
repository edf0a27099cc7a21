package workshop.grader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Optional;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/**
 * {@code ./jbang reset NN}: the lab file back to its starter, the learner's version first kept
 * in {@code build/backups/} (git-ignored), so a reset never loses work.
 */
@Command(name = "reset", mixinStandardHelpOptions = true,
        description = "Puts a lab file back to its starter. Your version is kept in build/backups/ first.")
public final class Reset implements Callable<Integer> {

    @Parameters(paramLabel = "LAB", description = "the lab's number or name, e.g. 02 or 02-callback")
    String query;

    public static void main(String[] args) {
        int code = new CommandLine(new Reset()).execute(args);
        System.out.flush();
        System.exit(code);
    }

    @Override
    public Integer call() throws Exception {
        Path root = Project.root();
        Curriculum curriculum = Curriculum.load(root);
        Optional<Curriculum.Lab> found = curriculum.find(query);
        if (found.isEmpty()) {
            System.err.println("✗ " + curriculum.noSuchLab(query));
            return 2;
        }
        Curriculum.Lab lab = found.get();
        Path file = root.resolve("labs").resolve(lab.fileName());
        Starters starters = Starters.of(root);
        Optional<byte[]> starter = starters.content(lab);
        if (starter.isEmpty()) {
            System.err.println("✗ Cannot find the starter of " + lab.label() + ": the starters come from the kit's git history,"
                    + " and this folder is not a git clone of the kit (or git is not installed). Your file is unchanged.");
            return 2;
        }
        if (starters.isStarter(lab, file)) {
            System.out.println("· labs/" + lab.fileName() + " is already the starter: nothing to reset.");
            return 0;
        }
        String kept = null;
        if (Files.isRegularFile(file)) {
            Path backups = root.resolve("build/backups");
            Files.createDirectories(backups);
            String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
            Path backup = backups.resolve(lab.label() + "." + stamp + ".java");
            // Copy first: if anything fails after, the learner's file is still where it was.
            Files.copy(file, backup);
            kept = LabCompiler.displayName(backup, root);
        }
        Files.write(file, starter.get());
        System.out.println("✓ labs/" + lab.fileName() + " is its starter again.");
        if (kept != null) {
            System.out.println("  Your version is kept in " + kept + " (build/ is not tracked by git).");
        }
        System.out.println("  Run it: ./jbang labs/" + lab.fileName() + "   Grade it: ./jbang grade " + lab.id());
        return 0;
    }
}
