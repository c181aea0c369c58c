"""Issue 18 in the browser: the Xeams walk (chart period -> top IPs -> an IP's sessions ->
an LCID's conversation) and the live view, in headless Chromium against the real daemon
(tests/web/investigate_page.mjs). Screenshots go to $SMTP_SENSOR_ARTIFACTS like the report
page test's; it skips without a browser unless SMTP_SENSOR_REQUIRE_BROWSER=1."""
import json
import os
import subprocess
import time

from harness import SLOW
from scripted_server import Script, ScriptedServer
from sensor_util import wait_store_rows
from test_detectors_common import Alerts, det_config, settle, smtp
from test_flags_control import control
from test_report_page import WEB_TESTS, artefact_dir, need_browser

PROBE_IP = "127.0.0.3"
OPEN_IP = "127.0.0.5"
SESSIONS = 24
# Peer text that is markup: a HELO held open (the live view lists it) and an HTTP request
# line that the non_smtp alert quotes (the live view's alerts list it). The page must show
# both as text and run nothing.
HOSTILE_IP = "127.0.0.6"
HOSTILE_HELO = "<svg/onload=alert(1)>"
SCANNER_IP = "127.0.0.7"
HOSTILE_REQUEST = "GET /<img src=x onerror=alert(2)> HTTP/1.1"
# An administrator's block beside the detector's flag: the live view's Action and Reason
# columns tell them apart (the reason, markup too, shows as text).
BLOCKED_IP = "127.0.0.8"
BLOCK_REASON = "ticket <b>4711</b>"


def test_investigate_in_chromium(sensor_factory, upstream_factory):
    need_browser()
    up = upstream_factory(Script(capabilities=["PIPELINING"],
                                 replies={"HELO": f"250 {PROBE_IP}. Please to meet you",
                                          "AUTH": "500 Syntax error, command unrecognized."}))
    sensor = sensor_factory(up.addr, config=det_config(store={"enabled": True}))
    for _ in range(SESSIONS):
        c = smtp(sensor, PROBE_IP, ehlo=None)
        c.expect("helo fxdce", 250)
        c.expect("auth login", 500)
        c.close()
    settle(sensor)
    wait_store_rows(sensor, SESSIONS)
    Alerts(sensor).wait("auth_unadvertised", PROBE_IP)
    time.sleep(1.2)  # the transcript's lines reach the file once a second
    scanner = smtp(sensor, SCANNER_IP, ehlo=None)
    scanner.cmd(HOSTILE_REQUEST)
    scanner.close()
    Alerts(sensor).wait("non_smtp", SCANNER_IP)
    assert control(sensor, f"add {BLOCKED_IP} action=block reason={BLOCK_REASON}")[-1] == "ok"
    held = smtp(sensor, OPEN_IP, ehlo="still.open")  # open for the live view
    hostile = smtp(sensor, HOSTILE_IP, ehlo=HOSTILE_HELO)
    try:
        out = artefact_dir()
        out.mkdir(parents=True, exist_ok=True)
        expect = {"day": time.strftime("%Y-%m-%d", time.gmtime()), "ip": PROBE_IP, "sessions": SESSIONS,
                  "open_ip": OPEN_IP, "hostile_helo": HOSTILE_HELO, "hostile_request": HOSTILE_REQUEST,
                  "blocked_ip": BLOCKED_IP, "block_reason": BLOCK_REASON}
        env = dict(os.environ, INVESTIGATE_EXPECT=json.dumps(expect),
                   REPORT_PAGE_TIMEOUT_MS=str(int(30000 * SLOW)), PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        proc = subprocess.run(["node", str(WEB_TESTS / "investigate_page.mjs"), f"http://127.0.0.1:{sensor.http_port}",
                               str(out)], cwd=WEB_TESTS, env=env, capture_output=True, text=True, timeout=300 * SLOW)
        print(proc.stdout)
        assert proc.returncode == 0, f"investigate_page.mjs failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        for name in ("investigate-ip.png", "investigate-transcript.png", "investigate-live.png"):
            data = (out / name).read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name
    finally:
        held.close()
        hostile.close()
