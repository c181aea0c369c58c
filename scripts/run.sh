#!/usr/bin/env bash
# Runs the main job: installs what it needs, builds, and starts smtp-sensor in the
# foreground with config/smtp-sensor.yaml (or -c FILE).
#   scripts/run.sh --demo   also starts a local smtp-sink as the upstream, plays a little
#                           realistic traffic (mail, pipelining, an AUTH-probing burst),
#                           shows what the sensor saw, and keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=0
config=config/smtp-sensor.yaml
while [ $# -gt 0 ]; do
  case "$1" in
    --demo) demo=1; config=config/demo.yaml ;;
    -c) config=$2; shift ;;
    *) echo "usage: $0 [--demo] [-c FILE]" >&2; exit 2 ;;
  esac
  shift
done
scripts/install-deps.sh --no-browser
scripts/build.sh release
bin=build-release/daemon/smtp-sensor

if [ "$demo" = 0 ]; then
  # The default paths live under /var; create them as systemd's LogsDirectory/StateDirectory would.
  mkdir -p /var/log/smtp-sensor /var/lib/smtp-sensor 2>/dev/null || true
  exec "$bin" run -c "$config"
fi

exec scripts/demo.sh "$bin"
