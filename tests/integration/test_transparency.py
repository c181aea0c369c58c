"""Issue 2: every relayed byte is unchanged in both directions, half-close kept."""
import random
import socket
import threading

from harness import (SmtpConn, SmtpSink, connect, dot_stuff, random_text_message, recv_all, send_fragmented, sha,
                     wait_until)
from scripted_server import Script

MB = 1 << 20


def _bytes_counters(sensor):
    return (sensor.counter("smtp_sensor_bytes_total", listener="smtp", direction="in"),
            sensor.counter("smtp_sensor_bytes_total", listener="smtp", direction="out"))


def test_50mb_message_through_smtp_sink(sensor_factory, sink_factory):
    """A 50 MB DATA message, written in random fragment sizes, is what smtp-sink stores."""
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    rng = random.Random(20261123)
    msg = random_text_message(50 * MB, rng)
    c = SmtpConn.open(sensor.port, timeout=60)
    c.expect(None, 220)
    ehlo = c.expect("EHLO transparency.test", 250)
    assert b"PIPELINING" in ehlo, ehlo          # smtp-sink's EHLO reply came through
    c.expect("MAIL FROM:<big@example.com>", 250)
    c.expect("RCPT TO:<sink@example.net>", 250)
    c.expect("DATA", 354)
    stuffed = dot_stuff(msg)
    send_fragmented(c.sock, stuffed, rng)
    c.expect(None, 250, timeout=120)
    c.expect("QUIT", 221)
    assert recv_all(c.sock, 10)[1] == "eof"
    c.close()
    (path,) = sink.wait_messages(1)
    dumped = SmtpSink.parse(path)
    assert dumped.headers["X-Mail-Args"] == ["<big@example.com>"]
    assert dumped.headers["X-Rcpt-Args"] == ["<sink@example.net>"]
    assert dumped.headers["X-Helo-Args"] == ["transparency.test"]
    assert len(dumped.body) == len(msg) - msg.count(b"\r\n")
    assert sha(dumped.body) == sha(msg.replace(b"\r\n", b"\n"))
    # The client->server byte counter saw at least the whole DATA payload.
    wait_until(lambda: max(_bytes_counters(sensor)) >= len(stuffed), 10, what="bytes_total >= payload")


def test_50mb_random_bytes_both_directions(sensor_factory, upstream_factory):
    """50 MB of random bytes each way at the same time, random fragments, sha256 equal."""
    size = 50 * MB
    up = upstream_factory(Script(mode="raw", record=False, seed=99,
                                 steps=[("send_random", size), ("wait_eof",), ("close",)]))
    sensor = sensor_factory(up.addr)
    in0, out0 = _bytes_counters(sensor)
    payload = random.Random(42).randbytes(size)
    s = connect(sensor.port, timeout=60)
    err = []

    def writer():
        try:
            send_fragmented(s, payload, random.Random(43))
            s.shutdown(socket.SHUT_WR)
        except Exception as e:  # reported below
            err.append(e)

    t = threading.Thread(target=writer)
    t.start()
    got, how = recv_all(s, 120)
    t.join(60)
    s.close()
    assert not err, err
    assert how == "eof", f"client saw {how} after {len(got)} of {size} bytes"
    conn = up.wait_connection(0)
    assert conn.wait_closed(30)
    assert conn.payload_len == size, f"upstream received {conn.payload_len} of {size} bytes"
    assert conn.payload_sha256 == sha(payload), "client->upstream bytes differ"
    assert conn.eof, "upstream did not see the client's half-close as EOF"
    assert len(got) == size and sha(got) == conn.sent_sha256, "upstream->client bytes differ"
    assert up.errors == []
    # bytes_total counts each direction once: the two deltas are the two payload sizes.
    wait_until(lambda: (_bytes_counters(sensor)[0] - in0) + (_bytes_counters(sensor)[1] - out0) >= 2 * size,
               10, what="bytes_total to count both directions")
    din, dout = _bytes_counters(sensor)[0] - in0, _bytes_counters(sensor)[1] - out0
    assert din == size and dout == size, (din, dout)


def test_smtp_session_with_binary_bdat_is_byte_exact(sensor_factory, upstream_factory):
    """A real ESMTP session with pipelining, BDAT binary chunks containing <CRLF>.<CRLF>,
    bare LF/CR and an over-long line: both directions byte-exact."""
    up = upstream_factory(Script(record_sent=True))
    sensor = sensor_factory(up.addr)
    rng = random.Random(5)
    chunks = [rng.randbytes(rng.randint(1, 300_000)) + b"\r\n.\r\n\n\r.\r" for _ in range(12)]
    c = SmtpConn.open(sensor.port)
    sent = bytearray()

    def cmd(line, code):
        sent.extend(line + b"\r\n")
        c.expect(line, code)

    c.expect(None, 220)
    cmd(b"EHLO bdat.test", 250)
    # Pipelined MAIL/RCPT/NOOP in one write.
    pipelined = b"MAIL FROM:<a@example.com> BODY=BINARYMIME\r\nRCPT TO:<b@example.com>\r\nNOOP\r\n"
    c.send(pipelined)
    sent.extend(pipelined)
    for _ in range(3):
        assert c.reply()[:3] == b"250"
    for i, ch in enumerate(chunks):
        last = i == len(chunks) - 1
        frame = b"BDAT %d%s\r\n" % (len(ch), b" LAST" if last else b"") + ch
        send_fragmented(c.sock, frame, rng, hi=65536)
        sent.extend(frame)
        assert c.reply()[:3] == b"250"
    long_line = b"NOOP " + b"x" * 20000
    cmd(long_line, 250)
    cmd(b"QUIT", 221)
    rest, how = recv_all(c.sock, 10)
    assert how == "eof"
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    assert conn.messages == [b"".join(chunks)]
    assert conn.payload == bytes(sent), "upstream did not receive exactly the client's bytes"
    assert conn.sent_len > 0


def test_half_close_client_shutdown_keeps_server_direction(sensor_factory, upstream_factory):
    """Client shuts down its write side: the upstream sees EOF, and bytes the upstream sends
    afterwards (1 MB) still reach the client before the upstream's FIN."""
    late = random.Random(11).randbytes(MB)
    up = upstream_factory(Script(mode="raw", record_sent=True, steps=[
        ("send", b"220 raw.test ESMTP\r\n"), ("wait_eof",), ("sleep", 0.3),
        ("send", b"250 reply written after the client's EOF\r\n"), ("send", late), ("close",)]))
    sensor = sensor_factory(up.addr)
    s = connect(sensor.port)
    out = b"EHLO halfclose.test\r\nQUIT\r\n" + random.Random(12).randbytes(100_000)
    s.sendall(out)
    s.shutdown(socket.SHUT_WR)
    got, how = recv_all(s, 20)
    s.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    assert conn.eof and conn.payload == out
    assert how == "eof", f"client saw {how} after {len(got)} bytes"
    assert got == bytes(conn.sent), f"client got {len(got)} bytes, upstream sent {conn.sent_len}"


def test_half_close_upstream_shutdown_keeps_client_direction(sensor_factory, upstream_factory):
    """Upstream shuts down its write side: the client sees EOF, yet what the client sends
    afterwards still reaches the upstream (SPEC 3: half-close is kept)."""
    up = upstream_factory(Script(mode="raw", steps=[
        ("send", b"220 raw.test ESMTP\r\n"), ("shutdown_wr",), ("wait_for", b"AFTER-EOF\r\n"),
        ("wait_eof",), ("close",)]))
    sensor = sensor_factory(up.addr)
    s = connect(sensor.port)
    got, how = recv_all(s, 10)
    assert (got, how) == (b"220 raw.test ESMTP\r\n", "eof")
    s.sendall(b"AFTER-EOF\r\n")
    s.shutdown(socket.SHUT_WR)
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    s.close()
    assert conn.payload == b"AFTER-EOF\r\n", f"upstream got {conn.payload!r}, ended_by={conn.ended_by}"
    assert conn.eof


def test_client_bytes_before_greeting_are_relayed(sensor_factory, upstream_factory):
    """A client that talks before the server's greeting (pregreet) still has every byte
    relayed, in order, even while the upstream connection is being set up."""
    up = upstream_factory(Script(greeting_delay=0.5))
    sensor = sensor_factory(up.addr)
    s = connect(sensor.port)
    early = b"EHLO early.test\r\n"
    s.sendall(early)
    c = SmtpConn(s)
    assert c.reply().startswith(b"220")
    assert c.reply().startswith(b"250-scripted.test")
    c.expect("QUIT", 221)
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.payload == early + b"QUIT\r\n"


def test_upstream_greets_and_closes_at_once(sensor_factory, upstream_factory):
    """A 554 greeting followed by an immediate close reaches the client intact, then EOF."""
    banner = b"554 5.3.2 scripted.test No SMTP service here\r\n"
    up = upstream_factory(Script(mode="raw", steps=[("send", banner), ("close",)]))
    sensor = sensor_factory(up.addr)
    s = connect(sensor.port)
    got, how = recv_all(s, 10)
    s.close()
    assert (got, how) == (banner, "eof")


def test_pipelined_burst_is_byte_exact(sensor_factory, upstream_factory):
    """2,000 pipelined commands in one write; replies come back complete and in order."""
    up = upstream_factory(Script(record_sent=True))
    sensor = sensor_factory(up.addr)
    c = SmtpConn.open(sensor.port)
    c.expect(None, 220)
    burst = b"".join(b"NOOP %d\r\n" % i for i in range(2000)) + b"QUIT\r\n"
    c.send(burst)
    got, how = recv_all(c.sock, 30)
    c.close()
    assert how == "eof"
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.payload == burst
    assert c.buf + got == bytes(conn.sent)[len(b"220 scripted.test ESMTP ready\r\n"):]
    assert got.count(b"250 2.0.0 Ok\r\n") == 2000 and got.endswith(b"221 2.0.0 Bye\r\n")
