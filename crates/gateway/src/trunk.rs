//! One SIP trunk: its own user agent (its own credentials), outbound
//! registration refreshed by the user agent, OPTIONS keepalives that mark
//! it up or down, and the failover order across trunks.

use std::time::Duration;

use chordphone_sip::sipx_sip::Timers;
use chordphone_sip::{
    Config, Credentials, Event, Failure, Flow, RegistrationId, Time, TransactionId, UserAgent,
};

use crate::config::{TrunkConfig, TrunkTransport};

/// Whether a trunk can take calls, as far as we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrunkState {
    /// Nothing heard yet: usable, after the trunks known to be up.
    Unknown,
    /// It answered the last keepalive, registration or call.
    Up,
    /// It did not answer: no call goes there until it answers again.
    Down,
}

/// A change the gateway reports and counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Up,
    Down,
}

/// One trunk and its user agent.
#[derive(Debug)]
pub struct Trunk<T> {
    pub(crate) config: TrunkConfig,
    pub(crate) addr: T,
    pub(crate) ua: UserAgent<T>,
    state: TrunkState,
    registration: Option<RegistrationId>,
    ping: Option<TransactionId>,
    next_ping: Option<Time>,
}

impl<T: Clone + Ord + core::fmt::Debug> Trunk<T> {
    /// A trunk reached at `addr` (the shell resolved its host), whose
    /// messages leave from our `local` address (`host:port`, for Via and
    /// Contact).
    pub(crate) fn new(config: TrunkConfig, addr: T, local: &str, t1: Duration, seed: u64) -> Self {
        let transport = match config.transport {
            TrunkTransport::Udp => "",
            TrunkTransport::Tcp => ";transport=tcp",
        };
        let mut ua_config = Config::new(
            &format!("sip:{}@{}", config.username, config.host),
            &format!("sip:{}@{local}{transport}", config.username),
            local,
        );
        ua_config.timers = Timers {
            t1,
            ..Timers::default()
        };
        if !config.password.is_empty() {
            ua_config.credentials = Some(Credentials::new(
                config.username.clone(),
                config.password.clone(),
            ));
        }
        Trunk {
            ua: UserAgent::new(ua_config, seed),
            config,
            addr,
            state: TrunkState::Unknown,
            registration: None,
            ping: None,
            next_ping: None,
        }
    }

    /// The flow towards the trunk.
    pub(crate) fn flow(&self) -> Flow<T> {
        Flow::new(self.config.transport.sip(), self.addr.clone())
    }

    /// The Request-URI for a call to `number` (E.164) through this trunk.
    pub(crate) fn target(&self, number: &str) -> String {
        let transport = match self.config.transport {
            TrunkTransport::Udp => "",
            TrunkTransport::Tcp => ";transport=tcp",
        };
        format!(
            "sip:{number}@{}:{};user=phone{transport}",
            self.config.host, self.config.port
        )
    }

    /// What we know of it.
    pub fn state(&self) -> TrunkState {
        self.state
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Registers (if configured) and sends the first keepalive.
    pub(crate) fn start(&mut self, now: Time) {
        if self.config.register && self.registration.is_none() {
            let registrar = format!("sip:{}:{}", self.config.host, self.config.port);
            self.registration = self
                .ua
                .register(&registrar, self.flow(), self.config.register_expires, now)
                .ok();
        }
        if self.config.options_interval > 0 {
            self.next_ping = Some(now);
        }
        self.handle_timeout(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due.
    pub(crate) fn poll_timeout(&self) -> Option<Time> {
        match (self.ua.poll_timeout(), self.next_ping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Timers of the user agent, and the keepalive when due.
    pub(crate) fn handle_timeout(&mut self, now: Time) {
        self.ua.handle_timeout(now);
        if self.next_ping.is_some_and(|t| t <= now) && self.ping.is_none() {
            self.next_ping = None;
            let target = format!("sip:{}:{}", self.config.host, self.config.port);
            self.ping = self.ua.options(&target, self.flow(), now).ok();
        }
    }

    /// Takes the user agent's keepalive and registration events (which
    /// change the trunk's state); every other event is the caller's.
    pub(crate) fn filter_event(&mut self, e: Event, now: Time) -> (Option<Event>, Option<Change>) {
        match e {
            Event::RequestDone { id, outcome } if Some(id) == self.ping => {
                self.ping = None;
                self.next_ping = Some(now + Duration::from_secs(self.config.options_interval));
                // Any answer, even an error status, shows the trunk is there.
                let alive = !matches!(outcome, Err(Failure::Unreachable));
                (None, self.set(alive))
            }
            Event::Registered { id, .. } if Some(id) == self.registration => (None, self.set(true)),
            Event::RegistrationFailed { id, failure } if Some(id) == self.registration => {
                // A registrar that refuses us will refuse our calls too.
                self.registration = None;
                let _ = failure;
                (None, self.set(false))
            }
            other => (Some(other), None),
        }
    }

    /// A call through this trunk got an answer (`true`) or none at all.
    pub(crate) fn set(&mut self, alive: bool) -> Option<Change> {
        let before = self.state;
        self.state = if alive {
            TrunkState::Up
        } else {
            TrunkState::Down
        };
        match (before, self.state) {
            (TrunkState::Up, TrunkState::Down) | (TrunkState::Unknown, TrunkState::Down) => {
                Some(Change::Down)
            }
            (TrunkState::Down, TrunkState::Up) | (TrunkState::Unknown, TrunkState::Up) => {
                Some(Change::Up)
            }
            _ => None,
        }
    }
}

/// The next trunk to try: not yet `tried`, not down; the lowest priority
/// first, a trunk known to be up before one not heard from yet, then the
/// order of the configuration.
pub(crate) fn next_trunk<T>(trunks: &[Trunk<T>], tried: &[usize]) -> Option<usize> {
    trunks
        .iter()
        .enumerate()
        .filter(|(i, t)| !tried.contains(i) && t.state != TrunkState::Down)
        .min_by_key(|(i, t)| (t.config.priority, t.state != TrunkState::Up, *i))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_sip::Transport;

    fn trunk(name: &str, priority: u32, addr: u32) -> Trunk<u32> {
        let config = TrunkConfig {
            name: name.into(),
            priority,
            options_interval: 30,
            ..TrunkConfig::default()
        };
        Trunk::new(
            config,
            addr,
            "192.0.2.1:5060",
            Duration::from_millis(100),
            7,
        )
    }

    /// Answers the trunk's pending request (`method`) with a 200 built
    /// from its own headers (`extra` added), as a registrar or a peer
    /// answering OPTIONS would; the state change it caused.
    fn answer(t: &mut Trunk<u32>, method: &str, extra: &str, now: Time) -> Option<Change> {
        let out = t.ua.poll_transmit().expect("a request");
        let text = String::from_utf8_lossy(&out.bytes).into_owned();
        assert!(
            text.starts_with(&format!("{method} sip:127.0.0.1:5060 SIP/2.0")),
            "{text}"
        );
        let mut reply = String::from("SIP/2.0 200 OK\r\n");
        for line in text.split("\r\n").skip(1) {
            let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
            if ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str()) {
                reply.push_str(line);
                reply.push_str("\r\n");
            }
        }
        reply.push_str(extra);
        reply.push_str("Content-Length: 0\r\n\r\n");
        t.ua.handle_input(Flow::new(Transport::Udp, t.addr), reply.as_bytes(), now);
        let mut change = None;
        while let Some(e) = t.ua.poll_event() {
            let (rest, c) = t.filter_event(e, now);
            assert!(rest.is_none());
            change = change.or(c);
        }
        change
    }

    fn answer_options(t: &mut Trunk<u32>, now: Time) -> Option<Change> {
        answer(t, "OPTIONS", "", now)
    }

    #[test]
    fn a_registration_marks_the_trunk_up_and_is_refreshed() {
        let t0 = Time(1_000_000);
        let config = TrunkConfig {
            register: true,
            register_expires: 600,
            options_interval: 0,
            ..TrunkConfig::default()
        };
        let mut t = Trunk::new(config, 1, "192.0.2.1:5060", Duration::from_millis(100), 7);
        t.start(t0);
        let granted = "Contact: <sip:chordphone@192.0.2.1:5060>;expires=300\r\n";
        assert_eq!(answer(&mut t, "REGISTER", granted, t0), Some(Change::Up));
        // Refreshed at half the 300 s granted.
        let mut now = t0;
        let mut refreshed = None;
        for _ in 0..50 {
            now = t.poll_timeout().expect("a timer").max(now);
            t.handle_timeout(now);
            if let Some(out) = t.ua.poll_transmit() {
                if out.bytes.starts_with(b"REGISTER") {
                    refreshed = Some(now);
                    break;
                }
            }
        }
        assert_eq!(refreshed, Some(t0 + Duration::from_secs(150)));
    }

    #[test]
    fn keepalives_mark_a_trunk_up_and_silence_marks_it_down() {
        let t0 = Time(1_000_000);
        let mut t = trunk("a", 0, 1);
        t.start(t0);
        assert_eq!(t.state(), TrunkState::Unknown);
        assert_eq!(answer_options(&mut t, t0), Some(Change::Up));
        assert_eq!(t.state(), TrunkState::Up);
        // The next keepalive goes out an interval later; nobody answers it.
        let mut now = t0;
        let mut sent_at = None;
        let mut change = None;
        for _ in 0..200 {
            now = t.poll_timeout().expect("a timer").max(now);
            t.handle_timeout(now);
            while let Some(out) = t.ua.poll_transmit() {
                if out.bytes.starts_with(b"OPTIONS") && sent_at.is_none() {
                    sent_at = Some(now);
                }
            }
            while let Some(e) = t.ua.poll_event() {
                change = change.or(t.filter_event(e, now).1);
            }
            if change.is_some() {
                break;
            }
        }
        let sent_at = sent_at.expect("a second keepalive");
        assert_eq!(sent_at, t0 + Duration::from_secs(30));
        assert_eq!(change, Some(Change::Down));
        assert_eq!(t.state(), TrunkState::Down);
        // 64 × T1 after the OPTIONS went out.
        assert_eq!(now, sent_at + Duration::from_millis(6400));
        // ...and the keepalives go on, so it can come back.
        assert!(t.poll_timeout().is_some());
    }

    #[test]
    fn failover_order_is_priority_then_known_up() {
        let mut ts = vec![trunk("a", 5, 1), trunk("b", 1, 2), trunk("c", 1, 3)];
        assert_eq!(next_trunk(&ts, &[]), Some(1));
        ts[2].set(true);
        assert_eq!(next_trunk(&ts, &[]), Some(2));
        assert_eq!(next_trunk(&ts, &[2]), Some(1));
        ts[1].set(false);
        assert_eq!(next_trunk(&ts, &[2]), Some(0));
        assert_eq!(next_trunk(&ts, &[2, 0]), None);
    }
}
