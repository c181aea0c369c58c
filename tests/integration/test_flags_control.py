"""Flags an administrator changes (SPEC 11) over the control socket, and the flag table's
bound (SPEC 9): `smtp-sensor flags` add/list/remove including a CIDR, a restart in
between (flags survive in the store), a removal taking effect at once, the socket's mode,
malformed and oversized requests, `manual` alert lines, and RSS flat past
flag.max_entries with evictions counted."""
from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from harness import SANITIZED, SLOW, connect, recv_all, sensor_binary, wait_until
from scripted_server import Script, ScriptedServer
from test_detectors_common import auth_plain, det_config, smtp, quit

BLOCK_REPLY = b"554 5.7.1 Access denied\r\n"


def control(sensor, *lines: str, raw: bytes | None = None) -> list[str]:
    """Sends requests over the control socket; returns every line the daemon answered."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10 * SLOW)
    s.connect(sensor.config["control"]["socket"])
    s.sendall(raw if raw is not None else "".join(l + "\n" for l in lines).encode())
    data = b""
    want = len(lines) if raw is None else 1
    def answers() -> int:
        done = data[:data.rfind(b"\n") + 1].split(b"\n")
        return sum(1 for l in done if l == b"ok" or l.startswith(b"error: "))
    while answers() < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode().splitlines()


def cli(sensor, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sensor_binary(), "flags", *args, "-c", str(sensor.config_path)], capture_output=True,
                          text=True, timeout=30 * SLOW)


def refused(sensor, source: str) -> bytes:
    s = connect(sensor.port, source=source)
    data, how = recv_all(s, timeout=5)
    s.close()
    return data


def manual_alerts(sensor) -> list[dict]:
    path = sensor.config["alerts"]["path"]
    deadline = time.monotonic() + 5 * SLOW
    out: list[dict] = []
    while time.monotonic() < deadline:
        try:
            out = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
        except FileNotFoundError:
            out = []
        out = [a for a in out if a["type"] == "manual"]
        if out:
            break
        time.sleep(0.05)
    return out


def test_flags_add_list_remove_survive_a_restart(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    cfg = det_config({}, only=True, store={"enabled": True})
    sensor = sensor_factory(up.addr, config=cfg)
    sock = sensor.config["control"]["socket"]
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    assert stat.S_ISSOCK(os.stat(sock).st_mode)

    r = cli(sensor, "add", "127.0.0.121", "--action", "block", "--ttl", "2h", "--reason", "ticket 42, by hand")
    assert r.returncode == 0, r.stderr
    r = cli(sensor, "add", "127.0.9.0/24", "--action", "block")
    assert r.returncode == 0, r.stderr
    r = cli(sensor, "add", "2001:db8:1:2::77/64")
    assert r.returncode == 0, r.stderr
    r = cli(sensor, "list")
    assert r.returncode == 0, r.stderr
    keys = {l.split()[0]: l for l in r.stdout.splitlines()}
    assert set(keys) == {"127.0.0.121", "127.0.9.0/24", "2001:db8:1:2::/64"}, r.stdout
    assert "action=block" in keys["127.0.0.121"] and keys["127.0.0.121"].endswith("reason=ticket 42, by hand")
    assert "type=manual" in keys["127.0.9.0/24"]
    assert "action=flag" in keys["2001:db8:1:2::/64"]

    assert refused(sensor, "127.0.0.121") == BLOCK_REPLY
    assert refused(sensor, "127.0.9.200") == BLOCK_REPLY  # inside the flagged /24
    quit(smtp(sensor, "127.0.10.1"))                       # outside it

    # The alert log has one manual line per change.
    alerts = manual_alerts(sensor)
    assert {a["ip"] for a in alerts} == {"127.0.0.121", "127.0.9.0/24", "2001:db8:1:2::/64"}, alerts
    a = next(a for a in alerts if a["ip"] == "127.0.0.121")
    assert a["action"] == "block" and a["listener"] == "control" and "ticket 42" in a["detail"]

    # A restart keeps them (read back from the store).
    sensor.stop()
    sensor.start()
    r = cli(sensor, "list")
    assert {l.split()[0] for l in r.stdout.splitlines()} == {"127.0.0.121", "127.0.9.0/24", "2001:db8:1:2::/64"}, \
        r.stdout + sensor.stderr_tail()
    assert refused(sensor, "127.0.9.5") == BLOCK_REPLY

    # A removal takes effect at once: the next connection gets through.
    r = cli(sensor, "remove", "127.0.9.0/24")
    assert r.returncode == 0, r.stderr
    quit(smtp(sensor, "127.0.9.5"))
    r = cli(sensor, "remove", "127.0.9.0/24")
    assert r.returncode == 1 and "not flagged" in r.stderr
    removed = [a for a in manual_alerts(sensor) if a["action"] == "remove"]
    assert [a["ip"] for a in removed] == ["127.0.9.0/24"]

    # ... and the removal survives a restart too.
    sensor.stop()
    sensor.start()
    r = cli(sensor, "list")
    assert {l.split()[0] for l in r.stdout.splitlines()} == {"127.0.0.121", "2001:db8:1:2::/64"}, r.stdout
    status, body = sensor.http_get("/flagged")
    assert status == 200 and {f["ip"] for f in json.loads(body)} == {"127.0.0.121", "2001:db8:1:2::/64"}


def test_malformed_and_oversized_requests(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=det_config({}, only=True))
    assert control(sensor, "list") == ["ok"]
    assert control(sensor, "frobnicate")[0].startswith("error: unknown command")
    assert control(sensor, "add not-an-ip")[0].startswith("error: not an IP")
    assert control(sensor, "add 10.0.0.0/33")[0].startswith("error: not an IP")
    assert control(sensor, "add 192.0.2.1 ttl=forever")[0].startswith("error: ttl")
    assert control(sensor, "remove 192.0.2.1")[0].startswith("error: not flagged")
    assert control(sensor, raw=b"\x00\x01\x02 binary\n")[0].startswith("error: control characters")
    # 64 KiB without a newline: one error line, then the daemon hangs up.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10 * SLOW)
    s.connect(sensor.config["control"]["socket"])
    try:
        s.sendall(b"a" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except ConnectionResetError:
        pass
    s.close()
    assert data == b"error: request longer than 4096 bytes\n"
    # Several requests on one connection, help among them; the daemon still serves.
    lines = control(sensor, "help", "add 192.0.2.1 action=block", "list")
    assert "ok" in lines and any(l.startswith("192.0.2.1 action=block") for l in lines), lines
    assert sensor.healthz()[0] == 200
    quit(smtp(sensor, "127.0.0.5"))
    r = cli(sensor, "add", "nonsense")
    assert r.returncode == 1 and "not an IP" in r.stderr


def test_readd_says_what_it_replaces_and_names_the_stored_key(sensor_factory, upstream_factory):
    """A second add on a key replaces the flag (the newer command wins), and the reply and
    the daemon log say what was replaced; both name the key as stored, the network of
    2001:db8:1:2::5/64 being 2001:db8:1:2::/64."""
    up = upstream_factory(Script(capabilities=["PIPELINING"], replies={"AUTH": "500 Syntax error, command unrecognized."}))
    sensor = sensor_factory(up.addr, config=det_config({"auth_unadvertised": {"attempts": 1}}, only=True))
    until = r"until (\d{4}-\d\d-\d\dT[\d:.]+Z)"

    r = cli(sensor, "add", "2001:db8:1:2::/64", "--action", "block", "--ttl", "2h", "--reason", "ticket 9")
    assert r.returncode == 0, r.stderr
    first = re.fullmatch(rf"blocked 2001:db8:1:2::/64 {until}\n", r.stdout)
    assert first, r.stdout
    mark = len(sensor.stderr_text())
    r = cli(sensor, "add", "2001:db8:1:2::5/64")
    assert r.returncode == 0, r.stderr
    again = re.fullmatch(rf"flagged 2001:db8:1:2::/64 {until} \(replaces block until (\S+), reason: ticket 9\)\n", r.stdout)
    assert again and again.group(2) == first.group(1), r.stdout
    log = sensor.stderr_text()[mark:]
    assert "control: flagged 2001:db8:1:2::/64 (flag for 3600 s) (replaces block until" in log, log
    assert "2001:db8:1:2::5" not in log, log
    (line,) = cli(sensor, "list").stdout.splitlines()
    assert line.startswith("2001:db8:1:2::/64 action=flag type=manual") and "reason=" not in line, line
    assert [a["ip"] for a in manual_alerts(sensor)] == ["2001:db8:1:2::/64"] * 2

    # A detector's flag replaced by hand is named by its detector.
    _auth_unadvertised(sensor.port, "127.0.0.77")
    wait_until(lambda: "127.0.0.77" in cli(sensor, "list").stdout, timeout=5, what="the detector's flag")
    lines = control(sensor, "add 127.0.0.77/32 action=block")
    assert re.fullmatch(rf"blocked 127\.0\.0\.77 {until} \(replaces flag by auth_unadvertised {until}\)", lines[0]), lines
    assert lines[1:] == ["ok"]
    # A fresh key replaces nothing, and a removal logs the stored key too.
    lines = control(sensor, "add 127.0.5.5/24")
    assert re.fullmatch(rf"flagged 127\.0\.5\.0/24 {until}", lines[0]) and lines[1:] == ["ok"], lines
    mark = len(sensor.stderr_text())
    assert control(sensor, "remove 127.0.5.99/24") == ["ok"]
    assert "control: removed the flag on 127.0.5.0/24" in sensor.stderr_text()[mark:]


def _auth_unadvertised(port: int, ip: str) -> None:
    s = connect(port, source=ip)
    f = s.makefile("rb")
    f.readline()  # 220
    s.sendall(b"HELO x\r\nAUTH LOGIN\r\nQUIT\r\n")
    while f.readline():
        pass
    s.close()


def _rss(sensor) -> int:
    with open(f"/proc/{sensor.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_flag_table_bound_rss_flat_and_evictions_counted(tmp_path):
    """25,000 distinct addresses each raise an alert: the table stays at flag.max_entries,
    the rest are evicted and counted, RSS stays flat past the cap, /flagged is paged."""
    from harness import Sensor
    up = ScriptedServer(Script(capabilities=["PIPELINING"], replies={"AUTH": "500 Syntax error, command unrecognized."})).start()
    cap = 2000
    cfg = det_config({"auth_unadvertised": {"attempts": 1}}, only=True, flag={"max_entries": cap, "ttl": "1h"})
    cfg["detectors"]["max_tracked"] = 1000  # so that the detectors' own tables stay flat too
    sensor = Sensor(tmp_path, up.addr, config=cfg)
    try:
        sensor.start()
        ips = [f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(1 << 16, (1 << 16) + 25_000)]

        def run(batch):
            with ThreadPoolExecutor(16) as ex:
                list(ex.map(lambda ip: _auth_unadvertised(sensor.port, ip), batch))

        run(ips[:5000])
        sensor.wait_metric("smtp_sensor_flags_evicted_total", lambda v: v >= 5000 - cap, timeout=20)
        rss_at_cap = _rss(sensor)
        run(ips[5000:])
        sensor.wait_metric("smtp_sensor_flags_evicted_total", lambda v: v >= 25_000 - cap, timeout=30)
        rss_after = _rss(sensor)
        assert sensor.counter("smtp_sensor_flagged_ips") == cap
        growth = rss_after - rss_at_cap
        print(f"RSS at the cap {rss_at_cap >> 20} MiB, after 20,000 more flags {rss_after >> 20} MiB")
        # Unbounded, 20,000 more flags cost ~7 MiB (36 MiB per 100,000, issue 21); allow noise.
        # ASan's quarantine keeps freed memory resident, so RSS says nothing there; the
        # Release run holds the bound (the eviction counts above hold in both).
        assert SANITIZED or growth < 4 << 20, f"RSS grew {growth >> 10} KiB past the cap"
        status, body = sensor.http_get("/flagged?limit=500&offset=0")
        assert status == 200 and len(json.loads(body)) == 500
        status, body = sensor.http_get("/flagged")
        assert status == 200 and len(json.loads(body)) == 1000  # the default page
        status, body = sensor.http_get("/flagged?limit=20000")
        assert status == 400
        sensor.stop()
    finally:
        sensor.kill()
        up.stop()


def _auth_fail(sensor, ip: str, user: str) -> None:
    c = smtp(sensor, ip)
    assert auth_plain(c, user, "wrong") == 535
    quit(c)


def test_botnet_against_one_account_one_alert_and_a_bounded_table(tmp_path):
    """Issue 21's attack: 8,000 distinct addresses fail AUTH for one account. One
    distributed_bruteforce alert names the account and its first clients (not one alert
    per address); every address is flagged, the table holds flag.max_entries, the rest
    are evicted and counted, and RSS stays flat past the cap."""
    from harness import Sensor
    up = ScriptedServer(Script(users={"ceo@example.org": "right"})).start()
    cap = 1000
    cfg = det_config({"distributed_bruteforce": {"distinct_ips": 10, "window": "1h"}}, only=True,
                     flag={"max_entries": cap, "ttl": "1h"})
    cfg["detectors"]["max_tracked"] = 1000
    sensor = Sensor(tmp_path, up.addr, config=cfg)
    try:
        sensor.start()
        ips = [f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}" for i in range(2 << 16, (2 << 16) + 8_000)]

        def run(batch):
            with ThreadPoolExecutor(16) as ex:
                list(ex.map(lambda ip: _auth_fail(sensor, ip, "ceo@example.org"), batch))

        run(ips[:2000])
        sensor.wait_metric("smtp_sensor_flags_evicted_total", lambda v: v >= 2000 - cap, timeout=20)
        rss_at_cap = _rss(sensor)
        run(ips[2000:])
        sensor.wait_metric("smtp_sensor_flags_evicted_total", lambda v: v >= 8_000 - cap, timeout=30)
        rss_after = _rss(sensor)
        assert sensor.counter("smtp_sensor_flagged_ips") == cap
        growth = rss_after - rss_at_cap  # not under ASan: its quarantine keeps freed memory resident
        assert SANITIZED or growth < 4 << 20, f"RSS grew {growth >> 10} KiB past the cap"
        lines = [json.loads(l) for l in open(sensor.config["alerts"]["path"]) if l.strip()]
        dist = [a for a in lines if a["type"] == "distributed_bruteforce"]
        assert len(dist) == 1, f"{len(dist)} alert lines for one attacked account"
        assert dist[0]["users"] == ["ceo@example.org"] and len(dist[0]["ips"]) == 10, dist[0]
        assert sensor.counter("smtp_sensor_alerts_total", type="distributed_bruteforce") == 1
        sensor.stop()
    finally:
        sensor.kill()
        up.stop()
