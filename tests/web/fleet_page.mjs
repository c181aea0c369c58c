// The report page of a sensor with a fleet (SPEC 10), in Debian's headless Chromium: the
// "Sessions of" switch and mode "By sensor" appear (they are hidden on a lone sensor),
// and "Whole fleet" by sensor shows each sensor's sessions, and the sensor field narrows it.
//
//   node tests/web/fleet_page.mjs BASE_URL
//
// FLEET_PAGE_EXPECT (JSON): {"mx1": sessions, "mx2": sessions}. Run by
// tests/integration/test_fleet_report.py; exits non-zero with a reason on failure.
import { launchChromium } from "./browser.mjs";
import assert from "node:assert/strict";

const [base] = process.argv.slice(2);
const expected = JSON.parse(process.env.FLEET_PAGE_EXPECT || "{}");
const TIMEOUT = Number(process.env.REPORT_PAGE_TIMEOUT_MS || 30000);

// Each sensor's new_connections summed over the periods of the table.
async function bySensor(page) {
  return page.$$eval("#report", ([table]) => {
    const columns = [...table.tHead.querySelectorAll("th")].map((th) => th.dataset.column);
    const out = {};
    for (const tr of table.tBodies[0].rows) {
      const cells = Object.fromEntries([...tr.cells].map((td, i) => [columns[i], td.dataset.value ?? td.textContent.trim()]));
      out[cells.sensor] = (out[cells.sensor] ?? 0) + Number(cells.new_connections);
    }
    return out;
  });
}

const browser = await launchChromium(TIMEOUT * 2);
const problems = [];
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  await page.goto(`${base}/`);
  console.log("- the fleet switch shows once /report answers with X-Fleet");
  await page.waitForSelector("#fleet", { state: "visible" });
  // An <option> is never "visible" to Playwright: its hidden attribute is what the page sets.
  assert.equal(await page.$eval("#mode option[value='sensor']", (o) => o.hidden), false);

  console.log("- whole fleet, by sensor: every sensor with its sessions");
  await page.selectOption("#fleet", "1");
  await page.selectOption("#mode", "sensor");
  await page.waitForSelector("#report th[data-column='sensor']");
  await page.waitForFunction((n) => new Set([...document.querySelectorAll("#report tbody tr td:nth-child(2)")]
    .map((td) => td.textContent)).size === n, Object.keys(expected).length);
  assert.deepEqual(await bySensor(page), expected);
  assert.match(page.url(), /fleet=1/);

  console.log("- the sensor field narrows the fleet");
  const [one] = Object.keys(expected);
  await page.fill("#sensor", one);
  await page.press("#sensor", "Enter");
  await page.waitForFunction(() => new Set([...document.querySelectorAll("#report tbody tr td:nth-child(2)")]
    .map((td) => td.textContent)).size === 1);
  assert.deepEqual(await bySensor(page), { [one]: expected[one] });
  assert.deepEqual(problems, []);
  console.log("ok");
} finally {
  await browser.close();
}
