#!/usr/bin/env bash
# Fuzzes the decoders of remote bytes (overlay, relay offers, link, session,
# SIP, phone, TURN relay, the media bridge's trunk SDP and RTP, SIP gateway) with
# cargo-fuzz (libFuzzer).
#
#   bash scripts/fuzz.sh [seconds-per-target]     (default 60)
#
# Works on stable Rust: cargo-fuzz's nightly-only flags (-Zsanitizer, ...)
# are allowed with RUSTC_BOOTSTRAP=1. Installs cargo-fuzz if it is missing
# (libFuzzer itself is built from libfuzzer-sys with the system C++ compiler).
# Seeds for fuzz/corpus/<target>/ come from fuzz/examples/seeds.rs (and
# sip_seeds.rs for sip_input); the corpus grows across runs. Exits non-zero if any target finds a crash; the
# crashing input is in fuzz/artifacts/<target>/ and the full libFuzzer output
# in fuzz/artifacts/<target>.log.
#
# Environment: FUZZ_TARGETS (default: every target above),
# FUZZ_SANITIZER (default address; "none" runs about twice as fast).
set -euo pipefail

SECS="${1:-60}"
if ! [[ "$SECS" =~ ^[0-9]+$ ]] || [ "$SECS" -lt 1 ]; then
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a TARGETS <<<"${FUZZ_TARGETS:-wire_decode node_input link_input session_input sip_input phone_input phone_records relay_input sdp_input gateway_input relay_offer}"
SANITIZER="${FUZZ_SANITIZER:-address}"

if ! command -v c++ >/dev/null && ! command -v g++ >/dev/null && ! command -v clang++ >/dev/null; then
    echo "fuzz: no C++ compiler found (libFuzzer needs one: apt-get install g++)" >&2
    exit 1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz..."
    t0=$(date +%s)
    if ! cargo install cargo-fuzz --locked; then
        echo "fuzz: locked install failed, retrying without --locked"
        cargo install cargo-fuzz
    fi
    echo "fuzz: cargo-fuzz installed in $(($(date +%s) - t0)) s"
fi
echo "fuzz: $(cargo fuzz --version), $(rustc --version)"

# Seed corpus: valid frames of every message kind, signed records, and
# replies to the node's own requests (the fuzzer cannot forge signatures).
cargo run --quiet --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus
# SIP: the messages of a call set-up (live Call-IDs and tags) and RFC 4475.
cargo run --quiet --manifest-path fuzz/Cargo.toml --example sip_seeds -- fuzz/corpus 2>/dev/null

# Debug assertions (-a) also turn on integer overflow checks, as in tests.
mkdir -p fuzz/artifacts
echo "fuzz: building ${TARGETS[*]} (sanitizer: $SANITIZER, debug assertions)"
t0=$(date +%s)
for t in "${TARGETS[@]}"; do
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz build -s "$SANITIZER" -a "$t" >fuzz/artifacts/build.log 2>&1; then
        echo "fuzz: building $t failed:" >&2
        tail -n 40 fuzz/artifacts/build.log >&2
        exit 1
    fi
done
echo "fuzz: built in $(($(date +%s) - t0)) s"

failed=0
summary=()
for t in "${TARGETS[@]}"; do
    log="fuzz/artifacts/$t.log"
    echo "fuzz: $t for $SECS s (log: $log)"
    set +e
    RUSTC_BOOTSTRAP=1 cargo fuzz run -s "$SANITIZER" -a "$t" -- \
        -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=70000 \
        -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
    if [ -z "$runs" ]; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
    if [ "$rc" -eq 0 ]; then
        summary+=("$t: ok, ${runs:-?} runs in ${secs:-?} s (${rate:-?} exec/s), cov ${cov:-?}, corpus ${corp:-?}")
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(\S*\).*/\1/p' "$log" | tail -n 1)
        summary+=("$t: FAILED (exit $rc) after ${runs:-?} runs; input: ${artifact:-none}")
        echo "---- $t failed; from $log:"
        # The panic message (up to the backtrace), else libFuzzer's verdict.
        awk '/panicked at/ {p = 1} /^stack backtrace:|^note: run with|^==[0-9]+==/ {p = 0} p' "$log" |
            head -n 30
        grep -E "^SUMMARY:|ERROR: libFuzzer" "$log" | head -n 3 || tail -n 30 "$log"
        if [ -n "$artifact" ] && [ -f "$artifact" ]; then
            echo "---- input ($(wc -c <"$artifact") bytes, hex):"
            od -An -v -tx1 "$artifact" | tr -d ' \n' | fold -w 128
            echo
            echo "---- replay: RUSTC_BOOTSTRAP=1 cargo fuzz run -s $SANITIZER -a $t $artifact"
        fi
    fi
done

echo "fuzz summary:"
printf '  %s\n' "${summary[@]}"
exit "$failed"
