"""Issue 2: a client RST mid-DATA and an upstream closing mid-session close the other side,
and the daemon keeps serving."""
import random
import time

from harness import SLOW, SmtpConn, connect, recv_all, rst_close, wait_closed
from scripted_server import Script


def _session_works(sensor, expect_banner: bytes = b"220") -> None:
    c = SmtpConn.open(sensor.port)
    assert c.reply().startswith(expect_banner)
    c.expect("EHLO after.test", 250)
    assert c.transaction(b"Subject: after\r\n\r\nstill serving\r\n")[:3] == b"250"
    c.expect("QUIT", 221)
    assert recv_all(c.sock, 5)[1] == "eof"
    c.close()


def test_client_reset_mid_data(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr)
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("EHLO reset.test", 250)
    c.expect("MAIL FROM:<a@example.com>", 250)
    c.expect("RCPT TO:<b@example.com>", 250)
    c.expect("DATA", 354)
    partial = b"Subject: cut\r\n\r\n" + b"line of a message that will never end\r\n" * 3000
    c.send(partial)
    conn = up.wait_connection(0)
    conn.wait_for(lambda k: k.payload_len >= len(partial), 10, "partial DATA upstream")
    t0 = time.monotonic()
    rst_close(c.sock)
    assert conn.wait_closed(5), "upstream connection not closed after the client's RST"
    assert conn.eof or conn.reset, conn.ended_by
    assert conn.closed_at - t0 < 5 * SLOW
    assert conn.messages == [], "an incomplete DATA must not be turned into a message"
    assert partial in conn.payload
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    _session_works(sensor)
    assert sensor.alive()


def test_upstream_closes_mid_session(sensor_factory, upstream_factory):
    """Upstream closes without replying to RCPT: the client sees EOF (after everything the
    upstream sent before), and a following session works."""
    up = upstream_factory(lambda i: Script(drop_on={"RCPT"}) if i == 0 else Script())
    sensor = sensor_factory(up.addr)
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("EHLO drop.test", 250)
    c.expect("MAIL FROM:<a@example.com>", 250)
    c.send("RCPT TO:<b@example.com>\r\n")
    how, waited, data = wait_closed(c.sock, 10)
    c.close()
    assert how == "eof", f"client saw {how} after {waited:.1f}s"
    assert data == b"" and c.buf == b""
    conn = up.wait_connection(0)
    assert conn.ended_by == "server_close"
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    _session_works(sensor)


def test_upstream_reset_mid_data(sensor_factory, upstream_factory):
    up = upstream_factory(lambda i: Script(reset_on={"DATA"}) if i == 0 else Script())
    sensor = sensor_factory(up.addr)
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("MAIL FROM:<a@example.com>", 250)
    c.expect("RCPT TO:<b@example.com>", 250)
    c.send("DATA\r\n")
    how, waited, data = wait_closed(c.sock, 10)
    c.close()
    assert how in ("eof", "reset"), f"client still open {waited:.1f}s after the upstream's RST"
    assert data == b""
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    _session_works(sensor)


def test_smtp_sink_disconnect_and_421(sensor_factory, sink_factory):
    """Real peer: smtp-sink -q rcpt (close without reply) and -Q mail (421 then close)."""
    sink_q = sink_factory(extra=["-q", "rcpt"])
    sensor = sensor_factory(sink_q.addr)
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("EHLO q.test", 250)
    c.expect("MAIL FROM:<a@example.com>", 250)
    c.send("RCPT TO:<b@example.com>\r\n")
    how, _, data = wait_closed(c.sock, 10)
    c.close()
    assert how == "eof" and data == b""

    sink_421 = sink_factory(extra=["-Q", "mail"])
    sensor2 = sensor_factory(sink_421.addr)
    c = SmtpConn.open(sensor2.port)
    c.expect(None, 220)
    c.expect("EHLO q.test", 250)
    r = c.cmd("MAIL FROM:<a@example.com>")
    assert r.startswith(b"421"), r
    how, _, data = wait_closed(c.sock, 10)
    c.close()
    assert how == "eof" and data == b""
    for s in (sensor, sensor2):
        s.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
        assert s.alive()


def test_many_client_resets_do_not_leak(sensor_factory, upstream_factory):
    """50 clients RST at random points; afterwards nothing is active and a session works."""
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr)
    rng = random.Random(3)
    _session_works(sensor)                     # warm-up: lazily opened files/threads
    time.sleep(0.2)
    fds0 = sensor.open_fds()
    for i in range(50):
        c = SmtpConn.open(sensor.port)
        c.expect(None, 220)
        stage = rng.randint(0, 3)
        if stage >= 1:
            c.expect("MAIL FROM:<a@example.com>", 250)
        if stage >= 2:
            c.expect("RCPT TO:<b@example.com>", 250)
        if stage >= 3:
            c.expect("DATA", 354)
            c.send(rng.randbytes(rng.randint(1, 50_000)).replace(b"\r\n.\r\n", b"xxxxx"))
        rst_close(c.sock)
    up.wait_connections(51)
    for conn in up.connections[1:51]:
        assert conn.wait_closed(10), f"upstream conn {conn.index} never closed"
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    time.sleep(0.2)
    assert sensor.open_fds() <= fds0 + 2, f"fds {fds0} -> {sensor.open_fds()} after 50 resets"
    _session_works(sensor)


def test_client_gone_before_upstream_connected(sensor_factory, upstream_factory):
    """Clients that connect and RST/close at once (port scanners): every upstream leg is
    closed too, nothing stays active, and the daemon keeps serving."""
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr)
    for i in range(30):
        s = connect(sensor.port)
        rst_close(s) if i % 2 else s.close()
    time.sleep(0.5)
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    for conn in up.connections:
        assert conn.wait_closed(5), f"upstream leg {conn.index} left open"
    _session_works(sensor)
