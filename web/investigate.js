// The Xeams walk (SPEC section 13): a period -> its top client IPs -> one IP's sessions ->
// one conversation, and the live view. Each step is an address in the URL's hash
// (#period=..&ip=..&lcid=.. or #live), so the back button walks back and a link can be
// sent. Peer text only ever goes in with textContent.

const $ = (id) => document.getElementById(id);
const DAY = 86400000;
let liveTimer = null;
let seq = 0;

function node(tag, text, className) {
  const n = document.createElement(tag);
  if (text !== undefined && text !== null) n.textContent = String(text);
  if (className) n.className = className;
  return n;
}

function link(text, hash, label) {
  const a = node("a", text, "link");
  a.href = `#${hash}`;
  if (label) a.setAttribute("aria-label", label);
  return a;
}

async function fetchJson(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: the status says enough
  }
  if (!res.ok) throw new Error(body && typeof body.error === "string" ? body.error : `${res.status} ${res.statusText}`);
  return body;
}

function table(columns, rows) {
  const t = node("table");
  const head = node("tr");
  for (const c of columns) {
    const th = node("th", c.label, c.num ? "num" : "");
    th.scope = "col";
    head.append(th);
  }
  t.createTHead().append(head);
  const body = t.createTBody();
  for (const r of rows) {
    const tr = node("tr");
    for (const c of columns) {
      const td = node("td", null, c.num ? "num" : "");
      const v = c.value(r);
      if (v instanceof Node) td.append(v);
      else td.textContent = v === null || v === undefined ? "–" : String(v);
      tr.append(td);
    }
    body.append(tr);
  }
  const wrap = node("div", null, "table-wrap");
  wrap.append(t);
  return wrap;
}

const pad = (n) => String(n).padStart(2, "0");
const ymd = (ms) => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
};

// A period label (as the report writes it) and the page's step -> the report's and the
// history's ranges. Weeks, months and quarters are cut to the page's range, as the report's are.
export function periodRange(label, step, rangeFrom, rangeTo) {
  let m;
  if ((m = /^(\d{4}-\d\d-\d\d)T\d\d:\d\d/.exec(label))) {
    const start = Date.parse(label);
    return { reportFrom: m[1], reportTo: m[1], step: "hour", historyFrom: String(start), historyTo: String(start + 3600000) };
  }
  let first;
  let last;
  if (/^\d{4}-\d\d-\d\d$/.test(label)) {
    first = label;
    last = label;
  } else if ((m = /^(\d{4})-W(\d\d)$/.exec(label))) {
    const jan4 = Date.UTC(Number(m[1]), 0, 4);
    const monday = jan4 - ((new Date(jan4).getUTCDay() + 6) % 7) * DAY + (Number(m[2]) - 1) * 7 * DAY;
    first = ymd(monday);
    last = ymd(monday + 6 * DAY);
  } else if ((m = /^(\d{4})-(\d\d)$/.exec(label))) {
    first = `${label}-01`;
    last = ymd(Date.UTC(Number(m[1]), Number(m[2]), 0));
  } else if ((m = /^(\d{4})-Q(\d)$/.exec(label))) {
    const q = Number(m[2]);
    first = `${m[1]}-${pad(q * 3 - 2)}-01`;
    last = ymd(Date.UTC(Number(m[1]), q * 3, 0));
  } else {
    throw new Error(`not a period: ${label}`);
  }
  if (rangeFrom && first < rangeFrom) first = rangeFrom;
  if (rangeTo && last > rangeTo) last = rangeTo;
  return { reportFrom: first, reportTo: last, step, historyFrom: first, historyTo: last };
}

function pageQuery() {
  return new URLSearchParams(location.search);
}

function hashParams() {
  return new URLSearchParams(location.hash.slice(1));
}

function hashOf(entries) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(entries)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p.toString();
}

function listener() {
  return $("listener").value.trim();
}

// ---------------------------------------------------------------- steps

async function showPeriod(box, period) {
  const q = pageQuery();
  const r = periodRange(period, q.get("step") || "day", q.get("from"), q.get("to"));
  const tz = q.get("tz") || "";
  // The walk is by client IP: the sessions of inbound listeners. On "SMTP Out sessions"
  // the report's ip is the remote server (SPEC 14), listed without a walk into sessions,
  // which are kept by client.
  const out = q.get("direction") === "out";
  box.append(node("h3", `${out ? "Top remote servers" : "Top client IPs"}, ${period}`));
  const report = await fetchJson(`/report?${new URLSearchParams({
    from: r.reportFrom, to: r.reportTo, step: r.step, mode: "ip", sort: "new_connections", order: "desc", top: "50", tz,
    direction: out ? "out" : "in",
    ...(q.get("domain") ? { domain: q.get("domain") } : {}),
    ...(listener() ? { listener: listener() } : {}),
  })}`);
  const col = (name) => report.columns.indexOf(name);
  const rows = report.rows.filter((row) => String(row[col("period")]) === period);
  if (rows.length === 0) {
    box.append(node("p", "No sessions in this period.", "note"));
    return;
  }
  // The report's roll-ups do not count AUTH results; the store answers for these IPs.
  const failures = await fetchJson(`/sessions/auth_failures?${new URLSearchParams({
    ips: rows.map((row) => row[col("ip")]).join(","), from: r.historyFrom, to: r.historyTo, tz,
    ...(listener() ? { listener: listener() } : {}),
  })}`);
  box.append(table([
    { label: "IP", value: (row) => (out ? String(row[col("ip")])
      : link(row[col("ip")], hashOf({ period, ip: row[col("ip")] }), `${row[col("ip")]}: its sessions`)) },
    { label: "Connections", num: true, value: (row) => row[col("new_connections")] },
    { label: "Messages", num: true, value: (row) => row[col("messages")] },
    { label: "Bad commands", num: true, value: (row) => row[col("bad_commands")] },
    { label: "AUTH failures", num: true, value: (row) => failures[row[col("ip")]] ?? 0 },
    { label: "Terminations", num: true, value: (row) => row[col("terminations")] },
    { label: "Blocked", num: true, value: (row) => row[col("blocked_connections")] },
    { label: "Connections per message", num: true, value: (row) => {
      const v = row[col("connections_per_message")];
      return typeof v === "number" ? v.toFixed(2) : "–";
    } },
  ], rows));
  box.append(node("p", "AUTH failures: sessions whose AUTH failed or was not offered. Open an IP for each session's AUTH result.", "note"));
}

async function showIp(box, period, ip) {
  const q = pageQuery();
  const params = { ip, limit: "1000" };
  if (period) {
    const r = periodRange(period, q.get("step") || "day", q.get("from"), q.get("to"));
    Object.assign(params, { from: r.historyFrom, to: r.historyTo, tz: q.get("tz") || "" });
  }
  if (listener()) params.listener = listener();
  box.append(node("h3", `Sessions from ${ip}${period ? `, ${period}` : ""}`));
  const rows = await fetchJson(`/sessions/history?${new URLSearchParams(params)}`);
  const authFailures = rows.filter((s) => s.auth_result && s.auth_result !== "success").length;
  box.append(node("p", `${rows.length} sessions (newest first)${rows.length === 1000 ? ", the newest 1000" : ""}; ` +
    `${authFailures} with a failed or unadvertised AUTH.`, "note"));
  box.append(table([
    { label: "LCID", value: (s) => link(s.lcid, hashOf({ period, ip, lcid: s.lcid }), `session ${s.lcid}: its conversation`) },
    { label: "Start", value: (s) => s.start },
    { label: "End", value: (s) => s.end },
    { label: "Listener", value: (s) => s.listener },
    { label: "Port", num: true, value: (s) => s.client_port },
    { label: "HELO", value: (s) => s.helo },
    { label: "AUTH user", value: (s) => s.auth_user },
    { label: "AUTH result", value: (s) => s.auth_result },
    { label: "Messages", num: true, value: (s) => s.messages },
    { label: "Bad commands", num: true, value: (s) => s.bad_commands },
    { label: "Termination", value: (s) => s.termination },
    { label: "Bytes in", num: true, value: (s) => s.bytes_in },
    { label: "Bytes out", num: true, value: (s) => s.bytes_out },
  ], rows));
}

async function showTranscript(box, lcid) {
  box.append(node("h3", `Conversation ${lcid}`));
  const res = await fetch(`/transcript?${new URLSearchParams({ lcid })}`);
  const text = await res.text();
  if (!res.ok) {
    let why = `${res.status} ${res.statusText}`;
    try {
      why = JSON.parse(text).error || why;
    } catch {
      // plain text
    }
    throw new Error(why);
  }
  if (res.headers.get("X-Transcript-Truncated")) {
    box.append(node("p", `Cut short: ${res.headers.get("X-Transcript-Truncated")}.`, "note"));
  }
  const pre = node("pre", null, "transcript");
  pre.id = "transcript";
  for (const line of text.split("\n")) {
    if (!line) continue;
    const body = line.slice(line.indexOf("] ") + 2);
    let kind = "";
    if (body.startsWith("C --> ")) kind = "client";
    else if (body.startsWith("S <-- ")) kind = /^S <-- [45]/.test(body) ? "server reply-error" : "server";
    else if (body.startsWith("!!!!!!!!!!!!")) kind = "anomaly";
    else if (body.startsWith("~~~~~~~~~~~~") || body.startsWith("************")) kind = "event";
    if (body.includes("[redacted]")) kind += " redacted";
    const span = node("span", `${line}\n`, `line ${kind}`.trim());
    pre.append(span);
  }
  box.append(pre);
}

// ---------------------------------------------------------------- live

async function refreshLive(box) {
  const [sessions, flagged, alerts] = await Promise.all([
    fetchJson("/sessions"), fetchJson("/flagged"), fetchJson("/alerts?limit=20")]);
  const l = listener();
  const open = l ? sessions.filter((s) => s.listener === l) : sessions;
  const parts = [node("h3", `Open sessions (${open.length})`)];
  parts.push(table([
    { label: "LCID", value: (s) => link(s.lcid, hashOf({ lcid: s.lcid }), `session ${s.lcid}: its conversation so far`) },
    { label: "Client", value: (s) => s.client },
    { label: "Listener", value: (s) => s.listener },
    { label: "Started", value: (s) => s.started },
    { label: "State", value: (s) => s.state },
    { label: "HELO", value: (s) => s.helo },
    { label: "AUTH user", value: (s) => s.auth_user },
    { label: "Commands", num: true, value: (s) => s.commands },
    { label: "Bad", num: true, value: (s) => s.bad_commands },
    { label: "Messages", num: true, value: (s) => s.messages },
    { label: "Bytes in", num: true, value: (s) => s.bytes_in },
    { label: "Bytes out", num: true, value: (s) => s.bytes_out },
  ], open));
  parts.push(node("h3", `Flagged IPs (${flagged.length})`));
  // Action and Reason tell an administrator's block (type "manual") from a detector's flag.
  parts.push(table([
    { label: "IP", value: (f) => (f.ip ? link(f.ip, hashOf({ ip: f.ip }), `${f.ip}: its sessions`) : `user ${f.user}`) },
    { label: "Action", value: (f) => f.action },
    { label: "Detector", value: (f) => f.type },
    { label: "Reason", value: (f) => f.reason || null },
    { label: "Count", num: true, value: (f) => f.count },
    { label: "Since", value: (f) => f.since },
    { label: "Expires", value: (f) => f.expires },
  ], flagged));
  parts.push(node("h3", `Latest alerts (${alerts.length})`));
  parts.push(table([
    { label: "Time", value: (a) => a.ts },
    { label: "Type", value: (a) => a.type },
    { label: "Severity", value: (a) => a.severity },
    { label: "IP", value: (a) => a.ip },
    { label: "Listener", value: (a) => a.listener },
    { label: "Session", value: (a) => (a.lcid ? link(a.lcid, hashOf({ ip: a.ip, lcid: a.lcid }), `session ${a.lcid}`) : "–") },
    { label: "Count", num: true, value: (a) => a.count },
    { label: "Action", value: (a) => a.action },
    { label: "Detail", value: (a) => a.detail },
  ], alerts));
  box.replaceChildren(...parts);
}

// ---------------------------------------------------------------- routing

async function render() {
  const mine = ++seq;
  const box = $("investigate");
  const crumbs = $("crumbs");
  const error = $("investigate-error");
  if (liveTimer) clearInterval(liveTimer);
  liveTimer = null;
  error.hidden = true;
  const h = hashParams();
  const section = box.closest("section");
  box.replaceChildren();
  crumbs.replaceChildren();
  if (h.has("live")) {
    section.hidden = false;
    $("investigate-title").textContent = "Live (refreshed every 2 s)";
    const tick = () => refreshLive(box).then(() => {
      error.hidden = true;
    }, (e) => {
      error.hidden = false;
      error.textContent = e.message;
    });
    await tick();
    if (mine === seq) liveTimer = setInterval(tick, 2000);
    return;
  }
  const period = h.get("period");
  const ip = h.get("ip");
  const lcid = h.get("lcid");
  if (!period && !ip && !lcid) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $("investigate-title").textContent = "Investigate";
  crumbs.append(link("Close", "", "close the investigation"));
  if (period) crumbs.append(" › ", link(period, hashOf({ period })));
  if (ip) crumbs.append(" › ", link(ip, hashOf({ period, ip })));
  if (lcid) crumbs.append(" › ", node("span", `LCID ${lcid}`));
  try {
    if (lcid) await showTranscript(box, lcid);
    else if (ip) await showIp(box, period, ip);
    else await showPeriod(box, period);
  } catch (e) {
    if (mine !== seq) return;
    error.hidden = false;
    error.textContent = e.message;
  }
  if (mine === seq) section.scrollIntoView({ block: "start" });
}

export function investigatePeriod(label) {
  location.hash = hashOf({ period: label });
}

export function initInvestigate() {
  window.addEventListener("hashchange", render);
  $("listener").addEventListener("change", render);
  render();
}
