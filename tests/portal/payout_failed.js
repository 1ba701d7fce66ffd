// Drives Mark failed in headless Chromium (see test_payout_failed_browser.py): an owner
// opens a payout from the payouts list, types why it failed and marks it; the page
// then shows it failed with the reason; the same page on a phone. Prints what a person
// saw as JSON; screenshots go to SCREENSHOT_DIR.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);

run.main(async (browser, seen) => {
  const owner = await run.watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await run.signIn(owner, config.owner, config.password);
  await owner.goto(`${base}/manage/payouts`);
  await run.go(owner, owner.click(`a[href='/manage/payouts/${config.payout}#mark-failed']`));
  seen.before = (await owner.textContent("h1")).replace(/\s+/g, " ").trim();
  seen.reasonRequired = await owner.$eval("#p-reason", (e) => e.required);
  await owner.fill("#p-reason", "PayPal account closed");
  await run.shot(owner, "manage-payout-failing");
  await run.go(owner, owner.click("#mark-failed button[type=submit]"));
  seen.url = owner.url();
  seen.notice = await owner.textContent(".notice");
  seen.after = (await owner.textContent("h1")).replace(/\s+/g, " ").trim();
  seen.money = (await owner.textContent("dl.pairs")).replace(/\s+/g, " ").trim();
  seen.forms = await owner.$$eval("form[action$='/failed'], form[action$='/paid']", (f) => f.length);
  seen.api = await run.api(owner, `/api/v1/payouts/${config.payout}`);
  await run.shot(owner, "manage-payout-failed");

  const phone = await run.watch(await browser.newContext({ viewport: { width: 390, height: 844 } }));
  await run.signIn(phone, config.owner, config.password);
  await phone.goto(`${base}/manage/payouts/${config.other}`);
  seen.phone = await run.fits(phone);
  await run.shot(phone, "manage-payout-failed-form-390");
});
