//! The gateway's settings: trunks, dial plan, DIDs and limits. The server
//! reads them from the `[gateway]` table of its TOML file; every field has
//! a default so that a short table is a whole configuration.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How SIP reaches a trunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrunkTransport {
    /// SIP over UDP (the transaction layer retransmits).
    #[default]
    Udp,
    /// SIP over TCP.
    Tcp,
}

impl TrunkTransport {
    /// The SIP user agent's transport.
    pub fn sip(self) -> chordphone_sip::Transport {
        match self {
            TrunkTransport::Udp => chordphone_sip::Transport::Udp,
            TrunkTransport::Tcp => chordphone_sip::Transport::Tcp,
        }
    }
}

/// One SIP trunk (TOML `[[gateway.trunk]]`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs and metrics.
    pub name: String,
    /// The trunk's host (name or address; the shell resolves it).
    pub host: String,
    /// Its SIP port.
    pub port: u16,
    /// UDP or TCP.
    pub transport: TrunkTransport,
    /// Digest username (also the user part of our From and Contact).
    pub username: String,
    /// Digest password: never leaves the server, never logged.
    pub password: String,
    /// The realm the provider announces, for the operator's reference
    /// (the digest answer is computed for the realm the challenge names).
    pub realm: Option<String>,
    /// Register our contact with the trunk (and refresh at half time).
    pub register: bool,
    /// Seconds asked for in REGISTER.
    pub register_expires: u32,
    /// Seconds between OPTIONS keepalives; 0: none (the trunk is then
    /// only marked down by a call that gets no answer).
    pub options_interval: u64,
    /// Lower first: calls go to the usable trunk with the lowest priority,
    /// and fail over in this order.
    pub priority: u32,
}

impl core::fmt::Debug for TrunkConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The password stays out of every log line.
        f.debug_struct("TrunkConfig")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("realm", &self.realm)
            .field("register", &self.register)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            name: "trunk".to_owned(),
            host: "127.0.0.1".to_owned(),
            port: 5060,
            transport: TrunkTransport::Udp,
            username: "chordphone".to_owned(),
            password: String::new(),
            realm: None,
            register: false,
            register_expires: 3600,
            options_interval: 30,
            priority: 0,
        }
    }
}

/// How dialled strings become E.164 numbers, and which may be called
/// (TOML `[gateway.dial_plan]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DialPlanConfig {
    /// Our country calling code (`1` for NANP, `33` for France): a
    /// national number gets it.
    pub country_code: String,
    /// The trunk prefix of a national number (`1` in NANP, `0` in most of
    /// Europe), dropped before the country code is added. Empty: none.
    pub national_prefix: String,
    /// The prefix that starts an international number when dialled
    /// without `+` (`011` in NANP, `00` in most of the world).
    pub international_prefix: String,
    /// E.164 prefixes (with `+`) that may be called. Empty: every number
    /// that is not denied.
    pub allow: Vec<String>,
    /// E.164 prefixes that may never be called (premium rate, satellite):
    /// they win over `allow`.
    pub deny: Vec<String>,
    /// Fewest digits of an E.164 number (after the `+`).
    pub min_digits: usize,
}

impl Default for DialPlanConfig {
    fn default() -> Self {
        DialPlanConfig {
            country_code: "1".to_owned(),
            national_prefix: "1".to_owned(),
            international_prefix: "011".to_owned(),
            allow: Vec::new(),
            deny: Vec::new(),
            min_digits: 7,
        }
    }
}

/// Limits per caller identity (TOML `[gateway.limits]`): the toll-fraud
/// guard. 0 disables a limit.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Calls one identity may have at once.
    pub concurrent_calls: u32,
    /// Calls one identity may start in any hour.
    pub calls_per_hour: u32,
    /// Minutes of answered calls one identity may use per UTC day; a call
    /// that reaches the limit is hung up.
    pub minutes_per_day: u32,
    /// Identities tracked at once (the table is bounded; when it is full,
    /// new identities are refused until old ones expire).
    pub max_identities: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            concurrent_calls: 2,
            calls_per_hour: 20,
            minutes_per_day: 120,
            max_identities: 10_000,
        }
    }
}

/// The media bridge's sockets (TOML `[gateway.media]`): where calls'
/// audio is received, and what browsers and trunks are told to send to.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// The IP address the bridge binds its UDP ports on. `None`: the IP of
    /// `listen`.
    pub bind: Option<core::net::IpAddr>,
    /// The IP address put in SDP (`c=`) and in the browser's ICE candidate:
    /// the server's public address. `None`: the host of `public_address`
    /// if it is an IP address, else the bind address.
    pub advertise: Option<core::net::IpAddr>,
    /// First and last UDP port calls take (two a call: browser and trunk).
    pub ports: [u16; 2],
    /// Seeds the bridge's SSRCs, sequence numbers and session ids. `None`:
    /// from the operating system at start.
    pub seed: Option<u64>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind: None,
            advertise: None,
            ports: [20_000, 20_999],
            seed: None,
        }
    }
}

/// The whole gateway (TOML `[gateway]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The UDP address the shell binds for SIP towards the trunks.
    pub listen: String,
    /// The `host:port` trunks reach us at (Via, Contact), when `listen` is
    /// a wildcard or behind NAT. `None`: the bound address.
    pub public_address: Option<String>,
    /// The trunks, tried in `priority` order.
    pub trunk: Vec<TrunkConfig>,
    /// Dialled strings to E.164, and which numbers may be called.
    pub dial_plan: DialPlanConfig,
    /// Per-identity limits.
    pub limits: LimitsConfig,
    /// DIDs (E.164, `+...`) to the address of record they ring
    /// (`sip:alice@chordphone`). Inbound calls are the next stage.
    pub did: BTreeMap<String, String>,
    /// Calls through the gateway at once; more are refused with 503.
    pub max_calls: usize,
    /// RFC 3261's T1 in milliseconds (UDP retransmission and timeout base:
    /// a trunk that does not answer is given up after 64 × T1).
    pub t1_ms: u64,
    /// Seconds between refreshes of the gateway's `service:pstn-gateway`
    /// record in the overlay.
    pub announce_interval: u64,
    /// The media bridge (audio between tabs and trunks).
    pub media: MediaConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: "0.0.0.0:5060".to_owned(),
            public_address: None,
            trunk: Vec::new(),
            dial_plan: DialPlanConfig::default(),
            limits: LimitsConfig::default(),
            did: BTreeMap::new(),
            max_calls: 256,
            t1_ms: 500,
            announce_interval: 300,
            media: MediaConfig::default(),
        }
    }
}

/// A configuration that cannot run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No `[[gateway.trunk]]`.
    #[error("the gateway has no trunk ([[gateway.trunk]])")]
    NoTrunk,
    /// Two trunks share a name.
    #[error("two trunks are named {0:?}")]
    DuplicateTrunk(String),
    /// A dial-plan prefix that is not `+` and digits.
    #[error("dial plan prefix {0:?} is not `+` followed by digits")]
    BadPrefix(String),
    /// A country code or prefix that is not digits.
    #[error("dial plan {0} {1:?} is not digits")]
    BadDigits(&'static str, String),
    /// A DID that is not an E.164 number or an AOR that is not a SIP URI.
    #[error("DID {0:?} → {1:?}: expected \"+digits\" = \"sip:name@domain\"")]
    BadDid(String, String),
    /// T1 out of its sensible range.
    #[error("t1_ms must be between 10 and 5000")]
    BadT1,
    /// A media port range that is empty, starts at 0 or has room for no call.
    #[error("[gateway.media] ports {0}-{1}: expected a range of at least two ports above 0")]
    BadMediaPorts(u16, u16),
}

impl GatewayConfig {
    /// Checks what serde cannot: names, prefixes, DIDs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.trunk.is_empty() {
            return Err(ConfigError::NoTrunk);
        }
        for (i, t) in self.trunk.iter().enumerate() {
            if self.trunk[..i].iter().any(|o| o.name == t.name) {
                return Err(ConfigError::DuplicateTrunk(t.name.clone()));
            }
        }
        let plan = &self.dial_plan;
        for p in plan.allow.iter().chain(&plan.deny) {
            if !is_e164_prefix(p) {
                return Err(ConfigError::BadPrefix(p.clone()));
            }
        }
        for (what, v) in [
            ("country_code", &plan.country_code),
            ("national_prefix", &plan.national_prefix),
            ("international_prefix", &plan.international_prefix),
        ] {
            if !v.bytes().all(|b| b.is_ascii_digit()) || (what == "country_code" && v.is_empty()) {
                return Err(ConfigError::BadDigits(what, v.clone()));
            }
        }
        for (did, aor) in &self.did {
            if !is_e164_prefix(did) || !aor.starts_with("sip:") || !aor.contains('@') {
                return Err(ConfigError::BadDid(did.clone(), aor.clone()));
            }
        }
        if !(10..=5000).contains(&self.t1_ms) {
            return Err(ConfigError::BadT1);
        }
        let [first, last] = self.media.ports;
        if first == 0 || last <= first {
            return Err(ConfigError::BadMediaPorts(first, last));
        }
        Ok(())
    }
}

/// `+` and at least one digit.
fn is_e164_prefix(p: &str) -> bool {
    p.strip_prefix('+')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_what_is_wrong() {
        let mut c = GatewayConfig::default();
        assert_eq!(c.validate(), Err(ConfigError::NoTrunk));
        c.trunk.push(TrunkConfig::default());
        assert_eq!(c.validate(), Ok(()));
        c.trunk.push(TrunkConfig::default());
        assert_eq!(
            c.validate(),
            Err(ConfigError::DuplicateTrunk("trunk".into()))
        );
        c.trunk.pop();
        c.dial_plan.deny.push("1900".into());
        assert_eq!(c.validate(), Err(ConfigError::BadPrefix("1900".into())));
        c.dial_plan.deny = vec!["+1900".into()];
        c.did.insert("+15550001111".into(), "alice".into());
        assert!(matches!(c.validate(), Err(ConfigError::BadDid(..))));
        c.did.clear();
        c.media.ports = [21_000, 21_000];
        assert_eq!(
            c.validate(),
            Err(ConfigError::BadMediaPorts(21_000, 21_000))
        );
    }

    #[test]
    fn debug_never_shows_the_password() {
        let t = TrunkConfig {
            password: "hunter2".into(),
            ..TrunkConfig::default()
        };
        assert!(!format!("{t:?}").contains("hunter2"));
    }
}
