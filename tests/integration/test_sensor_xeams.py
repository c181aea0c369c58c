"""Issue 4, test 1: the Xeams seed conversation (SPEC 5, seeds/003) played 24 times from
one address: `helo fxdce`, `auth login` answered 500 by a server that offers no AUTH,
then the client drops without QUIT. Metrics, transcript (grep by LCID) and store agree."""
from harness import SmtpConn, connect
from scripted_server import Script
from sensor_util import Snapshot, Transcript, new_connection_text, sensor_config, wait_sessions_idle, wait_store_rows

CLIENT_IP = "127.0.0.9"
HELO_REPLY = "250 127.0.0.9. Please to meet you"
AUTH_REPLY = "500 Syntax error, command unrecognized."
GREETING = "220 scripted.test ESMTP ready"
ROUNDS = 24


def _xeams_upstream():
    # EHLO/HELO offer no AUTH at all; `auth login` is "unrecognized".
    return Script(greeting=GREETING, capabilities=["PIPELINING", "8BITMIME"],
                  replies={"HELO": HELO_REPLY, "AUTH": AUTH_REPLY})


def _play_once(port: int) -> tuple[int, int, int]:
    """One seed conversation; returns (client port, bytes sent, bytes received)."""
    c = SmtpConn(connect(port, source=CLIENT_IP))
    client_port = c.sock.getsockname()[1]
    got = c.expect(None, 220)
    sent = b"helo fxdce\r\n"
    got += c.expect(sent.rstrip(b"\r\n"), 250)
    sent += b"auth login\r\n"
    got += c.expect("auth login", 500)
    c.close()                      # FIN, no QUIT: "Unexpected input termination"
    return client_port, len(sent), len(got)


def test_xeams_seed_24_times(sensor_factory, upstream_factory):
    up = upstream_factory(_xeams_upstream())
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    plays = [_play_once(sensor.port) for _ in range(ROUNDS)]
    up.wait_connections(ROUNDS)
    wait_sessions_idle(sensor)

    L = {"listener": "smtp"}
    assert snap.delta("smtp_sensor_connections_total", **L) == ROUNDS
    assert snap.delta("smtp_sensor_bad_commands_total", **L) == ROUNDS
    assert snap.delta("smtp_sensor_terminations_total", reason="client_abort", **L) == ROUNDS
    assert snap.delta("smtp_sensor_terminations_total", **L) == ROUNDS, "only client_abort terminations expected"
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="LOGIN", result="unadvertised", **L) == ROUNDS
    assert snap.delta("smtp_sensor_auth_attempts_total", **L) == ROUNDS
    assert snap.delta("smtp_sensor_commands_total", verb="HELO", **L) == ROUNDS
    assert snap.delta("smtp_sensor_commands_total", verb="AUTH", **L) == ROUNDS
    assert snap.delta("smtp_sensor_commands_total", **L) == 2 * ROUNDS
    assert snap.delta("smtp_sensor_replies_total", **{"class": "2xx"}, **L) == 2 * ROUNDS  # greeting + HELO
    assert snap.delta("smtp_sensor_replies_total", **{"class": "5xx"}, **L) == ROUNDS
    assert snap.delta("smtp_sensor_messages_total", **L) == 0
    assert snap.delta("smtp_sensor_permanent_failures_total", **L) == 0, "a 500 to AUTH is no MAIL/RCPT/DATA failure"
    total_in = sum(p[1] for p in plays)
    total_out = sum(p[2] for p in plays)
    assert snap.delta("smtp_sensor_bytes_total", direction="in", **L) == total_in
    assert snap.delta("smtp_sensor_bytes_total", direction="out", **L) == total_out

    # Transcript: the "New connection" search of the seed, then one LCID's whole session.
    tr = Transcript(sensor)
    news = tr.wait_for(lambda ls: (lambda n: n if len(n) == ROUNDS else None)(
        [l for l in ls if l.text.startswith(f"************ New connection from: {CLIENT_IP}:")]),
        what=f"{ROUNDS} New connection lines")
    lcids = [l.lcid for l in news]
    assert len(set(lcids)) == ROUNDS, f"LCIDs not unique: {lcids}"
    # The file groups lines per I/O thread, so only the connection order is checked:
    # LCIDs are handed out at accept, so consecutive connections get increasing LCIDs.
    by_port = {int(l.text.split(f"{CLIENT_IP}:")[1].split()[0]): l.lcid for l in news}
    in_play_order = [by_port[p[0]] for p in plays]
    assert in_play_order == sorted(in_play_order), in_play_order
    for l in news:
        assert len(l.lcid_field) >= 10, f"LCID printed narrower than 10 columns: {l.raw!r}"

    for i in (0, ROUNDS // 2, ROUNDS - 1):
        client_port, n_in, n_out = plays[i]
        lcid = tr.lcid_of(f"{CLIENT_IP}:{client_port} ")
        texts = tr.wait_closed_line(lcid)
        expected_head = new_connection_text(CLIENT_IP, client_port, "smtp", up.addr)
        # The greeting is a reply too; SPEC 5's example omits it, so it may or may not be shown.
        body = texts[1:]
        if body and body[0] == f"S <-- {GREETING}":
            body = body[1:]
        assert texts[0] == expected_head, texts
        assert body == [
            "C --> helo fxdce",
            f"S <-- {HELO_REPLY}",
            "C --> auth login",
            f"S <-- {AUTH_REPLY}",
            f"~~~~~~~~~~~~ Connection Terminated (client_abort) without a graceful QUIT. "
            f"in={n_in} out={n_out} commands=2 bad=1",
        ], texts
        # Timestamps of one session never go backwards.
        ts = [l.ts for l in tr.lines_for(lcid)]
        assert ts == sorted(ts), ts

    # Store: one row per connection, all client_abort from 127.0.0.9.
    rows = wait_store_rows(sensor, ROUNDS, "client_ip = ?", (CLIENT_IP,))
    assert len(rows) == ROUNDS
    assert sorted(r["lcid"] for r in rows) == sorted(lcids)
    by_port = {r["client_port"]: r for r in rows}
    for client_port, n_in, n_out in plays:
        r = by_port[client_port]
        assert r["termination"] == "client_abort", r
        assert r["client_ip"] == CLIENT_IP and r["listener"] == "smtp" and r["upstream"] == up.addr, r
        assert r["helo"] == "fxdce", r
        assert r["commands"] == 2 and r["bad_commands"] == 1, r
        assert r["messages"] == 0 and r["recipients"] == 0 and r["permanent_failures"] == 0, r
        assert r["auth_result"] == "unadvertised", r
        assert r["auth_user"] in ("", None), r
        assert not r["blocked"] and not r["tls"], r
        assert r["bytes_in"] == n_in and r["bytes_out"] == n_out, r
        assert 0 <= r["end_ms"] - r["start_ms"] < 60_000, r
