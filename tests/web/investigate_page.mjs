// Drives the Xeams walk in the report page at BASE_URL in Debian's headless Chromium:
// a click on a chart period shows its top client IPs, a click on an IP its sessions, a
// click on an LCID the conversation; back walks back; the live view shows an open
// session, a flagged IP and an alert that leads to its session. Screenshots are kept.
//
//   node tests/web/investigate_page.mjs BASE_URL ARTEFACT_DIR
//
// INVESTIGATE_EXPECT (JSON): {"day": "YYYY-MM-DD" (UTC), "ip": probing IP, "sessions": N,
//                             "open_ip": IP of a session held open,
//                             "hostile_helo": markup an open session gave as its HELO,
//                             "hostile_request": markup a non_smtp alert quotes,
//                             "blocked_ip": IP blocked by hand, "block_reason": its reason (markup)}
// Run by tests/integration/test_investigate_page.py; exits non-zero with a reason on failure.
import { launchChromium } from "./browser.mjs";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const [base, artefactDir] = process.argv.slice(2);
if (!base || !artefactDir) {
  console.error("usage: node investigate_page.mjs BASE_URL ARTEFACT_DIR");
  process.exit(2);
}
const expected = JSON.parse(process.env.INVESTIGATE_EXPECT || "{}");
const TIMEOUT = Number(process.env.REPORT_PAGE_TIMEOUT_MS || 30000);
fs.mkdirSync(artefactDir, { recursive: true });
const step = (what) => console.log(`- ${what}`);

const browser = await launchChromium(TIMEOUT * 2);
const problems = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
  });
  page.on("dialog", (d) => {
    problems.push(`a dialog opened: ${d.message()}`);
    d.dismiss();
  });
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request to another origin: ${r.url()}`);
  });

  step("the page over 7 days in UTC; the chart labels every day, the middle one included");
  await page.goto(`${base}/?tz=UTC&to=${expected.day}`);
  await page.waitForSelector(".chart-svg .band");
  const ticks = await page.$$eval(".chart-svg .axes text", (ts) => ts.map((t) => t.textContent).filter((t) => /^\d{4}-\d\d-\d\d$/.test(t)));
  assert.equal(ticks.length, 7, `7 day labels on the x axis: ${JSON.stringify(ticks)}`);

  step("a click on the chart's period shows its top client IPs");
  await page.click(`.chart-svg .band[data-period="${expected.day}"]`);
  await page.waitForFunction(() => location.hash.includes("period="));
  const ipLink = page.locator("#investigate a", { hasText: expected.ip });
  await ipLink.waitFor();
  const row = await ipLink.locator("xpath=ancestor::tr").locator("td").allTextContents();
  assert.equal(Number(row[1]), expected.sessions, `connections of ${expected.ip}: ${row}`);
  assert.equal(Number(row[2]), 0, "no messages");
  assert.ok(Number(row[3]) >= expected.sessions, `bad commands: ${row}`);
  assert.equal(Number(row[4]), expected.sessions, `AUTH failures (each session's AUTH was not offered): ${row}`);

  step("a click on the IP shows its sessions in that period");
  await ipLink.click();
  await page.waitForFunction(() => location.hash.includes("ip="));
  await page.waitForSelector("#investigate table tbody tr");
  const sessions = await page.$$eval("#investigate table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(sessions.length, expected.sessions);
  assert.ok(sessions.every((s) => s[5] === "fxdce" && s[7] === "unadvertised" && s[10] === "client_abort"), JSON.stringify(sessions[0]));
  const oldest = sessions[sessions.length - 1][0];
  await page.screenshot({ path: path.join(artefactDir, "investigate-ip.png"), fullPage: true });

  step("a click on an LCID shows the conversation, with the AUTH line and the 500");
  await page.locator("#investigate a", { hasText: new RegExp(`^${oldest}$`) }).click();
  await page.waitForSelector("#transcript");
  const conversation = await page.textContent("#transcript");
  assert.match(conversation, /C --> helo fxdce/);
  assert.match(conversation, /C --> auth login/);
  assert.match(conversation, /S <-- 500 Syntax error/);
  assert.match(conversation, /Connection Terminated \(client_abort\)/);
  assert.ok(await page.locator("#transcript .reply-error").count() >= 1, "the 500 is marked");
  await page.screenshot({ path: path.join(artefactDir, "investigate-transcript.png"), fullPage: true });

  step("back walks back to the IP's sessions, and to the period");
  await page.goBack();
  await page.waitForFunction(() => !location.hash.includes("lcid=") && location.hash.includes("ip="));
  await page.waitForSelector("#investigate table tbody tr");
  await page.goBack();
  await page.waitForFunction(() => !location.hash.includes("ip=") && location.hash.includes("period="));
  await page.locator("#investigate a", { hasText: expected.ip }).waitFor();

  step("a link opens the same step directly");
  const direct = await context.newPage();
  await direct.goto(`${base}/?tz=UTC#${new URLSearchParams({ period: expected.day, ip: expected.ip, lcid: oldest })}`);
  await direct.waitForSelector("#transcript");
  assert.match(await direct.textContent("#transcript"), /C --> auth login/);
  await direct.close();

  step("the live view: an open session, a flagged IP and the alert, refreshed");
  await page.click("#live-link");
  await page.waitForFunction((ip) => document.querySelector("#investigate")?.textContent.includes(`${ip}:`), expected.open_ip);
  const live = await page.textContent("#investigate");
  assert.match(live, /Flagged IPs \(\d+\)/);
  assert.ok(live.includes(expected.ip), "the flagged IP is listed");
  assert.ok(live.includes("auth_unadvertised"), "its detector is named");

  step("the flagged table tells the manual block from the detector's flag: Action, Reason, Expires");
  const flaggedRows = await page.evaluate(() => {
    const heading = [...document.querySelectorAll("#investigate h3")].find((h) => h.textContent.startsWith("Flagged IPs"));
    const t = heading.nextElementSibling.querySelector("table");
    const labels = [...t.tHead.rows[0].cells].map((c) => c.textContent);
    return { labels, rows: [...t.tBodies[0].rows].map((tr) => Object.fromEntries([...tr.cells].map((c, i) => [labels[i], c.textContent]))) };
  });
  assert.deepEqual(flaggedRows.labels, ["IP", "Action", "Detector", "Reason", "Count", "Since", "Expires"]);
  const byIp = Object.fromEntries(flaggedRows.rows.map((r) => [r.IP, r]));
  const manual = byIp[expected.blocked_ip];
  assert.ok(manual, `the manual block is listed: ${JSON.stringify(flaggedRows.rows)}`);
  assert.equal(manual.Action, "block");
  assert.equal(manual.Detector, "manual");
  assert.equal(manual.Reason, expected.block_reason, "the reason, markup as text");
  assert.match(manual.Expires, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  const detected = byIp[expected.ip];
  assert.equal(detected.Action, "flag");
  assert.equal(detected.Detector, "auth_unadvertised");
  assert.equal(detected.Reason, "–", "a detector's flag has no reason");
  assert.equal(await page.locator("#investigate b").count(), 0, "no element made of the reason");

  const before = await page.evaluate(() => performance.getEntriesByType("resource").filter((e) => e.name.includes("/sessions")).length);
  await page.waitForTimeout(2500);
  const after = await page.evaluate(() => performance.getEntriesByType("resource").filter((e) => e.name.includes("/sessions")).length);
  assert.ok(after > before, "refreshed every 2 s");
  await page.screenshot({ path: path.join(artefactDir, "investigate-live.png"), fullPage: true });

  step("peer text is text: a HELO and an alert's detail that are markup show as they came, and run nothing");
  await page.waitForFunction((h) => document.querySelector("#investigate")?.textContent.includes(h), expected.hostile_helo);
  assert.ok((await page.textContent("#investigate")).includes(expected.hostile_request), "the non_smtp alert quotes the request");
  const injected = await page.evaluate(() => document.querySelectorAll("[onload], [onerror], #investigate img").length);
  assert.equal(injected, 0, "no element made of peer text");

  step("an alert's session link shows that conversation");
  const alertRow = page.locator("#investigate tr", { hasText: "auth_unadvertised" }).filter({ has: page.locator("a") }).last();
  await alertRow.locator("td:nth-child(6) a").click();
  await page.waitForSelector("#transcript");
  assert.match(await page.textContent("#transcript"), /!!!!!!!!!!!! alert auth_unadvertised/);

  assert.deepEqual(problems, [], "no script errors, blocked loads or remote requests");
  console.log(JSON.stringify({ ok: true }));
} finally {
  await browser.close();
}
