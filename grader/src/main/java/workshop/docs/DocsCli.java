package workshop.docs;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code docs} command line: {@code docs guide}, {@code docs slides}, {@code docs all},
 * {@code docs prefetch}. Exit status: 0 done, 1 the docs have problems (listed), 2 cannot render
 * (missing source, reveal.js not to be had, bad usage).
 */
@Command(name = "docs", mixinStandardHelpOptions = true,
        description = "Renders the workshop guide and slides to HTML that works offline.",
        subcommands = {DocsCli.Guide.class, DocsCli.Slides.class, DocsCli.All.class, DocsCli.Prefetch.class})
public final class DocsCli implements Callable<Integer> {

    static final int OK = 0;
    static final int PROBLEMS = 1;
    static final int CANNOT = 2;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return CANNOT;
    }

    /** Runs the command line; returns the exit status. */
    public static int run(String... args) {
        return commandLine(new PrintWriter(System.out, true), new PrintWriter(System.err, true)).execute(args);
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new DocsCli());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExitCodeExceptionMapper(e -> CANNOT);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            String msg = e instanceof DocsException ? e.getMessage() : e.toString();
            commandLine.getErr().println("docs: error: " + msg);
            commandLine.getErr().flush();
            return CANNOT;
        });
        return cl;
    }

    static class Common {
        @Option(names = {"-C", "--dir"}, paramLabel = "DIR",
                description = "Project directory (default: the nearest directory up from here holding tools/docs.java, else here).")
        Path dir;

        @Option(names = {"-o", "--out"}, paramLabel = "DIR", description = "Output directory (default: DIR/build/docs).")
        Path out;

        @Option(names = "--lenient", description = "Report problems but exit 0 anyway.")
        boolean lenient;

        Path projectDir() {
            if (dir != null) {
                return dir.toAbsolutePath().normalize();
            }
            Path here = Path.of("").toAbsolutePath().normalize();
            for (Path p = here; p != null; p = p.getParent()) {
                if (Files.isRegularFile(p.resolve("tools/docs.java"))) {
                    return p;
                }
            }
            return here;
        }

        Path outDir(Path project) {
            return out != null ? out.toAbsolutePath().normalize() : project.resolve("build/docs");
        }
    }

    abstract static class RenderCommand implements Callable<Integer> {
        @CommandLine.Mixin
        Common common = new Common();

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        abstract Docs.Target target();

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            PrintWriter err = spec.commandLine().getErr();
            long t0 = System.nanoTime();
            Path project = common.projectDir();
            Path outDir = common.outDir(project);
            Docs.Result result = Docs.render(project, outDir, target(), RevealJs.standard(), progressStream(out));
            for (Docs.Output o : result.outputs()) {
                out.printf("%-7s %s%n", o.name() + ":", o.html());
                out.printf("%-7s %s  (%s)%n", "", o.url(), seconds(o.took()));
            }
            out.printf("done in %s%n", seconds(Duration.ofNanos(System.nanoTime() - t0)));
            out.flush();
            if (!result.ok()) {
                err.print(result.problemReport());
                err.println("docs: " + result.problems().size() + " problem(s) found" + (common.lenient ? " (--lenient: ignored)" : ""));
                err.flush();
                return common.lenient ? OK : PROBLEMS;
            }
            return OK;
        }
    }

    @Command(name = "guide", mixinStandardHelpOptions = true,
            description = "Renders " + Docs.GUIDE_SOURCE + " (with the chapters it includes) to OUT/" + Docs.GUIDE_HTML + ".")
    static final class Guide extends RenderCommand {
        @Override
        Docs.Target target() {
            return Docs.Target.GUIDE;
        }
    }

    @Command(name = "slides", mixinStandardHelpOptions = true,
            description = "Renders " + Docs.SLIDES_SOURCE + " to OUT/" + Docs.SLIDES_HTML + " with a local reveal.js.")
    static final class Slides extends RenderCommand {
        @Override
        Docs.Target target() {
            return Docs.Target.SLIDES;
        }
    }

    @Command(name = "all", mixinStandardHelpOptions = true, description = "Renders the guide and the slides.")
    static final class All extends RenderCommand {
        @Override
        Docs.Target target() {
            return Docs.Target.ALL;
        }
    }

    @Command(name = "prefetch", mixinStandardHelpOptions = true,
            description = "Only fetches reveal.js " + RevealJs.VERSION + " into the cache (for offline use later).")
    static final class Prefetch implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            long t0 = System.nanoTime();
            RevealJs reveal = RevealJs.standard();
            boolean had = reveal.isCached();
            Path dir = reveal.ensure(progressStream(out));
            out.printf("reveal.js %s %s %s%n", RevealJs.VERSION, had ? "already cached in" : "cached in", dir);
            out.printf("%s  (%s)%n", dir.toUri(), seconds(Duration.ofNanos(System.nanoTime() - t0)));
            out.flush();
            return OK;
        }
    }

    private static PrintStream progressStream(PrintWriter out) {
        out.flush();
        return System.out;
    }

    static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
    }
}
