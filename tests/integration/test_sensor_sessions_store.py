"""Issue 4, tests 6 and 7: /sessions shows live sessions and drops them when they end;
the store gets one row per finished session of every kind (quit, client_abort,
server_close, idle_timeout, upstream_error, blocked, shutdown), flushed on SIGTERM."""
import datetime
import re
import smtplib
import time

from harness import SLOW, SmtpConn, connect, free_port, recv_all, rst_close, wait_until
from scripted_server import Script
from sensor_util import (Snapshot, Transcript, new_connection_text, sensor_config, sessions, store_columns,
                         store_rows, wait_sessions_idle, wait_store_rows)

STORE_COLUMNS = ["lcid", "start_ms", "end_ms", "listener", "client_ip", "client_port", "upstream", "helo", "tls",
                 "auth_user", "auth_result", "domain", "messages", "recipients", "commands", "bad_commands",
                 "permanent_failures", "termination", "blocked", "bytes_in", "bytes_out"]


def _find(live, ip, port):
    hits = [s for s in live if s["client"] == f"{ip}:{port}"]
    assert len(hits) <= 1, live
    return hits[0] if hits else None


def test_sessions_endpoint_live_session(sensor_factory, upstream_factory):
    up = upstream_factory(Script(users={"erin@live.example": "pw"}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    assert sessions(sensor) == []
    t0 = datetime.datetime.now(datetime.timezone.utc)
    c = SmtpConn(connect(sensor.port, source="127.0.0.17"))
    port = c.sock.getsockname()[1]
    greeting = c.expect(None, 220)
    s = wait_until(lambda: _find(sessions(sensor), "127.0.0.17", port), 5, what="session in /sessions")
    assert s["state"] == "greeting" and s["commands"] == 0 and s["helo"] == "", s
    ehlo = c.expect("EHLO live.test", 250)
    s = wait_until(lambda: (lambda x: x if x and x["commands"] == 1 else None)(_find(sessions(sensor), "127.0.0.17", port)),
                   5, what="EHLO counted in /sessions")
    tr = Transcript(sensor)
    # Lines reach the disk within about a second while the session is still open.
    lcid = tr.lcid_of(f"127.0.0.17:{port} ", timeout=2.0)
    tr.wait_for(lambda _l: "C --> EHLO live.test" in tr.texts_for(lcid), 2.0, what="EHLO line on disk")
    assert s["lcid"] == lcid, (s, lcid)
    assert s["listener"] == "smtp" and s["state"] == "EHLO" and s["helo"] == "live.test", s
    assert s["auth_user"] == "" and s["tls"] is False, s
    assert s["bad_commands"] == 0 and s["messages"] == 0, s
    assert s["bytes_in"] == len(b"EHLO live.test\r\n") and s["bytes_out"] == len(greeting) + len(ehlo), s
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", s["started"])
    assert m, s["started"]
    started = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
    assert abs((started - t0).total_seconds()) < 5, (s["started"], t0)
    assert set(s) >= {"lcid", "client", "listener", "started", "state", "helo", "auth_user", "tls", "commands",
                      "bad_commands", "messages", "bytes_in", "bytes_out"}, s
    # Progress is visible while the session lives.
    c.expect("AUTH PLAIN AGVyaW5AbGl2ZS5leGFtcGxlAHB3", 235)
    c.expect("MAIL FROM:<erin@live.example>", 250)
    s = wait_until(lambda: (lambda x: x if x and x["commands"] == 3 else None)(_find(sessions(sensor), "127.0.0.17", port)),
                   5, what="MAIL counted in /sessions")
    assert s["state"] == "MAIL" and s["auth_user"] == "erin@live.example", s
    # A second, concurrent session is listed separately.
    c2 = SmtpConn(connect(sensor.port, source="127.0.0.18"))
    c2.expect(None, 220)
    wait_until(lambda: len(sessions(sensor)) == 2, 5, what="two live sessions")
    c.close()
    wait_until(lambda: _find(sessions(sensor), "127.0.0.17", port) is None, 5, what="closed session gone")
    assert len(sessions(sensor)) == 1
    c2.expect("QUIT", 221)
    c2.close()
    wait_sessions_idle(sensor)
    status, body = sensor.http_get("/flagged")
    assert status == 200 and body.strip().startswith("["), body


def test_store_rows_for_every_kind_of_end(sensor_factory, upstream_factory):
    up = upstream_factory(Script(drop_on={"VRFY"}))
    refusing = upstream_factory(Script(greeting="554 5.7.1 go away"))
    dead = f"127.0.0.1:{free_port()}"
    listeners = [
        {"name": "mx", "upstream": up.addr, "max_connections": 100},
        {"name": "down", "upstream": dead, "max_connections": 100},
        {"name": "refuse", "upstream": refusing.addr, "max_connections": 100},
    ]
    sensor = sensor_factory(listeners=listeners, config=sensor_config(timeouts={"idle": "2s"}))
    snap = Snapshot(sensor)
    mx, down, refuse = (sensor.listen_addr(n)[1] for n in ("mx", "down", "refuse"))
    start = int(time.time() * 1000)
    expect = {}   # client port -> (listener, termination, helo, upstream)

    # quit, with a message
    with smtplib.SMTP("127.0.0.1", mx, local_hostname="quit.test", timeout=30 * SLOW) as s:
        s.sendmail("q@sender.example", ["r@rcpt.example"], b"Subject: q\r\n\r\nq\r\n")
        expect[s.sock.getsockname()[1]] = ("mx", "quit", "quit.test", up.addr)
    # client_abort: FIN after EHLO, and RST after MAIL
    c = SmtpConn(connect(mx, source="127.0.0.1"))
    c.expect(None, 220)
    c.expect("EHLO abort.test", 250)
    expect[c.sock.getsockname()[1]] = ("mx", "client_abort", "abort.test", up.addr)
    c.close()
    c = SmtpConn(connect(mx, source="127.0.0.1"))
    c.expect(None, 220)
    c.expect("HELO rst.test", 250)
    c.expect("MAIL FROM:<x@sender.example>", 250)
    expect[c.sock.getsockname()[1]] = ("mx", "client_abort", "rst.test", up.addr)
    rst_close(c.sock)
    # server_close: the upstream drops the connection on VRFY
    c = SmtpConn(connect(mx, source="127.0.0.1"))
    c.expect(None, 220)
    c.expect("EHLO server.test", 250)
    c.send("VRFY someone\r\n")
    assert recv_all(c.sock, 10)[1] == "eof"
    expect[c.sock.getsockname()[1]] = ("mx", "server_close", "server.test", up.addr)
    c.close()
    # idle_timeout
    c = SmtpConn(connect(mx, source="127.0.0.1"))
    c.expect(None, 220)
    c.expect("EHLO idle.test", 250)
    expect[c.sock.getsockname()[1]] = ("mx", "idle_timeout", "idle.test", up.addr)
    assert recv_all(c.sock, 15)[1] in ("eof", "reset")
    c.close()
    # upstream_error: nothing listens upstream, the daemon answers 421 itself
    c = connect(down, source="127.0.0.1")
    got, how = recv_all(c, 20)
    assert got == b"421 4.4.1 Upstream unavailable\r\n" and how == "eof", (got, how)
    expect[c.getsockname()[1]] = ("down", "upstream_error", "", dead)
    c.close()
    # blocked: the upstream refuses at the greeting (554)
    c = SmtpConn(connect(refuse, source="127.0.0.1"))
    c.expect(None, 554)
    c.expect("QUIT", 221)
    expect[c.sock.getsockname()[1]] = ("refuse", "blocked", "", refusing.addr)
    c.close()
    wait_sessions_idle(sensor, 10)

    rows = wait_store_rows(sensor, len(expect))
    assert len(rows) == len(expect), rows
    assert store_columns(sensor) == STORE_COLUMNS or set(store_columns(sensor)) >= set(STORE_COLUMNS)
    tr = Transcript(sensor)
    by_port = {r["client_port"]: r for r in rows}
    assert set(by_port) == set(expect), (sorted(by_port), sorted(expect))
    end = int(time.time() * 1000)
    for port, (listener, term, helo, upstream) in expect.items():
        r = by_port[port]
        assert (r["listener"], r["termination"], r["helo"], r["upstream"]) == (listener, term, helo, upstream), r
        assert r["client_ip"] == "127.0.0.1", r
        assert start - 1000 <= r["start_ms"] <= r["end_ms"] <= end + 1000, (r, start, end)
        assert r["blocked"] == (1 if term == "blocked" else 0), r
        assert r["lcid"] == tr.lcid_of(f"127.0.0.1:{port} "), r
        texts = tr.wait_closed_line(r["lcid"])
        assert texts[0] == new_connection_text("127.0.0.1", port, listener, upstream), texts
        if term == "quit":
            assert texts[-1] == (f"~~~~~~~~~~~~ Connection closed (quit). in={r['bytes_in']} out={r['bytes_out']} "
                                 f"commands={r['commands']} bad={r['bad_commands']}"), texts
            assert r["messages"] == 1 and r["recipients"] == 1 and r["domain"] == "rcpt.example", r
        else:
            assert texts[-1] == (f"~~~~~~~~~~~~ Connection Terminated ({term}) without a graceful QUIT. "
                                 f"in={r['bytes_in']} out={r['bytes_out']} commands={r['commands']} "
                                 f"bad={r['bad_commands']}"), texts
        if term == "upstream_error":
            assert r["bytes_out"] == len(b"421 4.4.1 Upstream unavailable\r\n") or r["bytes_out"] == 0, r
            refused = [t for t in texts if t.startswith("~~~~~~~~~~~~ Refused (")]
            assert len(refused) == 1 and refused[0].endswith("): S <-- 421 4.4.1 Upstream unavailable"), texts
            assert r["commands"] == 0, r

    L = {"listener": "mx"}
    assert snap.delta("smtp_sensor_terminations_total", reason="client_abort", **L) == 2
    assert snap.delta("smtp_sensor_terminations_total", reason="server_close", **L) == 1
    assert snap.delta("smtp_sensor_terminations_total", reason="idle_timeout", **L) == 1
    assert snap.delta("smtp_sensor_terminations_total", reason="quit") == 0, "no quit series (SPEC 9)"
    assert snap.delta("smtp_sensor_terminations_total", reason="upstream_error", listener="down") == 1
    assert snap.delta("smtp_sensor_terminations_total", reason="blocked", listener="refuse") == 1
    assert snap.delta("smtp_sensor_blocked_connections_total", reason="upstream_refused", listener="refuse") == 1
    assert snap.delta("smtp_sensor_connections_total") == len(expect)


def test_store_and_transcript_flushed_on_sigterm(sensor_factory, upstream_factory):
    """Rows and lines still queued at SIGTERM reach disk; a session still open when the
    drain grace runs out ends as 'shutdown'."""
    up = upstream_factory(Script())
    sensor = sensor_factory(up.addr, config=sensor_config(timeouts={"shutdown_grace": "1s"}))
    done = SmtpConn(connect(sensor.port, source="127.0.0.21"))
    done.expect(None, 220)
    done.expect("EHLO done.test", 250)
    done.expect("QUIT", 221)
    done_port = done.sock.getsockname()[1]
    done.close()
    live = SmtpConn(connect(sensor.port, source="127.0.0.22"))
    live.expect(None, 220)
    live.expect("EHLO live.test", 250)
    live_port = live.sock.getsockname()[1]
    sensor.stop()                       # SIGTERM right away, exit 0 asserted
    live.close()
    rows = store_rows(sensor)
    by_port = {r["client_port"]: r for r in rows}
    assert set(by_port) == {done_port, live_port}, rows
    assert by_port[done_port]["termination"] == "quit"
    assert by_port[live_port]["termination"] == "shutdown", by_port[live_port]
    tr = Transcript(sensor)
    lcid = tr.lcid_of(f"127.0.0.22:{live_port} ", timeout=0.1)
    texts = tr.texts_for(lcid)
    assert texts[-1].startswith("~~~~~~~~~~~~ Connection Terminated (shutdown) without a graceful QUIT. "), texts
    assert "C --> EHLO live.test" in texts
