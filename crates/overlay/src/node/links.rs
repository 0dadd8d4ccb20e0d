//! The links a node holds: open or being opened, what waits on them, when
//! each was last useful, and the round-trip estimate per peer.

use crate::id::NodeId;
use crate::time::Time;
use crate::vecmap::VecMap;
use crate::wire::{CloseReason, Message};
use core::time::Duration;
use std::collections::VecDeque;

/// What a node keeps per link. Small on purpose: routing looks links up
/// for every message, and the few bytes of each entry sit side by side.
#[derive(Debug)]
pub struct Link {
    pub last_used: Time,
    /// Smoothed round trip and its variation, in microseconds (saturated:
    /// round trips are bounded by the route timeout, far below 71 minutes).
    srtt: Option<(u32, u32)>,
    /// The peer announced it closes this link (and why): its going down is
    /// then no failure.
    pub closing: Option<CloseReason>,
    /// Being opened; its deadline and queue are in [`Links::opening`].
    connecting: bool,
}

impl Link {
    /// True while the link is being opened.
    pub fn is_connecting(&self) -> bool {
        self.connecting
    }
}

/// A link being opened: rare and short-lived, so kept apart from the
/// per-link entries that every message looks at.
#[derive(Debug)]
struct Opening {
    deadline: Time,
    /// Messages waiting for the link to come up.
    queue: VecDeque<Message>,
}

#[derive(Debug, Default)]
pub struct Links {
    map: VecMap<NodeId, Link>,
    /// The links of `map` being opened. The deadline scans run after every
    /// input and only look here.
    opening: VecMap<NodeId, Opening>,
}

/// What happened to a message handed to [`Links::send`].
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Ready to transmit now.
    Now(Message),
    /// Queued until the link is up.
    Queued,
    /// The queue for this link is full.
    QueueFull(Message),
    /// There is no link.
    NoLink(Message),
}

impl Links {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, peer: &NodeId) -> Option<&Link> {
        self.map.get(peer)
    }

    pub fn is_up(&self, peer: &NodeId) -> bool {
        self.map.get(peer).is_some_and(|l| !l.connecting)
    }

    pub fn contains(&self, peer: &NodeId) -> bool {
        self.map.contains_key(peer)
    }

    pub fn up_peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.map
            .iter()
            .filter(|(_, l)| !l.connecting)
            .map(|(p, _)| *p)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&NodeId, &Link)> {
        self.map.iter()
    }

    /// Starts opening a link.
    pub fn start_connect(&mut self, peer: NodeId, now: Time, deadline: Time) {
        if self.map.contains_key(&peer) {
            return;
        }
        self.opening.insert(
            peer,
            Opening {
                deadline,
                queue: VecDeque::new(),
            },
        );
        self.map.insert(
            peer,
            Link {
                last_used: now,
                srtt: None,
                closing: None,
                connecting: true,
            },
        );
    }

    /// Marks a link up (opened by us or by the peer); returns what was queued.
    pub fn up(&mut self, peer: NodeId, now: Time) -> VecDeque<Message> {
        let link = self.map.get_or_insert_with(peer, || Link {
            last_used: now,
            srtt: None,
            closing: None,
            connecting: false,
        });
        link.last_used = now;
        link.closing = None;
        if core::mem::take(&mut link.connecting) {
            if let Some(o) = self.opening.remove(&peer) {
                return o.queue;
            }
        }
        VecDeque::new()
    }

    /// Forgets a link (and what was queued on it); returns it if there was one.
    pub fn remove(&mut self, peer: &NodeId) -> Option<Link> {
        let link = self.map.remove(peer)?;
        if link.connecting {
            self.opening.remove(peer);
        }
        Some(link)
    }

    /// Hands a message to the link: ready, queued, or refused.
    pub fn send(&mut self, peer: &NodeId, msg: Message, now: Time, queue_cap: usize) -> Sent {
        match self.map.get_mut(peer) {
            None => Sent::NoLink(msg),
            Some(l) if !l.connecting => {
                l.last_used = now;
                Sent::Now(msg)
            }
            Some(_) => match self.opening.get_mut(peer) {
                Some(o) if o.queue.len() < queue_cap => {
                    o.queue.push_back(msg);
                    Sent::Queued
                }
                _ => Sent::QueueFull(msg),
            },
        }
    }

    pub fn touch(&mut self, peer: &NodeId, now: Time) {
        if let Some(l) = self.map.get_mut(peer) {
            l.last_used = now;
        }
    }

    pub fn mark_closing(&mut self, peer: &NodeId, reason: CloseReason) {
        if let Some(l) = self.map.get_mut(peer) {
            l.closing = Some(reason);
        }
    }

    /// Feeds a round-trip sample (RFC 6298 smoothing).
    pub fn sample_rtt(&mut self, peer: &NodeId, rtt: Duration) {
        let Some(l) = self.map.get_mut(peer) else {
            return;
        };
        let r = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
        let (srtt, var) = match l.srtt {
            None => (r, r / 2),
            Some((srtt, var)) => {
                let (srtt, var) = (u64::from(srtt), u64::from(var));
                let var = (3 * var + srtt.abs_diff(r)) / 4;
                ((7 * srtt + r) / 8, var)
            }
        };
        let narrow = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        l.srtt = Some((narrow(srtt), narrow(var)));
    }

    /// True once a round trip to `peer` was measured.
    pub fn has_rtt(&self, peer: &NodeId) -> bool {
        self.map.get(peer).is_some_and(|l| l.srtt.is_some())
    }

    /// The acknowledgement timeout for a peer.
    pub fn rto(&self, peer: &NodeId, initial: Duration, min: Duration, max: Duration) -> Duration {
        match self.map.get(peer).and_then(|l| l.srtt) {
            None => initial,
            // RFC 6298's srtt + 4·rttvar, with at least half a round trip
            // of margin: on a steady path rttvar decays to nothing and an
            // answer arriving exactly on time would count as lost.
            Some((srtt, var)) => {
                let (srtt, var) = (u64::from(srtt), u64::from(var));
                Duration::from_micros(srtt + (4 * var).max(srtt / 2)).clamp(min, max)
            }
        }
    }

    /// The least recently used link that `keep` does not protect (open
    /// ones only, unless `even_connecting`).
    pub fn eviction_candidate(
        &self,
        keep: &dyn Fn(&NodeId) -> bool,
        even_connecting: bool,
    ) -> Option<NodeId> {
        self.map
            .iter()
            .filter(|(p, l)| (even_connecting || !l.connecting) && !keep(p))
            .min_by_key(|(p, l)| (l.last_used, **p))
            .map(|(p, _)| *p)
    }

    /// Open links unused since `before` that `keep` does not protect.
    pub fn idle(&self, before: Time, keep: &dyn Fn(&NodeId) -> bool) -> Vec<NodeId> {
        self.map
            .iter()
            .filter(|(p, l)| !l.connecting && l.last_used < before && !keep(p))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Links whose connect deadline has passed.
    pub fn connect_expired(&self, now: Time) -> Vec<NodeId> {
        self.opening
            .iter()
            .filter(|(_, o)| o.deadline <= now)
            .map(|(p, _)| *p)
            .collect()
    }

    /// Earliest connect deadline.
    pub fn next_deadline(&self) -> Option<Time> {
        self.opening.values().map(|o| o.deadline).min()
    }
}
