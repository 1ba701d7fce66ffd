// What the portal's browser scripts share: pages watched for script errors, dialogs and
// requests to another origin; full-page screenshots into SCREENSHOT_DIR; the sign-in form.
// A refusal a script provokes on purpose (403, 404, 401, 429) shows in the console as a
// failed load: it sets `expectErrors` around it.
module.exports = function watched(base, shots) {
  const run = { problems: [], foreign: [], expectErrors: false };

  run.watch = async (context) => {
    const page = await context.newPage();
    page.on("dialog", (d) => { run.problems.push(`dialog: ${d.message()}`); d.dismiss(); });
    page.on("pageerror", (e) => run.problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      if (run.expectErrors && m.text().startsWith("Failed to load resource")) return;
      run.problems.push(`console: ${m.text()} at ${m.location().url}`);
    });
    page.on("request", (r) => {
      const url = r.url();
      if (!url.startsWith("data:") && new URL(url).origin !== base) run.foreign.push(url);
    });
    return page;
  };

  run.shot = async (page, name) => {
    if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  };

  run.signIn = async (page, email, password) => {
    await page.goto(`${base}/`);
    await page.fill("#email", email);
    await page.fill("#password", password);
    await Promise.all([page.waitForLoadState("load"), page.click("#sign-in")]);
  };

  // What the API answers the page's own session (the portal's calls use it too).
  run.api = (page, path) => page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, body: await r.json() };
  }, path);

  // How wide the page is, and each table box: its content and its own width.
  run.fits = (page) => page.evaluate(() => ({
    pageWidth: document.documentElement.scrollWidth,
    boxes: [...document.querySelectorAll(".table-box")].map((b) => ({ scroll: b.scrollWidth, width: b.clientWidth })),
  }));

  // Runs `drive(browser, seen)` in headless Chromium, then prints `seen` (with the
  // problems and foreign requests) as JSON; a failure exits 1 with its stack.
  run.main = (drive) => (async () => {
    const { chromium } = require("playwright-core");
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    const seen = {};
    try {
      await drive(browser, seen);
    } finally {
      await browser.close();
    }
    process.stdout.write(JSON.stringify({ ...seen, problems: run.problems, foreign: run.foreign }));
  })().catch((error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error));
    process.exit(1);
  });

  // Click (or any action) and wait for the page it loads.
  run.go = async (page, action) => {
    await Promise.all([page.waitForLoadState("load"), action]);
  };

  return run;
};
