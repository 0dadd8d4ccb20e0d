//! The chordphone server: the first peer a browser tab meets, a member of
//! the overlay ring, and the WebSocket end of links to browsers and other
//! servers.
//!
//! [`run`] serves the web app, the link endpoint `/ws`, `/healthz`,
//! `/metrics`, `/status` and `/ice` (ICE server settings with TURN
//! credentials) on a bound listener until `shutdown` resolves; it then
//! leaves the ring (handing its records to the remaining nodes) and closes
//! every connection. Unless TURN servers are configured it also runs an
//! embedded TURN relay (`turn_relay`, over the sans-IO core in
//! `chordphone_relay`).
//!
//! ```no_run
//! # async fn example() -> Result<(), signal_server::ServerError> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let config = signal_server::Config {
//!     // Join the ring of another server instead of starting one.
//!     join: vec!["ws://127.0.0.1:8080/ws".into()],
//!     ..signal_server::Config::default()
//! };
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! signal_server::run(listener, config, shutdown).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Inside, one task owns the sans-IO session (`node_task`): the overlay
//! node and all of its links, the identity handshake included. Each
//! WebSocket has a task of its own (`conn`) that moves its frames, enforces
//! the per-connection limits (rate, size) and talks to the node task over
//! bounded channels. See `docs/shells.md` for the contract.

mod advert;
mod clock;
mod config;
mod conn;
mod dial;
mod gateway;
mod http;
mod ice;
mod identity;
mod inputs;
mod media_bridge;
mod metrics;
mod node_task;
mod outbox;
mod rate;
mod serve;
mod shared;
mod socket;
mod turn_relay;

pub use config::{Config, ConfigError, RelaySettings, TurnServer};
pub use identity::IdentityError;

use chordphone_session::Session;
use shared::Shared;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Inputs waiting for the node task; connection tasks wait when it is full.
const NODE_INPUTS: usize = 4096;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The identity could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Listening or serving failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The SIP gateway could not start.
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
}

/// The session settings of a server reachable at `public_url`.
fn session_config(config: &Config, public_url: String) -> chordphone_session::Config {
    let mut c = chordphone_session::Config::server(public_url);
    c.overlay.max_links = config.max_links;
    c
}

/// Runs a server on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    config.validate()?;
    let identity = identity::load_or_create(config.identity_file.as_deref())?;
    let local = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("ws://{local}/ws"));
    if local.ip().is_unspecified() && config.public_url.is_none() {
        tracing::warn!(%public_url, "listening on all interfaces without --public-url: other servers cannot dial this URL");
    }
    let mut session = Session::new(
        identity.clone(),
        session_config(&config, public_url.clone()),
        node_task::session_seed()?,
        clock::now(),
    );
    session.set_bootstrap(config.join.clone());
    let (node_tx, node_rx) = mpsc::channel(NODE_INPUTS);
    let shared = Arc::new(Shared::new(node_tx, public_url, &config, local));
    let ice = ice_servers(&config, local, Arc::clone(&shared)).await?;
    let offered = !ice.is_empty();
    let _ = shared
        .ice
        .set(ice::Ice::new(ice, config.turn_lifetime, config.ice_rate));
    let advert = relay_advert(&config, &shared.public_url, offered);
    let mut task = node_task::NodeTask::new(
        session,
        Arc::clone(&shared),
        !config.join.is_empty(),
        advert,
    );
    if let Some(g) = &config.gateway {
        let seed = u64::from_le_bytes(identity::random()?);
        let shell = gateway::start(
            g,
            identity.clone(),
            shared.node_tx.clone(),
            seed,
            clock::now(),
        )
        .await?;
        task = task.with_gateway(shell);
    }
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let node_handle = tokio::spawn(async move {
        task.run(node_rx, shutdown).await;
        let _ = done_tx.send(());
    });
    tracing::info!(%local, "listening");
    let app = http::router(shared, &config.static_dir);
    let limits = serve::Limits {
        header_timeout: core::time::Duration::from_secs(config.header_timeout),
        max_header_bytes: config.max_header_bytes,
    };
    // The HTTP server stops once the node task has left the ring and closed
    // its links.
    serve::serve(listener, app, limits, async {
        let _ = done_rx.await;
    })
    .await;
    let _ = node_handle.await;
    Ok(())
}

/// The ICE servers `/ice` hands out: the configured TURN servers, or else
/// the embedded relay, started here.
async fn ice_servers(
    config: &Config,
    local: std::net::SocketAddr,
    shared: Arc<Shared>,
) -> Result<Vec<ice::IceServer>, ServerError> {
    let configured: Vec<ice::IceServer> = config
        .turn
        .iter()
        .map(|t| ice::IceServer {
            urls: t.urls.clone(),
            secret: t.secret.as_bytes().to_vec(),
        })
        .collect();
    if !config.relay.enabled.unwrap_or(configured.is_empty()) {
        return Ok(configured);
    }
    // Unless configured, the embedded relay's secret never leaves this
    // process: it signs only what this server issues.
    let secret = match &config.relay.secret {
        Some(s) => s.as_bytes().to_vec(),
        None => identity::random::<32>()?.to_vec(),
    };
    let listening = turn_relay::start(
        &config.relay,
        local.ip(),
        secret.clone(),
        identity::random()?,
        shared,
    )
    .await?;
    let host = config.public_url.as_deref().and_then(url_host);
    let mut servers = configured;
    servers.push(ice::IceServer {
        urls: listening.urls(host),
        secret,
    });
    Ok(servers)
}

/// The relay offer to keep in the overlay: by default when the embedded
/// relay runs, never with `relay.advertise = false`, and only if `/ice`
/// names a relay (`offered`).
fn relay_advert(config: &Config, public_url: &str, offered: bool) -> Option<advert::Advert> {
    let runs = config.relay.enabled.unwrap_or(config.turn.is_empty());
    if !config.relay.advertise.unwrap_or(runs) || !offered {
        return None;
    }
    let Some(url) = advert::ice_url_of(public_url) else {
        tracing::warn!(%public_url, "no /ice URL for this public URL: relay not offered");
        return None;
    };
    match advert::Advert::new(&url) {
        Ok(ad) => Some(ad),
        Err(e) => {
            tracing::warn!(%url, "relay not offered: {e}");
            None
        }
    }
}

/// The host of a `ws://host[:port]/...` URL, as peers know this server.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => &authority[..v6.find(']')? + 2],
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::{relay_advert, url_host, Config, RelaySettings, TurnServer};

    #[test]
    fn the_relay_is_offered_when_it_runs_unless_switched_off() {
        let url = "ws://127.0.0.1:1/ws";
        let with = |relay: RelaySettings, turn: Vec<TurnServer>| Config {
            relay,
            turn,
            ..Config::default()
        };
        let on = RelaySettings::default();
        assert!(relay_advert(&with(on.clone(), vec![]), url, true).is_some());
        let silent = RelaySettings {
            advertise: Some(false),
            ..on.clone()
        };
        assert!(relay_advert(&with(silent, vec![]), url, true).is_none());
        let off = RelaySettings {
            enabled: Some(false),
            ..on.clone()
        };
        assert!(relay_advert(&with(off, vec![]), url, false).is_none());
        // Coturns only: offered when asked to.
        let coturn = vec![TurnServer {
            urls: vec!["turn:a:3478".into()],
            secret: "s".into(),
        }];
        assert!(relay_advert(&with(on.clone(), coturn.clone()), url, true).is_none());
        let asked = RelaySettings {
            advertise: Some(true),
            ..on
        };
        assert!(relay_advert(&with(asked.clone(), coturn), url, true).is_some());
        // Asked, but `/ice` names no relay.
        assert!(relay_advert(&with(asked, vec![]), url, false).is_none());
    }

    #[test]
    fn the_relay_is_named_by_the_host_peers_know_the_server_by() {
        assert_eq!(url_host("ws://example.org/ws"), Some("example.org"));
        assert_eq!(url_host("wss://example.org:8443/ws"), Some("example.org"));
        assert_eq!(
            url_host("ws://[2001:db8::1]:8080/ws"),
            Some("[2001:db8::1]")
        );
        assert_eq!(url_host("ws://:80/ws"), None);
    }
}
