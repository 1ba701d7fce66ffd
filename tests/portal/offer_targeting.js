// Drives the offer form's targeting in headless Chromium (see
// test_offer_targeting_browser.py): the owner types a country code the API refuses, sees
// the message beside the field, fixes it, ticks a device and saves; then a phone's view.
// Prints what it saw as JSON.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);
const { watch, shot, api, fits } = run;

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

run.main(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const owner = await watch(context);
  await run.signIn(owner, config.owner, config.password);
  await run.go(owner, owner.goto(`${base}/manage/offers/${config.offer}`));
  seen.labels = await owner.$$eval("#h-targeting ~ .grid label", (ls) => ls.map((l) => l.textContent.trim()));
  await owner.selectOption("#f-targeting-country_mode", "allow");
  await owner.fill("#f-targeting-countries", "DE, at");
  await owner.check("#f-targeting-devices-mobile");
  run.expectErrors = true;
  await submit(owner, "#save");
  run.expectErrors = false;
  seen.refused = {
    alert: (await owner.textContent("#form-errors")).trim(),
    countries: (await owner.textContent("#e-targeting-countries")).trim(),
    invalid: await owner.getAttribute("#f-targeting-countries", "aria-invalid"),
    kept: await owner.inputValue("#f-targeting-countries"),
    mobile: await owner.isChecked("#f-targeting-devices-mobile"),
  };
  await owner.locator("#h-targeting").scrollIntoViewIfNeeded();
  await shot(owner, "manage-offer-targeting-refused");

  await owner.fill("#f-targeting-countries", "DE AT");
  await owner.check("#f-targeting-devices-tablet");
  await submit(owner, "#save");
  seen.notice = (await owner.textContent(".notice")).trim();
  seen.saved = (await api(owner, `/api/v1/offers/${config.offer}`)).body.targeting;
  seen.shown = {
    countries: await owner.inputValue("#f-targeting-countries"),
    mode: await owner.inputValue("#f-targeting-country_mode"),
    desktop: await owner.isChecked("#f-targeting-devices-desktop"),
    mobile: await owner.isChecked("#f-targeting-devices-mobile"),
    tablet: await owner.isChecked("#f-targeting-devices-tablet"),
  };
  await shot(owner, "manage-offer-targeting");

  const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await context.storageState() }));
  await run.go(phone, phone.goto(`${base}/manage/offers/${config.offer}`));
  seen.phone = await fits(phone);
  await phone.locator("#h-targeting").scrollIntoViewIfNeeded();
  await phone.screenshot({ path: `${process.env.SCREENSHOT_DIR}/manage-offer-targeting-390.png` });
});
