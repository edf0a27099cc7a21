package workshop.room;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static workshop.room.RoomFixture.grade;
import static workshop.room.RoomFixture.learnerId;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import workshop.grader.Project;

/**
 * The dashboard's page in Debian's headless Chromium, driven by the chromedriver beside it (never
 * one Selenium would download): a learner's name that looks like HTML stays text, a new grade
 * changes its cell without reloading the page, and a room fits a 1280x800 projector. Skips, saying
 * why, when chromium or chromedriver is not installed.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DashboardInBrowserTest {

    static final Duration SHOWN_WITHIN = Duration.ofSeconds(30);
    static final String HOSTILE_NAME = "<img src=x onerror=alert(1)>";
    /** Selenium warns that it has no DevTools bindings for this Chromium: the test uses WebDriver only. Held: JUL keeps loggers weakly. */
    static final Logger SELENIUM_LOG = Logger.getLogger("org.openqa.selenium");

    @TempDir
    static Path folder;
    static RoomFixture room;
    static ChromeDriverService service;
    static ChromeDriver browser;

    @BeforeAll
    static void startTheRoomAndTheBrowser() {
        SELENIUM_LOG.setLevel(Level.SEVERE);
        Optional<Path> chromium = executable("chromium", "chromium-browser");
        Optional<Path> chromedriver = executable("chromedriver");
        assumeTrue(chromium.isPresent() && chromedriver.isPresent(),
                "no " + (chromium.isEmpty() ? "chromium" : "chromedriver") + " in /usr/bin or on the PATH, so the dashboard's page is not"
                        + " tried in a browser (apt-get install chromium chromium-driver)");
        room = new RoomFixture(folder);
        service = new ChromeDriverService.Builder()
                .usingDriverExecutable(chromedriver.get().toFile())
                .usingAnyFreePort()
                .withLogOutput(OutputStream.nullOutputStream())
                .build();
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.get().toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                "--user-data-dir=" + folder.resolve("chromium-profile"));
        browser = new ChromeDriver(service, options);
        browser.manage().timeouts().pageLoadTimeout(Duration.ofSeconds(30)).scriptTimeout(Duration.ofSeconds(10));
        // a headless window's viewport is the window less some browser chrome: grow it until the page gets 1280x800
        browser.get("about:blank");
        long height = ((Number) browser.executeScript("return window.innerHeight")).longValue();
        browser.manage().window().setSize(new Dimension(1280, (int) (800 + 800 - height)));
    }

    @AfterAll
    static void stopThem() {
        if (browser != null) {
            browser.quit();
        }
        if (service != null) {
            service.stop();
        }
        if (room != null) {
            room.close();
        }
    }

    /** The first of {@code names} in /usr/bin, else on the PATH. */
    static Optional<Path> executable(String... names) {
        List<Path> dirs = new ArrayList<>(List.of(Path.of("/usr/bin")));
        Stream.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)).filter(dir -> !dir.isBlank()).map(Path::of).forEach(dirs::add);
        return Stream.of(names).flatMap(name -> dirs.stream().map(dir -> dir.resolve(name))).filter(Files::isExecutable).findFirst();
    }

    /** A room mid-workshop, as the README shows it: the projector's 1280x800 holds every lab without scrolling sideways. */
    @Test
    @Order(1)
    void aRoomFitsAProjectorWithLargeType() throws Exception {
        Dashboard.Running dashboard = room.dashboard();
        browser.get(dashboard.localUrl().toString());
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(browser.findElement(By.id("status")).getDomAttribute("data-state")).isEqualTo("waiting"));
        assertThat(browser.findElement(By.id("status")).getText()).as("the status line before any grade").contains("waiting for the first grade");
        assertThat(browser.findElement(By.id("waiting")).isDisplayed()).as("the waiting note").isTrue();
        assertThat(browser.findElement(By.id("grid")).isDisplayed()).as("the grid, with nobody in it").isFalse();

        String grace = learnerId();
        passed(grace, "Grace Hopper", "00", "01", "02", "03", "04");
        room.publish(grade(grace, "Grace Hopper", "05", 4, 6, "each DLQ record says whether its error was retriable"));
        String barbara = learnerId();
        passed(barbara, "Barbara Liskov", "00", "01", "02", "03", "04", "05");
        room.publish(grade(barbara, "Barbara Liskov", "06", 2, 5, "records in flight never exceed the bound while acknowledgements are slow"));
        String linus = learnerId();
        passed(linus, "Linus", "00", "01");
        room.publish(grade(linus, "Linus", "02", 0, 0, GradeEvent.COMPILE_ERROR));
        String margaret = learnerId();
        passed(margaret, "Margaret Hamilton", "00", "01");
        room.publish(grade(margaret, "Margaret Hamilton", "02", 3, 5,
                "every failed reading lands in <topic>.DLQ with its key, value and an \"error\" header"));
        String ken = learnerId();
        passed(ken, "Ken Thompson", "00");
        room.publish(grade(ken, "Ken Thompson", "01", 2, 5, "sends are not awaited one by one"));
        String ada = learnerId();
        passed(ada, "Ada Lovelace", "00", "01");
        room.publish(grade(ada, "Ada Lovelace", "02", 0, 5, "TODO 2 not done yet: send each reading with a callback"));
        String edsger = learnerId();
        passed(edsger, "Edsger Dijkstra", "00", "01");
        room.publish(grade(edsger, "Edsger Dijkstra", "02", 3, 5,
                "every failed reading lands in <topic>.DLQ with its key, value and an \"error\" header"));

        // every grade read, then the page afresh: no cell flashes its change in the screenshot
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(RoomFixture.status(RoomFixture.data(dashboard), edsger, "02")).isEqualTo(DashboardState.PARTLY));
        browser.get(dashboard.localUrl().toString());
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200)).untilAsserted(() -> {
            assertThat(browser.findElements(By.cssSelector("#grid tbody tr"))).as("learners' rows").hasSize(7);
            assertThat(status(edsger, "02")).isEqualTo(DashboardState.PARTLY);
        });
        assertThat(browser.findElement(By.id("status")).getDomAttribute("data-state")).isEqualTo("live");
        assertThat(browser.findElement(By.id("status")).getText()).contains("live").contains("grades read");
        assertThat(cell(margaret, "02").getText()).isEqualTo("3/5");
        assertThat(cell(barbara, "05").getText()).isEqualTo("✓");
        assertThat(cell(linus, "02").getText()).isEqualTo("✗");
        assertThat(cell(linus, "09").getText()).isEqualTo("·");
        assertThat(browser.findElements(By.cssSelector("#stuck-table .stuck-lab[data-lab='02'] tr")))
                .extracting(item -> item.getDomAttribute("data-count"))
                .as("lab 02's stuck-on list, most common first").containsExactly("2", "1", "1");

        assertThat(browser.executeScript("return window.innerWidth + 'x' + window.innerHeight")).as("the viewport").isEqualTo("1280x800");
        assertThat(((Number) browser.executeScript("return document.documentElement.scrollWidth")).longValue())
                .as("the page's width: nothing past the projector's right edge").isLessThanOrEqualTo(1280);
        assertThat(px(cell(grace, "00"))).as("a cell's symbol, px").isGreaterThanOrEqualTo(22);
        assertThat(px(browser.findElement(By.cssSelector("#grid th.learner")))).as("a learner's name, px").isGreaterThanOrEqualTo(20);
        screenshot("room-dashboard.png");
    }

    @Test
    @Order(2)
    void aNameIsTextNeverHtmlAndANewGradeChangesItsCellWithoutAReload() throws Exception {
        String hostile = learnerId();
        room.publish(grade(hostile, HOSTILE_NAME, "00", 3, 3, null));
        room.publish(grade(hostile, HOSTILE_NAME, "01", 0, 4, "<script>alert(2)</script>"));
        String quiet = learnerId();
        room.publish(grade(quiet, "Quiet Learner", "03", 0, 4, "at most one record is in flight at a time"));

        Dashboard.Running dashboard = room.dashboard();
        browser.get(dashboard.localUrl().toString());
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(status(quiet, "03")).isEqualTo(DashboardState.FAILED));

        assertThat(browser.findElements(By.cssSelector("#grid th.learner"))).extracting(WebElement::getText)
                .as("the learners' names as the page shows them").contains(HOSTILE_NAME);
        assertThat(browser.findElement(By.cssSelector("tr[data-learner='" + hostile + "'] th.learner")).getText()).isEqualTo(HOSTILE_NAME);
        assertThat(browser.findElements(By.cssSelector("#stuck .check-name"))).extracting(WebElement::getText)
                .contains("<script>alert(2)</script>");
        assertThat(browser.findElements(By.cssSelector("#grid img"))).as("img elements in the grid").isEmpty();
        assertThat(browser.findElements(By.tagName("img"))).as("img elements anywhere").isEmpty();
        assertThat(browser.findElements(By.cssSelector("#stuck script"))).as("script elements in the stuck-on list").isEmpty();

        browser.executeScript("window.__marker = 1");
        assertThat(status(quiet, "03")).isEqualTo(DashboardState.FAILED);
        room.publish(grade(quiet, "Quiet Learner", "03", 4, 4, null));
        await().atMost(SHOWN_WITHIN).pollInterval(Duration.ofMillis(200))
                .untilAsserted(() -> assertThat(status(quiet, "03")).as("the cell of the new grade").isEqualTo(DashboardState.PASSED));
        assertThat(((JavascriptExecutor) browser).executeScript("return window.__marker"))
                .as("a mark left on the page before the grade: still there, so the page was not reloaded").isEqualTo(1L);
        assertThat(cell(quiet, "03").getText()).isEqualTo("✓");
        screenshot("room-dashboard-after-a-grade.png");
    }

    private void passed(String learnerId, String name, String... labs) {
        for (String lab : labs) {
            room.publish(grade(learnerId, name, lab, 4, 4, null));
        }
    }

    private static WebElement cell(String learnerId, String lab) {
        return browser.findElement(By.cssSelector("td[data-learner='" + learnerId + "'][data-lab='" + lab + "']"));
    }

    private static String status(String learnerId, String lab) {
        List<WebElement> cells = browser.findElements(By.cssSelector("td[data-learner='" + learnerId + "'][data-lab='" + lab + "']"));
        return cells.isEmpty() ? "absent" : cells.get(0).getDomAttribute("data-status");
    }

    private static double px(WebElement element) {
        return Double.parseDouble(element.getCssValue("font-size").replace("px", ""));
    }

    private static void screenshot(String name) throws IOException {
        Path target = Project.root().resolve("grader/target").resolve(name);
        Files.createDirectories(target.getParent());
        Files.move(((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE).toPath(), target, StandardCopyOption.REPLACE_EXISTING);
    }
}
