#!/usr/bin/env bash
# Checks that the fail2ban filter matches every line of an smtp-sensor alert log.
#
#   scripts/check-fail2ban.sh ALERTLOG [FILTER]
#
# Runs `fail2ban-regex ALERTLOG config/fail2ban/filter.d/smtp-sensor.conf` and parses its
# "Lines: N lines, I ignored, M matched, X missed" summary: exit 0 only when the log has at
# least one line and every line matched (none missed; only user_many_ips and outbound_rejections lines ignored). Exit 1 on a mismatch,
# 2 on a usage error or when fail2ban-regex is missing (Debian: apt-get install fail2ban).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log="${1:-}"
filter="${2:-$here/config/fail2ban/filter.d/smtp-sensor.conf}"

if [[ -z "$log" || "$log" == -h || "$log" == --help ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
if [[ ! -f "$log" ]]; then
  echo "check-fail2ban: no such alert log: $log" >&2
  exit 2
fi
if [[ ! -f "$filter" ]]; then
  echo "check-fail2ban: no such filter: $filter" >&2
  exit 2
fi
if ! command -v fail2ban-regex >/dev/null 2>&1; then
  echo "check-fail2ban: fail2ban-regex not found (Debian package: fail2ban)" >&2
  exit 2
fi

if [[ ! -s "$log" ]]; then
  echo "check-fail2ban: $log is empty; nothing was checked" >&2
  exit 1
fi

# One verbose run: the summary plus the address each matched line yielded.
out="$(fail2ban-regex -v "$log" "$filter" 2>&1)" || {
  echo "$out" >&2
  echo "check-fail2ban: fail2ban-regex failed" >&2
  exit 1
}
summary="$(grep -E '^Lines: [0-9]+ lines, [0-9]+ ignored, [0-9]+ matched' <<<"$out" | head -n 1 || true)"
if [[ -z "$summary" ]]; then
  echo "$out" >&2
  echo "check-fail2ban: no 'Lines:' summary in the fail2ban-regex output" >&2
  exit 1
fi
re='^Lines: ([0-9]+) lines, ([0-9]+) ignored, ([0-9]+) matched(, ([0-9]+) missed)?'
[[ "$summary" =~ $re ]]
lines="${BASH_REMATCH[1]}" ignored="${BASH_REMATCH[2]}" matched="${BASH_REMATCH[3]}" missed="${BASH_REMATCH[5]:-0}"

if (( lines == 0 )); then
  echo "check-fail2ban: $log has no lines; nothing was checked" >&2
  exit 1
fi
# user_many_ips and outbound_rejections lines are ignored on purpose (the filter's
# ignoreregex: they are about accounts); nothing else may be.
expected_ignored="$(grep -cE '"type":"(user_many_ips|outbound_rejections)"' "$log" || true)"
if (( ignored != expected_ignored || missed != 0 || matched + ignored != lines )); then
  echo "$out" >&2
  echo "check-fail2ban: FAIL: $summary (every line must match)" >&2
  exit 1
fi
# The hosts fail2ban would ban, as a sanity check that <HOST> took the "ip" field.
hosts="$(awk '/^\|  *[0-9a-fA-F.:]+(\/[0-9]+)?  /{print $2}' <<<"$out" | sort -u | paste -sd ' ')"
echo "check-fail2ban: OK: $summary; hosts: ${hosts:-?}"
