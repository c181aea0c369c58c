"""Client-side helpers for smtp-sensor integration tests: sockets from chosen source
addresses, reading replies and whole streams, RST closes, random payloads in random
fragment sizes, dot-stuffing, and SmtpConn, a buffered SMTP client."""
from __future__ import annotations

import hashlib
import os
import random
import re
import select
import socket
import struct
import time

SANITIZED = os.environ.get("SMTP_SENSOR_SANITIZED", "") not in ("", "0", "OFF", "off", "false")
# Multiplier for waits that depend on daemon speed (ASan+UBSan builds are 2-3x slower).
SLOW = 3.0 if SANITIZED else 1.0

def connect(port: int, host: str = "127.0.0.1", *, source: str | None = None, timeout: float = 10.0,
            rcvbuf: int | None = None) -> socket.socket:
    """TCP connect, optionally from a chosen local address (127.0.0.2 plays a distinct client)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout * SLOW)
    s.connect((host, port))
    return s


def recv_until(s: socket.socket, pattern: bytes | re.Pattern, timeout: float = 10.0, buf: bytearray | None = None) -> bytes:
    """Read until `pattern` (bytes or compiled regex) is in the data; returns everything read."""
    data = buf if buf is not None else bytearray()
    deadline = time.monotonic() + timeout * SLOW
    rx = pattern if isinstance(pattern, re.Pattern) else None
    while not (rx.search(data) if rx else pattern in data):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out waiting for {pattern!r}; got {bytes(data[-300:])!r}")
        s.settimeout(left)
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"EOF while waiting for {pattern!r}; got {bytes(data[-300:])!r}")
        data += chunk
    return bytes(data)


REPLY_END = re.compile(rb"(?:^|\r\n)\d{3} [^\r\n]*\r\n$")


def read_reply(s: socket.socket, timeout: float = 10.0) -> bytes:
    """Read one complete (possibly multi-line) SMTP reply."""
    return recv_until(s, REPLY_END, timeout)


def smtp_cmd(s: socket.socket, line: bytes | str, timeout: float = 10.0) -> bytes:
    if isinstance(line, str):
        line = line.encode()
    s.sendall(line + b"\r\n")
    return read_reply(s, timeout)


def recv_all(s: socket.socket, timeout: float = 30.0, limit: int | None = None) -> tuple[bytes, str]:
    """Read until EOF; returns (data, how) with how in 'eof' | 'reset' | 'timeout'."""
    data = bytearray()
    deadline = time.monotonic() + timeout * SLOW
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(data), "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            return bytes(data), "timeout"
        except ConnectionResetError:
            return bytes(data), "reset"
        if not chunk:
            return bytes(data), "eof"
        data += chunk
        if limit is not None and len(data) >= limit:
            return bytes(data), "limit"


def wait_closed(s: socket.socket, timeout: float) -> tuple[str, float, bytes]:
    """Wait for the peer to close; returns (how, seconds waited, bytes read meanwhile)."""
    t0 = time.monotonic()
    data, how = recv_all(s, timeout)
    return how, time.monotonic() - t0, data


def rst_close(s: socket.socket) -> None:
    """Close with SO_LINGER 0, so the peer gets a RST instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_fragments(total: int, rng: random.Random, lo: int = 1, hi: int = 256 * 1024) -> list[int]:
    """Random fragment sizes summing to total; mixes tiny and large writes."""
    sizes = []
    left = total
    while left > 0:
        pick = rng.random()
        n = rng.randint(lo, 16) if pick < 0.1 else rng.randint(lo, 4096) if pick < 0.5 else rng.randint(lo, hi)
        n = min(n, left)
        sizes.append(n)
        left -= n
    return sizes


def send_fragmented(s: socket.socket, data: bytes, rng: random.Random, hi: int = 256 * 1024) -> None:
    mv = memoryview(data)
    pos = 0
    for n in random_fragments(len(data), rng, hi=hi):
        s.sendall(mv[pos:pos + n])
        pos += n


def random_text_message(size: int, rng: random.Random) -> bytes:
    """An RFC 5322-ish message of about `size` bytes: CRLF lines of at most 998 printable chars,
    about 5% starting with '.' (exercises dot-stuffing); no line is a lone '.'."""
    import base64
    raw = base64.b64encode(rng.randbytes(size * 3 // 4 + 3))[:size]
    out = [b"Subject: sensor transparency test\r\nX-Test: random\r\n\r\n"]
    pos = 0
    while pos < len(raw):
        n = rng.choice((0, 1, 2, 76, 200, 997)) if rng.random() < 0.3 else rng.randint(1, 997)
        line = raw[pos:pos + n]
        pos += n
        if line and rng.random() < 0.05:
            line = b"." + line
        out.append(line + b"\r\n")
    return b"".join(out)


def dot_stuff(msg: bytes) -> bytes:
    """DATA transparency (RFC 5321 4.5.2) plus the terminating <CRLF>.<CRLF>; msg ends with CRLF."""
    assert msg.endswith(b"\r\n")
    stuffed = msg.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed + b".\r\n"



def wait_until(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def readable(s: socket.socket, timeout: float) -> bool:
    r, _, _ = select.select([s], [], [], timeout)
    return bool(r)


class SmtpConn:
    """A buffered SMTP client over a plain socket: reply() returns exactly one reply, so
    pipelined or coalesced replies are never lost."""

    _LINE = re.compile(rb"(\d{3})([ -])[^\n]*\n")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()

    @classmethod
    def open(cls, port: int, host: str = "127.0.0.1", **kw) -> "SmtpConn":
        return cls(connect(port, host, **kw))

    def reply(self, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout * SLOW
        while True:
            pos = 0
            while True:
                m = self._LINE.match(self.buf, pos)
                if not m:
                    break
                pos = m.end()
                if m.group(2) == b" ":
                    out = bytes(self.buf[:pos])
                    del self.buf[:pos]
                    return out
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete SMTP reply; buffered {bytes(self.buf[-300:])!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"EOF while waiting for a reply; buffered {bytes(self.buf[-300:])!r}")
            self.buf += chunk

    def send(self, data: bytes | str) -> None:
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, line: bytes | str, timeout: float = 10.0) -> bytes:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply(timeout)

    def expect(self, line: bytes | str | None, code: int, timeout: float = 10.0) -> bytes:
        r = self.reply(timeout) if line is None else self.cmd(line, timeout)
        assert r[:3] == str(code).encode(), f"{line!r} -> {r!r}, expected {code}"
        return r

    def transaction(self, body: bytes, mail: str = "<a@example.com>", rcpt: str = "<b@example.com>",
                    timeout: float = 30.0) -> bytes:
        """MAIL/RCPT/DATA with body (CRLF-terminated, dot-stuffed here); returns the final reply."""
        self.expect(f"MAIL FROM:{mail}", 250)
        self.expect(f"RCPT TO:{rcpt}", 250)
        self.expect("DATA", 354)
        self.send(dot_stuff(body))
        return self.reply(timeout)

    def close(self) -> None:
        self.sock.close()

