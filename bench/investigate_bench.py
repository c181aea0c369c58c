#!/usr/bin/env python3
"""Times GET /sessions/history and GET /transcript (SPEC section 13) on a large store and
a large rotated transcript. Prints figures; asserts nothing.

  bench/investigate_bench.py STORE.db [transcript_mb_per_file] [files]

STORE.db comes from bench/report_store_gen (10 M sessions by default, ~2 min). The script
writes `files` transcript files (default 10 x 100 MB = 1 GB) of synthetic lines beside the
store, plants three sessions (in the oldest, a middle and the newest file), points their
rows at their positions (file inode, offset: what the daemon stores), starts the daemon
on the store read-mostly (no listener traffic) and times each query 20 times.
"""
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = os.environ.get("SMTP_SENSOR_BIN", "build-release/daemon/smtp-sensor")
RUNS = 20


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def name(base: Path, i: int) -> Path:
    return base if i == 0 else base.with_name(f"{base.stem}.{i}{base.suffix}")


def line(lcid, text, sec=0):
    return f"2026-11-23 07:{sec // 60 % 60:02}:{sec % 60:02},439 - [{lcid:>10}] {text}\n"


def write_transcripts(base: Path, mb: int, files: int, planted: dict):
    """Each file holds mb MB of other sessions; a planted session starts a third of the way
    in and its lines are spread over the next ~1 MB, as a busy server interleaves them."""
    filler = "".join(line(9_000_000_000 + i, f"C --> RCPT TO:<user{i}@example.org>", i) for i in range(2000)).encode()
    where = {}
    for i in range(files - 1, -1, -1):  # oldest first, as they were written
        p = name(base, i)
        with open(p, "wb") as f:
            target = mb << 20
            plant = planted.get(i)
            written = 0
            while written < target:
                if plant and written >= target // 3 and plant not in where:
                    where[plant] = (os.fstat(f.fileno()).st_ino, written)
                    chunk = line(plant, "************ New connection from: 192.0.2.7:40000 to smtp (upstream 127.0.0.1:25)").encode()
                    for n, t in enumerate(["C --> helo fxdce", "S <-- 250 hello", "C --> auth login",
                                           "S <-- 500 Syntax error, command unrecognized."]):
                        chunk += filler[: 256 << 10] * 1 if n else b""
                        chunk += line(plant, t).encode()
                    chunk += filler[: 256 << 10]
                    chunk += line(plant, "~~~~~~~~~~~~ Connection Terminated (client_abort) without a graceful QUIT.").encode()
                    f.write(chunk)
                    written += len(chunk)
                f.write(filler)
                written += len(filler)
    return where


def timed(url):
    out = []
    status = None
    size = 0
    for _ in range(RUNS):
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            body = e.read()
            status = e.code
        out.append((time.perf_counter() - t0) * 1000)
        size = len(body)
    out.sort()
    return status, size, statistics.median(out), out[int(len(out) * 0.95) - 1]


def main():
    store = Path(sys.argv[1]).resolve()
    mb = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    files = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    work = Path(tempfile.mkdtemp(prefix="investigate-bench-", dir=store.parent))
    base = work / "transcript.log"
    db = sqlite3.connect(store)
    n = db.execute("SELECT max(rowid) FROM sessions").fetchone()[0]
    planted_rows = {files - 1: n // 10, files // 2: n // 2, 0: n - 5}
    planted = {}
    for gen, rowid in planted_rows.items():
        planted[gen] = db.execute("SELECT lcid FROM sessions WHERE rowid = ?", (rowid,)).fetchone()[0]
    t0 = time.time()
    where = write_transcripts(base, mb, files, planted)
    print(f"transcript: {files} files x {mb} MB written in {time.time() - t0:.1f} s")
    for gen, lcid in planted.items():
        ino, off = where[lcid]
        db.execute("UPDATE sessions SET transcript_file = ?, transcript_offset = ? WHERE lcid = ?", (ino, off, lcid))
    db.commit()
    busy_ip = db.execute("SELECT client_ip, count(*) c FROM (SELECT client_ip FROM sessions WHERE rowid % 100 = 0) "
                         "GROUP BY 1 ORDER BY c DESC LIMIT 1").fetchone()[0]
    rare_ip = db.execute("SELECT client_ip FROM sessions WHERE rowid = ?", (n // 3,)).fetchone()[0]
    user = db.execute("SELECT auth_user FROM sessions WHERE auth_user != '' AND rowid > ? LIMIT 1", (n // 2,)).fetchone()[0]
    domain = db.execute("SELECT domain FROM sessions WHERE domain != '' AND rowid > ? LIMIT 1", (n // 2,)).fetchone()[0]
    day = db.execute("SELECT start_ms FROM sessions WHERE rowid = ?", (n // 2,)).fetchone()[0]
    db.close()

    http = free_port()
    cfg = work / "bench.yaml"
    cfg.write_text(json.dumps({
        "listeners": [{"name": "smtp", "listen": f"127.0.0.1:{free_port()}", "upstream": "127.0.0.1:9"}],
        "http": {"listen": f"127.0.0.1:{http}"},
        "transcripts": {"enabled": True, "path": str(base), "max_size": f"{mb * 2}MiB", "max_files": files},
        "alerts": {"path": str(work / "alerts.jsonl")},
        "store": {"enabled": True, "path": str(store)},
    }))
    proc = subprocess.Popen([BIN, "run", "-c", str(cfg)], stderr=open(work / "stderr", "wb"))
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        root = f"http://127.0.0.1:{http}"
        print(f"store: {n:,} sessions ({store.stat().st_size / 2**30:.1f} GiB); {RUNS} runs each, milliseconds")
        print(f"{'query':70} {'status':>6} {'bytes':>9} {'median':>8} {'p95':>8}")
        queries = [
            f"/sessions/history?ip={busy_ip}",
            f"/sessions/history?ip={busy_ip}&limit=1000",
            f"/sessions/history?ip={rare_ip}",
            f"/sessions/history?user={user}",
            f"/sessions/history?domain={domain}",
            f"/sessions/history?from={day}&to={day + 3600000}",
            "/sessions/history",
            f"/sessions/history?ip={busy_ip}&from={day}&to={day + 86400000}",
        ] + [f"/transcript?lcid={lcid}" for lcid in planted.values()] + ["/transcript?lcid=1"]
        for q in queries:
            status, size, med, p95 = timed(root + q)
            label = q
            for gen, lcid in planted.items():
                label = label.replace(f"lcid={lcid}", f"lcid={lcid} (file .{gen})")
            print(f"{label[:70]:70} {status:>6} {size:>9} {med:>8.1f} {p95:>8.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for i in range(files + 1):
            name(base, i).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
