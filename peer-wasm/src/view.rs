//! What the page and `window.chordphone.status()` show: a snapshot the
//! driver rebuilds after each batch of inputs, so that readers never touch
//! the node itself.

use chordphone_overlay::NodeId;

/// The kind of an open link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// A WebRTC data channel to another browser.
    WebRtc,
    /// A WebSocket to a server.
    WebSocket,
}

impl LinkKind {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::WebRtc => "webrtc",
            LinkKind::WebSocket => "websocket",
        }
    }
}

/// Where this tab stands, in the words of the API and of the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not in the ring yet; the server seems reachable (or not yet known).
    Connecting,
    /// In the ring, server reachable.
    Joined,
    /// In the ring, but the server does not answer: the ring lives on.
    ServerUnreachable,
    /// Not in the ring and the server does not answer.
    Offline,
}

impl State {
    /// From the two facts that decide it.
    pub fn of(joined: bool, server_reachable: bool) -> State {
        match (joined, server_reachable) {
            (true, true) => State::Joined,
            (true, false) => State::ServerUnreachable,
            (false, true) => State::Connecting,
            (false, false) => State::Offline,
        }
    }

    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Joined => "joined",
            State::ServerUnreachable => "server-unreachable",
            State::Offline => "offline",
        }
    }

    /// The plain-language line on the page.
    pub fn sentence(self) -> &'static str {
        match self {
            State::Connecting => "Connecting…",
            State::Joined => "In the ring",
            State::ServerUnreachable => "Server unreachable — the ring is still alive",
            State::Offline => "Offline",
        }
    }
}

/// The route of the last lookup made from the page.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// The name looked up.
    pub key: String,
    /// Its owner.
    pub owner: NodeId,
    /// Nodes the lookup passed through (may be empty).
    pub path: Vec<NodeId>,
    /// Hops the lookup took.
    pub hops: u8,
    /// Milliseconds it took.
    pub ms: f64,
}

/// The snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    /// This node.
    pub id: NodeId,
    /// The display name, empty before joining.
    pub name: String,
    /// Where the tab stands.
    pub state: State,
    /// The node has a place in the ring.
    pub joined: bool,
    /// Predecessor, if any.
    pub predecessor: Option<NodeId>,
    /// Successor list, closest first.
    pub successors: Vec<NodeId>,
    /// Distinct fingers in ring order.
    pub fingers: Vec<NodeId>,
    /// Open links (handshake done), by peer.
    pub peers: Vec<(NodeId, LinkKind)>,
    /// Peers whose WebRTC link goes through a TURN relay.
    pub relayed: Vec<NodeId>,
    /// Records held.
    pub records: usize,
    /// The last lookup made from the page.
    pub route: Option<Route>,
    /// A message for the person (last error), empty if none.
    pub notice: String,
    /// Why the relay refused this tab, if it did.
    pub relay_refused: Option<String>,
}

impl View {
    /// The view of a node that has not joined yet.
    pub fn new(id: NodeId) -> View {
        View {
            id,
            name: String::new(),
            state: State::Connecting,
            joined: false,
            predecessor: None,
            successors: Vec::new(),
            fingers: Vec::new(),
            peers: Vec::new(),
            relayed: Vec::new(),
            records: 0,
            route: None,
            notice: String::new(),
            relay_refused: None,
        }
    }

    /// Open links of one kind.
    pub fn count(&self, kind: LinkKind) -> usize {
        self.peers.iter().filter(|(_, k)| *k == kind).count()
    }

    /// The link to `peer` goes through a relay.
    pub fn is_relayed(&self, peer: &NodeId) -> bool {
        self.relayed.contains(peer)
    }

    /// Open WebRTC links that go through a relay.
    pub fn relayed_links(&self) -> usize {
        self.peers
            .iter()
            .filter(|(id, k)| *k == LinkKind::WebRtc && self.is_relayed(id))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_joined_and_reachability() {
        assert_eq!(State::of(false, true).as_str(), "connecting");
        assert_eq!(State::of(true, true).as_str(), "joined");
        assert_eq!(State::of(true, false).as_str(), "server-unreachable");
        assert_eq!(State::of(false, false).as_str(), "offline");
        assert_eq!(
            State::ServerUnreachable.sentence(),
            "Server unreachable — the ring is still alive"
        );
    }
}
