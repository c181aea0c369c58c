"""Issue 23, the daemon under systemd: the journal's priority prefixes, the first log
line, the session store's upgrade lines, `--help` on the subcommands, and the sd_notify
protocol (READY=1 with STATUS=, WATCHDOG=1 while every I/O thread answers).

systemd is imitated by its environment: JOURNAL_STREAM for the journal, and for
sd_notify a Unix datagram socket the test binds, named by NOTIFY_SOCKET, with
WATCHDOG_USEC and WATCHDOG_PID as a unit with WatchdogSec= sets them.
"""
from __future__ import annotations

import re
import shutil
import socket
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest

from harness import SLOW, free_port, hostport, run_cli, run_on_a_busy_port, wait_until
from sensor_util import thread_names

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[(trace|debug|info|warning|error|critical)\] \S")
JOURNAL_LINE = re.compile(r"^<[0-7]>\S")


def _first_line_ok(line: str, sensor) -> None:
    listen = sensor.config["listeners"][0]["listen"]
    upstream = sensor.config["listeners"][0]["upstream"]
    assert f"smtp-sensor " in line and " starting: config " in line, line
    assert f"config {sensor.config_path}," in line, line
    assert f"listeners smtp={listen}->{upstream}" in line, line


def test_plain_log_format_outside_systemd(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr)
    sensor.stop()
    lines = sensor.stderr_text().splitlines()
    assert lines, "no log output"
    for line in lines:
        assert PLAIN_LINE.match(line), f"not today's format: {line!r}"
    assert "[info] smtp-sensor " in lines[0]
    _first_line_ok(lines[0], sensor)
    # A fresh store is created, not upgraded.
    assert "upgrading" not in sensor.stderr_text()


def test_journal_lines_carry_priority_and_no_timestamp(sensor_factory, sink_factory):
    sensor = sensor_factory(sink_factory().addr, env={"JOURNAL_STREAM": "8:1234"})
    sensor.stop()
    lines = sensor.stderr_text().splitlines()
    assert lines, "no log output"
    for line in lines:
        assert JOURNAL_LINE.match(line), f"no priority prefix: {line!r}"
        assert not TIMESTAMP.search(line), f"a timestamp of its own under the journal: {line!r}"
        assert "[info]" not in line
    assert lines[0].startswith("<6>smtp-sensor "), lines[0]
    _first_line_ok(lines[0], sensor)
    assert any(l.startswith("<6>stopped") for l in lines), lines


def test_journal_errors_are_priority_3(tmp_path):
    """A listener that cannot bind is an error in the journal (`journalctl -p err` shows
    it), and so is every line of a rejected config."""
    r, _ = run_on_a_busy_port(tmp_path, env={"JOURNAL_STREAM": "8:1234"})
    assert r.returncode == 1
    err = r.stderr.splitlines()
    assert any(l.startswith("<3>") and "cannot listen" in l for l in err), r.stderr
    for line in err:
        assert JOURNAL_LINE.match(line) and not TIMESTAMP.search(line), line

    bad = tmp_path / "bad.yaml"
    bad.write_text("listeners: []\nthreads: many\n")
    r = run_cli(["run", "-c", str(bad)], env={"JOURNAL_STREAM": "8:1234"})
    assert r.returncode == 1 and r.stderr.strip(), r
    for line in r.stderr.splitlines():
        assert line.startswith("<3>"), line
    r = run_cli(["run", "-c", str(bad)])
    assert r.returncode == 1 and not r.stderr.startswith("<"), r.stderr


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_subcommand_help(command):
    r = run_cli([command, "--help"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:") and "SMTP_SENSOR_LOG_LEVEL" in r.stdout, r.stdout
    r = run_cli([command, "-c", "/nonexistent.yaml", "-h"])
    assert r.returncode == 0 and r.stdout.startswith("usage:")


def test_store_upgrade_is_announced_with_a_done_line(sensor_factory, sink_factory, tmp_path):
    """A store of schema 2 (an older release's) is upgraded at start, and the log says so."""
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as c:
        c.executescript("""
          CREATE TABLE sessions (lcid INTEGER NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER NOT NULL,
            listener TEXT NOT NULL, client_ip TEXT NOT NULL, client_port INTEGER NOT NULL, upstream TEXT NOT NULL,
            helo TEXT NOT NULL, tls INTEGER NOT NULL, auth_user TEXT NOT NULL, auth_result TEXT NOT NULL,
            domain TEXT NOT NULL, messages INTEGER NOT NULL, recipients INTEGER NOT NULL, commands INTEGER NOT NULL,
            bad_commands INTEGER NOT NULL, permanent_failures INTEGER NOT NULL, termination TEXT NOT NULL,
            blocked INTEGER NOT NULL, bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL,
            tls_version TEXT NOT NULL DEFAULT '', tls_cipher TEXT NOT NULL DEFAULT '');
          CREATE INDEX sessions_start ON sessions(start_ms);
          CREATE INDEX sessions_lcid ON sessions(lcid);
          INSERT INTO sessions VALUES (1, 1767225600000, 1767225601000, 'smtp', '192.0.2.1', 40000, '127.0.0.1:25',
            'h', 0, '', '', 'example.org', 1, 1, 5, 0, 0, 'quit', 0, 100, 200, '', '');
          PRAGMA user_version = 2;""")
    sensor = sensor_factory(sink_factory().addr, config={"store": {"path": str(db)}})
    sensor.stop()
    text = sensor.stderr_text()
    assert f"upgrading the session store {db}" in text, text
    assert re.search(r"upgrading the session store: done in \d+\.\d s", text), text
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] >= 4


class NotifySocket:
    """The receiving end of sd_notify(3): what systemd's manager would read."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sdn-", dir="/tmp"))  # sun_path is short
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def received(self, text: str) -> list[float]:
        return [t for t, m in self.messages if text in m.split("\n")]

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify_socket():
    n = NotifySocket()
    yield n
    n.close()


def test_ready_status_and_watchdog_pings(sensor_factory, sink_factory, notify_socket):
    # WATCHDOG_PID is the daemon's own pid, as systemd sets it: the shell execs the daemon.
    sensor = sensor_factory(sink_factory().addr,
                            env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000"},
                            argv_prefix=["/bin/sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"'])
    notify_socket.drain(2.5 * SLOW)
    ready = [m for _t, m in notify_socket.messages if "READY=1" in m.split("\n")]
    assert ready, notify_socket.messages
    assert "STATUS=serving 1 listener" in ready[0].split("\n"), ready[0]
    pings = notify_socket.received("WATCHDOG=1")
    # One every 200 ms (half of WATCHDOG_USEC); allow for a slow machine.
    assert len(pings) >= 5, notify_socket.messages
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    assert max(gaps) < 0.4 * SLOW + 0.2, gaps
    assert "systemd watchdog: checking 2 I/O threads every 200 ms" in sensor.stderr_text()
    sensor.stop()
    notify_socket.drain(0.3)
    assert notify_socket.received("STOPPING=1"), notify_socket.messages


def test_no_watchdog_for_another_pid(sensor_factory, sink_factory, notify_socket):
    """WATCHDOG_PID naming another process (a variable inherited by accident) turns the
    pings off, as sd_watchdog_enabled(3) says; READY=1 still goes out."""
    sensor = sensor_factory(sink_factory().addr,
                            env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "400000",
                                 "WATCHDOG_PID": "1"})
    notify_socket.drain(1.0 * SLOW)
    assert any("READY=1" in m for _t, m in notify_socket.messages), notify_socket.messages
    assert not notify_socket.received("WATCHDOG=1"), notify_socket.messages
    assert "systemd watchdog" not in sensor.stderr_text()


def test_threads_are_named_for_top_and_perf(sensor_factory, sink_factory):
    """`top -H`, `ps -L` and perf show what each thread is for (OPERATIONS.md "Threads")."""
    sensor = sensor_factory(sink_factory().addr, config={"threads": 3, "transcripts": {"enabled": True}})
    # The single-thread pools name themselves in a first task, and each I/O thread as it
    # starts: give them a moment (CI stop 29 read the names before io-0 had set its own).
    wait_until(lambda: {"flags", "auth", "reports", "io-0", "io-1", "io-2"} <= set(thread_names(sensor.pid)), 5, what="the threads named")
    got = thread_names(sensor.pid)
    for expected in ("io-0", "io-1", "io-2", "transcripts", "store", "alerts", "flags", "auth", "reports"):
        assert got.count(expected) == 1, (expected, got)
    assert "io-3" not in got
    assert got.count("smtp-sensor") == 1, got  # the control thread keeps the process's name
