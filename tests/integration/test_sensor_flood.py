"""Issue 4, test 8: a transcript flood against a tiny queue (transcripts.queue_size: 16).
Lines are dropped and counted in smtp_sensor_events_dropped_total{sink="transcript"},
while relaying stays byte-exact and metrics and the store still count every command."""
import hashlib
import threading

from harness import SmtpConn, connect, sha
from scripted_server import Script
from sensor_util import Snapshot, Transcript, sensor_config, wait_sessions_idle, wait_store_rows

SESSIONS = 8
NOOPS = 2000
MAX_ROUNDS = 5


def _flood_session(port: int, idx: int, out: dict, errors: list) -> None:
    try:
        c = SmtpConn(connect(port, source=f"127.0.1.{idx + 1}", timeout=60))
        got = bytearray(c.expect(None, 220))
        sent = bytearray()
        ehlo = f"EHLO flood{idx}.test\r\n".encode()
        c.send(ehlo)
        sent += ehlo
        got += c.reply()
        burst = b"".join(b"NOOP %d-%d\r\n" % (idx, i) for i in range(NOOPS)) + b"QUIT\r\n"
        c.send(burst)                     # one write: 2,000 pipelined NOOPs and QUIT
        sent += burst
        for _ in range(NOOPS):
            r = c.reply(60)
            assert r[:3] == b"250", r
            got += r
        r = c.reply(60)
        assert r[:3] == b"221", r
        got += r
        out[c.sock.getsockname()[1]] = (bytes(sent), bytes(got), idx)
        c.close()
    except Exception as e:  # reported by the test thread
        errors.append(f"session {idx}: {e!r}")


def test_transcript_flood_drops_lines_relay_exact(sensor_factory, upstream_factory):
    up = upstream_factory(Script(record=True, record_sent=True))
    sensor = sensor_factory(up.addr, config=sensor_config(transcripts={"queue_size": 16}))
    snap = Snapshot(sensor)
    sessions_done: dict = {}
    rounds = 0
    while rounds < MAX_ROUNDS:
        rounds += 1
        errors: list = []
        out: dict = {}
        threads = [threading.Thread(target=_flood_session, args=(sensor.port, i, out, errors))
                   for i in range(SESSIONS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        sessions_done.update(out)
        if snap.delta("smtp_sensor_events_dropped_total", sink="transcript") > 0:
            break
    n = len(sessions_done)
    assert n == SESSIONS * rounds
    conns = up.wait_connections(n)
    for c in conns:
        assert c.wait_closed(30)
    wait_sessions_idle(sensor, 10)

    dropped = snap.delta("smtp_sensor_events_dropped_total", sink="transcript")
    assert dropped > 0, f"no transcript lines dropped after {rounds} rounds of {SESSIONS}x{NOOPS} NOOPs"
    assert snap.delta("smtp_sensor_events_dropped_total", sink="store") == 0

    # Relaying is byte-exact in both directions for every session.
    sent_hashes = sorted(sha(s) for s, _g, _i in sessions_done.values())
    got_hashes = sorted(sha(g) for _s, g, _i in sessions_done.values())
    assert sorted(c.payload_sha256 for c in conns) == sent_hashes, "client->upstream bytes differ"
    assert sorted(hashlib.sha256(bytes(c.sent)).hexdigest() for c in conns) == got_hashes, "upstream->client bytes differ"
    for c in conns:
        assert c.sent_sha256 == hashlib.sha256(bytes(c.sent)).hexdigest()

    # Metrics and the store are not sampled: every command is counted.
    L = {"listener": "smtp"}
    assert snap.delta("smtp_sensor_commands_total", verb="NOOP", **L) == n * NOOPS
    assert snap.delta("smtp_sensor_commands_total", verb="QUIT", **L) == n
    assert snap.delta("smtp_sensor_replies_total", **{"class": "2xx"}, **L) == n * (NOOPS + 3)
    total_in = sum(len(s) for s, _g, _i in sessions_done.values())
    total_out = sum(len(g) for _s, g, _i in sessions_done.values())
    assert snap.delta("smtp_sensor_bytes_total", direction="in", **L) == total_in
    assert snap.delta("smtp_sensor_bytes_total", direction="out", **L) == total_out
    rows = wait_store_rows(sensor, n)
    assert len(rows) == n
    for r in rows:
        s, g, idx = sessions_done[r["client_port"]]
        assert r["client_ip"] == f"127.0.1.{idx + 1}", r
        assert (r["commands"], r["termination"], r["bytes_in"], r["bytes_out"]) == (NOOPS + 2, "quit", len(s), len(g)), r

    # What was written is still well-formed, whole lines (drops lose lines, never halves).
    sensor.stop()
    lines = Transcript(sensor).lines()
    assert lines, "transcript empty"
    assert len(lines) < n * (2 * NOOPS + 6), "nothing was dropped from the file"
    for l in lines:
        assert l.text.startswith(("C --> ", "S <-- ", "************ New connection from: ", "~~~~~~~~~~~~ ",
                                  "!!!!!!!!!!!! ")), l
