# Shared by the end-to-end benchmarks (relay_bench.sh, tls_bench.sh); sourced, not run.
# Sets up $work (a scratch folder removed at exit unless KEEP=1), $pids (killed at exit),
# and picks free ports.

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

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
