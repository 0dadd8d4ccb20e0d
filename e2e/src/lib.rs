//! End-to-end tests and web benchmarks: the real `signal-server` process and
//! real headless Chromium tabs running the built app (`dist/`), linked by
//! real WebRTC data channels.
//!
//! # Running
//!
//! The tests need the release server binary, the built app and Chromium with
//! a matching chromedriver (`scripts/setup-web.sh` installs the tools):
//!
//! ```text
//! eval "$(bash scripts/setup-web.sh --print-path)"
//! trunk build --release                       # dist/
//! cargo build --release -p signal-server      # next to the test binaries
//! cargo test -p chordphone-e2e --release -- --test-threads=1
//! ```
//!
//! The server binary is looked up next to the test executable
//! (`target/<profile>/signal-server`) unless `CHORDPHONE_SERVER_BIN` names
//! it; the app is served from `<repo>/dist`. Chromium and chromedriver are
//! `/usr/bin/chromium` and `/usr/bin/chromedriver` unless `CHROMIUM_BIN` and
//! `CHROMEDRIVER` say otherwise. One test at a time: each starts
//! its own server(s) on free ports and its own browsers, and a machine of two
//! cores does not run two browser rings side by side reliably.
//!
//! A failed check prints every node's status (servers' `/status`, tabs'
//! `status()`), the ring order the live ids imply, the pages' console
//! output and the server's log.
//!
//! The benchmarks run with `bash scripts/bench-web.sh` (the `web-bench`
//! binary) and `bash scripts/bench-calls.sh` (the `bench_calls` binary:
//! call set-up times) and `bash scripts/bench-relay.sh` (the `bench_relay`
//! binary: the embedded TURN relay against coturn); they print figures, they assert nothing.
//!
//! # Layout
//!
//! - [`server`]: the server as a child process (start, kill, restart on the
//!   same port, logs in a file shown on failure).
//! - [`browser`]: chromedriver, one Chromium process per [`browser::Browser`],
//!   several tabs each, abrupt kills.
//! - [`api`]: `window.chordphone` calls from Rust.
//! - [`calls`]: the phone in a tab: names, calls and their states,
//!   messages, what a call carries.
//! - [`media`]: a pure tone per browser as its microphone, and the tone and
//!   video frames a page receives, measured in the page.
//! - [`status`], [`ring`], [`cluster`]: node status, the ring the live ids
//!   imply, and checks of one against the other.
//! - [`wait`]: bounded polling that fails with every node's status.
//! - [`coturn`], [`relayed`]: a real coturn sharing the server's TURN
//!   secret; relay-only tabs and the checks that they are relayed.
//! - [`turnleg`], [`relayload`]: TURN clients with allocations and
//!   relayed calls between them, the load of the relay benchmark.
//! - [`linkclient`], [`loadgen`]: raw WebSocket link clients (hostile peers,
//!   10,000 idle peers for the memory benchmark).
//! - [`sipp`]: SIPp as a child process (the SIP interop and gateway tests).
//! - [`stats`], [`args`]: summary figures and flags of the benchmarks.

// The harness measures and bounds wall time (polling deadlines, set-up
// times); the clock ban protects the sans-IO cores, not this crate.
#![allow(clippy::disallowed_methods)]

pub mod api;
pub mod args;
pub mod browser;
pub mod calls;
pub mod cluster;
pub mod coturn;
pub mod http;
pub mod linkclient;
pub mod loadgen;
pub mod media;
pub mod paths;
pub mod ports;
pub mod process;
pub mod relayed;
pub mod relayload;
pub mod ring;
pub mod server;
pub mod setup;
pub mod sipp;
pub mod stats;
pub mod status;
pub mod turnleg;
pub mod wait;

/// Harness errors are messages for the person reading a failed test.
pub type Result<T> = std::result::Result<T, String>;
