#!/usr/bin/env bash
# End-to-end relay benchmark: smtp-source -> {direct | HAProxy (TCP) | smtp-sensor} -> smtp-sink.
#
# All three paths run in ONE invocation against the same smtp-sink, alternating
# direct/haproxy/sensor inside every round, so machine noise hits all of them alike.
# Reports medians over the rounds. See bench/README.md for what every column means.
#
# Usage: bench/relay_bench.sh [--rounds N] [--scenarios LIST] [--sinks on|off]
#                             [--config-template FILE] [--perf SCENARIO] [--fleet] [--keep]
#   LIST: comma-separated subset of  reuse1k,conn1k,reuse1m,serial1k,conc1k  (default: all)
#   --fleet: a fourth path, a second sensor with the same config plus a fleet (a real
#     PostgreSQL in a temp dir, `fleet init`, shipping, share_flags, share_counts); implies
#     --sinks on, and both sensors count loopback clients (allow: []) so events are shared.
# Environment (flags win): SMTP_SENSOR_BIN, ROUNDS, SCENARIOS, SINKS, CONFIG_TEMPLATE,
#   PERF_SCENARIO, HAPROXY_BIN, SMTP_SINK_BIN, SMTP_SOURCE_BIN, BENCH_PORT_BASE.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

# shellcheck source=bench/bench_lib.sh
source "$here/bench_lib.sh"  # the common settings: binaries, ROUNDS, SINKS, KEEP
SMTP_SOURCE_BIN="${SMTP_SOURCE_BIN:-/usr/sbin/smtp-source}"
SCENARIOS="${SCENARIOS:-reuse1k,conn1k,reuse1m,serial1k,conc1k}"
CONFIG_TEMPLATE="${CONFIG_TEMPLATE:-}"
PERF_SCENARIO="${PERF_SCENARIO:-}"
FLEET=0

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --config-template) CONFIG_TEMPLATE="$2"; shift 2 ;;
    --perf) PERF_SCENARIO="$2"; shift 2 ;;
    --fleet) FLEET=1; SINKS=on; shift ;;
    *) common_arg "$@"; shift "$consumed" ;;
  esac
done
check_common_args
need_cmds "$SMTP_SINK_BIN" "$SMTP_SOURCE_BIN" "$HAPROXY_BIN"

# scenario name -> "smtp-source args|label|msgs|bytes-per-msg"
declare -A SCN=(
  [reuse1k]="-s 10 -m 20000 -l 1024 -d|20000 x 1KB, 10 reused sessions|20000|1024"
  [conn1k]="-s 10 -m 20000 -l 1024|20000 x 1KB, 1 session/msg (10 conc)|20000|1024"
  [reuse1m]="-s 10 -m 200 -l 1048576 -d|200 x 1MB, 10 reused sessions|200|1048576"
  [serial1k]="-s 1 -m 5000 -l 1024 -d|5000 x 1KB, 1 session serial|5000|1024"
  [conc1k]="-s 1000 -m 20000 -l 1024|20000 x 1KB, 1 session/msg (1000 conc)|20000|1024"
)
IFS=, read -r -a scenarios <<<"$SCENARIOS"
for s in "${scenarios[@]}"; do [[ -n "${SCN[$s]:-}" ]] || { echo "unknown scenario: $s" >&2; exit 2; }; done

bench_setup relay_bench
pick_ports 6 "${BENCH_PORT_BASE:-$((20000 + (RANDOM % 400) * 20))}"
SINK_PORT=${pick[0]} HAPROXY_PORT=${pick[1]} SENSOR_PORT=${pick[2]} HTTP_PORT=${pick[3]}
FLEET_PORT=${pick[4]} FLEET_HTTP_PORT=${pick[5]}

# --- smtp-sink (upstream for all three paths) ---
# -m: max concurrent sessions; 2048: listen backlog. -u is required when run as root.
"$SMTP_SINK_BIN" -u nobody -m 4096 "127.0.0.1:$SINK_PORT" 2048 >"$work/sink.log" 2>&1 &
SINK_PID=$!; pids+=("$SINK_PID")
wait_port "$SINK_PORT" "$SINK_PID" sink

# --- HAProxy, TCP mode (config from shared/TOOLCHAIN.md) ---
start_haproxy "$HAPROXY_PORT" <<EOF
frontend f
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend b
backend b
  server s 127.0.0.1:$SINK_PORT
EOF

# --- smtp-sensor ---
sinks_enabled=false; [[ $SINKS == on ]] && sinks_enabled=true
if [[ -n "$CONFIG_TEMPLATE" ]]; then
  # Placeholders: @LISTEN_PORT@ @UPSTREAM_PORT@ @HTTP_PORT@ @WORKDIR@ @SINKS_ENABLED@
  sed -e "s|@LISTEN_PORT@|$SENSOR_PORT|g" -e "s|@UPSTREAM_PORT@|$SINK_PORT|g" \
      -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@WORKDIR@|$work|g" \
      -e "s|@SINKS_ENABLED@|$sinks_enabled|g" "$CONFIG_TEMPLATE" >"$work/sensor.yaml"
else
  cat >"$work/sensor.yaml" <<EOF
listeners:
  - name: smtp
    listen: "127.0.0.1:$SENSOR_PORT"
    upstream: "127.0.0.1:$SINK_PORT"
EOF
  sensor_settings >>"$work/sensor.yaml"
fi
[[ $FLEET == 1 ]] && echo 'allow: []' >>"$work/sensor.yaml"
start_sensor "$SENSOR_PORT"
targets=(direct haproxy sensor)

# --- --fleet: the same sensor config plus a fleet, on its own ports and files ---
if [[ $FLEET == 1 ]]; then
  read -r PG_ROOT FLEET_URL < <("$here/pg_bench_server.py" start) || { echo "could not start PostgreSQL" >&2; exit 1; }
  trap 'bench_cleanup; "$here/pg_bench_server.py" stop "$PG_ROOT"' EXIT
  "$SMTP_SENSOR_BIN" fleet init --url "$FLEET_URL" >"$work/fleet-init.log" 2>&1 || { cat "$work/fleet-init.log" >&2; exit 1; }
  sed -e "s|127.0.0.1:$SENSOR_PORT|127.0.0.1:$FLEET_PORT|" -e "s|127.0.0.1:$HTTP_PORT|127.0.0.1:$FLEET_HTTP_PORT|" \
      -e "s|$work/|$work/fleet-|g" "$work/sensor.yaml" >"$work/fleet.yaml"
  printf 'sensor: { name: bench-fleet }\nfleet: { url: "%s", share_flags: true, share_counts: true }\n' "$FLEET_URL" \
    >>"$work/fleet.yaml"
  "$SMTP_SENSOR_BIN" run -c "$work/fleet.yaml" >"$work/fleet.log" 2>&1 &
  FLEET_PID=$!; pids+=("$FLEET_PID")
  wait_port "$FLEET_PORT" "$FLEET_PID" fleet
  fleet_metric() { curl -s "http://127.0.0.1:$FLEET_HTTP_PORT/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
  for ((i = 0; i < 100; i++)); do [[ "$(fleet_metric smtp_sensor_fleet_up)" == 1 ]] && break; sleep 0.1; done
  [[ "$(fleet_metric smtp_sensor_fleet_up)" == 1 ]] || { echo "the fleet sensor did not connect; log:" >&2; tail "$work/fleet.log" >&2; exit 1; }
  targets+=(fleet)
fi

tck=$(getconf CLK_TCK)

echo "# relay_bench: rounds=$ROUNDS scenarios=$SCENARIOS sinks=$SINKS cores=$(nproc)" >&2
echo "# sensor=$SMTP_SENSOR_BIN ($("$SMTP_SENSOR_BIN" --version 2>/dev/null | head -1))" >&2
echo "# $("$HAPROXY_BIN" -v | head -1)" >&2
echo "# ports: sink=$SINK_PORT haproxy=$HAPROXY_PORT sensor=$SENSOR_PORT; work=$work" >&2

results="$work/results.tsv"
: >"$results"
declare -A PORT=([direct]=$SINK_PORT [haproxy]=$HAPROXY_PORT [sensor]=$SENSOR_PORT [fleet]=$FLEET_PORT)
declare -A PPID_OF=([direct]="" [haproxy]=$HAPROXY_PID [sensor]=$SENSOR_PID [fleet]=${FLEET_PID:-})

run_one() {  # run_one ROUND SCENARIO TARGET
  local round=$1 scn=$2 tgt=$3 args msgs size
  IFS="|" read -r args _ msgs size <<<"${SCN[$scn]}"
  local ppid=${PPID_OF[$tgt]} p0=0 p1=0 y0=0 y1=0 k0 k1 t0 t1 rc=0 src
  [[ -n $ppid ]] && p0=$(cpu_ticks "$ppid") && y0=$(sys_ticks "$ppid")
  k0=$(cpu_ticks "$SINK_PID")
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  src=$( { TIMEFORMAT='%U %S'; time "$SMTP_SOURCE_BIN" $args "127.0.0.1:${PORT[$tgt]}" \
           >"$work/source.out" 2>&1; } 2>&1 ) || rc=$?
  t1=$(date +%s.%N)
  [[ -n $ppid ]] && p1=$(cpu_ticks "$ppid") && y1=$(sys_ticks "$ppid")
  k1=$(cpu_ticks "$SINK_PID")
  if [[ $rc != 0 || -s "$work/source.out" ]]; then
    echo "WARN: smtp-source rc=$rc for $scn/$tgt round $round: $(head -c 300 "$work/source.out")" >&2
    [[ $rc != 0 ]] && return 0
  fi
  # round scenario target msgs bytes wall proxy_cpu sink_cpu source_cpu proxy_sys
  awk -v r="$round" -v s="$scn" -v t="$tgt" -v m="$msgs" -v b="$size" -v t0="$t0" -v t1="$t1" \
      -v p="$((p1 - p0))" -v k="$((k1 - k0))" -v y="$((y1 - y0))" -v hz="$tck" -v src="$src" \
      'BEGIN{split(src, c, " "); printf "%s\t%s\t%s\t%d\t%d\t%.4f\t%.3f\t%.3f\t%.3f\t%.3f\n", r, s, t, m, b, t1-t0, p/hz, k/hz, c[1]+c[2], y/hz}' \
      >>"$results"
  printf '  round %s %-9s %-8s %6.2fs\n' "$round" "$scn" "$tgt" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >&2
  # per-connection runs leave TIME_WAIT sockets behind; let the loopback settle a moment
  [[ $scn == conn1k || $scn == conc1k ]] && sleep 1
  return 0
}

start=$(date +%s)
# Each round starts with the next target: a run of one session per message leaves 20,000
# to 40,000 sockets in TIME_WAIT, and the connects of the target that follows hunt for free
# ports among them (kernel time charged to that proxy). In a fixed order the last target
# paid for the others in every round.
for ((r = 1; r <= ROUNDS; r++)); do
  for s in "${scenarios[@]}"; do
    n=${#targets[@]}
    for ((i = 0; i < n; i++)); do run_one "$r" "$s" "${targets[$(((r - 1 + i) % n))]}"; done
  done
done
echo "# total bench time: $(($(date +%s) - start)) s" >&2
kill -0 "$SENSOR_PID" 2>/dev/null || { echo "smtp-sensor died during the run; log:" >&2; tail -20 "$work/sensor.log" >&2; exit 1; }
# Peak resident memory over the whole run (every scenario, the 1,000 concurrent sessions included).
hwm() { awk '/^VmHWM:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }
peak_rss="Peak RSS (VmHWM over the run): sensor $(hwm "$SENSOR_PID"), haproxy $(hwm "$HAPROXY_PID")"
if [[ $FLEET == 1 ]]; then
  kill -0 "$FLEET_PID" 2>/dev/null || { echo "the fleet sensor died during the run; log:" >&2; tail -20 "$work/fleet.log" >&2; exit 1; }
  peak_rss+=", fleet sensor $(hwm "$FLEET_PID")"
  # The database stayed up, and shipping and sharing kept pace (a backlog or drops would show).
  sleep 1
  peak_rss+=$'\n'"Fleet at the end: up=$(fleet_metric smtp_sensor_fleet_up) shipped=$(fleet_metric smtp_sensor_fleet_shipped_total)"
  peak_rss+=" backlog=$(fleet_metric smtp_sensor_fleet_backlog_sessions) events_published=$(fleet_metric smtp_sensor_fleet_events_published_total)"
  peak_rss+=" events_dropped=$(fleet_metric smtp_sensor_fleet_events_dropped_total)"
fi

/usr/bin/python3 - "$results" "$SCENARIOS" "$peak_rss" "$(nproc)" <<'PY'
import sys, statistics as st
cores = int(sys.argv[4])
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
order = sys.argv[2].split(",")
labels = {"reuse1k": "20000 x 1KB, 10 reused sessions", "conn1k": "20000 x 1KB, 1 session/msg",
          "reuse1m": "200 x 1MB, 10 reused sessions", "serial1k": "5000 x 1KB, 1 session serial",
          "conc1k": "20000 x 1KB, 1 session/msg, 1000 conc"}
data = {}
for r, s, t, m, b, wall, pc, kc, sc, yc in rows:
    data.setdefault((s, t), []).append((int(m), int(b), float(wall), float(pc), float(kc), float(sc), float(yc)))
def med(s, t, f):
    v = data.get((s, t))
    return st.median(f(x) for x in v) if v else float("nan")
rate = lambda x: x[0] / x[2]
mbs = lambda x: x[0] * x[1] / x[2] / 1e6
def fmt_rate(s, t):
    r = med(s, t, rate)
    if s == "reuse1m":
        return f"{r:8.1f} ({med(s, t, mbs):5.0f} MB/s)"
    return f"{r:8.0f}"
print()
print("Throughput (median of %d rounds; msgs/s, MB/s = 10^6 B/s of message body)" %
      max(len(v) for v in data.values()))
fleet = any(t == "fleet" for _s, t in data)
hdr = f"{'scenario':34} {'direct':>20} {'haproxy':>20} {'sensor':>20} {'sns/dir':>8} {'sns/hap':>8}"
if fleet:
    hdr += f" {'fleet':>20} {'flt/sns':>8}"
print(hdr); print("-" * len(hdr))
for s in order:
    d, h, n = (med(s, t, rate) for t in ("direct", "haproxy", "sensor"))
    line = (f"{labels[s]:34} {fmt_rate(s,'direct'):>20} {fmt_rate(s,'haproxy'):>20} {fmt_rate(s,'sensor'):>20} "
            f"{n/d:8.2f} {n/h:8.2f}")
    if fleet:
        line += f" {fmt_rate(s,'fleet'):>20} {med(s, 'fleet', rate)/n:8.2f}"
    print(line)
print()
print("Proxy CPU (median; utime+stime of the proxy process over the run, all threads)")
hdr = (f"{'scenario':34} {'haproxy s':>10} {'sensor s':>10} {'sns/hap':>8} {'hap us/msg':>11} {'sns us/msg':>11}"
       f" {'sink s (h/s)':>14} {'source s (h/s)':>15}")
print(hdr); print("-" * len(hdr))
for s in order:
    hc, nc = med(s, "haproxy", lambda x: x[3]), med(s, "sensor", lambda x: x[3])
    m = data[(s, "sensor")][0][0] if (s, "sensor") in data else 1
    hk, nk = med(s, "haproxy", lambda x: x[4]), med(s, "sensor", lambda x: x[4])
    hs, ns = med(s, "haproxy", lambda x: x[5]), med(s, "sensor", lambda x: x[5])
    print(f"{labels[s]:34} {hc:10.2f} {nc:10.2f} {nc/hc if hc else float('nan'):8.2f} {hc/m*1e6:11.1f} {nc/m*1e6:11.1f}"
          f" {hk:6.2f}/{nk:<6.2f} {hs:7.2f}/{ns:<6.2f}")
print()
# Throughput on a machine the proxy shares with its load is (cores x busy) / (CPU per message
# of proxy, sink and source together): the ratio of two runs splits into those two factors.
print("Whole machine (median; proxy + sink + source CPU per message, and how busy the %d cores were)" % cores)
hdr = (f"{'scenario':34} {'hap us/msg':>11} {'sns us/msg':>11} {'hap/sns':>8} {'hap busy':>9} {'sns busy':>9}"
       f" {'sns/hap':>8} {'proxy kernel % (h/s)':>21}")
print(hdr); print("-" * len(hdr))
for s in order:
    if (s, "sensor") not in data or (s, "haproxy") not in data:
        continue
    m = data[(s, "sensor")][0][0]
    work = lambda t: med(s, t, lambda x: x[3] + x[4] + x[5]) / m * 1e6
    busy = lambda t: med(s, t, lambda x: (x[3] + x[4] + x[5]) / (x[2] * cores))
    kern = lambda t: 100 * med(s, t, lambda x: x[6] / x[3] if x[3] else float("nan"))
    wh, ws, bh, bs = work("haproxy"), work("sensor"), busy("haproxy"), busy("sensor")
    print(f"{labels[s]:34} {wh:11.1f} {ws:11.1f} {wh/ws:8.2f} {100*bh:8.0f}% {100*bs:8.0f}%"
          f" {bs/bh:8.2f} {kern('haproxy'):10.0f}/{kern('sensor'):<10.0f}")
if fleet:
    print()
    print("Fleet sensor CPU (median; the sensor process only: PostgreSQL's own CPU is not counted)")
    for s in order:
        nc, fc = med(s, "sensor", lambda x: x[3]), med(s, "fleet", lambda x: x[3])
        print(f"{labels[s]:34} sensor {nc:6.2f} s   fleet {fc:6.2f} s   flt/sns {fc/nc if nc else float('nan'):5.2f}")
print()
print(sys.argv[3])
print()
print("Per-round raw data (round scenario target msgs bytes wall_s proxy_cpu_s sink_cpu_s source_cpu_s proxy_sys_s):")
for r in rows: print("  " + " ".join(r))
PY

# Optional: one extra sensor run of one scenario under perf (cpu-clock; no HW counters here).
if [[ -n "$PERF_SCENARIO" ]]; then
  command -v perf >/dev/null || { echo "perf not installed" >&2; exit 0; }
  IFS='|' read -r args _ _ _ <<<"${SCN[$PERF_SCENARIO]}"
  perf record -e cpu-clock -F 2000 -g -p "$SENSOR_PID" -o "$work/perf.data" >/dev/null 2>&1 &
  perf_pid=$!; sleep 0.5
  # shellcheck disable=SC2086
  "$SMTP_SOURCE_BIN" $args "127.0.0.1:$SENSOR_PORT" >/dev/null 2>&1 || true
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
  echo; echo "perf (sensor, $PERF_SCENARIO): top symbols by self time"
  perf report -i "$work/perf.data" --no-children --stdio -g none --sort dso,symbol 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+(-[[:space:]]+-)?[[:space:]]*$//' | head -30
  echo; echo "perf (sensor, $PERF_SCENARIO): by DSO"
  perf report -i "$work/perf.data" --no-children --stdio -g none --sort dso 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | sed -E 's/[[:space:]]+(-[[:space:]]+-)?[[:space:]]*$//' | head -10
  [[ $KEEP == 1 ]] && echo "perf data: $work/perf.data"
fi
