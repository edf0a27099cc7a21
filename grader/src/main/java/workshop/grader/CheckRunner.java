package workshop.grader;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;

import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.engine.support.descriptor.ClassSource;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.TestPlan;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import workshop.check.FailedBecause;
import workshop.check.LabUnderTest;
import workshop.check.LearnerMessages;

/**
 * Runs one lab's checker in a JVM of its own, so learner code that hangs or calls
 * {@code System.exit} can only end this process, never the grader. Writes one line per event
 * to the results file: START, PASS or FAIL with the message, and DONE at the very end.
 *
 * <p>Arguments: checker class, lab classes folder, lab file as shown to the learner,
 * bootstrap servers, results file, and whether to stop at the first failed check.
 */
public final class CheckRunner {

    static final String SETUP = "setting up the checks";

    /** The first argument of a JVM started ahead of time, that reads its arguments from stdin. */
    static final String STANDBY = "--standby";

    public static void main(String[] args) throws IOException {
        if (args.length == 1 && args[0].equals(STANDBY)) {
            args = awaitJob();
        }
        String checker = args[0];
        Path results = Path.of(args[4]);
        boolean failFast = args.length > 5 && Boolean.parseBoolean(args[5]);
        LabUnderTest.install(Path.of(args[1]), args[2], args[3]);
        try (PrintWriter out = new PrintWriter(Files.newBufferedWriter(results, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND), true)) {
            LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                    .selectors(DiscoverySelectors.selectClass(checker))
                    .configurationParameters(Map.of(
                            // A check that does not return in time fails; its thread is abandoned.
                            "junit.jupiter.execution.timeout.default", "20 s",
                            "junit.jupiter.execution.timeout.thread.mode.default", "SEPARATE_THREAD",
                            "junit.jupiter.testmethod.order.default", "org.junit.jupiter.api.MethodOrderer$OrderAnnotation"))
                    .build();
            Launcher launcher = LauncherFactory.create();
            launcher.execute(request, new TestExecutionListener() {
                private TestPlan plan;

                @Override
                public void testPlanExecutionStarted(TestPlan testPlan) {
                    plan = testPlan;
                    // Every check by name, up front: one that never reports still shows as failed.
                    for (TestIdentifier root : testPlan.getRoots()) {
                        testPlan.getDescendants(root).stream().filter(TestIdentifier::isTest)
                                .forEach(t -> out.println("PLAN\t" + ResultLine.escape(t.getDisplayName())));
                    }
                }

                @Override
                public void executionStarted(TestIdentifier test) {
                    if (test.isTest()) {
                        out.println("START\t" + ResultLine.escape(test.getDisplayName()));
                    } else if (test.getSource().filter(ClassSource.class::isInstance).isPresent()) {
                        // A checker's @BeforeAll runs learner code too: name it if that ends the JVM.
                        out.println("START\t" + SETUP);
                    }
                }

                @Override
                public void executionFinished(TestIdentifier test, TestExecutionResult result) {
                    if (test.isTest()) {
                        if (result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) {
                            out.println("PASS\t" + ResultLine.escape(test.getDisplayName()));
                        } else {
                            String message = result.getThrowable().map(LearnerMessages::describe).orElse("failed");
                            String cause = result.getThrowable().filter(FailedBecause.class::isInstance)
                                    .map(t -> "\t" + ResultLine.escape(((FailedBecause) t).causeCheck())).orElse("");
                            out.println("FAIL\t" + ResultLine.escape(test.getDisplayName()) + "\t" + ResultLine.escape(message) + cause);
                            if (failFast) {
                                // The first failure is the verdict: the checks after it are reported as not run.
                                out.println("DONE");
                                end();
                            }
                        }
                    } else if (result.getStatus() != TestExecutionResult.Status.SUCCESSFUL && test.getParentId().isPresent()) {
                        // The checker's set-up failed, so none of its checks ran: each fails for that reason.
                        String message = result.getThrowable().map(CheckRunner::describeSetUpFailure).orElse("failed");
                        plan.getDescendants(test).stream().filter(TestIdentifier::isTest).forEach(t ->
                                out.println("FAIL\t" + ResultLine.escape(t.getDisplayName()) + "\t" + ResultLine.escape(message)));
                    }
                }
            });
            out.println("DONE");
        }
        end();
    }

    /**
     * A JVM on standby loads what every check needs while the grader is busy with another lab,
     * then waits for its arguments, one per line, ended by an empty line. If the grader goes
     * away first, stdin ends, and so does this JVM.
     */
    private static String[] awaitJob() throws IOException {
        LauncherFactory.create();
        for (String warm : new String[] {"org.apache.kafka.clients.producer.KafkaProducer",
                "org.apache.kafka.clients.consumer.KafkaConsumer", "org.apache.kafka.clients.admin.Admin",
                "org.assertj.core.api.Assertions", "org.awaitility.Awaitility"}) {
            try {
                Class.forName(warm);
            } catch (ClassNotFoundException e) {
                // only a warm-up
            }
        }
        java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
        java.util.List<String> job = new java.util.ArrayList<>();
        for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
            job.add(line);
        }
        if (job.isEmpty()) {
            Runtime.getRuntime().halt(0);
        }
        return job.toArray(String[]::new);
    }

    /**
     * A set-up runs the lab's code and the checker's own: when it runs out of time, either may be
     * the cause, so the message names both rather than guess.
     */
    static String describeSetUpFailure(Throwable failure) {
        if (failure instanceof java.util.concurrent.TimeoutException) {
            return "The checks' set-up did not finish within its time limit. Either your code did not return "
                   + "(an endless loop, or a wait with no bound: get() without a timeout, close() without a Duration), "
                   + "or the broker answered too slowly on a busy machine: grade again, and if it fails the same way, look for an unbounded wait.";
        }
        return LearnerMessages.describe(failure);
    }

    /** Ends this JVM now: learner threads may still spin or wait, and nothing of theirs may keep it alive. */
    private static void end() {
        System.out.flush();
        // A lab JVM a check started (to crash it) ends with the checks that started it.
        ProcessHandle.current().descendants().forEach(ProcessHandle::destroyForcibly);
        Runtime.getRuntime().halt(0);
    }
}
