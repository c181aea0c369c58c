"""Issue 2: PROXY protocol v1/v2 out (the upstream learns the real client address) and in
(a trusted load balancer tells us the client address); untrusted or malformed headers are
closed and counted."""
import socket
import time

import pytest

from harness import SLOW, SmtpConn, connect, free_port, proxy_v1, proxy_v2, recv_all
from scripted_server import Script

HAS_IPV6 = socket.has_ipv6
try:
    with socket.socket(socket.AF_INET6) as _s:
        _s.bind(("::1", 0))
except OSError:
    HAS_IPV6 = False


def _session(c: SmtpConn) -> bytes:
    """A short session; returns exactly the bytes the client sent."""
    sent = b""
    c.expect(None, 220)
    for line, code in ((b"EHLO proxy.test", 250), (b"MAIL FROM:<a@example.com>", 250),
                       (b"RCPT TO:<b@example.com>", 250), (b"QUIT", 221)):
        c.expect(line, code)
        sent += line + b"\r\n"
    assert recv_all(c.sock, 5)[1] == "eof"
    c.close()
    return sent


def _blocked(sensor) -> float:
    return sensor.counter("smtp_sensor_blocked_connections_total", listener="smtp", reason="proxy_protocol")


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("source", ["127.0.0.2", "127.0.0.3"])
def test_proxy_out_ipv4_carries_client_address(sensor_factory, upstream_factory, version, source):
    up = upstream_factory(Script(proxy="required"))
    sensor = sensor_factory(up.addr, listener={"proxy_protocol_out": version})
    c = SmtpConn.open(sensor.port, source=source)
    client_port = c.sock.getsockname()[1]
    sent = _session(c)
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    h = conn.proxy
    assert h is not None, f"no PROXY header upstream; first bytes {bytes(conn.raw[:40])!r} {conn.proxy_error}"
    assert h.version == int(version[1]) and h.command == "PROXY" and h.family == "TCP4"
    assert (h.src_ip, h.src_port) == (source, client_port)
    assert h.dst_ip == "127.0.0.1" and h.dst_port in (sensor.port, up.port), h
    if version == "v1":
        assert conn.raw.startswith(f"PROXY TCP4 {source} ".encode())
    else:
        assert conn.raw[:12] == b"\r\n\r\n\x00\r\nQUIT\n" and h.ver_cmd == 0x21 and h.fam_byte == 0x11
    assert conn.payload == sent, "bytes after the PROXY header must be exactly the client's"


@pytest.mark.skipif(not HAS_IPV6, reason="no IPv6 loopback")
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_proxy_out_ipv6_client(sensor_factory, upstream_factory, version):
    up = upstream_factory(Script(proxy="required"))
    port6 = free_port("::1")
    sensor = sensor_factory(up.addr, listener={"listen": f"[::1]:{port6}", "proxy_protocol_out": version})
    c = SmtpConn.open(port6, host="::1")
    client_port = c.sock.getsockname()[1]
    sent = _session(c)
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    h = conn.proxy
    assert h is not None, f"no PROXY header upstream; first bytes {bytes(conn.raw[:40])!r}"
    assert h.family == "TCP6" and (h.src_ip, h.src_port) == ("::1", client_port), h
    if version == "v2":
        assert h.ver_cmd == 0x21 and h.fam_byte == 0x21
    assert conn.payload == sent
    assert sensor.port == port6


@pytest.mark.parametrize("inbound,outbound,src,family", [
    ("v1", "v1", "203.0.113.7", "TCP4"),
    ("v1", "v2", "203.0.113.7", "TCP4"),
    ("v2", "v1", "198.51.100.9", "TCP4"),
    ("v2", "v2", "198.51.100.9", "TCP4"),
    ("v2", "v2", "2001:db8::5", "TCP6"),
    ("v1", "v2", "2001:db8::5", "TCP6"),
])
def test_proxy_in_address_becomes_client_address(sensor_factory, upstream_factory, inbound, outbound, src, family):
    up = upstream_factory(Script(proxy="required"))
    sensor = sensor_factory(up.addr, listener={"proxy_protocol_in": True, "trusted_proxies": ["127.0.0.0/8"],
                                               "proxy_protocol_out": outbound})
    dst = "2001:db8::25" if ":" in src else "192.0.2.25"
    hdr = (proxy_v1 if inbound == "v1" else proxy_v2)(src, dst, 40001, 25)
    s = connect(sensor.port, source="127.0.0.2")
    for i in range(0, len(hdr), 7):              # the header arrives in several segments
        s.sendall(hdr[i:i + 7])
        time.sleep(0.01)
    sent = _session(SmtpConn(s))
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    h = conn.proxy
    assert h is not None, f"no PROXY header upstream; first bytes {bytes(conn.raw[:40])!r}"
    assert h.version == int(outbound[1])
    assert (h.family, h.src_ip, h.src_port) == (family, src, 40001), h
    assert conn.payload == sent, "the inbound PROXY header must not be relayed upstream"


def test_proxy_in_without_proxy_out_strips_header(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, listener={"proxy_protocol_in": True, "trusted_proxies": ["127.0.0.0/8"]})
    s = connect(sensor.port)
    s.sendall(proxy_v2("192.0.2.44", "192.0.2.25", 5555, 25))
    sent = _session(SmtpConn(s))
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.payload == sent


def test_proxy_in_untrusted_source_closed_and_counted(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, listener={"proxy_protocol_in": True, "trusted_proxies": ["127.0.0.2/32"]})
    before = _blocked(sensor)
    s = connect(sensor.port, source="127.0.0.3")
    s.sendall(proxy_v1("203.0.113.9", "192.0.2.25", 1111, 25) + b"EHLO sneaky.test\r\n")
    got, how = recv_all(s, 10 )
    s.close()
    assert how in ("eof", "reset"), f"untrusted sender not closed ({how})"
    assert b"220" not in got and b"250" not in got, f"untrusted sender got a session: {got!r}"
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= before + 1,
                              {"listener": "smtp", "reason": "proxy_protocol"}) == before + 1
    time.sleep(0.3)
    assert all(k.raw_len == 0 for k in up.connections), "bytes reached the upstream from an untrusted proxy"
    # The trusted address still works.
    s = connect(sensor.port, source="127.0.0.2")
    s.sendall(proxy_v1("203.0.113.9", "192.0.2.25", 1111, 25))
    _session(SmtpConn(s))
    assert _blocked(sensor) == before + 1


@pytest.mark.parametrize("bad", [
    b"PROXY TCP4 999.1.1.1 192.0.2.25 1 25\r\n",
    b"PROXY TCP4 192.0.2.1 192.0.2.25 70000 25\r\n",
    b"PROXY BOGUS\r\n",
    b"EHLO no-header.test\r\n",
    b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\x00" * 12,      # v2 with version 3
    b"PROXY TCP4 " + b"1" * 200 + b"\r\n",                         # longer than 107 bytes
], ids=["bad-ip", "bad-port", "bogus-family", "no-header", "v2-bad-version", "too-long"])
def test_proxy_in_malformed_header_closed_and_counted(sensor_factory, upstream_factory, bad):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, listener={"proxy_protocol_in": True, "trusted_proxies": ["127.0.0.0/8"]})
    before = _blocked(sensor)
    s = connect(sensor.port)
    s.sendall(bad)
    got, how = recv_all(s, 10)
    s.close()
    assert how in ("eof", "reset"), f"malformed header {bad[:30]!r}: connection not closed ({how})"
    assert b"220" not in got, f"malformed header got a session: {got!r}"
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= before + 1,
                              {"listener": "smtp", "reason": "proxy_protocol"}) == before + 1
    time.sleep(0.2)
    assert all(k.raw_len == 0 for k in up.connections), "bytes reached the upstream after a malformed header"
    assert sensor.alive()


def test_proxy_in_header_timeout(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, listener={"proxy_protocol_in": True, "trusted_proxies": ["127.0.0.0/8"]},
                            config={"timeouts": {"proxy_header": "1s"}})
    s = connect(sensor.port)
    s.sendall(b"PROXY TCP4 192.0.2.1")           # incomplete, then silence
    t0 = time.monotonic()
    got, how = recv_all(s, 10)
    waited = time.monotonic() - t0
    s.close()
    assert how in ("eof", "reset"), f"not closed after {waited:.1f}s with proxy_header: 1s"
    assert 0.8 <= waited <= 4 * SLOW and got == b"", (waited, got)
    assert all(k.raw_len == 0 for k in up.connections)
