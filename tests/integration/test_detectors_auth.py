"""Detectors, AUTH side: the seed case (shared/seeds/003: `helo fxdce`, `auth login` -> 500
from a server that offers no AUTH, dropped without QUIT, 24 times from one IP),
auth_bruteforce, password_spray, distributed_bruteforce, compromised_account, the allow
list and clean authenticated mail. Real sessions over loopback, each client on its own
127.0.0.x address."""
from __future__ import annotations

import shutil
import time

import pytest

from harness import SLOW, Sensor
from scripted_server import Script, ScriptedServer
from sensor_util import Transcript
from test_detectors_common import (Alerts, assert_no_alerts, auth_login, auth_plain, copy_artifact, det_config,
                                   flagged, flagged_ips, need_fail2ban, quit, run_check_fail2ban, settle, smtp)

PASSWORD = "s3cret-Pa55"
USERS = {"alice@example.org": PASSWORD, "bob@example.org": PASSWORD, "carol@example.org": PASSWORD}
MSG = b"Subject: detector test\r\n\r\nhello\r\n"

# --------------------------------------------------------------------------- the seed case

SEED_IP = "127.0.0.3"
SEED_SESSIONS = 24


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    """Plays the seed 24 times against the shipped detector defaults; returns what was seen."""
    tmp = tmp_path_factory.mktemp("seed")
    # A server that offers no AUTH (HELO has no capabilities at all) and answers 500 to it.
    up = ScriptedServer(Script(capabilities=["PIPELINING", "8BITMIME"],
                               replies={"HELO": f"250 {SEED_IP}. Please to meet you",
                                        "AUTH": "500 Syntax error, command unrecognized."})).start()
    sensor = Sensor(tmp, up.addr, config=det_config())
    try:
        sensor.start()
        for _ in range(SEED_SESSIONS):
            c = smtp(sensor, SEED_IP, ehlo=None)
            c.expect("helo fxdce", 250)
            c.expect("auth login", 500)
            c.close()  # no QUIT
        settle(sensor)
        alerts = Alerts(sensor)
        alerts.wait("auth_unadvertised", SEED_IP)
        tr = Transcript(sensor)
        tr.wait_for(lambda ls: any(l.text.startswith("!!!!!!!!!!!! alert auth_unadvertised") for l in ls),
                    what="alert line in the transcript")
        out = {
            "lines": alerts.lines(),
            "alerts": alerts.all(),
            "flagged": flagged(sensor),
            "flagged_gauge": sensor.counter("smtp_sensor_flagged_ips"),
            "alerts_total": {t: sensor.counter("smtp_sensor_alerts_total", type=t)
                             for t in ("auth_unadvertised", "bad_commands", "connection_ratio")},
            "auth_metric": sensor.counter("smtp_sensor_auth_attempts_total", result="unadvertised"),
            "transcript": tr.lines(),
            "path": alerts.path,
        }
        sensor.stop()  # flushes every sink
        out["lines_after_stop"] = alerts.lines()
        copy_artifact(alerts.path)
        yield out
    finally:
        sensor.kill()
        up.stop()


def test_seed_case_one_auth_unadvertised_alert(seed_run):
    mine = [a for a in seed_run["alerts"] if a["ip"] == SEED_IP]
    unadv = [a for a in mine if a["type"] == "auth_unadvertised"]
    assert len(unadv) == 1, seed_run["lines"]
    a = unadv[0]
    assert a["severity"] == "warning" and a["action"] == "flag" and a["listener"] == "smtp"
    assert a["threshold"] == 1 and a["window_s"] == 3600 and a["count"] >= 1 and a["lcid"] > 0
    assert a["detail"] == "AUTH LOGIN answered 500: server does not offer AUTH", a
    assert a["users"] == []
    # The shipped defaults also see 24 bad commands and 24 connections without mail; each
    # (type, ip) still gets one line only.
    types = [x["type"] for x in mine]
    assert len(types) == len(set(types)), seed_run["lines"]
    assert set(types) <= {"auth_unadvertised", "bad_commands", "connection_ratio"}, types
    assert seed_run["lines_after_stop"] == seed_run["lines"]

    assert seed_run["auth_metric"] == SEED_SESSIONS
    assert seed_run["alerts_total"]["auth_unadvertised"] == 1
    for t, n in seed_run["alerts_total"].items():
        assert n == types.count(t), (t, n, types)
    assert seed_run["flagged_gauge"] == 1
    [f] = seed_run["flagged"]
    assert f["ip"] == SEED_IP and f["action"] == "flag"
    assert f["type"] == "auth_unadvertised"
    assert f["count"] >= SEED_SESSIONS, f  # repeats are counted, not logged
    assert f["since"] < f["expires"], f

    alert_lines = [l.text for l in seed_run["transcript"] if l.text.startswith("!!!!!!!!!!!! alert ")]
    assert alert_lines.count("!!!!!!!!!!!! alert auth_unadvertised (flag): "
                             "AUTH LOGIN answered 500: server does not offer AUTH") == 1, alert_lines
    assert len(alert_lines) == len(mine), alert_lines


def test_seed_case_alert_log_passes_fail2ban(seed_run):
    need_fail2ban()
    r = run_check_fail2ban(seed_run["path"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert SEED_IP in r.stdout, r.stdout


# --------------------------------------------------------------------------- auth_bruteforce

def test_auth_bruteforce_across_sessions_and_mechanisms(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"auth_bruteforce": {"failures": 4, "window": "10m"}}, only=True))
    attacker, clean = "127.0.0.11", "127.0.0.12"
    c = smtp(sensor, attacker)
    assert auth_plain(c, "alice@example.org", "guess1") == 535
    assert auth_login(c, "alice@example.org", "guess2") == 535
    quit(c)
    c = smtp(sensor, attacker)
    assert auth_login(c, "bob@example.org", "guess3") == 535
    assert_no_alerts(sensor, idle=False)  # three failures: below the threshold
    # Clean authenticated mail from another IP meanwhile.
    for _ in range(3):
        g = smtp(sensor, clean)
        assert auth_plain(g, "carol@example.org", PASSWORD) == 235
        assert g.transaction(MSG)[:3] == b"250"
        quit(g)
    assert auth_plain(c, "alice@example.org", "guess4") == 535
    quit(c)
    a = Alerts(sensor).wait("auth_bruteforce", attacker)
    assert a["count"] == 4 and a["threshold"] == 4 and a["window_s"] == 600 and a["action"] == "flag"
    assert set(a["users"]) == {"alice@example.org", "bob@example.org"}, a
    assert PASSWORD not in str(a) and "guess" not in str(a)
    settle(sensor)
    assert flagged_ips(sensor) == {attacker}
    assert sensor.counter("smtp_sensor_alerts_total", type="auth_bruteforce") == 1
    assert len(Alerts(sensor).all()) == 1


def test_slow_bruteforce_below_threshold_not_flagged(sensor_factory, upstream_factory):
    """failures: 3 in a 2 s window, one failure every 2.5 s: never 3 within 2 s.

    Fails with detect/sliding_window.hpp as of this writing: slices are at least 1 s wide
    and there are 8 of them, so any window under 8 s counts over about 8 s (here the third
    failure, 5 s after the first, made count 3)."""
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"auth_bruteforce": {"failures": 3, "window": "2s"}}, only=True))
    ip = "127.0.0.13"
    for i in range(4):
        if i:
            time.sleep(2.5)
        c = smtp(sensor, ip)
        assert auth_plain(c, "alice@example.org", f"slow{i}") == 535
        quit(c)
    assert_no_alerts(sensor)


# --------------------------------------------------------------------------- password_spray

def test_password_spray(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"password_spray": {"distinct_users": 4, "window": "10m"}}, only=True))
    sprayer, repeater = "127.0.0.21", "127.0.0.22"
    # Negative first: three usernames, each failing twice, is no spray.
    for user in ("u1@example.org", "u2@example.org", "u3@example.org"):
        c = smtp(sensor, repeater)
        assert auth_plain(c, user, "x") == 535
        assert auth_login(c, user, "y") == 535
        quit(c)
    assert_no_alerts(sensor)
    users = [f"spray{i}@example.org" for i in range(4)]
    for i, user in enumerate(users):
        c = smtp(sensor, sprayer)
        assert (auth_plain if i % 2 else auth_login)(c, user, "Summer2026!") == 535
        quit(c)
    a = Alerts(sensor).wait("password_spray", sprayer)
    assert a["count"] == 4 and a["threshold"] == 4, a
    assert set(a["users"]) == set(users), a
    settle(sensor)
    assert flagged_ips(sensor) == {sprayer}
    assert len(Alerts(sensor).all()) == 1


# --------------------------------------------------------------------------- distributed_bruteforce

def test_distributed_bruteforce(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"distributed_bruteforce": {"distinct_ips": 4, "window": "10m"}}, only=True))
    # Negative: one username failing many times from three IPs.
    for ip in ("127.0.0.31", "127.0.0.32", "127.0.0.33"):
        c = smtp(sensor, ip)
        for _ in range(3):
            assert auth_plain(c, "dave@example.org", "nope") == 535
        quit(c)
    assert_no_alerts(sensor)
    # Positive: one username failing from four IPs (one failure each).
    ips = ["127.0.0.34", "127.0.0.35", "127.0.0.36", "127.0.0.37"]
    for i, ip in enumerate(ips):
        c = smtp(sensor, ip)
        assert (auth_plain if i % 2 else auth_login)(c, "alice@example.org", f"pw{i}") == 535
        quit(c)
    a = Alerts(sensor).wait("distributed_bruteforce", ips[-1])
    assert a["count"] == 4 and a["threshold"] == 4 and a["users"] == ["alice@example.org"], a
    assert a["ips"] == ips and a["ips_more"] == 0, a  # every client it counted
    settle(sensor)
    assert len(Alerts(sensor).of("distributed_bruteforce")) == 1
    assert flagged_ips(sensor) == set(ips)  # each of them is flagged, by one alert
    assert not Alerts(sensor).of(ip="127.0.0.31") and not Alerts(sensor).of(ip="127.0.0.33")


# --------------------------------------------------------------------------- allow list, clean mail

def test_allow_listed_ip_never_flagged(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    cfg = det_config({"auth_bruteforce": {"failures": 3, "window": "10m", "action": "block"},
                      "bad_commands": {"count": 3, "window": "10m"},
                      "connection_ratio": {"min_connections": 2, "max_ratio": 1, "window": "10m"}},
                     only=True, allow=["127.0.0.50/32"])
    sensor = sensor_factory(up.addr, config=cfg)

    def attack(ip):  # two sessions: 4 AUTH failures, 4 bad commands, 2 connections, no mail
        for _ in range(2):
            c = smtp(sensor, ip)
            assert auth_plain(c, "alice@example.org", "wrong") == 535
            assert auth_login(c, "bob@example.org", "wrong") == 535
            assert c.cmd("XYZZY")[:1] == b"5"
            assert c.cmd("XYZZY")[:1] == b"5"
            c.close()

    for _ in range(3):
        attack("127.0.0.50")
    assert_no_alerts(sensor)
    c = smtp(sensor, "127.0.0.50")  # never blocked either
    quit(c)
    attack("127.0.0.51")  # the same attack from a watched IP: the control
    settle(sensor)
    assert flagged_ips(sensor) == {"127.0.0.51"}
    assert {a["type"] for a in Alerts(sensor).all()} == {"auth_bruteforce", "bad_commands", "connection_ratio"}
    assert not Alerts(sensor).of(ip="127.0.0.50")
    assert sensor.counter("smtp_sensor_blocked_connections_total") == 0


def test_clean_authenticated_mail_raises_nothing(sensor_factory, upstream_factory):
    """Shipped thresholds: a submission client doing its normal job."""
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config())
    for i in range(6):
        c = smtp(sensor, "127.0.0.55")
        assert (auth_plain if i % 2 else auth_login)(c, "alice@example.org", PASSWORD) == 235
        for _ in range(3):
            assert c.transaction(MSG, mail="<alice@example.org>")[:3] == b"250"
        quit(c)
    assert_no_alerts(sensor)


# --------------------------------------------------------------------------- compromised_account

def test_compromised_account(sensor_factory, upstream_factory):
    """2 s windows; two users send about two messages a window for three windows; then one
    bursts 15 messages (> factor 2 x baseline, >= min_messages 5) and is flagged with its user,
    the other keeps its pace and is not. A third user's first (busy) window has no baseline
    to jump from and is not flagged either."""
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"compromised_account": {"window": "2s", "min_messages": 5, "factor": 2}}, only=True))
    burst_ip, steady_ip, new_ip = "127.0.0.41", "127.0.0.42", "127.0.0.43"
    conns = {}
    for ip, user in ((burst_ip, "alice@example.org"), (steady_ip, "bob@example.org")):
        c = smtp(sensor, ip)
        assert auth_plain(c, user, PASSWORD) == 235
        conns[ip] = (c, user)

    def send(ip, n=1):
        c, user = conns[ip]
        for _ in range(n):
            assert c.transaction(MSG, mail=f"<{user}>")[:3] == b"250"

    t0 = time.monotonic()
    for k in range(7):  # one message a second each: ~2 per 2 s window, for 3+ windows
        send(burst_ip)
        send(steady_ip)
        time.sleep(max(0.0, t0 + k + 1 - time.monotonic()))
    send(burst_ip, 15)
    send(steady_ip)
    # A new account that starts busy.
    n = smtp(sensor, new_ip)
    assert auth_login(n, "carol@example.org", PASSWORD) == 235
    for _ in range(12):
        assert n.transaction(MSG, mail="<carol@example.org>")[:3] == b"250"
    quit(n)
    for c, _ in conns.values():
        quit(c)
    a = Alerts(sensor).wait("compromised_account", burst_ip)
    assert a["users"] == ["alice@example.org"] and a["severity"] == "warning", a
    assert a["threshold"] == 5 and a["window_s"] == 2 and a["count"] >= 5, a
    settle(sensor)
    assert not Alerts(sensor).of(ip=steady_ip), Alerts(sensor).all()
    assert not Alerts(sensor).of(ip=new_ip), Alerts(sensor).all()
    assert flagged_ips(sensor) == {burst_ip}
