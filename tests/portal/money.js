// Drives the managers' payouts and customers screens in headless Chromium (see
// test_money_browser.py): an owner reads balances, previews and makes a run, downloads
// its files, marks a payout paid and opens it; lists customers, opens one and reassigns
// it; the same screens on a phone; a manager's reach. Prints what a person saw as JSON;
// screenshots go to SCREENSHOT_DIR.
const { chromium } = require("playwright-core");

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const shots = process.env.SCREENSHOT_DIR;
const run = require("./watched.js")(base, shots);
const { problems, foreign, watch, shot } = run;

async function text(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, body: await r.text(), skipped: r.headers.get("x-payouts-skipped") };
  }, path);
}

// Each row of a table: its money cells by data-k, as the page writes them.
async function moneyRows(page, table) {
  return page.$$eval(`table#${table} tbody tr`, (rows) =>
    rows
      .filter((r) => !r.querySelector("td.empty"))
      .map((r) => ({
        text: r.textContent.replace(/\s+/g, " ").trim(),
        cells: Object.fromEntries([...r.querySelectorAll("td[data-k]")].map((c) => [c.dataset.k, c.textContent.trim()])),
      })),
  );
}

async function fits(page) {
  return page.evaluate(() => ({
    pageWidth: document.documentElement.scrollWidth,
    boxes: [...document.querySelectorAll(".table-box")].map((b) => ({ scroll: b.scrollWidth, width: b.clientWidth })),
  }));
}

async function go(page, selector) {
  await Promise.all([page.waitForLoadState("load"), page.waitForNavigation(), page.click(selector)]);
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
    await go(owner, "nav.main a[href='/manage/payouts']");
    seen.balances = await moneyRows(owner, "balances");
    await owner.fill("#r-currency", "USD");
    await go(owner, "button:text-is('Preview')");
    seen.preview = await moneyRows(owner, "preview");
    seen.previewSum = await owner.textContent("#preview-sum");
    await shot(owner, "manage-payouts-preview");
    await go(owner, "button:has-text('Make the run')");
    seen.runNotice = await owner.textContent(".notice");
    seen.runs = await moneyRows(owner, "runs");
    seen.payouts = await moneyRows(owner, "payouts");
    seen.files = await owner.textContent("#files");
    const runId = await owner.$eval("table#runs tbody tr[data-id]", (r) => r.dataset.id);
    seen.runId = Number(runId);
    seen.exports = {};
    for (const fmt of ["paypal", "wise", "csv"]) {
      const href = await owner.$eval(`table#runs a[href$='format=${fmt}']`, (a) => a.getAttribute("href"));
      seen.exports[fmt] = {
        page: await text(owner, href),
        api: await text(owner, `/api/v1/payout-runs/${runId}/export?format=${fmt}`),
      };
    }
    await shot(owner, "manage-payouts");
    const payoutId = await owner.$eval("table#payouts tbody tr[data-id]", (r) => r.dataset.id);
    seen.payoutId = Number(payoutId);
    await owner.fill(`table#payouts tr[data-id='${payoutId}'] input[name='reference']`, "PP-2026-12");
    await go(owner, `button[aria-label='Mark payout ${payoutId} paid']`);
    seen.paidNotice = await owner.textContent(".notice");
    seen.paidStatus = await owner.textContent(`table#payouts tr[data-id='${payoutId}'] .badge`);
    await go(owner, `table#payouts a[href='/manage/payouts/${payoutId}']`);
    seen.payoutTotal = await owner.textContent("#totals dd[data-k='total']");
    seen.payoutLines = (await moneyRows(owner, "lines")).length;
    seen.payoutShown = await owner.textContent("#lines-shown");
    await shot(owner, "manage-payout");
    // Its entries page on (the test makes the pages short): the rest, the same totals.
    await go(owner, ".pager a:text-is('Next')");
    seen.payoutNextLines = (await moneyRows(owner, "lines")).length;
    seen.payoutNextShown = await owner.textContent("#lines-shown");
    seen.payoutNextTotal = await owner.textContent("#totals dd[data-k='total']");
    await shot(owner, "manage-payout-next");

    await go(owner, "nav.main a[href='/manage/customers']");
    seen.customers = await owner.$$eval("table#customers tbody tr[data-id]", (rs) => rs.map((r) => Number(r.dataset.id)));
    await shot(owner, "manage-customers");
    await go(owner, `table#customers a[href='/manage/customers/${config.ann}']`);
    seen.lifetime = await owner.$$eval("#lifetime dd", (dds) => Object.fromEntries(dds.map((d) => [d.dataset.k, d.textContent.trim()])));
    seen.timeline = await owner.$$eval("table#timeline tbody tr td:nth-child(2)", (tds) => tds.map((t) => t.textContent.trim()));
    await shot(owner, "manage-customer");
    await owner.fill("#r-affiliate", String(config.bob));
    await owner.fill("#r-reason", "support ticket 7");
    await go(owner, "button:text-is('Reassign')");
    seen.reassigned = {
      notice: await owner.textContent(".notice"),
      affiliate: await owner.textContent("#binding dd[data-k='affiliate']"),
      timeline: await owner.$$eval("table#timeline tbody tr td:nth-child(2)", (tds) => tds.map((t) => t.textContent.trim())),
    };

    // On a phone: nothing spills off the page; the tables scroll inside their boxes.
    const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
    await run.signIn(phone, config.owner, config.password);
    seen.phone = {};
    for (const [name, path] of [
      ["manage-payouts-390", `/manage/payouts?run=${runId}`],
      ["manage-payout-390", `/manage/payouts/${payoutId}`],
      ["manage-customers-390", "/manage/customers"],
      ["manage-customer-390", `/manage/customers/${config.ann}`],
    ]) {
      await phone.goto(`${base}${path}`);
      seen.phone[name] = await fits(phone);
      await shot(phone, name);
    }

    // The manager: their affiliate's balance and customers only; no run form.
    const manager = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(manager, config.manager, config.password);
    await go(manager, "nav.main a[href='/manage/payouts']");
    seen.managerBalances = await moneyRows(manager, "balances");
    seen.managerRunForm = await manager.$$eval("#h-run", (h) => h.length);
    await shot(manager, "manager-payouts");
    await go(manager, "nav.main a[href='/manage/customers']");
    seen.managerCustomers = await manager.$$eval("table#customers tbody tr[data-id]", (rs) => rs.map((r) => Number(r.dataset.id)));
    run.expectErrors = true;
    const other = await manager.goto(`${base}/manage/customers?affiliate=${config.alice}`);
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
