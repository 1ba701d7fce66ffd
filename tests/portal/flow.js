// The whole relationship in headless Chromium, one phase per run (see
// test_flow_browser.py, which plays the advertiser's server between phases):
//   apply:   a visitor applies at /join; the owner approves them from the queue;
//   link:    the new affiliate opens the invite link, chooses a password, makes a link;
//   convert: the affiliate sees the pending conversion, the owner approves it, and the
//            affiliate sees it approved.
// Prints what a person saw as JSON; screenshots go to SCREENSHOT_DIR.
const [base, phase, configText] = process.argv.slice(2);
const config = JSON.parse(configText);
const run = require("./watched.js")(base, process.env.SCREENSHOT_DIR);
const { watch, shot, go } = run;

async function row(page, id) {
  const cells = await page.$$eval(`tr[data-id='${id}'] td`, (tds) => tds.map((td) => td.textContent.trim()));
  return cells;
}

const phases = {
  async apply(browser, seen) {
    const visitor = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await visitor.goto(`${base}/`);
    await go(visitor, visitor.click("#to-join"));
    await shot(visitor, "join");
    await visitor.fill("#j-name", config.name);
    await visitor.fill("#j-email", config.email);
    await visitor.fill("#j-website", "https://nora.example");
    await visitor.fill("#j-sources", "A newsletter on running shoes");
    await go(visitor, visitor.click("#join"));
    seen.sent = (await visitor.textContent("#join-sent")).trim();
    await shot(visitor, "flow-applied");

    const owner = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(owner, config.owner, config.password);
    await go(owner, owner.click("nav.main a[href='/manage/affiliates']"));
    seen.queue = await owner.$$eval("table#queue tbody tr[data-id] td:nth-child(2)", (cs) => cs.map((c) => c.textContent.trim()));
    await go(owner, owner.click(`button[aria-label='Approve ${config.name}']`));
    seen.notice = (await owner.textContent(".notice")).trim();
    seen.queueAfter = await owner.$$eval("table#queue tbody tr[data-id]", (rs) => rs.length);
    await shot(owner, "flow-approved");
  },

  async link(browser, seen) {
    const affiliate = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await affiliate.goto(`${base}${config.invite}`);
    await affiliate.fill("#password", config.password);
    await affiliate.fill("#confirm", config.password);
    await go(affiliate, affiliate.click("#set-password"));
    seen.home = new URL(affiliate.url()).pathname;
    await go(affiliate, affiliate.click("nav.main a[href='/partner/links']"));
    await affiliate.selectOption("#g-offer", String(config.offer));
    await affiliate.fill("#g-sub1", "spring");
    await go(affiliate, affiliate.click("#generate"));
    seen.url = await affiliate.inputValue("#made-url");
    await shot(affiliate, "flow-link");
  },

  async convert(browser, seen) {
    const affiliate = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(affiliate, config.email, config.password);
    await go(affiliate, affiliate.click("nav.main a[href='/partner/conversions']"));
    seen.partnerBefore = await row(affiliate, config.conversion);
    await shot(affiliate, "flow-partner-pending");

    const owner = await watch(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
    await run.signIn(owner, config.owner, config.password);
    await go(owner, owner.click("nav.main a[href='/manage/conversions']"));
    seen.ownerBefore = await row(owner, config.conversion);
    await go(owner, owner.click(`button[aria-label='Approve conversion ${config.conversion}']`));
    seen.ownerAfter = await row(owner, config.conversion);
    await shot(owner, "flow-owner-approved");

    await go(affiliate, affiliate.reload());
    seen.partnerAfter = await row(affiliate, config.conversion);
    await go(affiliate, affiliate.click("nav.main a[href='/partner']"));
    seen.today = await affiliate.$$eval("section[data-period='today'] .value[data-metric]", (vs) =>
      vs.map((v) => [v.dataset.metric, v.dataset.value, v.dataset.currency || null, v.textContent.trim()]));
    await shot(affiliate, "flow-partner-approved");
  },
};

run.main((browser, seen) => phases[phase](browser, seen));
