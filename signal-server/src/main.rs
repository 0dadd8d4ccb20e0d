//! The `signal-server` binary: flags, logging, signals; the server itself
//! is the `signal_server` library.

use clap::Parser;
use signal_server::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The chordphone server: serves the web app, is the first peer a browser
/// tab meets, and takes part in the overlay ring.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on for HTTP and WebSocket [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Directory of the built web app, served at / [default: dist]
    #[arg(long, value_name = "DIR")]
    static_dir: Option<PathBuf>,
    /// Join the ring of the server with this link endpoint instead of
    /// starting a new ring (e.g. ws://127.0.0.1:8081/ws); may be repeated
    #[arg(long = "join", value_name = "URL")]
    join: Vec<String>,
    /// The ws:// URL other nodes dial to reach this server
    /// [default: ws://<listen addr>/ws]
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// TOML file with the same field names as these flags (listen,
    /// static_dir, join, public_url, identity_file, max_connections,
    /// max_links, rate, queue, log, turn_lifetime, ice_rate,
    /// header_timeout, max_header_bytes, dial_private, and the [relay]
    /// table), plus [[turn]] servers; flags override it
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// File holding the node's 32-byte secret seed as hex, created if
    /// missing; without it the server has a fresh identity on every start
    #[arg(long, value_name = "FILE")]
    identity_file: Option<PathBuf>,
    /// Most WebSocket connections held at once; more are closed with code
    /// 4004 [default: 1024]
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Most overlay links the node keeps (its link budget) [default: 512]
    #[arg(long, value_name = "N")]
    max_links: Option<usize>,
    /// Messages per second one connection may send, with bursts of twice
    /// this; faster senders are closed with code 4002 [default: 200]
    #[arg(long, value_name = "N")]
    rate: Option<u32>,
    /// Outgoing frames queued per connection; a peer that lets it fill is
    /// closed with code 4003 [default: 256]
    #[arg(long, value_name = "N")]
    queue: Option<usize>,
    /// Seconds a TURN credential handed out at /ice lives [default: 43200]
    #[arg(long, value_name = "SECONDS")]
    turn_lifetime: Option<u64>,
    /// /ice requests one IP address may make per minute [default: 30]
    #[arg(long, value_name = "N")]
    ice_rate: Option<u32>,
    /// Seconds a client has to send a whole request head (also how long an
    /// idle keep-alive connection stays open) [default: 10]
    #[arg(long, value_name = "SECONDS")]
    header_timeout: Option<u64>,
    /// Dial loopback and private addresses that peers name (true/false)
    /// [default: only when listening on such an address]
    #[arg(long, value_name = "BOOL")]
    dial_private: Option<bool>,
    /// Where the embedded TURN relay listens (UDP and TCP)
    /// [default: the listen IP, a free port]
    #[arg(long, value_name = "ADDR")]
    relay_listen: Option<SocketAddr>,
    /// The embedded relay relays to loopback peers
    #[arg(long)]
    relay_allow_loopback: bool,
    /// The embedded relay relays to private peers (RFC 1918, link-local...)
    #[arg(long)]
    relay_allow_private: bool,
    /// Do not run the embedded TURN relay
    #[arg(long)]
    no_relay: bool,
    /// Offer the relays /ice names to the whole overlay as a service:relay
    /// record (true/false) [default: when the embedded relay runs]
    #[arg(long, value_name = "BOOL")]
    relay_advertise: Option<bool>,
    /// Log filter, e.g. info or signal_server=debug; without it the
    /// RUST_LOG environment variable, then the config file [default: info]
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
}

impl Args {
    /// The file's settings (or the defaults) with the flags given on top.
    fn config(self) -> Result<Config, signal_server::ConfigError> {
        let mut c = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(v) = self.listen {
            c.listen = v;
        }
        if let Some(v) = self.static_dir {
            c.static_dir = v;
        }
        if !self.join.is_empty() {
            c.join = self.join;
        }
        if self.public_url.is_some() {
            c.public_url = self.public_url;
        }
        if self.identity_file.is_some() {
            c.identity_file = self.identity_file;
        }
        if let Some(v) = self.max_connections {
            c.max_connections = v;
        }
        if let Some(v) = self.max_links {
            c.max_links = v;
        }
        if let Some(v) = self.rate {
            c.rate = v;
        }
        if let Some(v) = self.queue {
            c.queue = v;
        }
        if let Some(v) = self.turn_lifetime {
            c.turn_lifetime = v;
        }
        if let Some(v) = self.ice_rate {
            c.ice_rate = v;
        }
        if let Some(v) = self.header_timeout {
            c.header_timeout = v;
        }
        if self.dial_private.is_some() {
            c.dial_private = self.dial_private;
        }
        if self.relay_listen.is_some() {
            c.relay.listen = self.relay_listen;
        }
        c.relay.allow_loopback |= self.relay_allow_loopback;
        c.relay.allow_private |= self.relay_allow_private;
        if self.no_relay {
            c.relay.enabled = Some(false);
        }
        if self.relay_advertise.is_some() {
            c.relay.advertise = self.relay_advertise;
        }
        if let Some(v) = self.log {
            c.log = v;
        } else if let Ok(v) = std::env::var("RUST_LOG") {
            c.log = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Args::parse().config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("signal-server: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(addr = %config.listen, "cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    match signal_server::run(listener, config, signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}
