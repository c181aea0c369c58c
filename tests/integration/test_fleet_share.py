"""SPEC 10, shared flags and shared counts: three real sensors share one real PostgreSQL
(pg_util.py) as the writer role of OPERATIONS. AUTH failures split over the three (two
each, failures: 5) raise one alert and one flag, enforced by every sensor; a block added
on one sensor's control socket is refused by the others within 2 s, `flags remove` is
fleet-wide, and a sensor started later loads the fleet's flags; the database stops and
returns: a flag added meanwhile works locally at once and reaches the others after, and
the events that did not fit the fixed-size queue are dropped and counted."""
from __future__ import annotations

import json
import socket
import threading
import time

from harness import SANITIZED, SLOW, connect, run_cli
from scripted_server import Script
from smtp_client import SmtpConn
from test_detectors_common import Alerts, auth_plain, det_config, flagged, quit, smtp
from test_flags_control import cli, manual_alerts

USERS = {"alice@example.org": "s3cret-Pa55"}
SHARE_QUEUE = 16384  # fleet/sharer.hpp SharerOptions::queue_cap


def fleet_url(pg):
    import pg_util
    assert run_cli(["fleet", "init", "--url", pg.url()]).returncode == 0
    pg_util.create_roles(pg)
    return pg.url(user="smtp_sensor_writer")


def start_sensors(sensor_factory, upstream, url, names, detectors=None):
    dets = detectors if detectors is not None else {"auth_bruteforce": {"failures": 5, "window": "10m", "action": "block"}}
    out = []
    for name in names:
        cfg = det_config(dets, only=True, store={"enabled": True}, sensor={"name": name}, fleet={"url": url})
        out.append(sensor_factory(upstream, config=cfg))
    for s in out:
        s.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=30)
    return out


def first_line(sensor, source: str) -> bytes:
    """The first line the sensor sends a new connection from source: 554 when blocked."""
    s = connect(sensor.port, source=source)
    s.settimeout(5 * SLOW)
    data = b""
    try:
        while b"\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return data


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while not pred():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return time.monotonic()


def blocked(sensor, ip):
    return first_line(sensor, ip).startswith(b"554")


def flag_of(sensor, ip):
    hits = [f for f in flagged(sensor) if f.get("ip") == ip]
    return hits[0] if hits else None


def all_alerts(sensors, type):
    return [a for s in sensors for a in Alerts(s).all() if a["type"] == type]



def at_once(fn, items) -> None:
    """Runs fn(*item) for every item on threads of its own, released together by a barrier,
    so that each sensor sees its own events before any other's arrive."""
    go = threading.Barrier(len(items))

    def run(item):
        go.wait()
        fn(*item)

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

def test_auth_failures_split_over_three_sensors_raise_one_flag_enforced_everywhere(
        pg_server, sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    sensors = start_sensors(sensor_factory, up.addr, url, ["mx1", "mx2", "mx3"])
    attacker = "127.0.0.41"
    for i, s in enumerate(sensors):
        c = smtp(s, attacker)
        assert auth_plain(c, "alice@example.org", f"guess{i}a") == 535
        assert auth_plain(c, "alice@example.org", f"guess{i}b") == 535
        quit(c)
        # Shared counts are at most about a second late: the next sensor has seen these.
        if i < 2:
            for other in sensors[i + 1:]:
                other.wait_metric("smtp_sensor_fleet_events_received_total", lambda v, n=2 * (i + 1): v >= n, timeout=5)
    # One alert in the fleet, by the sensor whose own event reached the threshold.
    a = Alerts(sensors[2]).wait("auth_bruteforce", attacker)
    assert a["count"] == 5 and a["threshold"] == 5 and a["sensor"] == "mx3", a
    t0 = time.monotonic()
    for s in sensors:
        wait_until(lambda s=s: flag_of(s, attacker) is not None, 2, f"the flag on {s.name}")
    assert time.monotonic() - t0 < 2 * SLOW
    for s in sensors:
        f = flag_of(s, attacker)
        assert f["type"] == "auth_bruteforce" and f["sensor"] == "mx3" and f["action"] == "block", f
        assert blocked(s, attacker), f"{s.name} did not refuse the flagged IP"
    time.sleep(1.0)
    assert len(all_alerts(sensors, "auth_bruteforce")) == 1, all_alerts(sensors, "auth_bruteforce")
    rows = pg_server.psql("SELECT key, type, sensor, block FROM shared_flags")
    assert rows == [[attacker, "auth_bruteforce", "mx3", "t"]], rows
    assert int(pg_server.scalar("SELECT count(*) FROM shared_events WHERE kind = 4")) == 6
    # Another client stays welcome everywhere.
    for s in sensors:
        assert first_line(s, "127.0.0.42").startswith(b"220")


def test_a_burst_faster_than_sharing_still_raises_one_alert(pg_server, sensor_factory, upstream_factory):
    """Every sensor sees its own two failures before any other's: each reaches the threshold
    on a remote event. The fleet table decides who raises: exactly one alert, one flag."""
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    sensors = start_sensors(sensor_factory, up.addr, url, ["mx1", "mx2", "mx3"])
    attacker = "127.0.0.45"
    conns = [smtp(s, attacker) for s in sensors]  # greeted and EHLO'd: only AUTH is left
    codes = []

    def guess(i, c):
        codes.append(auth_plain(c, "alice@example.org", f"burst{i}a"))
        codes.append(auth_plain(c, "alice@example.org", f"burst{i}b"))

    at_once(guess, list(enumerate(conns)))
    assert codes == [535] * 6
    for c in conns:
        quit(c)
    wait_until(lambda: len(all_alerts(sensors, "auth_bruteforce")) >= 1, 5, "an auth_bruteforce alert somewhere")
    for s in sensors:
        wait_until(lambda s=s: blocked(s, attacker), 3, f"{s.name} refuses the attacker")
    time.sleep(1.5)
    alerts = all_alerts(sensors, "auth_bruteforce")
    assert len(alerts) == 1, alerts
    raiser = alerts[0]["sensor"]
    for s in sensors:
        assert flag_of(s, attacker)["sensor"] == raiser
    assert pg_server.psql("SELECT key, sensor FROM shared_flags") == [[attacker, raiser]]


def test_block_on_one_sensor_is_fleet_wide_and_loaded_by_a_later_sensor(pg_server, sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    # Rows past their time, as a long-gone sensor left them: pruned by the sensors.
    pg_server.psql("INSERT INTO shared_events (sensor, ts_ms, kind, ip, usr) "
                   "VALUES ('gone', 1000, 4, decode('00000000000000000000ffff7f000035', 'hex'), 'x')")
    pg_server.psql("INSERT INTO shared_flags VALUES ('127.0.0.53', 'manual', 'gone', 1000, 2000, true, true, '', 1, "
                   "false, 'gone', nextval('shared_flags_seq'))")
    mx1, mx2 = start_sensors(sensor_factory, up.addr, url, ["mx1", "mx2"], detectors={})
    wait_until(lambda: pg_server.scalar("SELECT count(*) FROM shared_events WHERE sensor = 'gone'") == "0", 5,
               "the old event pruned")
    wait_until(lambda: pg_server.scalar("SELECT count(*) FROM shared_flags WHERE sensor = 'gone'") == "0", 5,
               "the ended flag pruned")
    assert not blocked(mx1, "127.0.0.53")
    ip = "127.0.0.51"
    assert first_line(mx2, ip).startswith(b"220")
    r = cli(mx1, "add", ip, "--action", "block", "--ttl", "1h", "--reason", "ticket 7")
    assert r.returncode == 0, r.stderr
    t0 = time.monotonic()
    assert blocked(mx1, ip)
    wait_until(lambda: blocked(mx2, ip), 2, "mx2 refuses the IP blocked on mx1")
    print(f"block on mx1 refused by mx2 after {(time.monotonic() - t0) * 1000:.0f} ms")
    assert time.monotonic() - t0 < 2 * SLOW
    f = flag_of(mx2, ip)
    assert f["sensor"] == "mx1" and f["manual"] and f["reason"] == "ticket 7", f
    listed = cli(mx2, "list").stdout
    assert ip in listed and "sensor=mx1" in listed, listed
    manual = manual_alerts(mx1)
    assert manual and manual[-1]["sensor"] == "mx1" and manual[-1]["ip"] == ip, manual

    # A removal on the other sensor is fleet-wide.
    r = cli(mx2, "remove", ip)
    assert r.returncode == 0, r.stderr
    assert not blocked(mx2, ip)
    wait_until(lambda: not blocked(mx1, ip), 2, "mx1 lets the IP in after the removal on mx2")
    assert flag_of(mx1, ip) is None
    removal = [a for a in manual_alerts(mx2) if a["action"] == "remove"]
    assert removal and removal[-1]["sensor"] == "mx2"

    # A sensor that starts later loads the fleet's active flags.
    ip2 = "127.0.0.52"
    assert cli(mx1, "add", ip2, "--action", "block").returncode == 0
    wait_until(lambda: blocked(mx2, ip2), 2, "mx2 refuses ip2")
    (mx3,) = start_sensors(sensor_factory, up.addr, url, ["mx3"], detectors={})
    wait_until(lambda: blocked(mx3, ip2), 2, "mx3 loaded the flag at start")
    assert flag_of(mx3, ip2)["sensor"] == "mx1"
    assert flag_of(mx3, ip) is None  # the removed one stays removed
    # No ping-pong: one row per key, and its seq stops moving.
    time.sleep(1.5)
    seq = pg_server.scalar("SELECT max(seq) FROM shared_flags")
    time.sleep(1.5)
    assert pg_server.scalar("SELECT max(seq) FROM shared_flags") == seq


def flood_bad_commands(sensor, source, n):
    """n unknown commands in one session, pipelined in chunks; each is a bad_commands event."""
    c = SmtpConn.open(sensor.port, source=source)
    c.expect(None, 220)
    chunk = 50  # under the decoder's 64 pending commands, so every reply is paired
    sent = 0
    while sent < n:
        k = min(chunk, n - sent)
        c.sock.sendall(b"XBOGUS\r\n" * k)
        got = 0
        while got < k:
            line = c.reply()
            got += 1
            assert line[:1] == b"5", line
        sent += k
    quit(c)


def test_database_outage_flags_work_locally_and_are_published_after(pg_server, sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    mx1, mx2 = start_sensors(sensor_factory, up.addr, url, ["mx1", "mx2"],
                             detectors={"bad_commands": {"count": 10**6, "window": "1h"}})
    pg_server.stop()
    # The sharer's LISTEN connection notices at once, even with no traffic.
    mx1.wait_metric("smtp_sensor_fleet_errors_total", lambda v: v >= 1, labels={"op": "share"}, timeout=10)
    mx1.wait_metric("smtp_sensor_fleet_up", lambda v: v == 0, timeout=5)
    ip = "127.0.0.61"
    assert cli(mx1, "add", ip, "--action", "block").returncode == 0
    assert blocked(mx1, ip)  # local at once, without the database
    assert not blocked(mx2, ip)
    # More events than the fixed-size queue holds: the rest are dropped and counted.
    flood_bad_commands(mx1, "127.0.0.62", SHARE_QUEUE + 3000)
    mx1.wait_metric("smtp_sensor_fleet_events_dropped_total", lambda v: v >= 3000, timeout=10)
    dropped = mx1.counter("smtp_sensor_fleet_events_dropped_total")
    rss_down = mx1.rss_kib()
    pg_server.start()
    wait_until(lambda: blocked(mx2, ip), 45, "mx2 refuses the IP blocked on mx1 during the outage")
    assert flag_of(mx2, ip)["sensor"] == "mx1"
    # What the queue held is published once the database is back, and counted by mx2.
    mx1.wait_metric("smtp_sensor_fleet_events_published_total", lambda v: v >= SHARE_QUEUE - 1, timeout=30)
    published = mx1.counter("smtp_sensor_fleet_events_published_total")
    assert published + dropped >= SHARE_QUEUE + 3000
    assert dropped <= 3000 + 2  # only what did not fit
    for s in (mx1, mx2):
        s.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=30)
    mx2.wait_metric("smtp_sensor_fleet_events_received_total", lambda v: v >= published, timeout=30)
    # Under ASan, freed memory waits in its quarantine (up to 256 MB), so RSS says nothing there.
    growth = mx1.rss_kib() - rss_down
    print(f"RSS after the outage: {growth:+d} KiB")
    assert SANITIZED or growth < 64 * 1024, f"RSS grew {growth} KiB"
