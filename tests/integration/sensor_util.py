"""Helpers for the sensor-layer tests (test_sensor_*.py): transcript, store and metric
snapshots of a running smtp-sensor started through the harness.

- SENSOR_CONFIG / sensor_config(**over): config overrides that turn the transcript on
  (the harness default is off) and keep the store on; paths stay in the test's tmp dir.
- Transcript(sensor): parsed transcript lines (ts, lcid, text); lines_for(lcid),
  wait_for(pred), lcid_of(text fragment), wait_lines(lcid, pred).
- store_rows(sensor, where, args) / wait_store_rows(...): rows of the `sessions` table as dicts.
- Snapshot(sensor): all metric samples at one moment; delta(name, **labels) against now.
- sessions(sensor): GET /sessions parsed.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from pathlib import Path

from harness import SLOW, deep_merge, parse_metrics

TRANSCRIPT_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - \[( *\d+)\] (.*)$")

SENSOR_CONFIG = {
    "transcripts": {"enabled": True, "max_size": "100MiB", "max_files": 3, "message_data": False},
    "store": {"enabled": True},
}


def sensor_config(**over) -> dict:
    return deep_merge(SENSOR_CONFIG, over)


class TranscriptLine:
    __slots__ = ("ts", "lcid", "lcid_field", "text", "raw")

    def __init__(self, raw: str):
        m = TRANSCRIPT_RE.match(raw)
        if not m:
            raise AssertionError(f"transcript line does not match the Xeams layout: {raw!r}")
        self.raw = raw
        self.ts = m.group(1)
        self.lcid_field = m.group(2)
        self.lcid = int(m.group(2))
        self.text = m.group(3)

    def __repr__(self) -> str:
        return repr(self.raw)


class Transcript:
    def __init__(self, sensor):
        self.path = Path(sensor.config["transcripts"]["path"])

    def raw(self) -> str:
        """Complete lines only (a line being written has no newline yet)."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return text[:text.rfind("\n") + 1]

    def raw_bytes(self) -> bytes:
        """The current file plus rotated ones (for 'never contains' checks)."""
        out = b""
        for p in sorted(self.path.parent.glob(self.path.name + "*")) + sorted(
                self.path.parent.glob(self.path.stem + ".*" + self.path.suffix)):
            try:
                out += p.read_bytes()
            except FileNotFoundError:
                pass
        return out

    def lines(self) -> list[TranscriptLine]:
        return [TranscriptLine(l) for l in self.raw().split("\n") if l]  # LF only: CR is data

    def lines_for(self, lcid: int) -> list[TranscriptLine]:
        """What `grep '\\[ *LCID\\]'` shows: one whole session."""
        rx = re.compile(r"\[\s*%d\]" % lcid)
        return [TranscriptLine(l) for l in self.raw().split("\n") if rx.search(l)]

    def texts_for(self, lcid: int) -> list[str]:
        return [l.text for l in self.lines_for(lcid)]

    def wait_for(self, pred, timeout: float = 5.0, what: str = "transcript condition"):
        deadline = time.monotonic() + timeout * SLOW
        while True:
            lines = self.lines()
            v = pred(lines)
            if v:
                return v
            if time.monotonic() > deadline:
                tail = "\n".join(l.raw for l in lines[-30:])
                raise AssertionError(f"timed out waiting for {what}; transcript tail:\n{tail}")
            time.sleep(0.05)

    def lcid_of(self, fragment: str, timeout: float = 5.0) -> int:
        """LCID of the 'New connection' line containing fragment (e.g. '127.0.0.9:51234 ')."""
        def find(lines):
            hits = [l.lcid for l in lines if l.text.startswith("************ New connection from: ")
                    and fragment in l.text]
            return hits
        hits = self.wait_for(find, timeout, what=f"New connection line with {fragment!r}")
        assert len(hits) == 1, f"{len(hits)} New connection lines contain {fragment!r}"
        return hits[0]

    def wait_closed_line(self, lcid: int, timeout: float = 5.0) -> list[str]:
        """Wait until the session's closing line is on disk; returns the session's texts."""
        def done(_lines):
            t = self.texts_for(lcid)
            return t if t and t[-1].startswith(("~~~~~~~~~~~~ Connection closed", "~~~~~~~~~~~~ Connection Terminated")) else None
        return self.wait_for(done, timeout, what=f"closing line of LCID {lcid}")


def new_connection_text(client_ip: str, client_port: int, listener: str, upstream: str) -> str:
    return f"************ New connection from: {client_ip}:{client_port} to {listener} (upstream {upstream})"


# --------------------------------------------------------------------------- store

def store_path(sensor) -> str:
    return sensor.config["store"]["path"]


def store_rows(sensor, where: str = "1", args: tuple = ()) -> list[dict]:
    path = store_path(sensor)
    if not os.path.exists(path):
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(f"SELECT * FROM sessions WHERE {where} ORDER BY start_ms, lcid", args)]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e) or "locked" in str(e):
                return []
            raise
    finally:
        db.close()


def wait_store_rows(sensor, n: int, where: str = "1", args: tuple = (), timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout * SLOW
    while True:
        rows = store_rows(sensor, where, args)
        if len(rows) >= n:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"store has {len(rows)} rows WHERE {where} {args}, expected {n}")
        time.sleep(0.1)


def store_columns(sensor) -> list[str]:
    db = sqlite3.connect(f"file:{store_path(sensor)}?mode=ro", uri=True, timeout=5)
    try:
        return [r[1] for r in db.execute("PRAGMA table_info(sessions)")]
    finally:
        db.close()


# --------------------------------------------------------------------------- metrics

class Snapshot:
    """Metric samples at one moment; delta() compares a counter with its value now."""

    def __init__(self, sensor):
        self.sensor = sensor
        self.samples = sensor.metrics()

    @staticmethod
    def _sum(samples, name: str, labels: dict) -> float:
        return sum(v for n, l, v in samples if n == name and all(l.get(k) == v2 for k, v2 in labels.items()))

    def value(self, name: str, **labels) -> float:
        return self._sum(self.samples, name, labels)

    def delta(self, name: str, **labels) -> float:
        return self._sum(self.sensor.metrics(), name, labels) - self.value(name, **labels)

    def wait_delta(self, name: str, expect: float, timeout: float = 5.0, **labels) -> float:
        deadline = time.monotonic() + timeout * SLOW
        while True:
            d = self.delta(name, **labels)
            if d == expect:
                return d
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}{labels} rose by {d}, expected {expect}")
            time.sleep(0.05)


def sessions(sensor) -> list[dict]:
    status, body = sensor.http_get("/sessions")
    assert status == 200, f"/sessions returned {status}: {body[:200]}"
    data = json.loads(body)
    assert isinstance(data, list), body[:200]
    return data


def thread_names(pid: int) -> list[str]:
    """The names of the sensor's threads, sorted (each sets its own as it starts)."""
    return sorted((t / "comm").read_text().strip() for t in Path(f"/proc/{pid}/task").iterdir())


def thread_switches(pid: int, thread: str) -> tuple[int, int]:
    """Voluntary and involuntary context switches so far of the sensor's thread named `thread`
    (OPERATIONS.md "Threads"): a voluntary one each time it sleeps, in epoll say, and is woken."""
    for t in Path(f"/proc/{pid}/task").iterdir():
        if (t / "comm").read_text().strip() == thread:
            status = (t / "status").read_text()
            return tuple(int(re.search(rf"^{kind}_ctxt_switches:\s+(\d+)", status, re.M).group(1))
                         for kind in ("voluntary", "nonvoluntary"))
    raise AssertionError(f"no thread {thread}")


def wait_sessions_idle(sensor, timeout: float = 5.0) -> None:
    """Until /sessions is empty and connections_active is 0 (all sessions fully ended)."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        if not sessions(sensor) and sensor.counter("smtp_sensor_connections_active") == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"sessions still live: {sessions(sensor)}")
        time.sleep(0.05)
