"""Shared helpers for the detector tests (test_detectors_*.py), plus checks of the helpers
themselves against SPEC section 6 (the alert line layout) and the fail2ban filter.

Helpers
- det_config(detectors={...}, **over): a sensor config for detector tests: `allow: []`
  (the default allow list 127.0.0.0/8 would hide every loopback client), the transcript
  on, the store off, flag.ttl 1h, and only the detectors given switched to the given
  thresholds (the others keep the shipped defaults unless `only=True`, which disables them).
- Alerts(sensor): the alert log as parsed JSON objects; of(type, ip), wait(type, ip).
- flagged(sensor): GET /flagged parsed.
- smtp(sensor, source): an SmtpConn from a chosen 127.0.0.x, greeting read.
- auth_plain(), auth_login(): one AUTH exchange; returns the final reply code.
- settle(sensor): waits until every session has ended (all events reached the engine).
- assert_no_alerts(sensor, ip=None): nothing raised (for that IP): log, metric, /flagged.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from harness import REPO_ROOT, SLOW, SmtpConn, deep_merge
from sensor_util import wait_sessions_idle

ALERT_FIELDS = ["ts", "type", "severity", "ip", "listener", "lcid", "count", "threshold", "window_s", "action",
                "detail", "users", "ips", "ips_more", "sensor", "id"]
DETECTORS = ["auth_bruteforce", "auth_unadvertised", "password_spray", "distributed_bruteforce", "connection_ratio",
             "bad_commands", "pregreet", "smuggling", "starttls_injection", "compromised_account",
             "auth_success_after_failures", "user_many_ips", "recipient_enumeration", "relay_probe", "vrfy_expn",
             "non_smtp", "early_pipelining", "outbound_rejections"]
CRITICAL = {"auth_success_after_failures", "smuggling", "starttls_injection"}
CHECK_FAIL2BAN = REPO_ROOT / "scripts" / "check-fail2ban.sh"
FAIL2BAN_FILTER = REPO_ROOT / "config" / "fail2ban" / "filter.d" / "smtp-sensor.conf"
SPEC_EXAMPLE = ('{"ts":"2026-11-23T07:37:25.923Z","type":"auth_unadvertised","severity":"warning",'
                '"ip":"114.99.26.246","listener":"smtp","lcid":36556618,"count":24,"threshold":1,"window_s":3600,'
                '"action":"flag","detail":"AUTH LOGIN answered 500: server does not offer AUTH","users":[],'
                '"ips":[],"ips_more":0,"sensor":"mx1","id":"mx1-00064a1b2c3d4e5f"}')


def det_config(detectors: dict | None = None, *, only: bool = False, **over) -> dict:
    dets = {name: {"enabled": False} for name in DETECTORS} if only else {}
    for name, cfg in (detectors or {}).items():
        dets[name] = dict(cfg, enabled=True) if only else dict(cfg)
    base = {
        "allow": [],
        "transcripts": {"enabled": True, "message_data": False},
        "store": {"enabled": False},
        "flag": {"ttl": "1h"},
        "detectors": dets,
    }
    return deep_merge(base, over)


def parse_alert_line(line: str) -> dict:
    obj = json.loads(line)
    assert list(obj) == ALERT_FIELDS, f"alert keys {list(obj)} != {ALERT_FIELDS}: {line}"
    assert obj["type"] in DETECTORS, line
    assert obj["severity"] == ("critical" if obj["type"] in CRITICAL else "warning"), line
    assert obj["action"] in ("flag", "block"), line
    assert isinstance(obj["lcid"], int) and isinstance(obj["count"], int), line
    assert isinstance(obj["threshold"], int) and isinstance(obj["window_s"], int), line
    assert isinstance(obj["users"], list) and all(isinstance(u, str) for u in obj["users"]), line
    assert isinstance(obj["ips"], list) and all(isinstance(i, str) for i in obj["ips"]) and len(obj["ips"]) <= 20, line
    assert isinstance(obj["ips_more"], int) and obj["ips_more"] >= 0, line
    assert isinstance(obj["sensor"], str) and obj["sensor"], line
    assert isinstance(obj["id"], str) and obj["id"].startswith(obj["sensor"] + "-"), line
    time.strptime(obj["ts"], "%Y-%m-%dT%H:%M:%S.%fZ") if "." in obj["ts"] else time.strptime(obj["ts"], "%Y-%m-%dT%H:%M:%SZ")
    return obj


class Alerts:
    def __init__(self, sensor):
        self.sensor = sensor
        self.path = Path(sensor.config["alerts"]["path"])

    def lines(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [l for l in text[:text.rfind("\n") + 1].split("\n") if l]

    def all(self) -> list[dict]:
        return [parse_alert_line(l) for l in self.lines()]

    def of(self, type: str | None = None, ip: str | None = None) -> list[dict]:
        return [a for a in self.all() if (type is None or a["type"] == type) and (ip is None or a["ip"] == ip)]

    def wait(self, type: str, ip: str, timeout: float = 5.0) -> dict:
        deadline = time.monotonic() + timeout * SLOW
        while True:
            hits = self.of(type, ip)
            if hits:
                return hits[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"no {type} alert for {ip} after {timeout}s; alert log:\n" + "\n".join(self.lines()))
            time.sleep(0.05)


def flagged(sensor) -> list[dict]:
    status, body = sensor.http_get("/flagged")
    assert status == 200, f"/flagged returned {status}: {body[:200]}"
    data = json.loads(body)
    assert isinstance(data, list), body[:200]
    return data


def flagged_ips(sensor) -> set[str]:
    return {f["ip"] for f in flagged(sensor) if "ip" in f}


def smtp(sensor, source: str, *, ehlo: str | None = "client.test", greeting: bool = True) -> SmtpConn:
    c = SmtpConn.open(sensor.port, source=source)
    if greeting:
        c.expect(None, 220)
    if ehlo:
        c.expect(f"EHLO {ehlo}", 250)
    return c


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def auth_plain(c: SmtpConn, user: str, password: str) -> int:
    blob = b64("\0" + user + "\0" + password)
    return int(c.cmd("AUTH PLAIN " + blob)[:3])


def auth_login(c: SmtpConn, user: str, password: str) -> int:
    c.expect("AUTH LOGIN", 334)
    c.expect(b64(user), 334)
    return int(c.cmd(b64(password))[:3])


def quit(c: SmtpConn) -> None:
    try:
        c.cmd("QUIT")
    except (ConnectionError, TimeoutError, OSError):
        pass
    c.close()


def settle(sensor, timeout: float = 5.0) -> None:
    """Every session has ended, so every event reached the detectors."""
    wait_sessions_idle(sensor, timeout)


def assert_no_alerts(sensor, ip: str | None = None, type: str | None = None, *, idle: bool = True) -> None:
    """With idle=False (sessions still open) it gives the daemon a moment instead."""
    if idle:
        settle(sensor)
    else:
        time.sleep(0.3 * SLOW)
    hits = Alerts(sensor).of(type, ip)
    assert not hits, f"unexpected alerts: {hits}"
    if ip is None:
        labels = {"type": type} if type else {}
        assert sensor.metric("smtp_sensor_alerts_total", labels, default=0.0) == 0
        if type is None:
            assert flagged(sensor) == []
    elif type is None:
        assert ip not in flagged_ips(sensor), flagged(sensor)


def copy_artifact(path: Path, env: str = "SMTP_SENSOR_ALERT_ARTIFACT") -> None:
    dest = os.environ.get(env)
    if dest:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)


def run_check_fail2ban(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CHECK_FAIL2BAN), str(path)], capture_output=True, text=True, timeout=60)


def need_fail2ban() -> None:
    if not shutil.which("fail2ban-regex"):
        pytest.skip("fail2ban-regex not installed (Debian: apt-get install --no-install-recommends fail2ban); "
                    "the fail2ban filter check did not run")


# --------------------------------------------------------------------------- own checks

def test_spec_example_alert_parses():
    a = parse_alert_line(SPEC_EXAMPLE)
    assert a["ip"] == "114.99.26.246" and a["type"] == "auth_unadvertised"


def test_fail2ban_filter_matches_spec_example_and_rejects_other_lines(tmp_path):
    need_fail2ban()
    good = tmp_path / "alerts.jsonl"
    v6 = SPEC_EXAMPLE.replace('"114.99.26.246"', '"2001:db8::25"').replace('"auth_unadvertised"', '"smuggling"')
    prefix = SPEC_EXAMPLE.replace('"114.99.26.246"', '"2001:db8:1:2::/64"').replace('"auth_unadvertised"', '"vrfy_expn"')
    many = SPEC_EXAMPLE.replace('"114.99.26.246"', '"198.51.100.9"').replace('"auth_unadvertised"', '"user_many_ips"')
    rejected = SPEC_EXAMPLE.replace('"114.99.26.246"', '"198.51.100.10"').replace('"auth_unadvertised"',
                                                                                 '"outbound_rejections"')
    good.write_text(SPEC_EXAMPLE + "\n" + v6 + "\n" + prefix + "\n" + many + "\n" + rejected + "\n")
    r = run_check_fail2ban(good)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "114.99.26.246" in r.stdout and "2001:db8::25" in r.stdout, r.stdout
    assert "2001:db8:1:2::/64" in r.stdout, r.stdout  # the prefix is banned as a subnet
    assert "198.51.100.9" not in r.stdout, r.stdout  # user_many_ips never bans a client
    assert "198.51.100.10" not in r.stdout, r.stdout  # nor outbound_rejections the local MTA
    bad = tmp_path / "mixed.jsonl"
    bad.write_text(SPEC_EXAMPLE + "\n" + "2026-11-23 07:36:54,439 - [  36556595] C --> helo fxdce\n")
    r = run_check_fail2ban(bad)
    assert r.returncode == 1, r.stdout + r.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert run_check_fail2ban(empty).returncode == 1
