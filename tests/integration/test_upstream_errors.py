"""Issue 2: upstream down / connect timeout -> 421 4.4.1, counted; the daemon keeps serving."""
import socket
import time

from harness import SLOW, SmtpConn, connect, free_port, recv_all

UNAVAILABLE = b"421 4.4.1 Upstream unavailable\r\n"


def _errors(sensor):
    return sensor.counter("smtp_sensor_upstream_errors_total", listener="smtp")


def test_upstream_down_gives_421_and_daemon_keeps_serving(sensor_factory, sink_factory):
    dead_port = free_port()                      # nothing listens here (yet)
    sensor = sensor_factory(f"127.0.0.1:{dead_port}")
    before = _errors(sensor)
    for i in range(3):
        s = connect(sensor.port)
        got, how = recv_all(s, 10)
        s.close()
        assert got == UNAVAILABLE, f"attempt {i}: got {got!r}"
        assert how == "eof", f"attempt {i}: connection ended by {how}"
    assert sensor.wait_metric("smtp_sensor_upstream_errors_total", lambda v: v >= before + 3,
                              {"listener": "smtp"}) == before + 3
    # One warning for the operator (journalctl -p warning), not one per session; each
    # session keeps its own info line with its LCID.
    log = sensor.stderr_text()
    warnings = [l for l in log.splitlines() if f"listener 'smtp': upstream 127.0.0.1:{dead_port} unavailable" in l]
    assert len(warnings) == 1 and "[warning]" in warnings[0] and "Connection refused" in warnings[0], log
    assert "(1 session refused since the last such warning)" in warnings[0], warnings
    assert log.count("] upstream connect failed") == 3, log
    status, body = sensor.healthz()
    assert status == 200 and body.strip() == "ok", (status, body)
    # The upstream comes back on the same port: the next session works end to end.
    sink = sink_factory(port=dead_port)
    c = SmtpConn.open(sensor.port)
    assert c.expect(None, 220).startswith(b"220 smtp-sink")
    c.expect("EHLO back.test", 250)
    assert c.transaction(b"Subject: back\r\n\r\nhello\r\n")[:3] == b"250"
    c.expect("QUIT", 221)
    c.close()
    assert len(sink.wait_messages(1)) == 1
    assert _errors(sensor) == before + 3


def test_upstream_connect_timeout_gives_421(sensor_factory):
    """An upstream whose accept queue is full drops SYNs; timeouts.connect (1s) -> 421."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    port = blackhole.getsockname()[1]
    fillers = []
    for _ in range(4):                           # fill the accept queue so further SYNs are dropped
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    time.sleep(0.2)
    try:
        sensor = sensor_factory(f"127.0.0.1:{port}", config={"timeouts": {"connect": "1s"}})
        before = _errors(sensor)
        s = connect(sensor.port)
        t0 = time.monotonic()
        got, how = recv_all(s, 15)
        waited = time.monotonic() - t0
        s.close()
        sensor.wait_metric("smtp_sensor_upstream_errors_total", lambda v: v >= before + 1, {"listener": "smtp"})
        time.sleep(0.2)
        delta = _errors(sensor) - before
        assert got == UNAVAILABLE and delta == 1, \
            f"got {got!r} ({how}) after {waited:.1f}s; upstream_errors_total rose by {delta}"
        assert 0.8 <= waited <= 5 * SLOW, f"421 came after {waited:.2f}s with connect: 1s"
        assert sensor.alive()
    finally:
        for f in fillers:
            f.close()
        blackhole.close()


def test_upstream_refuses_then_client_session_counts(sensor_factory):
    """The 421 path does not leak active connections."""
    sensor = sensor_factory(f"127.0.0.1:{free_port()}")
    socks = [connect(sensor.port) for _ in range(20)]
    for s in socks:
        assert recv_all(s, 10) == (UNAVAILABLE, "eof")
        s.close()
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"})
    assert sensor.counter("smtp_sensor_connections_total", listener="smtp") >= 20
