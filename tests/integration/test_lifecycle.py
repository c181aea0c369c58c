"""Issue 2: start-up, HTTP endpoints, and the SIGTERM drain."""
import signal
import socket
import time

import pytest

from harness import SLOW, SmtpConn, connect, recv_all, wait_until
from scripted_server import Script

REQUIRED_FAMILIES = ["smtp_sensor_connections_total", "smtp_sensor_connections_active",
                     "smtp_sensor_upstream_errors_total", "smtp_sensor_blocked_connections_total",
                     "smtp_sensor_bytes_total"]


def test_healthz_and_metrics_families(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    status, body = sensor.healthz()
    assert status == 200 and body.strip() == "ok", (status, body)
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("EHLO metrics.test", 250)
    assert sensor.counter("smtp_sensor_connections_active", listener="smtp") == 1
    c.expect("QUIT", 221)
    c.close()
    text = sensor.metrics_text()
    for fam in REQUIRED_FAMILIES:
        assert f"# TYPE {fam} " in text or f"\n{fam}{{" in text, f"{fam} missing from /metrics"
    assert sensor.counter("smtp_sensor_connections_total", listener="smtp") == 1
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    assert sensor.counter("smtp_sensor_bytes_total", listener="smtp", direction="in") >= len(
        b"EHLO metrics.test\r\nQUIT\r\n")
    assert sensor.counter("smtp_sensor_bytes_total", listener="smtp", direction="out") > 0
    for name, labels, _ in sensor.metrics():     # no IPs or LCIDs as labels (SPEC 7)
        for v in labels.values():
            assert not v.startswith("127.0.0."), f"{name}{labels} exposes an IP as a label"


def test_sigterm_drains_open_session(sensor_factory, upstream_factory):
    """After SIGTERM: new connects are refused, the open session finishes normally, and the
    daemon exits 0 as soon as it is done (well before shutdown_grace)."""
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config={"timeouts": {"shutdown_grace": "20s"}})
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("EHLO drain.test", 250)
    c.expect("MAIL FROM:<a@example.com>", 250)
    sensor.signal(signal.SIGTERM)
    t0 = time.monotonic()

    def refused():
        try:
            s = connect(sensor.port, timeout=1)
        except (ConnectionRefusedError, ConnectionResetError):
            # A connect that reached the backlog just as the listener closed is reset,
            # not refused: either way the daemon no longer accepts it.
            return True
        s.close()
        return False
    wait_until(refused, 3, what="new connections to be refused after SIGTERM")
    assert sensor.alive(), "daemon exited while a session was still open"
    c.expect("RCPT TO:<b@example.com>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: drain\r\n\r\nfinished during the drain\r\n.\r\n")
    c.expect(None, 250)
    c.expect("QUIT", 221)
    assert recv_all(c.sock, 5)[1] == "eof"
    c.close()
    rc = sensor.wait(10 * SLOW)
    assert rc == 0, sensor.stderr_tail()
    assert time.monotonic() - t0 < 15, "the daemon waited for the grace time although no session was left"
    conn = up.wait_connection(0)
    assert conn.messages == [b"Subject: drain\r\n\r\nfinished during the drain\r\n"]


def test_sigterm_grace_expiry_closes_sessions(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config={"timeouts": {"shutdown_grace": "2s"}})
    held = []
    for _ in range(3):
        c = SmtpConn.open(sensor.port)
        c.expect(None, 220)
        held.append(c)
    sensor.signal(signal.SIGTERM)
    t0 = time.monotonic()
    for c in held:
        data, how = recv_all(c.sock, 15)
        assert how in ("eof", "reset"), f"session still open {time.monotonic() - t0:.1f}s after SIGTERM"
        c.close()
    waited = time.monotonic() - t0
    assert 1.5 <= waited <= 6 * SLOW, f"sessions closed {waited:.2f}s after SIGTERM with shutdown_grace 2s"
    rc = sensor.wait(10 * SLOW)
    assert rc == 0, sensor.stderr_tail()
    for conn in up.wait_connections(3):
        assert conn.wait_closed(5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_idle_daemon_exits_zero_on_signal(sensor_factory, sink_factory, sig):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    t0 = time.monotonic()
    sensor.signal(sig)
    assert sensor.wait(10 * SLOW) == 0, sensor.stderr_tail()
    assert time.monotonic() - t0 < 5 * SLOW
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sensor.port), timeout=2)


def test_two_listeners_are_independent(sensor_factory, sink_factory, upstream_factory):
    """Two listeners, two upstreams: each relays to its own upstream, and metrics carry the
    listener label."""
    sink = sink_factory()
    up = upstream_factory(Script(proxy="required"))
    sensor = sensor_factory(listeners=[{"name": "front", "upstream": sink.addr},
                                       {"name": "back", "upstream": up.addr, "proxy_protocol_out": "v2"}],
                            config={"threads": "auto"})
    for name, banner in (("front", b"220 smtp-sink"), ("back", b"220 scripted.test")):
        c = SmtpConn.open(sensor.listen_addr(name)[1])
        assert c.reply().startswith(banner), name
        c.expect("QUIT", 221)
        c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.proxy is not None and conn.proxy.version == 2 and conn.payload == b"QUIT\r\n"
    assert len(up.connections) == 1
    for name in ("front", "back"):
        assert sensor.counter("smtp_sensor_connections_total", listener=name) == 1, name
