// Drives the portal in headless Chromium (see test_browser.py): an owner, an affiliate
// and a manager sign in and use their screens; a form without its CSRF token; a locked
// sign-in. Prints what a person saw as JSON; screenshots go to SCREENSHOT_DIR.
const { chromium } = require("playwright-core");

const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const shots = process.env.SCREENSHOT_DIR;
const run = require("./watched.js")(base, shots);
const { problems, foreign, watch, shot } = run;

// What the overview shows: each period's tiles (metric -> values as the page states them,
// with the raw figure the server put beside it) and the chart's box.
async function overview(page) {
  await page.waitForSelector("body[data-chart]");
  return page.evaluate(() => {
    const periods = {};
    document.querySelectorAll("section.period").forEach((section) => {
      const tiles = {};
      section.querySelectorAll("button.tile").forEach((tile) => {
        tiles[tile.dataset.metric] = {
          label: tile.querySelector(".label").textContent.trim(),
          values: [...tile.querySelectorAll(".value")].map((v) => ({
            text: v.textContent.trim(), raw: v.dataset.value, currency: v.dataset.currency || null,
          })),
          change: tile.querySelector(".change").textContent.trim(),
        };
      });
      periods[section.dataset.period] = tiles;
    });
    const canvas = document.querySelector("#chart canvas");
    const box = canvas ? canvas.getBoundingClientRect() : null;
    return {
      periods,
      chart: box && canvas.checkVisibility() ? { width: box.width, height: box.height } : null,
      charted: document.body.dataset.chart,
      text: document.body.innerText,
      pageWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
    };
  });
}

async function api(page, path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p);
    return { status: r.status, body: await r.json() };
  }, path);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const seen = {};
  try {
    // The owner: overview, the chart by payout, the conversions log, an approval.
    const owner = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(owner, config.owner, config.password);
    seen.ownerUrl = owner.url();
    seen.owner = await overview(owner);
    await shot(owner, "manage-overview");
    await owner.click("section[data-period='today'] button.tile[data-metric='payout']");
    await owner.waitForSelector("body[data-chart='payout']");
    seen.ownerCharted = await owner.getAttribute("#chart", "aria-label");
    seen.ownerApi = await api(owner, `/api/v1/stats?from=${config.today}&to=${config.today}&tz=UTC`);
    await owner.goto(`${base}/manage/conversions`);
    await shot(owner, "manage-conversions");
    await Promise.all([
      owner.waitForLoadState("load"),
      owner.click(`button[aria-label='Approve conversion ${config.pending}']`),
    ]);
    seen.approved = {
      notice: await owner.textContent(".notice"),
      status: await owner.textContent(`tr[data-id='${config.pending}'] .badge`),
    };
    // The same form with its token removed: refused, nothing changed.
    run.expectErrors = true;
    await owner.evaluate((id) => {
      document.querySelector(`form[action='/manage/conversions/${id}'] input[name='csrf_token']`).remove();
    }, config.approved);
    const [refusal] = await Promise.all([
      owner.waitForResponse((r) => r.url().endsWith(`/manage/conversions/${config.approved}`)),
      owner.click(`button[aria-label='Reject conversion ${config.approved}']`),
    ]);
    await owner.waitForLoadState("load");
    seen.csrf = { status: refusal.status(), text: await owner.textContent("main") };
    await shot(owner, "csrf-refused");
    run.expectErrors = false;

    // On a phone: the page is as wide as the screen, the table scrolls in its box.
    const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
    await run.signIn(phone, config.owner, config.password);
    seen.phone = await overview(phone);
    await shot(phone, "manage-overview-390");
    await phone.goto(`${base}/manage/conversions`);
    seen.phoneTable = await phone.evaluate(() => {
      const box = document.querySelector(".table-box");
      return { pageWidth: document.documentElement.scrollWidth, boxScroll: box.scrollWidth, boxWidth: box.clientWidth };
    });
    await shot(phone, "manage-conversions-390");
    // A conversion's record from the log: its history names the owner's approval.
    await owner.goto(`${base}/manage/conversions`);
    await Promise.all([
      owner.waitForLoadState("load"),
      owner.click(`a[href='/manage/conversions/${config.pending}']`),
    ]);
    seen.record = {
      title: await owner.textContent("h1"),
      history: await owner.$$eval("#h-history + .table-box tbody tr", (rows) => rows.map((r) => r.innerText)),
      visible: await owner.isVisible("#h-click"),
    };
    await shot(owner, "manage-conversion");
    // Their account page, from the name in the header.
    await Promise.all([owner.waitForLoadState("load"), owner.click("a.who")]);
    seen.account = { title: await owner.textContent("h1"), zone: await owner.inputValue("#time_zone") };
    await shot(owner, "account");
    await Promise.all([owner.waitForLoadState("load"), owner.click("nav a[href='/manage/users']")]);
    seen.users = await owner.$$eval("tbody tr", (rows) => rows.map((r) => r.cells[1].innerText));
    await shot(owner, "manage-users");
    await phone.goto(`${base}/manage/conversions/${config.pending}`);
    seen.phoneRecord = await phone.evaluate(() => document.documentElement.scrollWidth);
    await shot(phone, "manage-conversion-390");

    // The affiliate: its own earnings, no revenue, nobody else's data by URL or API.
    const affiliate = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(affiliate, config.affiliate, config.password);
    seen.affiliateUrl = affiliate.url();
    seen.affiliate = await overview(affiliate);
    await shot(affiliate, "partner-overview");
    seen.affiliateApi = await api(affiliate, `/api/v1/stats?from=${config.today}&to=${config.today}&tz=UTC`);
    run.expectErrors = true;
    const other = await affiliate.goto(`${base}/partner?affiliate=${config.bob}`);
    seen.affiliateOther = { status: other.status(), text: await affiliate.textContent("main") };
    await shot(affiliate, "partner-other-id");
    seen.affiliateOtherApi = await api(affiliate, `/api/v1/stats?affiliate=${config.bob}`);
    const console = await affiliate.goto(`${base}/manage?affiliate=${config.bob}`);
    seen.affiliateConsole = console.status();
    run.expectErrors = false;
    const affiliatePhone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
    await run.signIn(affiliatePhone, config.affiliate, config.password);
    seen.affiliatePhone = await overview(affiliatePhone);
    await shot(affiliatePhone, "partner-overview-390");

    // The manager: only the affiliate assigned to them.
    const manager = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(manager, config.manager, config.password);
    seen.manager = await overview(manager);
    await shot(manager, "manager-overview");
    run.expectErrors = true;
    seen.managerOther = (await manager.goto(`${base}/manage?affiliate=${config.bob}`)).status();
    seen.managerOtherLog = (await manager.goto(`${base}/manage/conversions?affiliate=${config.bob}`)).status();
    await manager.goto(`${base}/manage/conversions`);
    seen.managerLog = await manager.$$eval("tbody tr[data-id]", (rows) => rows.map((r) => r.dataset.id));

    // A locked-out sign-in: the message, no session.
    const locked = await watch(await browser.newContext());
    for (let i = 0; i < config.perAccount; i++) await run.signIn(locked, config.owner, "not the password");
    await run.signIn(locked, config.owner, config.password);
    seen.locked = { url: locked.url(), message: await locked.textContent("#sign-in-error") };
    await shot(locked, "sign-in-locked");
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
