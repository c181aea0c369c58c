"""Detectors, what a flag does: block mode (the block_reply at connect, counted as
blocked_connections_total{reason="flagged"}), deny CIDRs (IPv4 and IPv6), the TTL ending a
flag, and SIGHUP changing a threshold live while the windows are kept (and a bad config
being rejected with the old one staying in force)."""
from __future__ import annotations

import signal
import socket
import time

import pytest
import yaml

from harness import SLOW, connect, free_port, hostport, recv_all, wait_until
from scripted_server import Script
from test_detectors_common import (Alerts, assert_no_alerts, auth_plain, det_config, flagged, flagged_ips, quit,
                                   settle, smtp)

BLOCK_REPLY = b"554 5.7.1 Access denied\r\n"
USERS = {"alice@example.org": "right"}


def refused(sensor, source: str, port: int | None = None, host: str = "127.0.0.1") -> bytes:
    """Connects and returns everything the daemon said before closing."""
    s = connect(port or sensor.port, host, source=source)
    data, how = recv_all(s, timeout=5)
    s.close()
    assert how in ("eof", "reset"), (data, how)
    return data


def fail_auth(sensor, ip: str, n: int) -> None:
    c = smtp(sensor, ip)
    for i in range(n):
        assert auth_plain(c, "alice@example.org", f"wrong{i}") == 535
    quit(c)


def test_block_mode_refuses_flagged_ip_only(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"auth_bruteforce": {"failures": 3, "window": "10m", "action": "block"}}, only=True))
    bad, good = "127.0.0.111", "127.0.0.112"
    fail_auth(sensor, bad, 3)
    a = Alerts(sensor).wait("auth_bruteforce", bad)
    assert a["action"] == "block"
    settle(sensor)
    upstream_before = len(up.connections)
    assert refused(sensor, bad) == BLOCK_REPLY
    assert sensor.counter("smtp_sensor_blocked_connections_total", reason="flagged") == 1
    c = smtp(sensor, good)  # other IPs still get through
    assert auth_plain(c, "alice@example.org", "right") == 235
    quit(c)
    assert refused(sensor, bad) == BLOCK_REPLY
    settle(sensor)
    assert sensor.counter("smtp_sensor_blocked_connections_total", reason="flagged") == 2
    assert len(up.connections) == upstream_before + 1  # the refused ones never reached the upstream
    [f] = flagged(sensor)
    assert f["ip"] == bad and f["action"] == "block" and f["type"] == "auth_bruteforce"
    assert sensor.counter("smtp_sensor_flagged_ips") == 1


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_deny_cidrs_ipv4_and_ipv6(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    v6 = ipv6_loopback()
    listeners = [{"name": "smtp", "listen": hostport("127.0.0.1", free_port()), "upstream": up.addr}]
    if v6:
        listeners.append({"name": "smtp6", "listen": hostport("::1", free_port("::1")), "upstream": up.addr})
    sensor = sensor_factory(listeners=listeners, config=det_config(
        deny=["127.0.0.120/30"] + (["::1/128"] if v6 else [])))
    assert refused(sensor, "127.0.0.121") == BLOCK_REPLY
    assert refused(sensor, "127.0.0.123") == BLOCK_REPLY
    quit(smtp(sensor, "127.0.0.124"))  # just outside the /30
    if v6:
        _, port6 = sensor.listen_addr("smtp6")
        assert refused(sensor, "::1", port=port6, host="::1") == BLOCK_REPLY
    settle(sensor)
    assert sensor.counter("smtp_sensor_blocked_connections_total", reason="deny") == (3 if v6 else 2)
    assert sensor.counter("smtp_sensor_blocked_connections_total", reason="flagged") == 0
    if v6:
        assert sensor.counter("smtp_sensor_blocked_connections_total", reason="deny", listener="smtp6") == 1
    assert len(up.connections) == 1
    assert flagged(sensor) == []  # deny is not a flag
    if not v6:
        pytest.skip("no IPv6 loopback here: the IPv4 part passed, the [::1] listener was not tried")


def test_ttl_expiry_unflags_and_unblocks(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"auth_bruteforce": {"failures": 2, "window": "10m", "action": "block"}}, only=True, flag={"ttl": "2s"}))
    ip = "127.0.0.131"
    fail_auth(sensor, ip, 2)
    Alerts(sensor).wait("auth_bruteforce", ip)
    flagged_at = time.monotonic()
    settle(sensor)
    assert flagged_ips(sensor) == {ip}
    assert sensor.counter("smtp_sensor_flagged_ips") == 1
    assert refused(sensor, ip) == BLOCK_REPLY
    wait_until(lambda: flagged(sensor) == [], timeout=4, what="/flagged to empty after the 2 s TTL")
    assert time.monotonic() - flagged_at >= 1.5
    assert sensor.counter("smtp_sensor_flagged_ips") == 0
    c = smtp(sensor, ip)  # through again
    assert auth_plain(c, "alice@example.org", "right") == 235
    quit(c)
    settle(sensor)
    assert sensor.counter("smtp_sensor_blocked_connections_total", reason="flagged") == 1


def wait_log(sensor, text: str, after: int, timeout: float = 5.0) -> str:
    def seen():
        tail = sensor.stderr_text()[after:]
        return tail if text in tail else None
    return wait_until(seen, timeout, what=f"{text!r} in the daemon log")


def test_reload_changes_threshold_live_and_rejects_bad_config(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"auth_bruteforce": {"failures": 10, "window": "10m"}}, only=True))
    ip = "127.0.0.141"
    fail_auth(sensor, ip, 3)
    assert_no_alerts(sensor)

    sensor.config["detectors"]["auth_bruteforce"]["failures"] = 4
    sensor.write_config()
    mark = len(sensor.stderr_text())
    sensor.signal(signal.SIGHUP)
    wait_log(sensor, "reloaded", mark)
    fail_auth(sensor, ip, 1)  # the fourth failure: the window kept the first three
    a = Alerts(sensor).wait("auth_bruteforce", ip)
    assert a["count"] == 4 and a["threshold"] == 4, a

    # A bad config (a threshold of 0, and a valid-looking lower one) is rejected as a whole.
    bad = yaml.safe_load(yaml.safe_dump(sensor.config))
    bad["detectors"]["auth_bruteforce"]["failures"] = 2
    bad["detectors"]["bad_commands"] = {"count": 0}
    sensor.config_path.write_text(yaml.safe_dump(bad, sort_keys=False))
    mark = len(sensor.stderr_text())
    sensor.signal(signal.SIGHUP)
    log = wait_log(sensor, "reload rejected", mark)
    assert "reloaded" not in log, log
    other = "127.0.0.142"
    fail_auth(sensor, other, 2)  # would alert under the rejected config
    assert_no_alerts(sensor, ip=other)
    fail_auth(sensor, other, 2)  # alerts under the old one (4)
    a = Alerts(sensor).wait("auth_bruteforce", other)
    assert a["threshold"] == 4 and a["count"] == 4, a
    assert sensor.alive()
