//! Links: setting them up (attach + WebRTC, or WebSocket), the identity
//! handshake, frames in and out, and tearing them down.
//!
//! A link is reported up to the node only after the handshake has proven
//! the peer's id, and only if that id is the one we meant to reach. Each
//! peer has at most one link (`Shell::toward`); a newer link for the same
//! peer replaces the older one without telling the node it went down.

use crate::driver::Shell;
use crate::input::{error_text, Input, LinkId};
use crate::log;
use crate::rtc::{self, RtcLink};
use crate::storage::random_bytes;
use crate::view::LinkKind;
use crate::ws::WsLink;
use chordphone_link::{classify, CloseCode, FrameKind, Handshake, Refusal, Role, Signal, Step};
use chordphone_overlay::{Answer, AttachToken, LinkChange, NodeId, QueryError, Time, Transmit};
use core::time::Duration;
use wasm_bindgen_futures::spawn_local;

/// A link not up after this long is given up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// A link closed on purpose may flush what is queued (the overlay's own
/// `Close` message) for this long before its connection is torn down.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Most links at once, open or being set up (the node's budget plus room
/// for links being replaced).
const MAX_TRANSPORTS: usize = 64;

/// The browser object behind a link.
#[derive(Debug)]
pub enum Transport {
    /// To a server.
    Ws(WsLink),
    /// To another browser.
    Rtc(RtcLink),
}

/// Where a link is in its life.
#[derive(Debug)]
pub enum Phase {
    /// We offered: gathering our offer, then waiting for the answer.
    Offering,
    /// We answer an offer: gathering our answer.
    Answering(AttachToken),
    /// Negotiated; waiting for the socket or channel to open.
    Opening,
    /// Open; proving identities.
    Handshaking(Box<Handshake>),
    /// Proven and reported up.
    Up(NodeId),
    /// Closed on purpose, flushing its last frames; no longer the peer's link.
    Closing,
}

/// One link.
#[derive(Debug)]
pub struct Link {
    transport: Transport,
    /// The node this link is meant to reach (none for the bootstrap server,
    /// whose id is learnt from its handshake).
    expected: Option<NodeId>,
    phase: Phase,
    /// We sent the offer (glare is decided between two offerers).
    offerer: bool,
    /// When it must be up.
    pub deadline: Time,
}

impl Link {
    /// Handshake done and reported.
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Up(_))
    }

    fn kind(&self) -> LinkKind {
        match self.transport {
            Transport::Ws(_) => LinkKind::WebSocket,
            Transport::Rtc(_) => LinkKind::WebRtc,
        }
    }

    fn send(&self, frame: &[u8]) -> Result<(), &'static str> {
        match &self.transport {
            Transport::Ws(ws) => ws.send(frame),
            Transport::Rtc(rtc) => rtc.send(frame),
        }
    }

    fn close(&self, code: CloseCode) {
        // Dropping the transport closes it; a WebSocket first says why.
        if let Transport::Ws(ws) = &self.transport {
            ws.close(code);
        }
    }

    /// Starts an orderly close: queued frames are still delivered (closing
    /// the peer connection at once would drop them).
    fn close_gently(&self) {
        match &self.transport {
            Transport::Ws(ws) => ws.close(CloseCode::Normal),
            Transport::Rtc(rtc) => rtc.close_channel(),
        }
    }
}

/// Why a peer refused, in words.
fn refusal_text(reason: Refusal) -> &'static str {
    match reason {
        Refusal::Glare => "both sides offered at once",
        Refusal::Busy => "it holds as many links as it takes",
        Refusal::Unusable => "our offer was of no use to it",
    }
}

impl Shell {
    fn new_link_id(&mut self) -> LinkId {
        let id = self.next_link;
        self.next_link = self.next_link.wrapping_add(1).max(1);
        id
    }

    /// True if the link to `peer` is up.
    pub(crate) fn is_up(&self, peer: &NodeId) -> bool {
        self.toward
            .get(peer)
            .and_then(|l| self.links.get(l))
            .is_some_and(Link::is_up)
    }

    /// Open links by peer, for the view.
    pub(crate) fn peers(&self) -> Vec<(NodeId, LinkKind)> {
        let mut peers = self
            .toward
            .iter()
            .filter_map(|(peer, l)| {
                let link = self.links.get(l)?;
                link.is_up().then(|| (*peer, link.kind()))
            })
            .collect::<Vec<_>>();
        // In ring order, so that the view changes only when the links do.
        peers.sort_unstable_by_key(|(id, _)| *id);
        peers
    }

    fn insert(
        &mut self,
        transport: Transport,
        expected: Option<NodeId>,
        phase: Phase,
        id: LinkId,
        now: Time,
    ) {
        self.links.insert(
            id,
            Link {
                transport,
                expected,
                offerer: matches!(phase, Phase::Offering),
                phase,
                deadline: now + SETUP_TIMEOUT,
            },
        );
    }

    /// Opens the WebSocket to the bootstrap server.
    pub(crate) fn open_bootstrap(&mut self, now: Time) {
        let id = self.new_link_id();
        match WsLink::open(&self.server_url, id, &self.inbox) {
            Ok(ws) => {
                self.insert(Transport::Ws(ws), None, Phase::Opening, id, now);
                self.bootstrap = Some(id);
            }
            Err(e) => {
                self.notice = format!("Cannot reach the server: {}", error_text(&e));
                self.schedule_join(now);
            }
        }
    }

    /// Opens a WebSocket to a node that gave us its URL.
    fn dial(&mut self, peer: NodeId, url: &str, now: Time) {
        let id = self.new_link_id();
        match WsLink::open(url, id, &self.inbox) {
            Ok(ws) => {
                self.insert(Transport::Ws(ws), Some(peer), Phase::Opening, id, now);
                self.replace_toward(peer, id);
            }
            Err(e) => self.give_up(peer, &format!("cannot dial {url}: {}", error_text(&e)), now),
        }
    }

    /// Makes `id` the link for `peer`, dropping an older one quietly.
    fn replace_toward(&mut self, peer: NodeId, id: LinkId) {
        if let Some(old) = self.toward.insert(peer, id) {
            if old != id {
                log::info(&format!("link to {} replaced", log::short(&peer)));
                if let Some(link) = self.links.remove(&old) {
                    link.close(CloseCode::Replaced);
                }
                if self.bootstrap == Some(old) {
                    self.bootstrap = None;
                }
            }
        }
    }

    /// The node (or `link()`) wants a link to `peer`: offer one through the ring.
    pub(crate) fn connect(&mut self, peer: NodeId, now: Time) {
        log::info(&format!("link wanted: {}", log::short(&peer)));
        if let Some(l) = self.toward.get(&peer) {
            if self.links.get(l).is_some_and(Link::is_up) {
                // Already there (opened by the peer meanwhile).
                self.node.handle_link(peer, LinkChange::Up, now);
                self.link_up_waiters(peer, now);
            }
            return;
        }
        if self.links.len() >= MAX_TRANSPORTS {
            self.node.handle_link(peer, LinkChange::Refused, now);
            self.reject_waiters(peer, "too many links open");
            return;
        }
        let id = self.new_link_id();
        let rtc = match RtcLink::new(id, &self.inbox) {
            Ok(r) => r,
            Err(e) => {
                self.give_up(
                    peer,
                    &format!("WebRTC unavailable: {}", error_text(&e)),
                    now,
                );
                return;
            }
        };
        let pc = rtc.pc();
        self.insert(Transport::Rtc(rtc), Some(peer), Phase::Offering, id, now);
        self.toward.insert(peer, id);
        let inbox = self.inbox.clone();
        spawn_local(async move {
            let input = match rtc::make_offer(pc).await {
                Ok(sdp) => Input::OfferReady(id, sdp),
                Err(e) => Input::RtcFailed(id, error_text(&e)),
            };
            inbox.push_control(input);
        });
    }

    /// The node no longer wants the link to `peer`. An open link is closed
    /// gently: the node's `Close` message, just sent, must reach the peer so
    /// that it does not take the close for a failure.
    pub(crate) fn disconnect(&mut self, peer: NodeId, now: Time) {
        let Some(id) = self.toward.remove(&peer) else {
            return;
        };
        log::info(&format!("closing link to {}", log::short(&peer)));
        if self.bootstrap == Some(id) {
            self.bootstrap = None;
        }
        match self.links.get_mut(&id) {
            Some(link) if link.is_up() => {
                link.close_gently();
                link.phase = Phase::Closing;
                link.deadline = now + CLOSE_GRACE;
            }
            Some(_) => {
                self.links.remove(&id);
            }
            None => {}
        }
    }

    /// A link to `peer` cannot be had: tell the node and any `link()` caller.
    fn give_up(&mut self, peer: NodeId, why: &str, now: Time) {
        self.node.handle_link(peer, LinkChange::Down, now);
        self.reject_waiters(peer, why);
    }

    pub(crate) fn on_offer_ready(&mut self, id: LinkId, sdp: String, now: Time) {
        let Some(peer) = self.links.get(&id).and_then(|l| l.expected) else {
            return;
        };
        let attached = Signal::Offer { sdp }
            .encode()
            .map_err(|e| e.to_string())
            .and_then(|data| self.node.attach(peer, data, now).map_err(|e| e.to_string()));
        match attached {
            Ok(q) => {
                self.queries.insert(q, crate::requests::Pending::Attach(id));
            }
            Err(e) => self.fail_link(id, &format!("offer not sent: {e}"), now),
        }
    }

    /// The target's answer to our offer came back through the ring.
    pub(crate) fn on_attach_answer(
        &mut self,
        id: LinkId,
        outcome: Result<Answer, QueryError>,
        now: Time,
    ) {
        let Some(link) = self.links.get(&id) else {
            // Dropped meanwhile (glare, timeout, the node gave up).
            return;
        };
        let Some(peer) = link.expected else {
            return;
        };
        let signal = match outcome {
            Ok(Answer::Attached(data)) => Signal::decode(&data),
            Ok(_) => {
                self.fail_link(id, "unexpected answer to an offer", now);
                return;
            }
            Err(e) => {
                self.fail_link(id, &format!("no answer through the ring: {e}"), now);
                return;
            }
        };
        match signal {
            Ok(Signal::Answer { sdp }) => {
                let Some(Transport::Rtc(rtc)) = self.links.get(&id).map(|l| &l.transport) else {
                    return;
                };
                let pc = rtc.pc();
                if let Some(l) = self.links.get_mut(&id) {
                    l.phase = Phase::Opening;
                }
                let inbox = self.inbox.clone();
                spawn_local(async move {
                    // Success needs no input: the channel's open event follows.
                    if let Err(e) = rtc::accept_answer(pc, sdp).await {
                        inbox.push_control(Input::RtcFailed(id, error_text(&e)));
                    }
                });
            }
            Ok(Signal::Dial { url }) => {
                // The target is a server: it cannot use WebRTC, we dial it.
                self.links.remove(&id);
                self.toward.remove(&peer);
                self.dial(peer, &url, now);
            }
            Ok(Signal::Refuse { reason }) => {
                self.links.remove(&id);
                self.toward.remove(&peer);
                self.node.handle_link(peer, LinkChange::Refused, now);
                // On glare the peer's own offer is on its way to us: a
                // `link()` caller waits for that link instead.
                if reason != Refusal::Glare {
                    self.reject_waiters(
                        peer,
                        &format!("refused by the peer: {}", refusal_text(reason)),
                    );
                }
            }
            Ok(_) => self.fail_link(id, "unexpected answer to an offer", now),
            Err(e) => self.fail_link(id, &format!("bad answer: {e}"), now),
        }
    }

    /// Another node sent link signalling through the ring.
    pub(crate) fn on_attach_request(
        &mut self,
        token: AttachToken,
        from: NodeId,
        data: &[u8],
        now: Time,
    ) {
        let reply = |s: &mut Shell, signal: Signal| {
            // Refusals and `Dialling` always encode.
            if let Ok(data) = signal.encode() {
                let _ = s.node.attach_reply(token, data, now);
            }
        };
        let refuse = |reason| Signal::Refuse { reason };
        match Signal::decode(data) {
            Ok(Signal::Offer { sdp }) => {
                // The origin of an attach is not proven: an open link to
                // `from` stays until the new one has passed the identity
                // handshake (`on_proven` then retires it), so a forged
                // offer cannot cut it.
                let mut keep_existing = false;
                if let Some(&existing) = self.toward.get(&from) {
                    let (ours_pending, up) = self
                        .links
                        .get(&existing)
                        .map_or((false, false), |l| (l.offerer && !l.is_up(), l.is_up()));
                    if ours_pending && self.node.id() > from {
                        // Glare: the larger id keeps its own offer.
                        reply(self, refuse(Refusal::Glare));
                        return;
                    }
                    if up {
                        // The peer may have lost the link we still hold.
                        keep_existing = true;
                    } else {
                        // The smaller id yields its pending offer.
                        log::info(&format!(
                            "offer from {} replaces our pending offer",
                            log::short(&from)
                        ));
                        self.toward.remove(&from);
                        self.links.remove(&existing);
                    }
                }
                if self.links.len() >= MAX_TRANSPORTS {
                    reply(self, refuse(Refusal::Busy));
                    return;
                }
                let id = self.new_link_id();
                let rtc = match RtcLink::new(id, &self.inbox) {
                    Ok(r) => r,
                    Err(_) => {
                        reply(self, refuse(Refusal::Unusable));
                        return;
                    }
                };
                let pc = rtc.pc();
                self.insert(
                    Transport::Rtc(rtc),
                    Some(from),
                    Phase::Answering(token),
                    id,
                    now,
                );
                if !keep_existing {
                    self.toward.insert(from, id);
                }
                let inbox = self.inbox.clone();
                spawn_local(async move {
                    let input = match rtc::make_answer(pc, sdp).await {
                        Ok(sdp) => Input::AnswerReady(id, token, sdp),
                        Err(e) => Input::RtcFailed(id, error_text(&e)),
                    };
                    inbox.push_control(input);
                });
            }
            Ok(Signal::Dial { url }) => {
                // A server asks to be dialled (it cannot reach a browser).
                if self.links.len() >= MAX_TRANSPORTS {
                    reply(self, refuse(Refusal::Busy));
                    return;
                }
                reply(self, Signal::Dialling);
                if !self.is_up(&from) {
                    self.dial(from, &url, now);
                }
            }
            Ok(_) | Err(_) => reply(self, refuse(Refusal::Unusable)),
        }
    }

    pub(crate) fn on_answer_ready(
        &mut self,
        id: LinkId,
        token: AttachToken,
        sdp: String,
        now: Time,
    ) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.phase = Phase::Opening;
        let Ok(data) = Signal::Answer { sdp }.encode() else {
            self.fail_link(id, "the answer is too long to send", now);
            return;
        };
        if self.node.attach_reply(token, data, now).is_err() {
            // The request expired while we gathered: the asker gave up.
            self.fail_link(id, "the offer expired", now);
        }
    }

    pub(crate) fn on_rtc_failed(&mut self, id: LinkId, why: &str, now: Time) {
        if let Some(Phase::Answering(token)) = self.links.get(&id).map(|l| &l.phase) {
            let token = *token;
            let refusal = Signal::Refuse {
                reason: Refusal::Unusable,
            };
            if let Ok(data) = refusal.encode() {
                let _ = self.node.attach_reply(token, data, now);
            }
        }
        self.fail_link(id, &format!("WebRTC: {why}"), now);
    }

    /// The transport opened: both sides say hello at once.
    pub(crate) fn on_opened(&mut self, id: LinkId) {
        let Ok(nonce) = random_bytes::<32>() else {
            return;
        };
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if !matches!(
            link.phase,
            Phase::Opening | Phase::Offering | Phase::Answering(_)
        ) {
            return;
        }
        let hs = Handshake::new(&self.identity, nonce, Role::Peer);
        let hello = hs.hello();
        link.phase = Phase::Handshaking(Box::new(hs));
        let _ = link.send(&hello);
    }

    /// A frame from a link: handshake first, overlay frames after.
    pub(crate) fn on_frame(&mut self, id: LinkId, bytes: &[u8], now: Time) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        match &mut link.phase {
            Phase::Up(peer) => {
                let peer = *peer;
                let ok = match classify(bytes) {
                    Ok(FrameKind::Overlay(frame)) => {
                        self.node.handle_bytes(peer, frame, now).is_ok()
                    }
                    Ok(FrameKind::Control(_)) | Err(_) => false,
                };
                if !ok {
                    self.close_bad(id, CloseCode::Malformed, now);
                }
            }
            // Whatever the peer still sends is of no use now.
            Phase::Closing => {}
            Phase::Handshaking(hs) => match hs.handle(bytes) {
                Ok(Step::Send(frame)) => {
                    if link.send(&frame).is_err() {
                        self.fail_link(id, "send failed", now);
                    }
                }
                Ok(Step::Done(info)) => self.on_proven(id, info.id, now),
                Err(e) => {
                    self.notice = format!("A peer failed the identity check: {e}");
                    self.close_bad(id, CloseCode::Handshake, now);
                }
            },
            // Nothing may arrive before our hello.
            _ => self.close_bad(id, CloseCode::Handshake, now),
        }
    }

    /// The handshake proved the peer's id.
    fn on_proven(&mut self, id: LinkId, peer: NodeId, now: Time) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if link.expected.is_some_and(|e| e != peer) {
            self.notice = "A peer answered with the wrong identity; link closed.".to_owned();
            self.close_bad(id, CloseCode::Handshake, now);
            return;
        }
        link.phase = Phase::Up(peer);
        link.expected = Some(peer);
        log::info(&format!(
            "link up: {} ({})",
            log::short(&peer),
            link.kind().as_str()
        ));
        self.replace_toward(peer, id);
        self.node.handle_link(peer, LinkChange::Up, now);
        self.link_up_waiters(peer, now);
        if self.bootstrap == Some(id) {
            self.on_bootstrap_up(peer, now);
        }
    }

    /// Closes a link whose peer broke the rules, and reports it down.
    fn close_bad(&mut self, id: LinkId, code: CloseCode, now: Time) {
        if let Some(link) = self.links.get(&id) {
            link.close(code);
        }
        self.fail_link(id, code.reason(), now);
    }

    /// A link closed or failed: forget it and tell whoever waits on it.
    pub(crate) fn fail_link(&mut self, id: LinkId, why: &str, now: Time) {
        let Some(link) = self.links.remove(&id) else {
            return;
        };
        if matches!(link.phase, Phase::Closing) {
            // Closed on purpose earlier; nobody waits on it.
            return;
        }
        let who = link
            .expected
            .map_or_else(|| "server".to_owned(), |p| log::short(&p));
        log::info(&format!("link to {who} closed: {why}"));
        if self.bootstrap == Some(id) {
            self.bootstrap = None;
            self.schedule_join(now);
        }
        let Some(peer) = link.expected else {
            return;
        };
        if self.toward.get(&peer) == Some(&id) {
            self.toward.remove(&peer);
            self.give_up(peer, why, now);
        }
    }

    /// Gives up links that did not come up in time.
    pub(crate) fn expire_links(&mut self, now: Time) {
        let late: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| !l.is_up() && l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.fail_link(id, "link setup timed out", now);
            self.drain(now);
        }
    }

    /// Sends one overlay frame over its peer's link.
    pub(crate) fn transmit(&mut self, t: Transmit, now: Time) {
        let Ok(frame) = t.msg.encode() else {
            return;
        };
        let Some(&id) = self.toward.get(&t.to) else {
            // The node thinks a link is up that is gone: set it right.
            self.node.handle_link(t.to, LinkChange::Down, now);
            return;
        };
        let Some(link) = self.links.get(&id) else {
            return;
        };
        if !link.is_up() {
            return;
        }
        if let Err(why) = link.send(&frame) {
            link.close(CloseCode::SlowReader);
            self.fail_link(id, why, now);
        }
    }
}
