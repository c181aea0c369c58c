"""Issue 2: a client that stops reading while the upstream sends 100 MB does not make the
daemon buffer: RSS stays flat, the session stays alive, and all 100 MB arrive byte-exact."""
import hashlib
import socket
import time

from harness import SLOW, connect

MB = 1 << 20
SIZE = 100 * MB
RSS_GROWTH_LIMIT_KIB = 16 * 1024


def test_slow_reader_bounded_memory_then_full_delivery(sensor_factory, upstream_factory):
    from scripted_server import Script
    up = upstream_factory(Script(mode="raw", record=False, steps=[
        ("send", b"220 firehose.test ESMTP\r\n"), ("send_random", SIZE - 25, 1 << 20), ("close",)]))
    sensor = sensor_factory(up.addr)
    rss0 = sensor.rss_kib()
    # A small receive buffer keeps the kernel from absorbing tens of MB on the client side.
    s = connect(sensor.port, rcvbuf=128 * 1024, timeout=60)
    conn = up.wait_connection(0)
    samples = []
    t_end = time.monotonic() + 4 * SLOW
    while time.monotonic() < t_end:           # the client reads nothing for 4 s (x SLOW)
        samples.append(sensor.rss_kib())
        time.sleep(0.1)
    sent_while_stalled = conn.sent_len
    growth = max(samples) - rss0
    assert not conn.closed, f"upstream session ended while the client was stalled ({conn.ended_by})"
    assert sensor.alive()
    assert sent_while_stalled < SIZE, "the upstream could send all 100 MB: no backpressure reached it"
    assert growth < RSS_GROWTH_LIMIT_KIB, \
        f"daemon RSS grew by {growth} KiB (limit {RSS_GROWTH_LIMIT_KIB}) while the client stalled " \
        f"and the upstream had pushed {sent_while_stalled / MB:.1f} MB; samples {samples[::5]}"
    print(f"client stalled: upstream pushed {sent_while_stalled / MB:.1f} MB, daemon RSS {rss0} KiB "
          f"-> max {max(samples)} KiB (+{growth} KiB)")
    active = sensor.counter("smtp_sensor_connections_active", listener="smtp")
    assert active == 1
    # Now drain everything.
    h = hashlib.sha256()
    n = 0
    s.settimeout(60 * SLOW)
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    s.close()
    assert conn.wait_closed(30)
    assert n == SIZE, f"client got {n} of {SIZE} bytes"
    assert h.hexdigest() == conn.sent_sha256, "100 MB arrived, but not byte-exact"
    rss_end = sensor.rss_kib()
    assert rss_end - rss0 < 2 * RSS_GROWTH_LIMIT_KIB, f"RSS {rss0} -> {rss_end} KiB after the transfer"


def test_slow_upstream_reader_bounds_client_direction(sensor_factory, upstream_factory):
    """The other direction: the upstream stops reading while the client pushes 100 MB."""
    from scripted_server import Script
    up = upstream_factory(Script(mode="raw", record=False, steps=[
        ("send", b"220 tarpit.test ESMTP\r\n"), ("stop_reading",), ("sleep", 4 * SLOW),
        ("resume_reading",), ("wait_eof",), ("close",)]))
    sensor = sensor_factory(up.addr)
    rss0 = sensor.rss_kib()
    s = connect(sensor.port, timeout=60)
    s.setblocking(False)
    block = bytes(range(256)) * 4096           # 1 MiB
    h = hashlib.sha256()
    pushed = 0
    samples = []
    t_end = time.monotonic() + 3 * SLOW
    while time.monotonic() < t_end and pushed < SIZE:
        try:
            k = s.send(block[: min(len(block), SIZE - pushed)])
            h.update(block[:k])
            pushed += k
        except BlockingIOError:
            time.sleep(0.05)
        samples.append(sensor.rss_kib())
    growth = max(samples) - rss0
    print(f"upstream stalled: client pushed {pushed / MB:.1f} MB, daemon RSS {rss0} KiB -> max "
          f"{max(samples)} KiB (+{growth} KiB)")
    assert pushed < SIZE, "the client could push all 100 MB into a stalled upstream"
    assert growth < RSS_GROWTH_LIMIT_KIB, f"RSS grew {growth} KiB while the upstream stalled (pushed {pushed})"
    s.setblocking(True)
    s.settimeout(60 * SLOW)
    while pushed < SIZE:
        k = s.send(block[: min(len(block), SIZE - pushed)])
        h.update(block[:k])
        pushed += k
    s.shutdown(socket.SHUT_WR)
    conn = up.wait_connection(0)
    assert conn.wait_closed(60)
    s.close()
    assert conn.payload_len == SIZE and conn.payload_sha256 == h.hexdigest()
