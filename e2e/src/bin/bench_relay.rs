//! The embedded TURN relay against coturn, on the same traffic in the same
//! run. Figures, not assertions: run with `bash scripts/bench-relay.sh`,
//! which builds what this needs. Prints a table on stderr and one JSON
//! object on stdout.
//!
//! ```text
//! bench_relay [--calls 50,100,200] [--seconds 5] [--reps 3] [--rate 50]
//!             [--flood-calls 4] [--window 32]
//! ```
//!
//! Both relays run side by side on 127.0.0.1: the release server as a
//! process with its embedded relay (no `[[turn]]`, a fixed `[relay]`
//! secret, no bandwidth cap that the load could reach) and a real coturn
//! sharing the secret. A relayed call is two UDP TURN clients, each with an
//! allocation and a channel (or a permission) towards the other's relay
//! address, as two browsers relayed by the same server have. Scenarios,
//! each run on both relays one after the other, the order alternating
//! between repetitions so that the machine's noise hits both:
//!
//! - voice load: `--calls` calls at once, each sending `--rate` (50)
//!   datagrams of 172 bytes a second each way (20 ms of PCMU with its RTP
//!   header) as ChannelData for `--seconds`; and the middle count again
//!   with Send and Data indications instead of channels. Measured:
//!   datagrams relayed per second (arrived at the far leg), loss, one-way
//!   delay, and the relay process's CPU time (utime + stime of all its
//!   threads) per call: ms of CPU per second of one call.
//! - flood: `--flood-calls` calls, each keeping `--window` datagrams in
//!   flight each way, a new one sent for each that arrives: the most the
//!   relay relays per second on this machine with this load generator.
//!
//! Medians over `--reps` repetitions. The load generator runs on the same
//! cores; its own CPU time is reported beside the relays'.

// Benchmarks measure wall time.
#![allow(clippy::disallowed_methods)]

use chordphone_e2e::coturn::{free_udp_tcp_port, Coturn};
use chordphone_e2e::process::{cpu_seconds, raise_nofile, udp_rcvbuf_errors};
use chordphone_e2e::relayload::{self, Counts, Framing};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::stats::quantile;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The secret both relays check credentials with.
const SECRET: &str = "relay-bench-secret";
/// How long stragglers of a paced run are awaited.
const DRAIN: Duration = Duration::from_millis(500);

#[derive(Debug)]
struct Args {
    calls: Vec<usize>,
    seconds: u32,
    reps: usize,
    rate: u32,
    flood_calls: usize,
    window: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        calls: vec![50, 100, 200],
        seconds: 5,
        reps: 3,
        rate: 50,
        flood_calls: 4,
        window: 32,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| chordphone_e2e::args::number(&mut it, name);
        match flag.as_str() {
            "--calls" => {
                let list = it.next().ok_or("--calls needs a list like 50,100")?;
                args.calls = list
                    .split(',')
                    .map(|n| n.trim().parse::<usize>().map(|n| n.clamp(1, 1000)))
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("--calls: not a list of numbers: {list}"))?;
            }
            "--seconds" => args.seconds = number("--seconds")?.clamp(1, 120) as u32,
            "--reps" => args.reps = number("--reps")?.clamp(1, 50),
            "--rate" => args.rate = number("--rate")?.clamp(1, 1000) as u32,
            "--flood-calls" => args.flood_calls = number("--flood-calls")?.clamp(1, 100),
            "--window" => args.window = number("--window")?.clamp(1, 1024) as u64,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// A relay under test.
#[derive(Clone, Copy, Debug)]
struct Relay {
    name: &'static str,
    addr: SocketAddr,
    pid: u32,
}

/// What a scenario runs.
#[derive(Clone, Copy, Debug)]
enum Load {
    Paced { calls: usize, framing: Framing },
    Flood { calls: usize },
}

impl Load {
    fn key(&self) -> String {
        match self {
            Load::Paced {
                calls,
                framing: Framing::Channel,
            } => format!("voice_{calls}_channel"),
            Load::Paced {
                calls,
                framing: Framing::Indication,
            } => format!("voice_{calls}_indication"),
            Load::Flood { calls } => format!("flood_{calls}_channel"),
        }
    }

    fn label(&self, args: &Args) -> String {
        match self {
            Load::Paced { calls, framing } => format!(
                "{calls} calls x {} pkt/s each way, {}",
                args.rate,
                match framing {
                    Framing::Channel => "ChannelData",
                    Framing::Indication => "Send/Data indications",
                }
            ),
            Load::Flood { calls } => format!(
                "flood: {calls} calls, {} in flight each way, ChannelData",
                args.window
            ),
        }
    }
}

/// The embedded relay's refusals and drops by reason (its `/metrics`).
async fn refusals(server: &Server) -> Result<Vec<(String, u64)>, String> {
    Ok(server
        .metrics()
        .await?
        .lines()
        .filter_map(|l| l.strip_prefix("chordphone_relay_refused_total{reason=\""))
        .filter_map(|l| {
            let (reason, value) = l.split_once("\"} ")?;
            Some((reason.to_string(), value.trim().parse().ok()?))
        })
        .collect())
}

/// One run of one scenario on one relay.
async fn measure(
    relay: Relay,
    server: &Server,
    load: Load,
    args: &Args,
    rep: usize,
) -> Result<Value, String> {
    let (calls, framing) = match load {
        Load::Paced { calls, framing } => (calls, framing),
        Load::Flood { calls } => (calls, Framing::Channel),
    };
    let prefix = format!("{}-{rep}-", load.key());
    let set_up = relayload::set_up_calls(relay.addr, SECRET.as_bytes(), &prefix, calls, framing)
        .await
        .map_err(|e| format!("{}: {e}", relay.name))?;
    let me = std::process::id();
    let refused0 = refusals(server).await?;
    let full0 = udp_rcvbuf_errors()?;
    let (cpu0, gen0, t0) = (cpu_seconds(relay.pid)?, cpu_seconds(me)?, Instant::now());
    let counts: Counts = match load {
        Load::Paced { .. } => relayload::paced(&set_up, args.rate, args.seconds, DRAIN).await,
        Load::Flood { .. } => relayload::closed_loop(&set_up, args.window, args.seconds).await,
    };
    let (cpu1, gen1, wall) = (cpu_seconds(relay.pid)?, cpu_seconds(me)?, t0.elapsed());
    let full = udp_rcvbuf_errors()?.saturating_sub(full0);
    // Only the embedded relay counts them where this can read them.
    let refused: serde_json::Map<String, Value> = if relay.name == "embedded" {
        refusals(server)
            .await?
            .into_iter()
            .zip(refused0)
            .filter(|((_, after), (_, before))| after > before)
            .map(|((reason, after), (_, before))| (reason, json!(after - before)))
            .collect()
    } else {
        serde_json::Map::new()
    };
    relayload::release_calls(set_up).await;
    let secs = f64::from(args.seconds);
    let cpu = cpu1 - cpu0;
    let run = json!({
        "relay": relay.name,
        "calls": calls,
        "sent": counts.sent,
        "received": counts.received,
        "relayed_per_s": counts.received as f64 / secs,
        "loss": counts.loss(),
        "dropped_by_full_buffers": full,
        "relay_refused": refused,
        "cpu_s": cpu,
        "cpu_share": cpu / secs,
        "cpu_ms_per_call_s": cpu * 1000.0 / secs / calls as f64,
        "cpu_us_per_packet": if counts.received > 0 { cpu * 1e6 / counts.received as f64 } else { 0.0 },
        "generator_cpu_share": (gen1 - gen0) / secs,
        "delay_ms_p50": quantile(&counts.delays_us, 0.5).map(|d| d / 1000.0),
        "delay_ms_p99": quantile(&counts.delays_us, 0.99).map(|d| d / 1000.0),
        "wall_s": wall.as_secs_f64(),
    });
    eprintln!(
        "  rep {rep} {:<8} {:<30} {:>9.0} pkt/s  loss {:>6.3} % ({full} in full buffers{})  CPU {:>5.1} %  {:>6.3} ms/s per call  gen CPU {:>5.1} %",
        relay.name,
        load.key(),
        run["relayed_per_s"].as_f64().unwrap_or(0.0),
        counts.loss() * 100.0,
        if run["relay_refused"].as_object().is_some_and(|m| !m.is_empty()) {
            format!(", relay refused {}", run["relay_refused"])
        } else {
            String::new()
        },
        cpu / secs * 100.0,
        run["cpu_ms_per_call_s"].as_f64().unwrap_or(0.0),
        (gen1 - gen0) / secs * 100.0,
    );
    Ok(run)
}

/// Medians of the runs' figures.
fn medians(runs: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    for key in [
        "relayed_per_s",
        "loss",
        "cpu_share",
        "cpu_ms_per_call_s",
        "cpu_us_per_packet",
        "generator_cpu_share",
        "delay_ms_p50",
        "delay_ms_p99",
    ] {
        let v: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        out.insert(key.to_string(), json!(quantile(&v, 0.5)));
    }
    Value::Object(out)
}

async fn start_relays() -> Result<(Server, Coturn, Relay, Relay), String> {
    let port = free_udp_tcp_port()?;
    let config = format!(
        "[relay]\nlisten = \"127.0.0.1:{port}\"\nsecret = \"{SECRET}\"\n\
         max_allocations = 4096\nmax_allocations_per_user = 8\nbandwidth = 1000000000\n"
    );
    let empty = std::env::temp_dir();
    let server = Server::start(
        "relay-bench",
        ServerOpts {
            config: Some(config),
            static_dir: Some(empty.join("chordphone-relay-bench-no-app")),
            ..ServerOpts::default()
        },
    )
    .await?;
    let coturn = Coturn::start(SECRET)?;
    let embedded = Relay {
        name: "embedded",
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        pid: server.pid().ok_or("the server is not running")?,
    };
    let turn = Relay {
        name: "coturn",
        addr: SocketAddr::from(([127, 0, 0, 1], coturn.port())),
        pid: coturn.pid(),
    };
    // Both answer before anything is measured (coturn takes a moment).
    for relay in [embedded, turn] {
        let calls = relayload::set_up_calls(
            relay.addr,
            SECRET.as_bytes(),
            "warm-up",
            1,
            Framing::Channel,
        )
        .await
        .map_err(|e| format!("{}: {e}\n{}", relay.name, coturn.log()))?;
        relayload::release_calls(calls).await;
    }
    Ok((server, coturn, embedded, turn))
}

async fn run(args: &Args) -> Result<Value, String> {
    let (server, _coturn, embedded, turn) = start_relays().await?;
    let mut loads: Vec<Load> = args
        .calls
        .iter()
        .map(|&calls| Load::Paced {
            calls,
            framing: Framing::Channel,
        })
        .collect();
    let middle = args.calls[args.calls.len() / 2];
    loads.push(Load::Paced {
        calls: middle,
        framing: Framing::Indication,
    });
    loads.push(Load::Flood {
        calls: args.flood_calls,
    });
    let mut runs: Vec<[Vec<Value>; 2]> = vec![[Vec::new(), Vec::new()]; loads.len()];
    for rep in 0..args.reps {
        for (i, load) in loads.iter().enumerate() {
            // Alternate which relay goes first.
            let order = if (rep + i) % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let relay = [embedded, turn][which];
                runs[i][which].push(measure(relay, &server, *load, args, rep).await?);
            }
        }
    }
    let scenarios: Vec<Value> = loads
        .iter()
        .zip(&runs)
        .map(|(load, [e, c])| {
            json!({
                "scenario": load.key(),
                "label": load.label(args),
                "embedded": medians(e),
                "coturn": medians(c),
                "runs": e.iter().chain(c).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({
        "seconds": args.seconds,
        "reps": args.reps,
        "rate": args.rate,
        "payload_bytes": relayload::PAYLOAD,
        "window": args.window,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "scenarios": scenarios,
    }))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".to_string(),
    }
}

fn print_table(report: &Value) {
    eprintln!(
        "\nembedded relay against coturn (medians of {} runs each)",
        report["reps"]
    );
    let Some(scenarios) = report["scenarios"].as_array() else {
        return;
    };
    for s in scenarios {
        let f = |who: &str, k: &str| s[who][k].as_f64();
        eprintln!("  {}", s["label"].as_str().unwrap_or(""));
        for (label, key, scale, decimals) in [
            ("relayed pkt/s", "relayed_per_s", 1.0, 0),
            ("loss %", "loss", 100.0, 3),
            ("relay CPU %", "cpu_share", 100.0, 1),
            ("CPU ms/s per call", "cpu_ms_per_call_s", 1.0, 3),
            ("CPU us per packet", "cpu_us_per_packet", 1.0, 2),
            ("delay p50 ms", "delay_ms_p50", 1.0, 2),
            ("delay p99 ms", "delay_ms_p99", 1.0, 2),
            ("generator CPU %", "generator_cpu_share", 100.0, 1),
        ] {
            let show = |v: Option<f64>| {
                v.map_or("-".to_string(), |v| format!("{:.*}", decimals, v * scale))
            };
            let (e, c) = (f("embedded", key), f("coturn", key));
            eprintln!(
                "    {label:<20} embedded {:>10}  coturn {:>10}  embedded/coturn {:>6}",
                show(e),
                show(c),
                ratio(e, c)
            );
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_relay: {e}");
            return ExitCode::from(2);
        }
    };
    // Two sockets per call here and one relay socket per allocation in
    // the server, which inherits the limit.
    raise_nofile(65_536);
    eprintln!(
        "relay: calls {:?}, {} s, {} reps, {} pkt/s, flood {} calls x {}",
        args.calls, args.seconds, args.reps, args.rate, args.flood_calls, args.window
    );
    let report = match run(&args).await {
        Ok(v) => v,
        Err(e) => json!({ "error": e }),
    };
    if report.get("error").is_none() {
        print_table(&report);
    }
    println!("{report}");
    if report.get("error").is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
