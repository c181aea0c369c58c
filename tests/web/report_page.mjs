// Drives the report page at BASE_URL in Debian's headless Chromium and checks what a
// person would: the domain table and its counts, sorting by a header, the CSV download,
// the chart's two series, an error shown in the page; then keeps a full-page screenshot.
//
//   node tests/web/report_page.mjs BASE_URL ARTEFACT_DIR
//
// REPORT_PAGE_EXPECT (JSON) says what the daemon was sent:
//   {"domains": {"a.example": {"new_connections": 1, "messages": 2}, ...},
//    "users": {"c.example": ["carol@c.example"]},     (optional: drill-down check)
//    "outbound": {"local.example": {...}, ...}}         (optional: sessions of an outbound
//                                                       listener named "out"; "domains" are then
//                                                       the inbound ones, and the switch
//                                                       "SMTP In / Out sessions" is checked)
// Run by tests/integration/test_report_page.py; exits non-zero with a reason on failure.
import { launchChromium } from "./browser.mjs";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const [base, artefactDir] = process.argv.slice(2);
if (!base || !artefactDir) {
  console.error("usage: node report_page.mjs BASE_URL ARTEFACT_DIR");
  process.exit(2);
}
const expected = JSON.parse(process.env.REPORT_PAGE_EXPECT || "{}");
assert.ok(expected.domains && Object.keys(expected.domains).length >= 2, "REPORT_PAGE_EXPECT needs two or more domains");
// Sanitizer builds run the daemon 2-3x slower; waits are generous either way.
const TIMEOUT = Number(process.env.REPORT_PAGE_TIMEOUT_MS || 30000);
fs.mkdirSync(artefactDir, { recursive: true });

const step = (what) => console.log(`- ${what}`);

// Reads the report table as [{column: value}], numbers from data-value (exact bytes too).
async function readTable(page) {
  return page.$$eval("#report", ([table]) => {
    const columns = [...table.tHead.querySelectorAll("th")].map((th) => th.dataset.column);
    return [...table.tBodies[0].rows].map((tr) =>
      Object.fromEntries([...tr.cells].map((td, i) => [columns[i], td.dataset.value !== undefined ? Number(td.dataset.value) : td.textContent.trim()])));
  });
}

async function headerState(page, column) {
  const th = page.locator(`#report th[data-column="${column}"]`);
  return { sort: await th.getAttribute("aria-sort"), arrow: (await th.locator(".arrow").textContent()).trim() };
}

function totalsByDomain(rows) {
  const out = {};
  for (const r of rows) {
    const t = (out[r.domain] ??= { new_connections: 0, messages: 0 });
    t.new_connections += r.new_connections;
    t.messages += r.messages;
  }
  return out;
}

function assertOrdered(values, order, what) {
  for (let i = 1; i < values.length; i++) {
    const ok = order === "asc" ? values[i - 1] <= values[i] : values[i - 1] >= values[i];
    assert.ok(ok, `${what} not ${order}ending: ${JSON.stringify(values)}`);
  }
}

// RFC 4180 is simple enough for the fields this report holds; quoted fields included.
function parseCsv(text) {
  assert.ok(text.endsWith("\r\n"), "CSV lines must end in CRLF");
  const rows = [];
  for (const line of text.slice(0, -2).split("\r\n")) {
    const fields = [];
    const re = /("((?:[^"]|"")*)"|[^,]*)(,|$)/gy;
    let m;
    while ((m = re.exec(line)) !== null) {
      fields.push(m[2] !== undefined ? m[2].replace(/""/g, '"') : m[1]);
      if (m[3] === "") break;
    }
    rows.push(fields);
  }
  return rows;
}

const browser = await launchChromium(TIMEOUT * 2);
const problems = [];
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    // A 400 from /report shows in the console as a failed load: that one is expected.
    if (m.type() === "error" && !/status of 400/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request to another origin: ${r.url()}`);
  });

  step("GET / loads the page with its defaults");
  const response = await page.goto(`${base}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()["content-type"], /^text\/html/);
  assert.match(response.headers()["content-security-policy"] || "", /default-src 'none'/);
  await page.waitForSelector("#report th[data-column='period']");
  const zone = await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  assert.equal(await page.inputValue("#tz"), zone, "tz defaults to the browser's zone");
  assert.equal(await page.inputValue("#mode"), "trend");
  // Accessible names: every control has a label.
  for (const id of ["from", "to", "step", "mode", "domain", "tz", "top"])
    assert.ok(await page.locator(`label[for="${id}"]`).count() === 1, `label for #${id}`);

  step("range yesterday..today, mode domain");
  const today = await page.evaluate((tz) => {
    const p = new Intl.DateTimeFormat("en-US", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date());
    const g = (t) => p.find((x) => x.type === t).value;
    return `${g("year")}-${g("month")}-${g("day")}`;
  }, zone);
  const yesterday = new Date(Date.parse(`${today}T00:00:00Z`) - 86400000).toISOString().slice(0, 10);
  await page.fill("#from", yesterday);
  await page.fill("#to", today);
  await page.selectOption("#step", "day");
  await page.selectOption("#mode", "domain");
  if (expected.outbound) {
    assert.equal(await page.isChecked("input[name=direction][value=both]"), true, "both directions by default");
    await page.check("input[name=direction][value=in]");
    await page.waitForFunction(() => /SMTP In Sessions/.test(document.querySelector("h1").textContent));
  }
  await page.click("button[type=submit]");
  await page.waitForSelector("#report th[data-column='domain']");
  const domains = Object.keys(expected.domains);
  await page.waitForFunction((n) => new Set([...document.querySelectorAll("#report tbody tr td:nth-child(2)")].map((td) => td.textContent)).size === n, domains.length);
  let rows = await readTable(page);
  assert.deepEqual(totalsByDomain(rows), expected.domains, "per-domain totals in the table");
  assert.match(await page.textContent("#status"), new RegExp(`${yesterday} to ${today}`));
  const defaultOrder = rows.map((r) => r.domain);
  assert.deepEqual(await headerState(page, "period"), { sort: "ascending", arrow: "▲" });

  step("a click on Messages sorts by messages, descending; a second click ascending");
  await page.click("#report th[data-column='messages'] button");
  await page.waitForSelector("#report th[data-column='messages'][aria-sort='descending']");
  rows = await readTable(page);
  assertOrdered(rows.map((r) => r.messages), "desc", "messages");
  assert.notDeepEqual(rows.map((r) => r.domain), defaultOrder, "sorting by messages changed the row order");
  assert.deepEqual(await headerState(page, "messages"), { sort: "descending", arrow: "▼" });
  assert.deepEqual(await headerState(page, "period"), { sort: "none", arrow: "" });
  const descOrder = rows.map((r) => r.domain);
  await page.click("#report th[data-column='messages'] button");
  await page.waitForSelector("#report th[data-column='messages'][aria-sort='ascending']");
  rows = await readTable(page);
  assertOrdered(rows.map((r) => r.messages), "asc", "messages");
  assert.deepEqual(await headerState(page, "messages"), { sort: "ascending", arrow: "▲" });
  assert.notDeepEqual(rows.map((r) => r.domain), descOrder);
  assert.match(page.url(), /[?&]sort=messages&order=asc/, "the query is kept in the address bar");

  step("Download CSV: same query, format=csv, starting with a UTF-8 BOM");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#csv")]);
  assert.match(download.suggestedFilename(), new RegExp(`^smtp-sensor-report-${yesterday}-${today}-day-domain\\.csv$`));
  const csvPath = path.join(artefactDir, "report-page.csv");
  await download.saveAs(csvPath);
  const csvBytes = fs.readFileSync(csvPath);
  assert.deepEqual([...csvBytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "the download starts with a UTF-8 BOM (for Excel)");
  const csv = parseCsv(csvBytes.subarray(3).toString("utf8"));
  assert.deepEqual(csv[0], ["period", "domain", "new_connections", "blocked_connections", "bad_commands", "terminations",
    "bandwidth_bytes", "messages", "connections_per_message"]);
  assert.equal(csv.length - 1, rows.length, "as many CSV rows as table rows");
  const csvTotals = totalsByDomain(csv.slice(1).map((f) => ({ domain: f[1], new_connections: Number(f[2]), messages: Number(f[7]) })));
  assert.deepEqual(csvTotals, expected.domains, "per-domain totals in the CSV");
  assertOrdered(csv.slice(1).map((f) => Number(f[7])), "asc", "CSV messages");
  for (const f of csv.slice(1)) {
    assert.equal(f.length, 9);
    assert.match(f[0], /^\d{4}-\d\d-\d\d$/);
    assert.equal(Number(f[6]), rows.find((r) => r.period === f[0] && r.domain === f[1]).bandwidth_bytes, "exact bytes in CSV");
    assert.match(f[8], /^(\d+\.\d\d)?$/, "connections_per_message with 2 decimals");
  }

  step("chart: two series with a point per day");
  await page.waitForSelector("#chart svg g.series[data-series='messages'] polyline");
  const chart = await page.$$eval("#chart svg g.series[data-series]", (groups) => groups.map((g) => ({
    key: g.dataset.series,
    points: g.querySelector("polyline").getAttribute("points").trim().split(/\s+/).length,
    values: [...g.querySelectorAll("circle title")].map((t) => Number(/: (\d+) /.exec(t.textContent)[1])),
  })));
  assert.deepEqual(chart.map((s) => s.key), ["new_connections", "messages"]);
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  for (const s of chart) {
    assert.equal(s.points, 2, `${s.key}: one point for each of the two days`);
    assert.equal(sum(s.values), sum(Object.values(expected.domains).map((d) => d[s.key])), `${s.key}: chart total`);
  }
  assert.equal(await page.locator("#chart svg .legend text").count(), 2, "legend names both series");
  assert.ok(await page.locator("#chart svg .axes text").count() >= 4, "axes have ticks");

  const shot = path.join(artefactDir, "report-page.png");
  await page.screenshot({ path: shot, fullPage: true });
  step(`screenshot: ${shot}`);

  if (expected.users) {
    step("drill-down: a domain's button shows its users");
    const [domain, users] = Object.entries(expected.users)[0];
    await page.click(`#report tbody button.link:text-is("${domain}")`);
    await page.waitForSelector("#report th[data-column='user']");
    assert.equal(await page.inputValue("#domain"), domain);
    assert.equal(await page.inputValue("#mode"), "user");
    await page.waitForFunction((n) => document.querySelectorAll("#report tbody tr").length >= n, users.length);
    rows = await readTable(page);
    assert.deepEqual([...new Set(rows.map((r) => r.user))].sort(), [...users].sort());
  }

  step("picking the quarter step widens the range to whole quarters");
  await page.selectOption("#step", "quarter");
  const quarterStart = (d) => `${d.slice(0, 4)}-${String(Math.floor((Number(d.slice(5, 7)) - 1) / 3) * 3 + 1).padStart(2, "0")}-01`;
  assert.equal(await page.inputValue("#from"), quarterStart(yesterday));
  const qEnd = new Date(Date.UTC(Number(today.slice(0, 4)), Math.floor((Number(today.slice(5, 7)) - 1) / 3) * 3 + 3, 0)).toISOString().slice(0, 10);
  assert.equal(await page.inputValue("#to"), qEnd);
  await page.waitForFunction(() => /by quarter/.test(document.querySelector("#status").textContent));
  assert.equal(await page.isVisible("#error"), false, "a whole-quarter range is accepted");

  step("an error from /report is shown in the page");
  assert.equal(await page.isVisible("#error"), false);
  await page.fill("#tz", "Not/A_Zone");
  await page.click("button[type=submit]");
  await page.waitForSelector("#error:not([hidden])");
  const message = (await page.textContent("#error")).trim();
  assert.match(message, /Not\/A_Zone|zone|tz/i, `the server's reason is shown: ${message}`);
  assert.equal(await page.locator("#report tbody tr").count(), 0, "no stale rows under an error");
  await page.fill("#tz", zone);
  await page.click("button[type=submit]");
  await page.waitForSelector("#error", { state: "hidden" });

  if (expected.outbound) {
    step("the switch: SMTP Out sessions, both, and one listener");
    const domainTotals = async (want) => {
      await page.waitForFunction((keys) => {
        const seen = [...document.querySelectorAll("#report tbody tr td:nth-child(2)")].map((td) => td.textContent);
        return document.querySelector("#report th[data-column='domain']") && seen.length > 0 &&
          [...new Set(seen)].sort().join() === keys.join();
      }, Object.keys(want).sort());
      assert.deepEqual(totalsByDomain(await readTable(page)), want);
    };
    await page.fill("#domain", "");
    await page.fill("#from", yesterday);
    await page.fill("#to", today);
    await page.selectOption("#step", "day");
    await page.selectOption("#mode", "domain");
    await page.check("input[name=direction][value=out]");
    await domainTotals(expected.outbound);
    assert.equal((await page.textContent("h1")).trim(), "smtp-sensor: SMTP Out Sessions");
    assert.match(page.url(), /[?&]direction=out(&|$)/, "the switch is kept in the address bar");
    await page.screenshot({ path: path.join(artefactDir, "report-page-out.png"), fullPage: true });
    await page.check("input[name=direction][value=both]");
    await domainTotals({ ...expected.domains, ...expected.outbound });
    assert.equal((await page.textContent("h1")).trim(), "smtp-sensor: SMTP Sessions");
    await page.fill("#listener", "out");
    await page.dispatchEvent("#listener", "change");
    await domainTotals(expected.outbound);
    assert.match(page.url(), /[?&]listener=out(&|$)/);
    await page.fill("#listener", "");
    await page.dispatchEvent("#listener", "change");
    await domainTotals({ ...expected.domains, ...expected.outbound });
  }

  assert.deepEqual(problems, [], "no script errors, blocked loads or remote requests");
  console.log(JSON.stringify({ ok: true, screenshot: shot, csv: csvPath, rows: rows.length }));
} finally {
  await browser.close();
}
