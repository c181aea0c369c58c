#!/usr/bin/python3
"""Fleet benchmark (SPEC 10): shipping rate into PostgreSQL and the fleet report's time.
Not a test: it prints figures for bench/README.md.

  sudo /usr/bin/python3 bench/fleet_bench.py [SESSIONS_PER_SENSOR] [SENSORS] [DAYS]
  defaults: 250,000 sessions x 4 sensors (1 M in all) over 30 days

Starts a real PostgreSQL 15 in a temp dir (tests/integration/pg_util.py; root needed,
never the system's service), builds one store per sensor with bench/report_store_gen,
ships each with bench/fleet_ship_bench (the daemon's Shipper), then times
`smtp-sensor report --fleet` for every step x mode over the whole range (UTC), and the
local report over one sensor's store for comparison. Binaries: build-release/ (or
SMTP_SENSOR_BIN, FLEET_SHIP_BENCH, REPORT_STORE_GEN). BEFORE_BIN: another smtp-sensor
(an older release, summing sessions only) timed on the same database, for before/after.
KEEP=1 leaves PostgreSQL running and the stores in place (it prints where), to profile.
"""
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
import pg_util  # noqa: E402

BUILD = REPO / "build-release"
SENSOR_BIN = os.environ.get("SMTP_SENSOR_BIN", str(BUILD / "daemon" / "smtp-sensor"))
SHIP = os.environ.get("FLEET_SHIP_BENCH", str(BUILD / "bench" / "fleet_ship_bench"))
GEN = os.environ.get("REPORT_STORE_GEN", str(BUILD / "bench" / "report_store_gen"))
BEFORE = os.environ.get("BEFORE_BIN", "")
KEEP = os.environ.get("KEEP", "") == "1"


def main() -> int:
    per = int(sys.argv[1]) if len(sys.argv) > 1 else 250_000
    sensors = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    days = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    reason = pg_util.unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-", dir="/tmp"))
    pg = pg_util.PgServer()
    try:
        pg.start()
        url = pg.url()
        subprocess.run([SENSOR_BIN, "fleet", "init", "--url", url], check=True)
        stores = [work / f"mx{i + 1}.db" for i in range(sensors)]
        # Two at a time (one per core). Fewer keys than the year-long report bench: one site's MX.
        for pair in range(0, sensors, 2):
            gens = [subprocess.Popen([GEN, str(store), str(per), "2000", "20000", "50000", str(days)],
                                     stdout=subprocess.DEVNULL) for store in stores[pair:pair + 2]]
            if any(g.wait() != 0 for g in gens):
                raise RuntimeError("report_store_gen failed")
        print(f"## shipping ({sensors} sensors x {per:,} sessions, one after another)")
        for i, store in enumerate(stores):
            r = subprocess.run([SHIP, str(store), url, f"mx{i + 1}"], capture_output=True, text=True, check=True)
            print(r.stdout.strip())
        size = pg.scalar("SELECT pg_size_pretty(pg_total_relation_size('sessions'))")
        print(f"fleet sessions table with indexes: {size} for {sensors * per:,} sessions")
        packs = pg.psql("SELECT pg_total_relation_size('packs'), pg_total_relation_size('packed'), "
                        "(SELECT count(*) FROM packs), (SELECT count(*) FROM packed)")[0]
        print(f"fleet packs: {int(packs[0]) / 1e6:.1f} MB in {int(packs[2]):,} rows ({int(packs[0]) / sensors / 1e6:.1f} MB "
              f"a sensor), packed: {int(packs[1]) / 1e6:.1f} MB in {int(packs[3]):,} rows")

        to = datetime.now(timezone.utc).date()
        frm = to - timedelta(days=days - 1)
        rng = ["--from", frm.isoformat(), "--to", to.isoformat(), "--tz", "UTC", "--format", "csv"]
        print(f"\n## report over {frm} .. {to} (UTC), seconds, CSV to a file")
        print("| step | mode | fleet (all sensors) | before | local (mx1) |")
        print("|---|---|---|---|---|")
        out = work / "out.csv"
        for step in ("hour", "day", "week", "month"):
            for mode in ("trend", "domain", "user", "ip", "sensor"):
                def timed(args, binary=SENSOR_BIN):
                    t0 = time.monotonic()
                    with open(out, "wb") as f:
                        subprocess.run([binary, "report", *args, "--step", step, "--mode", mode, *rng], stdout=f,
                                       check=True)
                    return time.monotonic() - t0
                fleet = timed(["--fleet", "--fleet-url", url])
                before = f"{timed(['--fleet', '--fleet-url', url], BEFORE):.2f}" if BEFORE else "-"
                local = "-" if mode == "sensor" else f"{timed(['--store', str(stores[0])]):.2f}"
                print(f"| {step} | {mode} | {fleet:.2f} | {before} | {local} |", flush=True)
        return 0
    finally:
        if KEEP:
            print(f"KEEP: PostgreSQL at {pg.url()} (data {pg.data}), stores in {work}", flush=True)
        else:
            pg.cleanup()
            subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
