#!/usr/bin/env bash
# The whole test suite. Installs what it needs on a fresh machine (the wasm
# target, rustfmt, clippy, cargo-fuzz, and through scripts/setup-web.sh
# Trunk, wasm-bindgen-cli, binaryen, Chromium with its driver, SIPp, coturn)
# and runs: format and lint checks (native and wasm32), the wasm32 build of
# the core crates, unit and integration tests (the simulator scenarios run in
# release mode), the app build with Trunk, the end-to-end tests (the real
# server and real headless Chromium tabs), and a bounded fuzzing run.
#
#   bash scripts/test.sh                  # everything
#   FUZZ_SECONDS=0 bash scripts/test.sh   # skip fuzzing
#   E2E=0 bash scripts/test.sh            # skip the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "toolchain"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
E2E=${E2E:-1}
if [ "$E2E" = 1 ]; then
  eval "$(bash scripts/setup-web.sh)"
fi

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "clippy (wasm32: the browser peer)"
cargo clippy --locked -p peer-wasm --target wasm32-unknown-unknown -- -D warnings

step "core crates build for wasm32"
# Not chordphone-bridge: the media bridge is server-only (str0m's DTLS stack).
cargo build --locked --release -p chordphone-overlay -p chordphone-link -p chordphone-session -p chordphone-sip -p chordphone-phone -p chordphone-relay -p chordphone-gateway --target wasm32-unknown-unknown

step "tests (overflow checks and debug assertions on)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Everything but the browser tests and the simulator's scenarios, in the
# `test` profile: checks on.
cargo test --locked --workspace --exclude chordphone-e2e --exclude chordphone-sim 2>&1 | tee "$log"
cargo test --locked -p chordphone-sim --lib --bins 2>&1 | tee -a "$log"

step "simulator scenarios (release)"
cargo test --locked --release -p chordphone-sim --test '*' 2>&1 | tee -a "$log"

if [ "$E2E" = 1 ]; then
  step "app build (trunk build --release) and server build"
  trunk build --release
  cargo build --locked --release -p signal-server
  step "end-to-end tests: real server, real headless Chromium"
  # One at a time: each test starts its own server and several browsers.
  cargo test --locked --release -p chordphone-e2e -- --test-threads=1 2>&1 | tee -a "$log"
fi
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '; ([0-9]+) failed' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
if [ "$FUZZ_SECONDS" -gt 0 ] && [ -f scripts/fuzz.sh ]; then
  step "fuzzing (${FUZZ_SECONDS}s per target)"
  bash scripts/fuzz.sh "$FUZZ_SECONDS"
fi

step "all checks passed"
echo "summary: $passed passed, $failed failed"
