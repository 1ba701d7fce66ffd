// Both stats screens' table of diverted clicks by reason in headless Chromium (see
// test_diverted_browser.py): a manager's at 1280 px, an affiliate's on a phone. Prints
// each row as a person reads it; screenshots go to SCREENSHOT_DIR.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);

const reasons = (page) => page.$$eval("table#diverted tbody tr", (rows) =>
  rows.map((r) => {
    const box = r.getBoundingClientRect();
    return {
      reason: r.cells[0].dataset.reason,
      label: r.cells[0].textContent.trim(),
      clicks: r.cells[1].textContent.trim(),
      share: r.cells[2].textContent.trim(),
      visible: box.width > 0 && box.height > 0,
    };
  }));
const total = (page) => page.$eval("#diverted-total", (e) => e.textContent.trim());

run.main(async (browser, seen) => {
  const manager = await run.watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await run.signIn(manager, config.manager, config.password);
  await manager.goto(`${base}/manage/stats?preset=7d`);
  seen.managerRows = await reasons(manager);
  seen.managerTotal = await total(manager);
  await manager.locator("#diverted").scrollIntoViewIfNeeded();
  await run.shot(manager, "manager-stats-diverted");

  const partner = await run.watch(await browser.newContext({ viewport: { width: 390, height: 844 } }));
  await run.signIn(partner, config.affiliate, config.password);
  await partner.goto(`${base}/partner/stats?preset=7d`);
  seen.partnerRows = await reasons(partner);
  seen.partnerTotal = await total(partner);
  seen.partnerHeads = await partner.$$eval("table#report thead th", (h) => h.map((e) => e.textContent.trim()));
  seen.partnerFits = await run.fits(partner);
  await partner.locator("#diverted").scrollIntoViewIfNeeded();
  await run.shot(partner, "partner-stats-diverted-390");
});
