package workshop.grader;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The labs as the kit shipped them, read from the kit's git history: the branch the clone
 * tracks (so a learner's own commits of their labs are not taken for starters), else HEAD.
 * Without git, nothing is known and every caller says so.
 */
final class Starters {

    private final Path root;
    /** labs/NN-name.java to the starter's git blob id. */
    private final Map<String, String> blobs;

    private Starters(Path root, Map<String, String> blobs) {
        this.root = root;
        this.blobs = blobs;
    }

    static Starters of(Path root) {
        for (String candidate : List.of("@{upstream}", "HEAD")) {
            Optional<String> commit = git(root, "rev-parse", "--verify", "-q", candidate + "^{commit}");
            if (commit.isPresent() && !commit.get().isBlank()) {
                Map<String, String> blobs = new HashMap<>();
                git(root, "ls-tree", commit.get().strip(), "labs/").ifPresent(listing -> listing.lines().forEach(line -> {
                    // "100644 blob <id>\tlabs/02-callback.java"
                    String[] meta = line.split("\t", 2);
                    String[] fields = meta[0].split(" ");
                    if (meta.length == 2 && fields.length == 3 && fields[1].equals("blob")) {
                        blobs.put(meta[1], fields[2]);
                    }
                }));
                return new Starters(root, blobs);
            }
        }
        return new Starters(root, Map.of());
    }

    /** Whether {@code file} is byte for byte the lab's starter. */
    boolean isStarter(Curriculum.Lab lab, Path file) {
        String blob = blobs.get("labs/" + lab.fileName());
        if (blob == null || !Files.isRegularFile(file)) {
            return false;
        }
        try {
            return blob.equals(blobId(Files.readAllBytes(file)));
        } catch (IOException e) {
            return false;
        }
    }

    /** The starter's content, if git has it. */
    Optional<byte[]> content(Curriculum.Lab lab) {
        String blob = blobs.get("labs/" + lab.fileName());
        if (blob == null) {
            return Optional.empty();
        }
        return gitBytes(root, "cat-file", "blob", blob);
    }

    /** Git's id for a file's content: SHA-1 of "blob <length>\0" and the bytes. */
    static String blobId(byte[] content) {
        try {
            MessageDigest sha1 = MessageDigest.getInstance("SHA-1");
            sha1.update(("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII));
            return HexFormat.of().formatHex(sha1.digest(content));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Optional<String> git(Path root, String... args) {
        return gitBytes(root, args).map(bytes -> new String(bytes, StandardCharsets.UTF_8));
    }

    private static Optional<byte[]> gitBytes(Path root, String... args) {
        String[] command = new String[args.length + 3];
        command[0] = "git";
        command[1] = "-C";
        command[2] = root.toString();
        System.arraycopy(args, 0, command, 3, args.length);
        try {
            Process git = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            byte[] out;
            try (InputStream in = git.getInputStream()) {
                out = in.readAllBytes();
            }
            if (!git.waitFor(10, TimeUnit.SECONDS)) {
                git.destroyForcibly();
                return Optional.empty();
            }
            return git.exitValue() == 0 ? Optional.of(out) : Optional.empty();
        } catch (IOException e) {
            // no git on this machine
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
