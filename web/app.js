// The report page: keeps the query in the form and the address bar, asks GET /report for
// the table (json) and for the trend chart, and builds the CSV link from the same query.
import { drawChart } from "/ui/chart.js";
import { initInvestigate, investigatePeriod } from "/ui/investigate.js";

const LABELS = {
  period: "Period",
  key: "Key",
  domain: "Domain",
  user: "User",
  ip: "IP",
  new_connections: "New connections",
  blocked_connections: "Blocked",
  bad_commands: "Bad commands",
  terminations: "Terminations",
  bandwidth_bytes: "Bandwidth",
  messages: "Messages",
  connections_per_message: "Connections per message",
};
const KEY_COLUMNS = new Set(["period", "key", "domain", "user", "ip", "sensor"]);
// fleet and sensor (SPEC 10) are shown only when /report answers with X-Fleet: 1.
const FIELDS = ["direction", "from", "to", "step", "mode", "domain", "top", "tz", "fleet", "sensor"];
// The page's heading per direction, as SmarterMail names its two reports (SPEC 14).
const TITLES = { in: "SMTP In Sessions", out: "SMTP Out Sessions", both: "SMTP Sessions" };
// A year by hour and user can be a million rows: more than a browser can lay out, and more
// than anyone reads on screen. The CSV always has them all.
const MAX_RENDERED_ROWS = 2000;

const $ = (id) => document.getElementById(id);
const form = $("query");
const state = { sort: "period", order: "asc" };
let tableSeq = 0;
let chartSeq = 0;
// The queries being loaded: a repeat of one (a field's change, then submit) is dropped.
let tableQuery = null;
let chartQuery = null;

// ---------------------------------------------------------------- dates and zones

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

// Today's date in `zone` as YYYY-MM-DD, so the default range matches the server's days.
function todayIn(zone) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date());
  } catch {
    parts = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date());
  }
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

// Quarters must be whole: widen the range to the quarters it touches, as the server asks.
function snapToQuarters() {
  const from = form.elements.from.value;
  const to = form.elements.to.value;
  if (!/^\d{4}-\d\d-\d\d$/.test(from) || !/^\d{4}-\d\d-\d\d$/.test(to)) return;
  const start = (y, m) => `${y}-${String(Math.floor((m - 1) / 3) * 3 + 1).padStart(2, "0")}-01`;
  const [fy, fm] = from.split("-").map(Number);
  const [ty, tm] = to.split("-").map(Number);
  const lastMonth = Math.floor((tm - 1) / 3) * 3 + 3;
  form.elements.from.value = start(fy, fm);
  form.elements.to.value = new Date(Date.UTC(ty, lastMonth, 0)).toISOString().slice(0, 10);
}

function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------- query

function readForm() {
  const q = {};
  for (const f of FIELDS) q[f] = form.elements[f].value.trim();
  return q;
}

function params(extra = {}) {
  const q = readForm();
  const p = new URLSearchParams();
  for (const f of FIELDS) if (q[f] !== "") p.set(f, q[f]);
  // The header's listener filter narrows the report too (and the investigation below).
  const listener = $("listener").value.trim();
  if (listener) p.set("listener", listener);
  // A sensor name narrows the fleet only; this sensor's own report has no such filter.
  if (q.fleet === "") p.delete("sensor");
  p.set("sort", state.sort);
  p.set("order", state.order);
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) p.delete(k);
    else p.set(k, v);
  }
  return p;
}

function keyColumn(mode) {
  return { domain: "domain", user: "user", ip: "ip", sensor: "sensor" }[mode];
}

// Counters sort biggest first, names and periods alphabetically: what one looks for first.
function defaultOrder(column) {
  return KEY_COLUMNS.has(column) ? "asc" : "desc";
}

async function getJson(query) {
  const res = await fetch(`/report?${query}`, { headers: { Accept: "application/json" } });
  // The daemon has a fleet database: offer "this sensor / whole fleet" and mode sensor.
  if (res.headers.get("X-Fleet") === "1") for (const el of document.querySelectorAll(".fleet-only")) el.hidden = false;
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's error page, say): the status line below says enough.
  }
  if (!res.ok) {
    const why = body && typeof body.error === "string" ? body.error : `${res.status} ${res.statusText}`;
    throw new Error(why);
  }
  if (!body || !Array.isArray(body.columns) || !Array.isArray(body.rows)) throw new Error("unexpected answer from /report");
  return body;
}

// ---------------------------------------------------------------- errors and status

const errors = new Map();

function setError(source, message) {
  if (message) errors.set(source, message);
  else errors.delete(source);
  const box = $("error");
  const unique = [...new Set(errors.values())];
  box.hidden = unique.length === 0;
  box.textContent = unique.length ? `The report could not be built: ${unique.join("; ")}` : "";
}

// ---------------------------------------------------------------- table

function humanBytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

function cell(column, value) {
  const td = document.createElement("td");
  if (value === null || value === undefined) {
    td.textContent = "–";
    td.title = column === "connections_per_message" ? "no messages in this period" : "";
    td.className = "num empty";
    return td;
  }
  if (typeof value === "number") {
    td.className = "num";
    td.dataset.value = String(value);
    if (column === "bandwidth_bytes") {
      td.textContent = humanBytes(value);
      td.title = `${value} bytes`;
    } else if (column === "connections_per_message") {
      td.textContent = value.toFixed(2);
    } else {
      td.textContent = String(value);
    }
    return td;
  }
  td.textContent = String(value);
  return td;
}

function drillButton(domain) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "link";
  b.textContent = domain;
  b.setAttribute("aria-label", `${domain}: show its users`);
  b.addEventListener("click", () => {
    form.elements.domain.value = domain;
    form.elements.mode.value = "user";
    state.sort = "period";
    state.order = "asc";
    run();
  });
  return b;
}

function renderTable(report) {
  const table = $("report");
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.column : undefined;
  const head = document.createElement("tr");
  for (const column of report.columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.dataset.column = column;
    if (!KEY_COLUMNS.has(column)) th.className = "num";
    const active = column === report.sort || (column === keyColumn(report.mode) && report.sort === "key");
    th.setAttribute("aria-sort", active ? (report.order === "asc" ? "ascending" : "descending") : "none");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.column = column;
    button.append(LABELS[column] || column);
    const arrow = document.createElement("span");
    arrow.className = "arrow";
    arrow.setAttribute("aria-hidden", "true");
    arrow.textContent = active ? (report.order === "asc" ? "▲" : "▼") : "";
    button.append(arrow);
    button.addEventListener("click", () => sortBy(column));
    th.append(button);
    head.append(th);
  }
  table.tHead.replaceChildren(head);

  const body = document.createDocumentFragment();
  for (const row of report.rows.slice(0, MAX_RENDERED_ROWS)) {
    const tr = document.createElement("tr");
    row.forEach((value, i) => {
      const column = report.columns[i];
      if (column === "domain" && report.mode === "domain" && typeof value === "string") {
        const td = document.createElement("td");
        td.append(drillButton(value));
        tr.append(td);
      } else {
        tr.append(cell(column, value));
      }
    });
    // A row investigates its period (and its IP, in mode ip): the Xeams walk.
    const period = row[report.columns.indexOf("period")];
    const ip = report.mode === "ip" ? row[report.columns.indexOf("ip")] : null;
    if (typeof period === "string") {
      tr.className = "pick";
      tr.tabIndex = 0;
      tr.title = ip ? `${ip} in ${period}: its sessions` : `${period}: its top client IPs`;
      const go = () => {
        location.hash = new URLSearchParams(ip ? { period, ip } : { period }).toString();
      };
      tr.addEventListener("click", (e) => {
        if (!e.target.closest("button, a")) go();
      });
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target === tr) go();
      });
    }
    body.append(tr);
  }
  table.tBodies[0].replaceChildren(body);
  // Re-rendering replaced the header the user just activated; give the focus back.
  if (focused) table.tHead.querySelector(`button[data-column="${CSS.escape(focused)}"]`)?.focus();

  const what = report.domain ? ` for ${report.domain}` : "";
  const cut = report.rows.length > MAX_RENDERED_ROWS
    ? ` Showing the first ${MAX_RENDERED_ROWS}: set Top rows, or download the CSV for all of them.` : "";
  $("status").textContent = report.rows.length === 0
    ? `No sessions${what} from ${report.from} to ${report.to} (${report.tz}).`
    : `${report.rows.length} rows${what}, ${report.from} to ${report.to} by ${report.step} (${report.tz}).${cut}`;
}

function sortBy(column) {
  if (state.sort === column || (column === keyColumn(readForm().mode) && state.sort === "key")) {
    state.order = state.order === "asc" ? "desc" : "asc";
  } else {
    state.order = defaultOrder(column);
  }
  state.sort = column;
  run({ chart: false });
}

async function loadTable() {
  const query = params().toString();
  if (query === tableQuery) return;
  tableQuery = query;
  const seq = ++tableSeq;
  $("report").closest("section").setAttribute("aria-busy", "true");
  try {
    const report = await getJson(query);
    if (seq !== tableSeq) return;
    // The server settles defaults (and may normalise the sort), so the page follows it.
    state.sort = report.sort;
    state.order = report.order;
    renderTable(report);
    setError("table", null);
  } catch (e) {
    if (seq !== tableSeq) return;
    $("report").tHead.replaceChildren();
    $("report").tBodies[0].replaceChildren();
    $("status").textContent = "No report to show.";
    setError("table", e.message);
  } finally {
    if (seq === tableSeq) {
      tableQuery = null;
      $("report").closest("section").removeAttribute("aria-busy");
    }
  }
}

// ---------------------------------------------------------------- chart

async function loadChart() {
  // The chart follows range, step, zone and domain, not the table's mode, sort or top.
  const query = params({ mode: "trend", sort: "period", order: "asc", top: null }).toString();
  if (query === chartQuery) return;
  chartQuery = query;
  const seq = ++chartSeq;
  try {
    const report = await getJson(query);
    if (seq !== chartSeq) return;
    const col = (name) => report.columns.indexOf(name);
    const values = (name) => report.rows.map((r) => Number(r[col(name)]) || 0);
    const labels = report.rows.map((r) => String(r[col("period")]));
    const connections = values("new_connections");
    const messages = values("messages");
    drawChart($("chart"), labels, [
      { key: "new_connections", name: "New connections", values: connections, className: "series-connections" },
      { key: "messages", name: "Messages", values: messages, className: "series-messages" },
    ], (i) => investigatePeriod(labels[i]));
    const c = connections.reduce((a, b) => a + b, 0);
    const m = messages.reduce((a, b) => a + b, 0);
    const ratio = m > 0 ? `${(c / m).toFixed(2)} connections per message` : "no messages";
    $("chart-note").textContent = `${report.domain ? `${report.domain}: ` : ""}${c} new connections, ${m} messages: ${ratio}.`;
    setError("chart", null);
  } catch (e) {
    if (seq !== chartSeq) return;
    $("chart").replaceChildren();
    $("chart-note").textContent = "";
    setError("chart", e.message);
  } finally {
    if (seq === chartSeq) chartQuery = null;
  }
}

// ---------------------------------------------------------------- wiring

// A new sort only re-reads the table; anything else re-reads the chart too.
function run({ chart = true } = {}) {
  const title = TITLES[readForm().direction] || TITLES.both;
  $("title").textContent = `smtp-sensor: ${title}`;
  document.title = `smtp-sensor: ${title}`;
  history.replaceState(null, "", `?${params()}${location.hash}`);
  // The download starts with a UTF-8 BOM (bom=1), so Excel on Windows reads "jürgen" right.
  $("csv").href = `/report?${params({ format: "csv", bom: "1" })}`;
  loadTable();
  if (chart) loadChart();
}

function init() {
  const url = new URLSearchParams(location.search);
  const tz = url.get("tz") || browserZone();
  const to = url.get("to") || todayIn(tz);
  const defaults = { direction: "both", from: addDays(to, -6), to, step: "day", mode: "trend", domain: "", top: "", tz,
    fleet: "", sensor: "" };
  if (url.get("listener")) $("listener").value = url.get("listener");
  for (const f of FIELDS) form.elements[f].value = url.get(f) ?? defaults[f];
  if (url.get("sort")) state.sort = url.get("sort");
  state.order = url.get("order") || defaultOrder(state.sort);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    run();
  });
  // Pickers apply at once; text fields when they are left or Enter is pressed.
  form.addEventListener("change", (e) => {
    if (e.target.name === "step" && e.target.value === "quarter") snapToQuarters();
    // A new mode has other columns: a sort on the old key column would be an error.
    if (e.target.name === "mode" && !["period", "key"].includes(state.sort) && KEY_COLUMNS.has(state.sort)) {
      state.sort = "period";
      state.order = "asc";
    }
    run();
  });
  $("listener").addEventListener("change", () => run());
  run();
  initInvestigate();
}

init();
