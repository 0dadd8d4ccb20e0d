#!/usr/bin/env bash
# Installs everything the browser build and the end-to-end tests need, on a
# fresh Debian 12 machine where only the Rust toolchain (rustup) exists.
# Idempotent: every step first checks what is already there, so a warm run
# takes ~1 s. A cold run takes ~4-5 minutes on 2 cores (cargo builds: trunk
# ~3 min, wasm-bindgen-cli ~1 min; apt ~20 s, npm ~2 s). Both tools are
# built without optimization (`cargo install --debug`): that compiles in a
# quarter of the time, and their own work (copying files, rewriting one
# small wasm module) takes seconds either way; the app's output is the same.
#
#   bash scripts/setup-web.sh                 # install/check, then print versions
#   eval "$(bash scripts/setup-web.sh)"       # same, and put the tools on PATH
#   eval "$(bash scripts/setup-web.sh --print-path)"   # PATH only, no checks
#   eval "$(bash scripts/setup-web.sh --build)"        # only what building the
#                                   app needs (no Chromium, SIPp, coturn)
#
# All progress messages go to stderr; stdout carries only the final
# `export PATH=...` line, so the output can be eval'ed. The line puts first:
#   $ROOT/.tools/node_modules/.bin   (wasm-opt 132 from npm's binaryen)
#   ${CARGO_HOME:-~/.cargo}/bin      (trunk, wasm-bindgen, wasm-bindgen-test-runner)
#
# What and why (versions pinned; see ../shared/ENVIRONMENT.md from the
# repository root):
#   - wasm32-unknown-unknown target        (rustup)
#   - chromium, chromium-driver, sip-tester (sipp), coturn (turnserver), and
#     nodejs/npm if npm is missing          (apt)
#   - binaryen 132 (wasm-opt)               (npm, into $ROOT/.tools, NOT Debian's
#     binaryen 108: it renumbers wasm-bindgen's externref table export and
#     the page dies with "WebAssembly.Table.set(): ... function-typed object")
#   - trunk 0.21.14                         (cargo install; 0.22 needs rustc 1.96)
#   - wasm-bindgen-cli 0.2.130              (cargo install from patched source,
#     must equal the `wasm-bindgen = "=0.2.130"` crate pin)
# `.tools/` is a local install dir and must be git-ignored (`/.tools`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/.tools"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130
# wasm-bindgen-cli 0.2.130's Cargo.lock wants webpki-roots 1.0.11, which the
# registry here does not serve; 1.0.10 satisfies ureq's `^1.0.10` too.
WEBPKI_ROOTS_PIN=1.0.10
BINARYEN_VERSION=132.0.0
BINARYEN_MAJOR=${BINARYEN_VERSION%%.*}
# Debian package -> the command it must provide.
APT_PACKAGES=(chromium:chromium chromium-driver:chromedriver sip-tester:sipp coturn:turnserver)

path_line() {
  printf 'export PATH=%q:"$PATH"\n' "$TOOLS/node_modules/.bin:$CARGO_BIN"
}

BUILD_ONLY=0
case "${1:-}" in
  --print-path) path_line; exit 0 ;;
  --build) BUILD_ONLY=1 ;;
  -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  "") ;;
  *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

# fd 3 = the real stdout (for the export line); everything else -> stderr.
exec 3>&1 1>&2

# Our tools must win over anything else on PATH (e.g. /usr/bin/wasm-opt 108).
export PATH="$TOOLS/node_modules/.bin:$CARGO_BIN:$PATH"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

SCRATCH=""
POLICY_RC_CREATED=0
cleanup() {
  if [ -n "$SCRATCH" ]; then rm -rf "$SCRATCH"; fi
  if [ "$POLICY_RC_CREATED" = 1 ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

T0=$SECONDS
STEP_T0=$SECONDS
step() { STEP_T0=$SECONDS; printf '\n=== %s\n' "$*"; }
step_done() { printf -- '--- %s (%ss)\n' "$*" "$((SECONDS - STEP_T0))"; }
die() { printf 'ERROR: %s\n' "$*"; exit 1; }

# First line of `CMD --version`, or empty if CMD is missing or fails.
version_of() { { "$@" --version 2>/dev/null || true; } | head -n1; }

# Source builds go to a private scratch dir (removed on exit): never into the
# project's target/ (a caller's CARGO_TARGET_DIR would otherwise be used) and
# never under a directory whose .cargo/config.toml could change the build
# target. Call as a plain statement, not in $(...): it must set SCRATCH here.
make_scratch() {
  if [ -z "$SCRATCH" ]; then SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/setup-web.XXXXXX"); fi
}

# ---------------------------------------------------------------------------
step "1/5 rust target wasm32-unknown-unknown"
command -v rustup >/dev/null || die "rustup not found (install the Rust toolchain first)"
# Run in ROOT so a rust-toolchain file there (if any) selects the toolchain.
if (cd "$ROOT" && rustup target list --installed) | grep -qx wasm32-unknown-unknown; then
  step_done "already installed"
else
  (cd "$ROOT" && rustup target add wasm32-unknown-unknown)
  step_done "installed"
fi

# ---------------------------------------------------------------------------
if [ "$BUILD_ONLY" = 1 ]; then APT_PACKAGES=(); fi
step "2/5 apt packages: ${APT_PACKAGES[*]%%:*}"
missing=()
for entry in ${APT_PACKAGES[@]+"${APT_PACKAGES[@]}"}; do
  pkg=${entry%%:*}
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
# npm (and node) are needed for binaryen; the nodesource nodejs package ships
# npm itself, Debian's does not, so only add them when `npm` is absent.
if ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -eq 0 ]; then
  step_done "all present"
else
  echo "installing: ${missing[*]}"
  # Keep package maintainer scripts from starting daemons (coturn's would
  # start turnserver under systemd); tests start their own. Docker-style
  # images already have such a policy-rc.d; only add one if absent.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, from chordphone scripts/setup-web.sh\nexit 101\n' |
      $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=1
  fi
  # Wait for a concurrent apt/dpkg instead of failing on its lock.
  apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  $SUDO apt-get "${apt_opts[@]}" update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive \
    apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}"
  if [ "$POLICY_RC_CREATED" = 1 ]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
    POLICY_RC_CREATED=0
  fi
  step_done "installed"
fi
for entry in ${APT_PACKAGES[@]+"${APT_PACKAGES[@]}"}; do
  command -v "${entry#*:}" >/dev/null || die "${entry#*:} missing after installing ${entry%%:*}"
done
# coturn must not run as a system service: tests start their own turnserver
# on 3478, and a daemon would hold the port. Under systemd the package
# enables and starts coturn.service; disable it. Without systemd the init
# script only starts when /etc/default/coturn sets TURNSERVER_ENABLED=1.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  if systemctl is-enabled --quiet coturn 2>/dev/null || systemctl is-active --quiet coturn 2>/dev/null; then
    echo "disabling the coturn system service"
    $SUDO systemctl disable --now coturn
  fi
fi
# The packaged daemon runs as user `turnserver` (tests run theirs as the
# calling user): stop only that one, through its own init script.
if pgrep -u turnserver -x turnserver >/dev/null 2>&1; then
  echo "stopping the coturn daemon started by the package"
  $SUDO /etc/init.d/coturn stop || true
  sleep 1
  if pgrep -u turnserver -x turnserver >/dev/null 2>&1; then
    die "a turnserver daemon (user turnserver) is still running: pids $(pgrep -u turnserver -x turnserver | tr '\n' ' ')"
  fi
fi

# ---------------------------------------------------------------------------
step "3/5 binaryen $BINARYEN_VERSION (wasm-opt) from npm into $TOOLS"
wasm_opt_ok() {
  [ -x "$TOOLS/node_modules/.bin/wasm-opt" ] &&
    [[ "$(version_of "$TOOLS/node_modules/.bin/wasm-opt")" =~ version\ $BINARYEN_MAJOR([^0-9]|$) ]]
}
if wasm_opt_ok; then
  step_done "already installed"
else
  mkdir -p "$TOOLS"
  # A package.json of its own makes $TOOLS the npm project root, so npm
  # never walks up into some other project.
  [ -f "$TOOLS/package.json" ] ||
    printf '{\n  "name": "chordphone-tools",\n  "private": true\n}\n' >"$TOOLS/package.json"
  (cd "$TOOLS" && npm install --no-audit --no-fund --save-exact "binaryen@$BINARYEN_VERSION")
  wasm_opt_ok || die "wasm-opt in $TOOLS/node_modules/.bin does not report version $BINARYEN_MAJOR"
  step_done "installed"
fi

# ---------------------------------------------------------------------------
step "4/5 trunk $TRUNK_VERSION"
if [ "$(version_of trunk)" = "trunk $TRUNK_VERSION" ]; then
  step_done "already installed"
else
  # 0.22 needs rustc 1.96; --locked uses trunk's own tested lock file.
  make_scratch
  (cd "$SCRATCH" && CARGO_TARGET_DIR="$SCRATCH/target-trunk" \
    cargo install --debug --locked --force trunk --version "$TRUNK_VERSION")
  [ "$(version_of trunk)" = "trunk $TRUNK_VERSION" ] || die "trunk --version does not report $TRUNK_VERSION"
  step_done "installed"
fi

# ---------------------------------------------------------------------------
step "5/5 wasm-bindgen-cli $WASM_BINDGEN_VERSION (wasm-bindgen, wasm-bindgen-test-runner)"
wasm_bindgen_ok() {
  [ "$(version_of wasm-bindgen)" = "wasm-bindgen $WASM_BINDGEN_VERSION" ] &&
    [[ "$(version_of wasm-bindgen-test-runner)" == *" $WASM_BINDGEN_VERSION" ]]
}
if wasm_bindgen_ok; then
  step_done "already installed"
else
  make_scratch
  dir=$SCRATCH
  # Get the published source through cargo itself (same registry, mirrors and
  # credentials as every other download). `cargo install --locked` downloads
  # the .crate into the registry cache, then fails within a second resolving
  # the lock file (webpki-roots 1.0.11 not served). Should that ever succeed,
  # it has simply installed the tool.
  installed_plain=0
  if (cd "$dir" && CARGO_TARGET_DIR="$dir/target-wb" \
      cargo install --debug --locked --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"); then
    installed_plain=1
  else
    echo "(expected) plain locked install failed; building from source with webpki-roots $WEBPKI_ROOTS_PIN"
  fi
  if [ "$installed_plain" = 0 ]; then
    name="wasm-bindgen-cli-$WASM_BINDGEN_VERSION"
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    crate_file=$(ls -1 "$cargo_home"/registry/cache/*/"$name.crate" 2>/dev/null | head -n1 || true)
    src="$dir/$name"
    if [ -n "$crate_file" ]; then
      # The .crate is a gzipped tar of "$name/..." including its Cargo.lock.
      tar -xzf "$crate_file" -C "$dir"
    else
      # Cache cleaned but source still unpacked? Use that copy.
      unpacked=$(ls -1d "$cargo_home"/registry/src/*/"$name" 2>/dev/null | head -n1 || true)
      [ -n "$unpacked" ] || die "could not obtain the source of $name from the registry"
      cp -a "$unpacked" "$src"
    fi
    [ -f "$src/Cargo.lock" ] || die "$name source has no Cargo.lock"
    (cd "$src" &&
      cargo update -p webpki-roots --precise "$WEBPKI_ROOTS_PIN" &&
      CARGO_TARGET_DIR="$dir/target-wb" cargo install --debug --path . --locked --force)
  fi
  wasm_bindgen_ok || die "wasm-bindgen / wasm-bindgen-test-runner do not report $WASM_BINDGEN_VERSION"
  step_done "installed"
fi

# ---------------------------------------------------------------------------
printf '\n=== versions (setup took %ss)\n' "$((SECONDS - T0))"
show() { printf '%-26s %s\n' "$1" "${2:-MISSING}"; }
show rustc "$(version_of rustc)"
show "wasm32 target" "$(cd "$ROOT" && rustup target list --installed | grep -x wasm32-unknown-unknown || true)"
show trunk "$(version_of trunk)"
show wasm-bindgen "$(version_of wasm-bindgen)"
show wasm-bindgen-test-runner "$(version_of wasm-bindgen-test-runner)"
show "wasm-opt ($(command -v wasm-opt))" "$(version_of wasm-opt)"
show node "$(version_of node)"
show chromium "$(version_of chromium)"
show chromedriver "$(version_of chromedriver)"
# sipp has no --version; `sipp -v` prints a banner and exits non-zero.
show sipp "$({ sipp -v 2>&1 || true; } | grep -om1 'SIPp v[0-9.]*' || true)"
show turnserver "$({ turnserver --version 2>&1 || true; } | head -n1)"

echo
echo "Put the tools first on PATH (or eval this script's stdout):"
path_line
path_line >&3
