"""Real SMTP clients through the relay: Postfix smtp-source, swaks (AUTH, pipelining),
Python smtplib, and an IPv6 listener and upstream."""
import random
import smtplib
import socket
import subprocess

import pytest

from harness import SLOW, SmtpSink, free_port, random_text_message, sha
from scripted_server import Script
from sensor_util import thread_switches


def test_smtp_source_many_messages(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    r = subprocess.run(["/usr/sbin/smtp-source", "-s", "10", "-m", "200", "-l", "2048",
                        f"127.0.0.1:{sensor.port}"], capture_output=True, text=True, timeout=120 * SLOW)
    assert r.returncode == 0, r.stderr
    assert len(sink.wait_messages(200)) == 200
    assert sensor.counter("smtp_sensor_connections_total", listener="smtp") == 200
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})


def _wakeups(pid: int, thread: str) -> int:
    """Context switches so far, of both kinds, of the sensor's thread named `thread`."""
    return sum(thread_switches(pid, thread))


def test_sessions_fill_one_io_thread_then_spread(sensor_factory, sink_factory):
    """Pack, then spread (SPEC 9, DESIGN "I/O threads"): ten sessions at a time stay on the
    listener's own thread; a hundred at a time spill over to the second, and every message
    still arrives."""
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, config={"threads": 2})

    def run(sessions: int, messages: int) -> int:
        before = _wakeups(sensor.pid, "io-1")
        r = subprocess.run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages), "-l", "1024",
                            f"127.0.0.1:{sensor.port}"], capture_output=True, text=True, timeout=120 * SLOW)
        assert r.returncode == 0, r.stderr
        sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
        return _wakeups(sensor.pid, "io-1") - before

    quiet = run(10, 100)
    flood = run(100, 400)
    assert len(sink.wait_messages(500)) == 500
    assert sensor.counter("smtp_sensor_connections_total", listener="smtp") == 500
    # io-1 wakes once a second to flush its transcript lines whatever it holds; for a session
    # it wakes at every command and reply.
    assert quiet < 60, (quiet, flood)
    assert flood > 300, (quiet, flood)


@pytest.mark.parametrize("password,ok", [("secret", True), ("wrong", False)])
def test_swaks_auth_pipelining_real_result(sensor_factory, upstream_factory, password, ok):
    up = upstream_factory(Script(users={"alice": "secret"}))
    sensor = sensor_factory(up.addr)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{sensor.port}", "--from", "alice@example.com",
                        "--to", "bob@example.net", "--auth", "PLAIN", "--auth-user", "alice",
                        "--auth-password", password, "--pipeline", "--helo", "swaks.test",
                        "--body", "relayed by smtp-sensor"],
                       capture_output=True, text=True, timeout=60 * SLOW)
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.auth_results == [("PLAIN", "alice", ok)]
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "<-  235 " in r.stdout, r.stdout
        assert len(conn.messages) == 1 and b"relayed by smtp-sensor" in conn.messages[0]
    else:
        assert r.returncode != 0
        assert "<** 535 " in r.stdout, r.stdout
        assert conn.messages == []


def test_smtplib_several_messages_one_session(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    rng = random.Random(9)
    msgs = [random_text_message(rng.randint(10, 300_000), rng) for _ in range(5)]
    with smtplib.SMTP("127.0.0.1", sensor.port, timeout=30) as c:
        c.ehlo("smtplib.test")
        for i, m in enumerate(msgs):
            assert c.sendmail(f"s{i}@example.com", [f"r{i}@example.net"], m) == {}
    files = sink.wait_messages(5)
    got = {SmtpSink.parse(f).headers["X-Mail-Args"][0]: SmtpSink.parse(f).body for f in files}
    for i, m in enumerate(msgs):
        assert sha(got[f"<s{i}@example.com>"]) == sha(m.replace(b"\r\n", b"\n"))


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6(), reason="no IPv6 loopback")
def test_ipv6_listener_and_upstream(sensor_factory, sink_factory):
    sink = sink_factory(host="::1")
    port6 = free_port("::1")
    sensor = sensor_factory(sink.addr, listener={"listen": f"[::1]:{port6}"})
    msg = random_text_message(200_000, random.Random(6))
    with smtplib.SMTP("::1", port6, timeout=30) as c:
        c.ehlo("v6.test")
        assert c.sendmail("v6@example.com", ["b@example.net"], msg) == {}
    (path,) = sink.wait_messages(1)
    m = SmtpSink.parse(path)
    assert m.headers["X-Client-Addr"][0].startswith("ipv6:") or ":" in m.headers["X-Client-Addr"][0]
    assert sha(m.body) == sha(msg.replace(b"\r\n", b"\n"))
    assert sensor.counter("smtp_sensor_connections_total", listener="smtp") == 1
