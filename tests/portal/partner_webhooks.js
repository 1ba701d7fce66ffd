// Drives the affiliate's webhooks screen in headless Chromium (see
// test_partner_webhooks_browser.py): a refused address first, then an endpoint made (its
// secret shown once), disabled and enabled, a test event sent and its delivery listed;
// then a phone's view. Prints what it saw as JSON.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);
const { watch, shot, fits } = run;

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

run.main(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const me = await watch(context);
  await run.signIn(me, config.email, config.password);
  await submit(me, "nav.main a[href='/partner/webhooks']");
  seen.empty = (await me.textContent("table#webhooks")).includes("No endpoints yet");
  await shot(me, "partner-webhooks-empty");

  await me.fill("#w-url", config.url);
  await me.fill("#w-description", "my server");
  run.expectErrors = true;
  await submit(me, "#add-webhook");
  run.expectErrors = false;
  seen.refused = (await me.textContent("#webhook-error")).trim();

  await me.fill("#w-url", config.url);
  await me.fill("#w-description", "my server");
  await me.check("input[name='events'][value='conversion.created']");
  await me.check("input[name='events'][value='payout.paid']");
  await submit(me, "#add-webhook");
  seen.madeTitle = (await me.textContent("#h-made")).trim();
  seen.secret = await me.inputValue("#made-secret");
  seen.copyShown = await me.isVisible("button[data-copy='made-secret']");
  seen.rows = await me.$$eval("table#webhooks tbody tr[data-id]", (rs) => rs.map((r) => r.dataset.id));
  await shot(me, "partner-webhooks-made");

  // Disabled, then enabled (disabling fails what is pending), then a test event.
  const id = seen.rows[0];
  await submit(me, `button[aria-label='Disable endpoint ${id}']`);
  seen.disabled = (await me.textContent(`table#webhooks tr[data-id='${id}'] .badge`)).trim();
  seen.testWhileDisabled = await me.isVisible(`button[aria-label='Send a test event to endpoint ${id}']`);
  await submit(me, `button[aria-label='Enable endpoint ${id}']`);
  seen.enabled = (await me.textContent(`table#webhooks tr[data-id='${id}'] .badge`)).trim();
  await submit(me, `button[aria-label='Send a test event to endpoint ${id}']`);
  seen.tested = (await me.textContent(".notice")).trim();
  seen.deliveries = await me.$$eval("table#webhook-deliveries tbody tr[data-id]", (rs) => rs.map((r) => [...r.querySelectorAll("td")].slice(1, 4).map((c) => c.textContent.trim())));
  seen.secretGone = !(await me.content()).includes(seen.secret);
  await shot(me, "partner-webhooks");

  const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await context.storageState() }));
  await run.go(phone, phone.goto(`${base}/partner/webhooks`));
  seen.phone = await fits(phone);
  await shot(phone, "partner-webhooks-390");
});
