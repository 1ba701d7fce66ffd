// Opens the landing page in headless Chromium with every request to another origin
// blocked, follows its link to the API docs and reads what Swagger UI rendered (see
// test_docs.py). Prints what it saw as JSON on stdout.
const { chromium } = require("playwright-core");

async function main() {
  const [base] = process.argv.slice(2);
  const origin = new URL(base).origin;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const problems = [];
  const blocked = [];
  const loaded = [];
  try {
    const context = await browser.newContext();
    // Offline as far as the page can tell: only this origin answers.
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("data:") || new URL(url).origin === origin) {
        loaded.push(new URL(url).pathname);
        return route.continue();
      }
      blocked.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });

    await page.goto(`${base}/`);
    const links = await page.$$eval("main a", (as) =>
      as.map((a) => {
        const box = a.getBoundingClientRect();
        return { text: a.textContent, href: a.getAttribute("href"), seen: box.width > 0 && box.height > 0 };
      }),
    );
    const heading = await page.textContent("h1");

    await page.click("#to-docs");
    await page.waitForSelector(".opblock-summary-path", { state: "visible", timeout: 20000 });
    const docs = await page.evaluate(() => {
      const paths = [...document.querySelectorAll(".opblock-summary-path")].map((p) => p.textContent.trim());
      const first = document.querySelector(".opblock");
      const box = first.getBoundingClientRect();
      const style = getComputedStyle(document.querySelector(".swagger-ui .opblock-summary-method"));
      return {
        url: location.pathname,
        title: (document.querySelector(".info .title") || {}).textContent || null,
        paths,
        firstBox: [box.width, box.height],
        // Swagger UI's own style sheet is applied: methods are drawn as coloured labels.
        methodBackground: style.backgroundColor,
      };
    });
    if (process.env.SCREENSHOT_DIR) {
      await page.screenshot({ path: `${process.env.SCREENSHOT_DIR}/docs.png` });
    }
    process.stdout.write(JSON.stringify({ heading, links, docs, blocked, loaded, problems }));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
