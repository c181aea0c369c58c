#!/usr/bin/python3
"""Idle-session memory: RSS of smtp-sensor (and HAProxy, for comparison) holding N idle SMTP sessions.

Each session connects through the proxy to an upstream, reads the 220 greeting, then stays idle.
We read the proxy's VmRSS from /proc before opening any session and again once all N are idle,
and report (after - before) / N in KiB. Target for smtp-sensor: <= 16 KiB per idle session.

Usage: bench/idle_rss.py [--sessions N] [--upstream asyncio|sink] [--proxies sensor,haproxy]
Environment: SMTP_SENSOR_BIN (default build/daemon/smtp-sensor relative to the repo), HAPROXY_BIN.

The upstream is a tiny asyncio server (in a child process) that greets and then idles: smtp-sink
caps concurrent sessions and is not the thing being measured. `--upstream sink` uses smtp-sink.
"""
import argparse
import asyncio
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
NOFILE = 200_000


def raise_nofile(n=NOFILE):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(n, hard)))  # root may raise the hard limit
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port():
    # outside the ephemeral range so outgoing connections cannot take it meanwhile
    import random
    for _ in range(1000):
        p = random.randint(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wait_listening(port, proc, name, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited at startup with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on {port}")


# ---------------------------------------------------------------- upstream (child process)
def upstream_main(port):
    raise_nofile()
    held = []

    async def handle(reader, writer):
        writer.write(b"220 idle-upstream ESMTP\r\n")
        held.append(writer)
        try:
            while True:  # answer just enough to be polite; the bench never sends anything
                line = await reader.readline()
                if not line:
                    break
                if line.upper().startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                    break
                writer.write(b"250 ok\r\n")
        except Exception:
            pass
        finally:
            writer.close()

    async def main():
        srv = await asyncio.start_server(handle, "127.0.0.1", port, backlog=8192)
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------- client side
async def open_idle(port, n, concurrency=256, timeout=20.0):
    sem = asyncio.Semaphore(concurrency)
    conns, errors = [], {}

    async def one():
        async with sem:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                line = await asyncio.wait_for(r.readline(), timeout)
                if not line.startswith(b"220"):
                    raise RuntimeError(f"greeting {line[:40]!r}")
                conns.append((r, w))
            except Exception as e:  # noqa: BLE001
                k = type(e).__name__ + (f": {e}" if str(e) else "")
                errors[k[:80]] = errors.get(k[:80], 0) + 1

    await asyncio.gather(*(one() for _ in range(n)))
    return conns, errors


async def measure(name, pid, port, n, settle):
    await asyncio.sleep(settle)
    before = rss_kib(pid)
    t0 = time.monotonic()
    conns, errors = await open_idle(port, n)
    t_open = time.monotonic() - t0
    await asyncio.sleep(settle)  # let the proxy finish its side (upstream connect, greeting relay)
    after = rss_kib(pid)
    # still open end to end? peek each socket: EOF or an error means the proxy dropped it
    alive = 0
    for _, w in conns:
        fd = w.get_extra_info("socket").fileno()
        if fd < 0:
            continue
        with socket.socket(fileno=os.dup(fd)) as sock:
            try:
                alive += sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
    for _, w in conns:
        w.close()
    await asyncio.sleep(settle * 2)
    closed = rss_kib(pid)
    ok = len(conns)
    per = (after - before) / ok if ok else float("nan")
    return dict(name=name, n=n, ok=ok, alive=alive, errors=errors, before=before, after=after,
                closed=closed, per=per, t_open=t_open)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=10_000)
    ap.add_argument("--upstream", choices=["asyncio", "sink"], default="asyncio")
    ap.add_argument("--proxies", default="sensor,haproxy")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to wait before each RSS reading")
    ap.add_argument("--threads", default="auto", help="smtp-sensor threads setting")
    ap.add_argument("--_upstream_child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._upstream_child:
        return upstream_main(a._upstream_child)

    limit = raise_nofile()
    requested = a.sessions
    # every proxied session costs the proxy two descriptors (client + upstream); keep headroom for
    # listeners, epoll, eventfds, logs. Without CAP_SYS_RESOURCE the hard limit cannot be raised.
    cap = (limit - 200) // 2
    if a.sessions > cap:
        print(f"note: RLIMIT_NOFILE hard limit is {limit}; a proxy holding N sessions needs ~2N+{200} fds,"
              f" so measuring {cap} sessions instead of {a.sessions}", file=sys.stderr)
        a.sessions = cap
    sensor_bin = os.environ.get("SMTP_SENSOR_BIN", os.path.join(REPO, "build/daemon/smtp-sensor"))
    haproxy_bin = os.environ.get("HAPROXY_BIN", shutil.which("haproxy") or "haproxy")
    proxies = [p for p in a.proxies.split(",") if p]
    work = tempfile.mkdtemp(prefix="idle_rss.")
    procs = []

    def spawn(argv, name):
        log = open(os.path.join(work, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(p)
        return p

    def stop(p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results = []
    try:
        up_port = free_port()
        if a.upstream == "sink":
            up = spawn(["/usr/sbin/smtp-sink", "-u", "nobody", "-m", str(a.sessions + 100),
                        f"127.0.0.1:{up_port}", "8192"], "upstream")
        else:
            up = spawn([sys.executable, os.path.abspath(__file__), "--_upstream_child", str(up_port)], "upstream")
        wait_listening(up_port, up, "upstream")

        for name in proxies:
            port = free_port()
            if name == "sensor":
                if not os.access(sensor_bin, os.X_OK):
                    raise RuntimeError(f"smtp-sensor binary not found: {sensor_bin} (set SMTP_SENSOR_BIN)")
                http_port = free_port()
                cfg = os.path.join(work, "sensor.yaml")
                with open(cfg, "w") as f:
                    f.write(f"""listeners:
  - name: smtp
    listen: "127.0.0.1:{port}"
    upstream: "127.0.0.1:{up_port}"
    max_connections: {a.sessions + 100}
threads: {a.threads}
http: {{ listen: "127.0.0.1:{http_port}" }}
transcripts: {{ enabled: false, path: {work}/transcript.log }}
alerts: {{ path: {work}/alerts.jsonl }}
store: {{ enabled: false, path: {work}/sessions.db }}
""")
                p = spawn([sensor_bin, "run", "-c", cfg], "sensor")
            elif name == "haproxy":
                cfg = os.path.join(work, "haproxy.cfg")
                with open(cfg, "w") as f:
                    f.write(f"""global
  maxconn {a.sessions + 20}
defaults
  mode tcp
  maxconn {a.sessions + 20}
  timeout connect 5s
  timeout client 120s
  timeout server 120s
frontend f
  bind 127.0.0.1:{port}
  default_backend b
backend b
  server s 127.0.0.1:{up_port}
""")
                p = spawn([haproxy_bin, "-db", "-f", cfg], "haproxy")
            else:
                raise RuntimeError(f"unknown proxy {name}")
            try:
                wait_listening(port, p, name)
                r = asyncio.run(measure(name, p.pid, port, a.sessions, a.settle))
            except RuntimeError as e:
                log = open(os.path.join(work, name + ".log"), errors="replace").read()[-600:]
                print(f"{name}: {e}\n{log}", file=sys.stderr)
                continue
            finally:
                if p.poll() is not None:
                    print(f"{name} exited with {p.returncode}", file=sys.stderr)
                stop(p)
            results.append(r)
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nIdle sessions: {a.sessions} measured ({requested} requested), upstream={a.upstream},"
          f" RLIMIT_NOFILE={limit}, cores={os.cpu_count()}")
    hdr = (f"{'proxy':8} {'ok':>6} {'alive':>6} {'RSS before':>11} {'RSS idle':>10} {'RSS closed':>11}"
           f" {'KiB/session':>12} {'open s':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(f"{r['name']:8} {r['ok']:6d} {r['alive']:6d} {r['before']:8d} KiB {r['after']:6d} KiB"
              f" {r['closed']:7d} KiB {r['per']:12.2f} {r['t_open']:7.2f}")
        if r["errors"]:
            print(f"         errors: {r['errors']}")
    for r in results:
        if r["name"] == "sensor":
            verdict = "PASS" if r["ok"] == a.sessions and r["per"] <= 16 else "FAIL"
            print(f"\nsmtp-sensor: {r['per']:.2f} KiB per idle session (target <= 16 KiB): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main() or 0)
