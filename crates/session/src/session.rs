//! The session: the overlay node, its links, and the inputs that move them.

use crate::config::Config;
use crate::join::Join;
use crate::link::{Link, LinkId, Phase, Transport};
use crate::output::{Event, LinkFailure, Output};
use crate::stats::Stats;
use chordphone_link::{
    classify, CloseCode, FrameKind, Handshake, HandshakeError, LinkError, PeerInfo, Step,
    NONCE_BYTES,
};
use chordphone_overlay::{
    Event as NodeEvent, Identity, LinkChange, Node, NodeId, Output as NodeOutput, QueryError,
    QueryId, Time, VecMap,
};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::VecDeque;

/// What an attach request of ours is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Attach {
    /// Our WebRTC offer for this link.
    Offer(LinkId),
    /// We asked this node to dial us.
    AskDial(NodeId),
}

/// A node and all of its links. See the crate documentation for the run
/// loop.
#[derive(Debug)]
pub struct Session {
    pub(crate) node: Node,
    pub(crate) config: Config,
    /// Nonces for the identity handshake. The overlay's generator type:
    /// one ChaCha block function in the tab instead of two.
    rng: ChaCha8Rng,
    /// The time of the latest input: outputs of the node are acted on at it.
    pub(crate) now: Time,

    pub(crate) links: VecMap<LinkId, Link>,
    /// The link frames to each peer go out on (being set up, or up).
    pub(crate) toward: VecMap<NodeId, LinkId>,
    next_link: u64,
    /// Our attach requests in flight.
    pub(crate) attaches: VecMap<QueryId, Attach>,
    /// Nodes we asked to dial us, and until when we wait.
    pub(crate) dial_waits: VecMap<NodeId, Time>,
    pub(crate) join: Join,
    /// Leaving: new links are refused.
    pub(crate) stopping: bool,

    pub(crate) out: VecDeque<Output>,
    pub(crate) stats: Stats,
}

impl Session {
    /// A session for a node with this identity, not yet in a ring. `seed`
    /// drives every random choice of the node and the handshake nonces: give
    /// fresh random bytes (the nonces must not repeat across runs).
    pub fn new(identity: Identity, config: Config, seed: [u8; 32], now: Time) -> Session {
        let mut rng = ChaCha8Rng::from_seed(seed);
        let node = Node::new(identity, config.overlay.clone(), rng.next_u64(), now);
        Session {
            node,
            join: Join::new(&config),
            config,
            rng,
            now,
            links: VecMap::new(),
            toward: VecMap::new(),
            next_link: 1,
            attaches: VecMap::new(),
            dial_waits: VecMap::new(),
            stopping: false,
            out: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The overlay node: read its state, start requests (`lookup`, `get`,
    /// `put`, ...). Drain [`Session::poll_output`] after changing it.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The overlay node, to start requests on it.
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// True if a link to `peer` is up.
    pub fn is_up(&self, peer: &NodeId) -> bool {
        self.toward
            .get(peer)
            .and_then(|l| self.links.get(l))
            .is_some_and(Link::is_up)
    }

    /// Up links by peer, in ring order: the proven peer and the transport of
    /// the link frames go out on.
    pub fn peers(&self) -> Vec<(PeerInfo, Transport)> {
        self.toward
            .iter()
            .filter_map(|(_, l)| {
                let link = self.links.get(l)?;
                Some((*link.up_peer()?, link.transport))
            })
            .collect()
    }

    /// Keeps the link to `peer` open for an application (a call, a relay):
    /// the idle rule and the link budget leave a held link alone. Holds
    /// count: each needs its [`Session::release`].
    pub fn hold(&mut self, peer: NodeId) {
        self.node.hold(peer);
    }

    /// Gives back one hold of the link to `peer`.
    pub fn release(&mut self, peer: NodeId) {
        self.node.release(peer);
    }

    /// Changes the most transports held at once (links already open stay).
    pub fn set_max_transports(&mut self, n: usize) {
        self.config.max_transports = n;
    }

    /// Transports in the table, in every phase.
    pub fn transports(&self) -> usize {
        self.links.len()
    }

    fn new_link_id(&mut self) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        id
    }

    pub(crate) fn insert(
        &mut self,
        transport: Transport,
        expected: Option<NodeId>,
        phase: Phase,
        bootstrap: bool,
    ) -> LinkId {
        let id = self.new_link_id();
        let deadline = Some(self.now + self.config.setup_timeout);
        self.links.insert(
            id,
            Link {
                transport,
                expected,
                phase,
                bootstrap,
                deadline,
            },
        );
        id
    }

    // ---- Inputs from the shell ------------------------------------------

    /// A peer opened a WebSocket to us (a server accepted it). The link
    /// starts its handshake at once.
    pub fn accept(&mut self, now: Time) -> LinkId {
        self.now = now;
        let id = self.insert(
            Transport::WebSocket { dialled: false },
            None,
            Phase::Opening,
            false,
        );
        if self.stopping {
            self.links.remove(&id);
            self.close(id, CloseCode::Normal);
        } else {
            self.start_handshake(id);
        }
        id
    }

    /// The transport of a link we opened is open: say hello.
    pub fn handle_opened(&mut self, link: LinkId, now: Time) {
        self.now = now;
        self.start_handshake(link);
    }

    fn start_handshake(&mut self, id: LinkId) {
        let mut nonce = [0u8; NONCE_BYTES];
        self.rng.fill_bytes(&mut nonce);
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !matches!(
            link.phase,
            Phase::Opening | Phase::Offering | Phase::Answering(_)
        ) {
            return;
        }
        let hs = Handshake::new(self.node.identity(), nonce, self.config.role);
        let frame = hs.hello();
        link.phase = Phase::Handshaking(Box::new(hs));
        self.out.push_back(Output::Send { link: id, frame });
    }

    /// One binary message arrived on a link: the handshake first, overlay
    /// frames after it.
    pub fn handle_frame(&mut self, link: LinkId, bytes: &[u8], now: Time) {
        self.now = now;
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        match &mut l.phase {
            Phase::Up(peer) => {
                let peer = peer.id;
                let ok = match classify(bytes) {
                    Ok(FrameKind::Overlay(frame)) => {
                        self.node.handle_bytes(peer, frame, now).is_ok()
                    }
                    Ok(FrameKind::Control(_)) | Err(_) => false,
                };
                if ok {
                    self.stats.frames_in += 1;
                } else {
                    self.stats.malformed += 1;
                    self.misbehaved(
                        link,
                        CloseCode::Malformed,
                        "sent a frame that does not parse",
                    );
                }
            }
            // Whatever the peer still sends is of no use now.
            Phase::Closing => {}
            Phase::Handshaking(hs) => match hs.handle(bytes) {
                Ok(Step::Send(frame)) => self.out.push_back(Output::Send { link, frame }),
                Ok(Step::Done(info)) => self.proven(link, info),
                Err(e) => {
                    self.stats.handshakes_failed += 1;
                    let code = match e {
                        HandshakeError::Frame(LinkError::TooLarge) => CloseCode::TooLarge,
                        HandshakeError::Frame(_) => CloseCode::Malformed,
                        _ => CloseCode::Handshake,
                    };
                    self.misbehaved(link, code, &format!("failed the identity check: {e}"));
                }
            },
            // Nothing may arrive before our hello.
            _ => {
                self.stats.handshakes_failed += 1;
                self.misbehaved(link, CloseCode::Handshake, "spoke before the handshake");
            }
        }
    }

    /// The transport of a link closed or failed (a close frame, an error, a
    /// send that could not be queued). `why` is for people.
    pub fn handle_closed(&mut self, link: LinkId, why: &str, now: Time) {
        self.now = now;
        self.fail(link, LinkFailure::Closed(why.to_owned()));
    }

    /// A step of setting up the link's transport failed (WebRTC could not
    /// make an offer or answer, a WebSocket could not be opened).
    pub fn handle_failed(&mut self, link: LinkId, why: &str, now: Time) {
        self.now = now;
        if let Some(Phase::Answering(token)) = self.links.get(&link).map(|l| &l.phase) {
            let token = *token;
            self.reply_attach(
                token,
                &chordphone_link::Signal::Refuse {
                    reason: chordphone_link::Refusal::Unusable,
                },
            );
        }
        self.fail(link, LinkFailure::Closed(why.to_owned()));
    }

    /// Time passed: run the node's timers and the session's deadlines.
    pub fn handle_timeout(&mut self, now: Time) {
        self.now = now;
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
        }
        self.pump();
        self.expire_links(now);
        self.expire_dial_waits(now);
        if self.join.retry_due(now) {
            self.try_join();
        }
        self.rejoin_if_isolated();
    }

    /// The earliest time [`Session::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Time> {
        let links = self.links.values().filter_map(|l| l.deadline).min();
        [
            self.node.poll_timeout(),
            links,
            self.dial_waits.values().min().copied(),
            self.join.retry_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing to do. Call until `None` after every input: the
    /// node's transmits become `Send`s on their links, its link wishes
    /// become transports to open, and the rest comes out as events.
    pub fn poll_output(&mut self) -> Option<Output> {
        loop {
            if let Some(o) = self.out.pop_front() {
                return Some(o);
            }
            let o = self.node.poll_output()?;
            self.on_node_output(o);
        }
    }

    /// Acts on everything the node wants done now, so that the session's own
    /// table is current before it looks at deadlines.
    fn pump(&mut self) {
        while let Some(o) = self.node.poll_output() {
            self.on_node_output(o);
        }
    }

    fn on_node_output(&mut self, o: NodeOutput) {
        match o {
            NodeOutput::Transmit(t) => self.transmit(t.to, &t.msg),
            NodeOutput::Event(e) => self.on_node_event(e),
        }
    }

    fn transmit(&mut self, to: NodeId, msg: &chordphone_overlay::Message) {
        let Some(&id) = self.toward.get(&to) else {
            // The node thinks a link is up that is gone: set it right.
            self.stats.dropped_no_link += 1;
            self.node.handle_link(to, LinkChange::Down, self.now);
            return;
        };
        if !self.links.get(&id).is_some_and(Link::is_up) {
            self.stats.dropped_no_link += 1;
            return;
        }
        match msg.encode() {
            Ok(frame) => {
                self.stats.frames_out += 1;
                self.out.push_back(Output::Send { link: id, frame });
            }
            // The node never builds such a message; drop it if it does.
            Err(_) => self.stats.dropped_no_link += 1,
        }
    }

    fn on_node_event(&mut self, e: NodeEvent) {
        match e {
            NodeEvent::Connect(peer) => self.connect(peer, self.now),
            NodeEvent::Disconnect(peer) => self.disconnect(peer),
            NodeEvent::AttachRequest { token, from, data } => {
                self.on_attach_request(token, from, &data)
            }
            NodeEvent::QueryDone { id, outcome, .. } if self.attaches.contains_key(&id) => {
                if let Some(purpose) = self.attaches.remove(&id) {
                    self.on_attach_answer(purpose, outcome);
                }
            }
            NodeEvent::Joined => {
                self.join.joined();
                self.out.push_back(Output::Event(Event::Overlay(e)));
            }
            NodeEvent::JoinFailed(_) => {
                self.join.failed(self.now);
                self.out.push_back(Output::Event(Event::Overlay(e)));
            }
            e => self.out.push_back(Output::Event(Event::Overlay(e))),
        }
    }

    // ---- Link table ------------------------------------------------------

    /// The handshake proved the peer's id.
    fn proven(&mut self, id: LinkId, info: PeerInfo) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if link.expected.is_some_and(|e| e != info.id) {
            self.stats.handshakes_failed += 1;
            self.misbehaved(id, CloseCode::Handshake, "answered with the wrong identity");
            return;
        }
        link.phase = Phase::Up(info);
        link.expected = Some(info.id);
        link.deadline = None;
        let (transport, bootstrap) = (link.transport, link.bootstrap);
        self.stats.links_up += 1;
        let peer = info.id;
        self.retire_others(peer, id, transport);
        self.toward.insert(peer, id);
        let asked = self.dial_waits.remove(&peer).is_some();
        if asked {
            self.stats.dial_up += 1;
        }
        self.node.handle_link(peer, LinkChange::Up, self.now);
        self.out.push_back(Output::Event(Event::LinkUp {
            peer: info,
            link: id,
            transport,
            bootstrap,
        }));
        if bootstrap {
            self.on_bootstrap_up(peer);
        } else if !asked
            && self.config.introduce_newcomers
            && transport == (Transport::WebSocket { dialled: false })
        {
            // A peer came to us on its own: it may be a member of a ring that
            // lived on while we were away (or new). Showing it where it
            // belongs in our ring merges the two.
            self.node.introduce(peer, self.now);
        }
    }

    /// A newer link to `peer` is up: older ones yield, except a WebSocket
    /// opened the other way (two servers dialled each other at once; each
    /// side may send on a different one, so both stay, and the link is
    /// down only when the last one closes).
    fn retire_others(&mut self, peer: NodeId, keep: LinkId, transport: Transport) {
        let others: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(l, link)| {
                **l != keep
                    && link.peer() == Some(peer)
                    && !matches!(link.phase, Phase::Closing)
                    && !(link.is_up() && link.transport.crosses(transport))
            })
            .map(|(l, _)| *l)
            .collect();
        for l in others {
            self.links.remove(&l);
            self.out.push_back(Output::Close {
                link: l,
                code: CloseCode::Replaced,
                gently: false,
            });
        }
    }

    /// Closes a link whose peer broke the rules, and reports it.
    pub(crate) fn misbehaved(&mut self, id: LinkId, code: CloseCode, what: &str) {
        let peer = self.links.get(&id).and_then(Link::peer);
        self.out.push_back(Output::Event(Event::Misbehaved {
            link: id,
            peer,
            code,
            what: what.to_owned(),
        }));
        self.close(id, code);
        self.fail(id, LinkFailure::Broken(code));
    }

    /// Tears a link's transport down at once (the table entry goes with
    /// [`Session::fail`] or is already gone).
    pub(crate) fn close(&mut self, id: LinkId, code: CloseCode) {
        self.out.push_back(Output::Close {
            link: id,
            code,
            gently: false,
        });
    }

    /// A link closed or could not be set up: forget it and tell the node
    /// and whoever waits on it.
    pub(crate) fn fail(&mut self, id: LinkId, reason: LinkFailure) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        if matches!(link.phase, Phase::Closing) {
            // Closed on purpose earlier; nobody waits on it.
            return;
        }
        if link.bootstrap {
            self.join.bootstrap_lost(id, self.now);
            self.out.push_back(Output::Event(Event::BootstrapLost {
                why: reason.to_string(),
            }));
        }
        let was_up = link.is_up();
        let Some(peer) = link.peer() else {
            return;
        };
        if self.toward.get(&peer) != Some(&id) {
            // A secondary link (crossed WebSockets, a forged offer's link):
            // the peer's own link is elsewhere.
            return;
        }
        self.toward.remove(&peer);
        self.promote_or_down(peer, reason, was_up);
    }

    /// The link frames to `peer` went out on is gone: send on another up
    /// link to it if there is one, else report the peer's link down.
    fn promote_or_down(&mut self, peer: NodeId, reason: LinkFailure, was_up: bool) {
        let spare = self
            .links
            .iter()
            .find(|(_, l)| l.is_up() && l.peer() == Some(peer))
            .map(|(l, _)| *l);
        if let Some(spare) = spare {
            self.toward.insert(peer, spare);
            return;
        }
        // A link that closed was there, and a ring that knows no such node
        // has answered: that is evidence. A link that never came up says
        // only that this way did not work (ICE found no path, set-up timed
        // out): the peer stays in the ring view and is asked again later.
        let change = match &reason {
            _ if was_up => LinkChange::Down,
            LinkFailure::NoRoute(QueryError::Route(_)) => LinkChange::Down,
            _ => LinkChange::Unreachable,
        };
        self.node.handle_link(peer, change, self.now);
        self.out
            .push_back(Output::Event(Event::LinkFailed { peer, reason }));
    }

    /// The node no longer wants the link to `peer`. An open link is closed
    /// gently: the node's `Close` message, just sent, must reach the peer so
    /// that it does not take the close for a failure.
    fn disconnect(&mut self, peer: NodeId) {
        self.dial_waits.remove(&peer);
        let Some(id) = self.toward.remove(&peer) else {
            return;
        };
        if self.join.is_bootstrap(id) {
            self.join.bootstrap_closed();
        }
        let grace = self.now + self.config.close_grace;
        let ids: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(l, link)| **l == id || (link.is_up() && link.peer() == Some(peer)))
            .map(|(l, _)| *l)
            .collect();
        for l in ids {
            let Some(link) = self.links.get_mut(&l) else {
                continue;
            };
            if link.is_up() {
                link.phase = Phase::Closing;
                link.deadline = Some(grace);
                self.out.push_back(Output::Close {
                    link: l,
                    code: CloseCode::Normal,
                    gently: true,
                });
            } else {
                self.links.remove(&l);
                self.close(l, CloseCode::Normal);
            }
        }
    }

    /// Gives up links that did not come up in time, and tears down closing
    /// links whose grace ran out.
    fn expire_links(&mut self, now: Time) {
        let late: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            match self.links.get(&id).map(|l| &l.phase) {
                Some(Phase::Closing) => {
                    self.links.remove(&id);
                    self.close(id, CloseCode::Normal);
                }
                Some(Phase::Handshaking(_)) => {
                    // Open, but the peer never proved who it is.
                    self.stats.handshakes_failed += 1;
                    self.close(id, CloseCode::Handshake);
                    self.fail(id, LinkFailure::Timeout);
                }
                _ => {
                    self.close(id, CloseCode::Normal);
                    self.fail(id, LinkFailure::Timeout);
                }
            }
            self.pump();
        }
    }

    /// Leaves the ring (handing records over); new links are refused from
    /// now on. Drain the outputs, let the last frames go out, then close
    /// every transport.
    pub fn leave(&mut self, now: Time) {
        self.now = now;
        self.stopping = true;
        self.join.stop();
        self.node.leave(now);
    }
}
