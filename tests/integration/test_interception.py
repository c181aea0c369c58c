"""Transparent interception of an MTA's own deliveries (issue 16, SPEC 14): a listener
with `direction: outbound` and `upstream: original-destination`, fed by an owner-match
REDIRECT in `nat OUTPUT`, relays each delivery to the remote MX the MTA dialled.

Topology (namespaces created and removed here, see netns.py):
    [host] 198.18.0.1 ---veth--- [inet] 198.18.0.2, .3, .4   (IPv6: fd00:198:18::1 / ::2)
The "MTA" is mta_client.py run as a throwaway system user in `host`; the sensor runs in
`host` as root, so its own connections to the remote MX are not redirected again. The
remote MX are a scripted server (records every byte) and Postfix's smtp-sink.
"""
from __future__ import annotations

import datetime
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SmtpSink, random_text_message, run_cli, sha  # noqa: E402
from netns import Lab, missing_tools  # noqa: E402
from scripted_server import Script, ScriptedServer  # noqa: E402

MTA_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mta_client.py")
OUT_PORT = 10026  # the outbound listener, as in OPERATIONS


def deliver(lab, host: str, port: int, message: bytes, *args: str) -> dict:
    """One delivery by the throwaway MTA user, from the host namespace."""
    r = subprocess.run([*lab.host.prefix, "runuser", "-u", lab.mta, "--", "/usr/bin/python3", MTA_CLIENT,
                        host, str(port), *args], input=message, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return json.loads(r.stdout)


def transcript(sensor) -> str:
    path = sensor.tmpdir / "transcript.log"
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for(pred, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stored_sessions(sensor) -> list[dict]:
    db = sensor.tmpdir / "sessions.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM sessions ORDER BY lcid")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


@pytest.fixture(scope="module")
def lab():
    why = missing_tools()
    if why:
        pytest.skip(why)
    lab = Lab("o")
    try:
        lab.host, lab.inet = lab.ns("host"), lab.ns("inet")
        lab.link(lab.host, ["198.18.0.1/24", "fd00:198:18::1/64"],
                 lab.inet, ["198.18.0.2/24", "198.18.0.3/24", "198.18.0.4/24", "fd00:198:18::2/64"])
        lab.mta, lab.mta_uid = lab.user("mta")
        # Only the MTA's connections to port 25 (and 587) are redirected: the sensor runs
        # as another user, so its own connection to the remote MX goes out as dialled.
        for port, to in ((25, OUT_PORT), (587, 587)):
            lab.ipt(lab.host, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", str(port),
                    "-m", "owner", "--uid-owner", str(lab.mta_uid), "-j", "REDIRECT", "--to-ports", str(to))
        # IPv6 with nft (inet family): the same redirect by `meta skuid`. fd00:198:18::/64
        # is a unique-local prefix used only inside these two namespaces.
        lab.nft(lab.host, "inet", "ssn_out6",
                "chain out { type nat hook output priority -100; policy accept;\n"
                f"  meta nfproto ipv6 tcp dport 25 meta skuid {lab.mta_uid} redirect to :{OUT_PORT}\n}}")
        yield lab
    finally:
        errors = lab.cleanup()
        assert not errors, errors


def outbound_sensor(sensor_factory, lab, listeners: list[dict]):
    s = sensor_factory(listeners=listeners, config={"transcripts": {"enabled": True}}, start=False)
    with lab.host.entered():
        s.start()
    return s


def in_host(lab, fn, *a, **kw):
    with lab.host.entered():
        return fn(*a, **kw)


def test_outbound_redirect_relays_to_the_dialled_mx(sensor_factory, lab):
    rng_msgs = [random_text_message(20_000 + 7_000 * i, random.Random(16 + i)) for i in range(3)]
    with lab.inet.entered():
        mx1 = ScriptedServer(Script(), host="198.18.0.2", port=25).start()
        mx2 = SmtpSink(port=25, host="198.18.0.3").start()
        refusing = ScriptedServer(Script(greeting="554 5.7.1 198.18.0.1 listed at a block list"),
                                  host="198.18.0.4", port=25).start()
    try:
        sensor = outbound_sensor(sensor_factory, lab, [
            {"name": "out", "listen": f"127.0.0.1:{OUT_PORT}", "upstream": "original-destination",
             "direction": "outbound", "max_connections": 100}])

        r1 = deliver(lab, "198.18.0.2", 25, rng_msgs[0], "--sender", "alice@out.example")
        r2 = deliver(lab, "198.18.0.3", 25, rng_msgs[1], "--sender", "carol@other.example")
        r3 = deliver(lab, "198.18.0.4", 25, rng_msgs[2], "--sender", "alice@out.example")
        assert r1["codes"] == [220, 250, 250, 250, 354, 250, 221], r1
        assert r2["codes"][-2:] == [250, 221], r2
        assert r3["codes"][0] == 554, r3
        # The MTA believes it talked to the MX it dialled.
        assert r1["peer"] == ["198.18.0.2", 25] and r2["peer"] == ["198.18.0.3", 25]

        # Byte-exact: everything the MTA sent is what the MX received; the MX saw the
        # host's own address (the sensor dialled from it, not from 127.0.0.1).
        conn = mx1.wait_connection(0)
        conn.wait_closed(10)
        assert conn.payload_sha256 == r1["sent_sha256"]
        assert conn.messages == [rng_msgs[0]]
        assert conn.peer[0] == "198.18.0.1", conn.peer
        [dump] = mx2.wait_messages(1)
        parsed = SmtpSink.parse(dump)
        assert sha(parsed.body) == sha(rng_msgs[1].replace(b"\r\n", b"\n"))
        assert parsed.headers["X-Client-Addr"] == ["198.18.0.1"], parsed.headers

        # Nothing looped: one accepted connection per delivery (a redirected upstream
        # connection would have come back as a fourth, and a fifth...).
        in_host(lab, sensor.wait_metric, "smtp_sensor_connections_total", lambda v: v >= 3)
        time.sleep(0.3)
        assert in_host(lab, sensor.counter, "smtp_sensor_connections_total") == 3
        assert len(mx1.connections) == 1 and len(refusing.connections) == 1
        # The remote's 554 greeting is a blocked connection (the remote refused us):
        # upstream_refused, or remote_refused once outbound listeners name it so (SPEC 14).
        blocked = {l.get("reason"): v for n, l, v in in_host(lab, sensor.metrics)
                   if n == "smtp_sensor_blocked_connections_total" and v}
        assert blocked.get("upstream_refused", 0) + blocked.get("remote_refused", 0) == 1, blocked
        assert in_host(lab, sensor.counter, "smtp_sensor_upstream_errors_total") == 0

        # The transcript names the real remote, never "original-destination".
        t = wait_for(lambda: (x := transcript(sensor)).count("New connection") >= 3 and x, "transcript lines")
        for mx in ("198.18.0.2:25", "198.18.0.3:25", "198.18.0.4:25"):
            assert f"(upstream {mx})" in t, t
        assert "original-destination" not in t
        # ... and so does the store.
        rows = wait_for(lambda: len(r := stored_sessions(sensor)) >= 3 and r, "3 stored sessions")
        assert sorted(r["upstream"] for r in rows) == ["198.18.0.2:25", "198.18.0.3:25", "198.18.0.4:25"]
    finally:
        mx1.stop(), mx2.cleanup(), refusing.stop()


def test_outbound_listener_refuses_a_direct_connection(sensor_factory, lab):
    sensor = outbound_sensor(sensor_factory, lab, [
        {"name": "out", "listen": f"127.0.0.1:{OUT_PORT}", "upstream": "original-destination",
         "direction": "outbound", "max_connections": 100}])
    with lab.host.entered():
        # Not redirected (root's connection, straight to the listener): relaying it would
        # make the sensor dial itself. It gets the 421 of an unavailable upstream.
        with socket.create_connection(("127.0.0.1", OUT_PORT), timeout=10) as s:
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data == b"421 4.4.1 Upstream unavailable\r\n"
        sensor.wait_metric("smtp_sensor_upstream_errors_total", lambda v: v == 1, {"listener": "out"})
        assert sensor.counter("smtp_sensor_connections_total") == 1  # and no second one: no loop
    t = wait_for(lambda: "not intercepted" in (x := transcript(sensor)) and x, "the refusal in the transcript")
    assert "not intercepted (127.0.0.1:10026)" in t, t
    assert "refused 127.0.0.1: not intercepted" in sensor.stderr_text()


def test_outbound_rule_that_catches_the_sensor_does_not_loop(sensor_factory, lab):
    """A rule without the right owner match also redirects the sensor's own connection to
    the remote MX back to the sensor. That one is refused (its client is the sensor's own
    upstream socket) instead of dialling again and again; the MTA hears the 421."""
    with lab.inet.entered():
        mx = ScriptedServer(Script(), host="198.18.0.2", port=25).start()
    mark = lab.mark()
    try:
        # The sensor runs as root here: catch root's connections to port 25 too.
        lab.ipt(lab.host, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "--dport", "25",
                "-m", "owner", "--uid-owner", "0", "-j", "REDIRECT", "--to-ports", str(OUT_PORT))
        sensor = outbound_sensor(sensor_factory, lab, [
            {"name": "out", "listen": f"127.0.0.1:{OUT_PORT}", "upstream": "original-destination",
             "direction": "outbound", "max_connections": 100}])
        r = deliver(lab, "198.18.0.2", 25, b"Subject: loop\r\n\r\nx\r\n")
        assert r["codes"][0] == 421, r
        with lab.host.entered():
            sensor.wait_metric("smtp_sensor_upstream_errors_total", lambda v: v == 1, {"listener": "out"})
            time.sleep(0.5)
            # The MTA's connection and the sensor's own one, redirected back: two, not more.
            assert sensor.counter("smtp_sensor_connections_total") == 2
        assert mx.connections == []
        t = wait_for(lambda: "redirected back" in (x := transcript(sensor)) and x, "the refusal in the transcript")
        assert "redirected back: the client is the sensor's own upstream connection (198.18.0.1:" in t, t
    finally:
        errors = lab.rollback(mark)
        mx.stop()
    assert not errors, errors


def test_outbound_ipv6_redirect_with_nft(sensor_factory, lab):
    message = random_text_message(50_000, random.Random(6))
    with lab.inet.entered():
        mx = ScriptedServer(Script(), host="fd00:198:18::2", port=25).start()
    try:
        sensor = outbound_sensor(sensor_factory, lab, [
            {"name": "out6", "listen": f"[::1]:{OUT_PORT}", "upstream": "original-destination",
             "direction": "outbound", "max_connections": 100}])
        r = deliver(lab, "fd00:198:18::2", 25, message)
        assert r["codes"][-2:] == [250, 221], r
        conn = mx.wait_connection(0)
        conn.wait_closed(10)
        assert conn.payload_sha256 == r["sent_sha256"] and conn.messages == [message]
        assert conn.peer[0] == "fd00:198:18::1", conn.peer
        assert in_host(lab, sensor.counter, "smtp_sensor_connections_total") == 1
        t = wait_for(lambda: "New connection" in (x := transcript(sensor)) and x, "transcript")
        assert "(upstream [fd00:198:18::2]:25)" in t, t
    finally:
        mx.stop()


def test_outbound_submission_with_auth_counts_the_user(sensor_factory, lab):
    """An MTA relaying through a smarthost on 587 with AUTH: the interception keeps the
    session's AUTH user (the metric and the store's auth_user)."""
    message = random_text_message(5_000, random.Random(587))
    with lab.inet.entered():
        relayhost = ScriptedServer(Script(users={"relay@out.example": "s3cret"}), host="198.18.0.2", port=587).start()
    try:
        sensor = outbound_sensor(sensor_factory, lab, [
            {"name": "sub-out", "listen": "127.0.0.1:587", "upstream": "original-destination",
             "direction": "outbound", "max_connections": 100}])
        r = deliver(lab, "198.18.0.2", 587, message, "--auth", "relay@out.example", "s3cret")
        assert r["codes"] == [220, 250, 235, 250, 250, 354, 250, 221], r
        conn = relayhost.wait_connection(0)
        conn.wait_closed(10)
        assert conn.payload_sha256 == r["sent_sha256"]
        assert conn.auth_results == [("PLAIN", "relay@out.example", True)], conn.auth_results
        in_host(lab, sensor.wait_metric, "smtp_sensor_auth_attempts_total", lambda v: v == 1,
                {"listener": "sub-out", "result": "success"})
        rows = wait_for(lambda: stored_sessions(sensor), "the stored session")
        assert [(x["auth_user"], x["upstream"]) for x in rows] == [("relay@out.example", "198.18.0.2:587")], rows
        # The password never reaches a log.
        assert "s3cret" not in transcript(sensor) and "s3cret" not in sensor.stderr_text()
    finally:
        relayhost.stop()


def test_outbound_report_by_sender(sensor_factory, lab):
    """`report --direction out` counts the intercepted deliveries per sender domain and
    per sender. Needs the outbound semantics (branch `outbound`)."""
    help_text = run_cli(["report", "--help"]).stdout + run_cli(["report", "--help"]).stderr
    if "--direction" not in help_text:
        pytest.skip("report --direction is not in this build yet (outbound semantics, SPEC 14)")
    with lab.inet.entered():
        mx = ScriptedServer(Script(), host="198.18.0.2", port=25).start()
    try:
        sensor = outbound_sensor(sensor_factory, lab, [
            {"name": "out", "listen": f"127.0.0.1:{OUT_PORT}", "upstream": "original-destination",
             "direction": "outbound", "max_connections": 100}])
        senders = ["alice@out.example", "alice@out.example", "bob@out.example", "carol@other.example"]
        for i, sender in enumerate(senders):
            r = deliver(lab, "198.18.0.2", 25, random_text_message(2_000, random.Random(i)),
                        "--sender", sender)
            assert r["codes"][-2:] == [250, 221], r
        wait_for(lambda: len(stored_sessions(sensor)) >= 4, "4 stored sessions")
        today = datetime.datetime.now(datetime.timezone.utc).date()
        frm, to = (today - datetime.timedelta(days=1)).isoformat(), (today + datetime.timedelta(days=1)).isoformat()

        def report(mode: str) -> dict:
            r = run_cli(["report", "-c", str(sensor.config_path), "--tz", "UTC", "--direction", "out", "--from", frm,
                         "--to", to, "--mode", mode, "--format", "json"])
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            return {row[1]: (row[2], row[-2]) for row in doc["rows"]}  # key: (sessions, messages)

        assert report("domain") == {"out.example": (3, 3), "other.example": (1, 1)}
        assert report("user") == {"alice@out.example": (2, 2), "bob@out.example": (1, 1),
                                  "carol@other.example": (1, 1)}
    finally:
        mx.stop()
