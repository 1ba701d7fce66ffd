// Drives the console's stats, API keys, webhooks and deliveries screens in headless
// Chromium (see test_console_browser.py): an owner on a desk and on a phone, then a
// manager. Prints what a person saw as JSON; screenshots go to SCREENSHOT_DIR.
const { chromium } = require("playwright-core");

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const shots = process.env.SCREENSHOT_DIR;
const run = require("./watched.js")(base, shots);
const { problems, foreign, watch, shot } = run;

async function fetched(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, text: await r.text() };
  }, path);
}

// The totals row as shown: metric -> the value it carries, and the text a person reads.
async function totals(page) {
  return page.$$eval("table#totals td[data-metric]", (cells) =>
    Object.fromEntries(cells.map((c) => [c.dataset.metric, { value: c.dataset.value, text: c.textContent.trim() }])));
}

async function chartBox(page) {
  await page.waitForSelector("#chart canvas");
  const box = await page.locator("#chart canvas").first().boundingBox();
  return { width: box ? box.width : 0, height: box ? box.height : 0, visible: await page.isVisible("#chart canvas") };
}

async function fits(page) {
  return page.evaluate(() => ({
    pageWidth: document.documentElement.scrollWidth,
    boxes: [...document.querySelectorAll(".table-box")].map((b) => ({ scroll: b.scrollWidth, width: b.clientWidth })),
  }));
}

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const seen = {};
  try {
    const owner = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(owner, config.owner, config.password);

    // Stats: the nav's link, the last 30 days by affiliate, the chart, the CSV.
    await Promise.all([owner.waitForNavigation(), owner.click("nav.main a:text-is('Stats')")]);
    seen.statsUrl = owner.url();
    await Promise.all([owner.waitForNavigation(), owner.click("nav.presets a:text-is('Last 30 days')")]);
    await owner.selectOption("#s-group-0", "affiliate");
    await owner.check("#s-compare");
    await submit(owner, "form.stats-form button[type=submit]");
    seen.statsQuery = new URL(owner.url()).search;
    seen.span = (await owner.textContent("#span")).trim();
    seen.totals = await totals(owner);
    seen.rows = await owner.$$eval("table#rows tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, " ").trim())));
    seen.chart = await chartBox(owner);
    seen.chartSummary = await owner.textContent("#chart-summary");
    await owner.click(".chart-pick button[data-metric='payout']");
    seen.chartMetric = await owner.evaluate(() => document.body.dataset.chart);
    seen.statsApi = await fetched(owner, `/api/v1/stats?from=${config.from30}&to=${config.today}&tz=${encodeURIComponent(config.zone)}&group_by=affiliate`);
    const csvHref = await owner.getAttribute("#csv", "href");
    seen.csv = await fetched(owner, csvHref);
    seen.apiCsv = await fetched(owner, `/api/v1/stats?from=${config.from30}&to=${config.today}&tz=${encodeURIComponent(config.zone)}&group_by=affiliate&format=csv`);
    await shot(owner, "manage-stats");
    await Promise.all([owner.waitForNavigation(), owner.click("nav.presets a:text-is('Today')")]);
    seen.todayChart = await chartBox(owner);
    seen.todayLabel = await owner.getAttribute("#chart", "aria-label");

    // API keys: one made (its secret shown once), then revoked.
    await Promise.all([owner.waitForNavigation(), owner.click("nav.main a:text-is('API keys')")]);
    await owner.fill("#k-name", "Nightly export");
    await owner.selectOption("#k-role", "admin");
    await submit(owner, "button:text-is('Make key')");
    seen.madeKey = await owner.inputValue("#made-key");
    await shot(owner, "manage-keys");
    const keyId = await owner.$$eval("table#keys tbody tr[data-id]", (trs) => trs.map((t) => t.dataset.id).pop());
    seen.keyCheck = await owner.evaluate(async (key) => (await fetch("/api/v1/stats", { headers: { Authorization: `Bearer ${key}` } })).status, seen.madeKey);
    await submit(owner, `button[aria-label='Revoke key ${keyId}']`);
    seen.keyNotice = await owner.textContent(".notice");
    seen.keyRow = await owner.textContent(`table#keys tr[data-id='${keyId}']`);

    // Webhooks: an endpoint for Alice, its secret, a test event; then its delivery retried.
    await Promise.all([owner.waitForNavigation(), owner.click("nav.main a:text-is('Webhooks')")]);
    await owner.fill("#w-url", config.hook);
    await owner.fill("#w-description", "Alice's CRM");
    await owner.fill("#w-affiliate", String(config.alice));
    await owner.check("input[name=events][value='conversion.created']");
    await submit(owner, "button:text-is('Add endpoint')");
    seen.secret = await owner.inputValue("#made-secret");
    const hookId = await owner.$$eval("table#webhooks tbody tr[data-id]", (trs) => trs.map((t) => t.dataset.id).pop());
    await submit(owner, `button[aria-label='Send a test event to endpoint ${hookId}']`);
    seen.testNotice = await owner.textContent(".notice");
    await shot(owner, "manage-webhooks");
    await Promise.all([owner.waitForNavigation(), owner.click(".notice a")]);
    seen.deliveries = await owner.$$eval("table#deliveries tbody tr[data-id]", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, " ").trim())));
    const deliveryId = await owner.$$eval("table#deliveries tbody tr[data-id]", (trs) => trs.map((t) => t.dataset.id).pop());
    await submit(owner, `button[aria-label='Retry delivery ${deliveryId}']`);
    seen.retryNotice = await owner.textContent(".notice");
    await shot(owner, "manage-deliveries");

    // A CRM integration: its inbound URL and secret, then its settings page.
    await Promise.all([owner.waitForNavigation(), owner.click("nav.main a:text-is('Integrations')")]);
    await owner.selectOption("#i-provider", "salesforce");
    await owner.fill("#i-advertiser", String(config.advertiser));
    await owner.fill("#i-name", "Acme CRM");
    await owner.fill("#i-stages", "Closed Won = approved\nClosed Lost = rejected");
    await submit(owner, "button:text-is('Add integration')");
    seen.integrationUrl = await owner.textContent("#made-url");
    seen.integrationSecret = await owner.inputValue("#made-secret");
    await shot(owner, "manage-integrations");
    await Promise.all([owner.waitForNavigation(), owner.click("table#integrations a:text-is('Acme CRM')")]);
    seen.integrationInbound = await owner.inputValue("#inbound");
    seen.integrationStages = await owner.inputValue("#e-stages");
    await shot(owner, "manage-integration");

    // On a phone: each screen within 390 px; tables scroll inside their boxes.
    const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
    await run.signIn(phone, config.owner, config.password);
    seen.phone = {};
    for (const [name, path] of [["stats", "/manage/stats?preset=30d&group_by=affiliate"], ["keys", "/manage/keys"], ["webhooks", "/manage/webhooks"], ["deliveries", "/manage/deliveries"], ["integrations", "/manage/integrations"]]) {
      await phone.goto(`${base}${path}`);
      seen.phone[name] = await fits(phone);
      if (name === "stats") seen.phoneChart = await chartBox(phone);
      await shot(phone, `manage-${name}-390`);
    }

    // The manager: Alice's numbers only; Bob's by URL a 404.
    const manager = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(manager, config.manager, config.password);
    await manager.goto(`${base}/manage/stats?preset=30d&group_by=affiliate`);
    seen.managerRows = await manager.$$eval("table#rows tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.replace(/\s+/g, " ").trim())));
    seen.managerTotals = await totals(manager);
    seen.managerChart = await chartBox(manager);
    seen.managerNav = await manager.$$eval("nav.main a", (as) => as.map((a) => a.textContent.trim()));
    await shot(manager, "manager-stats");
    run.expectErrors = true;
    const other = await manager.goto(`${base}/manage/stats?affiliate=${config.bob}`);
    seen.managerOther = { status: other.status(), text: await manager.textContent("main") };
    run.expectErrors = false;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify({ ...seen, problems, foreign }));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
