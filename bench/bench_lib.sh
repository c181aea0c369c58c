# Shared by the end-to-end benchmarks (relay_bench.sh, tls_bench.sh); sourced, not run.
# Checks their common arguments, sets up $work (a scratch folder removed at exit unless
# KEEP=1) and $pids (killed at exit), picks free ports, starts HAProxy and reads CPU time.

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The settings both benches share (environment wins; flags, parsed later, win over it).
# The sourcing script has set $repo.
SMTP_SENSOR_BIN="${SMTP_SENSOR_BIN:-$repo/build/daemon/smtp-sensor}"
HAPROXY_BIN="${HAPROXY_BIN:-haproxy}"
SMTP_SINK_BIN="${SMTP_SINK_BIN:-/usr/sbin/smtp-sink}"
ROUNDS="${ROUNDS:-3}"
SINKS="${SINKS:-off}"
SENSOR_THREADS="${SENSOR_THREADS:-auto}"  # the sensor's `threads:` (issue 20 compares 1 and 2)
KEEP=0

# bench_setup NAME: the scratch folder and the exit trap.
bench_setup() {
  work="$(mktemp -d "/tmp/$1.XXXXXX")"
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# pick_ports N FIRST: N free ports from FIRST on (outside the ephemeral range), into $pick.
pick_ports() {
  local p=$2
  pick=()
  while [[ ${#pick[@]} -lt $1 ]]; do port_free "$p" && pick+=("$p"); p=$((p + 1)); done
}

wait_port() {  # wait_port PORT PID NAME: until something listens, or NAME died (its log is $work/NAME.log)
  local i
  for ((i = 0; i < 100; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "$3 died at startup; log:" >&2; cat "$work/$3.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$3 did not listen on $1" >&2; exit 1
}

# common_arg ARGS...: the options both benches take (--rounds, --sinks, --keep, --help);
# sets $consumed to how many arguments it used, and exits on an unknown one.
common_arg() {
  case "$1" in
    --rounds) ROUNDS="$2"; consumed=2 ;;
    --sinks) SINKS="$2"; consumed=2 ;;
    --keep) KEEP=1; consumed=1 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
}

# check_common_args: --sinks on|off, and a runnable $SMTP_SENSOR_BIN.
check_common_args() {
  [[ "$SINKS" == on || "$SINKS" == off ]] || { echo "--sinks must be on or off" >&2; exit 2; }
  [[ -x "$SMTP_SENSOR_BIN" ]] || { echo "smtp-sensor binary not found: $SMTP_SENSOR_BIN (set SMTP_SENSOR_BIN)" >&2; exit 2; }
}

need_cmds() {  # need_cmds CMD...: each on $PATH (or an executable path)
  local b
  for b; do command -v "$b" >/dev/null || { echo "missing $b" >&2; exit 2; }; done
}

# start_haproxy PORT: $HAPROXY_BIN in TCP mode with the defaults of shared/TOOLCHAIN.md
# and the frontends and backends read from stdin; returns once it listens on PORT.
start_haproxy() {
  { printf 'defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n'; cat; } \
    >"$work/haproxy.cfg"
  "$HAPROXY_BIN" -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  pids+=("$HAPROXY_PID")
  wait_port "$1" "$HAPROXY_PID" haproxy
}

# cpu_ticks PID: utime + stime of all its threads, plus those of its reaped children (a
# forking TLS sink); in clock ticks.
cpu_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
# sys_ticks PID: the kernel's part of cpu_ticks (stime + cstime).
sys_ticks() { awk '{print $15 + $17}' "/proc/$1/stat"; }

# sensor_settings: the sensor config after its listeners, the same in both benchmarks:
# transcripts and store on or off with --sinks, `threads:` from $SENSOR_THREADS, everything
# under $work.
sensor_settings() {
  local sinks_enabled=false
  [[ $SINKS == on ]] && sinks_enabled=true
  cat <<EOF
threads: $SENSOR_THREADS
http: { listen: "127.0.0.1:$HTTP_PORT" }
transcripts: { enabled: $sinks_enabled, path: $work/transcript.log }
alerts: { path: $work/alerts.jsonl }
store: { enabled: $sinks_enabled, path: $work/sessions.db }
EOF
}

# start_sensor PORT...: smtp-sensor on $work/sensor.yaml; returns once it listens on each.
start_sensor() {
  local p
  "$SMTP_SENSOR_BIN" run -c "$work/sensor.yaml" >"$work/sensor.log" 2>&1 &
  SENSOR_PID=$!
  pids+=("$SENSOR_PID")
  for p; do wait_port "$p" "$SENSOR_PID" sensor; done
}
