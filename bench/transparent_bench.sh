#!/usr/bin/env bash
# Transparent interception benchmark: smtp-source -> smtp-sensor -> smtp-sink, once
# through a listener with a fixed upstream and once through an `original-destination`
# listener fed by a `nat OUTPUT` REDIRECT for the client's uid (SO_ORIGINAL_DST, the
# conntrack lookup, the loop check). Both listeners live in one daemon, rounds
# alternate, and the ratio original-destination / fixed is printed per scenario.
#
# Runs in a network namespace of its own (created and removed here; needs root, ip,
# nft), so the REDIRECT rule touches nothing else. smtp-source runs as `nobody`, the
# sensor as root: only the client's connections are redirected.
#
# Usage: bench/transparent_bench.sh [--rounds N] [--sinks on|off] [--keep]
# Environment: SMTP_SENSOR_BIN, ROUNDS, SINKS, SMTP_SINK_BIN, SMTP_SOURCE_BIN.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"

if [[ "${TRANSPARENT_BENCH_NS:-}" == "" ]]; then
  [[ $(id -u) == 0 ]] || { echo "needs root (a network namespace and an nft rule)" >&2; exit 2; }
  for c in ip nft setpriv; do command -v "$c" >/dev/null || { echo "missing $c (scripts/install-deps.sh)" >&2; exit 2; }; done
  ns="ssn-bench-$$"
  ip netns add "$ns"
  trap 'ip netns del "$ns"' EXIT
  ip netns exec "$ns" ip link set lo up
  rc=0
  TRANSPARENT_BENCH_NS="$ns" ip netns exec "$ns" "$0" "$@" || rc=$?
  exit "$rc"
fi

# shellcheck source=bench/bench_lib.sh
source "$here/bench_lib.sh"
SMTP_SOURCE_BIN="${SMTP_SOURCE_BIN:-/usr/sbin/smtp-source}"
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do common_arg "$@"; shift "$consumed"; done
check_common_args
need_cmds "$SMTP_SINK_BIN" "$SMTP_SOURCE_BIN"

bench_setup transparent_bench
chmod 755 "$work"
SINK_PORT=2500 FIXED_PORT=10025 OD_PORT=10026 HTTP_PORT=9925  # a namespace of our own: all free
"$SMTP_SINK_BIN" -u nobody -m 4096 "127.0.0.1:$SINK_PORT" 2048 >"$work/sink.log" 2>&1 &
SINK_PID=$!; pids+=("$SINK_PID")
wait_port "$SINK_PORT" "$SINK_PID" sink

# nobody's connections to the sink's port go to the original-destination listener.
nobody_uid=$(id -u nobody)
nft -f - <<NFT
table ip bench {
  chain out {
    type nat hook output priority -100; policy accept;
    tcp dport $SINK_PORT meta skuid $nobody_uid redirect to :$OD_PORT
  }
}
NFT

cat >"$work/sensor.yaml" <<YAML
listeners:
  - name: fixed
    listen: "127.0.0.1:$FIXED_PORT"
    upstream: "127.0.0.1:$SINK_PORT"
  - name: od
    direction: outbound
    listen: "127.0.0.1:$OD_PORT"
    upstream: original-destination
YAML
sensor_settings >>"$work/sensor.yaml"
start_sensor "$FIXED_PORT" "$OD_PORT"

declare -A SCN=(
  [reuse1k]="-s 10 -m 20000 -l 1024 -d|20000"
  [conn1k]="-s 10 -m 10000 -l 1024|10000"
)
declare -A DEST=([fixed]=$FIXED_PORT [od]=$SINK_PORT)
results="$work/results.tsv"
: >"$results"
echo "# transparent_bench: rounds=$ROUNDS sinks=$SINKS cores=$(nproc) sensor=$SMTP_SENSOR_BIN" >&2
start=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  for s in reuse1k conn1k; do
    for t in fixed od; do
      IFS="|" read -r args msgs <<<"${SCN[$s]}"
      c0=$(cpu_ticks "$SENSOR_PID")
      t0=$(date +%s.%N)
      # shellcheck disable=SC2086
      setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMTP_SOURCE_BIN" $args "127.0.0.1:${DEST[$t]}" \
        >"$work/source.out" 2>&1 || { echo "smtp-source failed ($s/$t): $(head -c 300 "$work/source.out")" >&2; exit 1; }
      t1=$(date +%s.%N)
      c1=$(cpu_ticks "$SENSOR_PID")
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$t" "$msgs" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
        "$(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN{print (b-a)/hz}')" >>"$results"
      printf '  round %s %-8s %-6s %6.2fs\n' "$r" "$s" "$t" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" >&2
      if [[ $s == conn1k ]]; then sleep 1; fi  # TIME_WAIT sockets settle
    done
  done
done
echo "# total bench time: $(($(date +%s) - start)) s" >&2
kill -0 "$SENSOR_PID" 2>/dev/null || { echo "smtp-sensor died; log:" >&2; tail -20 "$work/sensor.log" >&2; exit 1; }
# Every session went through its listener and none looped: connections per listener.
metrics=$(exec 3<>"/dev/tcp/127.0.0.1/$HTTP_PORT"; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3)
grep -E '^smtp_sensor_(connections|upstream_errors)_total\{' <<<"$metrics" | sed 's/^/# /' >&2 || true

/usr/bin/python3 - "$results" <<'PY'
import sys, statistics as st
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
labels = {"reuse1k": "20000 x 1KB, 10 reused sessions", "conn1k": "10000 x 1KB, 1 session/msg (10 conc)"}
rate, cpu = {}, {}
for r, s, t, m, wall, c in rows:
    rate.setdefault((s, t), []).append(int(m) / float(wall))
    cpu.setdefault((s, t), []).append(float(c) / int(m) * 1e6)
# On a shared machine wall-clock rates swing with the neighbours' load; the sensor's own
# CPU time per message (utime+stime, all threads) is the steadier comparison.
print(f"\n{'scenario':38} {'fixed msg/s':>12} {'orig-dst':>9} {'ratio':>6}   {'fixed us/msg':>12} {'orig-dst':>9} {'ratio':>6}")
for s in ("reuse1k", "conn1k"):
    f, o = st.median(rate[(s, "fixed")]), st.median(rate[(s, "od")])
    cf, co = st.median(cpu[(s, "fixed")]), st.median(cpu[(s, "od")])
    print(f"{labels[s]:38} {f:12.0f} {o:9.0f} {o / f:6.3f}   {cf:12.1f} {co:9.1f} {co / cf:6.3f}")
print(f"(medians of {len(rate[('reuse1k', 'fixed')])} rounds; ratio = original-destination / fixed upstream;"
      " msg/s: higher is better, us/msg: sensor CPU, lower is better)")
PY
