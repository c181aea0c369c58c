#!/usr/bin/env bash
# Builds the decoder's libFuzzer target with clang in build-fuzz/ and runs it for FUZZ_SECONDS (default
# 60), seeded with the fixture transcripts. Exits non-zero when the fuzzer finds a crash.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}

CXX=clang++ cmake -S "$root" -B "$build" -DSMTP_SENSOR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" --target fuzz_decoder -j2

# Fresh corpus each run: the fixtures as seeds, plus whatever this run discovers.
corpus=$build/fuzz-corpus
rm -rf "$corpus"
mkdir -p "$corpus"
cp "$root"/tests/proto/fixtures/*.txt "$corpus"/

exec "$build"/tests/proto/fuzz/fuzz_decoder \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -dict="$root"/tests/proto/fuzz/smtp.dict -artifact_prefix="$build"/ "$corpus"
