//! Native peers and servers form one ring through real servers.

#![allow(clippy::unwrap_used)]

mod common;

use chordphone_overlay::{Answer, Id, NodeId, Record};
use common::peer::TestPeer;
use common::{try_wait_for, wait_for, Server};
use signal_server::Config;

/// The node that owns `key` in a ring of `ids`: the first at or after it.
fn owner(ids: &[NodeId], key: Id) -> NodeId {
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted
        .iter()
        .copied()
        .find(|n| *n >= key)
        .unwrap_or(sorted[0])
}

/// (successor, predecessor) of `me` in the ring of `ids`.
fn neighbours(ids: &[NodeId], me: NodeId) -> (NodeId, NodeId) {
    let mut sorted = ids.to_vec();
    sorted.sort();
    let i = sorted.iter().position(|n| *n == me).unwrap();
    let n = sorted.len();
    (sorted[(i + 1) % n], sorted[(i + n - 1) % n])
}

fn hex(id: NodeId) -> String {
    id.to_hex()
}

/// True when every node's successor and predecessor are its ring neighbours.
async fn converged(servers: &[&Server], peers: &[TestPeer]) -> bool {
    let mut ids: Vec<NodeId> = Vec::new();
    for s in servers {
        ids.push(s.id().await);
    }
    ids.extend(peers.iter().map(|p| p.id));
    for s in servers {
        let st = s.status().await;
        let me = Id::from_hex(st["id"].as_str().unwrap()).unwrap();
        let (succ, pred) = neighbours(&ids, me);
        if st["successors"][0].as_str() != Some(hex(succ).as_str())
            || st["predecessor"].as_str() != Some(hex(pred).as_str())
        {
            return false;
        }
    }
    for p in peers {
        let st = p.status().await;
        let (succ, pred) = neighbours(&ids, p.id);
        if st.successors.first() != Some(&succ) || st.predecessor != Some(pred) {
            return false;
        }
    }
    true
}

/// Waits for the ring to converge; on timeout, panics with every view.
async fn wait_converged(servers: &[&Server], peers: &[TestPeer]) {
    let done = try_wait_for(|| async { converged(servers, peers).await.then_some(()) }).await;
    if done.is_none() {
        let mut views = String::new();
        for s in servers {
            views.push_str(&format!("server {}\n", s.status().await));
        }
        for p in peers {
            let st = p.status().await;
            views.push_str(&format!(
                "peer {} pred {:?} succ {:?} links {:?}\n",
                p.id.to_hex(),
                st.predecessor,
                st.successors,
                st.links
            ));
        }
        panic!("the ring did not converge:\n{views}");
    }
}

async fn all_ids(servers: &[&Server], peers: &[TestPeer]) -> Vec<NodeId> {
    let mut ids = Vec::new();
    for s in servers {
        ids.push(s.id().await);
    }
    ids.extend(peers.iter().map(|p| p.id));
    ids
}

fn values(answer: Answer) -> Vec<Vec<u8>> {
    match answer {
        Answer::Records(rs) => rs.into_iter().filter_map(|r: Record| r.value).collect(),
        other => panic!("expected records, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_peers_join_through_the_server_and_the_ring_converges() {
    let _one_ring_at_a_time = common::RING_TESTS.lock().await;
    let server = Server::start(Config::default()).await;
    let mut peers = Vec::new();
    for _ in 0..5 {
        peers.push(TestPeer::join(&server.ws_url()).await);
    }
    wait_converged(&[&server], &peers).await;
    let st = server.status().await;
    assert_eq!(st["joined"], true);
    assert!(st["links"]["websocket"].as_u64().unwrap() >= 1);
    assert!(st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["role"] == "peer"));

    // Lookups from every peer find the true owner.
    let ids = all_ids(&[&server], &peers).await;
    for (i, name) in ["alice", "bob", "carol", "dave", "erin", "frank"]
        .iter()
        .enumerate()
    {
        let key = Id::for_key(name);
        let asker = &peers[i % peers.len()];
        let want = owner(&ids, key);
        wait_for("a lookup to find the owner", || async {
            match asker.lookup(key).await {
                Ok(Answer::Owner(o)) if o == want => Some(()),
                _ => None,
            }
        })
        .await;
    }

    // A record put by one peer is read by another.
    let key = Id::for_key("alice@chordphone");
    let put = peers[0].put(key, b"offer me here").await;
    assert_eq!(put, Ok(Answer::Stored));
    let got = wait_for("another peer to read the record", || async {
        peers[3]
            .get(key)
            .await
            .ok()
            .map(values)
            .filter(|v| !v.is_empty())
    })
    .await;
    assert_eq!(got, vec![b"offer me here".to_vec()]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_joins_the_first_and_forms_one_ring() {
    let _one_ring_at_a_time = common::RING_TESTS.lock().await;
    let first = Server::start(Config::default()).await;
    let second = Server::start(Config {
        join: vec![first.ws_url()],
        ..Config::default()
    })
    .await;
    wait_for("the second server to join", || async {
        (second.status().await["joined"] == true).then_some(())
    })
    .await;
    // Peers on either server end up in the same ring.
    let peers = vec![
        TestPeer::join(&first.ws_url()).await,
        TestPeer::join(&second.ws_url()).await,
        TestPeer::join(&second.ws_url()).await,
    ];
    wait_converged(&[&first, &second], &peers).await;
    let st = second.status().await;
    let first_id = first.id().await;
    assert!(st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == hex(first_id) && p["role"] == "server"));
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_hands_records_to_the_remaining_nodes() {
    let _one_ring_at_a_time = common::RING_TESTS.lock().await;
    let first = Server::start(Config::default()).await;
    let second = Server::start(Config {
        join: vec![first.ws_url()],
        ..Config::default()
    })
    .await;
    let peers = vec![
        TestPeer::join(&first.ws_url()).await,
        TestPeer::join(&first.ws_url()).await,
    ];
    wait_converged(&[&first, &second], &peers).await;
    // Store records until one is owned by the second server, the one that
    // will leave.
    let ids = all_ids(&[&first, &second], &peers).await;
    let leaving = second.id().await;
    let name = (0..1000)
        .map(|i| format!("user{i}"))
        .find(|n| owner(&ids, Id::for_key(n)) == leaving)
        .unwrap();
    let key = Id::for_key(&name);
    assert_eq!(peers[0].put(key, b"kept").await, Ok(Answer::Stored));
    wait_for("the second server to hold the record", || async {
        (second.status().await["records"].as_u64() >= Some(1)).then_some(())
    })
    .await;

    second.stop().await;

    // The remaining ring still answers for the key.
    let remaining = [first.id().await, peers[0].id, peers[1].id];
    let new_owner = owner(&remaining, key);
    wait_for("the record to be read after the owner left", || async {
        let v = peers[1].get(key).await.ok().map(values)?;
        (v == vec![b"kept".to_vec()]).then_some(())
    })
    .await;
    wait_for("the new owner to hold the record", || async {
        let n = if new_owner == remaining[0] {
            first.status().await["records"].as_u64().unwrap()
        } else {
            let p = peers.iter().find(|p| p.id == new_owner).unwrap();
            p.status().await.records as u64
        };
        (n >= 1).then_some(())
    })
    .await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_keeps_dialling_its_join_server_until_it_is_reachable() {
    let _one_ring_at_a_time = common::RING_TESTS.lock().await;
    // A port with nothing behind it yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let second = Server::start(Config {
        join: vec![format!("ws://127.0.0.1:{port}/ws")],
        ..Config::default()
    })
    .await;
    assert_eq!(second.status().await["joined"], false);
    let health: serde_json::Value =
        serde_json::from_str(&second.get("/healthz").await.unwrap().1).unwrap();
    assert_eq!(
        (&health["status"], &health["joined"]),
        (&"ok".into(), &false.into())
    );
    // The first server comes up on that port; the dialler finds it.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(signal_server::run(listener, Config::default(), async {
        let _ = stopped.await;
    }));
    wait_for("the second server to join once the first is up", || async {
        (second.status().await["joined"] == true).then_some(())
    })
    .await;
    let st = second.status().await;
    assert_eq!(st["successors"][0], st["predecessor"]);
    second.stop().await;
    let _ = stop.send(());
    first.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_links_to_a_peer_that_joined_elsewhere_by_asking_it_to_dial() {
    let _one_ring_at_a_time = common::RING_TESTS.lock().await;
    let first = Server::start(Config::default()).await;
    let second = Server::start(Config {
        join: vec![first.ws_url()],
        ..Config::default()
    })
    .await;
    wait_for("the second server to join", || async {
        (second.status().await["joined"] == true).then_some(())
    })
    .await;
    // Joined through the second server only; in a ring of three it is the
    // first server's successor or predecessor, so the first must link to it.
    let peers = vec![TestPeer::join(&second.ws_url()).await];
    wait_converged(&[&first, &second], &peers).await;
    let id = hex(peers[0].id);
    wait_for("the first server to hold a link to the peer", || async {
        let st = first.status().await;
        st["peers"]
            .as_array()?
            .iter()
            .any(|p| p["id"] == id.as_str() && p["role"] == "peer")
            .then_some(())
    })
    .await;
    assert!(peers[0].status().await.links.contains(&first.id().await));
    // Either side may have asked: the first server asked the peer to dial
    // it, or answered the peer's request by dialling the peer.
    let asked = first
        .metric("chordphone_link_requests_total{outcome=\"asked\"}")
        .await;
    let answered = first.metric("chordphone_attaches_answered_total").await;
    assert!(asked + answered >= 1, "asked {asked}, answered {answered}");
    second.stop().await;
    first.stop().await;
}
