//! The application channel and requests of unknown kinds, through a ring of
//! real nodes on the deterministic network of `harness`.

// Each test binary uses its own part of the shared harness.
#[allow(dead_code)]
mod harness;

use chordphone_overlay::{
    Answer, Config, Event, Id, Message, Mode, NodeId, QueryError, QueryId, Reply, Request,
    RouteError, ServiceId,
};
use core::time::Duration;
use harness::{Net, Tamper};

const SIP: ServiceId = ServiceId(5060);
const NODES: usize = 10;

/// A ring of [`NODES`] with a short successor list, so that some nodes
/// neither link to nor know of some others: messages between them are routed.
fn ring() -> Net {
    let config = Config {
        successors: 3,
        ..Config::default()
    };
    Net::ring(NODES, &config)
}

/// A pair (a, b) where a has no link to b and does not know b at all.
fn strangers(net: &Net) -> (usize, usize) {
    let unknown = |a: usize, b: usize| {
        let s = net.node(a).status();
        let id = net.id(b);
        a != b
            && !s.links.contains(&id)
            && !s.successors.contains(&id)
            && !s.fingers.contains(&id)
            && s.predecessor != Some(id)
    };
    (0..NODES)
        .flat_map(|a| (0..NODES).map(move |b| (a, b)))
        .find(|&(a, b)| unknown(a, b))
        .unwrap_or_else(|| panic!("every node knows every other\n{}", net.report()))
}

/// Hops of query `q` of node `i`, once it is done.
fn hops(net: &Net, i: usize, q: QueryId) -> u8 {
    net.events(i)
        .find_map(|e| match e {
            Event::QueryDone { id, hops, .. } if *id == q => Some(*hops),
            _ => None,
        })
        .expect("query done")
}

/// Starts `start` on node `i` and runs until it ends.
fn run(
    net: &mut Net,
    i: usize,
    start: impl FnOnce(&mut chordphone_overlay::Node, chordphone_overlay::Time) -> QueryId,
) -> (QueryId, Result<Answer, QueryError>) {
    let q = net.call(i, start);
    let done = net.run_until(|n| n.outcome(i, q).is_some(), Duration::from_secs(30));
    assert!(done, "query {q} of n{i} got no answer\n{}", net.report());
    (q, net.outcome(i, q).expect("checked above"))
}

/// The application messages node `i` received.
fn received(net: &Net, i: usize) -> Vec<(NodeId, ServiceId, Vec<u8>)> {
    net.events(i)
        .filter_map(|e| match e {
            Event::App {
                from,
                service,
                payload,
            } => Some((*from, *service, payload.clone())),
            _ => None,
        })
        .collect()
}

fn send(
    to: NodeId,
    payload: &[u8],
) -> impl FnOnce(&mut chordphone_overlay::Node, chordphone_overlay::Time) -> QueryId {
    let payload = payload.to_vec();
    move |n, now| n.send_app(to, SIP, payload, now).expect("small payload")
}

#[test]
fn a_message_reaches_a_node_several_hops_away_with_its_origin() {
    let mut net = ring();
    let (a, b) = strangers(&net);
    let (a_id, b_id) = (net.id(a), net.id(b));
    net.call(b, |n, _| n.serve(SIP));

    let (q, outcome) = run(&mut net, a, send(b_id, b"INVITE sip:b"));
    assert_eq!(outcome, Ok(Answer::Delivered));
    assert!(
        hops(&net, a, q) >= 2,
        "n{a} reached n{b} directly: not routed"
    );
    assert_eq!(
        received(&net, b),
        vec![(a_id, SIP, b"INVITE sip:b".to_vec())]
    );
    assert_eq!(net.node(b).stats().app_delivered, 1);
    // Nobody else saw it as a message for them.
    for i in (0..NODES).filter(|&i| i != b) {
        assert!(received(&net, i).is_empty(), "n{i} received it too");
    }

    // The answer is a message of its own, the other way.
    net.call(a, |n, _| n.serve(SIP));
    let (_, back) = run(&mut net, b, send(a_id, b"SIP/2.0 200 OK"));
    assert_eq!(back, Ok(Answer::Delivered));
    assert_eq!(
        received(&net, a),
        vec![(b_id, SIP, b"SIP/2.0 200 OK".to_vec())]
    );
}

#[test]
fn a_service_nobody_serves_and_a_node_not_in_the_ring_are_errors() {
    let mut net = ring();
    let (a, b) = strangers(&net);
    let b_id = net.id(b);
    net.call(b, |n, _| n.serve(ServiceId(1)));

    let (_, outcome) = run(&mut net, a, send(b_id, b"INVITE"));
    assert_eq!(outcome, Err(QueryError::Unsupported));
    assert!(received(&net, b).is_empty());
    assert_eq!(net.node(b).stats().unsupported, 1);

    let (_, outcome) = run(&mut net, a, send(Id::for_key("nobody"), b"INVITE"));
    assert_eq!(outcome, Err(QueryError::Route(RouteError::NoSuchNode)));
}

#[test]
fn a_request_kind_the_others_do_not_know_is_answered_unsupported_and_no_link_drops() {
    // Node a plays a newer build: it speaks a request kind no other node
    // knows. The nodes on the way forward it on its route header alone; the
    // node where it ends answers "unsupported"; nobody closes a link.
    let mut net = ring();
    let (a, b) = strangers(&net);
    let b_id = net.id(b);
    let links_before: Vec<Vec<NodeId>> = (0..NODES).map(|i| net.node(i).status().links).collect();
    let events_before = net.trace.len();
    let forwarded_before: u64 = (0..NODES).map(|i| net.node(i).stats().forwarded).sum();

    let new_kind = 4242;
    let (q, to_node) = run(&mut net, a, |n, now| {
        n.send_raw(
            b_id,
            Mode::ToNode,
            new_kind,
            b"from the future".to_vec(),
            now,
        )
        .expect("an unknown kind")
    });
    assert_eq!(to_node, Err(QueryError::Unsupported));
    assert!(hops(&net, a, q) >= 2, "not forwarded by another node");
    let key = Id::for_key("some key");
    let (_, to_key) = run(&mut net, a, |n, now| {
        n.send_raw(key, Mode::ToKey, new_kind, vec![7; 300], now)
            .expect("an unknown kind")
    });
    assert_eq!(to_key, Err(QueryError::Unsupported));

    let owner = net.index_of(&net.owner_of(&key)).expect("a node");
    assert_eq!(net.node(b).stats().unsupported, 1);
    assert_eq!(
        net.node(owner).stats().unsupported,
        1 + u64::from(owner == b)
    );
    let forwarded_after: u64 = (0..NODES).map(|i| net.node(i).stats().forwarded).sum();
    assert!(forwarded_after > forwarded_before);
    // Routing may have opened links; none that was open has closed.
    for (i, before) in links_before.iter().enumerate() {
        assert_eq!(net.node(i).stats().dropped_malformed, 0, "n{i}");
        let now = net.node(i).status().links;
        assert!(
            before.iter().all(|l| now.contains(l)),
            "n{i} lost a link
{}",
            net.report()
        );
    }
    let disconnects = net.trace[events_before..]
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Disconnect(_)))
        .count();
    assert_eq!(disconnects, 0, "a link was closed\n{}", net.report());
    // And the ring still routes.
    let (_, lookup) = run(&mut net, a, |n, now| n.lookup(key, now));
    assert_eq!(lookup, Ok(Answer::Owner(net.owner_of(&key))));
}

#[test]
fn a_hop_that_changes_the_payload_is_found_out_and_nothing_is_delivered() {
    let mut net = ring();
    let (a, b) = strangers(&net);
    let b_id = net.id(b);
    net.call(b, |n, _| n.serve(SIP));
    // Every node but the origin flips a bit of every payload it forwards.
    net.tamper = Some(Tamper(Box::new(move |from, _to, msg| {
        if let Message::Route(r) = msg {
            if let Request::App(m) = &mut r.request {
                if from != a {
                    m.payload[0] ^= 0x01;
                }
            }
        }
    })));

    let (q, outcome) = run(&mut net, a, send(b_id, b"INVITE sip:b"));
    assert_eq!(outcome, Err(QueryError::BadOrigin));
    assert!(hops(&net, a, q) >= 2, "no hop between n{a} and n{b}");
    assert!(received(&net, b).is_empty());
    assert_eq!(net.node(b).stats().app_refused, 1);
    assert_eq!(net.node(b).stats().app_delivered, 0);

    // An honest path delivers the same message.
    net.tamper = None;
    let (_, outcome) = run(&mut net, a, send(b_id, b"INVITE sip:b"));
    assert_eq!(outcome, Ok(Answer::Delivered));
}

#[test]
fn an_answer_of_a_kind_the_others_do_not_know_travels_back_to_the_origin() {
    // Node b plays a newer build that knows node a's new request kind and
    // answers it with a reply kind nobody else knows: the nodes on the way
    // back pass it on unread, and a (an older build here) ends the request
    // with a typed error.
    let mut net = ring();
    let (a, b) = strangers(&net);
    let b_id = net.id(b);
    net.tamper = Some(Tamper(Box::new(move |from, _to, msg| {
        if let Message::RouteReply { reply, .. } = msg {
            if from == b && *reply == Reply::Unsupported {
                *reply = Reply::Unknown {
                    kind: 700,
                    body: b"a newer build's answer".to_vec(),
                };
            }
        }
    })));
    let events_before = net.trace.len();

    let (q, outcome) = run(&mut net, a, |n, now| {
        n.send_raw(b_id, Mode::ToNode, 4242, Vec::new(), now)
            .expect("an unknown kind")
    });
    assert_eq!(outcome, Err(QueryError::UnknownReply));
    assert!(hops(&net, a, q) >= 2, "no node on the way back");
    assert!(
        !net.trace[events_before..]
            .iter()
            .any(|(_, _, e)| matches!(e, Event::Disconnect(_))),
        "a link was closed\n{}",
        net.report()
    );
    for i in 0..NODES {
        assert_eq!(net.node(i).stats().dropped_malformed, 0, "n{i}");
    }
}
