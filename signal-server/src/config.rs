//! Server settings: embedded defaults, an optional TOML file with the same
//! field names, and command-line flags over both (see `main.rs`).

use serde::Deserialize;
use std::net::SocketAddr;
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
}
