"""Issue 8: STARTTLS and implicit TLS, passthrough and termination, with real peers over
loopback: swaks --tls, Python smtplib (starttls(), SMTP_SSL), raw sockets, the scripted
upstream with a real TLS stack, and smtp-sink. Certificates are throwaway ones made by the
openssl CLI for each module (tls_util.Pki).

Terminate mode: the client must see the sensor's certificate, the upstream a TLS client,
and the sensor keeps decoding (commands, AUTH, messages) inside TLS. Passthrough: the
client sees the upstream's certificate and the sensor only counts bytes."""
from __future__ import annotations

import base64
import random
import re
import select
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from harness import SLOW, SmtpConn, SmtpSink, connect, random_text_message, recv_all, run_cli, sha, wait_until
from scripted_server import Script
from sensor_util import Transcript, sensor_config, sessions, thread_names, thread_switches, wait_sessions_idle, wait_store_rows
from test_detectors_common import Alerts, det_config, smtp
from tls_util import HandshakeCounts, Pki, client_context, der, make_pki, peer_der, server_context, starttls

USER = "alice@example.org"
PASSWORD = "Tls-s3cret-Pa55"
WRONG = ["wrong-Guess-1", "wrong-Guess-2"]
TLS_STARTED = re.compile(r"TLS started with client: (TLSv1\.[23]) (\S+)")
OPAQUE = "TLS started; content opaque"   # passthrough after STARTTLS
OPAQUE_ANY = "content opaque"             # passthrough, STARTTLS or implicit


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def terminate(pki, **extra) -> dict:
    return dict({"mode": "terminate", "cert": pki.sensor.cert, "key": pki.sensor.key}, **extra)


def tls_upstream(pki, **kw) -> Script:
    return Script(tls_context=server_context(pki.upstream), users={USER: PASSWORD}, **kw)


def swaks(port: int, source: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--local-interface", source,
                           "--from", "sender@example.org", "--to", "rcpt@example.net", *args],
                          capture_output=True, text=True, timeout=60 * SLOW)


def swaks_data(tmp_path: Path, msg: bytes) -> str:
    """swaks sends the file with CRLF line ends and adds CRLF.CRLF: drop the final CRLF."""
    assert msg.endswith(b"\r\n")
    path = tmp_path / "message.eml"
    path.write_bytes(msg[:-2])
    return f"@{path}"


def quit_quietly(c: SmtpConn) -> None:
    try:
        c.cmd("QUIT")
    except (ConnectionError, TimeoutError, OSError):
        pass
    c.close()


def session_texts(sensor, source: str) -> list[str]:
    tr = Transcript(sensor)
    return tr.wait_closed_line(tr.lcid_of(f"{source}:"))


def after_tls(texts: list[str]) -> list[str]:
    i = next((i for i, t in enumerate(texts) if TLS_STARTED.search(t)), None)
    assert i is not None, "no 'TLS started with client' line:\n" + "\n".join(texts)
    return texts[i + 1:]


def show(texts: list[str]) -> str:
    return "transcript:\n" + "\n".join(texts)


def has_line(texts: list[str], line: str) -> bool:
    """A line that starts so, in any case: smtplib sends 'mail FROM:<a> size=N'."""
    return any(t.lower().startswith(line.lower()) for t in texts)


def only_row(sensor, ip: str) -> dict:
    (row,) = wait_store_rows(sensor, 1, "client_ip = ?", (ip,))
    return row


def secrets_absent(sensor, secrets: list[str]) -> None:
    """No secret, nor its base64 in PLAIN or LOGIN form, in any file the sensor wrote."""
    forms = set()
    for pw in secrets:
        forms |= {pw, base64.b64encode(pw.encode()).decode(), base64.b64encode(f"\0{USER}\0{pw}".encode()).decode()}
    files = [p for p in sensor.tmpdir.rglob("*") if p.is_file() and p.suffix != ".yaml"]
    assert any(p.name.startswith("transcript") for p in files), files
    for p in files:
        data = p.read_bytes()
        for f in forms:
            assert f.encode() not in data, f"{f!r} found in {p}"


# --------------------------------------------------------------------------- 1. swaks, terminate

def test_swaks_starttls_terminate_delivers_and_decodes(pki, sensor_factory, upstream_factory, tmp_path):
    up = upstream_factory(tls_upstream(pki))
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)}, config=sensor_config())
    msg = random_text_message(300_000, random.Random(81))
    src = "127.0.0.71"
    r = swaks(sensor.port, src, "--tls", "--tls-verify", "--tls-ca-path", pki.ca.ca, "--helo", "swaks-tls.test",
              "--data", swaks_data(tmp_path, msg))
    assert r.returncode == 0, r.stdout + r.stderr
    # The client verified a certificate and it was the sensor's, not the upstream's.
    assert 'TLS peer DN="/CN=127.0.0.1/O=sensor"' in r.stdout, r.stdout[:3000]
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.tls and conn.tls_error is None, conn.events
    assert conn.pre_tls_plaintext == b""
    assert [c for c in conn.commands[:2]] == [b"EHLO swaks-tls.test", b"STARTTLS"], conn.commands
    verbs = [c.split(b" ")[0] for c in conn.commands_after_tls]
    assert verbs == [b"EHLO", b"MAIL", b"RCPT", b"DATA", b"QUIT"], conn.commands_after_tls
    assert len(conn.messages) == 1 and sha(conn.messages[0]) == sha(msg)

    texts = session_texts(sensor, src)
    inside = after_tls(texts)
    assert "C --> EHLO swaks-tls.test" in inside, show(texts)
    assert "C --> MAIL FROM:<sender@example.org>" in inside, show(texts)
    assert "C --> RCPT TO:<rcpt@example.net>" in inside, show(texts)
    assert f"C --> <message data: {len(msg)} bytes>" in inside, show(texts)
    assert any(t.startswith("S <-- 250 2.0.0 Ok: queued as SCRIPTED") for t in inside), show(texts)
    assert not any(OPAQUE in t for t in texts), show(texts)
    assert sensor.counter("smtp_sensor_messages_total", listener="smtp") == 1
    assert sensor.counter("smtp_sensor_commands_total", listener="smtp", verb="EHLO") == 2
    assert sensor.counter("smtp_sensor_commands_total", listener="smtp", verb="STARTTLS") == 1
    counts = HandshakeCounts(sensor)
    assert counts.before == {**{k: 0 for k in counts.before}, ("client", "success"): 1, ("upstream", "success"): 1}
    row = only_row(sensor, src)
    assert row["tls"] == 1 and row["tls_version"] == "TLSv1.3" and row["tls_cipher"], row
    assert TLS_STARTED.search("\n".join(texts)).group(1) == row["tls_version"]
    assert row["messages"] == 1 and row["termination"] == "quit", row
    assert row["bytes_in"] > len(msg), row  # counted at the socket, TLS included


# --------------------------------------------------------------------------- 2. AUTH inside TLS

def test_smtplib_auth_failures_inside_tls_raise_bruteforce(pki, sensor_factory, upstream_factory):
    up = upstream_factory(tls_upstream(pki))
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)}, config=det_config(
        {"auth_bruteforce": {"failures": 3, "window": "10m"}}, only=True, store={"enabled": True}))
    attacker = "127.0.0.72"
    msg = random_text_message(50_000, random.Random(82))
    with smtplib.SMTP("127.0.0.1", sensor.port, source_address=(attacker, 0), timeout=30 * SLOW) as c:
        c.ehlo("brute.test")
        assert c.has_extn("starttls")
        assert c.starttls(context=client_context(pki.ca.ca))[0] == 220
        assert peer_der(c.sock) == der(pki.sensor.cert)
        c.ehlo("brute.test")
        assert not c.has_extn("starttls") and c.has_extn("auth")
        # While the session lives, /sessions shows TLS with the client's version and cipher.
        port = c.sock.getsockname()[1]
        live = wait_until(lambda: [s for s in sessions(sensor) if s["client"] == f"{attacker}:{port}"], 5,
                          what="the session in /sessions")[0]
        assert live["tls"] is True, live
        assert live["tls_version"] == c.sock.version() and live["tls_cipher"] == c.sock.cipher()[0], live
        for pw in WRONG:  # smtplib tries PLAIN, then LOGIN: two failures per login()
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login(USER, pw)
        c.login(USER, PASSWORD)
        assert c.sendmail(USER, ["rcpt@example.net"], msg) == {}
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.tls
    assert conn.auth_results == [("PLAIN", USER, False), ("LOGIN", USER, False)] * 2 + [("PLAIN", USER, True)]
    assert len(conn.messages) == 1 and sha(conn.messages[0]) == sha(msg)

    a = Alerts(sensor).wait("auth_bruteforce", attacker)
    assert a["users"] == [USER] and a["threshold"] == 3 and a["count"] >= 3, a
    wait_sessions_idle(sensor)
    assert sensor.counter("smtp_sensor_auth_attempts_total", listener="smtp", result="failure") == 4
    assert sensor.counter("smtp_sensor_auth_attempts_total", listener="smtp", result="success") == 1
    assert sensor.counter("smtp_sensor_messages_total", listener="smtp") == 1
    texts = session_texts(sensor, attacker)
    inside = after_tls(texts)
    assert "C --> AUTH PLAIN [redacted]" in inside, show(texts)
    assert any(t.startswith("S <-- 535 ") for t in inside), show(texts)
    row = only_row(sensor, attacker)
    assert row["tls"] == 1 and row["auth_user"] == USER and row["messages"] == 1, row
    sensor.stop()  # flush every file before searching them
    secrets_absent(sensor, WRONG + [PASSWORD])


# --------------------------------------------------------------------------- 3. passthrough

def test_swaks_starttls_passthrough_is_opaque_and_byte_exact(pki, sensor_factory, upstream_factory, tmp_path):
    up = upstream_factory(tls_upstream(pki))
    sensor = sensor_factory(up.addr, listener={"tls": {"mode": "passthrough"}}, config=sensor_config())
    msg = random_text_message(400_000, random.Random(83))
    src = "127.0.0.73"
    r = swaks(sensor.port, src, "--tls", "--tls-verify", "--tls-ca-path", pki.ca.ca, "--helo", "pass.test",
              "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD, "--data", swaks_data(tmp_path, msg))
    assert r.returncode == 0, r.stdout + r.stderr
    # End-to-end TLS: the client saw the upstream's own certificate.
    assert 'TLS peer DN="/CN=127.0.0.1/O=upstream"' in r.stdout, r.stdout[:3000]
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.tls and conn.auth_results == [("PLAIN", USER, True)]
    assert len(conn.messages) == 1 and sha(conn.messages[0]) == sha(msg)

    wait_sessions_idle(sensor)
    texts = session_texts(sensor, src)
    assert any(OPAQUE in t for t in texts), show(texts)
    assert not any(TLS_STARTED.search(t) for t in texts), show(texts)
    assert not any("MAIL FROM" in t for t in texts), texts  # the sensor cannot see inside
    assert sensor.counter("smtp_sensor_commands_total", listener="smtp", verb="MAIL") == 0
    assert sensor.counter("smtp_sensor_bytes_total", listener="smtp", direction="in") > len(msg)
    assert sensor.counter("smtp_sensor_bytes_total", listener="smtp", direction="out") > 1000
    assert all(v == 0 for v in HandshakeCounts(sensor).before.values())
    row = only_row(sensor, src)
    assert row["tls"] == 1 and row["bytes_in"] > len(msg) and row["bytes_out"] > 1000, row
    assert row["messages"] == 0, row  # opaque: nothing to count
    sensor.stop()
    secrets_absent(sensor, [PASSWORD])


def test_implicit_passthrough_is_opaque_from_the_start(pki, sensor_factory, upstream_factory):
    up = upstream_factory(tls_upstream(pki, implicit_tls=True))
    sensor = sensor_factory(up.addr, listener={"tls": {"mode": "passthrough", "implicit": True}},
                            config=sensor_config())
    msg = random_text_message(100_000, random.Random(84))
    src = "127.0.0.74"
    with smtplib.SMTP_SSL("127.0.0.1", sensor.port, source_address=(src, 0), timeout=30 * SLOW,
                          context=client_context(pki.ca.ca)) as c:
        assert peer_der(c.sock) == der(pki.upstream.cert)
        c.ehlo("implicit-pass.test")
        assert c.sendmail("a@example.org", ["b@example.net"], msg) == {}
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.tls and sha(conn.messages[0]) == sha(msg)
    texts = session_texts(sensor, src)
    assert any(OPAQUE_ANY in t for t in texts), show(texts)
    assert not any(t.startswith(("C --> ", "S <-- ")) for t in texts), show(texts)
    row = only_row(sensor, src)
    assert row["tls"] == 1 and row["bytes_in"] > len(msg), row


# --------------------------------------------------------------------------- 4. injection

INJECTIONS = {
    # STARTTLS and one plaintext command in a single write (the classic CVE-2011-0411 probe)
    "pipelined": (b"STARTTLS\r\nRSET\r\n", None, 0.0),
    # 120 KB of plaintext in the same write, while the upstream holds its 220 back for 1 s
    "bulk": (b"STARTTLS\r\n" + b"RSET\r\n" * 20000, None, 1.0),
    # a second write 50 ms later, still before the (held back) 220: sent before the 220 too
    "late": (b"STARTTLS\r\n", b"RSET\r\n", 1.0),
}


@pytest.mark.parametrize("inject,then", [("pipelined", "handshake"), ("pipelined", "close"), ("bulk", "close"),
                                         ("late", "close")])
def test_starttls_injection_discarded_and_flagged(pki, sensor_factory, upstream_factory, inject, then):
    first, second, delay = INJECTIONS[inject]
    up = upstream_factory(tls_upstream(pki, starttls_delay=delay))
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)}, config=det_config(
        {"starttls_injection": {}}, only=True, store={"enabled": True}))
    injector, honest = "127.0.0.75", "127.0.0.76"
    c = smtp(sensor, injector, ehlo="inject.test")
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.send(first)  # RSET is plaintext that must never reach the upstream nor count as TLS input
    if second:
        time.sleep(0.05)
        c.send(second)
    c.expect(None, 220, timeout=5 + delay)
    assert not c.buf
    if then == "handshake":
        t = SmtpConn(client_context().wrap_socket(c.sock))
        # The first reply inside TLS answers our EHLO, not the injected RSET.
        ehlo = t.cmd("EHLO inject.test")
        assert ehlo.startswith(b"250-scripted.test\r\n"), ehlo
        t.expect("NOOP", 250)
        t.expect("QUIT", 221)
        t.close()
    else:
        c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.pre_tls_plaintext == b"", f"{len(conn.pre_tls_plaintext)} injected bytes reached the upstream"
    assert conn.commands[:2] == [b"EHLO inject.test", b"STARTTLS"], conn.commands
    assert b"RSET" not in conn.commands and b"RSET\r\n" not in conn.payload, conn.commands
    if then == "handshake":
        assert conn.tls and conn.commands_after_tls == [b"EHLO inject.test", b"NOOP", b"QUIT"]
    a = Alerts(sensor).wait("starttls_injection", injector)
    assert a["action"] == "flag" and a["lcid"] > 0, a
    flagged_count = sensor.counter("smtp_sensor_anomalies_total", listener="smtp", kind="starttls_injection")
    assert flagged_count >= 1
    texts = session_texts(sensor, injector)
    assert any(t.startswith("!!!!!!!!!!!! anomaly starttls_injection") for t in texts), show(texts)

    # The daemon keeps serving: a normal STARTTLS session right after, not flagged.
    msg = random_text_message(20_000, random.Random(85))
    with smtplib.SMTP("127.0.0.1", sensor.port, source_address=(honest, 0), timeout=30 * SLOW) as s:
        s.ehlo("honest.test")
        s.starttls(context=client_context(pki.ca.ca))
        s.ehlo("honest.test")
        assert s.sendmail("a@example.org", ["b@example.net"], msg) == {}
    nxt = up.wait_connection(1)
    assert nxt.wait_closed(5 + delay)
    assert nxt.tls and nxt.pre_tls_plaintext == b"" and sha(nxt.messages[0]) == sha(msg)
    wait_sessions_idle(sensor)
    assert not Alerts(sensor).of(ip=honest)
    assert sensor.counter("smtp_sensor_anomalies_total", listener="smtp", kind="starttls_injection") == flagged_count


def test_plaintext_flood_before_the_220_is_neither_forwarded_nor_buffered(pki, sensor_factory, upstream_factory):
    """The upstream holds its 220 back for 3 s while the client pours plaintext after
    STARTTLS: none of it reaches the upstream, the daemon's memory stays bounded (it may
    read and drop, or stop reading), and it serves the next session."""
    up = upstream_factory(tls_upstream(pki, starttls_delay=3.0))
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)}, config=sensor_config())
    rss0 = sensor.rss_kib()
    c = smtp(sensor, "127.0.0.89", ehlo="flood.test")
    c.send(b"STARTTLS\r\n")
    chunk = b"RSET\r\n" * 10923  # 64 KiB of well-formed commands
    sent, t0 = 0, time.monotonic()
    c.sock.setblocking(False)
    while time.monotonic() - t0 < 2.0 and sent < (256 << 20):
        try:
            sent += c.sock.send(chunk)
        except BlockingIOError:
            select.select([], [c.sock], [], 0.05)
        except OSError:
            break  # the sensor may give up on such a client
    grown = sensor.rss_kib() - rss0
    assert grown < 16 * 1024, f"RSS grew by {grown} KiB after {sent} bytes of flood"
    c.sock.setblocking(True)
    recv_all(c.sock, timeout=2)  # a 220 after the delay, or the sensor closing on us
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    assert conn.pre_tls_plaintext == b"", f"{len(conn.pre_tls_plaintext)} plaintext bytes reached the upstream"
    assert not conn.tls or conn.commands_after_tls == [], conn.commands_after_tls
    assert b"RSET" not in conn.commands
    assert conn.payload.count(b"RSET\r\n") == 0, "plaintext reached the upstream inside the TLS stream"
    msg = random_text_message(10_000, random.Random(92))
    _normal_starttls_session(sensor, pki, "127.0.0.90", msg)
    assert sha(up.wait_connection(1).messages[0]) == sha(msg)
    assert sensor.alive()


# --------------------------------------------------------------------------- 5. implicit TLS

def test_implicit_terminate_to_implicit_upstream(pki, sensor_factory, upstream_factory):
    up = upstream_factory(tls_upstream(pki, implicit_tls=True))
    sensor = sensor_factory(up.addr, listener={"name": "smtps", "tls": terminate(pki, implicit=True,
                                                                                upstream_implicit=True)},
                            config=sensor_config())
    msg = random_text_message(200_000, random.Random(86))
    src = "127.0.0.77"
    with smtplib.SMTP_SSL("127.0.0.1", sensor.port, source_address=(src, 0), timeout=30 * SLOW,
                          context=client_context(pki.ca.ca)) as c:
        assert peer_der(c.sock) == der(pki.sensor.cert)
        c.ehlo("smtps.test")
        c.login(USER, PASSWORD)
        assert c.sendmail(USER, ["b@example.net"], msg) == {}
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert conn.tls and conn.tls_commands_from == 0, conn.events  # TLS from the first byte
    assert conn.auth_results == [("PLAIN", USER, True)]
    assert sha(conn.messages[0]) == sha(msg)
    texts = session_texts(sensor, src)
    assert TLS_STARTED.search("\n".join(texts)), show(texts)
    assert "C --> AUTH PLAIN [redacted]" in texts and has_line(texts, "C --> MAIL FROM:<alice@example.org>"), show(texts)
    counts = HandshakeCounts(sensor, "smtps")
    assert counts.before[("client", "success")] == 1 and counts.before[("upstream", "success")] == 1, counts.before
    assert sensor.counter("smtp_sensor_messages_total", listener="smtps") == 1
    row = only_row(sensor, src)
    assert row["tls"] == 1 and row["tls_version"] == "TLSv1.3" and row["tls_cipher"], row
    assert row["auth_user"] == USER and row["messages"] == 1, row


def test_implicit_terminate_to_plaintext_upstream(pki, sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, listener={"name": "smtps", "tls": terminate(pki, implicit=True,
                                                                                  upstream_implicit=False)},
                            config=sensor_config())
    msg = random_text_message(200_000, random.Random(87))
    src = "127.0.0.78"
    with smtplib.SMTP_SSL("127.0.0.1", sensor.port, source_address=(src, 0), timeout=30 * SLOW,
                          context=client_context(pki.ca.ca)) as c:
        assert peer_der(c.sock) == der(pki.sensor.cert)
        c.ehlo("smtps-plain.test")
        assert c.sendmail("a@example.org", ["b@example.net"], msg) == {}
    (path,) = sink.wait_messages(1)
    m = SmtpSink.parse(path)
    assert m.headers["X-Helo-Args"] == ["smtps-plain.test"], m.headers
    assert sha(m.body) == sha(msg.replace(b"\r\n", b"\n"))
    texts = session_texts(sensor, src)
    assert has_line(after_tls(texts), "C --> MAIL FROM:<a@example.org>"), show(texts)
    counts = HandshakeCounts(sensor, "smtps")
    assert counts.before[("client", "success")] == 1, counts.before
    assert all(counts.before[("upstream", r)] == 0 for r in HandshakeCounts.RESULTS), counts.before


# --------------------------------------------------------------------------- bulk over TLS

@pytest.mark.parametrize("mode", ["starttls", "implicit"])
def test_parallel_sessions_of_1mb_messages_through_terminate(pki, sensor_factory, upstream_factory, sink_factory,
                                                             mode):
    """5 sessions at once, 10 x 1 MB each, in TLS end to end (STARTTLS to a STARTTLS
    upstream) or from an implicit listener to smtp-sink: every message gets its 250 and no
    session is cut."""
    if mode == "starttls":
        up = upstream_factory(tls_upstream(pki, record=False))
        sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)}, config=sensor_config())
    else:
        sink = sink_factory(dump=False)
        sensor = sensor_factory(sink.addr, listener={"tls": terminate(pki, implicit=True, upstream_implicit=False)},
                                config=sensor_config())
    msgs = [random_text_message(1 << 20, random.Random(100 + i)) for i in range(5)]
    errors: list[str] = []

    def session(i: int) -> None:
        src = f"127.0.0.{110 + i}"
        try:
            if mode == "starttls":
                c = smtplib.SMTP("127.0.0.1", sensor.port, source_address=(src, 0), timeout=60 * SLOW)
                c.ehlo("bulk.test")
                c.starttls(context=client_context(pki.ca.ca))
            else:
                c = smtplib.SMTP_SSL("127.0.0.1", sensor.port, source_address=(src, 0), timeout=60 * SLOW,
                                     context=client_context(pki.ca.ca))
            with c:
                c.ehlo("bulk.test")
                for k in range(10):
                    assert c.sendmail(f"s{i}@example.org", ["b@example.net"], msgs[i]) == {}, k
        except Exception as e:  # noqa: BLE001 - reported below with the session's transcript
            errors.append(f"{src}: {e!r}")

    threads = [threading.Thread(target=session, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120 * SLOW)
    wait_sessions_idle(sensor, 10)
    ended = [t for t in Transcript(sensor).lines() if "~~~~~~~~~~~~ Connection " in t.text]
    assert not errors, "\n".join(errors + [t.raw for t in ended])
    assert sensor.counter("smtp_sensor_messages_total", listener="smtp") == 50
    assert all("(quit)" in t.text for t in ended), "\n".join(t.raw for t in ended)
    if mode == "starttls":
        got = sorted(sha(m) for c in up.connections for m in c.messages)
        assert got == sorted(sha(m) for m in msgs for _ in range(10))


def _io_switches(sensor) -> dict[str, int]:
    """Voluntary context switches of the two I/O threads: one at least each time a thread
    sleeps in epoll and a session of its own wakes it."""
    return {name: thread_switches(sensor.pid, name)[0] for name in ("io-0", "io-1")}


@pytest.mark.parametrize("tls", [True, False], ids=["tls-spreads", "cleartext-packs"])
def test_tls_sessions_spread_over_io_threads_cleartext_ones_pack(pki, sensor_factory, sink_factory, tls):
    """Two sessions at once on a sensor with two I/O threads: a listener that terminates TLS
    puts them on different threads (their cost is crypto, which a second core runs
    alongside), a cleartext one keeps both on its own thread (DESIGN "I/O threads"). Each
    NOOP's round trip wakes the thread that owns its session."""
    sink = sink_factory(dump=False)
    listener = {"tls": terminate(pki, implicit=True, upstream_implicit=False)} if tls else {}
    sensor = sensor_factory(sink.addr, listener=listener, config=sensor_config(threads=2))
    wait_until(lambda: {"io-0", "io-1"} <= set(thread_names(sensor.pid)), 5, what="the I/O threads named")
    conns = []
    for i in range(2):
        if tls:
            c = smtplib.SMTP_SSL("127.0.0.1", sensor.port, source_address=(f"127.0.0.{120 + i}", 0),
                                 timeout=30 * SLOW, context=client_context(pki.ca.ca))
        else:
            c = smtplib.SMTP("127.0.0.1", sensor.port, source_address=(f"127.0.0.{120 + i}", 0), timeout=30 * SLOW)
        c.ehlo("spread.test")
        conns.append(c)
    before = _io_switches(sensor)
    rounds = 60
    for _ in range(rounds):
        for c in conns:
            assert c.noop()[0] == 250
    after = _io_switches(sensor)
    woken = sorted(after[n] - before[n] for n in ("io-0", "io-1"))
    for c in conns:
        c.quit()
    if tls:
        assert woken[0] >= rounds // 2, woken  # each thread served one of the two sessions
    else:
        assert woken[1] >= rounds and woken[0] < rounds // 4, woken  # one thread served both


# --------------------------------------------------------------------------- 6. handshake failures

def _normal_starttls_session(sensor, pki, source: str, msg: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", sensor.port, source_address=(source, 0), timeout=30 * SLOW) as s:
        s.ehlo("after.test")
        s.starttls(context=client_context(pki.ca.ca))
        s.ehlo("after.test")
        assert s.sendmail("a@example.org", ["b@example.net"], msg) == {}


@pytest.mark.parametrize("kind", ["starttls_garbage", "implicit_junk"])
def test_client_handshake_failure_counted_and_daemon_serves_on(pki, sensor_factory, upstream_factory, kind):
    implicit = kind == "implicit_junk"
    up = upstream_factory(tls_upstream(pki, implicit_tls=implicit))
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki, implicit=implicit, upstream_implicit=implicit)},
                            config=sensor_config(timeouts={"tls_handshake": "5s"}))
    src = "127.0.0.79"
    counts = HandshakeCounts(sensor)
    if implicit:
        s = connect(sensor.port, source=src)
        s.sendall(b"EHLO junk.test\r\n" + bytes(range(256)) * 4)
    else:
        c = smtp(sensor, src, ehlo="garbage.test")
        c.expect("STARTTLS", 220)
        s = c.sock
        s.sendall(b"this is not a ClientHello\r\n" * 8)
    _, how = recv_all(s, timeout=10)
    s.close()
    assert how in ("eof", "reset"), how  # the sensor gave up on it, well before our timeout
    wait_until(lambda: counts.delta().get(("client", "failure")) == 1, 5, what="client handshake failure counted")
    assert ("client", "success") not in counts.delta()
    texts = session_texts(sensor, src)
    assert any("TLS handshake with client failed" in t for t in texts), show(texts)

    msg = random_text_message(30_000, random.Random(88))
    if implicit:
        with smtplib.SMTP_SSL("127.0.0.1", sensor.port, source_address=("127.0.0.80", 0), timeout=30 * SLOW,
                              context=client_context(pki.ca.ca)) as c2:
            c2.ehlo("after.test")
            assert c2.sendmail("a@example.org", ["b@example.net"], msg) == {}
    else:
        _normal_starttls_session(sensor, pki, "127.0.0.80", msg)
    good = [c for c in up.connections if c.messages]
    assert len(good) == 1 and good[0].tls and sha(good[0].messages[0]) == sha(msg)
    wait_until(lambda: counts.delta().get(("client", "success")) == 1, 5, what="client handshake success counted")
    assert counts.delta().get(("client", "failure")) == 1


def test_client_handshake_timeout_counted(pki, sensor_factory, upstream_factory):
    up = upstream_factory(tls_upstream(pki))
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)},
                            config=sensor_config(timeouts={"tls_handshake": "1s"}))
    counts = HandshakeCounts(sensor)
    c = smtp(sensor, "127.0.0.81", ehlo="silent.test")
    c.expect("STARTTLS", 220)
    t0 = time.monotonic()
    _, how = recv_all(c.sock, timeout=10)
    waited = time.monotonic() - t0
    c.close()
    assert how in ("eof", "reset"), how
    assert 0.8 < waited < 4 * SLOW, waited  # closed at tls_handshake (1s), not by another timeout
    wait_until(lambda: counts.delta().get(("client", "timeout")) == 1, 5, what="client handshake timeout counted")
    assert ("client", "success") not in counts.delta()
    _normal_starttls_session(sensor, pki, "127.0.0.82", random_text_message(5_000, random.Random(89)))
    assert counts.delta().get(("client", "success")) == 1


def test_upstream_certificate_verification(pki, sensor_factory, upstream_factory):
    """verify: ca_file with an unrelated CA fails the upstream handshake (counted, no mail
    through); with the CA that issued the upstream's certificate the same session works."""
    up = upstream_factory(tls_upstream(pki))
    bad = sensor_factory(up.addr, listener={"tls": terminate(pki, verify="ca_file", ca_file=pki.other_ca.ca)},
                         config=sensor_config())
    counts = HandshakeCounts(bad)
    c = smtp(bad, "127.0.0.83", ehlo="verify.test")
    reply = None
    try:
        t = starttls(c, client_context(pki.ca.ca))
        reply = t.cmd("EHLO verify.test")
        if reply.startswith(b"250"):
            reply = t.cmd("MAIL FROM:<a@example.org>")
        t.close()
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
        pass
    c.close()
    assert reply is None or not reply.startswith(b"2"), reply  # never a working session behind a bad upstream
    wait_until(lambda: counts.delta().get(("upstream", "failure")) == 1, 5, what="upstream handshake failure")
    assert ("upstream", "success") not in counts.delta()
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert not conn.tls and conn.tls_error, conn.events  # the sensor refused our certificate
    assert conn.messages == []
    texts = session_texts(bad, "127.0.0.83")
    assert any("TLS handshake with upstream failed" in t for t in texts), show(texts)
    # The daemon serves on: a cleartext session through the same listener delivers.
    p = smtp(bad, "127.0.0.84", ehlo="plain.test")
    assert p.transaction(b"Subject: plain\r\n\r\nplain\r\n")[:3] == b"250"
    quit_quietly(p)

    good = sensor_factory(up.addr, listener={"tls": terminate(pki, verify="ca_file", ca_file=pki.ca.ca)},
                          config=sensor_config())
    msg = random_text_message(10_000, random.Random(90))
    _normal_starttls_session(good, pki, "127.0.0.85", msg)
    assert HandshakeCounts(good).before[("upstream", "success")] == 1
    assert any(c.tls and c.messages and sha(c.messages[0]) == sha(msg) for c in up.connections)


# --------------------------------------------------------------------------- 7. no STARTTLS upstream

@pytest.mark.parametrize("case", ["refused", "not_offered"])
def test_upstream_without_starttls_answer_reaches_client(pki, sensor_factory, upstream_factory, case):
    if case == "refused":
        script, code = tls_upstream(pki, refuse_starttls=True), b"454 4.7.0 TLS not available due to local problem\r\n"
    else:
        script = Script(replies={"STARTTLS": "502 5.5.1 Error: command not implemented"})
        code = b"502 5.5.1 Error: command not implemented\r\n"
    up = upstream_factory(script)
    sensor = sensor_factory(up.addr, listener={"tls": terminate(pki)}, config=sensor_config())
    src = "127.0.0.86"
    counts = HandshakeCounts(sensor)
    c = smtp(sensor, src, ehlo=None)
    ehlo = c.expect("EHLO clear.test", 250)
    assert (b"STARTTLS" in ehlo) == (case == "refused"), ehlo
    assert c.cmd("STARTTLS") == code  # the upstream's own answer
    msg = random_text_message(20_000, random.Random(91))
    assert c.transaction(msg)[:3] == b"250"
    c.expect("QUIT", 221)
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(5)
    assert not conn.tls and sha(conn.messages[0]) == sha(msg)
    texts = session_texts(sensor, src)
    assert "S <-- " + code.decode().rstrip() in texts, show(texts)
    assert "C --> MAIL FROM:<a@example.com>" in texts, show(texts)
    assert not any(TLS_STARTED.search(t) or OPAQUE_ANY in t for t in texts), show(texts)
    assert counts.delta() == {}
    row = only_row(sensor, src)
    assert row["tls"] == 0 and row["messages"] == 1, row


# --------------------------------------------------------------------------- 8. SIGHUP reload

def _presented(sensor, ctx: ssl.SSLContext) -> bytes:
    c = smtp(sensor, "127.0.0.88", ehlo="probe.test")
    t = starttls(c, ctx)
    d = peer_der(t.sock)
    quit_quietly(t)
    return d


def test_sighup_reloads_certificate(sensor_factory, upstream_factory, tmp_path):
    ca = Pki(tmp_path / "reload", "reload")
    cert, key = str(tmp_path / "live.pem"), str(tmp_path / "live.key")
    ca.issue("first", cert_path=cert, key_path=key)
    first = der(cert)
    up = upstream_factory(Script(tls_context=server_context(ca.issue("upstream"))))
    sensor = sensor_factory(up.addr, listener={"tls": {"mode": "terminate", "cert": cert, "key": key}},
                            config=sensor_config())
    ctx = client_context(ca.ca)
    # A session that lives across the reload.
    old = starttls(smtp(sensor, "127.0.0.87", ehlo="old.test"), ctx)
    assert peer_der(old.sock) == first
    old.expect("EHLO old.test", 250)
    assert _presented(sensor, ctx) == first

    ca.issue("second", cert_path=cert, key_path=key)  # new key and certificate, same paths
    second = der(cert)
    assert second != first
    sensor.signal(signal.SIGHUP)
    wait_until(lambda: _presented(sensor, ctx) == second, 5, interval=0.2, what="the new certificate after SIGHUP")
    for _ in range(3):
        assert _presented(sensor, ctx) == second
    # The session from before the reload carries on with its own TLS state.
    assert old.transaction(b"Subject: across reload\r\n\r\nstill here\r\n")[:3] == b"250"
    quit_quietly(old)
    assert any(c.messages == [b"Subject: across reload\r\n\r\nstill here\r\n"] for c in up.connections)

    # A broken pair is not taken: the daemon keeps presenting the last good certificate.
    Path(key).write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    logged = len(sensor.stderr_text().splitlines())
    sensor.signal(signal.SIGHUP)
    wait_until(lambda: len(sensor.stderr_text().splitlines()) > logged, 5, what="a log line about the reload")
    for _ in range(3):
        assert _presented(sensor, ctx) == second
    assert sensor.alive()


def test_a_bad_certificate_or_key_is_named_in_plain_words(pki, tmp_path):
    """check-config loads the TLS files as run does; what is wrong leads, OpenSSL's text follows."""
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")

    def check(cert: str, key: str) -> str:
        cfg = tmp_path / "tls.yaml"
        cfg.write_text(f"listeners:\n  - listen: 127.0.0.1:2525\n    upstream: 127.0.0.1:10025\n"
                       f"    tls: {{ mode: terminate, cert: {cert}, key: {key} }}\ncontrol: {{ socket: \"\" }}\n")
        r = run_cli(["check-config", "-c", str(cfg)])
        assert r.returncode != 0, r
        return r.stderr

    err = check(pki.sensor.cert, str(garbage))
    assert f"tls.key '{garbage}': not an unencrypted PEM private key OpenSSL can read (error:" in err, err
    err = check(str(garbage), pki.sensor.key)
    assert f"tls.cert '{garbage}': not a PEM certificate chain OpenSSL can read (error:" in err, err
    err = check(pki.sensor.cert, pki.upstream.key)
    assert f"tls.key '{pki.upstream.key}' does not match tls.cert '{pki.sensor.cert}'" in err, err
