// Drives headless Chromium through a tracking link, the advertiser's landing page and its
// thank-you page (see test_pixel.py). Prints what it saw as JSON on stdout.
const { chromium } = require("playwright-core");

async function main() {
  const [trackingUrl, thanksUrl] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    const page = await browser.newPage();
    await page.goto(trackingUrl, { waitUntil: "load" });
    await page.waitForFunction(() => window.tracker && window.tracker.clickId());
    const landing = {
      url: page.url(),
      cookie: await page.evaluate(() => document.cookie),
      // What the visitor sees: the advertiser's page, not an error or a blank one.
      text: await page.innerText("body"),
    };
    const pixel = page.waitForResponse((r) => r.url().includes("/pixel.gif"));
    await page.goto(thanksUrl, { waitUntil: "load" });
    const response = await pixel;
    const request = response.request();
    const result = {
      landing,
      pixelUrl: response.url(),
      pixelStatus: response.status(),
      pixelType: response.headers()["content-type"],
      // A browser only takes a pixel it can decode: a real GIF of 1x1 (its header says).
      pixelHeader: (await response.body()).subarray(0, 6).toString("latin1"),
      pixelSize: [(await response.body()).readUInt16LE(6), (await response.body()).readUInt16LE(8)],
      thanksText: await page.innerText("body"),
      // Whether the tracker's own (third-party here) cookie went along with the pixel.
      pixelCookie: (await request.allHeaders())["cookie"] || null,
    };
    process.stdout.write(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
