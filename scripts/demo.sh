#!/usr/bin/env bash
# The demo behind `scripts/run.sh --demo`; DEMO_ONCE=1 exits after the traffic (for CI).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build-release/daemon/smtp-sensor}
mkdir -p demo-out
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Upstream: Postfix's smtp-sink (the binary only). It advertises AUTH and accepts all
# mail; -f AUTH with -B makes it refuse every login, like a server under password guessing.
/usr/sbin/smtp-sink -u nobody -f AUTH -B "535 5.7.8 Error: authentication failed" 127.0.0.1:2526 256 & pids+=($!)
"$bin" run -c config/demo.yaml 2> demo-out/daemon.log & pids+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:9925/healthz >/dev/null && break; sleep 0.1; done
echo "smtp-sensor is up: SMTP on 127.0.0.1:2525, metrics on http://127.0.0.1:9925/metrics, report page on http://127.0.0.1:9925/"

# Where this run's transcript starts: demo-out/ keeps the files of earlier runs.
transcript=demo-out/transcript.log
start=$(stat -c %s "$transcript" 2>/dev/null || echo 0)

echo "--- a clean message with swaks, and 50 more with smtp-source"
swaks --server 127.0.0.1:2525 --from alice@example.com --to bob@example.org --silent 1 || true
/usr/sbin/smtp-source -s 5 -m 50 -l 2048 -d -f carol@example.com -t dave@example.net 127.0.0.1:2525
echo "--- pipelined transaction"
swaks --server 127.0.0.1:2525 --pipeline --from erin@example.com --to frank@example.org --silent 1 || true
echo "--- an AUTH-probing burst from 127.0.0.66: 12 failed logins in a row"
for i in $(seq 12); do
  swaks --server 127.0.0.1:2525 --local-interface 127.0.0.66 --auth LOGIN --auth-user "admin$i" \
    --auth-password "guess$i" --quit-after AUTH --silent 2 >/dev/null 2>&1 || true
done

# Transcript lines (and alerts) reach the disk about a second after a session ends: each
# I/O thread hands its lines to the writer once a second. Wait, up to ~5 s, until this
# run's transcript has all 12 probes and every session it opened has its closing line.
caught_up() {
  local lines
  lines=$(tail -c +"$((start + 1))" "$transcript" 2>/dev/null) || return 1
  [ "$(grep -c 'New connection from: 127\.0\.0\.66:' <<<"$lines")" -ge 12 ] &&
    [ "$(grep -c '\] \*\{12\} New connection' <<<"$lines")" = "$(grep -c '\] ~\{12\} Connection ' <<<"$lines")" ]
}
for _ in $(seq 50); do caught_up && break; sleep 0.1; done
caught_up || echo "(the transcript has not caught up after 5 s; it is written about a second after each session)"

echo "--- what the sensor counted"
curl -s http://127.0.0.1:9925/metrics | grep -E '^smtp_sensor_(connections_total|bytes_total|commands_total|auth_attempts_total|messages_total|terminations_total|alerts_total|flagged_ips)' | grep -v ' 0$' || true
for f in "$transcript" demo-out/alerts.jsonl; do
  [ -s "$f" ] && { echo "--- tail $f"; tail -n 8 "$f"; }
done
[ "${DEMO_ONCE:-0}" = 1 ] && exit 0
echo "--- the daemon keeps running; try: swaks --server 127.0.0.1:2525 --to you@example.com   (Ctrl-C stops)"
wait "${pids[1]}"
