//! Link negotiation through the ring: who offers, who dials, who yields.
//!
//! | asker   | sends          | target  | answers         | then                         |
//! |---------|----------------|---------|-----------------|------------------------------|
//! | browser | `Offer{sdp}`   | browser | `Answer{sdp}`   | data channel opens, handshake |
//! | browser | `Offer{sdp}`   | server  | `Dial{url}`     | the browser dials `url`       |
//! | server  | `Dial{url}`    | browser | `Dialling`      | the browser dials `url`       |
//! | server  | `Dial{url}`    | server  | `Dialling`      | the target dials `url`        |
//! | anyone  | anything       | anyone  | `Refuse{..}`    | the asker reports `Refused`   |
//!
//! Glare (two browsers offer to each other at once): the larger id refuses
//! the other's offer and keeps its own; the smaller id drops its own offer
//! and answers.

use crate::link::{Link, LinkId, Phase, Transport};
use crate::output::{Event, LinkFailure, Open, Output};
use crate::session::{Attach, Session};
use chordphone_link::{CloseCode, Refusal, Signal};
use chordphone_overlay::{Answer, AttachToken, LinkChange, NodeId, QueryError, Time};

/// The attach payload of a signal. One the other side would refuse (an SDP
/// over `MAX_SDP`, a URL that is not a WebSocket URL) goes out as a refusal,
/// which the other side takes as "not this way".
pub(crate) fn encode(signal: &Signal) -> Vec<u8> {
    signal
        .encode()
        .or_else(|_| {
            Signal::Refuse {
                reason: Refusal::Unusable,
            }
            .encode()
        })
        .unwrap_or_default()
}

impl Session {
    /// Asks for a link to `peer` (the node wants one, or the application
    /// does). Answered with [`Event::LinkUp`] or [`Event::LinkFailed`] (or
    /// nothing, if the peer's own offer crossed ours and wins: its link then
    /// comes up instead).
    pub fn connect(&mut self, peer: NodeId, now: Time) {
        self.now = now;
        if peer == self.node.id() {
            return;
        }
        if let Some(l) = self.toward.get(&peer) {
            if let Some((info, transport)) = self
                .links
                .get(l)
                .and_then(|link| Some((*link.up_peer()?, link.transport)))
            {
                // Already there (opened by the peer meanwhile).
                self.node.handle_link(peer, LinkChange::Up, now);
                self.out.push_back(Output::Event(Event::LinkUp {
                    peer: info,
                    link: *l,
                    transport,
                    bootstrap: false,
                }));
            }
            return;
        }
        if self.dial_waits.contains_key(&peer) {
            return;
        }
        if self.stopping || self.links.len() >= self.config.max_transports {
            self.node.handle_link(peer, LinkChange::Refused, now);
            self.out.push_back(Output::Event(Event::LinkFailed {
                peer,
                reason: LinkFailure::TooMany,
            }));
            return;
        }
        if self.config.webrtc {
            let id = self.insert(
                Transport::WebRtc { offerer: true },
                Some(peer),
                Phase::Offering,
                false,
            );
            self.toward.insert(peer, id);
            self.out.push_back(Output::Open {
                link: id,
                how: Open::Offer,
            });
        } else if let Some(url) = self.config.public_url.clone() {
            // Without WebRTC, the peer must come to us.
            match self.node.attach(peer, encode(&Signal::Dial { url }), now) {
                Ok(q) => {
                    self.stats.dial_asked += 1;
                    self.attaches.insert(q, Attach::AskDial(peer));
                    self.dial_waits.insert(peer, now + self.config.dial_wait);
                }
                Err(_) => {
                    self.stats.dial_failed += 1;
                    self.node.handle_link(peer, LinkChange::Down, now);
                }
            }
        } else {
            self.node.handle_link(peer, LinkChange::Refused, now);
        }
    }

    /// The shell gathered the local description of a link: our offer (sent
    /// through the ring) or our answer (sent back to the offerer).
    pub fn handle_description(&mut self, link: LinkId, sdp: String, now: Time) {
        self.now = now;
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        match l.phase {
            Phase::Offering => {
                let Some(peer) = l.expected else {
                    return;
                };
                match self.node.attach(peer, encode(&Signal::Offer { sdp }), now) {
                    Ok(q) => {
                        self.attaches.insert(q, Attach::Offer(link));
                    }
                    Err(e) => {
                        self.close(link, CloseCode::Normal);
                        self.fail(link, LinkFailure::Closed(format!("offer not sent: {e}")));
                    }
                }
            }
            Phase::Answering(token) => {
                l.phase = Phase::Opening;
                if self
                    .node
                    .attach_reply(token, encode(&Signal::Answer { sdp }), now)
                    .is_err()
                {
                    // The request expired while we gathered: the asker gave up.
                    self.close(link, CloseCode::Normal);
                    self.fail(link, LinkFailure::Closed("the offer expired".to_owned()));
                }
            }
            _ => {}
        }
    }

    pub(crate) fn reply_attach(&mut self, token: AttachToken, signal: &Signal) {
        self.stats.attaches_answered += 1;
        let _ = self.node.attach_reply(token, encode(signal), self.now);
    }

    /// Another node sent link signalling through the ring.
    pub(crate) fn on_attach_request(&mut self, token: AttachToken, from: NodeId, data: &[u8]) {
        let refuse = |reason| Signal::Refuse { reason };
        if self.stopping {
            self.reply_attach(token, &refuse(Refusal::Busy));
            return;
        }
        match Signal::decode(data) {
            Ok(Signal::Offer { sdp }) if self.config.webrtc => self.on_offer(token, from, sdp),
            // No WebRTC here: the offerer dials us instead.
            Ok(Signal::Offer { .. }) => {
                let reply = match self.config.public_url.clone() {
                    Some(url) => Signal::Dial { url },
                    None => refuse(Refusal::Unusable),
                };
                self.reply_attach(token, &reply);
            }
            Ok(Signal::Dial { url }) => {
                if self.links.len() >= self.config.max_transports {
                    self.reply_attach(token, &refuse(Refusal::Busy));
                    return;
                }
                self.reply_attach(token, &Signal::Dialling);
                if !self.is_up(&from) {
                    self.dial(from, url);
                }
            }
            Ok(_) | Err(_) => self.reply_attach(token, &refuse(Refusal::Unusable)),
        }
    }

    /// A WebRTC offer from `from`.
    fn on_offer(&mut self, token: AttachToken, from: NodeId, sdp: String) {
        // The origin of an attach is not proven: an open link to `from`
        // stays until the new one has passed the identity handshake (which
        // then retires it), so a forged offer cannot cut it.
        let mut keep_existing = false;
        if let Some(&existing) = self.toward.get(&from) {
            let (ours_pending, up) = self.links.get(&existing).map_or((false, false), |l| {
                (
                    matches!(l.transport, Transport::WebRtc { offerer: true }) && !l.is_up(),
                    l.is_up(),
                )
            });
            if ours_pending && self.node.id() > from {
                // Glare: the larger id keeps its own offer.
                self.reply_attach(
                    token,
                    &Signal::Refuse {
                        reason: Refusal::Glare,
                    },
                );
                return;
            }
            if up {
                // The peer may have lost the link we still hold.
                keep_existing = true;
            } else {
                // The smaller id yields its pending offer.
                self.toward.remove(&from);
                self.links.remove(&existing);
                self.close(existing, CloseCode::Normal);
            }
        }
        if self.links.len() >= self.config.max_transports {
            self.reply_attach(
                token,
                &Signal::Refuse {
                    reason: Refusal::Busy,
                },
            );
            return;
        }
        let id = self.insert(
            Transport::WebRtc { offerer: false },
            Some(from),
            Phase::Answering(token),
            false,
        );
        if !keep_existing {
            self.toward.insert(from, id);
        }
        self.out.push_back(Output::Open {
            link: id,
            how: Open::Answer { sdp },
        });
    }

    /// The answer to one of our attach requests came back.
    pub(crate) fn on_attach_answer(
        &mut self,
        purpose: Attach,
        outcome: Result<Answer, QueryError>,
    ) {
        match purpose {
            Attach::Offer(link) => self.on_offer_answer(link, outcome),
            Attach::AskDial(peer) => self.on_dial_answer(peer, outcome),
        }
    }

    fn on_offer_answer(&mut self, id: LinkId, outcome: Result<Answer, QueryError>) {
        let Some(peer) = self.links.get(&id).and_then(|l| l.expected) else {
            // Dropped meanwhile (glare, timeout, the node gave up).
            return;
        };
        let signal = match outcome {
            Ok(Answer::Attached(data)) => Signal::decode(&data),
            Ok(_) => {
                self.close(id, CloseCode::Normal);
                self.fail(id, LinkFailure::BadAnswer);
                return;
            }
            Err(e) => {
                self.close(id, CloseCode::Normal);
                self.fail(id, LinkFailure::NoRoute(e));
                return;
            }
        };
        match signal {
            Ok(Signal::Answer { sdp }) => {
                if let Some(l) = self.links.get_mut(&id) {
                    l.phase = Phase::Opening;
                }
                self.out.push_back(Output::ApplyAnswer { link: id, sdp });
            }
            Ok(Signal::Dial { url }) => {
                // The target is a server: it cannot use WebRTC, we dial it.
                self.drop_quietly(id, peer);
                self.dial(peer, url);
            }
            Ok(Signal::Refuse { reason }) => {
                self.drop_quietly(id, peer);
                self.node.handle_link(peer, LinkChange::Refused, self.now);
                // On glare the peer's own offer is on its way to us: whoever
                // waits for a link waits for that one instead.
                if reason != Refusal::Glare {
                    self.out.push_back(Output::Event(Event::LinkFailed {
                        peer,
                        reason: LinkFailure::Refused(reason),
                    }));
                }
            }
            Ok(_) | Err(_) => {
                self.close(id, CloseCode::Normal);
                self.fail(id, LinkFailure::BadAnswer);
            }
        }
    }

    /// Forgets a link that is being replaced by another way to the same
    /// peer, without telling the node.
    fn drop_quietly(&mut self, id: LinkId, peer: NodeId) {
        self.links.remove(&id);
        if self.toward.get(&peer) == Some(&id) {
            self.toward.remove(&peer);
        }
        self.close(id, CloseCode::Normal);
    }

    fn on_dial_answer(&mut self, peer: NodeId, outcome: Result<Answer, QueryError>) {
        if self.is_up(&peer) || !self.dial_waits.contains_key(&peer) {
            // Already up (it dialled in before the answer), or given up.
            return;
        }
        let change = match outcome {
            Ok(Answer::Attached(data)) => match Signal::decode(&data) {
                // It is dialling: wait for it until the deadline.
                Ok(Signal::Dialling) => return,
                // A node answering with its own URL: dial it instead.
                Ok(Signal::Dial { url }) => {
                    self.dial_waits.remove(&peer);
                    self.dial(peer, url);
                    return;
                }
                Ok(Signal::Refuse { .. }) => LinkChange::Refused,
                Ok(_) | Err(_) => LinkChange::Down,
            },
            // The ring knows no such node: evidence of its death.
            Err(QueryError::Route(_)) => LinkChange::Down,
            // No answer in time says only that the way through failed.
            Err(_) => LinkChange::Unreachable,
            Ok(_) => LinkChange::Down,
        };
        self.dial_waits.remove(&peer);
        if change == LinkChange::Refused {
            self.stats.dial_refused += 1;
        } else {
            self.stats.dial_failed += 1;
        }
        self.node.handle_link(peer, change, self.now);
    }

    /// Peers asked to dial us that did not come in time.
    pub(crate) fn expire_dial_waits(&mut self, now: Time) {
        let late: Vec<NodeId> = self
            .dial_waits
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in late {
            self.dial_waits.remove(&peer);
            if !self.is_up(&peer) {
                // It answered but never came: out of reach this way (a
                // firewall between it and us), not dead.
                self.stats.dial_failed += 1;
                self.node.handle_link(peer, LinkChange::Unreachable, now);
            }
        }
    }

    /// Opens a WebSocket to a node that gave us its URL.
    pub(crate) fn dial(&mut self, peer: NodeId, url: String) {
        let id = self.insert(
            Transport::WebSocket { dialled: true },
            Some(peer),
            Phase::Opening,
            false,
        );
        if !self
            .toward
            .get(&peer)
            .is_some_and(|l| self.links.get(l).is_some_and(Link::is_up))
        {
            self.toward.insert(peer, id);
        }
        self.out.push_back(Output::Open {
            link: id,
            how: Open::WebSocket { url },
        });
    }
}
