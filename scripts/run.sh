#!/usr/bin/env bash
# Runs chordphone on this machine: builds the app and starts the server.
#
#   bash scripts/run.sh                       # http://127.0.0.1:8080
#   LISTEN=127.0.0.1:9000 bash scripts/run.sh
#   bash scripts/run.sh --join ws://127.0.0.1:8080/ws   # extra server flags
#
# On a fresh machine it first installs what building the app needs (the
# wasm32 target, Trunk, wasm-bindgen-cli, binaryen; see scripts/setup-web.sh
# --build), which takes about 4 minutes once; later runs start in seconds.
# Open the printed URL in several tabs: each tab joins the ring. Ctrl-C stops
# the server gracefully (it hands its records to the ring).
set -euo pipefail
cd "$(dirname "$0")/.."

LISTEN=${LISTEN:-127.0.0.1:8080}

eval "$(bash scripts/setup-web.sh --build)"
echo "=== building the app (trunk build --release)" >&2
trunk build --release
echo "=== starting the server: open http://$LISTEN/ in a few tabs" >&2
exec cargo run --release --locked -p signal-server -- --listen "$LISTEN" --static-dir dist "$@"
