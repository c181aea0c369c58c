"""SPEC 10, the fleet report: three real sensors ship their sessions into a real
PostgreSQL (pg_util.py); `smtp-sensor report --fleet` counts every sensor's sessions by
sensor, IP, domain and user, agrees with the sum of the local reports, narrows to
--sensor, and GET /report?fleet=1 answers the same."""
import datetime
import json
import time

from harness import SLOW, run_cli
from scripted_server import Script
from sensor_util import sensor_config, wait_sessions_idle, wait_store_rows
from test_report import by_key, get, relay_sessions

MODES = ["trend", "domain", "user", "ip"]


def wait_fleet_rows(pg, n, timeout=30.0):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        have = int(pg.scalar("SELECT count(*) FROM sessions"))
        if have >= n:
            return have
        assert time.monotonic() < deadline, f"fleet database has {have} sessions, expected {n}"
        time.sleep(0.2)


def by_period_key(rows, keyed):
    """{(period, key): counters} of a report's rows."""
    out = {}
    for r in rows:
        counts = r[2:8] if keyed else r[1:7]
        acc = out.setdefault((r[0], r[1] if keyed else ""), [0] * 6)
        for i, v in enumerate(counts):
            acc[i] += int(v)
    return out


def report_json(*args, tz="UTC"):
    r = run_cli(["report", "--tz", tz, "--format", "json", *args])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_fleet_report_sums_the_sensors(pg_server, sensor_factory, sink_factory, upstream_factory):
    sink = sink_factory()
    up = upstream_factory(Script(users={"alice@a.example": "pw"}))
    import pg_util
    assert run_cli(["fleet", "init", "--url", pg_server.url()]).returncode == 0
    pg_util.create_roles(pg_server)
    # Sensors write as the writer role, reports read as the reader (docs/OPERATIONS.md).
    url = pg_server.url(user="smtp_sensor_writer")
    reader = pg_server.url(user="smtp_sensor_reader")
    sensors = []
    for i, name in enumerate(["mx1", "mx2", "mx3"]):
        s = sensor_factory(listeners=[{"name": "mx", "upstream": sink.addr, "max_connections": 100},
                                      {"name": "sub", "upstream": up.addr, "max_connections": 100}],
                           config=sensor_config(sensor={"name": name}, fleet={"url": url}))
        # Unequal loads, so a report that mixed sensors up would show it.
        for _ in range(i + 1):
            relay_sessions(s, s.listen_addr("sub")[1], s.listen_addr("mx")[1])
        sensors.append((name, s))
    total = 0
    for i, (name, s) in enumerate(sensors):
        wait_sessions_idle(s, 10)
        total += len(wait_store_rows(s, 5 * (i + 1)))
    assert total == 30
    assert wait_fleet_rows(pg_server, total) == total
    assert pg_server.psql("SELECT sensor, count(*) FROM sessions GROUP BY 1 ORDER BY 1") == \
        [["mx1", "5"], ["mx2", "10"], ["mx3", "15"]]

    today = datetime.datetime.now(datetime.timezone.utc).date()
    rng = ["--from", (today - datetime.timedelta(days=1)).isoformat(), "--to", (today + datetime.timedelta(days=1)).isoformat()]
    local_trend = {}
    for mode in MODES:
        keyed = mode != "trend"
        summed = {}
        for name, s in sensors:
            doc = report_json("-c", str(s.config_path), "--mode", mode, *rng)
            got = by_key(doc["rows"], keyed)
            if mode == "trend":
                local_trend[name] = got[""]
            for k, v in got.items():
                acc = summed.setdefault(k, [0] * 6)
                for j in range(6):
                    acc[j] += v[j]
        fleet = report_json("--fleet", "--fleet-url", reader, "--mode", mode, *rng)
        assert fleet["mode"] == mode
        assert by_key(fleet["rows"], keyed) == summed, (mode, fleet["rows"], summed)
        assert summed, mode
    # The counts by key are what was sent: three sensors, 1 + 2 + 3 rounds of relay_sessions.
    ip = by_key(report_json("--fleet", "--fleet-url", reader, "--mode", "ip", *rng)["rows"], True)
    assert {k: (v[0], v[5]) for k, v in ip.items()} == {"127.0.0.2": (18, 12), "127.0.0.3": (12, 12)}
    user = by_key(report_json("--fleet", "--fleet-url", reader, "--mode", "user", *rng)["rows"], True)
    assert {k: (v[0], v[5]) for k, v in user.items()} == {"alice@a.example": (12, 12)}

    # Period by period, in zones whose days start at :30 and at -5 h, by hour and week, with
    # a domain drill-down: each (period, key) is the sum of the sensors' own reports.
    for tz in ("Asia/Kolkata", "America/New_York"):
        for step in ("hour", "week"):
            for mode, extra in [(m, []) for m in MODES] + [("ip", ["--domain", "b.example"]),
                                                            ("user", ["--domain", "a.example"])]:
                keyed = mode != "trend"
                args = ["--step", step, "--mode", mode, *extra, *rng]
                summed = {}
                for _, s in sensors:
                    for k, v in by_period_key(report_json("-c", str(s.config_path), *args, tz=tz)["rows"], keyed).items():
                        acc = summed.setdefault(k, [0] * 6)
                        for j in range(6):
                            acc[j] += v[j]
                fleet = by_period_key(report_json("--fleet", "--fleet-url", reader, *args, tz=tz)["rows"], keyed)
                assert fleet == summed, (tz, step, mode, extra)
                assert any(v[0] for v in fleet.values()), (tz, step, mode, extra)

    # Mode sensor: one key per sensor, equal to that sensor's own trend.
    doc = report_json("--fleet", "--fleet-url", reader, "--mode", "sensor", *rng)
    assert doc["columns"][:2] == ["period", "sensor"]
    assert doc["fleet"] is True and doc["sensors"] == []
    assert by_key(doc["rows"], True) == local_trend
    # ... and with a domain drill-down, each sensor's trend of that domain.
    doc_d = report_json("--fleet", "--fleet-url", reader, "--mode", "sensor", "--domain", "b.example", *rng)
    assert doc_d["domain"] == "b.example"
    assert by_key(doc_d["rows"], True) == {
        name: by_key(report_json("-c", str(s.config_path), "--domain", "b.example", *rng)["rows"], False)[""]
        for name, s in sensors}

    # --sensor narrows the fleet; -c FILE's fleet.url is the default URL.
    _, s2 = sensors[1]
    for mode in MODES:
        keyed = mode != "trend"
        one = report_json("-c", str(s2.config_path), "--fleet", "--sensor", "mx2", "--mode", mode, *rng)
        local = report_json("-c", str(s2.config_path), "--mode", mode, *rng)
        assert by_key(one["rows"], keyed) == by_key(local["rows"], keyed), mode
    two = report_json("--fleet", "--fleet-url", reader, "--sensor", "mx1", "--sensor", "mx3", "--mode", "sensor", *rng)
    assert set(by_key(two["rows"], True)) == {"mx1", "mx3"}
    assert two["sensors"] == ["mx1", "mx3"]

    # GET /report?fleet=1 on any sensor: the same document as the command line; the page
    # learns from X-Fleet that it may offer the switch.
    _, s1 = sensors[0]
    frm, to = rng[1], rng[3]
    status, headers, body = get(s1, f"/report?from={frm}&to={to}&mode=sensor&tz=UTC&fleet=1")
    assert status == 200, body
    assert headers.get("X-Fleet") == "1"
    assert body == json.dumps(doc, separators=(",", ":")) + "\n" or json.loads(body) == doc
    status, _, body = get(s1, f"/report?from={frm}&to={to}&mode=ip&tz=UTC&fleet=1&sensor=mx3")
    assert status == 200, body
    assert by_key(json.loads(body)["rows"], True) == \
        by_key(report_json("-c", str(sensors[2][1].config_path), "--mode", "ip", *rng)["rows"], True)
    # Mode sensor without the fleet is a query error, not an empty report.
    status, _, body = get(s1, f"/report?from={frm}&to={to}&mode=sensor")
    assert status == 400 and "fleet" in body


def test_report_mode_sensor_needs_fleet(tmp_path):
    r = run_cli(["report", "--store", str(tmp_path / "none.db"), "--mode", "sensor"])
    assert r.returncode == 2 and "--fleet" in r.stderr
    r = run_cli(["report", "--store", str(tmp_path / "none.db"), "--sensor", "mx1"])
    assert r.returncode == 2 and "--fleet" in r.stderr


def test_lone_sensor_offers_no_fleet(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr, config=sensor_config())
    status, headers, _ = get(sensor, "/report?tz=UTC")
    assert status == 200 and "X-Fleet" not in headers
    status, headers, body = get(sensor, "/report?tz=UTC&fleet=1")
    assert status == 503 and "fleet.url is empty" in body
    # The page holds the switch, hidden until /report says there is a fleet.
    status, _, page = get(sensor, "/")
    assert status == 200 and 'id="fleet"' in page and 'class="field fleet-only" hidden' in page


def local_pack_state(path):
    """(units packed hour and coarser, changes not shipped yet) of a local store."""
    import sqlite3
    db = sqlite3.connect(path)
    try:
        packed = db.execute("SELECT count(*) FROM rollup_packed WHERE level <> 4").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM pack_changes").fetchone()[0]
    finally:
        db.close()
    return packed, pending


def wait_packs_shipped(pg, path, timeout=60.0):
    """Waits until the sensor has packed its history and shipped every pack change: the
    fleet lists as many packed units as the local store, twice in a row."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while True:
        packed, pending = local_pack_state(path)
        fleet = int(pg.scalar("SELECT count(*) FROM packed"))
        state = (packed, fleet)
        if pending == 0 and packed == fleet and packed > 0 and state == last:
            return packed
        assert time.monotonic() < deadline, f"packs not shipped: local {packed} ({pending} pending), fleet {fleet}"
        last = state
        time.sleep(1.0)


# Which reports the 40-day test compares (each twice: local and fleet). Every mode and
# filter in UTC by day; every step with a trend, a key mode, a drill-down and a direction;
# the zones on whole hours and on half hours (quarter-hour edges, summed from sessions) a
# few of them each: together every pack kind, level and edge, without running every
# combination (CI runs this under ASan).
COMBOS = [(m, []) for m in MODES] + [("ip", ["--domain", "d1.example"]),
                                      ("trend", ["--domain", "d2.example"]),
                                      ("trend", ["--direction", "out"]),
                                      ("user", ["--direction", "out"]),
                                      ("ip", ["--direction", "out"]),
                                      ("domain", ["--direction", "in"]),
                                      ("user", ["--listener", "smtp"])]
FEW = [("trend", []), ("domain", []), ("ip", ["--domain", "d1.example"]), ("user", ["--direction", "out"])]
PLAN = [("UTC", ["day"], COMBOS), ("UTC", ["hour", "week", "month"], FEW[::2]),
        ("Europe/Berlin", ["hour", "week"], FEW[1::2]), ("Asia/Kolkata", ["day", "month"], FEW[::2])]
LATE = [("trend", []), ("domain", []), ("ip", []), ("user", ["--listener", "smtp"])]


def test_fleet_report_equals_local_over_weeks_of_sessions(pg_server, sensor_factory, sink_factory, tmp_path):
    """Sessions spread over 40 days (written into a stopped sensor's store, then packed and
    shipped by it) report the same through the fleet as through the local rows, period by
    period, for every step and mode in UTC and for some in zones on whole hours and half
    hours. The fleet reads the shipped packs: with the fleet's sessions of the packed days
    deleted it still counts them. A late session that unpacks a shipped unit is counted
    once the sensor has packed and shipped the unit again."""
    import random
    import shutil
    import sqlite3
    rng = random.Random(2026)
    sensor = sensor_factory(sink_factory().addr, config=sensor_config(sensor={"name": "mx7"}, fleet={"url": pg_server.url()}))
    sensor.stop()
    path = sensor.config["store"]["path"]
    now_ms = int(time.time() * 1000)

    def session(lcid, start):
        ok = rng.random() < 0.8
        # A third are outbound (SPEC 14): counted by sender and by remote server.
        out = rng.random() < 0.3
        return (lcid, start, start + 500, "out" if out else "smtp", f"198.51.100.{rng.randrange(8)}",
                40000, f"203.0.113.{rng.randrange(6)}:25" if out else "u", "h", 0,
                f"user{rng.randrange(5)}@d{rng.randrange(3)}.example" if rng.random() < 0.5 else "",
                "success" if ok else "failure", f"d{rng.randrange(4)}.example" if rng.random() < 0.9 else "",
                rng.randrange(3), 1, 5, rng.randrange(2), rng.randrange(2),
                "quit" if rng.random() < 0.8 else "client_abort", int(rng.random() < 0.1),
                rng.randrange(100_000), rng.randrange(5000), int(out),
                f"sender{rng.randrange(4)}@d{rng.randrange(3)}.example" if out else "")

    insert = ("INSERT INTO sessions (lcid, start_ms, end_ms, listener, client_ip, client_port, upstream, helo, tls, "
              "auth_user, auth_result, domain, messages, recipients, commands, bad_commands, permanent_failures, "
              "termination, blocked, bytes_in, bytes_out, direction, user_name) VALUES (" + ",".join("?" * 23) + ")")
    rows = [session(10_000_000 + i, now_ms - rng.randrange(40 * 86_400_000)) for i in range(3000)]
    db = sqlite3.connect(path)
    db.executemany(insert, rows)
    db.commit()
    db.close()
    sensor.start()
    assert wait_fleet_rows(pg_server, 3000, timeout=60) == 3000
    units = wait_packs_shipped(pg_server, path)
    # Hours, days, weeks and months of 40 days: more than a thousand units.
    assert units > 960, units
    assert int(pg_server.scalar("SELECT count(*) FROM packs WHERE sensor = 'mx7'")) > 0
    sensor.stop()

    today = datetime.datetime.now(datetime.timezone.utc).date()
    rng_args = ["--from", (today - datetime.timedelta(days=41)).isoformat(), "--to", today.isoformat()]

    def rows_only_copy():
        """The local report over the rows alone (a store that claims schema 2 reads no roll-up)."""
        rows_only = str(tmp_path / "rows-only.db")
        shutil.copy(path, rows_only)
        db = sqlite3.connect(rows_only)
        db.execute("PRAGMA user_version = 2")
        db.commit()
        db.close()
        return rows_only

    def compare(rows_only, tz, step, mode, extra):
        keyed = mode != "trend"
        args = ["--step", step, "--mode", mode, *extra, *rng_args]
        local = report_json("--store", rows_only, *args, tz=tz)
        fleet = report_json("--fleet", "--fleet-url", pg_server.url(), "--sensor", "mx7", *args, tz=tz)
        assert by_period_key(fleet["rows"], keyed) == by_period_key(local["rows"], keyed), (tz, step, mode, extra)
        assert fleet["rows"] == local["rows"], (tz, step, mode, extra)

    rows_only = rows_only_copy()
    checked = 0
    for tz, steps, combos in PLAN:
        for step in steps:
            for mode, extra in combos:
                compare(rows_only, tz, step, mode, extra)
                checked += 1
    assert checked == 11 + 3 * 2 + 2 * 2 + 2 * 2

    # A second sensor with the same sessions that ships no packs (an older release): the
    # units are read from mx7's packs plus old1's sessions summed, so the whole fleet
    # counts every session twice, and by sensor each counts what the local report does.
    pg_server.psql("CREATE TEMP TABLE twin AS SELECT * FROM sessions WHERE sensor = 'mx7'; "
                   "UPDATE twin SET sensor = 'old1'; INSERT INTO sessions SELECT * FROM twin;")
    for tz, step, mode, extra in (("UTC", "day", "ip", []), ("UTC", "week", "trend", []),
                                  ("Asia/Kolkata", "day", "user", ["--direction", "out"])):
        keyed = mode != "trend"
        args = ["--step", step, "--mode", mode, *extra, *rng_args]
        local = by_period_key(report_json("--store", rows_only, *args, tz=tz)["rows"], keyed)
        fleet = by_period_key(report_json("--fleet", "--fleet-url", pg_server.url(), *args, tz=tz)["rows"], keyed)
        assert fleet == {k: [2 * v for v in c] for k, c in local.items()}, (tz, step, mode, extra)
    args = ["--step", "day", *rng_args]
    local = by_period_key(report_json("--store", rows_only, "--mode", "trend", *args)["rows"], False)
    by_sensor = by_period_key(report_json("--fleet", "--fleet-url", pg_server.url(), "--mode", "sensor", *args)["rows"], True)
    assert by_sensor == {(p, name): c for (p, _), c in local.items() if c[0] > 0 for name in ("mx7", "old1")}
    pg_server.psql("DELETE FROM sessions WHERE sensor = 'old1'")

    # A late session (one written when it ends, long after its hour was packed) for a
    # shipped day: the writer unpacks the units that hold it in the transaction that
    # writes it (store/packer.cpp, Packer::touch), as done here with the sensor stopped.
    late_start = int(datetime.datetime.combine(today - datetime.timedelta(days=20), datetime.time(10, 5),
                                               tzinfo=datetime.timezone.utc).timestamp() * 1000)
    late = session(20_000_000, late_start)
    db = sqlite3.connect(path)
    db.execute(insert, late)
    t = late_start // 1000
    day = t - t % 86400
    month = int(datetime.datetime.fromtimestamp(day, datetime.timezone.utc).replace(day=1).timestamp())
    week = day - ((day // 86400 + 3) % 7) * 86400
    unpacked = 0
    for level, start in ((4, t - t % 900), (0, t - t % 3600), (1, day), (2, week), (3, month)):
        db.execute("DELETE FROM rollup_pack WHERE level = ? AND start = ?", (level, start))
        unpacked += db.execute("DELETE FROM rollup_packed WHERE level = ? AND start = ?", (level, start)).rowcount * (level != 4)
    db.commit()
    db.close()
    assert unpacked >= 2  # the hour and the day; the week and month too if they were closed
    assert local_pack_state(path)[1] == unpacked  # each goes to the fleet
    sensor.start()
    assert wait_fleet_rows(pg_server, 3001, timeout=60) == 3001
    wait_packs_shipped(pg_server, path)
    sensor.stop()
    assert pg_server.scalar(f"SELECT count(*) FROM packed WHERE level = 1 AND start = {day}") == "1"
    # The fleet's sessions of the packed days are gone: what the fleet counts for them now
    # comes from the packs alone, the late session's included.
    first_packed_day = int(pg_server.scalar("SELECT min(start) FROM packed WHERE level = 1 AND start >= "
                                            f"{(now_ms // 1000) - 39 * 86400}"))
    last_packed_day = int(pg_server.scalar("SELECT max(start) FROM packed WHERE level = 1"))
    deleted = int(pg_server.psql(f"WITH d AS (DELETE FROM sessions WHERE start_ms >= {first_packed_day * 1000} AND "
                                 f"start_ms < {(last_packed_day + 86400) * 1000} RETURNING 1) SELECT count(*) FROM d")[0][0])
    assert deleted > 2000, deleted
    rows_only = rows_only_copy()
    for mode, extra in LATE:
        compare(rows_only, "UTC", "day", mode, extra)
    compare(rows_only, "UTC", "month", "trend", [])

def test_fleet_page_in_chromium(pg_server, sensor_factory, sink_factory, upstream_factory):
    from test_report_page import WEB_TESTS, need_browser
    need_browser()
    sink = sink_factory()
    up = upstream_factory(Script(users={"alice@a.example": "pw"}))
    url = pg_server.url()
    assert run_cli(["fleet", "init", "--url", url]).returncode == 0
    sensors = []
    for i, name in enumerate(["mx1", "mx2"]):
        s = sensor_factory(listeners=[{"name": "mx", "upstream": sink.addr, "max_connections": 100},
                                      {"name": "sub", "upstream": up.addr, "max_connections": 100}],
                           config=sensor_config(sensor={"name": name}, fleet={"url": url}))
        for _ in range(i + 1):
            relay_sessions(s, s.listen_addr("sub")[1], s.listen_addr("mx")[1])
        sensors.append(s)
    assert wait_fleet_rows(pg_server, 15) == 15
    import os
    import subprocess
    env = dict(os.environ, FLEET_PAGE_EXPECT=json.dumps({"mx1": 5, "mx2": 10}),
               REPORT_PAGE_TIMEOUT_MS=str(int(30000 * SLOW)), PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    proc = subprocess.run(["node", str(WEB_TESTS / "fleet_page.mjs"), f"http://127.0.0.1:{sensors[0].http_port}"],
                          cwd=WEB_TESTS, env=env, capture_output=True, text=True, timeout=300 * SLOW)
    assert proc.returncode == 0, f"fleet_page.mjs failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
