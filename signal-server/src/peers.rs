//! The handshaken connections of the node task, by peer.
//!
//! A peer has at most one connection in each direction. Two connections in
//! the same direction are a reconnect: the newer replaces the older (closed
//! with `CloseCode::Replaced`). Two in opposite directions happen when both
//! sides dial each other at once (each answered the other's `Dial`); both
//! stay open, since the two ends may learn of them in different orders and
//! closing either could lose frames in flight. Frames are sent on the newest
//! and accepted from both; the link is down only when the last one closes.

use crate::socket::Out;
use chordphone_link::{CloseCode, Role};
use chordphone_overlay::NodeId;
use std::collections::BTreeMap;
use tokio::sync::{mpsc, oneshot};

/// One handshaken connection.
#[derive(Debug)]
pub struct Conn {
    /// Its number.
    pub id: u64,
    /// What the peer said it is.
    pub role: Role,
    /// This server opened it (rather than accepted it at `/ws`).
    pub dialled: bool,
    /// Dialled to join a ring through the peer.
    pub bootstrap: bool,
    /// Its outgoing queue.
    pub out: mpsc::Sender<Out>,
    /// Closes it at once, ahead of its queue.
    pub close: Option<oneshot::Sender<CloseCode>>,
}

impl Conn {
    /// Closes at once, whatever is still queued.
    pub fn close_now(&mut self, code: CloseCode) {
        if let Some(close) = self.close.take() {
            let _ = close.send(code);
        }
    }

    /// Closes after what is already queued has gone out.
    pub fn close_after_queue(&mut self, code: CloseCode) {
        if self.out.try_send(Out::Close(code)).is_err() {
            self.close_now(code);
        }
    }
}

/// Connections by peer; the newest of a peer is last.
#[derive(Debug, Default)]
pub struct Peers {
    map: BTreeMap<NodeId, Vec<Conn>>,
}

impl Peers {
    /// Adds a connection; returns the one it replaces (same direction).
    pub fn insert(&mut self, peer: NodeId, conn: Conn) -> Option<Conn> {
        let conns = self.map.entry(peer).or_default();
        let old = conns
            .iter()
            .position(|c| c.dialled == conn.dialled)
            .map(|i| conns.remove(i));
        conns.push(conn);
        old
    }

    /// Whether `conn` is an open connection of `peer`.
    pub fn has_conn(&self, peer: &NodeId, conn: u64) -> bool {
        self.map
            .get(peer)
            .is_some_and(|cs| cs.iter().any(|c| c.id == conn))
    }

    /// Forgets one connection. True if it was the peer's last one.
    pub fn remove_conn(&mut self, peer: &NodeId, conn: u64) -> Option<Conn> {
        let conns = self.map.get_mut(peer)?;
        let i = conns.iter().position(|c| c.id == conn)?;
        let removed = conns.remove(i);
        if conns.is_empty() {
            self.map.remove(peer);
        }
        Some(removed)
    }

    /// Forgets every connection of `peer`.
    pub fn remove_peer(&mut self, peer: &NodeId) -> Vec<Conn> {
        self.map.remove(peer).unwrap_or_default()
    }

    /// The connection to send on.
    pub fn sender(&self, peer: &NodeId) -> Option<&Conn> {
        self.map.get(peer)?.last()
    }

    /// Whether any connection to `peer` is open.
    pub fn contains(&self, peer: &NodeId) -> bool {
        self.map.contains_key(peer)
    }

    /// Peers with an open connection.
    pub fn peer_count(&self) -> usize {
        self.map.len()
    }

    /// Each peer and what it is.
    pub fn roles(&self) -> impl Iterator<Item = (NodeId, Role)> + '_ {
        self.map
            .iter()
            .filter_map(|(id, cs)| Some((*id, cs.last()?.role)))
    }

    /// A peer dialled to join a ring, if one is connected.
    pub fn bootstrap(&self) -> Option<NodeId> {
        self.map
            .iter()
            .find(|(_, cs)| cs.iter().any(|c| c.bootstrap))
            .map(|(id, _)| *id)
    }

    /// Every connection.
    pub fn all_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.map.values_mut().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::Id;

    fn conn(id: u64, dialled: bool) -> Conn {
        Conn {
            id,
            role: Role::Server,
            dialled,
            bootstrap: false,
            out: mpsc::channel(1).0,
            close: None,
        }
    }

    #[test]
    fn reconnects_replace_and_crossed_dials_coexist() {
        let p = Id::from_u64_top(7);
        let mut peers = Peers::default();
        assert!(peers.insert(p, conn(1, false)).is_none());
        // Same direction: a reconnect replaces.
        assert_eq!(peers.insert(p, conn(2, false)).map(|c| c.id), Some(1));
        // Opposite direction: both stay, the newest sends.
        assert!(peers.insert(p, conn(3, true)).is_none());
        assert_eq!(peers.sender(&p).map(|c| c.id), Some(3));
        assert!(peers.has_conn(&p, 2) && peers.has_conn(&p, 3));
        assert!(peers.remove_conn(&p, 3).is_some());
        assert_eq!(peers.sender(&p).map(|c| c.id), Some(2));
        assert!(peers.contains(&p));
        assert!(peers.remove_conn(&p, 2).is_some());
        assert!(!peers.contains(&p));
        assert!(peers.remove_conn(&p, 2).is_none());
    }
}
