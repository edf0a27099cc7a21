package workshop.docs;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Base64;
import java.util.Comparator;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * A local copy of reveal.js, so the slides never load anything from a CDN.
 *
 * <p>The npm tarball is fetched once, checked against the registry's {@code dist.integrity}
 * (sha512), and extracted into a per-user cache ({@code ${XDG_CACHE_HOME:-~/.cache}/kafka-workshop/
 * reveal.js-VERSION/}). Extraction goes to a temporary directory beside it which is then renamed,
 * so a cache directory that exists is always complete. {@link #copyTo(Path)} then copies
 * {@code dist/} and {@code plugin/} next to the slides.
 */
public final class RevealJs {

    /** The reveal.js release asciidoctorj-revealjs 5.1.0 is used with (reveal.js 4.x/5.x layout). */
    public static final String VERSION = "5.1.0";
    public static final URI TARBALL =
            URI.create("https://registry.npmjs.org/reveal.js/-/reveal.js-" + VERSION + ".tgz");
    /** {@code npm view reveal.js@5.1.0 dist.integrity} */
    public static final String INTEGRITY =
            "sha512-KDt7m0+xwKV6nAZt4CNPVFBf42sTKRQapg0bGGKB5PKO5XvChnMfwlZkybydHiQJ7p5+6LbHKRGrhXODdoNIaA==";
    /** What to tell someone whose fetch failed. */
    public static final String PREFETCH_HINT =
            "run `./jbang prefetch` once on a good network (it caches reveal.js for offline use)";

    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    static final Duration TOTAL_TIMEOUT = Duration.ofSeconds(60);
    /** Files that must be in a usable copy (the slides load these). */
    static final String[] REQUIRED = {"dist/reveal.js", "dist/reveal.css", "dist/reset.css",
            "dist/theme/black.css", "plugin/notes/notes.js", "plugin/zoom/zoom.js"};

    private final URI tarball;
    private final String integrity;
    private final Path cacheDir;
    private final Duration totalTimeout;

    public RevealJs(URI tarball, String integrity, Path cacheDir, Duration totalTimeout) {
        this.tarball = Objects.requireNonNull(tarball);
        this.integrity = Objects.requireNonNull(integrity);
        this.cacheDir = Objects.requireNonNull(cacheDir).toAbsolutePath().normalize();
        this.totalTimeout = Objects.requireNonNull(totalTimeout);
    }

    /** reveal.js {@value #VERSION} from the npm registry, cached under the user's cache directory. */
    public static RevealJs standard() {
        return new RevealJs(TARBALL, INTEGRITY, defaultCacheRoot().resolve("reveal.js-" + VERSION), TOTAL_TIMEOUT);
    }

    /** A copy already extracted in {@code dir} (for tests and offline setups): never fetches. */
    public static RevealJs at(Path dir) {
        return new RevealJs(URI.create("file:///nonexistent"), "none", dir, TOTAL_TIMEOUT);
    }

    /** {@code ${XDG_CACHE_HOME:-~/.cache}/kafka-workshop} */
    public static Path defaultCacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank()
                ? Path.of(xdg)
                : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("kafka-workshop");
    }

    public Path cacheDir() {
        return cacheDir;
    }

    public boolean isCached() {
        for (String f : REQUIRED) {
            if (!Files.isRegularFile(cacheDir.resolve(f))) {
                return false;
            }
        }
        return true;
    }

    /**
     * Makes sure the cache holds reveal.js, fetching it if needed (one progress line on {@code progress}).
     *
     * @return the cache directory
     * @throws DocsException if it cannot be fetched, does not match the expected checksum, or cannot be stored
     */
    public Path ensure(PrintStream progress) {
        if (isCached()) {
            return cacheDir;
        }
        String scheme = tarball.getScheme() == null ? "" : tarball.getScheme().toLowerCase(java.util.Locale.ROOT);
        if (!scheme.equals("http") && !scheme.equals("https")) {
            throw new DocsException("no usable reveal.js " + VERSION + " in " + cacheDir + "; " + PREFETCH_HINT);
        }
        if (progress != null) {
            progress.println("Fetching reveal.js " + VERSION + " from " + tarball + " (once; cached in " + cacheDir + ")");
            progress.flush();
        }
        byte[] tgz = download();
        verify(tgz);
        install(tgz);
        return cacheDir;
    }

    /** Copies {@code dist/} and {@code plugin/} into {@code target} (replacing what is there), fetching first if needed. */
    public void copyTo(Path target, PrintStream progress) {
        Path src = ensure(progress);
        try {
            deleteRecursively(target);
            for (String sub : new String[] {"dist", "plugin"}) {
                copyTree(src.resolve(sub), target.resolve(sub));
            }
        } catch (IOException e) {
            throw new DocsException("cannot copy reveal.js to " + target + ": " + e);
        }
    }

    private byte[] download() {
        String failure;
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        HttpRequest request = HttpRequest.newBuilder(tarball).timeout(totalTimeout).GET().build();
        CompletableFuture<HttpResponse<byte[]>> future =
                client.sendAsync(request, HttpResponse.BodyHandlers.ofByteArray());
        try {
            // the request timeout only covers the response headers: bound the whole body too
            HttpResponse<byte[]> response = future.get(totalTimeout.toMillis(), TimeUnit.MILLISECONDS);
            if (response.statusCode() == 200) {
                return response.body();
            }
            failure = "HTTP " + response.statusCode();
        } catch (TimeoutException e) {
            future.cancel(true);
            failure = "timed out after " + totalTimeout.toSeconds() + " s";
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            if (cause instanceof java.net.http.HttpConnectTimeoutException) {
                failure = "no connection within " + CONNECT_TIMEOUT.toSeconds() + " s";
            } else if (cause instanceof java.net.ConnectException && cause.getMessage() == null) {
                failure = "cannot connect";
            } else {
                failure = cause.getClass().getSimpleName()
                        + (cause.getMessage() == null ? "" : ": " + cause.getMessage());
            }
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            failure = "interrupted";
        }
        throw new DocsException("could not fetch reveal.js " + VERSION + " from " + tarball + " (" + failure + "); "
                + PREFETCH_HINT);
    }

    private void verify(byte[] tgz) {
        int dash = integrity.indexOf('-');
        String algorithm = dash < 0 ? "" : integrity.substring(0, dash);
        if (!algorithm.equals("sha512")) {
            throw new DocsException("unsupported integrity value for reveal.js: " + integrity);
        }
        String actual;
        try {
            actual = "sha512-" + Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-512").digest(tgz));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        if (!actual.equals(integrity)) {
            throw new DocsException("reveal.js " + VERSION + " from " + tarball + " failed its integrity check (expected "
                    + integrity + ", got " + actual + "); not using it. " + PREFETCH_HINT);
        }
    }

    private void install(byte[] tgz) {
        Path parent = cacheDir.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(parent);
            tmp = Files.createTempDirectory(parent, "." + cacheDir.getFileName() + ".tmp-");
            extract(tgz, tmp);
            for (String f : REQUIRED) {
                if (!Files.isRegularFile(tmp.resolve(f))) {
                    throw new DocsException("reveal.js tarball from " + tarball + " has no " + f);
                }
            }
            if (Files.exists(cacheDir)) {
                // an incomplete copy left by hand: replace it
                deleteRecursively(cacheDir);
            }
            try {
                Files.move(tmp, cacheDir, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, cacheDir);
            }
            tmp = null;
        } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
            // another run installed it meanwhile: use theirs
            if (!isCached()) {
                throw new DocsException("cannot store reveal.js in " + cacheDir + ": " + e);
            }
        } catch (IOException e) {
            throw new DocsException("cannot store reveal.js in " + cacheDir + ": " + e);
        } finally {
            if (tmp != null) {
                try {
                    deleteRecursively(tmp);
                } catch (IOException ignored) {
                    // best effort
                }
            }
        }
    }

    /** Extracts the npm tarball, dropping its leading {@code package/} directory; refuses entries escaping {@code dest}. */
    static void extract(byte[] tgz, Path dest) throws IOException {
        Path root = dest.toAbsolutePath().normalize();
        try (InputStream in = new GzipCompressorInputStream(new BufferedInputStream(new ByteArrayInputStream(tgz)));
             TarArchiveInputStream tar = new TarArchiveInputStream(in)) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextEntry()) != null) {
                if (!entry.isFile() && !entry.isDirectory()) {
                    continue; // no links or devices
                }
                String name = entry.getName();
                int slash = name.indexOf('/');
                if (slash < 0 || slash == name.length() - 1) {
                    continue;
                }
                Path out = root.resolve(name.substring(slash + 1)).normalize();
                if (!out.startsWith(root) || out.equals(root)) {
                    throw new IOException("unsafe path in tarball: " + name);
                }
                if (entry.isDirectory()) {
                    Files.createDirectories(out);
                } else {
                    Files.createDirectories(out.getParent());
                    Files.copy(tar, out, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path p : (Iterable<Path>) paths::iterator) {
                Path dst = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dst);
                } else {
                    Files.copy(p, dst, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.delete(p);
            }
        }
    }
}
