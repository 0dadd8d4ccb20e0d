//! Phones on real overlay nodes: a ring of four `Node`s linked to each
//! other, each phone's actions carried out by its node the way the tab
//! does it (get, put_signed, put, remove, send_app), outcomes and
//! application messages handed back. Checks that the claim goes through
//! `put_signed` to its owner, that a name held by another user key comes
//! back as taken, and that a call and a message go through the ring.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chordphone_overlay::{
    Config as NodeConfig, Event, Identity, LinkChange, Node, NodeId, Output, Phase, QueryError,
    QueryId, Time,
};
use chordphone_phone::{
    Action, CallState, Config, Media, Phone, PhoneEvent, RegisterError, Token, SIP_SERVICE,
};

const T0: Time = Time(1_700_000_000_000_000);

struct Ring {
    now: Time,
    nodes: Vec<Node>,
    phones: Vec<Phone>,
    events: Vec<Vec<PhoneEvent>>,
    /// Frames in flight: (to, from, bytes).
    wire: VecDeque<(usize, NodeId, Vec<u8>)>,
    /// Overlay queries of each node and the phone token they answer.
    queries: BTreeMap<(usize, QueryId), Token>,
    /// SDP the shell is to hand back: (phone, call, sdp).
    sdp: VecDeque<(usize, chordphone_phone::CallId, String)>,
}

impl Ring {
    /// Four nodes, all linked to each other, one joined ring; a phone per
    /// node, `users[i]` its user key.
    fn new(users: &[u8]) -> Ring {
        let mut nodes: Vec<Node> = (0..users.len())
            .map(|i| {
                Node::new(
                    Identity::from_seed([60 + i as u8; 32]),
                    NodeConfig::default(),
                    i as u64,
                    T0,
                )
            })
            .collect();
        let ids: Vec<NodeId> = nodes.iter().map(Node::id).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            n.serve(SIP_SERVICE);
            for (j, id) in ids.iter().enumerate() {
                if i != j {
                    n.handle_link(*id, LinkChange::Up, T0);
                }
            }
        }
        let phones = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let node = Identity::from_seed([60 + i as u8; 32]);
                Phone::new(Config::new(node, Identity::from_seed([*u; 32]), i as u64))
            })
            .collect();
        let mut ring = Ring {
            now: T0,
            nodes,
            phones,
            events: vec![Vec::new(); users.len()],
            wire: VecDeque::new(),
            queries: BTreeMap::new(),
            sdp: VecDeque::new(),
        };
        ring.nodes[0].create(T0);
        for i in 1..ring.nodes.len() {
            let boot = ids[0];
            ring.nodes[i].join(boot, T0);
            ring.run(Duration::from_secs(5));
        }
        ring.run(Duration::from_secs(30));
        assert!(ring.nodes.iter().all(|n| n.phase() == Phase::Joined));
        ring
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.id() == id)
    }

    /// Moves every queue until nothing is left, then the clock in 50 ms steps.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            if self.now >= end {
                break;
            }
            self.now = self.now + Duration::from_millis(50);
            let now = self.now;
            for n in &mut self.nodes {
                if n.poll_timeout().is_some_and(|t| t <= now) {
                    n.handle_timeout(now);
                }
            }
            for p in &mut self.phones {
                if p.poll_timeout().is_some_and(|t| t <= now) {
                    p.handle_timeout(now);
                }
            }
        }
    }

    fn settle(&mut self) {
        let now = self.now;
        for _ in 0..100_000 {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                while let Some(out) = self.nodes[i].poll_output() {
                    busy = true;
                    self.node_output(i, out);
                }
                while let Some(a) = self.phones[i].poll_action() {
                    busy = true;
                    self.phone_action(i, a);
                }
            }
            while let Some((to, from, bytes)) = self.wire.pop_front() {
                busy = true;
                let _ = self.nodes[to].handle_bytes(from, &bytes, now);
            }
            while let Some((i, call, sdp)) = self.sdp.pop_front() {
                busy = true;
                self.phones[i].local_description(call, sdp, now);
            }
            if !busy {
                return;
            }
        }
        panic!("the ring never settles");
    }

    fn node_output(&mut self, i: usize, out: Output) {
        let now = self.now;
        match out {
            Output::Transmit(t) => {
                let from = self.nodes[i].id();
                if let Some(to) = self.index_of(t.to) {
                    self.wire.push_back((to, from, t.msg.encode().unwrap()));
                }
            }
            Output::Event(Event::QueryDone { id, outcome, .. }) => {
                if let Some(token) = self.queries.remove(&(i, id)) {
                    self.phones[i].handle_outcome(token, outcome, now);
                }
            }
            Output::Event(Event::App {
                from,
                service,
                payload,
            }) if service == SIP_SERVICE => {
                self.phones[i].handle_app(from, &payload, now);
            }
            Output::Event(Event::Connect(peer)) => {
                // Every node is linked to every other already.
                self.nodes[i].handle_link(peer, LinkChange::Up, now);
            }
            Output::Event(_) => {}
        }
    }

    /// What the tab does with each action.
    fn phone_action(&mut self, i: usize, a: Action) {
        let now = self.now;
        let n = &mut self.nodes[i];
        let started = match a {
            Action::Get { token, key, kind } => Some((token, Ok(n.get(key, kind, now)))),
            Action::Put { token, record } => Some((token, n.put_signed(record, now))),
            Action::PutOwn {
                token,
                key,
                kind,
                value,
                ttl,
            } => Some((token, n.put(key, kind, value, ttl, now))),
            Action::RemoveOwn {
                token,
                key,
                kind,
                ttl,
            } => Some((token, n.remove(key, kind, ttl, now))),
            Action::Send { token, to, payload } => {
                Some((token, n.send_app(to, SIP_SERVICE, payload, now)))
            }
            Action::Media(Media::Offer { call, hold, .. }) => {
                let dir = if hold { "sendonly" } else { "sendrecv" };
                self.sdp.push_back((
                    i,
                    call,
                    format!("v=0\r\nm=audio 9 RTP/AVP 0\r\na={dir}\r\n"),
                ));
                None
            }
            Action::Media(Media::Answer { call, .. }) => {
                self.sdp.push_back((
                    i,
                    call,
                    "v=0\r\nm=audio 9 RTP/AVP 0\r\na=sendrecv\r\n".into(),
                ));
                None
            }
            Action::Event(e) => {
                self.events[i].push(e);
                None
            }
            Action::Media(_) | Action::Hold(_) | Action::Release(_) => None,
        };
        match started {
            Some((token, Ok(q))) => {
                self.queries.insert((i, q), token);
            }
            Some((token, Err(_))) => {
                self.phones[i].handle_outcome(token, Err(QueryError::Overloaded), now)
            }
            None => {}
        }
    }
}

#[test]
fn register_call_and_message_through_a_real_ring() {
    // Alice, Bob, Mallory (who wants Alice's name), and a fourth node.
    let mut ring = Ring::new(&[1, 2, 3, 4]);
    let now = ring.now;
    ring.phones[0].register("alice", now).unwrap();
    ring.phones[1].register("bob", now).unwrap();
    ring.run(Duration::from_secs(2));
    assert_eq!(ring.phones[0].aor(), Some("sip:alice@chordphone"));
    assert_eq!(ring.phones[1].aor(), Some("sip:bob@chordphone"));
    let now = ring.now;
    ring.phones[2].register("alice", now).unwrap();
    ring.run(Duration::from_secs(2));
    assert!(ring.events[2].iter().any(|e| matches!(
        e,
        PhoneEvent::RegisterFailed {
            reason: RegisterError::NameTaken,
            ..
        }
    )));

    let now = ring.now;
    let call = ring.phones[0].call("bob", now).unwrap();
    ring.run(Duration::from_secs(2));
    let inc = ring.phones[1].calls()[0].id;
    assert_eq!(ring.phones[1].calls()[0].peer, "sip:alice@chordphone");
    let now = ring.now;
    ring.phones[1].answer(inc, now).unwrap();
    ring.run(Duration::from_secs(2));
    let state = |ring: &Ring, i: usize| ring.phones[i].calls()[0].state;
    assert_eq!(state(&ring, 0), CallState::Active);
    assert_eq!(state(&ring, 1), CallState::Active);
    let now = ring.now;
    ring.phones[1].hangup(inc, now).unwrap();
    ring.run(Duration::from_secs(2));
    let v = ring.phones[0]
        .calls()
        .into_iter()
        .find(|c| c.id == call)
        .unwrap();
    assert_eq!(
        (v.state, v.reason.as_deref()),
        (CallState::Ended, Some("Hung up"))
    );

    let now = ring.now;
    let id = ring.phones[1]
        .send_message("alice", "over the ring", now)
        .unwrap();
    ring.run(Duration::from_secs(2));
    assert!(ring.events[1].contains(&PhoneEvent::MessageDone {
        id,
        outcome: Ok(())
    }));
    assert!(ring.events[0]
        .iter()
        .any(|e| matches!(e, PhoneEvent::Message { text, .. } if text == "over the ring")));
    // Nothing on the way was refused.
    assert!(ring
        .phones
        .iter()
        .all(|p| p.stats().accepted > 0 || p.aor().is_none()));
    assert!(ring
        .events
        .iter()
        .flatten()
        .all(|e| !matches!(e, PhoneEvent::Refused { .. })));
}
