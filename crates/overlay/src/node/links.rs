//! The links a node holds: open or being opened, what waits on them, when
//! each was last useful, and the round-trip estimate per peer.

use crate::id::NodeId;
use crate::time::Time;
use crate::wire::{CloseReason, Message};
use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug)]
pub struct Link {
    /// `None` once up; the connect deadline while being opened.
    pub connecting: Option<Time>,
    /// Messages waiting for the link to come up.
    pub queue: VecDeque<Message>,
    pub last_used: Time,
    /// Smoothed round trip and its variation, in microseconds.
    pub srtt: Option<(u64, u64)>,
    /// The peer announced it closes this link (and why): its going down is
    /// then no failure.
    pub closing: Option<CloseReason>,
}

#[derive(Debug, Default)]
pub struct Links {
    map: BTreeMap<NodeId, Link>,
    /// How many links are being opened: the deadline scan is skipped when
    /// none is (it runs after every input).
    connecting: usize,
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
        self.map.get(peer).is_some_and(|l| l.connecting.is_none())
    }

    pub fn contains(&self, peer: &NodeId) -> bool {
        self.map.contains_key(peer)
    }

    pub fn up_peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.map
            .iter()
            .filter(|(_, l)| l.connecting.is_none())
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
        self.connecting += 1;
        self.map.insert(
            peer,
            Link {
                connecting: Some(deadline),
                queue: VecDeque::new(),
                last_used: now,
                srtt: None,
                closing: None,
            },
        );
    }

    /// Marks a link up (opened by us or by the peer); returns what was queued.
    pub fn up(&mut self, peer: NodeId, now: Time) -> VecDeque<Message> {
        let link = self.map.entry(peer).or_insert(Link {
            connecting: None,
            queue: VecDeque::new(),
            last_used: now,
            srtt: None,
            closing: None,
        });
        if link.connecting.take().is_some() {
            self.connecting -= 1;
        }
        link.last_used = now;
        link.closing = None;
        core::mem::take(&mut link.queue)
    }

    /// Forgets a link; returns it (with its queue) if there was one.
    pub fn remove(&mut self, peer: &NodeId) -> Option<Link> {
        let link = self.map.remove(peer)?;
        if link.connecting.is_some() {
            self.connecting -= 1;
        }
        Some(link)
    }

    /// Hands a message to the link: ready, queued, or refused.
    pub fn send(&mut self, peer: &NodeId, msg: Message, now: Time, queue_cap: usize) -> Sent {
        match self.map.get_mut(peer) {
            None => Sent::NoLink(msg),
            Some(l) if l.connecting.is_none() => {
                l.last_used = now;
                Sent::Now(msg)
            }
            Some(l) if l.queue.len() >= queue_cap => Sent::QueueFull(msg),
            Some(l) => {
                l.queue.push_back(msg);
                Sent::Queued
            }
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
        l.srtt = Some(match l.srtt {
            None => (r, r / 2),
            Some((srtt, var)) => {
                let var = (3 * var + srtt.abs_diff(r)) / 4;
                ((7 * srtt + r) / 8, var)
            }
        });
    }

    /// The acknowledgement timeout for a peer.
    pub fn rto(&self, peer: &NodeId, initial: Duration, min: Duration, max: Duration) -> Duration {
        match self.map.get(peer).and_then(|l| l.srtt) {
            None => initial,
            // RFC 6298's srtt + 4·rttvar, with at least half a round trip
            // of margin: on a steady path rttvar decays to nothing and an
            // answer arriving exactly on time would count as lost.
            Some((srtt, var)) => {
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
            .filter(|(p, l)| (even_connecting || l.connecting.is_none()) && !keep(p))
            .min_by_key(|(p, l)| (l.last_used, **p))
            .map(|(p, _)| *p)
    }

    /// Open links unused since `before` that `keep` does not protect.
    pub fn idle(&self, before: Time, keep: &dyn Fn(&NodeId) -> bool) -> Vec<NodeId> {
        self.map
            .iter()
            .filter(|(p, l)| l.connecting.is_none() && l.last_used < before && !keep(p))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Links whose connect deadline has passed.
    pub fn connect_expired(&self, now: Time) -> Vec<NodeId> {
        if self.connecting == 0 {
            return Vec::new();
        }
        self.map
            .iter()
            .filter(|(_, l)| l.connecting.is_some_and(|d| d <= now))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Earliest connect deadline.
    pub fn next_deadline(&self) -> Option<Time> {
        if self.connecting == 0 {
            return None;
        }
        self.map.values().filter_map(|l| l.connecting).min()
    }
}
