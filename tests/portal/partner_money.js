// Drives the affiliate's stats, balance and announcements screens in headless Chromium
// (see test_partner_money_browser.py): what a person sees beside what the API answers the
// same session, the CSV and statement downloads, another's statement, a phone.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const shots = process.env.SCREENSHOT_DIR;
const run = require("./watched.js")(base, shots);
const { watch, shot } = run;

// The stats screen as shown: tiles, the chart's box, the report's cells, the API query.
function statsShown() {
  const tiles = {};
  document.querySelectorAll("button.tile .value").forEach((v) => {
    tiles[v.dataset.metric] = { text: v.textContent.trim(), raw: v.dataset.value };
  });
  const canvas = document.querySelector("#chart canvas");
  const box = canvas ? canvas.getBoundingClientRect() : null;
  const rows = [...document.querySelectorAll("#report tbody tr")].map((tr) =>
    Object.fromEntries([...tr.querySelectorAll("td[data-col]")].map((td) => [td.dataset.col, { raw: td.dataset.value, text: td.textContent.trim() }])));
  return {
    tiles,
    rows,
    chart: box && canvas.checkVisibility() ? { width: box.width, height: box.height } : null,
    charted: document.body.dataset.chart,
    query: document.getElementById("api-query").textContent.replace("GET /api/v1/stats?", ""),
    csv: document.getElementById("csv").getAttribute("href"),
    pageWidth: document.documentElement.scrollWidth,
  };
}

// Two downloads by this session, compared byte for byte in the page.
async function sameBytes(page, a, b) {
  return page.evaluate(async ([x, y]) => {
    const [r1, r2] = await Promise.all([fetch(x), fetch(y)]);
    const [b1, b2] = [new Uint8Array(await r1.arrayBuffer()), new Uint8Array(await r2.arrayBuffer())];
    const head = new TextDecoder().decode(b1.slice(0, 200));
    return { status: r1.status, type: r1.headers.get("content-type"), size: b1.length, head, same: b1.length === b2.length && b1.every((v, i) => v === b2[i]) };
  }, [a, b]);
}

async function apiJson(page, path) {
  return page.evaluate(async (p) => (await fetch(p)).json(), path);
}

run.main(async (browser, seen) => {
  const page = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await run.signIn(page, config.affiliate, config.password);

  // Stats: the last 7 days by day, then the chart by earnings.
  await Promise.all([page.waitForLoadState("load"), page.click("nav.main a[href='/partner/stats']")]);
  await page.waitForSelector("body[data-chart]");
  seen.stats = await page.evaluate(statsShown);
  seen.statsApi = await apiJson(page, `/api/v1/stats?${seen.stats.query}`);
  seen.statsCsv = await sameBytes(page, seen.stats.csv, `/api/v1/stats?${seen.stats.query}&format=csv`);
  await page.click("button.tile[data-metric='payout']");
  await page.waitForSelector("body[data-chart='payout']");
  seen.chartLabel = await page.getAttribute("#chart", "aria-label");
  await shot(page, "partner-stats");
  // By sub-ID over the last 30 days, from the form.
  await page.selectOption("#s-preset", "30d");
  await page.selectOption("#s-group_by", "sub1");
  await Promise.all([page.waitForLoadState("load"), page.click("#s-show")]);
  await page.waitForSelector("body[data-chart]");
  seen.bySub = await page.evaluate(statsShown);
  seen.bySubApi = await apiJson(page, `/api/v1/stats?${seen.bySub.query}`);
  seen.bySubCsv = await sameBytes(page, seen.bySub.csv, `/api/v1/stats?${seen.bySub.query}&format=csv`);
  seen.statsText = await page.textContent("main");
  await shot(page, "partner-stats-sub1");

  // Balance: the figures, the ledger, the payouts and a statement.
  await Promise.all([page.waitForLoadState("load"), page.click("nav.main a[href='/partner/balance']")]);
  seen.balance = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#balance [data-field]")].map((td) => [td.dataset.field, { raw: td.dataset.value, text: td.textContent.trim() }])));
  seen.balanceApi = await apiJson(page, `/api/v1/affiliates/${config.affiliateId}/balance`);
  seen.entries = await page.$$eval("#ledger tr[data-entry]", (rows) => rows.map((r) => Number(r.dataset.entry)));
  seen.entriesApi = (await apiJson(page, "/api/v1/ledger")).items.map((e) => e.id);
  seen.payouts = await page.$$eval("#payouts tr[data-payout]", (rows) => rows.map((r) => Number(r.dataset.payout)));
  const statement = await page.getAttribute("a.statement", "href");
  seen.statement = await sameBytes(page, statement, `/api/v1/payouts/${seen.payouts[0]}/statement.pdf`);
  seen.balanceText = await page.textContent("main");
  await shot(page, "partner-balance");

  // Announcements: the list, then one, its body the sanitized HTML.
  await Promise.all([page.waitForLoadState("load"), page.click("nav.main a[href='/partner/announcements']")]);
  seen.announcements = await page.$$eval("#announcements a", (links) => links.map((a) => ({ text: a.textContent.trim(), href: a.getAttribute("href") })));
  await shot(page, "partner-announcements");
  await Promise.all([page.waitForLoadState("load"), page.click("#announcements a")]);
  seen.announcement = await page.evaluate(() => {
    const body = document.querySelector(".announcement .body");
    const box = body.getBoundingClientRect();
    return {
      title: document.querySelector("h1").textContent.trim(),
      text: body.innerText,
      visible: body.checkVisibility() && box.height > 0,
      scripts: body.querySelectorAll("script, img, style, [onerror]").length,
      links: [...body.querySelectorAll("a")].map((a) => a.getAttribute("href")),
      table: !!body.querySelector("table"),
    };
  });
  await shot(page, "partner-announcement");

  // Another affiliate's statement and announcement: the 404 page.
  run.expectErrors = true;
  const others = {
    otherStatement: `/partner/payouts/${config.bobPayout}/statement.pdf`,
    otherAnnouncement: `/partner/announcements/${config.bobAnnouncement}`,
  };
  for (const [name, path] of Object.entries(others)) {
    const answer = await page.goto(base + path);
    seen[name] = { status: answer.status(), text: await page.textContent("main") };
  }
  run.expectErrors = false;

  // A phone: every screen fits 390 px, the chart drawn inside it.
  const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
  await run.signIn(phone, config.affiliate, config.password);
  await phone.goto(`${base}/partner/stats`);
  await phone.waitForSelector("body[data-chart]");
  seen.phoneStats = await phone.evaluate(statsShown);
  await shot(phone, "partner-stats-390");
  const width = () => ({ pageWidth: document.documentElement.scrollWidth });
  await phone.goto(`${base}/partner/balance`);
  seen.phoneBalance = await phone.evaluate(width);
  await shot(phone, "partner-balance-390");
  await phone.goto(`${base}${seen.announcements[0].href}`);
  seen.phoneAnnouncement = await phone.evaluate(width);
  await shot(phone, "partner-announcement-390");
});
