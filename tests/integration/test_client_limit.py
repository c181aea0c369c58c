"""max_connections_per_client (SPEC 9): one client may hold at most that many sessions on a
listener; the next gets a 421 and a close, is counted as blocked, and other clients, the
allow list and the sessions already open are untouched. Behind a trusted proxy the limit
counts the client the PROXY header names; a reload changes it for new sessions."""
import hashlib
import signal
import subprocess

import yaml

from harness import SmtpConn, connect, proxy_v2, recv_all, sensor_binary
from test_detectors_flags import wait_log

REFUSAL = b"421 4.7.0 Error: too many connections from your address\r\n"
REASON = {"listener": "smtp", "reason": "max_connections_per_client"}


def _blocked(sensor) -> float:
    return sensor.counter("smtp_sensor_blocked_connections_total", **REASON)


def _refused(sock) -> None:
    got, how = recv_all(sock, 5)
    sock.close()
    assert got == REFUSAL and how == "eof", f"expected the 421 and a close, got {got!r} ({how})"


def _greeted(port: int, **kw) -> SmtpConn:
    c = SmtpConn.open(port, **kw)
    c.expect(None, 220)
    return c


def _quit(c: SmtpConn) -> None:
    c.expect("QUIT", 221)
    c.close()


def test_a_client_over_its_limit_gets_421_and_others_are_untouched(sensor_factory, sink_factory):
    sink = sink_factory()
    # The default allow list (127.0.0.0/8, never limited) is narrowed to one address.
    sensor = sensor_factory(sink.addr, listener={"max_connections_per_client": 3},
                            config={"allow": ["127.0.0.9/32"]})
    held = [_greeted(sensor.port, source="127.0.0.1") for _ in range(3)]
    _refused(connect(sensor.port, source="127.0.0.1"))
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= 1, REASON) == 1

    # Another client, and an allowed one beyond the limit, relay a message byte for byte.
    body = b"Subject: other client\r\n\r\n" + bytes(range(32, 127)) * 40 + b"\r\n"
    other = _greeted(sensor.port, source="127.0.0.2")
    other.expect("EHLO other.test", 250)
    assert other.transaction(body)[:3] == b"250"
    _quit(other)
    allowed = [_greeted(sensor.port, source="127.0.0.9") for _ in range(5)]
    for c in allowed:
        _quit(c)
    [message] = sink.wait_messages(1)
    got = sink.parse(message).body.replace(b"\n", b"\r\n")  # smtp-sink writes LF
    assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()

    # The held sessions go on; one closing frees a slot for the same client at once.
    for c in held:
        c.expect("NOOP", 250)
    _quit(held.pop())
    sensor.wait_metric("smtp_sensor_connections_active", lambda v: v <= 2, {"listener": "smtp"})
    held.append(_greeted(sensor.port, source="127.0.0.1"))
    _refused(connect(sensor.port, source="127.0.0.1"))
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= 2, REASON) == 2
    for c in held:
        _quit(c)
    assert sensor.counter("smtp_sensor_blocked_connections_total", listener="smtp", reason="max_connections") == 0


def test_behind_a_trusted_proxy_the_limit_counts_the_client_it_names(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, listener={"max_connections_per_client": 2, "proxy_protocol_in": True,
                                                 "trusted_proxies": ["127.0.0.0/8"]})

    def through_proxy(client: str, sport: int):
        s = connect(sensor.port)
        s.sendall(proxy_v2(client, "198.18.0.100", sport, 25))
        return s

    held = []
    for i in range(2):
        c = SmtpConn(through_proxy("198.18.0.1", 40000 + i))
        c.expect(None, 220)
        held.append(c)
    _refused(through_proxy("198.18.0.1", 40010))
    # The same proxy, another client behind it.
    c = SmtpConn(through_proxy("198.18.0.2", 40020))
    c.expect(None, 220)
    _quit(c)
    assert sensor.wait_metric("smtp_sensor_blocked_connections_total", lambda v: v >= 1, REASON) == 1
    for c in held:
        _quit(c)


def _reload_with_limit(sensor, limit: int) -> None:
    sensor.config["listeners"][0]["max_connections_per_client"] = limit
    sensor.write_config()
    mark = len(sensor.stderr_text())
    sensor.signal(signal.SIGHUP)
    wait_log(sensor, "reloaded", mark)


def test_a_reload_changes_the_limit_for_new_sessions(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, listener={"max_connections_per_client": 1}, config={"allow": []})
    first = _greeted(sensor.port, source="127.0.0.3")
    _refused(connect(sensor.port, source="127.0.0.3"))

    _reload_with_limit(sensor, 3)
    more = [_greeted(sensor.port, source="127.0.0.3") for _ in range(2)]
    _refused(connect(sensor.port, source="127.0.0.3"))

    # 0 is no limit: a fourth and fifth session open while the first three stay.
    _reload_with_limit(sensor, 0)
    more += [_greeted(sensor.port, source="127.0.0.3") for _ in range(2)]
    for c in [first] + more:
        _quit(c)
    assert _blocked(sensor) == 2
    assert sensor.alive()


def test_check_config_warns_about_a_limit_on_an_outbound_listener(tmp_path):
    def check(listener: dict) -> subprocess.CompletedProcess:
        cfg = {"listeners": [dict({"name": "out", "listen": "127.0.0.1:10025", "upstream": "original-destination",
                                   "direction": "outbound"}, **listener)],
               "store": {"enabled": False}, "transcripts": {"enabled": False},
               "alerts": {"path": str(tmp_path / "a.jsonl")}}
        p = tmp_path / "c.yaml"
        p.write_text(yaml.safe_dump(cfg))
        return subprocess.run([sensor_binary(), "check-config", "-c", str(p)], capture_output=True, text=True,
                              timeout=30)

    r = check({"max_connections_per_client": 20})
    assert r.returncode == 0, r.stderr
    assert "warning: listener 'out' is outbound and has max_connections_per_client 20" in r.stderr, r.stderr
    assert "max_connections_per_client: 20" in r.stdout
    for quiet in ({}, {"max_connections_per_client": 0}, {"direction": "inbound", "upstream": "127.0.0.1:25",
                                                          "max_connections_per_client": 20}):
        r = check(quiet)
        assert r.returncode == 0 and "warning" not in r.stderr, (quiet, r.stderr)
