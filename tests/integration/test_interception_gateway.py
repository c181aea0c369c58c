"""Transparent interception on a gateway (issue 16, SPEC 14): the sensor on the router
between clients and the mail server, fed by REDIRECT or by TPROXY; and `source: client`,
where the sensor's connection to the mail server leaves from the client's own address.

Topology (namespaces created and removed here, see netns.py):
    [client] 198.18.1.2 --- 198.18.1.1 [gw] 198.18.2.1 --- 198.18.2.2 [server]
The gateway forwards; the client and the server route through it. Rules and routes are
those of docs/OPERATIONS.md, "Transparent deployment".
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import random_text_message  # noqa: E402
from netns import Lab, missing_tools  # noqa: E402
from scripted_server import Script, ScriptedServer  # noqa: E402

MTA_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mta_client.py")
GW_PORT = 10025


@pytest.fixture(scope="module")
def lab():
    why = missing_tools()
    if why:
        pytest.skip(why)
    lab = Lab("g")
    try:
        lab.client, lab.gw, lab.server = lab.ns("client"), lab.ns("gw"), lab.ns("server")
        lab.gw_in, _ = lab.link(lab.gw, ["198.18.1.1/24"], lab.client, ["198.18.1.2/24"])
        lab.link(lab.gw, ["198.18.2.1/24"], lab.server, ["198.18.2.2/24"])
        lab.client.run("ip", "route", "add", "default", "via", "198.18.1.1")
        lab.server.run("ip", "route", "add", "default", "via", "198.18.2.1")
        lab.gw.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        yield lab
    finally:
        errors = lab.cleanup()
        assert not errors, errors


@pytest.fixture
def rules(lab):
    """The test's own rules, removed after it (also on failure)."""
    mark = lab.mark()
    yield lab
    errors = lab.rollback(mark)
    assert not errors, errors


@pytest.fixture
def mail_server(lab):
    with lab.server.entered():
        srv = ScriptedServer(Script(), host="198.18.2.2", port=25).start()
    yield srv
    srv.stop()


def send_from_client(lab, host: str, port: int, message: bytes) -> dict:
    r = subprocess.run([*lab.client.prefix, "/usr/bin/python3", MTA_CLIENT, host, str(port)],
                       input=message, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return json.loads(r.stdout)


def gw_sensor(sensor_factory, lab, listener: dict, **kw):
    s = sensor_factory(listeners=[{"name": "gw", "max_connections": 100, **listener}],
                       config={"transcripts": {"enabled": True}}, start=False, **kw)
    with lab.gw.entered():
        s.start()
    return s


def transcript_opened(sensor) -> list[str]:
    path = sensor.tmpdir / "transcript.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = [l for l in path.read_text().splitlines() if "New connection" in l] if path.exists() else []
        if lines:
            return lines
        time.sleep(0.05)
    raise AssertionError("no transcript line")


def check_relayed(lab, sensor, srv, message: bytes, *, peer: str) -> None:
    """The client's mail to 198.18.2.2:25 went through the sensor, byte for byte."""
    r = send_from_client(lab, "198.18.2.2", 25, message)
    assert r["codes"] == [220, 250, 250, 250, 354, 250, 221], r
    conn = srv.wait_connection(0)
    conn.wait_closed(10)
    assert conn.payload_sha256 == r["sent_sha256"] and conn.messages == [message]
    assert conn.peer[0] == peer, conn.peer
    with lab.gw.entered():
        assert sensor.counter("smtp_sensor_connections_total") == 1
        assert sensor.counter("smtp_sensor_upstream_errors_total") == 0
    # The transcript shows the real client and the address it dialled.
    [line] = transcript_opened(sensor)
    assert re.search(r"New connection from: 198\.18\.1\.2:\d+ to gw \(upstream 198\.18\.2\.2:25\)", line), line


def test_gateway_redirect(sensor_factory, rules, mail_server):
    lab = rules
    lab.ipt(lab.gw, "iptables", "-t", "nat", "-A", "PREROUTING", "-i", lab.gw_in, "-p", "tcp", "--dport", "25",
            "-j", "REDIRECT", "--to-ports", str(GW_PORT))
    sensor = gw_sensor(sensor_factory, lab, {"listen": f"0.0.0.0:{GW_PORT}", "upstream": "original-destination"})
    check_relayed(lab, sensor, mail_server, random_text_message(80_000, random.Random(3)), peer="198.18.2.1")


def test_gateway_tproxy(sensor_factory, rules, mail_server):
    lab = rules
    # Packets of connections the sensor already holds go to its socket; new ones to port
    # 25 are diverted to the listener with their destination left as it was.
    lab.ipt(lab.gw, "iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "-m", "socket", "--transparent",
            "-j", "MARK", "--set-mark", "1")
    lab.ipt(lab.gw, "iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "-m", "mark", "--mark", "1",
            "-j", "ACCEPT")
    lab.ipt(lab.gw, "iptables", "-t", "mangle", "-A", "PREROUTING", "-i", lab.gw_in, "-p", "tcp", "--dport", "25",
            "-j", "TPROXY", "--on-port", str(GW_PORT), "--tproxy-mark", "0x1/0x1")
    lab.cmd(lab.gw, ["ip", "rule", "add", "fwmark", "1", "lookup", "100"],
            ["ip", "rule", "del", "fwmark", "1", "lookup", "100"])
    lab.cmd(lab.gw, ["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"],
            ["ip", "route", "del", "local", "0.0.0.0/0", "dev", "lo", "table", "100"])
    sensor = gw_sensor(sensor_factory, lab, {"listen": f"0.0.0.0:{GW_PORT}", "upstream": "original-destination"})
    check_relayed(lab, sensor, mail_server, random_text_message(80_000, random.Random(4)), peer="198.18.2.1")
    assert "IP_TRANSPARENT refused" not in sensor.stderr_text()


def source_client_routing(lab) -> None:
    # The server answers the client's address; on the gateway those packets belong to the
    # sensor's transparent socket: mark them and deliver them locally.
    lab.ipt(lab.gw, "iptables", "-t", "mangle", "-A", "PREROUTING", "-p", "tcp", "-m", "socket", "--transparent",
            "-j", "MARK", "--set-mark", "1")
    lab.cmd(lab.gw, ["ip", "rule", "add", "fwmark", "1", "lookup", "100"],
            ["ip", "rule", "del", "fwmark", "1", "lookup", "100"])
    lab.cmd(lab.gw, ["ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "100"],
            ["ip", "route", "del", "local", "0.0.0.0/0", "dev", "lo", "table", "100"])


def test_source_client_server_sees_the_client(sensor_factory, rules, mail_server):
    lab = rules
    source_client_routing(lab)
    sensor = gw_sensor(sensor_factory, lab, {"listen": f"198.18.1.1:{GW_PORT}", "upstream": "198.18.2.2:25",
                                             "source": "client"})
    message = random_text_message(60_000, random.Random(5))
    r = send_from_client(lab, "198.18.1.1", GW_PORT, message)
    assert r["codes"] == [220, 250, 250, 250, 354, 250, 221], r
    conn = mail_server.wait_connection(0)
    conn.wait_closed(10)
    assert conn.payload_sha256 == r["sent_sha256"] and conn.messages == [message]
    # The mail server's TCP peer is the client itself, without any PROXY header.
    assert conn.peer[0] == "198.18.1.2" and conn.proxy is None, conn.peer
    [line] = transcript_opened(sensor)
    assert "from: 198.18.1.2:" in line and "(upstream 198.18.2.2:25)" in line, line


def test_source_client_without_capability_is_refused(sensor_factory, rules, mail_server):
    lab = rules
    source_client_routing(lab)
    # Without CAP_NET_ADMIN (and CAP_NET_RAW) IP_TRANSPARENT is refused: a clear log line,
    # a 421 for the client, one upstream error; the server never hears of it.
    sensor = gw_sensor(sensor_factory, lab, {"listen": f"198.18.1.1:{GW_PORT}", "upstream": "198.18.2.2:25",
                                             "source": "client"},
                       argv_prefix=["setpriv", "--bounding-set", "-net_admin,-net_raw", "--inh-caps",
                                    "-net_admin,-net_raw"])
    r = send_from_client(lab, "198.18.1.1", GW_PORT, b"Subject: x\r\n\r\nx\r\n")
    assert r["codes"][0] == 421, r
    with lab.gw.entered():
        sensor.wait_metric("smtp_sensor_upstream_errors_total", lambda v: v == 1, {"listener": "gw"})
    assert "source: client: IP_TRANSPARENT refused (needs CAP_NET_ADMIN)" in sensor.stderr_text()
    assert mail_server.connections == []
