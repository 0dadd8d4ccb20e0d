#!/usr/bin/env bash
# Web benchmarks on the real server and real headless Chromium: join time
# of a tab, WebRTC link set-up, lookup latency across the browser ring, the
# shipped bundle size (gzip -9), and the server's memory per idle peer with
# 10,000 WebSocket peers on loopback. Figures only; nothing is asserted.
#
#   bash scripts/bench-web.sh                    # everything
#   bash scripts/bench-web.sh --skip-memory      # browser figures only
#   bash scripts/bench-web.sh --idle-peers 2000 --tabs 6 --links 10 --lookups 50
#
# Prints a table on stderr and one JSON object on stdout (also saved to
# target/bench-web.json).
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools (trunk, wasm-bindgen, wasm-opt 132, Chromium, chromedriver),
# installed or checked, and put on PATH.
eval "$(bash scripts/setup-web.sh)"

echo "=== building the app (dist/), the server and the benchmark" >&2
trunk build --release >&2
cargo build --release --locked -p signal-server -p chordphone-e2e --bin web-bench >&2

target_dir=${CARGO_TARGET_DIR:-target}
export CHORDPHONE_SERVER_BIN="$target_dir/release/signal-server"

# 10,000 peers are 10,000 sockets on each side; the server inherits this.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p target
"$target_dir/release/web-bench" "$@" | tee target/bench-web.json
