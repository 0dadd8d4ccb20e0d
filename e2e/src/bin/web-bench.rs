//! Web benchmarks on the real server and real Chromium tabs. Figures, not
//! assertions: run with `bash scripts/bench-web.sh`, which builds what this
//! needs. Prints a readable table on stderr and one JSON object on stdout.
//!
//! ```text
//! web-bench [--tabs N] [--link-tabs N] [--links N] [--lookups N] [--idle-peers N]
//!           [--skip-browser] [--skip-memory]
//! ```
//!
//! - join: time from opening a tab to its ring position being right
//!   (successor and predecessor of its id among the live ids), tabs opened
//!   one after another, each once the ring is whole again;
//! - link: `link(id)` set-up time between tabs that had no link (WebRTC
//!   offer/answer through the ring, data channel open, handshake). A ring
//!   of 8 tabs links every tab to every other, so more tabs join first
//!   (`--link-tabs`, untimed) to leave pairs without a link;
//! - lookup: lookup latency and hops across the browser ring;
//! - bundle: gzip -9 of the shipped wasm and JS;
//! - memory: the server's resident memory per idle connected peer, with
//!   many handshaken WebSocket peers held on loopback.

// Benchmarks measure wall time.
#![allow(clippy::disallowed_methods)]

use chordphone_e2e::browser::{Browser, Chromedriver};
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::loadgen::IdlePeers;
use chordphone_e2e::ring::Ring;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::stats::{fmt_summary, summary};
use chordphone_e2e::status::NodeStatus;
use chordphone_e2e::{paths, process, wait};
use serde_json::{json, Value};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Gzipped sizes of what people ship today for browser calling, in bytes.
const PEERJS_GZIP: u64 = 24 * 1024;
const JSSIP_GZIP: u64 = 55 * 1024;
/// Poll interval while timing a join: finer than the tests' polling.
const JOIN_POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Args {
    tabs: usize,
    link_tabs: usize,
    links: usize,
    lookups: usize,
    idle_peers: usize,
    browser: bool,
    memory: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tabs: 8,
        link_tabs: 24,
        links: 20,
        lookups: 100,
        idle_peers: 10_000,
        browser: true,
        memory: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match flag.as_str() {
            "--tabs" => args.tabs = number("--tabs")?.max(2),
            "--link-tabs" => args.link_tabs = number("--link-tabs")?,
            "--links" => args.links = number("--links")?,
            "--lookups" => args.lookups = number("--lookups")?,
            "--idle-peers" => args.idle_peers = number("--idle-peers")?,
            "--skip-browser" => args.browser = false,
            "--skip-memory" => args.memory = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Bytes of `gzip -9` of a file.
fn gzip9(path: &std::path::Path) -> Result<u64, String> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    if !out.status.success() {
        return Err(format!("gzip {} failed", path.display()));
    }
    Ok(out.stdout.len() as u64)
}

fn bundle() -> Result<Value, String> {
    let dist = paths::dist_dir()?;
    let mut files = Vec::new();
    let (mut raw_total, mut gz_total) = (0u64, 0u64);
    let mut entries: Vec<_> = std::fs::read_dir(&dist)
        .map_err(|e| format!("{}: {e}", dist.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm" || x == "js"))
        .collect();
    entries.sort();
    for path in entries {
        let raw = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let gz = gzip9(&path)?;
        raw_total += raw;
        gz_total += gz;
        files.push(json!({
            "file": path.file_name().map(|n| n.to_string_lossy().to_string()),
            "bytes": raw,
            "gzip9": gz,
        }));
    }
    Ok(json!({
        "files": files,
        "bytes": raw_total,
        "gzip9": gz_total,
        "peerjs_gzip": PEERJS_GZIP,
        "jssip_gzip": JSSIP_GZIP,
    }))
}

/// Polls one tab until its successor and predecessor are those `ids`
/// imply; returns when that first holds.
async fn wait_position(
    tab: &chordphone_e2e::api::Tab,
    others: &[chordphone_overlay::Id],
) -> Result<(), String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < wait::BOUND {
        if let Ok(raw) = tab.status().await {
            if let Ok(me) = NodeStatus::parse(tab.name(), raw) {
                let ring = Ring::new(others.iter().copied().chain([me.id]));
                let problems = ring.mismatches(std::slice::from_ref(&me));
                if problems.is_empty() {
                    return Ok(());
                }
                last = problems.join("; ");
            }
        }
        tokio::time::sleep(JOIN_POLL).await;
    }
    Err(format!("tab {} never found its place: {last}", tab.name()))
}

async fn browser_phase(args: &Args) -> Result<Value, String> {
    let server = Server::start("bench", ServerOpts::default()).await?;
    let driver = Chromedriver::start().await?;
    let browsers = [
        Browser::launch(&driver, "a").await?,
        Browser::launch(&driver, "b").await?,
    ];
    let server_id = NodeStatus::parse("server", server.status().await?)?.id;
    let mut tabs = Vec::new();
    let mut ids = vec![server_id];
    let mut join_ms = Vec::new();
    for i in 0..args.tabs {
        let name = format!("bench-{i}");
        let start = Instant::now();
        let tab = browsers[i % 2]
            .open_tab(&name, &server.page_url(&name))
            .await?;
        wait_position(&tab, &ids).await?;
        join_ms.push(start.elapsed().as_secs_f64() * 1e3);
        ids.push(NodeStatus::parse(&name, tab.status().await?)?.id);
        tabs.push(tab);
        // The next tab meets a whole ring, so each figure is one join.
        Cluster::new(vec![&server], tabs.iter().collect())
            .wait_ring("the ring to settle between two joins")
            .await?;
        eprintln!("  tab {name}: in place after {:.0} ms", join_ms[i]);
    }
    // More tabs (untimed) until there are pairs without a link.
    for i in args.tabs..args.link_tabs {
        let name = format!("bench-{i}");
        tabs.push(
            browsers[i % 2]
                .open_tab(&name, &server.page_url(&name))
                .await?,
        );
    }
    let cluster = Cluster::new(vec![&server], tabs.iter().collect());
    cluster
        .wait_ring(&format!("{} tabs to form one ring", tabs.len()))
        .await?;

    // Links between tabs that had none.
    let mut link_ms = Vec::new();
    let mut link_errors = Vec::new();
    let mut tried = std::collections::BTreeSet::new();
    while link_ms.len() < args.links && link_errors.len() < 5 {
        let snap = cluster.snapshot().await;
        let statuses: Vec<NodeStatus> = snap
            .statuses()
            .into_iter()
            .filter(|s| s.label.starts_with("tab "))
            .collect();
        let pair = statuses.iter().enumerate().find_map(|(i, a)| {
            statuses.iter().enumerate().find_map(|(j, b)| {
                let fresh = i != j
                    && !a.linked_to(&b.id)
                    && !b.linked_to(&a.id)
                    && !tried.contains(&(i.min(j), i.max(j)));
                fresh.then_some((i, j))
            })
        });
        let Some((i, j)) = pair else { break };
        tried.insert((i.min(j), i.max(j)));
        match tabs[i].link(&statuses[j].id.to_hex()).await {
            Ok(ms) => link_ms.push(ms),
            Err(e) => link_errors.push(e),
        }
    }
    eprintln!(
        "  {} links set up ({} unlinked pairs tried)",
        link_ms.len(),
        tried.len()
    );

    // The peer run: the same WebRTC data channel set-up (non-trickle offer
    // and answer, negotiated channel) between two connections in one page,
    // signalled directly instead of through the ring and without the
    // identity handshake. Its ratio to `link(id)` is what the overlay adds.
    let mut raw_ms = Vec::new();
    let mut raw_errors = Vec::new();
    for n in 0..args.links {
        match tabs[n % tabs.len()].execute(RAW_DATA_CHANNEL, vec![]).await {
            Ok(v) => match v.as_f64() {
                Some(ms) => raw_ms.push(ms),
                None => raw_errors.push(format!("not a number: {v}")),
            },
            Err(e) => raw_errors.push(e),
        }
    }
    raw_errors.truncate(5);

    // Lookups from every tab.
    let ring = cluster.snapshot().await.ring();
    let mut lookup_ms = Vec::new();
    let mut hops = Vec::new();
    let (mut wrong, mut failed) = (0usize, Vec::new());
    for n in 0..args.lookups {
        let key = format!("bench-key-{n}");
        match tabs[n % tabs.len()].lookup(&key).await {
            Ok(l) => {
                lookup_ms.push(l.ms);
                hops.push(f64::from(l.hops));
                if Some(l.owner.clone()) != ring.owner_of_name(&key).map(|o| o.to_hex()) {
                    wrong += 1;
                }
            }
            Err(e) => failed.push(e),
        }
    }
    failed.truncate(5);
    link_errors.truncate(5);
    Ok(json!({
        "tabs": args.tabs,
        "ring_tabs": tabs.len(),
        "join_ms": summary(&join_ms),
        "link_ms": summary(&link_ms),
        "link_errors": link_errors,
        "raw_data_channel_ms": summary(&raw_ms),
        "raw_data_channel_errors": raw_errors,
        "lookup_ms": summary(&lookup_ms),
        "lookup_hops": summary(&hops),
        "lookup_wrong_owner": wrong,
        "lookup_errors": failed,
    }))
}

async fn memory_phase(args: &Args) -> Result<Value, String> {
    let limit = process::raise_nofile(65_536);
    let opts = ServerOpts {
        max_connections: Some(12_000),
        max_links: Some(12_000),
        ..ServerOpts::default()
    };
    let server = Server::start("memory", opts).await?;
    let pid = server.pid().ok_or("server has no pid")?;
    let before = process::rss_kib(pid)?;
    let start = Instant::now();
    let peers = IdlePeers::open(
        &server.ws_url(),
        args.idle_peers,
        200,
        Duration::from_secs(240),
    )
    .await;
    let open_s = start.elapsed().as_secs_f64();
    // Wait until the server counts the peers it holds (bounded).
    let held = peers.held();
    let _ = wait::until(
        "the server to count its links",
        Duration::from_secs(30),
        async || {
            let links = server.status().await?["links"]["websocket"]
                .as_u64()
                .unwrap_or(0);
            if links as usize >= held {
                Ok(())
            } else {
                Err(format!("{links} of {held}"))
            }
        },
    )
    .await;
    let after = process::rss_kib(pid)?;
    let server_links = server.status().await?["links"]["websocket"].clone();
    let (failed, dropped, errors) = (peers.failed(), peers.dropped(), peers.errors());
    peers.close().await;
    let per_peer = (after.saturating_sub(before)) as f64 / held.max(1) as f64;
    Ok(json!({
        "nofile_limit": limit,
        "peers_wanted": args.idle_peers,
        "peers_held": held,
        "peers_failed": failed,
        "peers_dropped": dropped,
        "errors": errors,
        "server_websocket_links": server_links,
        "open_seconds": open_s,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_peer": per_peer,
    }))
}

/// Two RTCPeerConnections in one page, signalled directly: offer and answer
/// after ICE gathering (at most 3 s each, as the app does), one negotiated
/// data channel; resolves with the milliseconds until it is open.
const RAW_DATA_CHANNEL: &str = r#"
return (async () => {
  const t0 = performance.now();
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  const da = a.createDataChannel('bench', { negotiated: true, id: 0 });
  b.createDataChannel('bench', { negotiated: true, id: 0 });
  const gathered = (pc) => new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') done();
    });
    setTimeout(done, 3000);
  });
  try {
    await a.setLocalDescription(await a.createOffer());
    await gathered(a);
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription(await b.createAnswer());
    await gathered(b);
    await a.setRemoteDescription(b.localDescription);
    await new Promise((open, fail) => {
      if (da.readyState === 'open') return open();
      da.onopen = open;
      setTimeout(() => fail(new Error('data channel not open in 10 s')), 10000);
    });
    return performance.now() - t0;
  } finally {
    a.close();
    b.close();
  }
})();
"#;

fn table(report: &Value) -> String {
    let mut t = String::from("\nchordphone web benchmarks\n");
    let b = &report["browser"];
    if b.is_object() {
        t += &format!(
            "  join, open tab -> ring position (ms)   {}\n",
            fmt_summary(&b["join_ms"])
        );
        t += &format!(
            "  link(id) set-up over WebRTC (ms)       {}\n",
            fmt_summary(&b["link_ms"])
        );
        t += &format!(
            "  peer run: raw data channel, no ring    {}\n",
            fmt_summary(&b["raw_data_channel_ms"])
        );
        if let (Some(l), Some(r)) = (
            b["link_ms"]["p50"].as_f64(),
            b["raw_data_channel_ms"]["p50"].as_f64(),
        ) {
            if r > 0.0 {
                t += &format!("  link(id) p50 / raw data channel p50    {:>8.2}\n", l / r);
            }
        }
        t += &format!(
            "  lookup latency (ms)                    {}\n",
            fmt_summary(&b["lookup_ms"])
        );
        t += &format!(
            "  lookup hops                            {}\n",
            fmt_summary(&b["lookup_hops"])
        );
        t += &format!(
            "  lookups with a wrong owner             {}\n",
            b["lookup_wrong_owner"]
        );
    } else if let Some(e) = report["browser_error"].as_str() {
        t += &format!("  browser phase failed: {e}\n");
    }
    let g = &report["bundle"];
    if g.is_object() {
        let kb = |v: &Value| v.as_u64().map_or(0.0, |x| x as f64 / 1024.0);
        t += &format!(
            "  bundle, gzip -9 of wasm + js (KB)      {:>8.1}   (PeerJS {:.0}, JsSIP {:.0})\n",
            kb(&g["gzip9"]),
            kb(&g["peerjs_gzip"]),
            kb(&g["jssip_gzip"])
        );
    }
    let m = &report["memory"];
    if m.is_object() {
        t += &format!(
            "  server memory per idle peer (KiB)      {:>8.1}   ({} peers held, RSS {} -> {} KiB)\n",
            m["kib_per_peer"].as_f64().unwrap_or(0.0),
            m["peers_held"],
            m["rss_before_kib"],
            m["rss_after_kib"]
        );
    } else if let Some(e) = report["memory_error"].as_str() {
        t += &format!("  memory phase failed: {e}\n");
    }
    t
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("web-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mut report = json!({});
    match bundle() {
        Ok(v) => report["bundle"] = v,
        Err(e) => report["bundle_error"] = json!(e),
    }
    if args.browser {
        eprintln!("browser ring: {} tabs", args.tabs);
        match browser_phase(&args).await {
            Ok(v) => report["browser"] = v,
            Err(e) => report["browser_error"] = json!(e),
        }
    }
    if args.memory {
        eprintln!("server memory: {} idle peers", args.idle_peers);
        match memory_phase(&args).await {
            Ok(v) => report["memory"] = v,
            Err(e) => report["memory_error"] = json!(e),
        }
    }
    eprintln!("{}", table(&report));
    println!("{report}");
    let failed = ["bundle_error", "browser_error", "memory_error"]
        .iter()
        .any(|k| report.get(*k).is_some());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
