#!/usr/bin/env bash
# Builds smtp-sensor. Usage: scripts/build.sh [release|asan]  (default release)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
case "$flavour" in
  release) cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null ;;
  asan) cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTP_SENSOR_SANITIZE=ON >/dev/null ;;
  *) echo "usage: $0 [release|asan]" >&2; exit 2 ;;
esac
cmake --build "build-$flavour" -j2
