"""A real PostgreSQL server for the fleet tests (SPEC 10), started in a temp dir.

PgServer(tmp_path, password=None).start(): initdb + pg_ctl as the `postgres` user (the
server refuses to run as root), listening on 127.0.0.1:PORT and a Unix socket in its own
directory; never the system's postgresql service. With a password, the superuser
`postgres` needs it (scram-sha-256 over TCP). url(user, dbname) builds a libpq URI;
psql(sql) runs SQL through /usr/bin/psql and returns the rows as lists of strings;
stop() (pg_ctl stop -m fast) and start() again simulate an outage; cleanup() stops and
removes the directory. The `pg_server` fixture (conftest.py) cleans up also on failure,
and skips with the reason when not root or the binaries are missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PSQL = "/usr/bin/psql"


def unavailable_reason() -> str | None:
    """Why a real PostgreSQL cannot be started here, or None."""
    if os.geteuid() != 0:
        return "needs root (initdb and pg_ctl run as the postgres user through runuser)"
    for tool in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / tool).exists():
            return f"PostgreSQL 15 server binaries not installed ({PG_BIN / tool}; apt-get install postgresql)"
    if not os.path.exists(PSQL):
        return "psql not installed (apt-get install postgresql-client)"
    try:
        import pwd
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user (apt-get install postgresql)"
    return None


class PgServer:
    def __init__(self, tmpdir: Path | None = None, password: str | None = None):
        # The data dir must be reachable by postgres: pytest's tmp_path under /tmp/pytest-of-root
        # is mode 0700, so the server gets a directory of its own under /tmp.
        self.root = Path(tempfile.mkdtemp(prefix="smtp-sensor-pg-"))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.port = free_port()
        self.password = password
        self.running = False

    def _as_postgres(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, **kw)

    def init(self) -> "PgServer":
        self.sock.mkdir()
        shutil.chown(self.root, "postgres", "postgres")
        shutil.chown(self.sock, "postgres", "postgres")
        args = [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--no-sync", "-E", "UTF8"]
        if self.password:
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n")
            shutil.chown(pwfile, "postgres", "postgres")
            # Unix socket trusted (psql for the test's own checks), TCP needs the password.
            args += ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        else:
            args += ["-A", "trust"]
        r = self._as_postgres(args, timeout=120)
        assert r.returncode == 0, f"initdb failed:\n{r.stdout}\n{r.stderr}"
        return self

    def start(self) -> "PgServer":
        if not self.data.exists():
            self.init()
        opts = f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        r = self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts,
                               "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"], timeout=90)
        assert r.returncode == 0, f"pg_ctl start failed:\n{r.stdout}\n{r.stderr}\n{self.log_tail()}"
        self.running = True
        return self

    def stop(self) -> None:
        if not self.running:
            return
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop"],
                          timeout=90)
        self.running = False

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def url(self, user: str = "postgres", dbname: str = "postgres", password: str | None = None, **params) -> str:
        auth = user + (f":{password}" if password else "")
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}" + (f"?{q}" if q else "")

    def psql(self, sql: str, dbname: str = "postgres", user: str = "postgres") -> list[list[str]]:
        """Runs sql over the Unix socket (trusted); the rows, each a list of text cells."""
        r = subprocess.run([PSQL, "-h", str(self.sock), "-p", str(self.port), "-U", user, "-d", dbname,
                            "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines() if line != ""]

    def scalar(self, sql: str, **kw) -> str:
        rows = self.psql(sql, **kw)
        return rows[0][0] if rows else ""


# The two roles of docs/OPERATIONS.md ("Fleet"), as an operator creates them once the
# database owner has run `smtp-sensor fleet init`: a writer for the sensors (no DDL) and a
# reader for reports. Kept word for word with the documentation.
ROLES_SQL = """
CREATE ROLE smtp_sensor_writer LOGIN;
GRANT CONNECT, TEMPORARY ON DATABASE {db} TO smtp_sensor_writer;
GRANT USAGE ON SCHEMA public TO smtp_sensor_writer;
GRANT SELECT ON schema_version TO smtp_sensor_writer;
GRANT SELECT, INSERT ON sessions TO smtp_sensor_writer;
GRANT SELECT, INSERT, DELETE ON packs, packed TO smtp_sensor_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON shared_flags, shared_events TO smtp_sensor_writer;
GRANT USAGE ON SEQUENCE shared_flags_seq, shared_events_id_seq TO smtp_sensor_writer;
CREATE ROLE smtp_sensor_reader LOGIN;
GRANT CONNECT ON DATABASE {db} TO smtp_sensor_reader;
GRANT USAGE ON SCHEMA public TO smtp_sensor_reader;
GRANT SELECT ON schema_version, sessions, packs, packed TO smtp_sensor_reader;
"""


def create_roles(pg: PgServer, db: str = "postgres") -> None:
    pg.psql(ROLES_SQL.format(db=db), dbname=db)
