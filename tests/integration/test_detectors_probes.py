"""Detectors of SPEC 15 through the real binary, against real replies from the scripted
upstream: auth_success_after_failures, user_many_ips, recipient_enumeration (550 5.1.1),
relay_probe (554 5.7.1 relay denied), vrfy_expn, non_smtp (an HTTP request on the SMTP port,
relayed byte-exact), early_pipelining (an EHLO without PIPELINING), and the IPv6 /64
grouping inside a network namespace this test creates. Each case has a positive and a
negative client, on distinct 127.0.0.x addresses."""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import subprocess
import uuid

import pytest

from harness import SmtpConn, connect, free_port, hostport
from scripted_server import Script
from test_detectors_common import (Alerts, assert_no_alerts, auth_plain, det_config, flagged, flagged_ips, quit,
                                   settle, smtp)

USERS = {"alice@example.org": "right-Pa55", "bob@example.org": "right-Pa55"}


def test_auth_success_after_failures(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"auth_success_after_failures": {"failures": 3, "window": "1h"}}, only=True))
    typo, guesser = "127.0.0.151", "127.0.0.152"
    c = smtp(sensor, typo)  # two typos, then the right password: a person
    for _ in range(2):
        assert auth_plain(c, "bob@example.org", "wrong") == 535
    assert auth_plain(c, "bob@example.org", "right-Pa55") == 235
    quit(c)
    assert_no_alerts(sensor)
    for user in ("root", "admin", "alice@example.org"):  # failures for any user, across sessions
        c = smtp(sensor, guesser)
        assert auth_plain(c, user, "guess") == 535
        quit(c)
    c = smtp(sensor, guesser)
    assert auth_plain(c, "alice@example.org", "right-Pa55") == 235
    quit(c)
    a = Alerts(sensor).wait("auth_success_after_failures", guesser)
    assert a["severity"] == "critical" and a["count"] == 3 and a["threshold"] == 3, a
    assert a["users"] == ["alice@example.org"] and "alice@example.org" in a["detail"], a
    settle(sensor)
    assert flagged_ips(sensor) == {guesser}
    assert len(Alerts(sensor).all()) == 1


def test_user_many_ips_names_the_user_and_flags_no_ip(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users=USERS))
    sensor = sensor_factory(up.addr, config=det_config(
        {"user_many_ips": {"distinct_ips": 3, "window": "1h", "action": "flag"}}, only=True))
    for ip in ("127.0.0.161", "127.0.0.162", "127.0.0.161"):  # bob from two clients: quiet
        c = smtp(sensor, ip)
        assert auth_plain(c, "bob@example.org", "right-Pa55") == 235
        quit(c)
    assert_no_alerts(sensor)
    ips = ["127.0.0.163", "127.0.0.164", "127.0.0.165"]
    for ip in ips:
        c = smtp(sensor, ip)
        assert auth_plain(c, "alice@example.org", "right-Pa55") == 235
        quit(c)
    a = Alerts(sensor).wait("user_many_ips", ips[-1])
    assert a["users"] == ["alice@example.org"] and a["ips"] == ips and a["ips_more"] == 0, a
    assert a["action"] == "flag", a
    settle(sensor)
    # Never flags or blocks an IP: the flag is on the account.
    assert [f for f in flagged(sensor) if "ip" in f] == []
    users = [f for f in flagged(sensor) if "user" in f]
    assert [(u["user"], u["type"], u["action"]) for u in users] == [("alice@example.org", "user_many_ips", "flag")], users
    c = smtp(sensor, ips[0])  # and nobody is refused
    quit(c)


def test_recipient_enumeration(sensor_factory, upstream_factory):
    up = upstream_factory(Script(replies={"RCPT": "550 5.1.1 <nobody@example.com>: Recipient address rejected: "
                                                  "User unknown in local recipient table"}))
    sensor = sensor_factory(up.addr, config=det_config(
        {"recipient_enumeration": {"rejected": 4, "window": "10m"}}, only=True))
    typo, harvester = "127.0.0.171", "127.0.0.172"
    c = smtp(sensor, typo)
    c.expect("MAIL FROM:<a@example.org>", 250)
    for i in range(3):
        c.expect(f"RCPT TO:<user{i}@example.com>", 550)
    quit(c)
    assert_no_alerts(sensor)
    for _ in range(2):
        c = smtp(sensor, harvester)
        c.expect("MAIL FROM:<a@example.org>", 250)
        for i in range(2):
            c.expect(f"RCPT TO:<guess{i}@example.com>", 550)
        quit(c)
    a = Alerts(sensor).wait("recipient_enumeration", harvester)
    assert a["count"] == 4 and a["threshold"] == 4 and a["window_s"] == 600, a
    settle(sensor)
    assert flagged_ips(sensor) == {harvester}


def test_relay_probe(sensor_factory, upstream_factory):
    up = upstream_factory(Script(replies={"RCPT": "554 5.7.1 <x@other.example>: Relay access denied"}))
    sensor = sensor_factory(up.addr, config=det_config(
        {"relay_probe": {"attempts": 3, "window": "1h"}, "recipient_enumeration": {"rejected": 1}}, only=True))
    forgetful, prober = "127.0.0.181", "127.0.0.182"
    c = smtp(sensor, forgetful)  # forgot to authenticate, twice
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<x@other.example>", 554)
    c.expect("RCPT TO:<y@other.example>", 554)
    quit(c)
    assert_no_alerts(sensor)  # and a relay denial is no unknown user
    c = smtp(sensor, prober)
    c.expect("MAIL FROM:<a@example.org>", 250)
    for i in range(3):
        c.expect(f"RCPT TO:<victim{i}@other.example>", 554)
    quit(c)
    a = Alerts(sensor).wait("relay_probe", prober)
    assert a["count"] == 3 and a["severity"] == "warning", a
    settle(sensor)
    assert flagged_ips(sensor) == {prober}
    assert [x["type"] for x in Alerts(sensor).all()] == ["relay_probe"]


def test_vrfy_expn(sensor_factory, upstream_factory):
    up = upstream_factory(Script(replies={"VRFY": "252 2.0.0 Cannot VRFY user", "EXPN": "502 5.5.1 EXPN not available"}))
    sensor = sensor_factory(up.addr, config=det_config({"vrfy_expn": {"count": 3, "window": "10m"}}, only=True))
    monitor, harvester = "127.0.0.191", "127.0.0.192"
    c = smtp(sensor, monitor)
    c.expect("VRFY postmaster", 252)
    c.expect("EXPN staff", 502)
    quit(c)
    assert_no_alerts(sensor)
    c = smtp(sensor, harvester)
    c.expect("VRFY root", 252)
    c.expect("EXPN all", 502)
    c.expect("VRFY admin", 252)
    quit(c)
    a = Alerts(sensor).wait("vrfy_expn", harvester)
    assert a["count"] == 3, a
    settle(sensor)
    assert flagged_ips(sensor) == {harvester}


def test_non_smtp_is_flagged_and_relayed_byte_exact(sensor_factory, upstream_factory):
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=det_config({"non_smtp": {}, "early_pipelining": {}}, only=True))
    mta, scanner = "127.0.0.201", "127.0.0.202"
    c = smtp(sensor, mta)
    c.cmd("HELP")
    c.expect("MAIL FROM:<get@example.org>", 250)  # "GET" inside an address is no HTTP
    quit(c)
    assert_no_alerts(sensor)
    request = (b"GET /admin HTTP/1.1\r\nHost: mx.example.com\r\nUser-Agent: Mozilla/5.0 zgrab/0.x\r\n"
               b"Accept: */*\r\n\r\n")
    s = connect(sensor.port, source=scanner)
    c = SmtpConn(s)
    c.expect(None, 220)
    c.send(request)
    conn = up.wait_connections(2)[-1]
    conn.wait_for(lambda k: len(k.payload) >= len(request), 5, "the whole request relayed")
    c.close()
    a = Alerts(sensor).wait("non_smtp", scanner)
    assert a["count"] == 1 and "GET /admin HTTP/1.1" in a["detail"], a
    settle(sensor)
    assert [x["type"] for x in Alerts(sensor).of(ip=scanner)] == ["non_smtp"]  # no early_pipelining
    assert flagged_ips(sensor) == {scanner}
    assert conn.payload_sha256 == hashlib.sha256(request).hexdigest()


def test_early_pipelining(sensor_factory, upstream_factory):
    up = upstream_factory(Script(capabilities=["SIZE 1000000", "8BITMIME"]))  # no PIPELINING
    sensor = sensor_factory(up.addr, config=det_config({"early_pipelining": {}}, only=True))
    patient, bot = "127.0.0.211", "127.0.0.212"
    c = smtp(sensor, patient)
    c.expect("MAIL FROM:<a@example.org>", 250)
    c.expect("RCPT TO:<b@example.com>", 250)
    quit(c)
    assert_no_alerts(sensor)
    c = smtp(sensor, bot)
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n")
    c.expect(None, 250)
    c.expect(None, 250)
    quit(c)
    a = Alerts(sensor).wait("early_pipelining", bot)
    assert a["count"] == 1 and "RCPT" in a["detail"], a
    settle(sensor)
    assert flagged_ips(sensor) == {bot}
    assert len(Alerts(sensor).all()) == 1


def test_early_pipelining_quiet_when_offered(sensor_factory, upstream_factory):
    up = upstream_factory(Script())  # offers PIPELINING
    sensor = sensor_factory(up.addr, config=det_config({"early_pipelining": {}}, only=True))
    c = smtp(sensor, "127.0.0.213")
    c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n")
    c.expect(None, 250)
    c.expect(None, 250)
    quit(c)
    assert_no_alerts(sensor)


# --------------------------------------------------------------------------- IPv6 prefixes

CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def network_namespace(addresses: list[str]):
    """This thread (and the threads and processes it starts) in a fresh network namespace
    whose loopback holds `addresses`; the namespace is removed on the way out, failure or not."""
    if os.geteuid() != 0:
        pytest.skip("the IPv6 prefix test creates a network namespace (ip netns add), which needs root")
    name = f"smtp-sensor-det2-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for a in addresses:
            subprocess.run(["ip", "-n", name, "-6", "addr", "add", f"{a}/64", "dev", "lo", "nodad"], check=True)
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + name)
        finally:
            os.close(target)
        try:
            yield name
        finally:
            libc.setns(own, CLONE_NEWNET)
    finally:
        os.close(own)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def test_ipv6_clients_of_one_64_are_one_client(sensor_factory, upstream_factory):
    server = "2001:db8:1:2::1"
    bots = ["2001:db8:1:2::10", "2001:db8:1:2::11", "2001:db8:1:2::12"]
    neighbour = "2001:db8:1:3::10"  # another /64
    with network_namespace([server, *bots, neighbour]):
        up = upstream_factory(Script(users=USERS))
        sensor = sensor_factory(up.addr, listener={"listen": hostport("::", free_port())}, config=det_config(
            {"auth_bruteforce": {"failures": 3, "window": "10m"}}, only=True))
        try:
            def fail_once(source: str) -> None:
                c = SmtpConn(connect(sensor.port, server, source=source))
                c.expect(None, 220)
                c.expect("EHLO v6.test", 250)
                assert auth_plain(c, "alice@example.org", "guess") == 535
                quit(c)

            for _ in range(2):
                fail_once(neighbour)
            assert_no_alerts(sensor)
            for b in bots:  # one failure each: three from one /64
                fail_once(b)
            a = Alerts(sensor).wait("auth_bruteforce", "2001:db8:1:2::/64")
            assert a["count"] == 3, a
            settle(sensor)
            assert flagged_ips(sensor) == {"2001:db8:1:2::/64"}
            assert not Alerts(sensor).of(ip=neighbour) and not Alerts(sensor).of(ip="2001:db8:1:3::/64")
        finally:
            sensor.stop()
            up.stop()
