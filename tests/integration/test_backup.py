"""OPERATIONS "Backing up the session store": `sqlite3 sessions.db "VACUUM INTO 'FILE'"` while
the daemon runs and relays gives a consistent copy that `smtp-sensor report --store` reads; the
daemon goes on storing meanwhile; and a daemon started on the restored copy goes on from it."""
import json
import subprocess
import threading

from harness import SLOW, run_cli
from sensor_util import store_path, store_rows, wait_store_rows


def relay(sensor, sessions: int, messages: int) -> None:
    r = subprocess.run(["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(messages), "-l", "1024",
                        f"127.0.0.1:{sensor.port}"], capture_output=True, text=True, timeout=120 * SLOW)
    assert r.returncode == 0, r.stderr


def connections(store: str) -> int:
    """new_connections over the last week, from the report of the store at `store`."""
    r = run_cli(["report", "--store", store, "--tz", "UTC", "--format", "json"])
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    column = report["columns"].index("new_connections")
    return sum(row[column] for row in report["rows"])


def sqlite3_cli(*args: str) -> str:
    r = subprocess.run(["sqlite3", *args], capture_output=True, text=True, timeout=60 * SLOW)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_online_backup_and_restore(sensor_factory, sink_factory, tmp_path):
    sink = sink_factory()
    sensor = sensor_factory(sink.addr)
    relay(sensor, 5, 100)
    wait_store_rows(sensor, 100)

    # The backup runs while more sessions are relayed and stored.
    busy = threading.Thread(target=relay, args=(sensor, 5, 1000))
    busy.start()
    wait_store_rows(sensor, 150)
    backup = tmp_path / "backup.db"
    sqlite3_cli(store_path(sensor), f"VACUUM INTO '{backup}'")
    live_after = len(store_rows(sensor))
    busy.join()
    wait_store_rows(sensor, 1100)

    assert sqlite3_cli(str(backup), "PRAGMA integrity_check;").strip() == "ok"
    copied = connections(str(backup))
    assert 150 <= copied <= live_after, (copied, live_after)
    assert len(store_rows(sensor)) == 1100 and connections(store_path(sensor)) == 1100
    assert len(sink.wait_messages(1100)) == 1100
    sensor.stop()

    # Restore: the copy in place of the store (its -wal and -shm go with the old file).
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "sessions.db").write_bytes(backup.read_bytes())
    again = sensor_factory(sink.addr, config={"store": {"path": str(restored / "sessions.db")}})
    relay(again, 1, 10)
    wait_store_rows(again, copied + 10)
    again.stop()
    assert "upgrading" not in again.stderr_text()
    assert connections(str(restored / "sessions.db")) == copied + 10
    assert len(store_rows(again)) == copied + 10
