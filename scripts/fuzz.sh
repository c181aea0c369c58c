#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in build-fuzz/ and runs each on a fresh corpus:
# the decoder for FUZZ_SECONDS (default 60), seeded with the fixture transcripts, then the
# parsers of tests/fuzz (config, PROXY header, HTTP inputs, control line) for
# FUZZ_PARSER_SECONDS each (default 15), seeded from tests/fuzz/seeds and the example
# configs. Exits non-zero at the first target that finds a crash.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
parser_seconds=${FUZZ_PARSER_SECONDS:-15}
targets=(fuzz_decoder fuzz_config fuzz_proxy_header fuzz_http_inputs fuzz_control)

CXX=clang++ cmake -S "$root" -B "$build" -DSMTP_SENSOR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build" --target "${targets[@]}" -j2

# run NAME SECONDS BINARY [libFuzzer flags]: a fresh corpus each run, seeded from corpus-seed/NAME.
run() {
  local name=$1 secs=$2 bin=$3
  shift 3
  local corpus=$build/fuzz-corpus/$name
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp "$build"/corpus-seed/"$name"/* "$corpus"/
  echo "--- $name for ${secs}s"
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/$name-" "$@" "$corpus"
}

rm -rf "$build"/corpus-seed
mkdir -p "$build"/corpus-seed/{decoder,config}
cp "$root"/tests/proto/fixtures/*.txt "$build"/corpus-seed/decoder/
cp "$root"/config/*.yaml "$build"/corpus-seed/config/
cp -r "$root"/tests/fuzz/seeds/. "$build"/corpus-seed/

run decoder "$seconds" "$build"/tests/proto/fuzz/fuzz_decoder -dict="$root"/tests/proto/fuzz/smtp.dict
run config "$parser_seconds" "$build"/tests/fuzz/fuzz_config -max_len=16384
run proxy_header "$parser_seconds" "$build"/tests/fuzz/fuzz_proxy_header
run http_inputs "$parser_seconds" "$build"/tests/fuzz/fuzz_http_inputs
run control "$parser_seconds" "$build"/tests/fuzz/fuzz_control
