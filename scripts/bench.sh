#!/usr/bin/env bash
# Reproduces the simulator figures in README.md. Each line runs chord-sim
# once and prints its JSON; all runs are deterministic except wall time and
# memory. Pass scenario names to run a subset:
#
#   bash scripts/bench.sh                 # all (about 12 minutes on 2 cores)
#   bash scripts/bench.sh stable10k scale100k
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p chordphone-sim --bin chord-sim >&2
SIM=target/release/chord-sim

declare -A RUNS=(
  [stable10k_joins]="--nodes 10000 --lookups 100000 --duration-s 10"
  [stable10k]="--nodes 10000 --static-tables --lookups 100000 --duration-s 10"
  [fail1k]="--nodes 1000 --successors 20 --fail-fraction 0.5 --records 1000 --lookups 10000"
  [churn1k]="--nodes 1000 --churn-session-s 600 --duration-s 3600 --lookups 20000 --records 1000"
  [maint1k]="--nodes 1000 --static-tables --lookups 10000 --duration-s 10"
  [scale100k]="--nodes 100000 --static-tables --lookups 1000000 --duration-s 10"
  # The same run on one thread: the peer figure for the parallel speed-up.
  [scale100k_1thread]="--nodes 100000 --static-tables --lookups 1000000 --duration-s 10 --threads 1"
)
ORDER=(stable10k stable10k_joins fail1k churn1k maint1k scale100k scale100k_1thread)
[ $# -gt 0 ] && ORDER=("$@")

for name in "${ORDER[@]}"; do
  args=${RUNS[$name]:?unknown scenario $name}
  echo "== $name: chord-sim $args --json" >&2
  # shellcheck disable=SC2086
  $SIM $args --json
done
