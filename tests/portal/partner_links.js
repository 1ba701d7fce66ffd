// Drives the affiliate's offers and links screens in headless Chromium (see
// test_partner_links_browser.py): the offers, the generator, the Copy button, a form
// without its CSRF token, another affiliate's link, a phone. Prints what it saw as JSON.
const { chromium } = require("playwright-core");

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const shots = process.env.SCREENSHOT_DIR;
const run = require("./watched.js")(base, shots);
const { problems, foreign, watch, shot } = run;

function widths() {
  const box = document.querySelector(".table-box");
  return { pageWidth: document.documentElement.scrollWidth, boxScroll: box.scrollWidth, boxWidth: box.clientWidth };
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const seen = {};
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const page = await watch(context);
    await run.signIn(page, config.affiliate, config.password);
    await page.click("nav.main a[href='/partner/offers']");
    await page.waitForSelector("tr[data-offer]");
    seen.offers = await page.$$eval("tr[data-offer]", (rows) => rows.map((r) => ({
      id: Number(r.dataset.offer),
      payout: r.querySelector(".payout").textContent.trim(),
      preview: r.querySelector("a.preview").getAttribute("href"),
    })));
    seen.offersText = await page.textContent("main");
    await shot(page, "partner-offers");

    await page.click(`tr[data-offer='${config.offer}'] a[href*='#generator']`);
    await page.waitForSelector("#generate");
    seen.chosen = await page.inputValue("#g-offer");
    await page.fill("#g-sub1", config.sub1);
    await page.fill("#g-sub2", "{clickid}");
    await Promise.all([page.waitForLoadState("load"), page.click("#generate")]);
    seen.madePath = new URL(page.url()).pathname;
    seen.made = await page.inputValue("#made-url");
    await page.click("button[data-copy='made-url']");
    await page.waitForFunction(() => document.getElementById("copy-status").textContent !== "");
    seen.copyStatus = await page.textContent("#copy-status");
    seen.clipboard = await page.evaluate(() => navigator.clipboard.readText());
    seen.links = await page.$$eval("tr[data-link]", (rows) => rows.map((r) => Number(r.dataset.link)));
    await shot(page, "partner-links");

    // The generator without its token: refused.
    run.expectErrors = true;
    await page.evaluate(() => document.querySelector("form.generator input[name='csrf_token']").remove());
    const [refusal] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/partner/links")),
      page.click("#generate"),
    ]);
    await page.waitForLoadState("load");
    seen.csrf = { status: refusal.status(), text: await page.textContent("main") };
    const other = await page.goto(`${base}/partner/links/${config.bobLink}`);
    seen.other = { status: other.status(), text: await page.textContent("main") };
    run.expectErrors = false;

    const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
    await run.signIn(phone, config.affiliate, config.password);
    await phone.goto(`${base}/partner/offers`);
    seen.phoneOffers = await phone.evaluate(widths);
    await shot(phone, "partner-offers-390");
    await phone.goto(`${base}${seen.madePath}?sub1=${encodeURIComponent(config.sub1)}`);
    seen.phoneLinks = await phone.evaluate(widths);
    await shot(phone, "partner-links-390");
    // The conversions page from the menu (none yet for this affiliate: the empty state).
    await Promise.all([page.waitForLoadState("load"), page.click("nav a[href='/partner/conversions']")]);
    seen.conversions = { title: await page.textContent("h1"), empty: await page.isVisible("td.empty") };
    await shot(page, "partner-conversions");
    await phone.goto(`${base}/partner/conversions`);
    seen.phoneConversions = await phone.evaluate(widths);
    await shot(phone, "partner-conversions-390");
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify({ ...seen, problems, foreign }));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
