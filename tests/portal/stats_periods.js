// Drives both stats screens by week and by month in headless Chromium (see
// test_stats_periods_browser.py): a manager picks "week" in Group by and submits; an
// affiliate picks "Month". Prints the first column of each table as a person reads it;
// screenshots go to SCREENSHOT_DIR.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);

const firstColumn = (page, table) => page.$$eval(`table#${table} tbody tr`, (rows) =>
  rows.filter((r) => !r.querySelector("td.empty")).map((r) => r.cells[0].textContent.trim()));

run.main(async (browser, seen) => {
  const manager = await run.watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await run.signIn(manager, config.manager, config.password);
  await manager.goto(`${base}/manage/stats?preset=30d`);
  seen.managerOptions = await manager.$$eval("#s-group-0 option", (o) => o.map((e) => e.value));
  await manager.selectOption("#s-group-0", "week");
  await run.go(manager, manager.click("form.stats-form button[type=submit]"));
  seen.managerQuery = new URL(manager.url()).search;
  seen.managerWeeks = await firstColumn(manager, "rows");
  await run.shot(manager, "manager-stats-by-week");

  const partner = await run.watch(await browser.newContext({ viewport: { width: 390, height: 844 } }));
  await run.signIn(partner, config.affiliate, config.password);
  await partner.goto(`${base}/partner/stats?preset=30d`);
  seen.partnerLabels = await partner.$$eval("#s-group_by option", (o) => o.map((e) => e.textContent.trim()));
  await partner.selectOption("#s-group_by", "month");
  await run.go(partner, partner.click("#s-show"));
  seen.partnerQuery = new URL(partner.url()).search;
  seen.partnerMonths = await firstColumn(partner, "report");
  seen.partnerFits = await run.fits(partner);
  await run.shot(partner, "partner-stats-by-month-390");
});
