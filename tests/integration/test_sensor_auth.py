"""Issue 4, test 2: AUTH PLAIN and AUTH LOGIN through the relay (swaks, smtplib, a raw
client). The transcript never shows a password, its base64, the PLAIN blob's base64 or
the LOGIN responses' base64; it shows [redacted]. auth_attempts_total counts success and
failure per mechanism, and the store keeps the user and the result."""
import base64
import smtplib
import subprocess

import pytest

from harness import SLOW, SmtpConn, connect
from scripted_server import Script
from sensor_util import Snapshot, Transcript, sensor_config, wait_sessions_idle, wait_store_rows

USER = "alice@example.org"
PASSWORD = "Tr0ub4dor&3-horse"
WRONG = "Wr0ngPassw0rd-xyz"
L = {"listener": "smtp"}


def b64(s: str | bytes) -> str:
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def secrets_for(user: str, password: str) -> list[str]:
    """Everything that must never reach the transcript for these credentials."""
    out = [password, b64(password), b64(f"\0{user}\0{password}"), b64(f"{user}\0{user}\0{password}")]
    out.append(b64(user))       # the LOGIN username response (base64) is redacted too
    return out


def assert_clean(tr: Transcript, *pairs):
    raw = tr.raw_bytes().decode("utf-8", "replace")
    for user, password in pairs:
        for s in secrets_for(user, password):
            assert s not in raw, f"transcript leaks {s!r}:\n{raw}"
    assert "[redacted]" in raw


def swaks(port: int, mech: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--from", USER, "--to", "bob@example.net",
                           "--auth", mech, "--auth-user", USER, "--auth-password", password,
                           "--helo", "swaks.test", "--body", "auth redaction test"],
                          capture_output=True, text=True, timeout=60 * SLOW)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth_redacted_and_counted(sensor_factory, upstream_factory, mech):
    up = upstream_factory(Script(users={USER: PASSWORD}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    ok = swaks(sensor.port, mech, PASSWORD)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = swaks(sensor.port, mech, WRONG)
    assert bad.returncode != 0 and "535 " in bad.stdout, bad.stdout
    conns = up.wait_connections(2)
    for c in conns:
        assert c.wait_closed(10)
    assert [c.auth_results for c in conns] == [[(mech, USER, True)], [(mech, USER, False)]]
    wait_sessions_idle(sensor)

    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism=mech, result="success", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism=mech, result="failure", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", **L) == 2
    assert snap.delta("smtp_sensor_messages_total", **L) == 1

    tr = Transcript(sensor)
    rows = wait_store_rows(sensor, 2)
    lcids = [r["lcid"] for r in rows]
    for lcid in lcids:
        tr.wait_closed_line(lcid)
    assert_clean(tr, (USER, PASSWORD), (USER, WRONG))
    for lcid in lcids:
        texts = tr.texts_for(lcid)
        auth = [t for t in texts if t.upper().startswith("C --> AUTH")]
        assert len(auth) == 1, texts
        if mech == "PLAIN":
            # swaks sends the PLAIN blob as an initial response or after a 334.
            assert auth[0] in ("C --> AUTH PLAIN [redacted]", "C --> AUTH PLAIN"), texts
            if auth[0] == "C --> AUTH PLAIN":
                assert "C --> [redacted]" in texts, texts
        else:
            assert auth[0] in ("C --> AUTH LOGIN", "C --> AUTH LOGIN [redacted]"), texts
            assert "C --> [redacted]" in texts, texts
    by_result = {r["auth_result"]: r for r in rows}
    assert set(by_result) == {"success", "failure"}, rows
    for r in rows:
        assert r["auth_user"] == USER, r
    assert by_result["success"]["messages"] == 1 and by_result["failure"]["messages"] == 0


def test_raw_auth_exchanges_exact_lines(sensor_factory, upstream_factory):
    """Exact transcript lines for PLAIN with and without an initial response, LOGIN with
    two continuations, LOGIN with an initial response, and a '*' cancel."""
    up = upstream_factory(Script(users={USER: PASSWORD}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    c = SmtpConn(connect(sensor.port, source="127.0.0.31"))
    port = c.sock.getsockname()[1]
    c.expect(None, 220)
    c.expect("EHLO auth.test", 250)
    plain_bad = b64(f"\0{USER}\0{WRONG}")
    c.expect(f"AUTH PLAIN {plain_bad}", 535)                        # initial response, failure
    c.expect("AUTH PLAIN", 334)
    plain_ok = b64(f"\0{USER}\0{PASSWORD}")
    c.expect(plain_ok, 235)                                          # after a 334, success
    c.expect("AUTH LOGIN", 334)
    c.expect(b64(USER), 334)
    c.expect(b64(WRONG), 535)                                        # LOGIN failure
    c.expect(f"AUTH LOGIN {b64(USER)}", 334)                         # username as initial response
    c.expect(b64(PASSWORD), 235)                                     # LOGIN success
    c.expect("AUTH LOGIN", 334)
    c.expect("*", 501)                                               # cancelled
    c.expect("QUIT", 221)
    c.close()
    up.wait_connection(0).wait_closed(10)
    wait_sessions_idle(sensor)

    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="PLAIN", result="success", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="PLAIN", result="failure", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="LOGIN", result="success", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="LOGIN", result="failure", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", mechanism="LOGIN", result="aborted", **L) == 1
    assert snap.delta("smtp_sensor_auth_attempts_total", **L) == 5
    assert snap.delta("smtp_sensor_commands_total", verb="AUTH", **L) == 5
    # AUTH continuation lines are not commands.
    assert snap.delta("smtp_sensor_commands_total", **L) == 7

    tr = Transcript(sensor)
    lcid = tr.lcid_of(f"127.0.0.31:{port} ")
    texts = tr.wait_closed_line(lcid)
    assert_clean(tr, (USER, PASSWORD), (USER, WRONG))
    client = [t for t in texts if t.startswith("C --> ")]
    assert client == [
        "C --> EHLO auth.test",
        "C --> AUTH PLAIN [redacted]",
        "C --> AUTH PLAIN",
        "C --> [redacted]",
        "C --> AUTH LOGIN",
        "C --> [redacted]",
        "C --> [redacted]",
        "C --> AUTH LOGIN [redacted]",
        "C --> [redacted]",
        "C --> AUTH LOGIN",
        client[10] if len(client) == 12 else "<the '*' cancel line>",
        "C --> QUIT",
    ], texts
    # The '*' cancel carries no secret: shown as-is or redacted.
    assert client[10] in ("C --> *", "C --> [redacted]"), texts
    # The server's 334 challenges are relayed text, not secrets: shown.
    assert texts.count("S <-- 334 VXNlcm5hbWU6") == 2 and texts.count("S <-- 334 UGFzc3dvcmQ6") == 2, texts
    assert texts[-1].startswith("~~~~~~~~~~~~ Connection closed (quit). "), texts

    (row,) = wait_store_rows(sensor, 1)
    assert row["lcid"] == lcid and row["auth_user"] == USER and row["termination"] == "quit", row
    assert row["client_ip"] == "127.0.0.31" and row["client_port"] == port, row


def test_smtplib_login_redacted(sensor_factory, upstream_factory):
    """smtplib's login() (AUTH PLAIN with an initial response against this server)."""
    up = upstream_factory(Script(users={USER: PASSWORD}))
    sensor = sensor_factory(up.addr, config=sensor_config())
    snap = Snapshot(sensor)
    with smtplib.SMTP("127.0.0.1", sensor.port, timeout=30 * SLOW) as s:
        s.ehlo("smtplib.test")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(USER, WRONG)
    with smtplib.SMTP("127.0.0.1", sensor.port, timeout=30 * SLOW) as s:
        s.ehlo("smtplib.test")
        s.login(USER, PASSWORD)
    with smtplib.SMTP("127.0.0.1", sensor.port, timeout=30 * SLOW) as s:
        s.ehlo("smtplib.test")
        s.user, s.password = USER, PASSWORD
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
    conns = up.wait_connections(3)
    for c in conns:
        c.wait_closed(10)
    wait_sessions_idle(sensor)
    results = [r for c in conns for r in c.auth_results]
    # smtplib may try PLAIN then fall back to LOGIN after a 535; count what the server saw.
    expected = {}
    for mech, _u, ok in results:
        k = (mech, "success" if ok else "failure")
        expected[k] = expected.get(k, 0) + 1
    assert expected.get(("LOGIN", "success")) == 1 and expected.get(("PLAIN", "success")) == 1, results
    for (mech, res), n in expected.items():
        assert snap.delta("smtp_sensor_auth_attempts_total", mechanism=mech, result=res, **L) == n, (mech, res)
    assert snap.delta("smtp_sensor_auth_attempts_total", **L) == len(results)
    rows = wait_store_rows(sensor, 3)
    tr = Transcript(sensor)
    for r in rows:
        tr.wait_closed_line(r["lcid"])
        assert r["auth_user"] == USER, r
    assert_clean(tr, (USER, PASSWORD), (USER, WRONG))
