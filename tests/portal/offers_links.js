// Drives the managers' offers and links screens in headless Chromium (see
// test_offers_links_browser.py): an owner makes an offer (a refused field first), pauses
// and activates it, makes a link with sub-IDs and copies it; a tokenless generator; a
// phone; a manager's read-only offer and scoped links. Prints what it saw as JSON.
const [base, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);
const { watch, shot, api, fits } = run;

async function submit(page, selector) {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

run.main(async (browser, seen) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const owner = await watch(context);
  await run.signIn(owner, config.owner, config.password);
  await owner.click("nav.main a[href='/manage/offers']");
  await owner.waitForSelector("table#offers");
  seen.listBefore = await owner.$$eval("table#offers tbody tr[data-id] td:nth-child(2)", (cs) => cs.map((c) => c.textContent.trim()));
  await shot(owner, "manage-offers");

  // A new offer, with a payout the API refuses: the page again, the message beside it.
  await submit(owner, "#new-offer");
  await owner.fill("#f-name", "Boots");
  await owner.selectOption("#f-advertiser_id", String(config.advertiser));
  await owner.fill("#f-url", "https://boots.example/in?cid={click_id}&s1={sub1}");
  await owner.fill("#f-fallback_url", "https://boots.example/");
  await owner.selectOption("#f-currency", "EUR");
  await owner.selectOption("select[name='payout.type']", "percent");
  await owner.fill("input[name='payout.value']", "150");
  await owner.fill("input[name='goals.0.name']", "lead");
  await owner.fill("input[name='goals.0.revenue.value']", "1.00");
  await owner.fill("input[name='goals.0.payout.value']", "0.50");
  await owner.fill("input[name='caps.0.limit']", "1000");
  await owner.fill("input[name='payout_overrides.0.affiliate_id']", String(config.bob));
  await owner.fill("input[name='payout_overrides.0.value']", "4.20");
  run.expectErrors = true;
  await submit(owner, "#save");
  run.expectErrors = false;
  seen.refused = {
    alert: (await owner.textContent("#form-errors")).trim(),
    payout: (await owner.textContent("#e-payout-value")).trim(),
    invalid: await owner.getAttribute("input[name='payout.value']", "aria-invalid"),
    kept: await owner.inputValue("input[name='goals.0.name']"),
    errorVisible: await owner.isVisible("#e-payout-value"),
  };
  await owner.locator("#e-payout-value").scrollIntoViewIfNeeded();
  await shot(owner, "manage-offer-refused");
  await owner.selectOption("select[name='payout.type']", "fixed");
  await owner.fill("input[name='payout.value']", "3.40");
  await submit(owner, "#save");
  seen.createdUrl = owner.url();
  seen.notice = (await owner.textContent(".notice")).trim();
  const offerId = Number(new URL(owner.url()).pathname.split("/").pop());
  seen.offerId = offerId;
  seen.createdApi = await api(owner, `/api/v1/offers/${offerId}`);
  seen.changed = (await owner.textContent("#changed")).trim();
  await shot(owner, "manage-offer");

  await submit(owner, "button[aria-label='Pause Boots']");
  seen.paused = { badge: (await owner.textContent("h1 .badge")).trim(), api: (await api(owner, `/api/v1/offers/${offerId}`)).body.status };
  await submit(owner, "button[aria-label='Activate Boots']");
  seen.activated = { badge: (await owner.textContent("h1 .badge")).trim(), api: (await api(owner, `/api/v1/offers/${offerId}`)).body.status };
  await owner.click("a:text-is('All offers')");
  await owner.waitForSelector(`table#offers tr[data-id='${offerId}']`);
  seen.row = await owner.$eval(`table#offers tr[data-id='${offerId}']`, (r) => ({
    payout: r.querySelector(".payout").textContent.trim(),
    caps: r.querySelector(".caps").textContent.trim(),
    status: r.querySelector(".badge").textContent.trim(),
  }));

  // The link generator: Bob on Boots with sub-IDs; the URL shown and copied.
  await owner.click("nav.main a[href='/manage/links']");
  await owner.waitForSelector("#generate");
  await owner.selectOption("#g-affiliate", String(config.bob));
  await owner.selectOption("#g-offer", String(offerId));
  await owner.fill("#g-sub1", "spring sale");
  await owner.fill("#g-source", "{src}");
  await submit(owner, "#generate");
  seen.madePath = new URL(owner.url()).pathname;
  seen.made = await owner.inputValue("#made-url");
  seen.madeTitle = (await owner.textContent("#made-title")).trim();
  await owner.click("button[data-copy='made-url']");
  await owner.waitForFunction(() => document.getElementById("copy-status").textContent !== "");
  seen.copyStatus = await owner.textContent("#copy-status");
  seen.clipboard = await owner.evaluate(() => navigator.clipboard.readText());
  seen.links = await owner.$$eval("table#links tbody tr[data-id]", (rows) => rows.map((r) => Number(r.dataset.id)));
  seen.linksApi = await api(owner, "/api/v1/links");
  await shot(owner, "manage-links");

  // The generator without its token: refused.
  run.expectErrors = true;
  await owner.evaluate(() => document.querySelector("form.generator input[name='csrf_token']").remove());
  const [refusal] = await Promise.all([
    owner.waitForResponse((r) => r.request().method() === "POST" && r.url().endsWith("/manage/links")),
    owner.click("#generate"),
  ]);
  await owner.waitForLoadState("load");
  seen.csrf = { status: refusal.status(), text: await owner.textContent("main") };
  run.expectErrors = false;

  // On a phone: nothing spills off the page; wide tables scroll inside their boxes.
  const phone = await watch(await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }));
  await run.signIn(phone, config.owner, config.password);
  for (const [name, path] of [["phoneOffers", "/manage/offers"], ["phoneOffer", `/manage/offers/${offerId}`], ["phoneLinks", `${seen.madePath}?sub1=spring%20sale`]]) {
    await phone.goto(`${base}${path}`);
    seen[name] = await fits(phone);
    await shot(phone, { phoneOffers: "manage-offers-390", phoneOffer: "manage-offer-390", phoneLinks: "manage-links-390" }[name]);
  }

  // A manager: the offer to read, nothing to change; Alice's links only.
  const manager = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await run.signIn(manager, config.manager, config.password);
  await manager.goto(`${base}/manage/offers/${offerId}`);
  seen.managerOffer = await manager.evaluate(() => ({
    disabled: document.querySelector("fieldset.whole").disabled,
    editable: [...document.querySelectorAll("#offer-form input:not([type=hidden]), #offer-form select")].filter((e) => !e.matches(":disabled")).length,
    save: !!document.getElementById("save"),
    pause: !!document.querySelector("button[aria-label='Pause Boots']"),
    overrides: [...document.querySelectorAll("input[name$='.affiliate_id']")].map((i) => i.value),
    text: document.querySelector("main").textContent,
  }));
  await shot(manager, "manager-offer");
  await manager.click("nav.main a[href='/manage/links']");
  await manager.waitForSelector("table#links");
  seen.managerLinks = await manager.$$eval("table#links tbody tr[data-id]", (rows) => rows.map((r) => Number(r.dataset.id)));
  seen.managerChoices = await manager.$$eval("#g-affiliate option", (os) => os.map((o) => o.value).filter(Boolean));
  await shot(manager, "manager-links");
});
