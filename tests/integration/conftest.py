"""pytest fixtures for smtp-sensor integration tests.

Fixtures
- sensor_factory(upstream=..., listener={...}, config={...}, start=True) -> Sensor
  Every sensor is SIGTERMed at teardown and must exit 0 (a crash fails the test).
- sink_factory(**SmtpSink kwargs) -> started SmtpSink (Postfix smtp-sink)
- upstream_factory(Script or callable, host=...) -> started ScriptedServer
On failure, the stderr of every sensor the test started is attached to the report.
"""
from __future__ import annotations

import os
import resource
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import Sensor, SmtpSink  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402

# The daemon changes its log format under systemd (JOURNAL_STREAM) and talks to systemd
# (NOTIFY_SOCKET, WATCHDOG_*): a test runner that itself runs under systemd must not hand
# those on. Tests that want them set them explicitly (test_operations.py).
for _var in ("JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
    os.environ.pop(_var, None)

# 1,000 concurrent sessions need ~1,000 fds here and ~2,000 in the daemon (inherited).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_want = 16384 if _hard == resource.RLIM_INFINITY else min(_hard, 16384)
if _soft < _want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))


def _need_binary() -> None:
    path = harness.sensor_binary()
    if os.path.exists(path):
        return
    if os.environ.get("SMTP_SENSOR_BIN"):
        pytest.fail(f"SMTP_SENSOR_BIN={path} does not exist")
    pytest.skip(f"smtp-sensor binary not built ({path}); set SMTP_SENSOR_BIN")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
    if rep.failed:
        for s in getattr(item, "_sensors", []):
            rep.sections.append((f"smtp-sensor {s.name} stderr", s.stderr_tail(150)))
            rep.sections.append((f"smtp-sensor {s.name} config", s.config_path.read_text()
                                 if s.config_path.exists() else "(not written)"))


@pytest.fixture
def sensor_factory(request, tmp_path):
    sensors: list[Sensor] = []
    request.node._sensors = sensors

    def make(upstream: str | None = None, *, start: bool = True, **kw) -> Sensor:
        _need_binary()
        s = Sensor(tmp_path / f"sensor{len(sensors)}", upstream, name=f"sensor{len(sensors)}", **kw)
        sensors.append(s)
        if start:
            s.start()
        return s

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    errors = []
    for s in sensors:
        if s.proc is None or s.returncode is not None:
            continue
        if failed:
            s.kill()
            continue
        try:
            s.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("smtp-sensor did not shut down cleanly at teardown:\n" + "\n".join(errors))


@pytest.fixture
def sink_factory():
    sinks: list[SmtpSink] = []

    def make(**kw) -> SmtpSink:
        s = SmtpSink(**kw).start()
        sinks.append(s)
        return s

    yield make
    for s in sinks:
        s.cleanup()


@pytest.fixture
def upstream_factory():
    servers: list[ScriptedServer] = []

    def make(script=None, **kw) -> ScriptedServer:
        srv = ScriptedServer(script, **kw).start()
        servers.append(srv)
        return srv

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def pg_server():
    """A started real PostgreSQL (tests/integration/pg_util.py), stopped and removed at the
    end, also when the test fails; skips with the reason when it cannot run here."""
    import pg_util
    reason = pg_util.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = pg_util.PgServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
