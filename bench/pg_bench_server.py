#!/usr/bin/python3
"""A throwaway PostgreSQL for relay_bench.sh --fleet: the test harness's PgServer
(tests/integration/pg_util.py: initdb and pg_ctl as the postgres user in a temp dir,
127.0.0.1 only, never the system's service).

  pg_bench_server.py start       prints "ROOT URL" and leaves the server running
  pg_bench_server.py stop ROOT   stops it and removes ROOT
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))
import pg_util  # noqa: E402


def main() -> int:
    if len(sys.argv) == 2 and sys.argv[1] == "start":
        reason = pg_util.unavailable_reason()
        if reason:
            print(f"no PostgreSQL for the fleet bench: {reason}", file=sys.stderr)
            return 2
        server = pg_util.PgServer()
        try:
            server.start()
        except BaseException:
            server.cleanup()
            raise
        print(server.root, server.url())
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "stop":
        server = pg_util.PgServer.__new__(pg_util.PgServer)
        server.root = Path(sys.argv[2])
        server.data = server.root / "data"
        server.running = True
        server.cleanup()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
