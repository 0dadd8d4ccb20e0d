#!/usr/bin/env bash
# The whole test suite. Installs what it needs on a fresh machine (the wasm
# target, rustfmt, clippy, cargo-fuzz) and runs: format and lint checks, the
# wasm32 build of the core crates, unit and integration tests (the simulator
# scenarios run in release mode), and a bounded fuzzing run.
#
#   bash scripts/test.sh            # everything
#   FUZZ_SECONDS=0 bash scripts/test.sh   # skip fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "toolchain"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "core crates build for wasm32"
cargo build --locked --release -p chordphone-overlay --target wasm32-unknown-unknown

step "tests"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --workspace --release 2>&1 | tee "$log"
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '; ([0-9]+) failed' "$log" | grep -Eo '[0-9]+' | awk '{s += $1} END {print s + 0}')

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [ "$FUZZ_SECONDS" -gt 0 ] && [ -f scripts/fuzz.sh ]; then
  step "fuzzing (${FUZZ_SECONDS}s per target)"
  bash scripts/fuzz.sh "$FUZZ_SECONDS"
fi

step "all checks passed"
echo "summary: $passed passed, $failed failed"
