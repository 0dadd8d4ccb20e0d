//! Call set-up times between real tabs over the ring. Figures, not
//! assertions: run with `bash scripts/bench-calls.sh`, which builds what
//! this needs. Prints a readable table on stderr and one JSON object on
//! stdout.
//!
//! ```text
//! bench_calls [--tabs N] [--calls N]
//! ```
//!
//! `--tabs` tabs (8) over two browsers with fake camera and microphone
//! join one ring and register a name each; then `--calls` calls (20), one
//! at a time, each from tab `i` to tab `i + 3` (always the other browser).
//! The callee's page answers as soon as the call rings there. Measured in
//! the pages, on the machine's clock (`performance.timeOrigin + now()`, so
//! two browsers' times compare):
//!
//! - dial to ringing: from just before `call()` until the caller's call
//!   shows `ringing` (the callee's 180 came back);
//! - dial to two-way media: until audio packets have arrived on both
//!   sides' call connections (`packetsReceived` of the inbound audio, read
//!   from the connection itself every 10 ms rather than from `calls()`,
//!   whose figures are refreshed once a second);
//! - dial to active: until the caller's call shows `active`.

// Benchmarks measure wall time.
#![allow(clippy::disallowed_methods)]

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::calls::CALL_BOUND;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::stats::{fmt_summary, summary};
use serde_json::{json, Value};
use std::process::ExitCode;

#[derive(Debug)]
struct Args {
    tabs: usize,
    calls: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { tabs: 8, calls: 20 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            // At least 4: the callee is three tabs on, in the other browser.
            "--tabs" => args.tabs = number("--tabs")?.max(4),
            "--calls" => args.calls = number("--calls")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Shared by the scripts below: the clock, and a record of every
/// RTCPeerConnection the page makes from now on (the constructor wrapped
/// in a Proxy, so the app's `new RTCPeerConnection` and `instanceof`
/// checks work as before); `audioSince(before)` is true once a connection
/// made since the set `before` has received audio packets.
const HOOK: &str = r#"
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
if (!window.e2ePcs) {
  window.e2ePcs = new Set();
  window.RTCPeerConnection = new Proxy(window.RTCPeerConnection, {
    construct(target, args, newTarget) {
      const pc = Reflect.construct(target, args, newTarget);
      window.e2ePcs.add(pc);
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'closed') window.e2ePcs.delete(pc);
      });
      return pc;
    },
  });
}
const audioSince = async (before) => {
  for (const pc of window.e2ePcs) {
    if (before.has(pc) || pc.signalingState === 'closed') continue;
    let got = false;
    (await pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio' && s.packetsReceived > 0) got = true;
    });
    if (got) return true;
  }
  return false;
};
const callById = async (id) => (await window.chordphone.calls()).find((c) => c.id === id);
"#;

/// Caller: dials `arguments[0]` and follows the call for at most
/// `arguments[1]` ms; resolves with the times (ms on the machine's clock)
/// of dialling, ringing, active and audio arriving.
const DIAL: &str = r#"
const [target, bound] = arguments;
return (async () => {
  const before = new Set(window.e2ePcs);
  const out = { t0: now(), ringing: null, active: null, audio: null };
  try {
    out.id = await window.chordphone.call(target);
  } catch (e) {
    out.error = String(e && e.message ? e.message : e);
    return out;
  }
  while (now() - out.t0 < bound) {
    const c = await callById(out.id);
    const t = now();
    if (c) {
      out.state = c.state;
      out.reason = c.reason;
      if (out.ringing === null && c.state === 'ringing') out.ringing = t;
      if (out.active === null && c.state === 'active') out.active = t;
      if (c.state === 'ended') return out;
    }
    if (out.audio === null && await audioSince(before)) out.audio = now();
    if (out.audio !== null && out.active !== null) return out;
    await sleep(10);
  }
  out.timeout = true;
  return out;
})();
"#;

/// Callee: from now on for at most `arguments[1]` ms, answers the first
/// call from `arguments[0]` as soon as it rings and notes when audio
/// arrives; the result is the Promise `window.e2eAnswered`.
const ARM: &str = r#"
const [from, bound] = arguments;
const before = new Set(window.e2ePcs);
window.e2eAnswered = (async () => {
  const t0 = now();
  const out = { incoming: null, active: null, audio: null };
  while (now() - t0 < bound) {
    if (out.incoming === null) {
      const c = (await window.chordphone.calls()).find((c) =>
        c.direction === 'in' && c.state === 'incoming' && c.peer.includes(from));
      if (c) {
        out.id = c.id;
        out.incoming = now();
        try { await window.chordphone.answer(c.id); } catch (e) {
          out.error = String(e && e.message ? e.message : e);
          return out;
        }
      }
    } else {
      const c = await callById(out.id);
      if (c && out.active === null && c.state === 'active') out.active = now();
      if (c && c.state === 'ended') { out.reason = c.reason; return out; }
      if (out.audio === null && await audioSince(before)) out.audio = now();
      if (out.audio !== null && out.active !== null) return out;
    }
    await sleep(10);
  }
  out.timeout = true;
  return out;
})();
return true;
"#;

/// The name tab `i` registers.
fn name(i: usize) -> String {
    format!("bench{i}")
}

/// One call from `caller` to `callee`: the caller's and the callee's
/// records (see [`DIAL`], [`ARM`]).
async fn one_call(
    caller: &Tab,
    callee: &Tab,
    (from, to): (&str, &str),
) -> Result<(Value, Value), String> {
    let bound = json!(CALL_BOUND.as_millis() as u64);
    callee
        .execute(&format!("{HOOK}{ARM}"), vec![json!(from), bound.clone()])
        .await?;
    let dial = caller
        .execute(&format!("{HOOK}{DIAL}"), vec![json!(to), bound])
        .await?;
    let answer = callee.execute("return window.e2eAnswered;", vec![]).await?;
    // Both hang up whatever is left, and wait until nothing is live, so
    // the next call meets two idle phones.
    for tab in [caller, callee] {
        for call in tab.calls().await? {
            if call.state != "ended" {
                let _ = tab.act("hangup", Some(&call.id)).await;
            }
        }
    }
    for tab in [caller, callee] {
        tab.wait_idle().await?;
    }
    Ok((dial, answer))
}

async fn run(args: &Args) -> Result<Value, String> {
    let server = Server::start("call-bench", ServerOpts::default()).await?;
    let driver = Chromedriver::start().await?;
    let (_browsers, tabs) = two_phones(&driver, &server, "callbench", args.tabs).await?;
    Cluster::new(vec![&server], tabs.iter().collect())
        .wait_ring(&format!("{} tabs and the server in one ring", tabs.len()))
        .await?;
    for (i, tab) in tabs.iter().enumerate() {
        tab.register(&name(i)).await?;
    }
    eprintln!("  {} tabs in the ring, registered", tabs.len());

    let (mut ringing, mut two_way, mut active) = (Vec::new(), Vec::new(), Vec::new());
    let mut failures = Vec::new();
    for n in 0..args.calls {
        let (i, j) = (n % tabs.len(), (n + 3) % tabs.len());
        let (from, to) = (name(i), name(j));
        let (dial, answer) = match one_call(&tabs[i], &tabs[j], (&from, &to)).await {
            Ok(records) => records,
            Err(e) => {
                failures.push(json!({ "call": n, "error": e }));
                continue;
            }
        };
        let t = |v: &Value, k: &str| v[k].as_f64();
        let t0 = t(&dial, "t0").unwrap_or(0.0);
        let since = |at: Option<f64>| at.map(|at| at - t0);
        let rang = since(t(&dial, "ringing"));
        let both = match (t(&dial, "audio"), t(&answer, "audio")) {
            (Some(a), Some(b)) => Some(a.max(b) - t0),
            _ => None,
        };
        let up = since(t(&dial, "active"));
        match (rang, both) {
            (Some(r), Some(m)) => {
                ringing.push(r);
                two_way.push(m);
                active.extend(up);
                eprintln!("  call {n}: {from} -> {to}: ringing {r:.0} ms, two-way media {m:.0} ms");
            }
            _ => {
                eprintln!("  call {n}: {from} -> {to}: incomplete: {dial} / {answer}");
                failures.push(json!({ "call": n, "caller": dial, "callee": answer }));
            }
        }
    }
    failures.truncate(5);
    Ok(json!({
        "tabs": tabs.len(),
        "calls": args.calls,
        "dial_to_ringing_ms": summary(&ringing),
        "dial_to_two_way_media_ms": summary(&two_way),
        "dial_to_active_ms": summary(&active),
        "failures": failures,
    }))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_calls: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("calls: {} tabs, {} calls", args.tabs, args.calls);
    let report = match run(&args).await {
        Ok(v) => v,
        Err(e) => json!({ "error": e }),
    };
    if report.get("error").is_none() {
        eprintln!(
            "\nchordphone call set-up over the ring ({} tabs)",
            args.tabs
        );
        eprintln!(
            "  dial -> ringing (ms)                   {}",
            fmt_summary(&report["dial_to_ringing_ms"])
        );
        eprintln!(
            "  dial -> two-way media (ms)             {}",
            fmt_summary(&report["dial_to_two_way_media_ms"])
        );
        eprintln!(
            "  dial -> active (ms)                    {}",
            fmt_summary(&report["dial_to_active_ms"])
        );
    }
    println!("{report}");
    let measured = report["dial_to_two_way_media_ms"]["n"]
        .as_u64()
        .unwrap_or(0);
    if measured == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
