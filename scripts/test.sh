#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, fuzzes the parsers, then
# builds Release and ASan+UBSan and runs every unit and integration test in both.
# SKIP_ASAN=1 or SKIP_FUZZ=1 shorten a local run; CI sets neither.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The report page's browser test may skip on a developer's machine without Chromium;
# here it must run, so a missing browser is a failure, never a silent skip.
export SMTP_SENSOR_REQUIRE_BROWSER=1

echo "=== Prometheus rules and Grafana dashboard"
scripts/check-observability.sh

if [ "${SKIP_FUZZ:-0}" != 1 ] && [ -x scripts/fuzz.sh ]; then
  echo "=== fuzzing the decoder for ${FUZZ_SECONDS:-60}s, the other parsers ${FUZZ_PARSER_SECONDS:-15}s each"
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} scripts/fuzz.sh
fi

if [ "${SKIP_ASAN:-0}" != 1 ]; then
  echo "=== ASan+UBSan build"
  scripts/build.sh asan
  (cd build-asan && SMTP_SENSOR_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure --timeout 900)
fi

echo "=== Release build"
scripts/build.sh release

echo "=== Debian package: build, install, check-config, systemd-analyze"
scripts/check-packaging.sh build-release

echo "=== Release tests"
cd build-release && ctest --output-on-failure --timeout 900
