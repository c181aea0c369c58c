"""Issue 16 (SPEC 14), the sense and report side: SMTP Out sessions. Outbound listeners
with fixed upstreams on loopback (scripted servers playing remote MXs) behave, for the
sense side, as intercepted deliveries would: the local MTA (127.0.0.2) delivers its
users' mail through them, while an inbound listener takes mail from 127.0.0.3 to
smtp-sink. Checked: the bytes reach the remote server byte-exact; a 554 greeting is a
blocked connection (remote_refused); 5xx to RCPT are terminations; outbound_rejections
fires for one sender and stays quiet for one under the threshold, naming the sender and
the local client and flagging nothing; and the report (CLI and GET /report) by
--direction out counts per sender domain, per sender and per remote server, while
--direction in leaves them out."""
import datetime
import hashlib
import json
import smtplib
import time

from harness import SLOW, SmtpConn, run_cli
from scripted_server import Script
from sensor_util import sensor_config, wait_sessions_idle, wait_store_rows
from test_detectors_common import DETECTORS, Alerts, det_config
from test_report import by_key, get

REFUSED = "550 5.7.1 Message rejected as spam"


def deliver(port, sender, rcpt, body=b"Subject: out\r\n\r\nhello\r\n"):
    """The local MTA's delivery: one session, one message; returns smtplib's outcome."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mail.local.example", source_address=("127.0.0.2", 0),
                      timeout=30 * SLOW) as s:
        try:
            s.sendmail(sender, [rcpt], body)
            return "sent"
        except smtplib.SMTPRecipientsRefused:
            return "refused"


def test_outbound_sessions_semantics_detector_and_report(sensor_factory, sink_factory, upstream_factory):
    sink = sink_factory()
    remote_ok = upstream_factory(Script())
    # Each remote server on an address of its own, for --mode ip.
    remote_refuses = upstream_factory(Script(replies={"RCPT": REFUSED}), host="127.0.0.21")
    remote_blocks = upstream_factory(Script(greeting="554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"),
                                     host="127.0.0.22")
    dets = {name: {"enabled": False} for name in DETECTORS}
    dets["outbound_rejections"] = {"enabled": True, "rejections": 3, "window": "1h"}
    config = det_config(store={"enabled": True}, transcripts={"enabled": True})
    config["detectors"] = dets
    out = {"direction": "outbound", "max_connections": 100}
    sensor = sensor_factory(listeners=[{"name": "mx", "upstream": sink.addr, "max_connections": 100},
                                       dict(out, name="out", upstream=remote_ok.addr),
                                       dict(out, name="rej", upstream=remote_refuses.addr),
                                       dict(out, name="blk", upstream=remote_blocks.addr)],
                            config=sensor_config(**config))
    port = {name: sensor.listen_addr(name)[1] for name in ("mx", "out", "rej", "blk")}

    # A delivery the remote accepts, byte for byte as the MTA sent it.
    c = SmtpConn.open(port["out"], source="127.0.0.2")
    c.expect(None, 220)
    sent = bytearray()
    for line, code in [("EHLO mail.local.example", 250), ("MAIL FROM:<Dave@Local.Example>", 250),
                       ("RCPT TO:<someone@remote.example>", 250), ("DATA", 354)]:
        c.expect(line, code)
        sent += line.encode() + b"\r\n"
    body = b"Subject: byte-exact\r\n\r\n" + b"0123456789" * 500 + b"\r\n.\r\n"
    c.send(body)
    sent += body
    c.expect(None, 250)
    c.expect("QUIT", 221)
    sent += b"QUIT\r\n"
    c.close()
    conn = remote_ok.wait_connection(0)
    assert conn.wait_closed(10 * SLOW)
    assert conn.payload_sha256 == hashlib.sha256(bytes(sent)).hexdigest(), conn.payload[:200]
    assert deliver(port["out"], "dave@local.example", "other@remote.example") == "sent"

    # Remote refusals: mallory four times (over the threshold of 3), carol twice (under it).
    for _ in range(4):
        assert deliver(port["rej"], "mallory@local.example", "victim@remote.example") == "refused"
    for _ in range(2):
        assert deliver(port["rej"], "carol@local.example", "friend@remote.example") == "refused"

    # The remote refuses us at the greeting (554 naming a block list).
    b = SmtpConn.open(port["blk"], source="127.0.0.2")
    assert b.reply().startswith(b"554")
    b.expect("QUIT", 221)
    b.close()

    # Inbound mail from another server, to smtp-sink.
    with smtplib.SMTP("127.0.0.1", port["mx"], local_hostname="mx.sender.test", source_address=("127.0.0.3", 0),
                      timeout=30 * SLOW) as s:
        s.sendmail("x@sender.example", ["r1@b.example"], b"Subject: in\r\n\r\nhi\r\n")
        s.sendmail("x@sender.example", ["r2@b.example"], b"Subject: in\r\n\r\nhi\r\n")

    wait_sessions_idle(sensor, 10)
    rows = wait_store_rows(sensor, 10)
    assert len(rows) == 10, rows
    outbound = [r for r in rows if r["listener"] != "mx"]
    assert all(r["direction"] == 1 for r in outbound) and all(r["direction"] == 0 for r in rows if r["listener"] == "mx")
    assert {r["user_name"] for r in outbound} == {"dave@local.example", "mallory@local.example", "carol@local.example", ""}
    assert {r["domain"] for r in outbound if r["listener"] != "blk"} == {"local.example"}  # the sender's, not the recipient's
    blocked = [r for r in rows if r["listener"] == "blk"]
    assert len(blocked) == 1 and blocked[0]["blocked"] == 1 and blocked[0]["termination"] == "blocked", blocked
    assert all(r["permanent_failures"] == 1 for r in rows if r["listener"] == "rej")  # 5xx to RCPT: terminations

    # Metrics: the remote refused us once; the refused recipients are permanent failures.
    assert sensor.counter("smtp_sensor_blocked_connections_total", listener="blk", reason="remote_refused") == 1
    assert sensor.counter("smtp_sensor_blocked_connections_total", listener="blk", reason="upstream_refused") == 0
    assert sensor.counter("smtp_sensor_terminations_total", listener="rej", reason="permanent_failure") == 6

    # outbound_rejections: mallory only, once, naming the sender and the local client; no flag.
    alerts = Alerts(sensor)
    a = alerts.wait("outbound_rejections", "127.0.0.2")
    assert a["users"] == ["mallory@local.example"] and a["ips"] == ["127.0.0.2"] and a["listener"] == "rej", a
    assert a["count"] == 3 and a["action"] == "flag", a
    time.sleep(0.5)
    assert [x["users"] for x in alerts.of("outbound_rejections")] == [["mallory@local.example"]]
    status, _, body = get(sensor, "/flagged")
    assert status == 200 and "127.0.0.2" not in body, body

    # The report: SMTP Out by sender domain, by sender, by remote server; SMTP In apart.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    frm, to = (today - datetime.timedelta(days=1)).isoformat(), (today + datetime.timedelta(days=1)).isoformat()

    def report(*args):
        r = run_cli(["report", "-c", str(sensor.config_path), "--tz", "UTC", "--from", frm, "--to", to,
                     "--format", "json", *args])
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def sessions_and_messages(doc, keyed=True):
        return {k: (v[0], v[5]) for k, v in by_key(doc["rows"], keyed).items()}

    assert sessions_and_messages(report("--direction", "out", "--mode", "domain")) == {"local.example": (8, 2)}
    assert sessions_and_messages(report("--direction", "out", "--mode", "user")) == {
        "dave@local.example": (2, 2), "mallory@local.example": (4, 0), "carol@local.example": (2, 0)}
    # By remote server address, never the MTA's own 127.0.0.2.
    assert sessions_and_messages(report("--direction", "out", "--mode", "ip")) == {
        "127.0.0.1": (2, 2), "127.0.0.21": (6, 0), "127.0.0.22": (1, 0)}
    trend_out = by_key(report("--direction", "out")["rows"], False)[""]
    assert trend_out[0] == 9 and trend_out[1] == 1 and trend_out[5] == 2, trend_out  # 9 sessions, 1 blocked, 2 messages
    assert trend_out[3] == 1 + 6, trend_out  # the blocked session, and six refused recipients
    assert sessions_and_messages(report("--direction", "in", "--mode", "domain")) == {"b.example": (1, 2)}
    assert sessions_and_messages(report("--direction", "in", "--mode", "ip")) == {"127.0.0.3": (1, 2)}
    assert sessions_and_messages(report("--mode", "user")) == sessions_and_messages(report("--direction", "out", "--mode", "user"))
    assert sessions_and_messages(report("--listener", "rej", "--mode", "user")) == {
        "mallory@local.example": (4, 0), "carol@local.example": (2, 0)}

    # GET /report says the same, and refuses a bad direction.
    status, _, body = get(sensor, f"/report?from={frm}&to={to}&tz=UTC&mode=user&direction=out&listener=rej")
    assert status == 200, body
    assert sessions_and_messages(json.loads(body)) == {"mallory@local.example": (4, 0), "carol@local.example": (2, 0)}
    status, _, body = get(sensor, "/report?direction=sideways")
    assert status == 400 and "unknown direction 'sideways'" in json.loads(body)["error"], body
    r = run_cli(["report", "-c", str(sensor.config_path), "--direction", "sideways"])
    assert r.returncode == 2 and "unknown direction 'sideways' for --direction: use both, in, out" in r.stderr, r

    # /sessions/history says which direction each session went, and whose it was.
    status, _, body = get(sensor, "/sessions/history?listener=rej")
    assert status == 200, body
    hist = json.loads(body)
    assert len(hist) == 6 and {h["direction"] for h in hist} == {"out"}, hist
    assert sorted(h["user"] for h in hist) == ["carol@local.example"] * 2 + ["mallory@local.example"] * 4
    status, _, body = get(sensor, "/sessions/history?listener=mx")
    assert [h["direction"] for h in json.loads(body)] == ["in"], body
