"""The Grafana dashboard (config/grafana/smtp-sensor-dashboard.json) and the Prometheus
rules (config/prometheus/smtp-sensor-rules.yml) only query what the running daemon
exports.

A real daemon with two listeners (one in front of a scripted MTA, one in front of a dead
port) gets a little traffic: a delivered message after a good AUTH, a bad command, a
failed AUTH that fires the auth_bruteforce detector (and flags the IP), a client that
drops without QUIT, and a connection whose upstream refuses. Then /metrics is scraped
and every PromQL expression of the dashboard (panels and template variables) and of the
rules file is checked against it:
- each metric name is an exported family (histogram _bucket/_sum/_count resolved to the
  histogram); `up` is Prometheus's own and the only exemption;
- each label in a matcher, in by()/without(), or in label_values() is a label the daemon
  exports on those metrics (job and instance are added by Prometheus, le by histograms);
- each literal label value in a matcher (`reason="max_connections"`,
  `result=~"failure|unadvertised"`) is a value the daemon exports, for the label sets it
  creates up front (every family except alerts_total{type} and domain_*{domain}).

smtp_sensor_alerts_total{type} is NOT exempted: its series appear only once an alert of
that type fired, so the test fires one (auth_bruteforce with failures: 1) and then
requires the family, HELP and TYPE included. The dashboard copes with a sensor that has
not alerted yet (`or vector(0)`), see docs/OBSERVABILITY.md.

The fleet's families exist only on a sensor with fleet.url set (no series otherwise, so
a sensor without a fleet never fires the fleet rules); a second test gives a daemon a real
PostgreSQL (pg_util.py) and checks the fleet's panels and rules against its export.

Static checks of the same files (promtool check rules, promtool test rules, JSON
validity) live in scripts/check-observability.sh.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field

import pytest
import yaml

from harness import REPO_ROOT, SmtpConn, connect, free_port, hostport, run_cli, wait_until
from scripted_server import Script
from sensor_util import sessions, wait_sessions_idle

DASHBOARD = REPO_ROOT / "config" / "grafana" / "smtp-sensor-dashboard.json"
RULES = REPO_ROOT / "config" / "prometheus" / "smtp-sensor-rules.yml"

USER = "alice@example.org"
PASSWORD = "s3cret-pw"
TARGET_LABELS = {"job", "instance"}          # added by Prometheus at scrape time
PROMETHEUS_OWN = {"up"}                       # series Prometheus makes itself
FLEET_PREFIX = "smtp_sensor_fleet_"          # exported only with fleet.url set (SPEC 10)
LAZY_LABELS = {("smtp_sensor_alerts_total", "type"), ("smtp_sensor_domain_connections_total", "domain"),
               ("smtp_sensor_domain_messages_total", "domain"), ("smtp_sensor_domain_bytes_total", "domain")}


# --------------------------------------------------------------------------- exposition

@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def labels(self) -> set[str]:
        return {k for _n, l, _v in self.samples for k in l}

    def values(self, label: str) -> set[str]:
        return {l[label] for _n, l, _v in self.samples if label in l}


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def parse_exposition(text: str) -> dict[str, Family]:
    """Prometheus text format -> families, with HELP/TYPE and samples assigned to them."""
    fams: dict[str, Family] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _h, kind, name, rest = (line.split(" ", 3) + [""])[:4]
            f = fams.setdefault(name, Family(name))
            if kind == "HELP":
                f.help = rest
            else:
                f.type = rest.strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparseable exposition line: {line!r}"
        name, labels = m.group(1), dict(_LABEL.findall(m.group(2) or ""))
        float(m.group(3))
        owner = name
        for fam in fams.values():
            if name != fam.name and any(name == fam.name + s for s in _SUFFIXES.get(fam.type, ())):
                owner = fam.name
        fams.setdefault(owner, Family(owner)).samples.append((name, labels, float(m.group(3))))
    return fams


# --------------------------------------------------------------------------- PromQL

@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]]      # (label, op, value)


@dataclass
class Query:
    where: str
    expr: str
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)   # labels in by/without/on/ignoring/group_*


_TOKEN = re.compile(r'''\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
    | (?P<range>\[[^\]]*\])
    | (?P<num>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)(?:[smhdwy]|ms)*\b)
    | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
    | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=,(){}@])
    )''', re.X)
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def tokenize(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"cannot tokenize PromQL at {expr[pos:pos + 30]!r} in {expr!r}"
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def unquote(s: str) -> str:
    return s[1:-1] if s[0] == "`" else bytes(s[1:-1], "utf-8").decode("unicode_escape")


def parse_query(where: str, expr: str) -> Query:
    """Metric selectors and grouping labels of a PromQL expression (no full parse needed:
    a name is a metric unless a '(' follows it or it is a keyword)."""
    q = Query(where, expr)
    toks = tokenize(expr)
    i = 0
    while i < len(toks):
        kind, val = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "ident" and val in _GROUPING and nxt == ("op", "("):
            j = i + 2
            while toks[j] != ("op", ")"):
                if toks[j][0] == "ident":
                    q.grouping.add(toks[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "ident" and val == "offset":
            i += 2
            continue
        if kind == "ident" and nxt[0] == "ident" and nxt[1] in ("by", "without"):
            i += 1                                # `sum by (...) (...)`: an aggregation, not a metric
            continue
        if kind == "ident" and nxt != ("op", "(") and val.lower() not in _KEYWORDS:
            sel = Selector(val, [])
            i += 1
            if i < len(toks) and toks[i] == ("op", "{"):
                i += 1
                while toks[i] != ("op", "}"):
                    if toks[i] == ("op", ","):
                        i += 1
                        continue
                    (lk, label), (ok, op), (sk, s) = toks[i], toks[i + 1], toks[i + 2]
                    assert lk == "ident" and ok == "op" and sk == "str", f"bad matcher in {expr!r}"
                    sel.matchers.append((label, op, unquote(s)))
                    i += 3
                i += 1
            q.selectors.append(sel)
            continue
        assert not (kind == "op" and val == "{"), f"bare {{...}} selector in {expr!r}: name the metric"
        i += 1
    return q


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$", re.S)


def dashboard_queries() -> list[Query]:
    d = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append(parse_query(f"dashboard panel {p.get('title')!r} query {t.get('refId')}", t["expr"]))
            walk(p.get("panels", []))

    walk(d["panels"])
    for v in d["templating"]["list"]:
        if v.get("type") != "query":
            continue
        text = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = _LABEL_VALUES.match(text)
        assert m, f"variable {v['name']}: expected label_values(metric, label), got {text!r}"
        q = parse_query(f"dashboard variable ${v['name']}", m.group(1))
        q.grouping.add(m.group(2))
        out.append(q)
    return out


def rule_queries() -> list[Query]:
    doc = yaml.safe_load(RULES.read_text())
    return [parse_query(f"rule {r.get('alert') or r.get('record')}", r["expr"])
            for g in doc["groups"] for r in g["rules"]]


def is_fleet_query(q: Query) -> bool:
    """A query about the fleet: every metric it names (but Prometheus's own) is a fleet family."""
    ours = [s.metric for s in q.selectors if s.metric not in PROMETHEUS_OWN]
    return bool(ours) and all(m.startswith(FLEET_PREFIX) for m in ours)


# --------------------------------------------------------------------------- checks

def resolve(fams: dict[str, Family], metric: str) -> tuple[Family, str] | None:
    """The family a referenced name belongs to, and the suffix used (histogram parts)."""
    if metric in fams and fams[metric].samples:
        return fams[metric], ""
    for fam in fams.values():
        for s in _SUFFIXES.get(fam.type, ()):
            if metric == fam.name + s:
                return fam, s
    return None


def check_queries(queries: list[Query], fams: dict[str, Family]) -> list[str]:
    problems = []
    for q in queries:
        labels_here = set(TARGET_LABELS)
        for sel in q.selectors:
            if sel.metric in PROMETHEUS_OWN:
                labels_here |= {m[0] for m in sel.matchers}
                continue
            r = resolve(fams, sel.metric)
            if r is None:
                problems.append(f"{q.where}: metric {sel.metric} is not exported by the daemon")
                continue
            fam, suffix = r
            exported = fam.labels() | TARGET_LABELS | ({"le"} if suffix == "_bucket" else set())
            labels_here |= exported
            for label, op, value in sel.matchers:
                if label not in exported:
                    problems.append(f"{q.where}: {sel.metric} has no label {label!r} (exported: {sorted(exported)})")
                    continue
                if label in TARGET_LABELS or "$" in value or (fam.name, label) in LAZY_LABELS:
                    continue
                if op in ("=", "!="):
                    wanted = [value]
                elif re.fullmatch(r"[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*", value):
                    wanted = value.split("|")
                else:
                    continue                      # a real regex: nothing literal to check
                for w in wanted:
                    if w not in fam.values(label):
                        problems.append(f"{q.where}: {sel.metric}{{{label}{op}{value!r}}}: the daemon never exports "
                                        f"{label}={w!r} (it has {sorted(fam.values(label))})")
        for g in q.grouping - labels_here:
            problems.append(f"{q.where}: groups by {g!r}, which none of its metrics carries")
    return problems


# --------------------------------------------------------------------------- traffic

def _good_session(port: int) -> None:
    """AUTH PLAIN success, one message, QUIT: messages, bytes, domain series, histograms."""
    import base64
    c = SmtpConn(connect(port, source="127.0.0.2"))
    c.expect(None, 220)
    c.expect("EHLO good.test", 250)
    blob = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    c.expect(f"AUTH PLAIN {blob}", 235)
    r = c.transaction(b"Subject: observability\r\n\r\nhello\r\n", mail=f"<{USER}>", rcpt="<bob@example.net>")
    assert r[:3] == b"250", r
    c.expect("QUIT", 221)
    c.close()


def _bad_session(port: int) -> None:
    """A bad command, a failed AUTH (fires auth_bruteforce with failures: 1), no QUIT."""
    import base64
    c = SmtpConn(connect(port, source="127.0.0.3"))
    c.expect(None, 220)
    c.expect("EHLO bad.test", 250)
    r = c.cmd("XYZZY plugh")
    assert r[:1] == b"5", r
    blob = base64.b64encode(f"\0{USER}\0wrong-password".encode()).decode()
    c.expect(f"AUTH PLAIN {blob}", 535)
    c.close()                                   # FIN without QUIT: client_abort


def _dead_upstream_session(port: int) -> None:
    c = SmtpConn(connect(port, source="127.0.0.4"))
    r = c.reply()
    assert r.startswith(b"421"), r
    c.close()


@pytest.fixture
def scraped(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users={USER: PASSWORD}))
    dead = hostport("127.0.0.1", free_port())
    sensor = sensor_factory(listeners=[
        {"name": "mx", "upstream": up.addr, "proxy_protocol_out": "none", "proxy_protocol_in": False},
        {"name": "dead", "upstream": dead, "proxy_protocol_out": "none", "proxy_protocol_in": False},
    ], config={
        "allow": [],                                        # loopback clients may be flagged
        "detectors": {"auth_bruteforce": {"failures": 1, "window": "10m", "action": "flag"}},
        "timeouts": {"connect": "2s"},
    })
    before = sensor.metrics_text()
    _good_session(sensor.listen_addr("mx")[1])
    _bad_session(sensor.listen_addr("mx")[1])
    _dead_upstream_session(sensor.listen_addr("dead")[1])
    wait_sessions_idle(sensor, 10)
    sensor.wait_metric("smtp_sensor_alerts_total", lambda v: v >= 1, {"type": "auth_bruteforce"})
    wait_until(lambda: sensor.counter("smtp_sensor_domain_messages_total") >= 1, 5, what="domain series")
    return sensor, before, parse_exposition(sensor.metrics_text())


# --------------------------------------------------------------------------- tests

def test_expression_extractor_sees_the_files():
    """Guard against a vacuous pass: the extractor finds what the files obviously hold."""
    dq, rq = dashboard_queries(), rule_queries()
    assert len(dq) >= 30 and len(rq) >= 6, (len(dq), len(rq))
    dm = {s.metric for q in dq for s in q.selectors}
    rm = {s.metric for q in rq for s in q.selectors}
    assert {"smtp_sensor_connections_total", "smtp_sensor_messages_total", "smtp_sensor_alerts_total",
            "smtp_sensor_upstream_connect_seconds_bucket", "smtp_sensor_domain_connections_total"} <= dm, dm
    assert {"up", "smtp_sensor_alerts_total", "smtp_sensor_connections_total", "smtp_sensor_messages_total",
            "smtp_sensor_upstream_errors_total", "smtp_sensor_events_dropped_total",
            "smtp_sensor_auth_attempts_total"} <= rm, rm
    # The checker itself flags wrong names, labels and values.
    fams = parse_exposition('# HELP a_total x\n# TYPE a_total counter\na_total{listener="mx",reason="deny"} 1\n'
                            '# TYPE h_seconds histogram\nh_seconds_bucket{le="1"} 1\nh_seconds_bucket{le="+Inf"} 1\n'
                            'h_seconds_sum 0.5\nh_seconds_count 1\n')
    ok = [parse_query("ok", 'sum by (listener, instance) (rate(a_total{reason="deny", job="x"}[5m])) / '
                            'histogram_quantile(0.9, sum by (le) (rate(h_seconds_bucket[$__rate_interval]))) > 0 '
                            'and up{job="smtp-sensor"} == 0')]
    assert check_queries(ok, fams) == []
    bad = [parse_query("typo", "rate(a_totl[5m])"), parse_query("label", 'a_total{verb="x"}'),
           parse_query("value", 'a_total{reason=~"deny|denied"}'), parse_query("by", "sum by (domain) (a_total)"),
           parse_query("hist", "h_seconds_total")]
    problems = check_queries(bad, fams)
    assert len(problems) == 5, problems


def test_dashboard_and_rules_query_only_exported_metrics(scraped):
    sensor, before, fams = scraped

    # The traffic made the series the panels and rules are about.
    def val(name, **labels):
        return sum(v for _n, l, v in fams[name].samples if all(l.get(k) == x for k, x in labels.items()))

    assert val("smtp_sensor_connections_total", listener="mx") == 2
    assert val("smtp_sensor_connections_total", listener="dead") == 1
    assert val("smtp_sensor_messages_total", listener="mx") == 1
    assert val("smtp_sensor_bad_commands_total", listener="mx") >= 1
    assert val("smtp_sensor_auth_attempts_total", listener="mx", mechanism="PLAIN", result="success") == 1
    assert val("smtp_sensor_auth_attempts_total", listener="mx", mechanism="PLAIN", result="failure") == 1
    assert val("smtp_sensor_terminations_total", listener="mx", reason="client_abort") == 1
    assert val("smtp_sensor_upstream_errors_total", listener="dead") == 1
    assert val("smtp_sensor_bytes_total", listener="mx", direction="in") > 0
    assert val("smtp_sensor_domain_messages_total") == 1
    assert val("smtp_sensor_alerts_total", type="auth_bruteforce") == 1
    assert val("smtp_sensor_flagged_ips") == 1
    assert [f["ip"] for f in json.loads(sensor.http_get("/flagged")[1])] == ["127.0.0.3"]
    assert val("smtp_sensor_session_duration_seconds", ) > 0     # _count and friends resolved to the histogram
    assert fams["smtp_sensor_session_duration_seconds"].type == "histogram"
    assert fams["smtp_sensor_upstream_connect_seconds"].type == "histogram"
    assert {"le"} <= fams["smtp_sensor_upstream_connect_seconds"].labels()
    assert not sessions(sensor)

    # alerts_total is not exempt: after the first alert its family is fully there.
    alerts = fams["smtp_sensor_alerts_total"]
    assert alerts.type == "counter" and alerts.help, "alerts_total has no HELP/TYPE after an alert fired"

    # The listener variable's label_values() sees both listeners.
    assert fams["smtp_sensor_connections_total"].values("listener") == {"mx", "dead"}

    # No fleet configured: no fleet series (SPEC 9, "Fleet: observability"); the fleet's
    # panels and rules are checked against a fleet sensor in the test below.
    assert not {n for n, f in fams.items() if n.startswith(FLEET_PREFIX) and f.samples}
    queries = [q for q in dashboard_queries() + rule_queries() if not is_fleet_query(q)]
    problems = check_queries(queries, fams)
    assert not problems, "\n".join(problems)

    # Every family the daemon exports has a panel: nothing is exported and never looked at.
    used = {resolve(fams, s.metric)[0].name for q in dashboard_queries() for s in q.selectors
            if s.metric not in PROMETHEUS_OWN and not s.metric.startswith(FLEET_PREFIX)}
    ours = {n for n, f in fams.items() if n.startswith("smtp_sensor_") and f.samples}
    assert ours - used == set(), f"exported but on no dashboard panel: {sorted(ours - used)}"

    # Families present before any traffic: every per-listener and global family exists from
    # the start (so panels draw zeros, not "No data"); only alerts and domains come later.
    early = {n for n, f in parse_exposition(before).items() if f.samples}
    late = ours - early
    assert late <= {"smtp_sensor_alerts_total", "smtp_sensor_domain_connections_total",
                    "smtp_sensor_domain_messages_total", "smtp_sensor_domain_bytes_total"}, sorted(late)


def test_fleet_panels_and_rules_query_what_a_fleet_sensor_exports(pg_server, sensor_factory, upstream_factory):
    """With fleet.url set (shipping, share_flags and share_counts on) every fleet family is
    exported, with every op of errors_total, and the fleet panels and rules query only those."""
    up = upstream_factory(Script(users={USER: PASSWORD}))
    assert run_cli(["fleet", "init", "--url", pg_server.url()]).returncode == 0
    sensor = sensor_factory(listeners=[
        {"name": "mx", "upstream": up.addr, "proxy_protocol_out": "none", "proxy_protocol_in": False},
    ], config={"allow": [], "store": {"enabled": True}, "sensor": {"name": "obs1"},
               "fleet": {"url": pg_server.url(), "share_flags": True, "share_counts": True}})
    sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=30)
    _good_session(sensor.listen_addr("mx")[1])
    sensor.wait_metric("smtp_sensor_fleet_shipped_total", lambda v: v >= 1, timeout=10)
    sensor.wait_metric("smtp_sensor_fleet_events_published_total", lambda v: v >= 1, timeout=10)
    fams = parse_exposition(sensor.metrics_text())

    fleet = {n for n, f in fams.items() if n.startswith(FLEET_PREFIX) and f.samples}
    families = (REPO_ROOT / "daemon" / "sinks" / "metric_families.hpp").read_text()
    declared = set(re.findall(r'"(smtp_sensor_fleet_[a-z_]+)"', families))
    assert len(declared) == 8 and fleet == declared, (sorted(fleet), sorted(declared))
    assert fams["smtp_sensor_fleet_errors_total"].values("op") == {"connect", "schema", "ship", "store", "share"}
    assert fams["smtp_sensor_fleet_up"].samples[0][2] == 1
    assert fams["smtp_sensor_fleet_backlog_sessions"].type == "gauge"

    queries = [q for q in dashboard_queries() + rule_queries() if is_fleet_query(q)]
    rules = {q.where for q in queries if q.where.startswith("rule ")}
    assert {"rule SmtpSensorFleetDown", "rule SmtpSensorFleetBacklogGrowing",
            "rule SmtpSensorFleetEventsDropped"} <= rules, rules
    problems = check_queries(queries, fams)
    assert not problems, "\n".join(problems)
    used = {resolve(fams, s.metric)[0].name for q in dashboard_queries() for s in q.selectors
            if s.metric.startswith(FLEET_PREFIX) and resolve(fams, s.metric)}
    assert fleet - used == set(), f"fleet families on no dashboard panel: {sorted(fleet - used)}"


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_exposition_passes_promtool_check_metrics(scraped):
    sensor, _before, _fams = scraped
    r = subprocess.run(["promtool", "check", "metrics"], input=sensor.metrics_text(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_process_build_and_reload_metrics(scraped):
    """The standard process metrics (client-library names and types), build_info and the
    reload gauges, with values that agree with /proc and the binary."""
    sensor, _before, fams = scraped
    types = {"process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
             "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge", "process_max_fds": "gauge",
             "process_start_time_seconds": "gauge", "smtp_sensor_build_info": "gauge",
             "smtp_sensor_config_last_reload_successful": "gauge",
             "smtp_sensor_config_last_reload_success_timestamp_seconds": "gauge"}
    for name, kind in types.items():
        assert name in fams and fams[name].type == kind and fams[name].help, name

    def one(name):
        samples = fams[name].samples
        assert len(samples) == 1, samples
        return samples[0][2]

    now = time.time()
    assert one("process_cpu_seconds_total") > 0
    rss = one("process_resident_memory_bytes")
    assert 0.5 * sensor.rss_kib() * 1024 <= rss <= 2 * sensor.rss_kib() * 1024
    assert one("process_virtual_memory_bytes") >= rss
    assert 5 <= one("process_open_fds") <= one("process_max_fds")
    assert abs(one("process_open_fds") - sensor.open_fds()) <= 5
    # As Prometheus's Go client computes it: btime from /proc/stat plus the start tick.
    with open("/proc/stat") as f:
        btime = next(int(l.split()[1]) for l in f if l.startswith("btime "))
    with open(f"/proc/{sensor.pid}/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    started = btime + start_ticks / os.sysconf("SC_CLK_TCK")
    assert now - 300 < one("process_start_time_seconds") <= now
    assert abs(one("process_start_time_seconds") - started) < 2
    version = run_cli(["--version"]).stdout.split()[-1]
    assert fams["smtp_sensor_build_info"].samples == [("smtp_sensor_build_info", {"version": version}, 1.0)]
    assert one("smtp_sensor_config_last_reload_successful") == 1
    assert abs(one("smtp_sensor_config_last_reload_success_timestamp_seconds") -
               one("process_start_time_seconds")) < 30
