#!/usr/bin/env bash
# Screenshots of the app for checking by eye: the real server and six
# headless Chromium tabs in one ring. Writes PNGs to target/screens/ (or DIR).
#
#   bash scripts/screens.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/setup-web.sh)"
trunk build --release >&2
cargo build --release --locked -p signal-server -p chordphone-e2e --bin screens >&2
CHORDPHONE_SERVER_BIN="${CARGO_TARGET_DIR:-target}/release/signal-server" \
  "${CARGO_TARGET_DIR:-target}/release/screens" "${1:-target/screens}"
