#!/usr/bin/env bash
# ThreadSanitizer run (not part of CI: it would add ~15 min): builds the daemon with
# -fsanitize=thread in build-tsan/ and runs the integration tests that exercise threads
# (both I/O threads, drain, reload, TLS, the HTTP and control threads) against it. A report
# makes the daemon exit 66, which the harness fails at teardown. Library-internal reports
# are suppressed in tests/tsan.supp. Usage: scripts/tsan.sh [pytest args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TSAN_BUILD_DIR:-$root/build-tsan}
# -Wno-tsan: Asio's fenced blocks use atomic_thread_fence, which TSan does not model.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -Wno-tsan" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread"
cmake --build "$build" --target smtp-sensor -j2
tests=(test_concurrency test_client_limit test_lifecycle test_observability test_tls test_reliability
       test_flags_control test_http_secure test_investigate test_resets test_timeouts test_full_disk)
args=("$@")
[ ${#args[@]} -eq 0 ] && for t in "${tests[@]}"; do args+=("$root/tests/integration/$t.py"); done
export TSAN_OPTIONS="suppressions=$root/tests/tsan.supp halt_on_error=0 second_deadlock_stack=1"
export SMTP_SENSOR_BIN="$build/daemon/smtp-sensor"
/usr/bin/python3 -m pytest -q -p no:cacheprovider "${args[@]}"
