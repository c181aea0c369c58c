"""SPEC 10, the foundation of a fleet: `smtp-sensor fleet init` creates and upgrades the
fleet schema in a real PostgreSQL (pg_util.py), refuses a database newer than the binary,
works for a role that cannot run DDL once the schema is current, and says what to do when
it is old; check-config reports a malformed fleet.url at its line and column."""
import re

import pytest

from harness import free_port, run_cli

EXPECTED_VERSION = 5  # fleet/schema.hpp kSchemaVersion


def test_fleet_init_creates_then_finds_current(pg_server):
    url = pg_server.url()
    r = run_cli(["fleet", "init", "--url", url])
    assert r.returncode == 0, r.stderr
    assert f"upgraded from version 0 to {EXPECTED_VERSION}" in r.stdout
    assert pg_server.scalar("SELECT version FROM schema_version") == str(EXPECTED_VERSION)
    cols = {row[0] for row in pg_server.psql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions'")}
    assert {"sensor", "lcid", "start_ms", "client_ip", "domain", "auth_user", "bytes_in"} <= cols
    r = run_cli(["fleet", "init", "--url", url])
    assert r.returncode == 0, r.stderr
    assert f"is current (version {EXPECTED_VERSION})" in r.stdout
    assert pg_server.scalar("SELECT count(*) FROM schema_version") == "1"


def test_fleet_init_refuses_newer_database(pg_server):
    url = pg_server.url()
    assert run_cli(["fleet", "init", "--url", url]).returncode == 0
    pg_server.psql(f"UPDATE schema_version SET version = {EXPECTED_VERSION + 5}")
    r = run_cli(["fleet", "init", "--url", url])
    assert r.returncode == 1
    assert "newer than this smtp-sensor" in r.stderr


def test_role_without_ddl_current_ok_old_explained(pg_server):
    # A role that may not create tables finds no schema: it says what to run.
    pg_server.psql("CREATE DATABASE fleet")
    pg_server.psql("CREATE ROLE nobody_ddl LOGIN; REVOKE CREATE ON SCHEMA public FROM PUBLIC", dbname="fleet")
    r = run_cli(["fleet", "init", "--url", pg_server.url(user="nobody_ddl", dbname="fleet")])
    assert r.returncode == 1
    assert "may not upgrade it" in r.stderr and "fleet init" in r.stderr, r.stderr
    # The owner creates it; the writer role of OPERATIONS then finds it current.
    assert run_cli(["fleet", "init", "--url", pg_server.url(dbname="fleet")]).returncode == 0
    import pg_util
    pg_util.create_roles(pg_server, "fleet")
    r = run_cli(["fleet", "init", "--url", pg_server.url(user="smtp_sensor_writer", dbname="fleet")])
    assert r.returncode == 0, r.stderr
    assert "is current" in r.stdout
    # An older schema (a newer binary's migration pending) is explained, not half-applied.
    pg_server.psql("UPDATE schema_version SET version = 0", dbname="fleet")
    r = run_cli(["fleet", "init", "--url", pg_server.url(user="smtp_sensor_writer", dbname="fleet")])
    assert r.returncode == 1 and "may not upgrade it" in r.stderr, r.stderr


def test_fleet_init_password_file_never_printed(tmp_path):
    import pg_util
    reason = pg_util.unavailable_reason()
    if reason:
        pytest.skip(reason)
    secret = "s3cret-Pa55-word"
    server = pg_util.PgServer(password=secret)
    try:
        server.start()
        good = tmp_path / "pw"
        good.write_text(secret + "\n")
        bad = tmp_path / "badpw"
        bad.write_text("wrong-" + secret + "\n")
        r = run_cli(["fleet", "init", "--url", server.url(), "--password-file", str(bad)],
                    env={"PGPASSFILE": "/nonexistent", "PGPASSWORD": ""})
        assert r.returncode == 1
        assert "password authentication failed" in r.stderr
        assert secret not in r.stderr + r.stdout
        r = run_cli(["fleet", "init", "--url", server.url(), "--password-file", str(good)])
        assert r.returncode == 0, r.stderr
        assert secret not in r.stderr + r.stdout
    finally:
        server.cleanup()


def test_check_config_malformed_url_line_and_column(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "listeners:\n"
        "  - name: smtp\n"
        f"    listen: \"127.0.0.1:{free_port()}\"\n"
        f"    upstream: \"127.0.0.1:{free_port()}\"\n"
        "fleet:\n"
        "  url: \"postgresql://[::1/smtp_sensor\"\n")
    r = run_cli(["check-config", "-c", str(path)])
    assert r.returncode != 0
    m = re.search(re.escape(str(path)) + r":(\d+):(\d+): fleet\.url: (.+)", r.stderr)
    assert m, r.stderr
    assert int(m.group(1)) == 6 and int(m.group(2)) in (8, 9), r.stderr
    assert "IPv6" in m.group(3) or "]" in m.group(3)
    # A good URL with sslmode=verify-full passes through untouched.
    path.write_text(path.read_text().replace("postgresql://[::1/smtp_sensor",
                                             "postgresql://smtp_sensor@db.example:5432/smtp_sensor?sslmode=verify-full"))
    r = run_cli(["check-config", "-c", str(path)])
    assert r.returncode == 0, r.stderr
    assert "sslmode=verify-full" in r.stdout
