// Drives the affiliate's settings in headless Chromium (see
// test_partner_settings_browser.py): the postback saved and tested against a loopback
// receiver, payment details saved and shown masked, on a desk and on a phone.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);
const { watch, shot, go } = run;

run.main(async (browser, seen) => {
  const page = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await run.signIn(page, config.email, config.password);
  await go(page, page.click("nav.main a[href='/partner/settings']"));
  seen.headings = await page.$$eval("main h2", (hs) => hs.map((h) => h.textContent.trim()));
  await page.fill("#p-url", config.postback);
  await page.selectOption("#p-on", "all");
  await go(page, page.click("#save-postback"));
  seen.saved = (await page.textContent(".notice")).trim();
  await go(page, page.click("#test-postback"));
  await shot(page, "partner-settings-tested");
  const tried = await page.$("#postback-tried");
  seen.tried = { text: (await tried.textContent()).replace(/\s+/g, " ").trim(), visible: await tried.isVisible() };
  await page.selectOption("#m-method", "paypal");
  await page.fill("#m-email", "alice.payouts@example.com");
  await go(page, page.click("#save-payment"));
  seen.payment = await page.$$eval("#payment-now dd", (dds) => dds.map((d) => d.textContent.trim()));
  await shot(page, "partner-settings");

  const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
  await run.signIn(phone, config.email, config.password);
  await phone.goto(`${base}/partner/settings`);
  seen.phoneWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
  await shot(phone, "partner-settings-390");
});
