"""Issue 2: idle and greeting timeouts close both sides; traffic keeps a session alive."""
import time

from harness import SLOW, SmtpConn, connect, recv_all, wait_closed
from scripted_server import Script


def test_idle_timeout_closes_both_sides(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config={"timeouts": {"idle": "1s"}})
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("EHLO idle.test", 250)
    t0 = time.monotonic()
    how, waited, data = wait_closed(c.sock, 10)
    c.close()
    assert how in ("eof", "reset"), f"client not closed after {waited:.1f}s (idle: 1s)"
    assert data == b"", f"unexpected bytes before close: {data!r}"
    assert 0.8 <= waited <= 4 * SLOW, f"closed after {waited:.2f}s, idle timeout is 1s"
    conn = up.wait_connection(0)
    assert conn.wait_closed(4), "upstream side still open after the idle timeout"
    assert conn.eof or conn.reset
    assert conn.closed_at - t0 <= 4 * SLOW
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})


def test_idle_timeout_not_triggered_by_active_session(sensor_factory, upstream_factory):
    """NOOP every 0.4s for 3s with idle: 1s: the session survives and ends with QUIT."""
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config={"timeouts": {"idle": "1s"}})
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    end = time.monotonic() + 3
    n = 0
    while time.monotonic() < end:
        c.expect("NOOP", 250)
        n += 1
        time.sleep(0.4)
    c.expect("QUIT", 221)
    c.close()
    assert n >= 6
    assert up.wait_connection(0).commands[-1] == b"QUIT"


def test_idle_timeout_counts_server_traffic(sensor_factory, upstream_factory):
    """Bytes from the upstream alone also count as activity (no bytes in *either* direction)."""
    steps = [("send", b"220 raw\r\n")] + [x for _ in range(8) for x in (("sleep", 0.4), ("send", b"250-keepalive\r\n"))]
    up = upstream_factory(Script(mode="raw", steps=steps + [("close",)]))
    sensor = sensor_factory(up.addr, config={"timeouts": {"idle": "1s"}})
    s = connect(sensor.port)
    data, how = recv_all(s, 15)
    s.close()
    assert how == "eof"
    assert data == b"220 raw\r\n" + b"250-keepalive\r\n" * 8, data


def test_greeting_timeout(sensor_factory, upstream_factory):
    """Upstream accepts but never greets: closed after timeouts.greeting (1s)."""
    up = upstream_factory(Script(greeting=None))
    sensor = sensor_factory(up.addr, config={"timeouts": {"greeting": "1s", "idle": "1m"}})
    s = connect(sensor.port)
    how, waited, data = wait_closed(s, 10)
    s.close()
    assert how in ("eof", "reset"), f"client not closed after {waited:.1f}s (greeting: 1s)"
    assert 0.8 <= waited <= 4 * SLOW, f"closed after {waited:.2f}s"
    # The client has heard nothing yet, so at most one 421 may be said before the close.
    assert data in (b"", b"421 4.4.1 Upstream unavailable\r\n"), data
    conn = up.wait_connection(0)
    assert conn.wait_closed(4), "upstream connection still open after the greeting timeout"
    assert conn.payload == b""
    # A normal upstream greeting in time is not affected.
    up.script = Script()
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("QUIT", 221)
    c.close()
