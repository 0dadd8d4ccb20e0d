#!/usr/bin/env bash
# Call set-up benchmark on the real server and real headless Chromium:
# tabs in one ring (two browsers with fake camera and microphone) call each
# other one call at a time; dial -> ringing and dial -> two-way media,
# median and 95th percentile, measured in the pages. Figures only; nothing
# is asserted.
#
#   bash scripts/bench-calls.sh                  # 8 tabs, 20 calls
#   bash scripts/bench-calls.sh --tabs 6 --calls 10
#
# Prints a table on stderr and one JSON object on stdout (also saved to
# target/bench-calls.json).
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools (trunk, wasm-bindgen, wasm-opt 132, Chromium, chromedriver),
# installed or checked, and put on PATH.
eval "$(bash scripts/setup-web.sh)"

echo "=== building the app (dist/), the server and the benchmark" >&2
trunk build --release >&2
cargo build --release --locked -p signal-server -p chordphone-e2e --bin bench_calls >&2

target_dir=${CARGO_TARGET_DIR:-target}
export CHORDPHONE_SERVER_BIN="$target_dir/release/signal-server"

mkdir -p target
"$target_dir/release/bench_calls" "$@" | tee target/bench-calls.json
