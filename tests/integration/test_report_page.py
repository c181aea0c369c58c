"""Issue 6, the report live: GET / serves the built-in page, and in real headless
Chromium (Debian's /usr/bin/chromium, driven by playwright-core from tests/web) the page
shows the sessions this test relayed through the daemon to smtp-sink: the domain table
with the right counts, sorting by a header, the CSV download, the chart's two series and
a server error. The full-page screenshot is kept in $SMTP_SENSOR_ARTIFACTS (CMake sets
BUILD_DIR/artifacts).

Without Chromium or tests/web/node_modules the browser test skips, unless
SMTP_SENSOR_REQUIRE_BROWSER=1 (scripts/test.sh sets it), where it fails instead."""
import base64
import json
import os
import shutil
import smtplib
import subprocess
import urllib.request
from pathlib import Path

import pytest

from harness import REPO_ROOT, SLOW, sensor_binary
from sensor_util import wait_store_rows

WEB_TESTS = REPO_ROOT / "tests" / "web"
CHROMIUM = "/usr/bin/chromium"

# domain -> sessions, each a (client address, messages, auth user or None). The counts
# are chosen so that sorting by messages gives an order unlike the default (by domain),
# and ascending unlike descending.
PLAN = {
    "alpha.example": [("127.0.0.21", 1, None)],
    "beta.example": [("127.0.0.22", 3, None), ("127.0.0.22", 2, None)],
    "gamma.example": [("127.0.0.23", 1, "carol@gamma.example"), ("127.0.0.24", 1, None), ("127.0.0.25", 1, None)],
}


def artefact_dir() -> Path:
    env = os.environ.get("SMTP_SENSOR_ARTIFACTS")
    # Beside the binary's build tree when run by hand: build/daemon/smtp-sensor -> build/artifacts.
    return Path(env) if env else Path(sensor_binary()).resolve().parents[1] / "artifacts"


def browser_missing() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not installed (Debian package chromium; scripts/install-deps.sh)"
    if shutil.which("node") is None:
        return "node not installed (scripts/install-deps.sh)"
    if not (WEB_TESTS / "node_modules" / "playwright-core").is_dir():
        return "tests/web/node_modules missing (scripts/install-deps.sh runs npm ci there)"
    return None


def need_browser() -> None:
    why = browser_missing()
    if why is None:
        return
    if os.environ.get("SMTP_SENSOR_REQUIRE_BROWSER"):
        pytest.fail(f"SMTP_SENSOR_REQUIRE_BROWSER is set but {why}")
    pytest.skip(f"browser test skipped: {why}")


def relay(port: int) -> int:
    """Sends PLAN through the daemon; returns the number of sessions."""
    sessions = 0
    for domain, plan in PLAN.items():
        for source, messages, user in plan:
            with smtplib.SMTP("127.0.0.1", port, local_hostname=f"client.{domain}", timeout=30 * SLOW,
                              source_address=(source, 0)) as s:
                s.ehlo()
                if user:
                    # smtp-sink takes any AUTH with a 2xx, which the sensor counts as a login;
                    # smtplib.login() would insist on 235, so the command goes as it is.
                    token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
                    code, reply = s.docmd("AUTH", f"PLAIN {token}")
                    assert 200 <= code < 300, (code, reply)
                sender = user or f"sender@{domain}"
                for n in range(messages):
                    s.sendmail(sender, [f"rcpt{n}@elsewhere.test"], f"Subject: {domain} {n}\r\n\r\nbody {n}\r\n".encode())
            sessions += 1
    return sessions


# The local MTA's deliveries through the outbound listener "out" (SPEC 14): domain ->
# sessions of one message each, counted for the sender's domain.
OUT_PLAN = {"local.example": 2, "other-local.example": 1}


def relay_out(port: int) -> int:
    for domain, sessions in OUT_PLAN.items():
        for n in range(sessions):
            with smtplib.SMTP("127.0.0.1", port, local_hostname="mail.local.test", timeout=30 * SLOW,
                              source_address=("127.0.0.26", 0)) as s:
                s.sendmail(f"user{n}@{domain}", ["someone@remote.test"], b"Subject: out\r\n\r\nbody\r\n")
    return sum(OUT_PLAN.values())


def expectation() -> dict:
    return {
        "domains": {d: {"new_connections": len(p), "messages": sum(m for _, m, _ in p)} for d, p in PLAN.items()},
        "users": {d: sorted({u for _, _, u in p if u}) for d, p in PLAN.items() if any(u for _, _, u in p)},
        "outbound": {d: {"new_connections": n, "messages": n} for d, n in OUT_PLAN.items()},
    }


def get(sensor, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{sensor.http_port}{path}", timeout=10 * SLOW) as r:
        return r.status, r.headers, r.read()


def test_page_is_served_from_the_binary_with_a_strict_policy(sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    status, headers, body = get(sensor, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp, csp
    assert "unsafe" not in csp and "http" not in csp, csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    html = body.decode()
    assert '<script type="module" src="/ui/app.js">' in html
    for path, kind in [("/ui/app.js", "text/javascript"), ("/ui/chart.js", "text/javascript"),
                       ("/ui/style.css", "text/css"), ("/ui/icon.svg", "image/svg+xml")]:
        status, headers, body = get(sensor, path)
        assert status == 200 and headers["Content-Type"].startswith(kind), (path, headers["Content-Type"])
        assert body == (REPO_ROOT / "web" / path[len("/ui/"):]).read_bytes(), f"{path} differs from web/"
    # Routes match exactly: nothing else is served from the page's folder.
    status, _ = sensor.http_get("/ui/missing.js")
    assert status == 404


def test_report_page_in_chromium(sensor_factory, sink_factory):
    need_browser()
    sink = sink_factory()
    # smtp-sink plays the remote MX of the outbound listener too.
    sensor = sensor_factory(listeners=[{"name": "smtp", "upstream": sink.addr, "domain_from": "sender"},
                                       {"name": "out", "upstream": sink.addr, "direction": "outbound"}],
                            config={"store": {"enabled": True}})
    sessions = relay(sensor.listen_addr("smtp")[1]) + relay_out(sensor.listen_addr("out")[1])
    wait_store_rows(sensor, sessions, timeout=10)
    # The endpoint the page reads must see them too before the browser starts.
    status, body = sensor.http_get("/report?mode=domain")
    assert status == 200, body

    out = artefact_dir()
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "report-page.png"
    shot.unlink(missing_ok=True)
    env = dict(os.environ, REPORT_PAGE_EXPECT=json.dumps(expectation()),
               REPORT_PAGE_TIMEOUT_MS=str(int(30000 * SLOW)), PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    proc = subprocess.run(["node", str(WEB_TESTS / "report_page.mjs"), f"http://127.0.0.1:{sensor.http_port}", str(out)],
                          cwd=WEB_TESTS, env=env, capture_output=True, text=True, timeout=300 * SLOW)
    print(proc.stdout)
    print(f"report page screenshot: {shot}")
    assert proc.returncode == 0, f"report_page.mjs failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, "a real screenshot"
