// Drives the stats dashboard in headless Chromium (see test_dashboard.py): an admin's
// report by sub1 with its CSV download, by day with its chart, a bad time zone, by offer,
// and an affiliate's report by day. Prints what it saw (what is on screen, with its size)
// as JSON on stdout.
const fs = require("fs");
const { chromium } = require("playwright-core");

async function table(page) {
  return page.evaluate(() => {
    const texts = (rows) => [...rows].map((tr) => [...tr.cells].map((td) => td.textContent));
    const t = document.getElementById("rows");
    return {
      head: [...t.tHead.rows[0].cells].map((th) => th.textContent),
      rows: texts(t.tBodies[0].rows),
      foot: texts(t.tFoot.rows),
      cards: [...document.querySelectorAll("#summary .card")].map((c) => c.textContent),
      bars: document.querySelectorAll("#chart rect").length,
      // What a person sees: an element counts only if it is rendered with a box.
      shown: Object.fromEntries(
        ["chart", "rows", "summary", "error"].map((id) => {
          const node = document.getElementById(id);
          const box = node.getBoundingClientRect();
          const seen = node.checkVisibility() && box.width > 0 && box.height > 0;
          return [id, seen ? { width: box.width, height: box.height } : null];
        }),
      ),
      barBoxes: [...document.querySelectorAll("#chart rect")].map((r) => {
        const box = r.getBoundingClientRect();
        return [box.width, box.height];
      }),
      hash: location.hash,
      pwned: window.pwned === undefined ? null : window.pwned,
      images: document.querySelectorAll("img").length,
    };
  });
}

async function main() {
  const [base, adminKey, affiliateKey] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const problems = [];
  try {
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.on("dialog", (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // A 4xx answer is logged as a failed load; the page shows it as an error on purpose.
      if (m.type() !== "error") return;
      if (!m.text().startsWith("Failed to load resource") || !m.location().url.includes("/api/")) {
        problems.push(`console: ${m.text()}`);
      }
    });

    // An admin opens a bookmarked view and enters the key.
    await page.goto(`${base}/dashboard#from=2025-11-01&to=2025-11-02&tz=UTC&group_by=sub1&sort=-clicks`);
    await page.fill("#key", adminKey);
    await page.click("#load");
    await page.waitForSelector("body[data-loaded='1']");
    const admin = await table(page);
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
    admin.csvName = download.suggestedFilename();
    admin.csv = fs.readFileSync(await download.path(), "utf8");

    // The same view by day: a chart appears.
    await page.selectOption("#group1", "day");
    await page.click("#load");
    await page.waitForSelector("body[data-loaded='2']");
    const byDay = await table(page);
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/dashboard-by-day.png`, fullPage: true });
    }

    // A bad time zone: the API's message, no table change, no crash.
    await page.fill("#tz", "Mars/Base");
    await page.click("#load");
    await page.waitForSelector("#error", { state: "visible" });
    const error = await page.textContent("#error");
    const badZone = await table(page);

    // Back to a good zone, by offer: the error and the chart go away, the table stays.
    await page.fill("#tz", "UTC");
    await page.selectOption("#group1", "offer");
    await page.click("#load");
    await page.waitForSelector("body[data-loaded='3']");
    const byOffer = await table(page);

    // An affiliate, in a fresh browser: only its own numbers, no network money.
    const other = await (await browser.newContext()).newPage();
    other.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await other.goto(`${base}/dashboard#from=2025-11-01&to=2025-11-02&tz=Asia/Kolkata&group_by=day`);
    await other.fill("#key", affiliateKey);
    await other.click("#load");
    await other.waitForSelector("body[data-loaded='1']");
    const affiliate = await table(other);
    affiliate.sortable = await other.$$eval("#sort option:not([disabled])", (os) => os.map((o) => o.value));

    process.stdout.write(JSON.stringify({ admin, byDay, error, badZone, byOffer, affiliate, problems }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
