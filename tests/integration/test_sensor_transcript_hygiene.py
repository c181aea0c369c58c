"""Transcript robustness: credentials stay redacted however AUTH is spelled or pipelined,
and bytes a peer controls cannot forge or hide transcript lines (SPEC 5: one event a
line, `grep '[ LCID]'` shows one whole session; AUTH credentials never appear)."""
import base64
import re

from harness import SmtpConn, connect, wait_until
from scripted_server import Script
from sensor_util import TRANSCRIPT_RE, Transcript, sensor_config, wait_sessions_idle


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _cram_xoauth_hook():
    async def hook(conn, line):
        up = line.upper()
        if up.startswith(b"AUTH CRAM-MD5"):
            await conn.reply("334 PDEyMzQ1QHNjcmlwdGVkPg==")
            await conn.read_line()
            await conn.reply("235 2.7.0 Authentication successful")
            return True
        if up.startswith(b"AUTH XOAUTH2"):
            await conn.reply("235 2.7.0 Authentication successful")
            return True
        return False
    return hook


def test_redaction_other_mechanisms_and_spellings(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users={"u@x.example": "pw-one"}, hooks={"AUTH": _cram_xoauth_hook()},
                                 capabilities=["PIPELINING", "AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2"]))
    noauth = upstream_factory(Script(capabilities=["PIPELINING"]))
    sensor = sensor_factory(listeners=[{"name": "a", "upstream": up.addr}, {"name": "b", "upstream": noauth.addr}],
                            config=sensor_config())
    secrets = []
    c = SmtpConn(connect(sensor.listen_addr("a")[1], source="127.0.0.81"))
    c.expect(None, 220)
    c.expect("EHLO spell.test", 250)
    cram = b64("u@x.example 0123456789abcdef0123456789abcdef")
    c.expect("AUTH CRAM-MD5", 334)
    c.expect(cram, 235)
    xo = b64("user=u@x.example\x01auth=Bearer ya29.SECRETTOKEN\x01\x01")
    c.expect(f"AUTH XOAUTH2 {xo}", 235)
    plain = b64("\0u@x.example\0pw-one")
    c.expect(f"auth plain {plain}", 235)                 # lower case
    c.expect(f"AUTH PLAIN {plain} ", 235)                # trailing space
    foo = b64("not-a-mechanism-secret")
    c.expect(f"AUTH {foo}", 504)                         # the mechanism word itself may be a secret
    c.send(f"AUTH PLAIN\r\n{plain}\r\n")                 # response pipelined before the 334
    assert c.reply()[:3] == b"334" and c.reply()[:3] == b"235"
    c.expect("QUIT", 221)
    c.close()
    secrets += [cram, xo, plain, foo, "SECRETTOKEN", "pw-one"]
    # A server without AUTH: the initial response and pipelined LOGIN lines are still secrets.
    c = SmtpConn(connect(sensor.listen_addr("b")[1], source="127.0.0.82"))
    c.expect(None, 220)
    c.expect("EHLO spell.test", 250)
    p2 = b64("\0v@x.example\0pw-two")
    c.expect(f"AUTH PLAIN {p2}", 503)
    u3, pw3 = b64("w@x.example"), b64("pw-three")
    c.send(f"AUTH LOGIN\r\n{u3}\r\n{pw3}\r\n")
    assert [c.reply()[:3] for _ in range(3)] == [b"503", b"502", b"502"]
    c.expect("QUIT", 221)
    c.close()
    secrets += [p2, u3, pw3, "pw-two", "pw-three"]
    wait_sessions_idle(sensor)
    tr = Transcript(sensor)
    tr.wait_for(lambda ls: sum(1 for l in ls if "Connection closed (quit)" in l.text) == 2, what="both sessions closed")
    raw = tr.raw()
    for s in secrets:
        assert s not in raw, f"transcript leaks {s!r}:\n{raw}"
    assert raw.count("[redacted]") >= 9, raw


def test_redaction_tab_separated_auth(sensor_factory, upstream_factory):
    """`AUTH<TAB>PLAIN<TAB>blob`: not RFC 5321 syntax, but some servers tokenize on any
    whitespace; whatever the server does with it, the blob is a credential."""
    up = upstream_factory(Script(users={"u@x.example": "pw-tab"}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    c = SmtpConn(connect(sensor.port, source="127.0.0.83"))
    c.expect(None, 220)
    c.expect("EHLO tab.test", 250)
    blob = b64("\0u@x.example\0pw-tab")
    c.cmd(f"AUTH\tPLAIN\t{blob}")
    c.cmd(f"AUTH PLAIN\t{blob}")
    c.expect("QUIT", 221)
    c.close()
    wait_sessions_idle(sensor)
    tr = Transcript(sensor)
    tr.wait_for(lambda ls: any("Connection closed (quit)" in l.text for l in ls), what="session closed")
    raw = tr.raw()
    assert blob not in raw, f"transcript leaks the AUTH PLAIN blob:\n{raw}"


_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")


def test_peer_bytes_cannot_forge_or_hide_lines(sensor_factory, upstream_factory):
    """Control bytes from the client (bare CR, ESC, NUL) or the server must not reach the
    file raw: a bare CR lets a reader that splits on CR (Python, many log shippers) see a
    forged line with another LCID, and ESC sequences rewrite an admin's terminal."""
    forged = "2026-01-01 00:00:00,000 - [  36556595] ************ New connection from: 6.6.6.6:1 to smtp"
    up = upstream_factory(Script(replies={"NOOP": "250 2.0.0 Ok\x1b[2J\rforged-by-server"}))
    sensor = sensor_factory(up.addr, config=sensor_config(transcripts={"message_data": True}))
    c = SmtpConn(connect(sensor.port, source="127.0.0.84"))
    c.expect(None, 220)
    c.expect("EHLO ctl.test", 250)
    c.send(f"NOOP a\r{forged}\r\n".encode())
    c.reply()
    c.send(b"NOOP \x1b[31mred\x00nul\x7f\r\n")
    c.reply()
    c.expect("MAIL FROM:<c@sender.example>", 250)
    c.expect("RCPT TO:<r@rcpt.example>", 250)
    c.expect("DATA", 354)
    c.send(f"Subject: x\r\n\r\nbody\r{forged}\x1b[0m\r\n.\r\n".encode())
    c.expect(None, 250)
    c.expect("QUIT", 221)
    c.close()
    wait_sessions_idle(sensor)
    tr = Transcript(sensor)
    wait_until(lambda: b"Connection closed (quit)" in tr.path.read_bytes(), 5, what="session closed")
    data = tr.path.read_bytes()
    bad = [l for l in data.split(b"\n") if _CONTROL.search(l)]
    assert not bad, f"raw control bytes in {len(bad)} transcript lines, e.g. {bad[:3]!r}"
    for line in data.decode("utf-8", "replace").splitlines():   # splits on \r as well
        m = TRANSCRIPT_RE.match(line)
        assert m, f"a reader splitting on CR sees a line not in the transcript layout: {line!r}"
        assert "36556595" not in m.group(2), f"forged LCID line: {line!r}"


def test_commands_pipelined_after_auth_initial_response(sensor_factory, upstream_factory):
    """`AUTH PLAIN <initial response>` followed, in the same write, by MAIL/RCPT/DATA. The
    server answers 235 and accepts the transaction, so the sensor must see the transaction
    too: the pipelined lines are commands (PLAIN is a one-step mechanism and no 334 came),
    and the message content is not logged as commands."""
    up = upstream_factory(Script(users={"u@x.example": "pw-pipe"}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    from sensor_util import Snapshot, wait_store_rows
    from harness import dot_stuff
    snap = Snapshot(sensor)
    c = SmtpConn(connect(sensor.port, source="127.0.0.85"))
    c.expect(None, 220)
    c.expect("EHLO pipe.test", 250)
    blob = b64("\0u@x.example\0pw-pipe")
    c.send(f"AUTH PLAIN {blob}\r\nMAIL FROM:<u@x.example>\r\nRCPT TO:<r@rcpt.example>\r\nDATA\r\n")
    assert [c.reply()[:3] for _ in range(4)] == [b"235", b"250", b"250", b"354"]
    body = b"Subject: private subject line\r\n\r\nprivate body text\r\n"
    c.send(dot_stuff(body))
    c.expect(None, 250)
    c.expect("QUIT", 221)
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(10) and conn.messages == [body]
    wait_sessions_idle(sensor)
    L = {"listener": "smtp"}
    (row,) = wait_store_rows(sensor, 1)
    texts = Transcript(sensor).wait_closed_line(row["lcid"])
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="PLAIN", result="success", **L) == 1
    assert snap.delta("smtp_sensor_commands_total", verb="MAIL", **L) == 1, texts
    assert snap.delta("smtp_sensor_commands_total", verb="RCPT", **L) == 1, texts
    assert snap.delta("smtp_sensor_commands_total", verb="DATA", **L) == 1, texts
    assert snap.delta("smtp_sensor_commands_total", verb="other", **L) == 0, texts
    assert snap.delta("smtp_sensor_messages_total", **L) == 1, texts
    assert not any("private" in t for t in texts), f"message content logged without message_data: {texts}"
    assert "C --> MAIL FROM:<u@x.example>" in texts, texts
    assert row["messages"] == 1 and row["recipients"] == 1 and row["domain"] == "x.example", row
