"""Issue 2: 1,000 concurrent sessions complete; max_connections is enforced and counted."""
import asyncio
import time

from harness import SLOW, SmtpConn, connect, recv_all

N = 1000


async def _session(port: int, i: int, greeted: asyncio.Event, counter: list, go: asyncio.Event) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        async def reply() -> bytes:
            out = b""
            while True:
                line = await reader.readline()
                if not line:
                    raise ConnectionError(f"session {i}: EOF after {out!r}")
                out += line
                if line[3:4] == b" ":
                    return out

        assert (await reply()).startswith(b"220")
        counter[0] += 1
        if counter[0] == N:
            greeted.set()
        await go.wait()                     # every session is open and greeted before any proceeds
        for cmd, code in ((f"EHLO c{i}.test", b"250"), (f"MAIL FROM:<s{i}@example.com>", b"250"),
                          (f"RCPT TO:<r{i}@example.net>", b"250"), ("DATA", b"354")):
            writer.write(cmd.encode() + b"\r\n")
            r = await reply()
            assert r.startswith(code), f"session {i}: {cmd} -> {r!r}"
        writer.write(b"Subject: %d\r\n\r\nconcurrent body %d\r\n.\r\n" % (i, i))
        r = await reply()
        assert r.startswith(b"250"), f"session {i}: end of data -> {r!r}"
        writer.write(b"QUIT\r\n")
        r = await reply()
        assert r.startswith(b"221")
        assert await reader.read() == b""
        return r
    finally:
        writer.close()


async def _run_all(port: int, sensor) -> tuple[list, float]:
    greeted, go = asyncio.Event(), asyncio.Event()
    counter = [0]
    tasks = [asyncio.ensure_future(_session(port, i, greeted, counter, go)) for i in range(N)]
    try:
        await asyncio.wait_for(greeted.wait(), 120 * SLOW)
    except asyncio.TimeoutError:
        for t in tasks:
            t.cancel()
        errs = [t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()]
        raise AssertionError(f"only {counter[0]} of {N} sessions greeted; first errors: {errs[:3]}")
    active = await asyncio.get_running_loop().run_in_executor(
        None, lambda: sensor.counter("smtp_sensor_connections_active", listener="smtp"))
    go.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 180 * SLOW)
    return results, active


def test_1000_concurrent_sessions_complete(sensor_factory, sink_factory):
    sink = sink_factory(max_conns=N + 100, backlog=2048)
    sensor = sensor_factory(sink.addr)
    total0 = sensor.counter("smtp_sensor_connections_total", listener="smtp")
    t0 = time.monotonic()
    results, active = asyncio.run(_run_all(sensor.port, sensor))
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, f"{len(errors)} of {N} sessions failed; first: {errors[:3]!r}"
    assert active == N, f"connections_active was {active} with {N} sessions open"
    files = sink.wait_messages(N, timeout=60)
    assert len(files) == N
    assert sensor.counter("smtp_sensor_connections_total", listener="smtp") - total0 == N
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v == 0, {"listener": "smtp"}, timeout=15)
    assert sensor.counter("smtp_sensor_upstream_errors_total", listener="smtp") == 0
    print(f"{N} sessions in {time.monotonic() - t0:.1f}s")


def test_max_connections_limit(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, listener={"max_connections": 3})
    blocked0 = sensor.counter("smtp_sensor_blocked_connections_total", listener="smtp", reason="max_connections")
    held = []
    for _ in range(3):
        c = SmtpConn.open(sensor.port)
        c.expect(None, 220)
        held.append(c)
    extra = connect(sensor.port)
    got, how = recv_all(extra, 5)
    extra.close()
    assert how in ("eof", "reset") and not got.startswith(b"220"), \
        f"4th connection over max_connections=3 got {got!r} ({how})"
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= blocked0 + 1,
                              {"listener": "smtp", "reason": "max_connections"}) == blocked0 + 1
    # The held sessions are unaffected, and freeing one slot admits a new session.
    for c in held:
        c.expect("NOOP", 250)
    held[0].expect("QUIT", 221)
    held[0].close()
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v <= 2, {"listener": "smtp"})
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    c.expect("QUIT", 221)
    c.close()
    for c in held[1:]:
        c.expect("QUIT", 221)
        c.close()


def test_max_connections_with_sessions_on_both_threads(sensor_factory, sink_factory):
    """Past 64 sessions the acceptor's thread spreads them to the other I/O thread; a
    connection over max_connections is then closed on the acceptor's own thread (the I/O
    threads take no per-socket lock: worker.hpp). Sessions on both threads go on while a
    burst is refused, and every one of them relays to the end."""
    sink = sink_factory(max_conns=200)
    sensor = sensor_factory(sink.addr, listener={"max_connections": 70}, config={"threads": 2})
    held = []
    for _ in range(70):
        c = SmtpConn.open(sensor.port)
        c.expect(None, 220)
        held.append(c)
    refused = []
    for _ in range(40):
        s = connect(sensor.port)
        refused.append(s)
        held[len(refused) % 70].expect("NOOP", 250)  # traffic on both threads meanwhile
    for s in refused:
        got, how = recv_all(s, 5)
        s.close()
        assert how in ("eof", "reset") and got == b"", f"over max_connections got {got!r} ({how})"
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= 40,
                              {"listener": "smtp", "reason": "max_connections"}) == 40
    for i, c in enumerate(held):
        c.expect("EHLO held.test", 250)
        assert c.transaction(b"Subject: %d\r\n\r\nheld %d\r\n" % (i, i))[:3] == b"250"
        c.expect("QUIT", 221)
        c.close()
    assert len(sink.wait_messages(70)) == 70
    assert sensor.alive()
