"""One JSON string writer for the whole daemon: a UTF-8 user name reaches the alert log,
the store and the report as UTF-8, and bytes that are not UTF-8 become U+FFFD,
so every line still parses. Real sessions through the real binary."""
from __future__ import annotations

import datetime
import json

from harness import run_cli
from scripted_server import Script
from test_detectors_common import Alerts, b64, det_config, quit, settle, smtp

UTF8_USER = "jürgen@example.org"
LATIN1_USER = "j\xfcrgen@example.org".encode("latin-1")  # not UTF-8: a lone 0xFC byte


def test_utf8_user_stays_utf8_and_invalid_bytes_become_replacement(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users={UTF8_USER: "secret"}))
    sensor = sensor_factory(up.addr, config=det_config(
        {"password_spray": {"distinct_users": 2, "window": "10m"}}, only=True, store={"enabled": True}))
    client = "127.0.0.61"
    c = smtp(sensor, client)
    assert int(c.cmd("AUTH PLAIN " + b64(b"\0" + UTF8_USER.encode() + b"\0wrong"))[:3]) == 535
    assert int(c.cmd("AUTH PLAIN " + b64(b"\0" + LATIN1_USER + b"\0wrong"))[:3]) == 535
    quit(c)
    alerts = Alerts(sensor)
    a = alerts.wait("password_spray", client)
    raw = alerts.path.read_bytes()
    # UTF-8 as UTF-8 on disk: jq, fail2ban and the report read the same "jürgen".
    assert "jürgen@example.org".encode() in raw, raw
    assert b"\\u00c3" not in raw and b"\\u00fc" not in raw, raw
    assert UTF8_USER in a["users"], a
    assert "j\ufffdrgen@example.org" in a["users"], a
    for line in alerts.lines():
        json.loads(line)  # every line parses


    # The same user logging in: the store and the report keep it as UTF-8 too.
    c = smtp(sensor, "127.0.0.62")
    assert int(c.cmd("AUTH PLAIN " + b64(b"\0" + UTF8_USER.encode() + b"\0secret"))[:3]) == 235
    quit(c)
    settle(sensor)
    sensor.stop()  # flushes the store
    day = datetime.datetime.now(datetime.timezone.utc).date()
    r = run_cli(["report", "-c", str(sensor.config_path), "--tz", "UTC", "--mode", "user", "--format", "json",
                 "--from", str(day - datetime.timedelta(days=1)), "--to", str(day + datetime.timedelta(days=1))])
    assert r.returncode == 0, r.stderr
    assert UTF8_USER in {row[1] for row in json.loads(r.stdout)["rows"]}, r.stdout  # [period, user, ...]
