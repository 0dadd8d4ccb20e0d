//! The application channel: signed one-way messages to a node, for a
//! numbered service, and the "unsupported" answer to requests this node
//! does not handle.
//!
//! A message travels as a routed request to exactly one node. Hops forward
//! it like any request; the destination proves its origin (see
//! [`crate::AppMessage`]) and hands it to the shell if it serves the
//! service. The sender learns the outcome from the delivery receipt; any
//! answer the application wants to give is a message of its own.

use super::{Node, Phase};
use crate::app::{AppMessage, ServiceId, MAX_APP};
use crate::envelope::is_known_request;
use crate::event::{Event, LocalError, QueryId};
use crate::id::{Id, NodeId};
use crate::time::Time;
use crate::wire::{Mode, Reply, Request, MAX_UNKNOWN};

impl Node {
    /// Accepts application messages for `service` from now on. False if it
    /// was served already.
    pub fn serve(&mut self, service: ServiceId) -> bool {
        self.cold.services.insert(service)
    }

    /// Stops accepting messages for `service`: senders are answered
    /// `QueryError::Unsupported`. False if it was not served.
    pub fn unserve(&mut self, service: ServiceId) -> bool {
        self.cold.services.remove(&service)
    }

    /// Whether this node accepts messages for `service`.
    pub fn serves(&self, service: ServiceId) -> bool {
        self.cold.services.contains(&service)
    }

    /// Sends `payload` to the node `to` for `service`, signed by this node.
    /// The outcome comes as `Event::QueryDone`: `Ok(Answer::Delivered)`
    /// once `to` accepted it, or an error (`Unsupported` if `to` does not
    /// serve the service, `Route(NoSuchNode)` if no node `to` is in the
    /// ring, `BadOrigin` if it was changed on the way, `Timeout`).
    pub fn send_app(
        &mut self,
        to: NodeId,
        service: ServiceId,
        payload: Vec<u8>,
        now: Time,
    ) -> Result<QueryId, LocalError> {
        if payload.len() > MAX_APP {
            return Err(LocalError::PayloadTooLarge);
        }
        if self.phase == Phase::Left {
            return Err(LocalError::Left);
        }
        let msg = AppMessage::sign(&self.cold.identity, to, service, payload);
        Ok(self.start_query(to, Mode::ToNode, Request::App(Box::new(msg)), now))
    }

    /// Sends a request of a kind this build does not define, with an opaque
    /// body: what a newer build's request looks like to this one. For tools
    /// and tests of rings that mix versions. A node that does not know the
    /// kind answers `QueryError::Unsupported`; an answer of a kind this
    /// build does not know ends as `QueryError::UnknownReply`.
    pub fn send_raw(
        &mut self,
        target: Id,
        mode: Mode,
        kind: u16,
        body: Vec<u8>,
        now: Time,
    ) -> Result<QueryId, LocalError> {
        if is_known_request(kind) {
            return Err(LocalError::KnownKind);
        }
        if body.len() > MAX_UNKNOWN {
            return Err(LocalError::PayloadTooLarge);
        }
        if self.phase == Phase::Left {
            return Err(LocalError::Left);
        }
        Ok(self.start_query(target, mode, Request::Unknown { kind, body }, now))
    }

    /// An application message ends here: check its origin, then hand it to
    /// the shell if the service is served.
    pub(super) fn deliver_app(&mut self, origin: NodeId, target: Id, msg: AppMessage) -> Reply {
        if target != self.ring.me {
            // Routed to a key that this node owns, not to this node: the
            // signature names another destination.
            self.stats.app_refused += 1;
            return Reply::BadOrigin;
        }
        if !self.serves(msg.service) {
            // Answered before the signature is checked: an unserved
            // service costs no verification.
            return self.unsupported();
        }
        if msg.check(&origin, &target).is_err() {
            self.stats.app_refused += 1;
            return Reply::BadOrigin;
        }
        self.stats.app_delivered += 1;
        self.events.push_back(Event::App {
            from: origin,
            service: msg.service,
            payload: msg.payload,
        });
        Reply::Delivered
    }

    /// The answer to a request this node does not handle.
    pub(super) fn unsupported(&mut self) -> Reply {
        self.stats.unsupported += 1;
        Reply::Unsupported
    }
}

#[cfg(test)]
mod tests {
    use crate::app::{AppMessage, ServiceId};
    use crate::config::Config;
    use crate::event::{Event, QueryError};
    use crate::id::{Id, NodeId};
    use crate::identity::Identity;
    use crate::node::{LinkChange, Node};
    use crate::time::Time;
    use crate::wire::{Message, Mode, Reply, Request, Route};

    const SIP: ServiceId = ServiceId(5060);
    const T0: Time = Time(1_700_000_000_000_000);

    /// A node alone in its ring, serving `SIP`, linked to one neighbour.
    fn node() -> (Node, NodeId) {
        let mut n = Node::new(Identity::from_seed([1; 32]), Config::default(), 1, T0);
        n.create(T0);
        n.serve(SIP);
        let peer = Identity::from_seed([2; 32]).node_id();
        n.handle_link(peer, LinkChange::Up, T0);
        while n.poll_output().is_some() {}
        (n, peer)
    }

    /// The neighbour hands `n` a request from `origin` to `target`, and
    /// reports what `n` answered it.
    fn arrive(n: &mut Node, peer: NodeId, origin: NodeId, target: Id, request: Request) -> Reply {
        arrive_as(n, peer, origin, target, Mode::ToNode, request)
    }

    fn arrive_as(
        n: &mut Node,
        peer: NodeId,
        origin: NodeId,
        target: Id,
        mode: Mode,
        request: Request,
    ) -> Reply {
        let route = Route {
            no: 77,
            target,
            mode,
            last_hop: true,
            hops: 3,
            timeouts: 0,
            avoid: Vec::new(),
            origin,
            request,
        };
        // Through the codec, as from the network.
        let bytes = Message::Route(route).encode().expect("encodes");
        n.handle_bytes(peer, &bytes, T0).expect("decodes");
        let mut answer = None;
        while let Some(t) = n.poll_transmit() {
            if let Message::RouteReply { no: 77, reply, .. } = t.msg {
                assert_eq!(t.to, peer);
                answer = Some(reply);
            }
        }
        answer.expect("answered at once")
    }

    fn app_events(n: &mut Node) -> Vec<Event> {
        core::iter::from_fn(|| n.poll_event())
            .filter(|e| matches!(e, Event::App { .. }))
            .collect()
    }

    #[test]
    fn a_proven_message_is_delivered_with_its_origin() {
        let (mut n, peer) = node();
        let alice = Identity::from_seed([3; 32]);
        let m = AppMessage::sign(&alice, n.id(), SIP, b"INVITE".to_vec());
        let me = n.id();
        let reply = arrive(&mut n, peer, alice.node_id(), me, Request::App(Box::new(m)));
        assert_eq!(reply, Reply::Delivered);
        assert_eq!(
            app_events(&mut n),
            vec![Event::App {
                from: alice.node_id(),
                service: SIP,
                payload: b"INVITE".to_vec(),
            }]
        );
        assert_eq!(n.stats().app_delivered, 1);
    }

    #[test]
    fn forged_tampered_and_replayed_messages_are_refused_and_counted() {
        let (mut n, peer) = node();
        let me = n.id();
        let alice = Identity::from_seed([3; 32]);
        let mallory = Identity::from_seed([4; 32]);
        let good = AppMessage::sign(&alice, me, SIP, b"INVITE".to_vec());

        // Mallory signs with her key but claims Alice's id.
        let forged = AppMessage::sign(&mallory, me, SIP, b"INVITE".to_vec());
        // Alice's key, Mallory's signature.
        let mut wrong_sig = forged.clone();
        wrong_sig.public_key = alice.public_key();
        // A hop changed the payload.
        let mut tampered = good.clone();
        tampered.payload[0] ^= 0x20;
        // Signed by Alice for another node, replayed to this one.
        let replayed = AppMessage::sign(&alice, Id::for_key("bob"), SIP, b"INVITE".to_vec());

        for (i, m) in [forged, wrong_sig, tampered, replayed]
            .into_iter()
            .enumerate()
        {
            let reply = arrive(&mut n, peer, alice.node_id(), me, Request::App(Box::new(m)));
            assert_eq!(reply, Reply::BadOrigin, "case {i}");
        }
        // Routed to a key this node owns instead of to this node (the
        // node's range runs from its only neighbour to itself).
        let elsewhere = peer.wrapping_add(&Id::from_u64_top(1));
        assert!(elsewhere.in_open(&peer, &me));
        let m = AppMessage::sign(&alice, elsewhere, SIP, b"INVITE".to_vec());
        let app = Request::App(Box::new(m));
        let reply = arrive_as(&mut n, peer, alice.node_id(), elsewhere, Mode::ToKey, app);
        assert_eq!(reply, Reply::BadOrigin);

        assert!(app_events(&mut n).is_empty());
        assert_eq!(n.stats().app_refused, 5);
        assert_eq!(n.stats().app_delivered, 0);
    }

    #[test]
    fn unserved_services_and_unknown_kinds_are_answered_unsupported() {
        let (mut n, peer) = node();
        let me = n.id();
        let alice = Identity::from_seed([3; 32]);
        let m = AppMessage::sign(&alice, me, ServiceId(1), b"x".to_vec());
        let reply = arrive(&mut n, peer, alice.node_id(), me, Request::App(Box::new(m)));
        assert_eq!(reply, Reply::Unsupported);
        let unknown = Request::Unknown {
            kind: 9000,
            body: b"a newer build's request".to_vec(),
        };
        assert_eq!(
            arrive(&mut n, peer, alice.node_id(), me, unknown),
            Reply::Unsupported
        );
        assert_eq!(n.stats().unsupported, 2);
        assert_eq!(n.stats().dropped_malformed, 0);
        assert!(n.status().links.contains(&peer), "the link stays up");

        // Unserving a service turns its messages away from then on.
        assert!(n.unserve(SIP));
        let m = AppMessage::sign(&alice, me, SIP, b"x".to_vec());
        let reply = arrive(&mut n, peer, alice.node_id(), me, Request::App(Box::new(m)));
        assert_eq!(reply, Reply::Unsupported);
        assert!(app_events(&mut n).is_empty());
    }

    #[test]
    fn local_limits_and_misuse_are_typed_errors() {
        let (mut n, _) = node();
        let to = Id::for_key("bob");
        assert_eq!(
            n.send_app(to, SIP, vec![0; crate::app::MAX_APP + 1], T0),
            Err(crate::event::LocalError::PayloadTooLarge)
        );
        assert_eq!(
            n.send_raw(to, Mode::ToNode, 0, Vec::new(), T0),
            Err(crate::event::LocalError::KnownKind)
        );
        assert_eq!(
            n.send_raw(
                to,
                Mode::ToNode,
                999,
                vec![0; crate::wire::MAX_UNKNOWN + 1],
                T0
            ),
            Err(crate::event::LocalError::PayloadTooLarge)
        );
        n.leave(T0);
        assert_eq!(
            n.send_app(to, SIP, Vec::new(), T0),
            Err(crate::event::LocalError::Left)
        );
    }

    #[test]
    fn a_message_that_is_never_answered_times_out() {
        // The neighbour keeps the ring up and takes responsibility for the
        // message (acknowledges it), but no answer ever comes back.
        let (mut n, peer) = node();
        let me = n.id();
        let to = me.wrapping_add(&Id::from_u64_top(1));
        let mut now = T0;
        let hello = Message::Stabilize { seq: 1 }.encode().expect("encodes");
        n.handle_bytes(peer, &hello, now).expect("decodes");
        let q = n.send_app(to, SIP, b"BYE".to_vec(), now).expect("small");
        let mut routed = false;
        let mut outcome = None;
        while outcome.is_none() && now < T0 + core::time::Duration::from_secs(60) {
            while let Some(t) = n.poll_transmit() {
                let answer = match t.msg {
                    Message::Stabilize { seq } => Message::StabilizeReply {
                        seq,
                        predecessor: Some(me),
                        successors: vec![me],
                    },
                    Message::Probe { seq } => Message::ProbeReply {
                        seq,
                        predecessor: Some(me),
                    },
                    Message::Route(r) => {
                        routed |= matches!(r.request, Request::App(_));
                        Message::RouteAck { no: r.no }
                    }
                    _ => continue,
                };
                let bytes = answer.encode().expect("encodes");
                n.handle_bytes(peer, &bytes, now).expect("decodes");
            }
            outcome = core::iter::from_fn(|| n.poll_event()).find_map(|e| match e {
                Event::QueryDone { id, outcome, .. } if id == q => Some(outcome),
                _ => None,
            });
            now = now + core::time::Duration::from_millis(100);
            n.handle_timeout(now);
        }
        assert!(routed, "the message never left through the neighbour");
        assert_eq!(outcome, Some(Err(QueryError::Timeout)));
        let waited = now.saturating_since(T0);
        assert!(
            waited >= n.config().route_timeout,
            "gave up after {waited:?}"
        );
    }

    #[test]
    fn a_node_not_in_a_ring_reports_not_joined() {
        let mut n = Node::new(Identity::from_seed([1; 32]), Config::default(), 1, T0);
        let q = n
            .send_app(Id::for_key("bob"), SIP, b"x".to_vec(), T0)
            .expect("accepted");
        let outcome = core::iter::from_fn(|| n.poll_event()).find_map(|e| match e {
            Event::QueryDone { id, outcome, .. } if id == q => Some(outcome),
            _ => None,
        });
        assert_eq!(outcome, Some(Err(QueryError::NotJoined)));
    }
}
