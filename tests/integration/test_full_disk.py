"""A full disk under the transcripts, the alert log and the store (SPEC 9, "Sinks"): the
relay goes on byte for byte, every transcript chunk, alert and session row the disk refuses
is counted in smtp_sensor_events_dropped_total, the daemon log says so once per sink, and
once more when space comes back; no half-written transcript line is left behind."""
import errno
import hashlib
import os
import re
import subprocess
import time

import pytest

from harness import SmtpConn, wait_until
from sensor_util import store_rows, wait_store_rows
from test_detectors_flags import wait_log
from test_reliability import cpu_seconds

LINE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - \[ *\d+\] ")


@pytest.fixture
def small_disk(tmp_path):
    """A 32 MiB tmpfs of the test's own, unmounted at the end, also when the test fails."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0755", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path) -> None:
    """Writes zeros into `path` until the file system has no block left."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                chunk = chunk[: len(chunk) // 2]
                if not chunk:
                    return


def _send(port: int, body: bytes, helo: str) -> None:
    c = SmtpConn.open(port)
    c.expect(None, 220)
    c.expect(f"EHLO {helo}", 250)
    assert c.transaction(body)[:3] == b"250"
    c.expect("QUIT", 221)
    c.close()


def test_a_full_disk_drops_and_counts_sink_output_and_the_relay_goes_on(small_disk, sensor_factory, sink_factory):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr, config={
        "allow": [],  # loopback raises alerts here
        "transcripts": {"enabled": True, "path": str(small_disk / "transcript.log")},
        "alerts": {"path": str(small_disk / "alerts.jsonl")},
        "store": {"path": str(small_disk / "sessions.db")},
        "detectors": {"non_smtp": {"enabled": True}},
    })
    bodies = [b"Subject: m%d\r\n\r\n" % i + bytes(range(32, 127)) * 200 + b"\r\n" for i in range(6)]
    _send(sensor.port, bodies[0], "before.test")
    wait_store_rows(sensor, 1)

    _fill(small_disk / "filler")
    logged = len(sensor.stderr_text())
    for i in (1, 2, 3):
        _send(sensor.port, bodies[i], f"full{i}.test")
    probe = SmtpConn.open(sensor.port)  # an HTTP request on the SMTP port: a non_smtp alert
    probe.expect(None, 220)
    probe.send(b"GET / HTTP/1.1\r\n")
    probe.close()

    for name in ("transcript", "store", "alerts"):
        sensor.wait_metric("smtp_sensor_events_dropped_total", lambda v: v > 0, {"sink": name}, timeout=10)
    wait_log(sensor, "transcripts: cannot write to", logged, timeout=10)
    wait_log(sensor, "store: cannot write to", logged, timeout=10)
    log = sensor.stderr_text()[logged:]
    assert log.count("transcripts: cannot write to") == 1, log
    assert log.count("store: cannot write to") == 1, log
    assert "No space left on device" in log and "database or disk is full" in log, log
    assert len(store_rows(sensor)) == 1  # the three sessions of the full disk are not there
    # Nothing spins on the full disk: the writers retry only when there is something new.
    before = cpu_seconds(sensor.pid)
    time.sleep(2)
    used = cpu_seconds(sensor.pid) - before
    assert used < 0.3, f"the daemon used {used:.2f} s of CPU in 2 s with the disk full"

    # Space again: writing resumes, and says so.
    (small_disk / "filler").unlink()
    logged = len(sensor.stderr_text())
    for i in (4, 5):
        _send(sensor.port, bodies[i], f"after{i}.test")
    rows = wait_store_rows(sensor, 3)
    assert [r["helo"] for r in rows] == ["before.test", "after4.test", "after5.test"]
    wait_log(sensor, "transcripts: writing to", logged, timeout=10)
    wait_log(sensor, "store: writing to", logged, timeout=10)

    # Every message reached the upstream unchanged, the full disk's too.
    got = sorted(hashlib.sha256(sink.parse(m).body.replace(b"\n", b"\r\n")).hexdigest()
                 for m in sink.wait_messages(6))
    assert got == sorted(hashlib.sha256(b).hexdigest() for b in bodies)

    # The transcript holds whole lines only: a chunk the disk cut short was taken back.
    def after_lines():
        text = (small_disk / "transcript.log").read_bytes()
        return text if b"after5.test" in text else None
    text = wait_until(after_lines, 10, what="the last session in the transcript")
    assert text.endswith(b"\n")
    bad = [ln for ln in text.split(b"\n")[:-1] if not LINE.match(ln)]
    assert not bad, bad[:3]
    assert b"full1.test" not in text
    assert sensor.alive()
