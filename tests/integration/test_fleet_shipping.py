"""SPEC 10, shipping: every session a sensor stores locally reaches the fleet database
(a real PostgreSQL, pg_util.py) exactly once, identified by (sensor, lcid). The database
stops under traffic (pg_ctl stop): relaying goes on byte-exact, the backlog shows in the
metrics, and after it returns every session arrives once; a restarted sensor ships
nothing twice. A wrong password or an unreachable URL: the sensor starts, serves, logs
the reason (never the password) and retries."""
import smtplib
import sqlite3
import time

import pytest

from harness import SLOW, SmtpSink, free_port, sha
from sensor_util import sensor_config, store_path, store_rows, wait_store_rows


def send(sensor, n, tag, sink=None):
    """n sessions through the sensor, one message each; with sink, checks each message
    arrived byte-exact (by hash)."""
    port = sensor.listen_addr()[1]
    bodies = []
    for i in range(n):
        body = f"Subject: fleet {tag} {i}\r\n\r\n".encode() + (f"{tag}-{i} ".encode() * 40) + b"\r\n"
        with smtplib.SMTP("127.0.0.1", port, local_hostname="c.test", timeout=30 * SLOW) as s:
            s.sendmail(f"s{i}@from.example", [f"r{i}@to.example"], body)
        bodies.append(body)
    if sink is not None:
        files = sink.wait_messages(len(bodies))
        got = {sha(SmtpSink.parse(f).body.replace(b"\n", b"\r\n")) for f in files}
        assert {sha(b) for b in bodies} <= got, "a relayed message changed on its way"
    return bodies


def fleet_lcids(pg, sensor_name):
    return sorted(int(r[0]) for r in pg.psql(f"SELECT lcid FROM sessions WHERE sensor = '{sensor_name}'"))


def wait_fleet(pg, sensor_name, n, timeout=30.0):
    deadline = time.monotonic() + timeout * SLOW
    while True:
        got = fleet_lcids(pg, sensor_name) if pg.running else []
        if len(got) >= n:
            return got
        assert time.monotonic() < deadline, f"fleet has {len(got)} sessions of {sensor_name}, expected {n}"
        time.sleep(0.2)


def test_outage_and_restart_ship_every_session_once(pg_server, sensor_factory, sink_factory):
    import pg_util
    sink = sink_factory()
    # The owner creates the schema; the sensor ships as the writer role of OPERATIONS,
    # which may not run DDL.
    from harness import run_cli
    assert run_cli(["fleet", "init", "--url", pg_server.url()]).returncode == 0
    pg_util.create_roles(pg_server)
    url = pg_server.url(user="smtp_sensor_writer")
    sensor = sensor_factory(sink.addr, config=sensor_config(sensor={"name": "mx1"}, fleet={"url": url}))
    send(sensor, 20, "a", sink)
    wait_store_rows(sensor, 20)
    wait_fleet(pg_server, "mx1", 20)
    sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1)

    # The database goes away: an idle sensor notices within seconds; then under traffic
    # mail still flows and the backlog grows.
    pg_server.stop()
    sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 0, timeout=20)
    sent = send(sensor, 30, "b", sink)
    assert len(sent) == 30
    wait_store_rows(sensor, 50)
    sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 0, timeout=30)
    sensor.wait_metric("smtp_sensor_fleet_backlog_sessions", lambda v: v >= 30, timeout=10)
    errors = sum(sensor.metric("smtp_sensor_fleet_errors_total", {"op": op}, default=0.0)
                 for op in ("connect", "ship", "schema"))
    assert errors >= 1
    assert "fleet: " in sensor.stderr_text() and "retrying" in sensor.stderr_text()

    # It comes back: every stored session arrives, once.
    pg_server.start()
    shipped = wait_fleet(pg_server, "mx1", 50, timeout=60)
    local = sorted(r["lcid"] for r in store_rows(sensor))
    assert shipped == local and len(set(shipped)) == 50
    sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=30)
    sensor.wait_metric("smtp_sensor_fleet_backlog_sessions", lambda v: v == 0, timeout=10)
    assert sensor.metric("smtp_sensor_fleet_shipped_total") == 50

    # A restart resumes after the mark: the new process ships only its new sessions.
    sensor.stop()
    sensor.start()
    send(sensor, 5, "c", sink)
    wait_store_rows(sensor, 55)
    shipped = wait_fleet(pg_server, "mx1", 55)
    assert shipped == sorted(r["lcid"] for r in store_rows(sensor))
    sensor.wait_metric("smtp_sensor_fleet_shipped_total", lambda v: v == 5, timeout=10)
    time.sleep(1)
    assert sensor.metric("smtp_sensor_fleet_shipped_total") == 5
    assert int(pg_server.scalar("SELECT count(*) FROM sessions")) == 55
    # The rows are the local rows, field for field.
    row = pg_server.psql("SELECT lcid, client_ip, domain, messages, bytes_in, bytes_out, termination FROM sessions "
                         "WHERE sensor = 'mx1' ORDER BY lcid LIMIT 1")[0]
    first = store_rows(sensor, "lcid = ?", (int(row[0]),))[0]
    assert row[1:] == [first["client_ip"], first["domain"], str(first["messages"]), str(first["bytes_in"]),
                       str(first["bytes_out"]), first["termination"]]

    # A crash between the fleet's commit and the local mark: the batch goes again, and the
    # rows already there are skipped, not doubled.
    sensor.stop()
    db = sqlite3.connect(store_path(sensor))
    db.execute("UPDATE fleet_shipped SET last_rowid = 0")
    db.commit()
    db.close()
    sensor.start()
    sensor.wait_metric("smtp_sensor_fleet_shipped_total", lambda v: v == 55, timeout=30)
    sensor.wait_metric("smtp_sensor_fleet_backlog_sessions", lambda v: v == 0, timeout=10)
    assert int(pg_server.scalar("SELECT count(*) FROM sessions")) == 55
    assert fleet_lcids(pg_server, "mx1") == sorted(r["lcid"] for r in store_rows(sensor))


@pytest.mark.parametrize("case", ["wrong-password", "unreachable"])
def test_sensor_serves_without_the_fleet_and_retries(tmp_path, sensor_factory, sink_factory, case):
    import pg_util
    reason = pg_util.unavailable_reason()
    if case == "wrong-password" and reason:
        pytest.skip(reason)
    secret = "Corr3ct-Horse-fleet"
    server = None
    try:
        pwfile = tmp_path / "fleet.pw"
        if case == "wrong-password":
            server = pg_util.PgServer(password=secret).start()
            url = server.url()
            pwfile.write_text("not-" + secret + "\n")
        else:
            # Nothing listens on this loopback port: connection refused.
            url = f"postgresql://smtp_sensor@127.0.0.1:{free_port()}/fleet?connect_timeout=2"
            pwfile.write_text(secret + "\n")
        sink = sink_factory()
        sensor = sensor_factory(sink.addr, env={"PGPASSFILE": "/nonexistent"}, config=sensor_config(
            sensor={"name": "mx9"}, fleet={"url": url, "password_file": str(pwfile)}))
        send(sensor, 3, "d", sink)
        wait_store_rows(sensor, 3)
        sensor.wait_metric("smtp_sensor_fleet_errors_total", lambda v: v >= 2, labels={"op": "connect"}, timeout=20)
        assert sensor.metric("smtp_sensor_fleet_up") == 0
        sensor.wait_metric("smtp_sensor_fleet_backlog_sessions", lambda v: v == 3, timeout=10)
        log = sensor.stderr_text()
        why = "password authentication failed" if case == "wrong-password" else "Connection refused"
        assert why in log, log
        assert secret not in log
        # Once per thread that connects (the shipper; the sharer of flags and counts), not once per retry.
        for thread in ("fleet: connect", "fleet: sharing"):
            lines = [l for l in log.splitlines() if why in l and thread in l]
            assert len(lines) == 1, f"a repeated failure is logged once, not once per retry: {lines}"
        if case == "wrong-password":
            # The operator fixes the file and sends SIGHUP: the backlog ships.
            import signal
            pwfile.write_text(secret + "\n")
            sensor.signal(signal.SIGHUP)
            sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=40)
            sensor.wait_metric("smtp_sensor_fleet_backlog_sessions", lambda v: v == 0, timeout=10)
            assert server.scalar("SELECT count(*) FROM sessions WHERE sensor = 'mx9'") == "3"
            assert secret not in sensor.stderr_text()
    finally:
        if server:
            server.cleanup()


def test_old_or_newer_schema_is_logged_and_retried(pg_server, sensor_factory, sink_factory):
    """The sensor's writer role may not run DDL: a schema a migration behind, or one newer
    than the binary, is a log line and a retry, and sessions wait in the local store until
    the owner has run `fleet init` (here: put the version right)."""
    import pg_util
    from harness import run_cli
    init = run_cli(["fleet", "init", "--url", pg_server.url()])
    assert init.returncode == 0, init.stderr
    current = int(pg_server.scalar("SELECT version FROM schema_version"))
    pg_util.create_roles(pg_server)
    pg_server.psql("UPDATE schema_version SET version = 0")
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, config=sensor_config(
        sensor={"name": "mx5"}, fleet={"url": pg_server.url(user="smtp_sensor_writer")}))
    send(sensor, 2, "e", sink)
    sensor.wait_metric("smtp_sensor_fleet_errors_total", lambda v: v >= 1, labels={"op": "schema"}, timeout=20)
    sensor.wait_metric("smtp_sensor_fleet_backlog_sessions", lambda v: v == 2, timeout=10)
    assert "may not upgrade it" in sensor.stderr_text() and "fleet init" in sensor.stderr_text()
    pg_server.psql("UPDATE schema_version SET version = 99")
    deadline = time.monotonic() + 40 * SLOW
    while "newer than this smtp-sensor" not in sensor.stderr_text():
        assert time.monotonic() < deadline, sensor.stderr_text()
        time.sleep(0.2)
    assert sensor.metric("smtp_sensor_fleet_up") == 0
    pg_server.psql(f"UPDATE schema_version SET version = {current}")
    sensor.wait_metric("smtp_sensor_fleet_up", lambda v: v == 1, timeout=40)
    assert wait_fleet(pg_server, "mx5", 2) == sorted(r["lcid"] for r in store_rows(sensor))
