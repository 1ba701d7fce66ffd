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
    const landing = { url: page.url(), cookie: await page.evaluate(() => document.cookie) };
    const pixel = page.waitForResponse((r) => r.url().includes("/pixel.gif"));
    await page.goto(thanksUrl, { waitUntil: "load" });
    const response = await pixel;
    const request = response.request();
    const result = {
      landing,
      pixelUrl: response.url(),
      pixelStatus: response.status(),
      pixelType: response.headers()["content-type"],
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
