"""Issue 4, tests 3-5 and extras: authenticated mail through smtplib (messages, bytes,
domain), a pipelined transaction with a 550 RCPT, BDAT with binary chunks, message_data,
multi-line replies line by line, and domain_label_limit."""
import hashlib
import random
import smtplib

from harness import SLOW, SmtpConn, connect, dot_stuff, random_text_message, sha
from scripted_server import Script
from sensor_util import Snapshot, Transcript, sensor_config, wait_sessions_idle, wait_store_rows

L = {"listener": "smtp"}


def test_authenticated_smtplib_mail(sensor_factory, upstream_factory):
    user, password = "carol@submit.example", "p4ss-w0rd!"
    up = upstream_factory(Script(users={user: password}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    msg = random_text_message(300_000, random.Random(3))
    with smtplib.SMTP("127.0.0.1", sensor.port, local_hostname="submitter.test", timeout=30 * SLOW) as s:
        s.login(user, password)
        assert s.sendmail("carol@sender.example", ["dave@rcpt.example"], msg) == {}
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    wait_sessions_idle(sensor)
    assert conn.auth_results == [("PLAIN", user, True)]
    assert len(conn.messages) == 1
    assert hashlib.sha256(conn.messages[0]).hexdigest() == sha(msg), "message body not delivered byte-exact"

    assert snap.delta("smtp_sensor_messages_total", **L) == 1
    # The relay is transparent, so what the upstream received is what the client sent.
    assert snap.delta("smtp_sensor_bytes_total", direction="in", **L) == conn.payload_len
    assert snap.delta("smtp_sensor_bytes_total", direction="out", **L) == conn.sent_len
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="PLAIN", result="success", **L) == 1
    assert snap.delta("smtp_sensor_terminations_total", **L) == 0
    assert snap.delta("smtp_sensor_domain_connections_total", domain="submit.example") == 1
    assert snap.delta("smtp_sensor_domain_messages_total", domain="submit.example") == 1
    assert snap.delta("smtp_sensor_domain_bytes_total", domain="submit.example") == conn.payload_len + conn.sent_len
    assert snap.delta("smtp_sensor_domain_connections_total", domain="rcpt.example") == 0
    assert snap.delta("smtp_sensor_domain_connections_total", domain="sender.example") == 0

    (row,) = wait_store_rows(sensor, 1)
    assert row["messages"] == 1 and row["recipients"] == 1, row
    assert row["auth_user"] == user and row["auth_result"] == "success", row
    assert row["domain"] == "submit.example", row
    assert row["helo"] == "submitter.test" and row["termination"] == "quit", row
    assert row["bytes_in"] == conn.payload_len and row["bytes_out"] == conn.sent_len, row
    assert row["permanent_failures"] == 0 and row["bad_commands"] == 0, row

    tr = Transcript(sensor)
    texts = tr.wait_closed_line(row["lcid"])
    stuffed_len = len(dot_stuff(msg)) - len(b".\r\n")
    data_lines = [t for t in texts if t.startswith("C --> <message data: ")]
    # N is the message size as sent (dot-stuffed, without the final dot line) or as unstuffed.
    assert data_lines in ([f"C --> <message data: {stuffed_len} bytes>"], [f"C --> <message data: {len(msg)} bytes>"]), \
        (data_lines, stuffed_len, len(msg))
    assert texts[-1] == (f"~~~~~~~~~~~~ Connection closed (quit). in={conn.payload_len} out={conn.sent_len} "
                         f"commands={len(conn.commands)} bad=0"), texts
    # No message content in the transcript without message_data.
    assert msg.split(b"\r\n")[5].decode() not in tr.raw()


def test_pipelined_transaction_with_550_rcpt(sensor_factory, upstream_factory):
    async def rcpt(conn, line):
        if b"bad@" in line:
            await conn.reply("550 5.1.1 <bad@rcpt.example>: Recipient address rejected: User unknown")
            return True
        return False

    up = upstream_factory(Script(hooks={"RCPT": rcpt}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    c = SmtpConn(connect(sensor.port, source="127.0.0.41"))
    port = c.sock.getsockname()[1]
    c.expect(None, 220)
    assert b"PIPELINING" in c.expect("EHLO pipeline.test", 250)
    c.send(b"MAIL FROM:<p@sender.example>\r\nRCPT TO:<good@rcpt.example>\r\n"
           b"RCPT TO:<bad@rcpt.example>\r\nDATA\r\n")                 # one write
    assert c.reply()[:3] == b"250"
    assert c.reply()[:3] == b"250"
    assert c.reply()[:3] == b"550"
    assert c.reply()[:3] == b"354"
    body = b"Subject: pipelined\r\n\r\nhello\r\n"
    c.send(dot_stuff(body))
    c.expect(None, 250)
    c.expect("QUIT", 221)
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    wait_sessions_idle(sensor)
    assert conn.messages == [body]

    assert snap.delta("smtp_sensor_commands_total", verb="RCPT", **L) == 2
    assert snap.delta("smtp_sensor_commands_total", verb="MAIL", **L) == 1
    assert snap.delta("smtp_sensor_commands_total", verb="DATA", **L) == 1
    assert snap.delta("smtp_sensor_permanent_failures_total", stage="rcpt", **L) == 1
    assert snap.delta("smtp_sensor_permanent_failures_total", **L) == 1
    assert snap.delta("smtp_sensor_terminations_total", reason="permanent_failure", **L) == 1
    assert snap.delta("smtp_sensor_terminations_total", **L) == 1
    assert snap.delta("smtp_sensor_replies_total", **{"class": "5xx"}, **L) == 1
    assert snap.delta("smtp_sensor_messages_total", **L) == 1
    assert snap.delta("smtp_sensor_bad_commands_total", **L) == 0

    (row,) = wait_store_rows(sensor, 1)
    assert row["client_port"] == port, row
    assert row["recipients"] == 1 and row["permanent_failures"] == 1, row
    assert row["messages"] == 1 and row["termination"] == "quit" and row["commands"] == 6, row
    assert row["domain"] == "rcpt.example", row        # unauthenticated: first accepted recipient

    tr = Transcript(sensor)
    texts = tr.wait_closed_line(row["lcid"])
    # Replies are paired with their commands in FIFO order even though all four commands
    # arrived before the first reply.
    seq = [t for t in texts if t.startswith(("C --> MAIL", "C --> RCPT", "C --> DATA", "S <-- 250 2.1",
                                             "S <-- 550", "S <-- 354"))]
    assert seq == [
        "C --> MAIL FROM:<p@sender.example>", "C --> RCPT TO:<good@rcpt.example>",
        "C --> RCPT TO:<bad@rcpt.example>", "C --> DATA",
        "S <-- 250 2.1.0 Ok", "S <-- 250 2.1.5 Ok",
        "S <-- 550 5.1.1 <bad@rcpt.example>: Recipient address rejected: User unknown",
        "S <-- 354 End data with <CR><LF>.<CR><LF>",
    ], texts


def test_bdat_binary_chunks(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    rng = random.Random(5)
    # Chunk 1: headers, an end-of-data look-alike, fake commands, NULs, bare CR and LF.
    chunk1 = (b"Subject: bdat\r\n\r\nline one\r\n.\r\nMAIL FROM:<smuggled@evil.example>\r\n"
              b"RCPT TO:<victim@rcpt.example>\r\nDATA\r\n\x00\x01\xff\r.\r\n\n.\n" + rng.randbytes(70_000) + b"\r\n.\r\n")
    chunk2 = rng.randbytes(4096) + b"\r\n.\r\nQUIT\r\n"
    chunk3 = b"\r\n.\r\n"   # the LAST chunk is itself an end-of-data look-alike
    c = SmtpConn(connect(sensor.port, source="127.0.0.51"))
    port = c.sock.getsockname()[1]
    c.expect(None, 220)
    assert b"CHUNKING" in c.expect("EHLO bdat.test", 250)
    c.expect("MAIL FROM:<b@sender.example>", 250)
    c.expect("RCPT TO:<r@rcpt.example>", 250)
    c.send(b"BDAT %d\r\n" % len(chunk1) + chunk1)
    c.expect(None, 250)
    # Two chunks pipelined in one write, the second LAST.
    c.send(b"BDAT %d\r\n" % len(chunk2) + chunk2 + b"BDAT %d LAST\r\n" % len(chunk3) + chunk3)
    c.expect(None, 250)
    c.expect(None, 250)
    c.expect("QUIT", 221)
    c.close()
    conn = up.wait_connection(0)
    assert conn.wait_closed(10)
    wait_sessions_idle(sensor)
    assert conn.messages == [chunk1 + chunk2 + chunk3], "BDAT content not delivered byte-exact"

    assert snap.delta("smtp_sensor_messages_total", **L) == 1
    assert snap.delta("smtp_sensor_commands_total", verb="BDAT", **L) == 3
    assert snap.delta("smtp_sensor_commands_total", verb="MAIL", **L) == 1, "chunk content counted as commands"
    assert snap.delta("smtp_sensor_commands_total", verb="RCPT", **L) == 1
    assert snap.delta("smtp_sensor_commands_total", verb="DATA", **L) == 0
    assert snap.delta("smtp_sensor_commands_total", verb="QUIT", **L) == 1
    assert snap.delta("smtp_sensor_commands_total", **L) == 7
    assert snap.delta("smtp_sensor_anomalies_total", **L) == 0, \
        [(n, l, v) for n, l, v in sensor.metrics() if n == "smtp_sensor_anomalies_total" and v]
    assert snap.delta("smtp_sensor_bad_commands_total", **L) == 0
    assert snap.delta("smtp_sensor_bytes_total", direction="in", **L) == conn.payload_len

    (row,) = wait_store_rows(sensor, 1)
    assert row["client_port"] == port and row["messages"] == 1 and row["termination"] == "quit", row
    assert row["commands"] == 7 and row["bad_commands"] == 0, row
    tr = Transcript(sensor)
    texts = tr.wait_closed_line(row["lcid"])
    assert [t for t in texts if t.startswith("C --> <BDAT")] == [
        f"C --> <BDAT chunk: {len(chunk1)} bytes>",
        f"C --> <BDAT chunk: {len(chunk2)} bytes>",
        f"C --> <BDAT chunk: {len(chunk3)} bytes, LAST>",
    ], texts
    assert not any("anomaly" in t for t in texts), texts
    assert "C --> MAIL FROM:<smuggled@evil.example>" not in texts


def test_message_data_true_shows_content_lines(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=sensor_config(transcripts={"message_data": True}))
    body = b"Subject: visible content\r\nX-Marker: 4242\r\n\r\nfirst body line\r\n.leading dot\r\nlast line\r\n"
    c = SmtpConn(connect(sensor.port, source="127.0.0.61"))
    port = c.sock.getsockname()[1]
    c.expect(None, 220)
    c.expect("EHLO content.test", 250)
    assert c.transaction(body, mail="<m@sender.example>", rcpt="<r@rcpt.example>")[:3] == b"250"
    c.expect("QUIT", 221)
    c.close()
    assert up.wait_connection(0).wait_closed(10)
    assert up.connections[0].messages == [body]
    tr = Transcript(sensor)
    lcid = tr.lcid_of(f"127.0.0.61:{port} ")
    texts = tr.wait_closed_line(lcid)
    i = texts.index("S <-- 354 End data with <CR><LF>.<CR><LF>")
    content = texts[i + 1:i + 7]
    # Lines as sent; the dot-stuffed line may be shown stuffed or unstuffed.
    assert content[:4] == ["C --> Subject: visible content", "C --> X-Marker: 4242", "C --> ",
                           "C --> first body line"], texts
    assert content[4] in ("C --> ..leading dot", "C --> .leading dot"), texts
    assert content[5] == "C --> last line", texts
    # The daemon also writes the size line after the content lines; SPEC 5 reads as "one
    # line unless message_data: true", so a trailing size line is tolerated, nothing else.
    rest = texts[i + 7:]
    if rest and rest[0].startswith("C --> <message data"):
        assert rest[0] == f"C --> <message data: {len(body)} bytes>", texts
        rest = rest[1:]
    assert rest[0].startswith("S <-- 250 "), texts


def test_multiline_reply_line_by_line(sensor_factory, upstream_factory):
    caps = ["PIPELINING", "SIZE 1000", "8BITMIME", "AUTH PLAIN LOGIN", "CHUNKING", "ENHANCEDSTATUSCODES"]
    up = upstream_factory(Script(capabilities=caps, replies={
        "HELP": "214-2.0.0 This is scripted\r\n214-2.0.0 Topics:\r\n214 2.0.0 End of HELP info"}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    c = SmtpConn(connect(sensor.port, source="127.0.0.62"))
    port = c.sock.getsockname()[1]
    c.expect(None, 220)
    c.expect("EHLO multi.test", 250)
    c.expect("HELP", 214)
    c.expect("QUIT", 221)
    c.close()
    tr = Transcript(sensor)
    lcid = tr.lcid_of(f"127.0.0.62:{port} ")
    texts = tr.wait_closed_line(lcid)
    i = texts.index("C --> EHLO multi.test")
    assert texts[i + 1:i + 8] == ["S <-- 250-scripted.test"] + [f"S <-- 250-{x}" for x in caps[:-1]] + \
        [f"S <-- 250 {caps[-1]}"], texts
    j = texts.index("C --> HELP")
    assert texts[j + 1:j + 4] == ["S <-- 214-2.0.0 This is scripted", "S <-- 214-2.0.0 Topics:",
                                  "S <-- 214 2.0.0 End of HELP info"], texts


def test_domain_label_limit_one(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=sensor_config(metrics={"domain_label_limit": 1}))
    snap = Snapshot(sensor)
    sent = {}
    for i, dom in enumerate(["first.example", "second.example", "third.example", "first.example"]):
        c = SmtpConn(connect(sensor.port, source="127.0.0.71"))
        c.expect(None, 220)
        c.expect("EHLO dom.test", 250)
        c.transaction(b"Subject: d\r\n\r\nx\r\n", mail="<s@sender.example>", rcpt=f"<u{i}@{dom}>")
        c.expect("QUIT", 221)
        c.close()
        conn = up.wait_connection(i)
        assert conn.wait_closed(10)
        sent[i] = conn.payload_len + conn.sent_len
    wait_sessions_idle(sensor)
    assert snap.delta("smtp_sensor_domain_connections_total", domain="first.example") == 2
    assert snap.delta("smtp_sensor_domain_messages_total", domain="first.example") == 2
    assert snap.delta("smtp_sensor_domain_bytes_total", domain="first.example") == sent[0] + sent[3]
    assert snap.delta("smtp_sensor_domain_connections_total", domain="other") == 2
    assert snap.delta("smtp_sensor_domain_messages_total", domain="other") == 2
    assert snap.delta("smtp_sensor_domain_bytes_total", domain="other") == sent[1] + sent[2]
    domains = {l.get("domain") for n, l, v in sensor.metrics() if n.startswith("smtp_sensor_domain_")}
    assert domains == {"first.example", "other"}, domains
    # The store keeps the real domain; only the metric label is capped.
    rows = wait_store_rows(sensor, 4)
    assert [r["domain"] for r in rows] == ["first.example", "second.example", "third.example", "first.example"]
