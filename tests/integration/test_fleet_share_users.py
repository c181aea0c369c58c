"""SPEC 10, shared counts for the detectors that count per account: distributed_bruteforce
(clients failing one user), user_many_ips (clients logging in as one user) and
outbound_rejections (remote refusals of one sender's mail). Real sensors share one real
PostgreSQL (pg_util.py) as the writer role. An account whose events are split over the
sensors is alerted once in the fleet: by the sensor whose own event reached the
threshold, or, when every sensor reaches it on another's event at once, by the one whose
claim takes the fleet table's row `user:TYPE:NAME`; the other sensors list the account's
flag with the raising sensor's name and write no second line."""
from __future__ import annotations

import smtplib
import time

from harness import SLOW
from scripted_server import Script
from test_detectors_common import Alerts, auth_plain, det_config, flagged, quit, smtp
from test_fleet_share import at_once, fleet_url, flag_of, wait_until

USERS = {"alice@example.org": "s3cret-Pa55", "bob@example.org": "b0b-Pa55", "carol@example.org": "c4rol-Pa55"}
REFUSED = "550 5.7.1 Message rejected as spam"


def start(sensor_factory, url, names, detectors, listeners):
    out = []
    for name in names:
        cfg = det_config(detectors, only=True, store={"enabled": True}, sensor={"name": name}, fleet={"url": url})
        out.append(sensor_factory(listeners=listeners, config=cfg))
    for s in out:
        s.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=30)
    return out


def alerts_of(sensors, type):
    return [a for s in sensors for a in Alerts(s).all() if a["type"] == type]


def user_flag(sensor, user):
    hits = [f for f in flagged(sensor) if f.get("user") == user]
    return hits[0] if hits else None


def received(sensor):
    return sensor.counter("smtp_sensor_fleet_events_received_total")


def shared_then(sensor, sensors, act):
    """act() on sensor (one session: a connection and one more event), then wait until the
    other sensors have received both: shared counts are at most about a second late."""
    others = [s for s in sensors if s is not sensor]
    before = [received(s) for s in others]
    assert act()
    for s, n in zip(others, before):
        s.wait_metric("smtp_sensor_fleet_events_received_total", lambda v, n=n: v >= n + 2, timeout=5)


def login(sensor, ip, user, password):
    c = smtp(sensor, ip)
    code = auth_plain(c, user, password)
    quit(c)
    return code


def test_accounts_split_over_two_sensors_are_alerted_once(pg_server, sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    dets = {"distributed_bruteforce": {"distinct_ips": 3, "window": "1h", "action": "flag"},
            "user_many_ips": {"distinct_ips": 3, "window": "1h"}}
    mx1, mx2 = start(sensor_factory, url, ["mx1", "mx2"], dets,
                     [{"name": "mx", "upstream": up.addr, "proxy_protocol_out": "none", "proxy_protocol_in": False}])

    def on(sensor, ip, user, password, code):
        shared_then(sensor, [mx1, mx2], lambda: login(sensor, ip, user, password) == code)

    # distributed_bruteforce: alice fails from .61 (mx1), .62 (mx2), .63 (mx1): mx1's own
    # event is the third client.
    on(mx1, "127.0.0.61", "alice@example.org", "guess-a", 535)
    on(mx2, "127.0.0.62", "alice@example.org", "guess-b", 535)
    assert login(mx1, "127.0.0.63", "alice@example.org", "guess-c") == 535
    a = Alerts(mx1).wait("distributed_bruteforce", "127.0.0.63")
    assert a["users"] == ["alice@example.org"] and a["sensor"] == "mx1" and a["count"] == 3, a
    assert sorted(a["ips"]) == ["127.0.0.61", "127.0.0.62", "127.0.0.63"], a
    # Every client it counted is flagged on both sensors, named after mx1.
    for s in (mx1, mx2):
        for ip in ("127.0.0.61", "127.0.0.62", "127.0.0.63"):
            wait_until(lambda s=s, ip=ip: flag_of(s, ip) is not None, 3, f"{ip} flagged on {s.name}")
            f = flag_of(s, ip)
            assert f["type"] == "distributed_bruteforce" and f["sensor"] == "mx1", f
    # A fourth client on mx2: mx2's own window crosses too, but the fleet has the alert:
    # the client is flagged, no second line.
    assert login(mx2, "127.0.0.64", "alice@example.org", "guess-d") == 535
    wait_until(lambda: flag_of(mx2, "127.0.0.64") is not None, 3, "the fourth client flagged on mx2")
    assert flag_of(mx2, "127.0.0.64")["sensor"] == "mx2"

    # user_many_ips: bob logs in from .71 (mx1), .72 (mx2), .73 (mx2): mx2 raises.
    on(mx1, "127.0.0.71", "bob@example.org", USERS["bob@example.org"], 235)
    on(mx2, "127.0.0.72", "bob@example.org", USERS["bob@example.org"], 235)
    assert login(mx2, "127.0.0.73", "bob@example.org", USERS["bob@example.org"]) == 235
    b = Alerts(mx2).wait("user_many_ips", "127.0.0.73")
    assert b["users"] == ["bob@example.org"] and b["sensor"] == "mx2" and b["count"] == 3, b
    # The account's flag is listed on mx1 too, naming mx2 (the sensor that raised it).
    wait_until(lambda: user_flag(mx1, "bob@example.org") is not None, 3, "bob's flag on mx1")
    for s in (mx1, mx2):
        f = user_flag(s, "bob@example.org")
        assert f["type"] == "user_many_ips" and f["sensor"] == "mx2" and f["action"] == "flag", f
    # A fourth client on mx1 crosses mx1's window: no second line.
    assert login(mx1, "127.0.0.74", "bob@example.org", USERS["bob@example.org"]) == 235

    time.sleep(1.0)
    sensors = [mx1, mx2]
    assert len(alerts_of(sensors, "distributed_bruteforce")) == 1, alerts_of(sensors, "distributed_bruteforce")
    assert len(alerts_of(sensors, "user_many_ips")) == 1, alerts_of(sensors, "user_many_ips")
    rows = pg_server.psql("SELECT key, type, sensor FROM shared_flags WHERE key LIKE 'user:%' ORDER BY key")
    assert rows == [["user:distributed_bruteforce:alice@example.org", "distributed_bruteforce", "mx1"],
                    ["user:user_many_ips:bob@example.org", "user_many_ips", "mx2"]], rows
    # user_many_ips never flags an address.
    assert all(flag_of(s, ip) is None for s in sensors for ip in ("127.0.0.71", "127.0.0.72", "127.0.0.73"))


def test_a_burst_of_logins_over_three_sensors_raises_one_alert(pg_server, sensor_factory, upstream_factory):
    """Each sensor sees its own login first and reaches the threshold on another's: the
    claim of the fleet table's row decides who raises."""
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    sensors = start(sensor_factory, url, ["mx1", "mx2", "mx3"], {"user_many_ips": {"distinct_ips": 3, "window": "1h"}},
                    [{"name": "mx", "upstream": up.addr, "proxy_protocol_out": "none", "proxy_protocol_in": False}])
    conns = [smtp(s, f"127.0.0.8{i}") for i, s in enumerate(sensors)]
    codes = []
    at_once(lambda c: codes.append(auth_plain(c, "carol@example.org", USERS["carol@example.org"])), [(c,) for c in conns])
    assert codes == [235] * 3
    for c in conns:
        quit(c)
    wait_until(lambda: len(alerts_of(sensors, "user_many_ips")) >= 1, 5, "a user_many_ips alert somewhere")
    for s in sensors:
        wait_until(lambda s=s: user_flag(s, "carol@example.org") is not None, 3, f"carol's flag on {s.name}")
    time.sleep(1.5)
    alerts = alerts_of(sensors, "user_many_ips")
    assert len(alerts) == 1, alerts
    raiser = alerts[0]["sensor"]
    assert alerts[0]["users"] == ["carol@example.org"] and alerts[0]["count"] == 3, alerts[0]
    for s in sensors:
        assert user_flag(s, "carol@example.org")["sensor"] == raiser
    assert pg_server.psql("SELECT key, sensor FROM shared_flags") == [["user:user_many_ips:carol@example.org", raiser]]


def deliver(port, sender):
    """The local MTA (127.0.0.2) delivers one message that the remote refuses at RCPT."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="mail.local.example", source_address=("127.0.0.2", 0),
                      timeout=30 * SLOW) as s:
        try:
            s.sendmail(sender, ["victim@remote.example"], b"Subject: out\r\n\r\nhello\r\n")
        except smtplib.SMTPRecipientsRefused:
            return "refused"
    return "sent"


def test_outbound_rejections_split_over_two_sensors_alert_once(pg_server, sensor_factory, upstream_factory):
    remote = upstream_factory(Script(replies={"RCPT": REFUSED}))
    url = fleet_url(pg_server)
    mx1, mx2 = start(sensor_factory, url, ["mx1", "mx2"],
                     {"outbound_rejections": {"rejections": 3, "window": "1h"}},
                     [{"name": "out", "upstream": remote.addr, "direction": "outbound"}])
    sender = "mallory@local.example"
    seq = [mx1, mx2]
    for s in seq[:2]:
        shared_then(s, [mx1, mx2], lambda s=s: deliver(s.listen_addr("out")[1], sender) == "refused")
    assert deliver(mx1.listen_addr("out")[1], sender) == "refused"
    a = Alerts(mx1).wait("outbound_rejections", "127.0.0.2")
    assert a["users"] == [sender] and a["sensor"] == "mx1" and a["count"] == 3 and a["ips"] == ["127.0.0.2"], a
    wait_until(lambda: user_flag(mx2, sender) is not None, 3, "the sender's flag on mx2")
    assert user_flag(mx2, sender)["sensor"] == "mx1"
    # A fourth refusal on mx2 crosses mx2's window: the fleet has the alert already.
    assert deliver(mx2.listen_addr("out")[1], sender) == "refused"
    time.sleep(1.0)
    assert len(alerts_of([mx1, mx2], "outbound_rejections")) == 1, alerts_of([mx1, mx2], "outbound_rejections")
    # Every refusal was shared as a kind-10 event; no address is flagged.
    assert int(pg_server.scalar("SELECT count(*) FROM shared_events WHERE kind = 10")) == 4
    assert all("ip" not in f for s in (mx1, mx2) for f in flagged(s))


def test_an_outbound_burst_seen_by_two_sensors_flags_the_account_once(pg_server, sensor_factory, upstream_factory):
    """compromised_account on outbound listeners: the sender's messages are shared as kind 11,
    so mx1's windows hold mx2's. mx2's burst crosses on mx2 (its own event) and on mx1
    (the remote ones): one alert, for the account; mx1 lists the account with mx2's name
    and flags no address (the client is the local MTA)."""
    remote = upstream_factory(Script())
    url = fleet_url(pg_server)
    mx1, mx2 = start(sensor_factory, url, ["mx1", "mx2"],
                     {"compromised_account": {"window": "2s", "min_messages": 5, "factor": 2}},
                     [{"name": "out", "upstream": remote.addr, "direction": "outbound"}])
    sender = "bulk@local.example"
    t0 = time.monotonic()
    for k in range(7):  # about two messages a 2 s window, half through each sensor: the baseline
        assert deliver((mx1, mx2)[k % 2].listen_addr("out")[1], sender) == "sent"
        time.sleep(max(0.0, t0 + k + 1 - time.monotonic()))
    for _ in range(15):
        assert deliver(mx2.listen_addr("out")[1], sender) == "sent"
    a = Alerts(mx2).wait("compromised_account", "127.0.0.2")
    assert a["users"] == [sender] and a["sensor"] == "mx2" and a["ips"] == ["127.0.0.2"], a
    wait_until(lambda: user_flag(mx1, sender) is not None, 3, "the account's flag on mx1")
    assert user_flag(mx1, sender)["sensor"] == "mx2"
    time.sleep(1.5)  # mx1 has replayed the whole burst by now
    assert len(alerts_of([mx1, mx2], "compromised_account")) == 1, alerts_of([mx1, mx2], "compromised_account")
    assert all("ip" not in f for s in (mx1, mx2) for f in flagged(s)), [flagged(s) for s in (mx1, mx2)]
    assert int(pg_server.scalar("SELECT count(*) FROM shared_events WHERE kind = 11")) == 22
    assert pg_server.psql("SELECT key, sensor FROM shared_flags") == [[f"user:compromised_account:{sender}", "mx2"]]


def test_a_flag_names_its_sensor_after_a_restart_without_the_database(pg_server, sensor_factory, upstream_factory):
    """SPEC 10: /flagged, `flags list` and the alert log name the sensor that raised each
    flag. The local store keeps that name (schema 9), so a sensor restarted while the
    fleet database is away still names the other sensor, not itself."""
    from test_flags_control import cli
    up = upstream_factory(Script(users=USERS))
    url = fleet_url(pg_server)
    mx1, mx2 = start(sensor_factory, url, ["mx1", "mx2"], {"auth_bruteforce": {"failures": 2, "window": "10m"}},
                     [{"name": "mx", "upstream": up.addr, "proxy_protocol_out": "none", "proxy_protocol_in": False}])
    attacker = "127.0.0.91"
    c = smtp(mx2, attacker)
    assert auth_plain(c, "alice@example.org", "g1") == 535 and auth_plain(c, "alice@example.org", "g2") == 535
    quit(c)
    a = Alerts(mx2).wait("auth_bruteforce", attacker)
    assert a["sensor"] == "mx2", a
    wait_until(lambda: flag_of(mx1, attacker) is not None, 3, "mx2's flag on mx1")
    assert flag_of(mx1, attacker)["sensor"] == "mx2"
    # mx1's flag pool writes it to the local store (it batches), then the database goes away.
    time.sleep(1.5)
    pg_server.stop()
    mx1.stop()
    mx1.start()
    mx1.wait_metric("smtp_sensor_fleet_up", lambda v: v == 0, timeout=10)
    f = flag_of(mx1, attacker)
    assert f is not None and f["sensor"] == "mx2" and f["type"] == "auth_bruteforce", f
    listed = cli(mx1, "list").stdout
    assert attacker in listed and "sensor=mx2" in listed, listed
    # mx1 wrote no alert line for it, before or after the restart.
    assert not Alerts(mx1).of("auth_bruteforce")
