#!/usr/bin/env bash
# The server's embedded TURN relay against coturn, on the same relayed
# calls in the same run, on loopback: voice load (50, 100 and 200 calls of
# 50 packets/s each way, ChannelData; 100 calls with Send/Data indications)
# and a flood (4 calls keeping 32 packets in flight each way). Relayed
# packets/s, loss, delay and each relay process's CPU per call; medians of
# 3 repetitions, the relays' order alternating. Figures only; nothing is
# asserted.
#
#   bash scripts/bench-relay.sh                  # the figures in the README
#   bash scripts/bench-relay.sh --calls 50,100 --seconds 3 --reps 5
#   bash scripts/bench-relay.sh --flood-calls 8 --window 64
#
# Prints a table on stderr and one JSON object on stdout (also saved to
# target/bench-relay.json).
set -euo pipefail
cd "$(dirname "$0")/.."

# coturn (turnserver) among the tools, installed or checked, on PATH.
eval "$(bash scripts/setup-web.sh)"

echo "=== building the server and the benchmark" >&2
cargo build --release --locked -p signal-server -p chordphone-e2e --bin bench_relay >&2

target_dir=${CARGO_TARGET_DIR:-target}
export CHORDPHONE_SERVER_BIN="$target_dir/release/signal-server"

# Two sockets per call in the load generator, one per allocation in each
# relay; the server inherits the limit (coturn raises its own).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

mkdir -p target
"$target_dir/release/bench_relay" "$@" | tee target/bench-relay.json
