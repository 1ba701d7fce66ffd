// Drives the managers' affiliates screens in headless Chromium (see
// test_affiliates_browser.py): an owner approves an application from the queue, opens a
// profile and notes it, on a desk and on a phone; a tokenless form; a manager's reach.
// Prints what a person saw as JSON; screenshots go to SCREENSHOT_DIR.
const { chromium } = require("playwright-core");

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const shots = process.env.SCREENSHOT_DIR;
const run = require("./watched.js")(base, shots);
const { problems, foreign, watch, shot } = run;

async function api(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, body: await r.json() };
  }, path);
}

// The names a table lists, as a person reads them.
async function names(page, table) {
  return page.$$eval(`table#${table} tbody tr[data-id] td:nth-child(2)`, (cells) => cells.map((c) => c.textContent.trim()));
}

async function fits(page) {
  return page.evaluate(() => ({
    pageWidth: document.documentElement.scrollWidth,
    boxes: [...document.querySelectorAll(".table-box")].map((b) => ({ scroll: b.scrollWidth, width: b.clientWidth })),
  }));
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
    await owner.click("nav.main a[href='/manage/affiliates']");
    await owner.waitForLoadState("load");
    seen.ownerQueue = await names(owner, "queue");
    seen.ownerList = await names(owner, "affiliates");
    await shot(owner, "manage-affiliates");
    await Promise.all([owner.waitForLoadState("load"), owner.click("button[aria-label='Approve Carol']")]);
    seen.approved = {
      notice: await owner.textContent(".notice"),
      queue: await names(owner, "queue"),
      status: await owner.textContent(`table#affiliates tr[data-id='${config.carol}'] .badge`),
      api: await api(owner, `/api/v1/affiliates/${config.carol}`),
    };
    // The same form without its token: refused, Dave still waiting.
    run.expectErrors = true;
    await owner.evaluate((id) => {
      document.querySelectorAll(`form[action='/manage/affiliates/${id}/status'] input[name='csrf_token']`).forEach((i) => i.remove());
    }, config.dave);
    const [refusal] = await Promise.all([
      owner.waitForResponse((r) => r.url().endsWith(`/manage/affiliates/${config.dave}/status`)),
      owner.click("button[aria-label='Reject Dave']"),
    ]);
    await owner.waitForLoadState("load");
    seen.csrf = { status: refusal.status(), text: await owner.textContent("main") };
    run.expectErrors = false;
    seen.daveApi = await api(owner, `/api/v1/affiliates/${config.dave}`);

    // Alice's profile: her link, her numbers, a note added through the form.
    await owner.goto(`${base}/manage/affiliates`);
    await Promise.all([owner.waitForLoadState("load"), owner.click("table#affiliates a:text-is('Alice')")]);
    seen.profileUrl = owner.url();
    seen.stats = await owner.$$eval("#stats dd", (dds) => Object.fromEntries(dds.map((d) => [d.dataset.metric, d.textContent.trim()])));
    seen.links = await owner.$$eval("table#links tbody tr[data-id] code", (cs) => cs.map((c) => c.textContent.trim()));
    seen.statsApi = await api(owner, `/api/v1/stats?affiliate=${config.alice}&from=${config.from}&to=${config.today}&tz=UTC`);
    await owner.fill("#note-text", "Wants a banner for the spring sale");
    await Promise.all([owner.waitForLoadState("load"), owner.click("button:text-is('Add note')")]);
    seen.notes = await owner.$$eval("#notes li", (lis) => lis.map((l) => l.textContent.trim()));
    await shot(owner, "manage-affiliate");

    // On a phone: nothing spills off the page; the tables scroll inside their boxes.
    const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
    await run.signIn(phone, config.owner, config.password);
    await phone.goto(`${base}/manage/affiliates`);
    seen.phoneList = await fits(phone);
    await shot(phone, "manage-affiliates-390");
    await phone.goto(`${base}/manage/affiliates/${config.alice}`);
    seen.phoneProfile = await fits(phone);
    await shot(phone, "manage-affiliate-390");

    // The manager: Alice only; Bob neither listed nor by URL.
    const manager = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(manager, config.manager, config.password);
    await manager.goto(`${base}/manage/affiliates`);
    seen.managerList = await names(manager, "affiliates");
    seen.managerText = await manager.textContent("main");
    await shot(manager, "manager-affiliates");
    run.expectErrors = true;
    const other = await manager.goto(`${base}/manage/affiliates/${config.bob}`);
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
