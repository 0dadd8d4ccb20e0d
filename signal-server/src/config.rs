//! Server settings: embedded defaults, an optional TOML file with the same
//! field names, and command-line flags over both (see `main.rs`).

use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// How the server runs. `Config::default()` is a complete configuration for
/// a server on 127.0.0.1 that starts its own ring.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (used by the binary; `run` takes a bound listener).
    pub listen: SocketAddr,
    /// Directory of the web app, served at `/`.
    pub static_dir: PathBuf,
    /// Link endpoints (`ws://host:port/ws`) of servers whose ring to join.
    /// Empty: start a new ring.
    pub join: Vec<String>,
    /// The `ws://` URL others dial to reach this server. `None`: derived from
    /// the listener's address as `ws://<addr>/ws`.
    pub public_url: Option<String>,
    /// File holding the node's 32-byte secret seed as hex; created if
    /// missing. `None`: a fresh identity on every start.
    pub identity_file: Option<PathBuf>,
    /// Most WebSocket connections held at once; more are closed with
    /// `CloseCode::Full`.
    pub max_connections: usize,
    /// Most overlay links the node keeps (its link budget).
    pub max_links: usize,
    /// Messages per second one connection may send (token bucket with a
    /// burst of twice this).
    pub rate: u32,
    /// Outgoing frames queued per connection before it counts as not reading.
    pub queue: usize,
    /// Log filter (`tracing_subscriber::EnvFilter` syntax), used by the binary.
    pub log: String,
    /// TURN servers handed to peers at `/ice`, each with the secret its
    /// credentials are signed with (coturn's `static-auth-secret`). Empty:
    /// the embedded relay serves instead (see `relay`).
    pub turn: Vec<TurnServer>,
    /// Seconds a TURN credential handed out at `/ice` lives.
    pub turn_lifetime: u64,
    /// `/ice` requests one IP address may make per minute (bursts of this
    /// many); more are answered 429.
    pub ice_rate: u32,
    /// The embedded TURN relay.
    pub relay: RelaySettings,
    /// Seconds a client has to send a whole request head, counted from when
    /// the server starts waiting for it: bounds slow or endless headers and
    /// idle keep-alive connections alike.
    pub header_timeout: u64,
    /// Most bytes of a request head; larger ones are refused.
    pub max_header_bytes: usize,
    /// Whether the server may dial WebSocket URLs on loopback or private
    /// addresses that peers name (a configured `join` URL is always
    /// dialled). `None`: only when the server itself listens on such an
    /// address (a machine-local or LAN set-up).
    pub dial_private: Option<bool>,
    /// The SIP gateway to the telephone network (TOML `[gateway]` with
    /// `[[gateway.trunk]]` tables). `None`: no gateway.
    pub gateway: Option<chordphone_gateway::GatewayConfig>,
}

/// A TURN server (or a group of them behind one secret) for `/ice`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnServer {
    /// Its URLs, as RTCPeerConnection takes them
    /// (`turn:host:3478?transport=udp`, `turns:host:5349`...).
    pub urls: Vec<String>,
    /// The shared secret (coturn: `static-auth-secret`).
    pub secret: String,
}

/// The embedded TURN relay (TOML table `[relay]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelaySettings {
    /// Run it. `None`: when no `turn` server is configured. Off, and with
    /// no `turn` servers, `/ice` names no TURN server: this server's tabs
    /// then find relays of other servers in the overlay.
    pub enabled: Option<bool>,
    /// Offer the relays `/ice` names to the whole overlay: a
    /// `service:relay` record naming this server's `/ice`, so that tabs of
    /// other servers use them too. `None`: when the embedded relay runs.
    pub advertise: Option<bool>,
    /// Where it listens for TURN over UDP and TCP. `None`: the HTTP
    /// listener's IP address, a free port (peers learn it from `/ice`).
    pub listen: Option<SocketAddr>,
    /// The IP address peers reach the relay at, when it listens on all
    /// interfaces (required then). `None`: the listening address.
    pub public_ip: Option<IpAddr>,
    /// The secret its credentials are signed with. `None`: a random one per
    /// start (only this server issues credentials for it). Set it to share
    /// the relay with other issuers, or to test it.
    pub secret: Option<String>,
    /// Relay to loopback peers (127.0.0.0/8, ::1). Its own relay addresses
    /// are always allowed.
    pub allow_loopback: bool,
    /// Relay to private peers (RFC 1918, link-local, unique local, CGNAT).
    pub allow_private: bool,
    /// Most allocations at once.
    pub max_allocations: usize,
    /// Most allocations of one user (one client address) at once.
    pub max_allocations_per_user: usize,
    /// Bytes per second one user may relay (both directions; bursts of
    /// twice this).
    pub bandwidth: u64,
}

impl Default for RelaySettings {
    fn default() -> RelaySettings {
        RelaySettings {
            enabled: None,
            advertise: None,
            listen: None,
            public_ip: None,
            secret: None,
            allow_loopback: false,
            allow_private: false,
            max_allocations: 1024,
            max_allocations_per_user: 16,
            bandwidth: 1024 * 1024,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            static_dir: PathBuf::from("dist"),
            join: Vec::new(),
            public_url: None,
            identity_file: None,
            max_connections: 1024,
            max_links: 512,
            rate: 200,
            queue: 256,
            log: "info".to_owned(),
            turn: Vec::new(),
            turn_lifetime: 12 * 3600,
            ice_rate: 30,
            relay: RelaySettings::default(),
            header_timeout: 10,
            max_header_bytes: 16 * 1024,
            dial_private: None,
            gateway: None,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: toml::de::Error,
    },
    /// A value is out of range.
    #[error("invalid setting: {0}")]
    Invalid(&'static str),
    /// The `[gateway]` table is not usable.
    #[error("invalid gateway setting: {0}")]
    Gateway(#[from] chordphone_gateway::ConfigError),
}

impl Config {
    /// Reads a TOML file; fields it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks values that would make the server useless or unsafe.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be at least 1"));
        }
        if self.max_links == 0 {
            return Err(ConfigError::Invalid("max_links must be at least 1"));
        }
        if self.rate == 0 {
            return Err(ConfigError::Invalid("rate must be at least 1"));
        }
        if self.queue == 0 {
            return Err(ConfigError::Invalid("queue must be at least 1"));
        }
        if self.turn_lifetime < 60 {
            return Err(ConfigError::Invalid(
                "turn_lifetime must be at least 60 seconds",
            ));
        }
        if self.ice_rate == 0 {
            return Err(ConfigError::Invalid("ice_rate must be at least 1"));
        }
        if self.header_timeout == 0 {
            return Err(ConfigError::Invalid(
                "header_timeout must be at least 1 second",
            ));
        }
        if self.max_header_bytes < 8192 {
            return Err(ConfigError::Invalid(
                "max_header_bytes must be at least 8192",
            ));
        }
        for t in &self.turn {
            let turn_url = |u: &String| {
                u.starts_with("turn:") || u.starts_with("turns:") || u.starts_with("stun:")
            };
            if t.urls.is_empty() || !t.urls.iter().all(turn_url) || t.secret.is_empty() {
                return Err(ConfigError::Invalid(
                    "each turn server needs turn:/turns:/stun: urls and a secret",
                ));
            }
        }
        let r = &self.relay;
        if r.max_allocations == 0 || r.max_allocations_per_user == 0 || r.bandwidth == 0 {
            return Err(ConfigError::Invalid(
                "relay.max_allocations, relay.max_allocations_per_user and relay.bandwidth must be at least 1",
            ));
        }
        if let Some(g) = &self.gateway {
            g.validate()?;
        }
        for url in self.join.iter().chain(self.public_url.iter()) {
            if !(url.starts_with("ws://") || url.starts_with("wss://"))
                || url.len() > chordphone_link::MAX_URL
            {
                return Err(ConfigError::Invalid(
                    "join and public_url must be ws:// or wss:// URLs",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_fields_override_defaults_and_unknown_fields_fail() {
        let c = Config::from_toml("max_links = 7\njoin = [\"ws://127.0.0.1:1/ws\"]\n")
            .expect("valid toml");
        assert_eq!(c.max_links, 7);
        assert_eq!(c.join.len(), 1);
        assert_eq!(c.rate, Config::default().rate);
        assert!(c.validate().is_ok());
        assert!(Config::from_toml("max_linkz = 7").is_err());
        let bad = Config {
            public_url: Some("http://x".into()),
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn the_gateway_table_parses_with_its_trunks() {
        let c = Config::from_toml(
            "[gateway]\nlisten = \"127.0.0.1:5070\"\n\
             [gateway.dial_plan]\ncountry_code = \"1\"\ndeny = [\"+1900\"]\n\
             [gateway.limits]\ncalls_per_hour = 5\n\
             [gateway.did]\n\"+15550001111\" = \"sip:alice@chordphone\"\n\
             [[gateway.trunk]]\nname = \"main\"\nhost = \"sip.example.net\"\nusername = \"u\"\npassword = \"p\"\nregister = true\n\
             [[gateway.trunk]]\nname = \"backup\"\nhost = \"sip2.example.net\"\ntransport = \"tcp\"\npriority = 5\n",
        )
        .expect("valid toml");
        let g = c.gateway.as_ref().expect("a gateway");
        assert_eq!(g.trunk.len(), 2);
        assert_eq!(g.trunk[1].priority, 5);
        assert_eq!(g.limits.calls_per_hour, 5);
        assert!(c.validate().is_ok());
        assert!(Config::from_toml("[gateway]\n[[gateway.trunk]]\nhots = \"x\"\n").is_err());
        let none = Config::from_toml("[gateway]\n").expect("valid toml");
        assert!(none.validate().is_err(), "a gateway without trunks");
    }

    #[test]
    fn turn_servers_and_relay_settings_parse() {
        let c = Config::from_toml(
            "turn_lifetime = 600\n\
             [[turn]]\nurls = [\"turn:a.example:3478?transport=udp\"]\nsecret = \"s1\"\n\
             [[turn]]\nurls = [\"turn:b.example:3478\"]\nsecret = \"s2\"\n\
             [relay]\nallow_loopback = true\nadvertise = false\n",
        )
        .expect("valid toml");
        assert_eq!(c.turn.len(), 2);
        assert_eq!(c.turn[1].secret, "s2");
        assert!(c.relay.allow_loopback);
        assert_eq!(c.relay.advertise, Some(false));
        assert!(c.validate().is_ok());
        let no_secret = Config::from_toml("[[turn]]\nurls = [\"turn:a:1\"]\nsecret = \"\"\n")
            .expect("valid toml");
        assert!(no_secret.validate().is_err());
    }
}
