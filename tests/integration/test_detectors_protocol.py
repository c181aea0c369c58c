"""Detectors, protocol side: connection_ratio, bad_commands, pregreet, smuggling,
starttls_injection, and BDAT binary content (CRLF.CRLF inside a chunk is no smuggling).
Each case has a positive and a negative client, on distinct 127.0.0.x addresses."""
from __future__ import annotations

import os
import time

from harness import SmtpConn, connect
from scripted_server import Script
from test_detectors_common import Alerts, assert_no_alerts, det_config, flagged_ips, quit, settle, smtp

MSG = b"Subject: ratio\r\n\r\nhello\r\n"


def test_connection_ratio(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=det_config(
        {"connection_ratio": {"min_connections": 6, "max_ratio": 2, "window": "10m"}}, only=True))
    sender, prober = "127.0.0.61", "127.0.0.62"
    for _ in range(8):  # a message in every connection: ratio 1
        c = smtp(sensor, sender)
        assert c.transaction(MSG)[:3] == b"250"
        quit(c)
    assert_no_alerts(sensor)
    for _ in range(8):  # connect, EHLO, QUIT: nothing delivered
        quit(smtp(sensor, prober))
    a = Alerts(sensor).wait("connection_ratio", prober)
    assert a["count"] == 6 and a["threshold"] == 6 and a["window_s"] == 600, a
    assert "6 connections but 0 messages" in a["detail"], a
    settle(sensor)
    assert flagged_ips(sensor) == {prober}
    assert len(Alerts(sensor).all()) == 1


def test_bad_commands(sensor_factory, upstream_factory):
    up = upstream_factory(Script(replies={"XYZZY": "500 5.5.2 Error: command not recognized"}))
    sensor = sensor_factory(up.addr, config=det_config({"bad_commands": {"count": 5, "window": "10m"}}, only=True))
    few, many = "127.0.0.71", "127.0.0.72"
    c = smtp(sensor, few)
    for _ in range(4):
        c.expect("XYZZY", 500)
    quit(c)
    assert_no_alerts(sensor)
    c = smtp(sensor, many)
    for _ in range(3):
        c.expect("XYZZY", 500)
    quit(c)
    c = smtp(sensor, many)
    for _ in range(2):
        c.expect("XYZZY", 500)
    quit(c)
    a = Alerts(sensor).wait("bad_commands", many)
    assert a["count"] == 5 and a["threshold"] == 5, a
    settle(sensor)
    assert flagged_ips(sensor) == {many}


def test_pregreet(sensor_factory, upstream_factory):
    up = upstream_factory(Script(greeting_delay=0.7))
    sensor = sensor_factory(up.addr, config=det_config({"pregreet": {}}, only=True))
    patient, eager = "127.0.0.81", "127.0.0.82"
    quit(smtp(sensor, patient))  # waits for the (slow) greeting
    assert_no_alerts(sensor)
    s = connect(sensor.port, source=eager)
    s.sendall(b"EHLO eager.test\r\n")  # before the greeting
    c = SmtpConn(s)
    c.expect(None, 220)
    c.expect(None, 250)
    quit(c)
    a = Alerts(sensor).wait("pregreet", eager)
    assert a["count"] == 1 and a["threshold"] == 1 and a["window_s"] == 0, a
    settle(sensor)
    assert flagged_ips(sensor) == {eager}


def test_smuggling_and_clean_data_and_bdat(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=det_config({"smuggling": {}}, only=True))
    clean, binary, smuggler = "127.0.0.91", "127.0.0.92", "127.0.0.93"
    c = smtp(sensor, clean)
    assert c.transaction(b"Subject: clean\r\n\r\nline one\r\n..dot line\r\nend\r\n")[:3] == b"250"
    quit(c)
    # BDAT: binary content with CRLF.CRLF, LF.LF and CR.CR inside the chunks is byte-counted.
    c = smtp(sensor, binary)
    c.expect("MAIL FROM:<a@example.com> BODY=BINARYMIME", 250)
    c.expect("RCPT TO:<b@example.com>", 250)
    chunk1 = b"Subject: bin\r\n\r\n" + os.urandom(200) + b"\r\n.\r\n" + b"\n.\n" + b"\r.\r" + os.urandom(100)
    c.send(b"BDAT %d\r\n" % len(chunk1) + chunk1)
    c.expect(None, 250)
    chunk2 = b"\r\n.\r\nQUIT\r\n" + os.urandom(50) + b"\r\n.\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(chunk2) + chunk2)
    c.expect(None, 250)
    quit(c)
    assert_no_alerts(sensor)
    # DATA with an LF.LF end-of-data look-alike; the server takes the whole thing as one message.
    c = smtp(sensor, smuggler)
    c.expect("MAIL FROM:<a@example.com>", 250)
    c.expect("RCPT TO:<b@example.com>", 250)
    c.expect("DATA", 354)
    c.send(b"Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.net>\r\n"
           b"DATA\r\nSubject: spoofed\r\n\r\nspoofed\r\n.\r\n")
    c.expect(None, 250)
    quit(c)
    a = Alerts(sensor).wait("smuggling", smuggler)
    assert a["severity"] == "critical" and a["count"] == 1, a
    settle(sensor)
    assert flagged_ips(sensor) == {smuggler}
    assert len(up.connections[-1].messages) == 1
    assert len(Alerts(sensor).all()) == 1


def test_starttls_injection(sensor_factory, upstream_factory):
    up = upstream_factory(Script(capabilities=["PIPELINING", "STARTTLS", "8BITMIME"],
                                 replies={"STARTTLS": "220 2.0.0 Ready to start TLS"}))
    sensor = sensor_factory(up.addr, config=det_config({"starttls_injection": {}}, only=True))
    honest, injector = "127.0.0.101", "127.0.0.102"
    c = smtp(sensor, honest)
    c.expect("STARTTLS", 220)
    c.send(b"\x16\x03\x01\x00\x05hello")  # what a TLS ClientHello would look like: opaque
    time.sleep(0.1)
    c.close()
    assert_no_alerts(sensor)
    c = smtp(sensor, injector)
    c.send(b"STARTTLS\r\nMAIL FROM:<attacker@example.com>\r\n")  # pipelined before the 220
    c.expect(None, 220)
    c.close()
    a = Alerts(sensor).wait("starttls_injection", injector)
    assert a["count"] == 1 and a["action"] == "flag", a
    settle(sensor)
    assert flagged_ips(sensor) == {injector}
