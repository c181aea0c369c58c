"""Integration-test harness for smtp-sensor: start the real daemon and real peers.

Everything here is synchronous and thread-friendly, so tests can drive plain sockets
while the scripted upstream (scripted_server.py) runs its own asyncio loop in a thread.

Main pieces
- free_port(), wait_listening(): ports and readiness without opening a connection
  (readiness is read from /proc/net/tcp{,6}, so probing never creates a session).
- Sensor: writes a temporary YAML config, runs `smtp-sensor run -c FILE`, waits until
  every listener and the HTTP endpoint listen, and offers metrics(), metric(),
  counter(), healthz(), rss_kib(), stop() (SIGTERM, asserts exit 0).
- SmtpSink: wraps Postfix's /usr/sbin/smtp-sink with per-message dump files.
- Re-exported from smtp_client.py: connect() (optionally from a chosen source address
  such as 127.0.0.2), recv_until(), recv_all(), SmtpConn, dot_stuff(),
  random_text_message(), SLOW; and from proxy_protocol.py: proxy_v1()/proxy_v2()
  builders and parse_proxy_header().
"""
from __future__ import annotations

import copy
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

# Re-exported so tests can import everything from harness.
from proxy_protocol import (PROXY_V2_SIG, ProxyHeader, ProxyParseError,  # noqa: F401
                            parse_proxy_header, proxy_v1, proxy_v2)
from smtp_client import (REPLY_END, SANITIZED, SLOW, SmtpConn, connect, dot_stuff,  # noqa: F401
                         random_fragments, random_text_message, read_reply, readable, recv_all,
                         recv_until, rst_close, send_fragmented, sha, smtp_cmd, wait_closed, wait_until)

REPO_ROOT = Path(__file__).resolve().parents[2]
SMTP_SINK = "/usr/sbin/smtp-sink"


def sensor_binary() -> str:
    """Path of the daemon under test: $SMTP_SENSOR_BIN, else the default build dir."""
    path = os.environ.get("SMTP_SENSOR_BIN") or str(REPO_ROOT / "build" / "daemon" / "smtp-sensor")
    return path


# --------------------------------------------------------------------------- ports

_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on host (bound then released), and not handed out
    before in this process: the kernel may offer a just-released port again, and two
    ports picked for one config (a listener and http.listen) must differ."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def _listening_ports() -> set[int]:
    ports: set[int] = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A":  # TCP_LISTEN
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            pass
    return ports


def is_listening(port: int) -> bool:
    return port in _listening_ports()


def wait_listening(ports: Iterable[int], timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until every port is in LISTEN state (without connecting to it)."""
    ports = list(ports)
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {ports}")
        listening = _listening_ports()
        if all(p in listening for p in ports):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"ports {[p for p in ports if p not in listening]} not listening after {timeout}s")
        time.sleep(0.02)


def split_hostport(hp: str) -> tuple[str, int]:
    """'127.0.0.1:25' or '[::1]:25' -> (host, port)."""
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:]+):(\d+)", hp)
    if not m:
        raise ValueError(hp)
    return (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), int(m.group(4)))


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# --------------------------------------------------------------------------- metrics

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Prometheus text exposition -> [(name, labels, value)]."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ValueError(f"unparseable metrics line: {line!r}")
        labels = {k: bytes(v, "utf-8").decode("unicode_escape") for k, v in _LABEL_RE.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


# --------------------------------------------------------------------------- config

DEFAULT_TIMEOUTS = {"connect": "5s", "greeting": "60s", "idle": "5m", "shutdown_grace": "10s", "proxy_header": "10s"}


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class Sensor:
    """One running smtp-sensor daemon with a temporary config.

    Sensor(tmpdir, upstream="127.0.0.1:PORT", listener={...overrides...}, config={...overrides...})
    - `listener` overrides keys of the single default listener "smtp";
      `listeners=[...]` replaces the listener list entirely (ports filled in if missing).
    - `config` is deep-merged over the whole default config.
    Use as a context manager or call start()/stop().
    """

    def __init__(self, tmpdir: Path, upstream: str | None = None, *, listener: dict | None = None,
                 listeners: list[dict] | None = None, config: dict | None = None, name: str = "sensor",
                 env: dict[str, str] | None = None, argv_prefix: list[str] | None = None):
        self.tmpdir = Path(tmpdir)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.binary = sensor_binary()
        # Extra environment for the daemon (None values are removed from it), and a
        # command the daemon is run through (`sh -c '... exec "$0" "$@"'`).
        self.env = env
        self.argv_prefix = list(argv_prefix or [])
        self.http_port = free_port()
        if listeners is None:
            lst = {"name": "smtp", "listen": hostport("127.0.0.1", free_port()),
                   "upstream": upstream or hostport("127.0.0.1", free_port()),
                   "proxy_protocol_out": "none", "proxy_protocol_in": False,
                   "max_connections": 10000}
            lst.update(listener or {})
            listeners = [lst]
        else:
            listeners = [dict(l) for l in listeners]
            for l in listeners:
                l.setdefault("listen", hostport("127.0.0.1", free_port()))
        base = {
            "listeners": listeners,
            "threads": 2,
            "timeouts": dict(DEFAULT_TIMEOUTS),
            "http": {"listen": hostport("127.0.0.1", self.http_port)},
            "transcripts": {"enabled": False, "path": str(self.tmpdir / "transcript.log")},
            "alerts": {"path": str(self.tmpdir / "alerts.jsonl")},
            "store": {"path": str(self.tmpdir / "sessions.db")},
            "control": {"socket": str(self.tmpdir / "control.sock")},
        }
        self.config = deep_merge(base, config or {})
        self.config_path = self.tmpdir / f"{name}.yaml"
        self.stderr_path = self.tmpdir / f"{name}.stderr"
        self.proc: subprocess.Popen | None = None
        self._stderr_f = None
        self.returncode: int | None = None

    # ---- addresses
    def listen_addr(self, name: str | None = None) -> tuple[str, int]:
        for l in self.config["listeners"]:
            if name is None or l["name"] == name:
                return split_hostport(l["listen"])
        raise KeyError(name)

    @property
    def port(self) -> int:
        return self.listen_addr()[1]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    # ---- lifecycle
    def write_config(self) -> Path:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False, default_flow_style=False))
        return self.config_path

    def start(self, timeout: float = 15.0) -> "Sensor":
        if not os.path.exists(self.binary):
            raise FileNotFoundError(f"smtp-sensor binary not found at {self.binary} (set SMTP_SENSOR_BIN)")
        self.write_config()
        self.returncode = None  # a restarted sensor is running again: teardown must stop it
        self._stderr_f = open(self.stderr_path, "wb")
        env = None
        if self.env is not None:
            env = dict(os.environ)
            for k, v in self.env.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
        self.proc = subprocess.Popen([*self.argv_prefix, self.binary, "run", "-c", str(self.config_path)],
                                     stdin=subprocess.DEVNULL, stdout=self._stderr_f, stderr=self._stderr_f, env=env)
        _LIVE.append(self)
        ports = [self.listen_addr(l["name"])[1] for l in self.config["listeners"]] + [self.http_port]
        try:
            wait_listening(ports, timeout * SLOW, self.proc)
        except Exception as e:
            raise RuntimeError(f"{e}\n--- smtp-sensor stderr ---\n{self.stderr_text()}") from e
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        self.returncode = self.proc.wait(timeout)
        return self.returncode

    def stop(self, timeout: float | None = None, expect_code: int | None = 0) -> int:
        """SIGTERM, wait, and (by default) assert the graceful exit code 0."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout if timeout is not None else 30 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"smtp-sensor did not exit after SIGTERM\n{self.stderr_tail()}")
        self.returncode = rc
        if self._stderr_f:
            self._stderr_f.close()
            self._stderr_f = None
        if expect_code is not None:
            assert rc == expect_code, f"smtp-sensor exited {rc}, expected {expect_code}\n{self.stderr_tail()}"
        return rc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> "Sensor":
        return self.start()

    def __exit__(self, et, ev, tb) -> None:
        if et is None:
            self.stop()
        else:
            self.kill()

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n: int = 80) -> str:
        lines = self.stderr_text().splitlines()
        return f"--- {self.name} stderr (last {n} of {len(lines)} lines) ---\n" + "\n".join(lines[-n:])

    # ---- HTTP
    def http_get(self, path: str, timeout: float = 10.0) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout * SLOW) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def healthz(self) -> tuple[int, str]:
        return self.http_get("/healthz")

    def metrics_text(self) -> str:
        status, body = self.http_get("/metrics")
        assert status == 200, f"/metrics returned {status}: {body[:200]}"
        return body

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        return parse_metrics(self.metrics_text())

    def metric(self, name: str, labels: dict[str, str] | None = None, default: float | None = None) -> float | None:
        """Sum of samples of `name` whose labels include `labels`; `default` if none matched."""
        labels = labels or {}
        found = [v for n, l, v in self.metrics() if n == name and all(l.get(k) == v2 for k, v2 in labels.items())]
        return sum(found) if found else default

    def counter(self, name: str, **labels: str) -> float:
        """A counter/gauge value; 0 when not exported yet (lazily created label sets)."""
        return self.metric(name, labels, default=0.0)

    def wait_metric(self, name: str, pred, labels: dict | None = None, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout * SLOW
        while True:
            v = self.metric(name, labels, default=0.0)
            if pred(v):
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}{labels or ''} = {v} did not reach the expected value in {timeout}s")
            time.sleep(0.05)

    # ---- process
    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


_LIVE: list[Sensor] = []  # for failure dumps and cleanup in conftest


def run_on_a_busy_port(tmp_path: Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """`run` with a config whose listen port another socket holds, so the start must fail
    to bind: what it printed, and the port."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    cfg = tmp_path / "busy.yaml"
    cfg.write_text(yaml.safe_dump({
        "listeners": [{"name": "smtp", "listen": f"127.0.0.1:{port}", "upstream": f"127.0.0.1:{free_port()}"}],
        "http": {"listen": ""}, "control": {"socket": ""},
        "alerts": {"path": str(tmp_path / "alerts.jsonl")}, "transcripts": {"path": str(tmp_path / "transcript.log")},
        "store": {"path": str(tmp_path / "sessions.db")}}))
    try:
        return run_cli(["run", "-c", str(cfg)], env=env), port
    finally:
        busy.close()


def run_cli(args: list[str], timeout: float = 30.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the binary with args (e.g. ['check-config', '-c', path]) and capture output;
    `env` adds to the environment."""
    full = {**os.environ, **env} if env else None
    return subprocess.run([sensor_binary(), *args], capture_output=True, text=True, timeout=timeout * SLOW, env=full)


# --------------------------------------------------------------------------- smtp-sink

@dataclass
class SinkMessage:
    path: Path
    headers: dict[str, list[str]]   # smtp-sink generated X-* headers
    body: bytes                      # message header+body as received, LF line endings, dot-unstuffed


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:port, dumping every transaction to its own file.

    smtp-sink runs as `nobody` (required when root), so the dump directory is a
    world-writable directory under /tmp (the pytest tmp dir is 0700 root).
    Dump format: X-Client-Addr/Proto, X-Helo-Args, X-Mail-Args, X-Rcpt-Args, a 3-line
    Received header, then the message with LF line endings, then one empty line.
    """

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1", dump: bool = True,
                 max_conns: int = 2048, backlog: int = 1024, extra: list[str] | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.dump = dump
        self.dump_dir = Path(tempfile.mkdtemp(prefix="smtp-sink-", dir="/tmp"))
        os.chmod(self.dump_dir, 0o777)
        args = [SMTP_SINK]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        if dump:
            args += ["-d", str(self.dump_dir) + "/msg."]
        args += ["-m", str(max_conns)]
        args += list(extra or [])
        args += [f"inet:{hostport(host, self.port)}", str(backlog)]
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dump_dir / "sink.log"

    @property
    def addr(self) -> str:
        return hostport(self.host, self.port)

    def start(self) -> "SmtpSink":
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        wait_listening([self.port], 10, self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def cleanup(self) -> None:
        self.stop()
        for p in sorted(self.dump_dir.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        self.dump_dir.rmdir()

    def __enter__(self) -> "SmtpSink":
        return self.start()

    def __exit__(self, *a) -> None:
        self.cleanup()

    def message_files(self) -> list[Path]:
        return sorted(p for p in self.dump_dir.glob("msg.*") if p.is_file())

    def wait_messages(self, n: int, timeout: float = 30.0) -> list[Path]:
        deadline = time.monotonic() + timeout * SLOW
        while True:
            files = self.message_files()
            if len(files) >= n:
                return files
            if time.monotonic() > deadline:
                raise AssertionError(f"smtp-sink dumped {len(files)} messages, expected {n}")
            time.sleep(0.05)

    @staticmethod
    def parse(path: Path) -> SinkMessage:
        data = path.read_bytes()
        pos = data.index(b"\nReceived: ") + 1
        # Received header is three lines: "Received: from ...", "\tby ...", "\t<date>"
        end = pos
        for _ in range(3):
            end = data.index(b"\n", end) + 1
        headers: dict[str, list[str]] = {}
        for line in data[:pos].decode("latin-1").splitlines():
            k, _, v = line.partition(": ")
            headers.setdefault(k, []).append(v)
        body = data[end:]
        assert body.endswith(b"\n\n") or body == b"\n", "dump does not end with the empty separator line"
        return SinkMessage(path, headers, body[:-1])
