"""A scriptable SMTP/TCP server for smtp-sensor integration tests (the "upstream").

It runs an asyncio loop in a background thread, so synchronous tests can use it:

    with ScriptedServer(Script(mode="smtp", users={"alice": "secret"})) as up:
        ... point the sensor's upstream at up.addr ...
        conn = up.wait_connection(0)           # first accepted connection
        conn.wait_closed(5)
        assert conn.proxy.src_ip == "127.0.0.2"
        assert conn.payload == b"EHLO x\r\n..."  # every byte received, after any PROXY header

Every connection is recorded in a `Conn`: all raw bytes received (or only their sha256
and length with record=False), all bytes sent (hash, length), the parsed PROXY header,
the SMTP commands and messages seen, and how the connection ended.

Script options (see the Script dataclass):
- mode="smtp": an ESMTP server. EHLO lists `capabilities` (PIPELINING, 8BITMIME, SIZE,
  AUTH PLAIN LOGIN, CHUNKING, ENHANCEDSTATUSCODES by default). DATA (dot-unstuffed) and
  BDAT (byte-counted, RFC 3030) are supported. AUTH PLAIN/LOGIN check `users` and answer
  a real 235 or 535 (501 when the client cancels with '*'). `replies` overrides the
  reply to a verb (keys: CONNECT for the greeting, any verb, EOD for end-of-data);
  `drop_on` closes without replying, `reset_on` sends a RST without replying,
  `close_after` closes right after replying. `hooks[verb]` may be an async callable
  (conn, line) -> bool that fully handles a command (return True) for exotic cases.
- mode="raw": no protocol and no greeting (send one with a step); `steps` run in order
  while every received byte is recorded:
    ("send", b"bytes")                    write bytes
    ("send_random", n[, max_fragment])    write n random bytes in random fragment sizes
    ("sleep", seconds)
    ("wait_bytes", n)                     until n payload bytes have been received
    ("wait_for", b"pattern")             until pattern appears in the payload
    ("wait_eof",)                         until the peer half-closes (FIN)
    ("shutdown_wr",)                      half-close our side
    ("stop_reading",) / ("resume_reading",)  stop/restart reading (backpressure tests)
    ("close",)  ("reset",)                FIN / RST
    an async callable(conn)               anything else
  After the last step the server waits for the peer's EOF and closes (unless closed).
- greeting=None sends no greeting at all (greeting-timeout tests); greeting_delay delays it.
- proxy="none" | "auto" | "required": parse a PROXY v1/v2 header first ("auto" only if
  the first bytes look like one). The header is stored in conn.proxy and kept out of
  conn.payload; a malformed one sets conn.proxy_error and closes the connection.

TLS (mode="smtp", with tls_context=ssl.SSLContext for the server side):
- STARTTLS is advertised in EHLO (unless advertise_starttls=False) and answered 220 (or
  replies["STARTTLS"]); then the server does a real handshake (asyncio start_tls) and the
  session starts over, as RFC 3207 says: EHLO again (now without STARTTLS), AUTH, mail.
  refuse_starttls=True advertises it but answers 454; starttls_delay holds the 220 back
  (whatever arrives meanwhile ends up in pre_tls_plaintext). Without tls_context the old
  behaviour stays: STARTTLS is not advertised, a 220 reply makes the rest opaque.
- implicit_tls=True: the handshake comes first, before the greeting (port 465 style).
- What a test can check on the Conn: tls (handshake done), tls_version, tls_cipher,
  tls_error (why a handshake failed), pre_tls_plaintext (bytes the client sent after the
  STARTTLS line and before the handshake: discarded, as RFC 3207 demands; empty means no
  injection reached us), tls_payload / tls_payload_sha256 (cleartext received inside TLS),
  commands_after_tls, and messages (inside or outside TLS alike).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import itertools
import os
import random
import socket
import ssl
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW, ProxyHeader, ProxyParseError, parse_proxy_header  # noqa: E402

DEFAULT_CAPS = ["PIPELINING", "SIZE 209715200", "8BITMIME", "AUTH PLAIN LOGIN", "CHUNKING",
                "ENHANCEDSTATUSCODES"]


@dataclass
class Script:
    mode: str = "smtp"                         # "smtp" | "raw"
    greeting: str | bytes | None = "220 scripted.test ESMTP ready"
    greeting_delay: float = 0.0
    hostname: str = "scripted.test"
    proxy: str = "none"                        # "none" | "auto" | "required"
    capabilities: list[str] = field(default_factory=lambda: list(DEFAULT_CAPS))
    users: dict[str, str] = field(default_factory=lambda: {"alice": "secret"})
    replies: dict[str, str] = field(default_factory=dict)
    drop_on: set[str] = field(default_factory=set)
    reset_on: set[str] = field(default_factory=set)
    close_after: set[str] = field(default_factory=set)
    hooks: dict[str, Callable] = field(default_factory=dict)
    steps: list[Any] = field(default_factory=list)
    record: bool = True                        # keep received bytes in memory
    record_sent: bool = False                  # keep sent bytes in memory too
    seed: int | None = None                    # for send_random; None = os.urandom
    tls_context: ssl.SSLContext | None = None  # server side; enables STARTTLS / implicit TLS
    implicit_tls: bool = False                 # handshake before the greeting (needs tls_context)
    advertise_starttls: bool = True            # list STARTTLS in EHLO (with tls_context, before TLS)
    refuse_starttls: bool = False              # answer STARTTLS with 454 (keeps advertising it)
    starttls_delay: float = 0.0                # wait this long before the 220 (reader stopped)
    tls_handshake_timeout: float = 10.0


class Conn:
    """Everything one upstream connection saw. Read the fields from the test thread."""

    def __init__(self, index: int, script: Script, reader, writer):
        self.index = index
        self.script = script
        self.reader, self.writer = reader, writer
        self.peer = writer.get_extra_info("peername")
        self.sockname = writer.get_extra_info("sockname")
        self.accepted_at = time.monotonic()
        self.raw = bytearray()              # every byte received, PROXY header included
        self.raw_len = 0
        self.proxy: ProxyHeader | None = None
        self.proxy_error: str | None = None
        self._proxy_pending = script.proxy != "none"
        self._payload = bytearray()         # received bytes after the PROXY header
        self.payload_len = 0
        self._payload_hash = hashlib.sha256()
        self.sent = bytearray()
        self.sent_len = 0
        self._sent_hash = hashlib.sha256()
        self.commands: list[bytes] = []     # SMTP command lines (without CRLF)
        self.messages: list[bytes] = []     # DATA (unstuffed) / BDAT message contents
        self.auth_results: list[tuple[str, str | None, bool]] = []  # (mechanism, user, ok)
        self.events: list[tuple[float, str]] = []
        self.eof = False                    # peer sent FIN
        self.reset = False                  # peer sent RST
        self.closed = False                 # the connection is over
        self.local_closed = False           # we closed/reset it
        self.ended_by: str | None = None    # "peer_eof" | "peer_reset" | "server_close" | "server_reset" | "error"
        self.closed_at: float | None = None
        self.error: str | None = None
        self._buf = bytearray()             # unconsumed payload for the SMTP state machine
        self.tls = False                    # a TLS handshake completed on this connection
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self.tls_error: str | None = None   # handshake failure
        self.pre_tls_plaintext = b""        # sent after STARTTLS, before the handshake (discarded)
        self.tls_commands_from = None       # index into commands where TLS began
        self._tls_payload = bytearray()     # cleartext received inside TLS (record=True only)
        self._tls_payload_hash = hashlib.sha256()
        self.tls_payload_len = 0
        self._rtask: asyncio.Task | None = None
        self._cond = asyncio.Condition()
        self._reading = asyncio.Event()
        self._reading.set()
        self._done = threading.Event()

    # ----------------------------------------------------------- test-thread API
    @property
    def payload(self) -> bytes:
        """Bytes received after the PROXY header (record=True only)."""
        return bytes(self._payload)

    @property
    def payload_sha256(self) -> str:
        return self._payload_hash.copy().hexdigest()

    @property
    def sent_sha256(self) -> str:
        return self._sent_hash.copy().hexdigest()

    @property
    def tls_payload(self) -> bytes:
        """Cleartext received after the TLS handshake (record=True only)."""
        return bytes(self._tls_payload)

    @property
    def tls_payload_sha256(self) -> str:
        return self._tls_payload_hash.copy().hexdigest()

    @property
    def commands_after_tls(self) -> list[bytes]:
        return [] if self.tls_commands_from is None else self.commands[self.tls_commands_from:]

    def wait_closed(self, timeout: float) -> bool:
        return self._done.wait(timeout * SLOW)

    def wait_for(self, pred: Callable[["Conn"], bool], timeout: float, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout * SLOW
        while not pred(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"upstream conn {self.index}: timed out waiting for {what}; "
                                     f"received {self.payload_len} bytes, events={self.events[-5:]}")
            time.sleep(0.02)

    def note(self, what: str) -> None:
        self.events.append((time.monotonic(), what))

    # ----------------------------------------------------------- loop-side API
    def _feed(self, data: bytes) -> None:
        self.raw_len += len(data)
        if self.script.record:
            self.raw += data
        if self._proxy_pending:
            self._hdr_buf = getattr(self, "_hdr_buf", b"") + data
            hb = self._hdr_buf
            if self.script.proxy == "auto" and not (hb[:1] in (b"P", b"\r")):
                self._proxy_pending = False
                data = hb
            else:
                try:
                    res = parse_proxy_header(hb)
                except ProxyParseError as e:
                    self.proxy_error = str(e)
                    self._proxy_pending = False
                    self.note(f"proxy_error {e}")
                    return
                if res is None:
                    return
                self.proxy, used = res
                self._proxy_pending = False
                self.note(f"proxy {self.proxy}")
                data = hb[used:]
            if not data:
                return
        self.payload_len += len(data)
        self._payload_hash.update(data)
        if self.script.record:
            self._payload += data
        if self.tls:
            self.tls_payload_len += len(data)
            self._tls_payload_hash.update(data)
            if self.script.record:
                self._tls_payload += data
        self._buf += data

    async def _reader_loop(self) -> None:
        try:
            while True:
                await self._reading.wait()
                try:
                    data = await self.reader.read(1 << 18)
                except ConnectionResetError:
                    if not self.local_closed:
                        self.reset = True
                        self.note("peer reset")
                    break
                except (ssl.SSLError, OSError) as e:  # e.g. a TLS alert, or EOF without close_notify
                    if not self.local_closed:
                        self.eof = True
                        self.note(f"peer eof ({e!r})")
                    break
                if not data:
                    if not self.local_closed:
                        self.eof = True
                        self.note("peer eof")
                    break
                self._feed(data)
                async with self._cond:
                    self._cond.notify_all()
                if self.proxy_error:
                    break
        finally:
            async with self._cond:
                self._cond.notify_all()

    def _start_reader(self) -> None:
        self._rtask = asyncio.ensure_future(self._reader_loop())

    async def _stop_reader(self) -> None:
        """Stop reading without losing bytes: they stay in the StreamReader's buffer."""
        if self._rtask and not self._rtask.done():
            self._rtask.cancel()
            try:
                await self._rtask
            except asyncio.CancelledError:
                pass
        self._rtask = None

    async def start_tls(self) -> bool:
        """Server-side handshake on this connection (the reader must be stopped).

        Anything the client sent before the handshake and we had not consumed is recorded
        in pre_tls_plaintext and dropped, so it can never pass for TLS-protected input."""
        leftover = bytes(self._buf) + bytes(self.reader._buffer)
        self._buf.clear()
        self.reader._buffer.clear()
        self.pre_tls_plaintext += leftover
        if leftover:
            self.note(f"discarded {len(leftover)} plaintext bytes before the handshake")
        try:
            await self.writer.start_tls(self.script.tls_context,
                                        ssl_handshake_timeout=self.script.tls_handshake_timeout * SLOW)
        except (ssl.SSLError, OSError, ConnectionError, asyncio.TimeoutError, TimeoutError) as e:
            self.tls_error = repr(e)
            self.note(f"tls handshake failed: {e!r}")
            return False
        sslobj = self.writer.get_extra_info("ssl_object")
        self.tls = True
        self.tls_version = sslobj.version()
        self.tls_cipher = sslobj.cipher()[0]
        self.tls_commands_from = len(self.commands)
        self.note(f"tls {self.tls_version} {self.tls_cipher}")
        return True

    async def wait_until(self, pred: Callable[[], bool]) -> bool:
        """Wait until pred() or the input ended; returns pred()."""
        async with self._cond:
            while not pred() and not (self.eof or self.reset or self.closed or self.proxy_error):
                await self._cond.wait()
        return pred()

    async def read_line(self) -> bytes | None:
        """One line including its LF (tolerates bare LF); None at EOF."""
        ok = await self.wait_until(lambda: b"\n" in self._buf)
        if not ok:
            return None
        i = self._buf.index(b"\n") + 1
        line = bytes(self._buf[:i])
        del self._buf[:i]
        return line

    async def read_exact(self, n: int) -> bytes | None:
        ok = await self.wait_until(lambda: len(self._buf) >= n)
        if not ok:
            return None
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        self.sent_len += len(data)
        self._sent_hash.update(data)
        if self.script.record_sent:
            self.sent += data
        await self.writer.drain()

    async def reply(self, text: str | bytes) -> None:
        if isinstance(text, str):
            text = text.encode()
        if not text.endswith(b"\r\n"):
            text = b"\r\n".join(text.replace(b"\r\n", b"\n").split(b"\n")) + b"\r\n"
        await self.send(text)

    def close(self) -> None:
        if not self.closed:
            self.ended_by = self.ended_by or "server_close"
            self.local_closed = True
            self.writer.close()

    def abort(self) -> None:
        """Close with a RST."""
        if not self.closed:
            sock = self.writer.get_extra_info("socket")
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.ended_by = self.ended_by or "server_reset"
            self.local_closed = True
            self.writer.transport.abort()


class ScriptedServer:
    """Runs Script-driven connections on host:port in a background asyncio thread.

    `script` may be a Script or a callable(index) -> Script (different behaviour per
    connection); it can be replaced between connections."""

    def __init__(self, script: Script | Callable[[int], Script] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, backlog: int = 1024):
        self.script = script or Script()
        self.host, self.port, self.backlog = host, port, backlog
        self.connections: list[Conn] = []
        self._lock = threading.Condition()
        self._counter = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self.errors: list[str] = []

    @property
    def addr(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> "ScriptedServer":
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def boot():
                self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                          backlog=self.backlog, limit=1 << 20)
                self.port = self._server.sockets[0].getsockname()[1]
                ready.set()

            self._loop.run_until_complete(boot())
            self._loop.run_forever()
            # drain cancelled tasks
            pending = asyncio.all_tasks(self._loop)
            for t in pending:
                t.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

        self._thread = threading.Thread(target=run, name="scripted-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scripted server did not start")
        return self

    def stop(self) -> None:
        if not self._loop:
            return

        async def shutdown():
            self._server.close()
            for c in self.connections:
                if not c.closed:
                    c.writer.transport.abort()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        except Exception:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def stop_listening(self) -> None:
        """Close the listening socket but keep existing connections."""
        async def f():
            self._server.close()
        asyncio.run_coroutine_threadsafe(f(), self._loop).result(5)

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *a) -> None:
        self.stop()

    # ----------------------------------------------------------- test-thread API
    def wait_connections(self, n: int, timeout: float = 10.0) -> list[Conn]:
        deadline = time.monotonic() + timeout * SLOW
        with self._lock:
            while len(self.connections) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"upstream got {len(self.connections)} connections, expected {n}")
                self._lock.wait(left)
            return list(self.connections)

    def wait_connection(self, index: int = 0, timeout: float = 10.0) -> Conn:
        return self.wait_connections(index + 1, timeout)[index]

    def call(self, coro_fn, *args, timeout: float = 30.0):
        """Run coro_fn(*args) on the server loop (e.g. conn.send) and return its result."""
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self._loop).result(timeout * SLOW)

    # ----------------------------------------------------------- loop side
    async def _handle(self, reader, writer) -> None:
        index = next(self._counter)
        script = self.script(index) if callable(self.script) else self.script
        conn = Conn(index, script, reader, writer)
        with self._lock:
            self.connections.append(conn)
            self._lock.notify_all()
        try:
            if script.implicit_tls:
                if not await conn.start_tls():
                    conn.ended_by = "tls_error"
                    conn.abort()
                    return
            conn._start_reader()
            if script.proxy == "required" or script.proxy == "auto":
                await conn.wait_until(lambda: not conn._proxy_pending)
                if conn.proxy_error or (script.proxy == "required" and conn.proxy is None):
                    conn.close()
                    return
            if script.mode == "raw":
                await self._run_raw(conn)
            else:
                await SmtpSession(conn).run()
        except (ConnectionResetError, BrokenPipeError) as e:
            conn.reset = True
            conn.error = repr(e)
        except Exception as e:  # keep serving; record for the test to see
            conn.error = repr(e)
            conn.ended_by = conn.ended_by or "error"
            self.errors.append(f"conn {index}: {e!r}")
        finally:
            if not conn.closed:
                if conn.ended_by is None:
                    conn.ended_by = "peer_reset" if conn.reset else "peer_eof" if conn.eof else "server_close"
                try:
                    writer.close()
                except Exception:
                    pass
            rtask = conn._rtask
            if rtask is not None:
                try:
                    await asyncio.wait_for(rtask, 2)
                except (asyncio.TimeoutError, Exception):
                    rtask.cancel()
            conn.closed = True
            conn.closed_at = time.monotonic()
            conn._done.set()

    async def _run_raw(self, conn: Conn) -> None:
        s = conn.script
        rng = random.Random(s.seed) if s.seed is not None else None
        for step in s.steps:
            if callable(step):
                await step(conn)
                continue
            op, *args = step
            if op == "send":
                await conn.send(args[0])
            elif op == "send_random":
                n = args[0]
                maxfrag = args[1] if len(args) > 1 else 256 * 1024
                r = rng or random.Random(int.from_bytes(os.urandom(8), "big"))
                left = n
                while left > 0:
                    k = min(left, r.randint(1, 64) if r.random() < 0.1 else r.randint(1, maxfrag))
                    await conn.send(r.randbytes(k))
                    left -= k
            elif op == "sleep":
                await asyncio.sleep(args[0])
            elif op == "wait_bytes":
                await conn.wait_until(lambda: conn.payload_len >= args[0])
            elif op == "wait_for":
                await conn.wait_until(lambda: args[0] in conn._payload)
            elif op == "wait_eof":
                await conn.wait_until(lambda: conn.eof)
            elif op == "shutdown_wr":
                conn.writer.write_eof()
                conn.note("shutdown_wr")
            elif op == "stop_reading":
                conn._reading.clear()
                conn.reader._transport.pause_reading()
            elif op == "resume_reading":
                conn.reader._transport.resume_reading()
                conn._reading.set()
            elif op == "close":
                conn.close()
                return
            elif op == "reset":
                conn.abort()
                return
            else:
                raise ValueError(f"unknown raw step {op!r}")
        await conn.wait_until(lambda: False)  # until the peer ends the connection


class SmtpSession:
    """The ESMTP state machine for mode='smtp'."""

    def __init__(self, conn: Conn):
        self.c = conn
        self.s = conn.script
        self.msg_id = 0

    async def _special(self, verb: str) -> bool:
        """Apply drop_on / reset_on; True if the connection is gone."""
        if verb in self.s.reset_on:
            self.c.note(f"reset_on {verb}")
            self.c.abort()
            return True
        if verb in self.s.drop_on:
            self.c.note(f"drop_on {verb}")
            self.c.close()
            return True
        return False

    async def _reply(self, verb: str, default: str) -> bool:
        """Send the (possibly overridden) reply; True if the connection was closed after it."""
        await self.c.reply(self.s.replies.get(verb, default))
        if verb in self.s.close_after:
            self.c.note(f"close_after {verb}")
            self.c.close()
            return True
        return False

    async def run(self) -> None:
        c, s = self.c, self.s
        if await self._special("CONNECT"):
            return
        if s.greeting_delay:
            await asyncio.sleep(s.greeting_delay)
        if s.greeting is not None:
            g = s.greeting if isinstance(s.greeting, str) else s.greeting.decode()
            if await self._reply("CONNECT", g):
                return
        while True:
            line = await c.read_line()
            if line is None:
                return
            cmd = line.rstrip(b"\r\n")
            c.commands.append(cmd)
            verb = cmd.split(b" ", 1)[0].upper().decode("latin-1")
            arg = cmd[len(verb) + 1:].decode("latin-1") if len(cmd) > len(verb) else ""
            if await self._special(verb):
                return
            hook = s.hooks.get(verb)
            if hook and await hook(c, cmd):
                continue
            if verb in s.replies and verb not in ("DATA", "BDAT", "AUTH") and not (
                    verb == "STARTTLS" and s.tls_context is not None):
                if await self._reply(verb, ""):
                    return
                if verb == "QUIT":
                    c.close()
                    return
                continue
            handler = getattr(self, f"do_{verb.lower()}", None)
            if handler is None:
                if await self._reply(verb, "502 5.5.2 Error: command not recognized"):
                    return
                continue
            if await handler(verb, arg):
                return

    # Each handler returns True when the connection is over.
    async def do_ehlo(self, verb, arg):
        caps = [c for c in self.s.capabilities if c.upper() != "STARTTLS"]
        if self.s.tls_context is not None and self.s.advertise_starttls and not self.c.tls:
            caps.append("STARTTLS")
        elif self.s.tls_context is None:
            caps = list(self.s.capabilities)
        lines = [self.s.hostname] + caps
        text = "\r\n".join(f"250-{l}" for l in lines[:-1]) + f"\r\n250 {lines[-1]}"
        return await self._reply(verb, text)

    async def do_helo(self, verb, arg):
        return await self._reply(verb, f"250 {self.s.hostname}")

    async def do_mail(self, verb, arg):
        return await self._reply(verb, "250 2.1.0 Ok")

    async def do_rcpt(self, verb, arg):
        return await self._reply(verb, "250 2.1.5 Ok")

    async def do_rset(self, verb, arg):
        return await self._reply(verb, "250 2.0.0 Ok")

    async def do_noop(self, verb, arg):
        return await self._reply(verb, "250 2.0.0 Ok")

    async def do_vrfy(self, verb, arg):
        return await self._reply(verb, "252 2.0.0 Send some mail, I'll try my best")

    async def do_starttls(self, verb, arg):
        if self.s.tls_context is not None:
            return await self._real_starttls()
        r = self.s.replies.get("STARTTLS", "454 4.7.0 TLS not available due to local problem")
        await self.c.reply(r)
        if r.startswith("220"):
            # The rest is opaque: just record bytes until the peer goes away.
            self.c.note("starttls opaque")
            await self.c.wait_until(lambda: False)
            return True
        if "STARTTLS" in self.s.close_after:
            self.c.close()
            return True
        return False

    async def _real_starttls(self) -> bool:
        c, s = self.c, self.s
        if c.tls:
            return await self._reply("STARTTLS", "503 5.5.1 Error: TLS already active")
        default = "454 4.7.0 TLS not available due to local problem" if s.refuse_starttls \
            else "220 2.0.0 Ready to start TLS"
        r = s.replies.get("STARTTLS", default)
        if not r.startswith("220"):
            return await self._reply("STARTTLS", r)
        # Stop reading before the 220 leaves, so the ClientHello stays for the handshake.
        await c._stop_reader()
        if s.starttls_delay:
            await asyncio.sleep(s.starttls_delay)
        await c.reply(r)
        if not await c.start_tls():
            c.ended_by = "tls_error"
            c.abort()
            return True
        c._start_reader()
        return False

    async def do_quit(self, verb, arg):
        await self.c.reply(self.s.replies.get("QUIT", "221 2.0.0 Bye"))
        self.c.close()
        return True

    async def _end_of_message(self, body: bytes) -> bool:
        self.c.messages.append(body)
        self.msg_id += 1
        if await self._special("EOD"):
            return True
        return await self._reply("EOD", f"250 2.0.0 Ok: queued as SCRIPTED{self.c.index}X{self.msg_id}")

    async def do_data(self, verb, arg):
        r = self.s.replies.get("DATA", "354 End data with <CR><LF>.<CR><LF>")
        await self.c.reply(r)
        if "DATA" in self.s.close_after:
            self.c.close()
            return True
        if not r.startswith("354"):
            return False
        body = bytearray()
        while True:
            line = await self.c.read_line()
            if line is None:
                return True
            if line == b".\r\n":
                break
            body += line[1:] if line.startswith(b".") else line
        return await self._end_of_message(bytes(body))

    async def do_bdat(self, verb, arg):
        parts = arg.split()
        try:
            n = int(parts[0])
        except (IndexError, ValueError):
            return await self._reply(verb, "501 5.5.4 Syntax: BDAT count [LAST]")
        chunk = await self.c.read_exact(n)
        if chunk is None:
            return True
        self._bdat = getattr(self, "_bdat", bytearray()) + chunk
        if len(parts) > 1 and parts[1].upper() == "LAST":
            body, self._bdat = bytes(self._bdat), bytearray()
            return await self._end_of_message(body)
        return await self._reply(verb, f"250 2.0.0 Ok: {n} octets received")

    async def do_auth(self, verb, arg):
        c, s = self.c, self.s
        if verb in s.replies:
            return await self._reply(verb, s.replies[verb])
        if not any(cap.upper().startswith("AUTH") for cap in s.capabilities):
            return await self._reply(verb, "503 5.5.1 Error: authentication not enabled")
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        initial = parts[1] if len(parts) > 1 else None

        async def challenge(text: str) -> str | None:
            await c.reply(f"334 {text}".rstrip() if text else "334 ")
            line = await c.read_line()
            if line is None:
                return None
            c.commands.append(b"[auth continuation]")
            return line.rstrip(b"\r\n").decode("latin-1")

        def b64(v: str) -> bytes | None:
            try:
                return base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                return None

        if mech == "PLAIN":
            resp = initial if initial is not None else await challenge("")
            if resp is None:
                return True
            if resp == "*":
                c.auth_results.append((mech, None, False))
                return await self._reply("AUTH_ABORT", "501 5.7.0 Authentication aborted")
            raw = b64(resp) if resp != "=" else b""
            if raw is None or raw.count(b"\0") != 2:
                c.auth_results.append((mech, None, False))
                return await self._reply("AUTH_FAIL", "501 5.5.2 Cannot decode response")
            _, user, pw = raw.split(b"\0")
        elif mech == "LOGIN":
            u = initial if initial is not None else await challenge("VXNlcm5hbWU6")
            if u is None:
                return True
            if u == "*":
                c.auth_results.append((mech, None, False))
                return await self._reply("AUTH_ABORT", "501 5.7.0 Authentication aborted")
            p = await challenge("UGFzc3dvcmQ6")
            if p is None:
                return True
            if p == "*":
                c.auth_results.append((mech, None, False))
                return await self._reply("AUTH_ABORT", "501 5.7.0 Authentication aborted")
            user, pw = b64(u), b64(p)
            if user is None or pw is None:
                c.auth_results.append((mech, None, False))
                return await self._reply("AUTH_FAIL", "501 5.5.2 Cannot decode response")
        else:
            return await self._reply(verb, "504 5.5.4 Unrecognized authentication type")
        uname = user.decode("utf-8", "replace")
        ok = s.users.get(uname) == pw.decode("utf-8", "replace")
        c.auth_results.append((mech, uname, ok))
        if ok:
            return await self._reply("AUTH_OK", "235 2.7.0 Authentication successful")
        return await self._reply("AUTH_FAIL", "535 5.7.8 Error: authentication failed: authentication failure")


def main() -> None:  # manual use: python3 scripted_server.py [port] [smtp|raw]
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    mode = sys.argv[2] if len(sys.argv) > 2 else "smtp"
    srv = ScriptedServer(Script(mode=mode, proxy="auto"), port=port).start()
    print(f"listening on {srv.addr}", flush=True)
    try:
        while True:
            time.sleep(1)
            for c in srv.connections:
                if c.closed and not getattr(c, "_printed", False):
                    c._printed = True
                    print(f"conn {c.index} from {c.peer}: proxy={c.proxy} bytes={c.payload_len} "
                          f"commands={c.commands} ended_by={c.ended_by}", flush=True)
    except KeyboardInterrupt:
        srv.stop()


if __name__ == "__main__":
    main()
