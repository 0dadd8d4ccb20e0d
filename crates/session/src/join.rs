//! Joining a ring through a bootstrap node, and trying again with a
//! growing back-off when that fails.

use crate::config::Config;
use crate::link::{LinkId, Phase, Transport};
use crate::output::Output;
use crate::session::Session;
use chordphone_overlay::{NodeId, Phase as NodePhase, Time};
use core::time::Duration;

/// The join state of a session.
#[derive(Debug)]
pub(crate) struct Join {
    /// WebSocket URLs of bootstrap nodes, tried in turn.
    urls: Vec<String>,
    next_url: usize,
    /// The shell asked to join (and has not left).
    wanted: bool,
    /// The bootstrap link, while being set up or up.
    link: Option<LinkId>,
    /// The bootstrap node, once proven.
    peer: Option<NodeId>,
    retry: Option<Time>,
    backoff: Duration,
    min: Duration,
    max: Duration,
}

impl Join {
    pub fn new(config: &Config) -> Join {
        Join {
            urls: Vec::new(),
            next_url: 0,
            wanted: false,
            link: None,
            peer: None,
            retry: None,
            backoff: config.join_backoff_min,
            min: config.join_backoff_min,
            max: config.join_backoff_max,
        }
    }

    pub fn retry_at(&self) -> Option<Time> {
        self.retry
    }

    pub fn retry_due(&mut self, now: Time) -> bool {
        if self.retry.is_some_and(|t| t <= now) {
            self.retry = None;
            return true;
        }
        false
    }

    pub fn joined(&mut self) {
        self.retry = None;
        self.backoff = self.min;
    }

    /// Tries again later, waiting longer each time.
    pub fn failed(&mut self, now: Time) {
        if self.wanted && self.retry.is_none() {
            self.retry = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(self.max);
        }
    }

    pub fn is_bootstrap(&self, link: LinkId) -> bool {
        self.link == Some(link)
    }

    /// The node closed the bootstrap link on purpose.
    pub fn bootstrap_closed(&mut self) {
        self.link = None;
    }

    pub fn bootstrap_lost(&mut self, link: LinkId, now: Time) {
        if self.link == Some(link) {
            self.link = None;
            self.failed(now);
        }
    }

    pub fn stop(&mut self) {
        self.wanted = false;
        self.retry = None;
    }
}

impl Session {
    /// The WebSocket URLs of the nodes to join through (servers), tried in
    /// turn.
    pub fn set_bootstrap(&mut self, urls: Vec<String>) {
        self.join.urls = urls;
        self.join.next_url = 0;
    }

    /// Joins a ring through a bootstrap node, connecting to one first if
    /// needed, and keeps trying (with a growing back-off) until the node
    /// is in. [`chordphone_overlay::Event::Joined`] comes out when it is.
    pub fn join(&mut self, now: Time) {
        self.now = now;
        self.join.wanted = true;
        self.try_join();
    }

    /// A bootstrap link is being set up or is up.
    pub fn bootstrap_open(&self) -> bool {
        self.join.link.is_some()
    }

    /// True if `link` is the bootstrap link.
    pub fn is_bootstrap_link(&self, link: LinkId) -> bool {
        self.join.is_bootstrap(link)
    }

    /// A join retry that is waiting runs now (the bootstrap node is known
    /// to be back).
    pub fn hurry_join(&mut self, now: Time) {
        if self.join.retry.is_some_and(|t| t > now) {
            self.join.retry = Some(now);
        }
    }

    /// Opens a link to the bootstrap node if there is none: to join, or,
    /// for a node already in a ring, to show a restarted bootstrap node
    /// where it belongs (the two rings then merge).
    pub fn open_bootstrap(&mut self, now: Time) {
        self.now = now;
        if self.join.link.is_some() || self.join.urls.is_empty() || self.stopping {
            return;
        }
        let url = self.join.urls[self.join.next_url % self.join.urls.len()].clone();
        self.join.next_url = self.join.next_url.wrapping_add(1);
        let id = self.insert(
            Transport::WebSocket { dialled: true },
            None,
            Phase::Opening,
            true,
        );
        self.join.link = Some(id);
        self.out.push_back(Output::Open {
            link: id,
            how: crate::output::Open::WebSocket { url },
        });
    }

    /// Joins now if that is wanted and possible; a node that is in a ring
    /// but lost every link reconnects to a bootstrap node instead.
    pub(crate) fn try_join(&mut self) {
        self.join.retry = None;
        if !self.join.wanted {
            return;
        }
        match self.node.phase() {
            NodePhase::Idle => match self.join.peer {
                Some(peer) if self.is_up(&peer) => self.node.join(peer, self.now),
                _ => self.open_bootstrap(self.now),
            },
            NodePhase::Joined if self.isolated() => self.open_bootstrap(self.now),
            _ => {}
        }
    }

    /// In a ring, but with no link up or being set up: the node sits in a
    /// ring of its own (every neighbour died, or took it for dead and
    /// closed its links). Nothing would bring it back, so it schedules a
    /// reconnection to a bootstrap node with the join back-off; there it
    /// is introduced again and the rings merge.
    pub(crate) fn rejoin_if_isolated(&mut self) {
        if self.join.wanted
            && self.join.retry.is_none()
            && self.node.phase() == NodePhase::Joined
            && self.isolated()
        {
            self.join.failed(self.now);
        }
    }

    fn isolated(&self) -> bool {
        self.join.link.is_none() && self.links.is_empty()
    }

    /// The bootstrap link passed its handshake.
    pub(crate) fn on_bootstrap_up(&mut self, peer: NodeId) {
        self.join.peer = Some(peer);
        match self.node.phase() {
            NodePhase::Idle if self.join.wanted => self.node.join(peer, self.now),
            // Reconnected after an outage: the bootstrap node may have
            // restarted alone and formed a ring of its own. Introducing it
            // makes the two rings one.
            NodePhase::Joined => self.node.introduce(peer, self.now),
            _ => {}
        }
    }
}
