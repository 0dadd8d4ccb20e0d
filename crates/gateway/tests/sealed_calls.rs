//! A tab's phone core calls a number through the gateway, every message
//! sealed as on the overlay: the phone finds the gateway's signed service
//! record, seals its INVITE to the gateway node; the gate opens it and
//! checks the caller's claim against the one "the overlay" holds; the
//! gateway's replies are sealed back and the phone's gate accepts them
//! because they come from the gateway it called through. The overlay's
//! routing is a direct hand-over here (its own tests cover it), the trunk
//! is a SIP user agent in memory, the media bridge a stand-in.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use chordphone_gateway::testing::FixedSdp;
use chordphone_gateway::{
    Gate, Gateway, GatewayConfig, Opened, Refusal, TrunkConfig, NO_LINE, SERVICE_KEY,
};
use chordphone_overlay::{
    Answer, Id, Identity, Kind, NodeId, QueryError, Record, RouteError, Time,
};
use chordphone_phone::{Action, CallState, Config, Media as PhoneMedia, Phone, GATEWAY_SERVICE};
use chordphone_sip::{Event, Failure, Flow, Transport, UserAgent};

const T0: Time = Time(1_700_000_000_000_000);
const TRUNK: u32 = 7;
const TAB_SDP: &str =
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
const RTP_ANSWER: &str = "v=0\r\no=- 4 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";

struct World {
    phone: Phone,
    tab: NodeId,
    gate: Gate,
    gw: Gateway<NodeId, u32>,
    gw_node: NodeId,
    /// Signed announcements under the gateway service key.
    announcements: Vec<Record>,
    /// A gateway node that announced itself but is gone from the ring.
    dead: Option<NodeId>,
    /// Where the phone sent its sealed messages, in order.
    sent_to: Vec<NodeId>,
    /// The claims "the overlay" holds (what the phone stored).
    claims: Vec<Record>,
    trunk: UserAgent<u32>,
    trunk_events: Vec<Event>,
    now: Time,
}

fn sip(t: Time) -> chordphone_sip::Time {
    chordphone_sip::Time(t.0)
}

impl World {
    fn new(media: bool) -> World {
        World::with_seed(media, 42)
    }

    fn with_seed(media: bool, seed: u64) -> World {
        let gw_identity = Identity::from_seed([9; 32]);
        let gw_node = gw_identity.node_id();
        let announcement = Record::sign(
            &gw_identity,
            Id::for_key(GATEWAY_SERVICE),
            Kind::Multi,
            1,
            T0 + Duration::from_secs(600),
            Some(b"gateway".to_vec()),
        );
        let config = GatewayConfig {
            trunk: vec![TrunkConfig {
                options_interval: 0,
                ..TrunkConfig::default()
            }],
            ..GatewayConfig::default()
        };
        let mut gw = Gateway::new(
            config,
            "sip:pstn-gateway@chordphone",
            "192.0.2.1:5060",
            vec![TRUNK],
            5,
        )
        .unwrap();
        if media {
            gw.set_media(Box::new(FixedSdp::new(
                "v=0\r\no=- 2 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 0\r\n",
                "v=0\r\no=- 3 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0\r\n",
            )));
        }
        let tab_node = Identity::from_seed([1; 32]);
        let tab = tab_node.node_id();
        let mut phone = Phone::new(Config::new(tab_node, Identity::from_seed([2; 32]), seed));
        phone.register("alice", T0).unwrap();
        let mut w = World {
            phone,
            tab,
            gate: Gate::new(gw_identity, "sip:pstn-gateway@chordphone", 6, T0),
            gw,
            gw_node,
            announcements: vec![announcement],
            dead: None,
            sent_to: Vec::new(),
            claims: Vec::new(),
            trunk: UserAgent::new(
                chordphone_sip::Config::new("sip:t@192.0.2.9", "sip:t@192.0.2.9", "192.0.2.9"),
                8,
            ),
            trunk_events: Vec::new(),
            now: T0,
        };
        w.pump();
        assert_eq!(w.phone.aor(), Some("sip:alice@chordphone"));
        w
    }

    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(a) = self.phone.poll_action() {
                moved = true;
                self.act(a);
            }
            while let Some(t) = self.gw.poll_caller_transmit() {
                moved = true;
                let payload = self
                    .gate
                    .seal(t.to.addr, t.bytes.to_vec(), self.now)
                    .unwrap();
                self.phone.handle_app(self.gw_node, &payload, self.now);
            }
            while let Some(t) = self.gw.poll_trunk_transmit() {
                moved = true;
                self.trunk
                    .handle_input(Flow::new(Transport::Udp, 1), &t.bytes, sip(self.now));
            }
            while let Some(t) = self.trunk.poll_transmit() {
                moved = true;
                self.gw.handle_trunk(TRUNK, &t.bytes, sip(self.now));
            }
            while let Some(e) = self.trunk.poll_event() {
                self.trunk_events.push(e);
            }
            if !moved {
                return;
            }
        }
        panic!("no quiet after 1000 rounds");
    }

    fn act(&mut self, a: Action) {
        let now = self.now;
        match a {
            Action::Put { token, record } => {
                self.claims.push(record);
                self.phone.handle_outcome(token, Ok(Answer::Stored), now);
            }
            Action::PutOwn { token, .. } | Action::RemoveOwn { token, .. } => {
                self.phone.handle_outcome(token, Ok(Answer::Stored), now)
            }
            Action::Get { token, key, .. } => {
                let records = if key == Id::for_key(SERVICE_KEY) {
                    self.announcements.clone()
                } else {
                    Vec::new()
                };
                self.phone
                    .handle_outcome(token, Ok(Answer::Records(records)), now);
            }
            Action::Send { token, to, payload } => {
                self.sent_to.push(to);
                if Some(to) == self.dead {
                    let gone = QueryError::Route(RouteError::NoSuchNode);
                    return self.phone.handle_outcome(token, Err(gone), now);
                }
                assert_eq!(to, self.gw_node, "only the gateway is called");
                self.phone.handle_outcome(token, Ok(Answer::Delivered), now);
                let opened = match self.gate.open(self.tab, &payload, now) {
                    Ok(Opened::Lookup { aor, .. }) => {
                        self.gate.claim_found(&aor, &self.claims, now)
                    }
                    Ok(o) => vec![o],
                    Err(e) => panic!("dropped: {e:?}"),
                };
                for o in opened {
                    if let Opened::Deliver {
                        from,
                        identity,
                        sip: bytes,
                    } = o
                    {
                        self.gw
                            .handle_caller(from, identity.as_deref(), &bytes, sip(now));
                    }
                }
            }
            Action::Media(PhoneMedia::Offer { call, .. }) => {
                self.phone.local_description(call, TAB_SDP.into(), now)
            }
            Action::Media(_) | Action::Hold(_) | Action::Release(_) | Action::Event(_) => {}
        }
    }

    fn call(&mut self, number: &str) -> chordphone_phone::CallId {
        let call = self.phone.call(number, self.now).unwrap();
        self.pump();
        call
    }

    fn view(&self, call: chordphone_phone::CallId) -> (CallState, Option<String>) {
        let v = self
            .phone
            .calls()
            .into_iter()
            .find(|v| v.id == call)
            .unwrap();
        (v.state, v.reason)
    }

    fn incoming(&self) -> chordphone_sip::CallId {
        self.trunk_events
            .iter()
            .find_map(|e| match e {
                Event::Incoming { call, .. } => Some(*call),
                _ => None,
            })
            .expect("the INVITE reached the trunk")
    }
}

#[test]
fn without_a_media_bridge_the_tab_is_told_there_is_no_line() {
    let mut w = World::new(false);
    let call = w.call("+1 555 123 4567");
    assert_eq!(w.view(call), (CallState::Ended, Some(NO_LINE.to_owned())));
    assert_eq!(w.gw.stats().refused(Refusal::NoMedia), 1);
    assert!(w.trunk_events.is_empty());
}

#[test]
fn a_sealed_call_reaches_the_trunk_is_answered_and_hung_up_by_the_network() {
    let mut w = World::new(true);
    let call = w.call("tel:+1-555-123-4567");
    let tc = w.incoming();
    assert!(
        matches!(&w.trunk_events[0], Event::Incoming { to, .. } if to.contains("+15551234567"))
    );
    let t = sip(w.now);
    w.trunk.ring(tc, None, t).unwrap();
    w.pump();
    assert_eq!(w.view(call).0, CallState::Ringing);
    w.trunk
        .answer(tc, Bytes::from_static(RTP_ANSWER.as_bytes()), t)
        .unwrap();
    w.pump();
    assert_eq!(w.view(call).0, CallState::Active);
    w.trunk.hangup(tc, t).unwrap();
    w.pump();
    assert_eq!(w.view(call), (CallState::Ended, Some("Hung up".to_owned())));
    assert_eq!(w.gw.active_calls(), 0);
}

#[test]
fn a_busy_number_is_told_in_words_on_the_tab() {
    let mut w = World::new(true);
    let call = w.call("+15551234567");
    let tc = w.incoming();
    let t = sip(w.now);
    w.trunk.reject(tc, Failure::Busy, t).unwrap();
    w.pump();
    assert_eq!(
        w.view(call),
        (CallState::Ended, Some("The number is busy".to_owned()))
    );
}

#[test]
fn a_claim_the_overlay_does_not_hold_is_refused_before_the_trunk() {
    let mut w = World::new(true);
    // The overlay forgot alice's claim (or she never registered it).
    w.claims.clear();
    let call = w.call("+15551234567");
    assert_eq!(w.view(call).0, CallState::Ended);
    assert_eq!(w.gw.stats().refused(Refusal::Unregistered), 1);
    // The INVITE and the ACK of its 403, both unproven.
    assert_eq!(w.gate.stats().not_registered, 2);
    assert!(w.trunk_events.is_empty());
}

#[test]
fn a_gateway_gone_from_the_ring_is_passed_over_for_the_next() {
    // Seed 3 makes the phone try the dead gateway first (checked below).
    let mut w = World::with_seed(true, 3);
    let dead = Identity::from_seed([8; 32]);
    w.dead = Some(dead.node_id());
    w.announcements.push(Record::sign(
        &dead,
        Id::for_key(GATEWAY_SERVICE),
        Kind::Multi,
        1,
        T0 + Duration::from_secs(600),
        Some(b"gateway".to_vec()),
    ));
    let call = w.call("+15551234567");
    assert_eq!(
        w.sent_to.first(),
        Some(&dead.node_id()),
        "the dead one first"
    );
    let tc = w.incoming();
    let t = sip(w.now);
    w.trunk
        .answer(tc, Bytes::from_static(RTP_ANSWER.as_bytes()), t)
        .unwrap();
    w.pump();
    assert_eq!(w.view(call).0, CallState::Active);
}
