#!/usr/bin/env bash
# TLS throughput benchmark: 1 MB messages over TLS, smtp-sensor terminating TLS against
# HAProxy terminating TLS (issue 8; target sensor/HAProxy >= 0.9).
#
# Targets (all in ONE invocation, alternating inside every round; medians over rounds):
#   direct       client --STARTTLS--> tls-sink                      (capacity of client + sink)
#   sensor       client --STARTTLS--> smtp-sensor (terminate) --STARTTLS--> tls-sink
#   haproxy      client --TLS--> HAProxy (bind ssl crt) --plain--> smtp-sink
#   sensor-impl  client --TLS--> smtp-sensor (implicit terminate) --plain--> smtp-sink
#   haproxy-tls  client --TLS--> HAProxy --TLS (server ssl)--> tls-sink (implicit)
# sensor/haproxy is the issue's ratio; sensor-impl/haproxy compares the same work (one TLS
# hop), sensor/haproxy-tls the same crypto work (decrypt and re-encrypt).
#
# Usage: bench/tls_bench.sh [--rounds N] [--messages N] [--conns M] [--size BYTES]
#                           [--targets LIST] [--sinks on|off] [--keep]
# Environment (flags win): SMTP_SENSOR_BIN, ROUNDS, MESSAGES, CONNS, SIZE, TARGETS, SINKS,
#   HAPROXY_BIN, SMTP_SINK_BIN, PYTHON, BENCH_PORT_BASE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

# shellcheck source=bench/bench_lib.sh
source "$here/bench_lib.sh"  # the common settings: binaries, ROUNDS, SINKS, KEEP
PYTHON="${PYTHON:-/usr/bin/python3}"
MESSAGES="${MESSAGES:-1000}"
CONNS="${CONNS:-10}"
SIZE="${SIZE:-1048576}"
TARGETS="${TARGETS:-direct,sensor,haproxy,sensor-impl,haproxy-tls}"

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --messages) MESSAGES="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --targets) TARGETS="$2"; shift 2 ;;
    *) common_arg "$@"; shift "$consumed" ;;
  esac
done
check_common_args
need_cmds "$SMTP_SINK_BIN" "$HAPROXY_BIN" openssl "$PYTHON"
IFS=, read -r -a targets <<<"$TARGETS"
for t in "${targets[@]}"; do
  case "$t" in direct|sensor|haproxy|sensor-impl|haproxy-tls) ;; *) echo "unknown target: $t" >&2; exit 2 ;; esac
done

bench_setup tls_bench
pick_ports 8 "${BENCH_PORT_BASE:-$((30000 + (RANDOM % 400) * 20))}"
SINK_PORT=${pick[0]} TLSSINK_PORT=${pick[1]} TLSSINK_IMPL_PORT=${pick[2]} HAPROXY_PORT=${pick[3]}
HAPROXY_TLS_PORT=${pick[4]} SENSOR_PORT=${pick[5]} SENSOR_IMPL_PORT=${pick[6]} HTTP_PORT=${pick[7]}

# --- one throwaway certificate (EC P-256) for the sensor, HAProxy and the TLS sink alike ---
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log"
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

# --- the load generator and the TLS sink (one Python file, two roles) ---
cat >"$work/tls_peers.py" <<'PY'
"""client: M processes, one connection each (STARTTLS or implicit TLS), N 1 MB messages in all.
sink: an SMTP sink with STARTTLS or implicit TLS; one forked process per connection."""
import json, os, socket, ssl, sys, threading, time

CRLF = b"\r\n"


class Lines:
    # recv_into a buffer of our own: SSLSocket.recv(big n) allocates n bytes for every
    # record (16 KB of data), which made a Python peer cost 20 ms of CPU per MB.
    def __init__(self, sock):
        self.sock, self.buf = sock, bytearray()
        self.mv = memoryview(bytearray(65536))

    def fill(self):
        k = self.sock.recv_into(self.mv)
        if not k:
            raise EOFError
        self.buf += self.mv[:k]

    def line(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return out
            self.fill()

    def reply(self):
        out = b""
        while True:
            l = self.line()
            out += l
            if l[3:4] != b"-":
                return out

    def data(self):  # consume up to CRLF.CRLF, keeping only a short tail while scanning
        while not self.buf:
            self.fill()
        if self.buf.startswith(b".\r\n"):
            del self.buf[:3]
            return
        while True:
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                del self.buf[:i + 5]
                return
            del self.buf[:-4]
            self.fill()


def sink_conn(sock, mode, ctx):
    tls = mode == "implicit"
    if tls:
        sock = ctx.wrap_socket(sock, server_side=True)
    r = Lines(sock)
    sock.sendall(b"220 tls-sink ESMTP\r\n")
    try:
        while True:
            verb = r.line()[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                caps = [b"tls-sink", b"PIPELINING", b"8BITMIME"] + ([] if tls else [b"STARTTLS"])
                sock.sendall(b"".join(b"250-" + c + CRLF for c in caps[:-1]) + b"250 " + caps[-1] + CRLF)
            elif verb == b"STAR" and not tls:
                sock.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                sock = ctx.wrap_socket(sock, server_side=True)
                r = Lines(sock)
                tls = True
            elif verb == b"DATA":
                sock.sendall(b"354 go ahead\r\n")
                r.data()
                sock.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                sock.sendall(b"250 2.0.0 Ok\r\n")
    except (EOFError, OSError):
        pass
    finally:
        sock.close()


def sink(port, mode, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1024)

    def reap():  # reaped children's CPU shows in our cutime/cstime
        while True:
            try:
                os.wait()
            except ChildProcessError:
                time.sleep(0.05)

    threading.Thread(target=reap, daemon=True).start()
    while True:
        s, _ = ls.accept()
        if os.fork() == 0:
            ls.close()
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sink_conn(s, mode, ctx)
            os._exit(0)
        s.close()


def expect(r, code):
    rep = r.reply()
    if not rep.startswith(code):
        raise RuntimeError(f"expected {code!r}, got {rep[:200]!r}")
    return rep


def client_conn(port, mode, n, body, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mode == "implicit":
        sock = ctx.wrap_socket(sock)
    r = Lines(sock)
    expect(r, b"220")
    sock.sendall(b"EHLO bench.test\r\n")
    expect(r, b"250")
    if mode == "starttls":
        sock.sendall(b"STARTTLS\r\n")
        expect(r, b"220")
        sock = ctx.wrap_socket(sock)
        r = Lines(sock)
        sock.sendall(b"EHLO bench.test\r\n")
        expect(r, b"250")
    done = 0
    for _ in range(n):
        sock.sendall(b"MAIL FROM:<bench@example.org>\r\n")
        expect(r, b"250")
        sock.sendall(b"RCPT TO:<sink@example.net>\r\n")
        expect(r, b"250")
        sock.sendall(b"DATA\r\n")
        expect(r, b"354")
        sock.sendall(body)
        expect(r, b"250")
        done += 1
    sock.sendall(b"QUIT\r\n")
    expect(r, b"221")
    t1 = time.monotonic()
    cipher = sock.cipher()
    sock.close()
    cpu = os.times()
    out.write(json.dumps({"t0": t0, "t1": t1, "msgs": done, "cpu": cpu.user + cpu.system,
                          "tls": f"{cipher[1]} {cipher[0]}"}) + "\n")


def make_body(size):
    line = b"The quick brown fox jumps over the lazy dog, 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abc\r\n"
    reps = size // len(line) + 1
    body = (line * reps)[:size - 2] + CRLF
    return body + b".\r\n"


def client(port, mode, conns, messages, size):
    body = make_body(size)
    share = [messages // conns + (1 if i < messages % conns else 0) for i in range(conns)]
    rfd, wfd = os.pipe()
    kids = []
    for n in share:
        pid = os.fork()
        if pid == 0:
            os.close(rfd)
            code = 0
            with os.fdopen(wfd, "w", buffering=1) as out:
                try:
                    client_conn(port, mode, n, body, out)
                except Exception as e:  # reported, counted as a failed connection
                    out.write(json.dumps({"error": repr(e)}) + "\n")
                    code = 1
            os._exit(code)
        kids.append(pid)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    for pid in kids:
        os.waitpid(pid, 0)
    ok = [r for r in rows if "error" not in r]
    errs = [r["error"] for r in rows if "error" in r]
    res = {"msgs": sum(r["msgs"] for r in ok), "expected": messages, "bytes": size,
           "wall": (max(r["t1"] for r in ok) - min(r["t0"] for r in ok)) if ok else 0.0,
           "client_cpu": sum(r["cpu"] for r in ok), "tls": sorted({r["tls"] for r in ok}), "errors": errs}
    print(json.dumps(res))


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        client(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
PY

# --- upstreams: smtp-sink (plain) and the Python TLS sink (STARTTLS and implicit) ---
"$SMTP_SINK_BIN" -u nobody -m 4096 "127.0.0.1:$SINK_PORT" 2048 >"$work/sink.log" 2>&1 &
SINK_PID=$!; pids+=("$SINK_PID")
wait_port "$SINK_PORT" "$SINK_PID" sink
"$PYTHON" "$work/tls_peers.py" sink "$TLSSINK_PORT" starttls "$work/cert.pem" "$work/key.pem" >"$work/tlssink.log" 2>&1 &
TLSSINK_PID=$!; pids+=("$TLSSINK_PID")
wait_port "$TLSSINK_PORT" "$TLSSINK_PID" tlssink
"$PYTHON" "$work/tls_peers.py" sink "$TLSSINK_IMPL_PORT" implicit "$work/cert.pem" "$work/key.pem" >"$work/tlssink_impl.log" 2>&1 &
TLSSINK_IMPL_PID=$!; pids+=("$TLSSINK_IMPL_PID")
wait_port "$TLSSINK_IMPL_PORT" "$TLSSINK_IMPL_PID" tlssink_impl

# --- HAProxy 2.6: TLS terminated at the bind, TCP mode; plain or re-encrypted to the backend ---
start_haproxy "$HAPROXY_PORT" <<EOF
frontend f
  bind 127.0.0.1:$HAPROXY_PORT ssl crt $work/haproxy.pem
  default_backend b
backend b
  server s 127.0.0.1:$SINK_PORT
frontend f_tls
  bind 127.0.0.1:$HAPROXY_TLS_PORT ssl crt $work/haproxy.pem
  default_backend b_tls
backend b_tls
  server s 127.0.0.1:$TLSSINK_IMPL_PORT ssl verify none
EOF

# --- smtp-sensor: a STARTTLS terminate listener and an implicit one to smtp-sink ---
cat >"$work/sensor.yaml" <<EOF
listeners:
  - name: starttls
    listen: "127.0.0.1:$SENSOR_PORT"
    upstream: "127.0.0.1:$TLSSINK_PORT"
    tls: { mode: terminate, cert: $work/cert.pem, key: $work/key.pem }
  - name: implicit
    listen: "127.0.0.1:$SENSOR_IMPL_PORT"
    upstream: "127.0.0.1:$SINK_PORT"
    tls: { mode: terminate, cert: $work/cert.pem, key: $work/key.pem, implicit: true, upstream_implicit: false }
EOF
sensor_settings >>"$work/sensor.yaml"
start_sensor "$SENSOR_PORT" "$SENSOR_IMPL_PORT"

tck=$(getconf CLK_TCK)

echo "# tls_bench: rounds=$ROUNDS messages=$MESSAGES x $SIZE B over $CONNS connections targets=$TARGETS sinks=$SINKS cores=$(nproc)" >&2
echo "# sensor=$SMTP_SENSOR_BIN ($("$SMTP_SENSOR_BIN" --version 2>/dev/null | head -1))" >&2
echo "# $("$HAPROXY_BIN" -v | head -1)" >&2
echo "# $(openssl version); work=$work" >&2

results="$work/results.tsv"
: >"$results"
declare -A PORT=([direct]=$TLSSINK_PORT [sensor]=$SENSOR_PORT [haproxy]=$HAPROXY_PORT
                 [sensor-impl]=$SENSOR_IMPL_PORT [haproxy-tls]=$HAPROXY_TLS_PORT)
declare -A MODE=([direct]=starttls [sensor]=starttls [haproxy]=implicit [sensor-impl]=implicit [haproxy-tls]=implicit)
declare -A PROXY=([direct]="" [sensor]=$SENSOR_PID [haproxy]=$HAPROXY_PID [sensor-impl]=$SENSOR_PID
                  [haproxy-tls]=$HAPROXY_PID)
declare -A UPSTREAM=([direct]=$TLSSINK_PID [sensor]=$TLSSINK_PID [haproxy]=$SINK_PID [sensor-impl]=$SINK_PID
                     [haproxy-tls]=$TLSSINK_IMPL_PID)

run_one() {  # run_one ROUND TARGET
  local round=$1 tgt=$2 ppid=${PROXY[$2]} up=${UPSTREAM[$2]} p0=0 p1=0 k0 k1 out
  [[ -n $ppid ]] && p0=$(cpu_ticks "$ppid")
  k0=$(cpu_ticks "$up")
  out=$("$PYTHON" "$work/tls_peers.py" client "${PORT[$tgt]}" "${MODE[$tgt]}" "$CONNS" "$MESSAGES" "$SIZE") || true
  sleep 0.3  # let the sink's children exit and be reaped, so their CPU is counted
  [[ -n $ppid ]] && p1=$(cpu_ticks "$ppid")
  k1=$(cpu_ticks "$up")
  "$PYTHON" - "$round" "$tgt" "$((p1 - p0))" "$((k1 - k0))" "$tck" "$out" >>"$results" <<'PY' || return 0
import json, sys
rnd, tgt, pt, kt, hz, out = sys.argv[1:7]
try:
    r = json.loads(out)
except ValueError:
    print(f"WARN: {tgt} round {rnd}: client said {out[:300]!r}", file=sys.stderr); sys.exit(1)
if r["errors"] or r["msgs"] != r["expected"]:
    print(f"WARN: {tgt} round {rnd}: {r['msgs']}/{r['expected']} messages; errors {r['errors'][:3]}", file=sys.stderr)
    sys.exit(1)
hz = float(hz)
print("\t".join(map(str, [rnd, tgt, r["msgs"], r["bytes"], f"{r['wall']:.4f}", f"{int(pt) / hz:.3f}",
                          f"{int(kt) / hz:.3f}", f"{r['client_cpu']:.3f}", ",".join(r["tls"])])))
print(f"  round {rnd} {tgt:12} {r['wall']:6.2f}s  {r['msgs'] / r['wall']:7.1f} msg/s  {','.join(r['tls'])}",
      file=sys.stderr)
PY
}

start=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  for t in "${targets[@]}"; do run_one "$r" "$t"; done
done
echo "# total bench time: $(($(date +%s) - start)) s" >&2
kill -0 "$SENSOR_PID" 2>/dev/null || { echo "smtp-sensor died during the run; log:" >&2; tail -20 "$work/sensor.log" >&2; exit 1; }
[[ -s "$results" ]] || { echo "no successful run; sensor log:" >&2; tail -20 "$work/sensor.log" >&2; exit 1; }

"$PYTHON" - "$results" "$TARGETS" "$MESSAGES" "$SIZE" "$CONNS" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
order = sys.argv[2].split(",")
messages, size, conns = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
what = {"direct": "client -STARTTLS-> tls-sink", "sensor": "-STARTTLS-> sensor -STARTTLS-> tls-sink",
        "haproxy": "-TLS-> haproxy -plain-> smtp-sink", "sensor-impl": "-TLS-> sensor -plain-> smtp-sink",
        "haproxy-tls": "-TLS-> haproxy -TLS-> tls-sink"}
data, tls = {}, {}
for r, t, m, b, wall, pc, kc, cc, ciph in rows:
    data.setdefault(t, []).append((int(m), int(b), float(wall), float(pc), float(kc), float(cc)))
    tls.setdefault(t, set()).add(ciph)
def med(t, f):
    v = data.get(t)
    return st.median(f(x) for x in v) if v else float("nan")
rate = lambda x: x[0] / x[2]
mbs = lambda x: x[0] * x[1] / x[2] / 1e6
print()
print(f"TLS throughput: {messages} x {size} B messages over {conns} connections "
      f"(median of {max(len(v) for v in data.values())} rounds; MB/s = 10^6 B/s of message body)")
hdr = (f"{'target':12} {'path':42} {'msgs/s':>8} {'MB/s':>7} {'proxy s':>8} {'upstr s':>8} {'client s':>9}  tls")
print(hdr); print("-" * (len(hdr) + 24))
for t in order:
    if t not in data:
        print(f"{t:12} {what[t]:42} {'(no successful run)':>8}"); continue
    print(f"{t:12} {what[t]:42} {med(t, rate):8.1f} {med(t, mbs):7.0f} {med(t, lambda x: x[3]):8.2f} "
          f"{med(t, lambda x: x[4]):8.2f} {med(t, lambda x: x[5]):9.2f}  {','.join(sorted(tls[t]))}")
print()
def ratio(a, b, label):
    if a in data and b in data:
        ra, rb = med(a, rate), med(b, rate)
        ca, cb = med(a, lambda x: x[3]), med(b, lambda x: x[3])
        print(f"  {a + '/' + b:24} {ra / rb:6.2f}   proxy CPU {ca / cb if cb else float('nan'):5.2f}x   {label}")
print("Ratios (throughput; proxy CPU for the same work):")
ratio("sensor", "haproxy", "the issue's figure (target >= 0.9); the sensor also re-encrypts")
ratio("sensor-impl", "haproxy", "same work: one TLS hop, plaintext upstream")
ratio("sensor", "haproxy-tls", "same crypto work: decrypt and re-encrypt")
ratio("sensor", "direct", "sensor hop against no proxy")
print()
print("Per-round raw data (round target msgs bytes wall_s proxy_cpu_s upstream_cpu_s client_cpu_s tls):")
for r in rows: print("  " + " ".join(r))
PY
