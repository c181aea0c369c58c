"""Investigation over HTTP (SPEC section 13): the Xeams-style walk (a spike, an IP, a
session, its conversation) through the daemon's endpoints -- 24 probing sessions from one IP, then /sessions/history by IP, an
LCID, and /transcript for it, with the transcript rotated in between so the first sessions
live in an older file -- plus /alerts, and hostile input: each bad request a clear 4xx,
never a crash."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from harness import SLOW, Sensor
from scripted_server import Script, ScriptedServer
from sensor_util import wait_store_rows
from test_detectors_common import Alerts, det_config, settle, smtp

SEED_IP = "127.0.0.3"
OTHER_IP = "127.0.0.4"
SESSIONS = 24


def get_json(sensor, path):
    status, body = sensor.http_get(path)
    return status, (json.loads(body) if body.strip().startswith(("[", "{")) else body)


def probe(sensor, ip):
    c = smtp(sensor, ip, ehlo=None)
    c.expect("helo fxdce", 250)
    c.expect("auth login", 500)
    c.close()  # no QUIT


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("investigate")
    up = ScriptedServer(Script(capabilities=["PIPELINING"],
                               replies={"HELO": f"250 {SEED_IP}. Please to meet you",
                                        "AUTH": "500 Syntax error, command unrecognized."})).start()
    # A tiny transcript file: each second's chunk of lines starts a new one.
    sensor = Sensor(tmp, up.addr, config=det_config(store={"enabled": True},
                                                    transcripts={"max_size": 2048, "max_files": 8}))
    try:
        sensor.start()
        for i in range(SESSIONS):
            probe(sensor, SEED_IP)
            if i % 8 == 7:
                time.sleep(1.3)  # lines reach the writer once a second: let it rotate between
        probe(sensor, OTHER_IP)
        settle(sensor)
        rows = wait_store_rows(sensor, SESSIONS + 1)
        Alerts(sensor).wait("auth_unadvertised", SEED_IP)
        time.sleep(1.3)
        yield sensor, rows, tmp
        sensor.stop()
    finally:
        sensor.kill()
        up.stop()


def transcript_files(sensor) -> list[Path]:
    base = Path(sensor.config["transcripts"]["path"])
    return [base] + sorted(base.parent.glob("transcript.*.log"))


def test_history_by_ip_newest_first(walk):
    sensor, rows, _ = walk
    status, hist = get_json(sensor, f"/sessions/history?ip={SEED_IP}")
    assert status == 200, hist
    assert len(hist) == SESSIONS
    assert all(h["client_ip"] == SEED_IP for h in hist)
    starts = [(h["start_ms"], h["lcid"]) for h in hist]
    assert starts == sorted(starts, reverse=True)
    h = hist[-1]
    assert h["helo"] == "fxdce" and h["auth_result"] == "unadvertised", h
    assert h["termination"] == "client_abort" and h["bad_commands"] == 1 and h["messages"] == 0, h
    assert h["bytes_in"] > 0 and h["bytes_out"] > 0 and h["listener"] == "smtp" and h["transcript"] is True
    for key in ("lcid", "start", "end", "client_port", "auth_user"):
        assert key in h
    status, few = get_json(sensor, f"/sessions/history?ip={SEED_IP}&limit=5")
    assert status == 200 and [f["lcid"] for f in few] == [x["lcid"] for x in hist[:5]]
    status, other = get_json(sensor, f"/sessions/history?ip={OTHER_IP}")
    assert status == 200 and len(other) == 1
    status, listener = get_json(sensor, "/sessions/history?listener=nope")
    assert status == 200 and listener == []
    # A time range: from the first session's start to just after it.
    first = hist[-1]["start_ms"]
    status, ranged = get_json(sensor, f"/sessions/history?ip={SEED_IP}&from={first}&to={first + 1}")
    assert status == 200 and [r["lcid"] for r in ranged] == [hist[-1]["lcid"]]
    day = time.strftime("%Y-%m-%d", time.gmtime(first / 1000))
    status, days = get_json(sensor, f"/sessions/history?ip={SEED_IP}&from={day}&to={day}&tz=UTC")
    assert status == 200 and len(days) == SESSIONS


def test_auth_failures_of_the_top_ips(walk):
    sensor, _, _ = walk
    status, counts = get_json(sensor, f"/sessions/auth_failures?ips={SEED_IP},{OTHER_IP},127.0.0.99")
    assert status == 200, counts
    assert counts == {SEED_IP: SESSIONS, OTHER_IP: 1, "127.0.0.99": 0}
    status, none = get_json(sensor, f"/sessions/auth_failures?ips={SEED_IP}&listener=nope")
    assert status == 200 and none == {SEED_IP: 0}
    status, old = get_json(sensor, f"/sessions/auth_failures?ips={SEED_IP}&from=0&to=1000")
    assert status == 200 and old == {SEED_IP: 0}
    for bad, fragment in ((f"ips={SEED_IP},nonsense", "not an IP address"), ("ips=", "ips is required"),
                          ("ips=" + ",".join(f"127.0.1.{i}" for i in range(101)), "at most 100"),
                          ("ips=" + "1" * 5000, "longer than 4096")):
        status, err = get_json(sensor, f"/sessions/auth_failures?{bad}")
        assert status == 400 and fragment in err["error"], (bad, err)


def test_transcript_of_first_session_from_a_rotated_file(walk):
    sensor, _, _ = walk
    files = transcript_files(sensor)
    assert len(files) >= 3, f"the transcript did not rotate: {files}"
    _, hist = get_json(sensor, f"/sessions/history?ip={SEED_IP}")
    first = hist[-1]["lcid"]
    tag = f"[{first:>10}]"
    holders = [f for f in files if tag in f.read_text(errors="replace")]
    assert holders and holders[0] != files[0], f"session {first} should live in a rotated file: {holders}"
    status, text = sensor.http_get(f"/transcript?lcid={first}")
    assert status == 200, text
    lines = text.splitlines()
    assert all(tag in l for l in lines), text
    body = [l.split("] ", 1)[1] for l in lines]
    assert body[0].startswith(f"************ New connection from: {SEED_IP}:")
    assert "C --> helo fxdce" in body and "C --> auth login" in body
    assert any(b.startswith("S <-- 500") for b in body)
    assert body[-1].startswith("~~~~~~~~~~~~ Connection Terminated (client_abort) without a graceful QUIT.")
    # The newest session too (current or recent file).
    status, text = sensor.http_get(f"/transcript?lcid={hist[0]['lcid']}")
    assert status == 200 and "C --> auth login" in text


def test_alerts_endpoint(walk):
    sensor, _, _ = walk
    status, alerts = get_json(sensor, "/alerts")
    assert status == 200 and isinstance(alerts, list)
    mine = [a for a in alerts if a["ip"] == SEED_IP and a["type"] == "auth_unadvertised"]
    assert len(mine) == 1 and isinstance(mine[0]["lcid"], int), alerts
    status, one = get_json(sensor, "/alerts?limit=1")
    assert status == 200 and len(one) == 1 and one[0] == alerts[0]
    status, none = get_json(sensor, "/alerts?since=2200-01-01T00:00:00Z")
    assert status == 200 and none == []
    status, old = get_json(sensor, "/alerts?since=0")
    assert status == 200 and len(old) == len(alerts)
    # The alert's LCID leads to its session's transcript.
    status, text = sensor.http_get(f"/transcript?lcid={mine[0]['lcid']}")
    assert status == 200 and "!!!!!!!!!!!! alert auth_unadvertised" in text, text


@pytest.mark.parametrize("path,fragment", [
    ("/transcript?lcid=abc", "lcid must be a whole number"),
    ("/transcript?lcid=-1", "lcid must be a whole number"),
    ("/transcript?lcid=", "lcid is required"),
    ("/transcript", "lcid is required"),
    ("/transcript?lcid=99999999999999999999999", "lcid"),
    ("/transcript?lcid=1&lcid=2", "given twice"),
    ("/sessions/history?limit=100000000", "limit is at most 1000"),
    ("/sessions/history?limit=0", "limit is at least 1"),
    ("/sessions/history?limit=ten", "limit must be a whole number"),
    ("/sessions/history?from=2026-11-24&to=2026-11-23", "from must be before to"),
    ("/sessions/history?from=yesterday", "from must be"),
    ("/sessions/history?from=2026-02-30", "from must be"),
    ("/sessions/history?from=2026-11-23&tz=Mars/Olympus", "unknown time zone"),
    ("/sessions/history?user=a%27%20OR%201=1", None),
    ("/sessions/history?ip=1.2.3.4%27%20OR%201=1", "ip must be an IPv4 or IPv6 address"),
    ("/sessions/history?ip=bogus", "ip must be an IPv4 or IPv6 address, not 'bogus'"),
    ("/sessions/history?ip=10.0.0.0/8", "ip must be an IPv4 or IPv6 address"),
    ("/sessions/history?ip=256.1.1.1", "ip must be an IPv4 or IPv6 address"),
    ("/sessions/history?drop=table", "unknown parameter"),
    ("/alerts?limit=5000", "limit is at most 1000"),
    ("/alerts?since=soon", "since must be"),
])
def test_hostile_parameters(walk, path, fragment):
    sensor, _, _ = walk
    status, body = sensor.http_get(path)
    if fragment is None:  # SQL-looking text is just a value that matches nothing
        assert status == 200 and json.loads(body) == [], body
        return
    assert status == 400, (path, status, body)
    assert fragment in json.loads(body)["error"], body
    assert sensor.healthz()[0] == 200


def test_history_ip_is_an_address(walk):
    """ip= is an address, v4 or v6, compared as the store writes it; empty is any address."""
    sensor, _, _ = walk
    status, mapped = get_json(sensor, f"/sessions/history?ip=::ffff:{OTHER_IP}")
    assert status == 200 and [h["client_ip"] for h in mapped] == [OTHER_IP], mapped
    status, v6 = get_json(sensor, "/sessions/history?ip=2001:DB8:0::1")
    assert status == 200 and v6 == [], v6
    status, every = get_json(sensor, "/sessions/history?ip=")
    assert status == 200 and len(every) == SESSIONS + 1, every
    status, err = get_json(sensor, "/sessions/history?ip=bogus")
    assert status == 400 and err == {"error": "ip must be an IPv4 or IPv6 address, not 'bogus'"}, err


def test_unknown_lcid_is_404(walk):
    sensor, _, _ = walk
    status, body = sensor.http_get("/transcript?lcid=987654321")
    assert status == 404 and "no transcript lines" in json.loads(body)["error"], body


def test_transcript_file_deleted_under_the_daemon(walk):
    """Runs last in the module: it deletes the files."""
    sensor, _, _ = walk
    _, hist = get_json(sensor, f"/sessions/history?ip={SEED_IP}")
    first = hist[-1]["lcid"]
    for f in transcript_files(sensor)[1:]:
        f.unlink()
    status, body = sensor.http_get(f"/transcript?lcid={first}")
    assert status == 410, body
    assert "is gone" in json.loads(body)["error"]
    # The file being written, too: the daemon writes on into the unlinked file.
    os.unlink(sensor.config["transcripts"]["path"])
    status, body = sensor.http_get(f"/transcript?lcid={hist[0]['lcid']}")
    assert status == 410, body
    probe(sensor, OTHER_IP)
    settle(sensor)
    assert sensor.healthz()[0] == 200
    assert sensor.proc.poll() is None
