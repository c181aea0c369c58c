"""Self-tests of the harness (no daemon needed): the scripted server and smtp-sink
wrapper behave as later tests assume, talking to them directly."""
import random
import smtplib
import socket

import pytest

from harness import (SmtpSink, connect, dot_stuff, parse_metrics, parse_proxy_header, proxy_v1, proxy_v2,
                     random_text_message, read_reply, recv_all, recv_until, send_fragmented, sha, smtp_cmd, ProxyParseError)
from scripted_server import Script


def test_scripted_smtp_auth_real_results(upstream_factory):
    up = upstream_factory(Script(users={"alice": "secret"}))
    with smtplib.SMTP("127.0.0.1", up.port, timeout=10) as c:
        code, caps = c.ehlo("client.test")
        assert code == 250 and b"CHUNKING" in caps and b"AUTH PLAIN LOGIN" in caps
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            c.login("alice", "wrong")
        assert ei.value.smtp_code == 535
        c.ehlo("client.test")
        c.user, c.password = "alice", "secret"
        assert c.auth("LOGIN", c.auth_login)[0] == 235
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert [(u, ok) for _, u, ok in conn.auth_results][-1] == ("alice", True)
    assert ("alice", False) in [(u, ok) for _, u, ok in conn.auth_results]


def test_scripted_bdat_and_data(upstream_factory):
    up = upstream_factory(Script())
    s = connect(up.port)
    assert read_reply(s).startswith(b"220 ")
    assert smtp_cmd(s, "EHLO x").startswith(b"250-scripted.test")
    assert smtp_cmd(s, "MAIL FROM:<a@b>").startswith(b"250")
    assert smtp_cmd(s, "RCPT TO:<c@d>").startswith(b"250")
    chunk = bytes(range(256)) * 4 + b"\r\n.\r\n"
    s.sendall(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert read_reply(s).startswith(b"250 2.0.0 Ok: %d octets" % len(chunk))
    s.sendall(b"BDAT 3 LAST\r\nxyz")
    assert b"queued as" in read_reply(s)
    assert smtp_cmd(s, "MAIL FROM:<a@b>").startswith(b"250")
    assert smtp_cmd(s, "RCPT TO:<c@d>").startswith(b"250")
    assert smtp_cmd(s, "DATA").startswith(b"354")
    s.sendall(dot_stuff(b".leading dot\r\nbody\r\n"))
    assert b"queued as" in read_reply(s)
    assert smtp_cmd(s, "QUIT").startswith(b"221")
    assert recv_all(s, 5)[1] == "eof"
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.messages == [chunk + b"xyz", b".leading dot\r\nbody\r\n"]


@pytest.mark.parametrize("hdr,src,sport,family", [
    (proxy_v1("192.0.2.1", "127.0.0.1", 1234, 25), "192.0.2.1", 1234, "TCP4"),
    (proxy_v2("192.0.2.1", "127.0.0.1", 1234, 25), "192.0.2.1", 1234, "TCP4"),
    (proxy_v1("2001:db8::1", "::1", 4321, 25), "2001:db8::1", 4321, "TCP6"),
    (proxy_v2("2001:db8::1", "::1", 4321, 25), "2001:db8::1", 4321, "TCP6"),
])
def test_scripted_proxy_parsing(upstream_factory, hdr, src, sport, family):
    up = upstream_factory(Script(proxy="required"))
    s = connect(up.port)
    send_fragmented(s, hdr + b"EHLO x\r\n", random.Random(1), hi=3)
    data = recv_until(s, b"\r\n250 ")
    assert data.startswith(b"220 ")
    conn = up.wait_connection(0)
    assert conn.proxy.src_ip == src and conn.proxy.src_port == sport and conn.proxy.family == family
    assert conn.payload == b"EHLO x\r\n"
    s.close()


def test_proxy_parser_rejects_garbage():
    with pytest.raises(ProxyParseError):
        parse_proxy_header(b"PROXY BOGUS stuff\r\n")
    with pytest.raises(ProxyParseError):
        parse_proxy_header(b"EHLO x\r\n")
    assert parse_proxy_header(b"PROXY TCP4 1.2") is None


def test_scripted_raw_bidirectional(upstream_factory):
    up = upstream_factory(Script(mode="raw", steps=[("send_random", 3_000_000), ("wait_eof",), ("close",)]))
    s = connect(up.port)
    payload = random.Random(7).randbytes(2_000_000)
    send_fragmented(s, payload, random.Random(8))
    s.shutdown(socket.SHUT_WR)
    got, how = recv_all(s, 20)
    assert how == "eof"
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.payload_sha256 == sha(payload)
    assert len(got) == 3_000_000 and sha(got) == conn.sent_sha256


def test_smtp_sink_dump_roundtrip(sink_factory):
    sink = sink_factory()
    msg = random_text_message(300_000, random.Random(3))
    s = connect(sink.port)
    assert read_reply(s).startswith(b"220")
    assert smtp_cmd(s, "EHLO harness.test").startswith(b"250")
    assert smtp_cmd(s, "MAIL FROM:<a@example.com>").startswith(b"250")
    assert smtp_cmd(s, "RCPT TO:<b@example.com>").startswith(b"250")
    assert smtp_cmd(s, "DATA").startswith(b"354")
    send_fragmented(s, dot_stuff(msg), random.Random(4))
    assert read_reply(s).startswith(b"250")
    smtp_cmd(s, "QUIT")
    s.close()
    (path,) = sink.wait_messages(1)
    m = SmtpSink.parse(path)
    assert m.headers["X-Mail-Args"] == ["<a@example.com>"]
    assert sha(m.body) == sha(msg.replace(b"\r\n", b"\n"))


def test_metrics_parser():
    text = ('# HELP x y\n# TYPE smtp_sensor_bytes_total counter\n'
            'smtp_sensor_bytes_total{listener="smtp",direction="in"} 12\n'
            'smtp_sensor_flagged_ips 0\n')
    assert parse_metrics(text) == [("smtp_sensor_bytes_total", {"listener": "smtp", "direction": "in"}, 12.0),
                                   ("smtp_sensor_flagged_ips", {}, 0.0)]
