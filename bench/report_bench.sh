#!/usr/bin/env bash
# Times `smtp-sensor report` for every step x mode over the whole last year of a store
# built by bench/report_store_gen, in the single-threaded CLI, and prints a table.
# Target (issue 6): each report <= 1 s. Not a test: it prints figures.
#
#   bench/report_bench.sh [STORE] [ZONE...]
#   STORE defaults to /tmp/report-bench.db (built first if missing: ~2 min, ~4 GB);
#   zones default to UTC and America/New_York (a whole-hour zone far from UTC, so day
#   edges read the most session rows). Set SMTP_SENSOR_BIN / REPORT_STORE_GEN to pick
#   the binaries (default: build-release/). TOP=N adds --sort new_connections --top N
#   (the busiest N rows: every group is still summed, but only N are printed).
set -euo pipefail
cd "$(dirname "$0")/.."
store=${1:-/tmp/report-bench.db}
shift || true
zones=("$@")
[ ${#zones[@]} -eq 0 ] && zones=(UTC America/New_York)
bin=${SMTP_SENSOR_BIN:-build-release/daemon/smtp-sensor}
gen=${REPORT_STORE_GEN:-build-release/bench/report_store_gen}
case "$store" in "$PWD"/*|./*|[!/]*) echo "write the store outside the repository (e.g. /tmp)" >&2; exit 2;; esac
if [ ! -e "$store" ]; then
  echo "building $store (10 M sessions)..." >&2
  "$gen" "$store"
fi

to=$(date -u +%F)
from=$(date -u -d "$to - 364 days" +%F)
# Quarters must be whole: the quarters that hold the first and the last day.
qfrom=$(date -u -d "$(date -u -d "$from" +%Y)-$(printf %02d $(( ( ($(date -u -d "$from" +%-m) - 1) / 3) * 3 + 1 )))-01" +%F)
qend_month=$(( ( ($(date -u -d "$to" +%-m) - 1) / 3) * 3 + 3 ))
qto=$(date -u -d "$(date -u -d "$to" +%Y)-$(printf %02d $qend_month)-01 + 1 month - 1 day" +%F)

extra=()
[ -n "${TOP:-}" ] && extra=(--sort new_connections --top "$TOP")
now() { date +%s.%N; }
# The CSV goes to a file, as an export does (a pipe adds the reader's pace: `| wc -l`
# alone costs ~1 s for 7 M rows on these 2 cores); rows are counted afterwards.
out=$(mktemp /tmp/report_bench.XXXXXX.csv)
trap 'rm -f "$out"' EXIT
run() {  # prints "seconds rows"
  local t0 t1 rows
  t0=$(now)
  "$bin" report --store "$store" "$@" "${extra[@]}" --format csv > "$out"
  t1=$(now)
  rows=$(wc -l < "$out")
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $((rows - 1))"
}

sessions=$(sqlite3 "file:$store?mode=ro" "select count(*) from sessions")
echo "store $store: $sessions sessions; range $from .. $to (quarters $qfrom .. $qto); CSV to a file ${extra[*]}"
printf "\n| step | mode |"; for z in "${zones[@]}"; do printf " %s: s | rows |" "$z"; done; echo
printf "|---|---|"; for _ in "${zones[@]}"; do printf -- "---:|---:|"; done; echo
for step in hour day week month quarter; do
  for mode in trend domain user ip; do
    printf "| %s | %s |" "$step" "$mode"
    for z in "${zones[@]}"; do
      if [ "$step" = quarter ]; then range=(--from "$qfrom" --to "$qto"); else range=(--from "$from" --to "$to"); fi
      # Median of three for the quick ones; one run for the slow ones.
      read -r t rows < <(run "${range[@]}" --step "$step" --mode "$mode" --tz "$z")
      if awk -v t="$t" 'BEGIN { exit !(t < 3) }'; then
        read -r t2 _ < <(run "${range[@]}" --step "$step" --mode "$mode" --tz "$z")
        read -r t3 _ < <(run "${range[@]}" --step "$step" --mode "$mode" --tz "$z")
        t=$(printf "%s\n%s\n%s\n" "$t" "$t2" "$t3" | sort -n | sed -n 2p)
      fi
      printf " %.2f | %s |" "$t" "$rows"
    done
    echo
  done
done
