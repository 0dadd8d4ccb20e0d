//! Writes seed corpora for both targets: valid frames of every message kind,
//! with correctly signed records (which the fuzzer could never forge) and
//! replies carrying the query numbers the node under test really uses.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus`
//! (scripts/fuzz.sh does this). Existing files are kept; seeds are named by
//! content.

use chordphone_fuzz::{frame, identities, run_node, SERVICE, START};
use chordphone_link::{Handshake, Refusal, Role, Signal, FEATURES, PROTOCOL_VERSION};
use chordphone_overlay::{
    AppMessage, CloseReason, Id, Identity, Kind, Message, Mode, Record, Reply, Request, Route,
    RouteError, ServiceId, StoreError, Time,
};
use core::time::Duration;
use std::path::Path;

fn enc(m: &Message) -> Vec<u8> {
    m.encode().expect("seed message encodes")
}

fn records(key: Id) -> Vec<Record> {
    let a = Identity::from_seed([3; 32]);
    let b = Identity::from_seed([4; 32]);
    let exp = START + Duration::from_secs(3600);
    vec![
        Record::sign(&a, key, Kind::Single, 1, exp, Some(b"hello".to_vec())),
        Record::sign(&a, key, Kind::Single, 2, exp, None),
        Record::sign(
            &b,
            Id::for_key("service:relay"),
            Kind::Multi,
            1,
            exp,
            Some(vec![7; 40]),
        ),
        // Already expired when it arrives.
        Record::sign(
            &b,
            key,
            Kind::Single,
            1,
            Time(START.0 - 1),
            Some(b"old".to_vec()),
        ),
    ]
}

fn route(no: u64, target: Id, mode: Mode, request: Request) -> Message {
    Message::Route(Route {
        no,
        target,
        mode,
        last_hop: true,
        hops: 1,
        timeouts: 0,
        avoid: vec![Id::for_key("dead")],
        origin: identities().1,
        request,
    })
}

fn replies(owner: Id, recs: &[Record]) -> Vec<Reply> {
    vec![
        Reply::Owner { owner },
        Reply::Joined {
            owner,
            predecessor: Some(identities().0.node_id()),
            successors: vec![owner, Id::for_key("s2")],
        },
        Reply::Records {
            records: recs.to_vec(),
        },
        Reply::Stored,
        Reply::Refused(StoreError::BadSignature),
        Reply::Attached {
            data: b"answer".to_vec(),
        },
        Reply::Failed(RouteError::NoRoute),
        Reply::Traced {
            owner,
            path: vec![identities().1, owner],
        },
        Reply::Delivered,
        Reply::Unsupported,
        Reply::BadOrigin,
        Reply::Unknown {
            kind: 4000,
            body: b"a newer build's answer".to_vec(),
        },
    ]
}

/// Application messages from the linked peer (whose identity the seeds know,
/// so that the fuzzer starts from correctly signed ones): to the node under
/// test, for a service it serves and one it does not, tampered with, and to
/// a node farther on.
fn app_requests(me: Id, far: Id) -> Vec<(Id, Mode, Request)> {
    let peer = Identity::from_seed([2; 32]);
    let app = |to, service, payload: &[u8]| {
        Request::App(Box::new(AppMessage::sign(
            &peer,
            to,
            service,
            payload.to_vec(),
        )))
    };
    let mut tampered = AppMessage::sign(&peer, me, SERVICE, b"INVITE sip:me".to_vec());
    tampered.payload[0] ^= 1;
    vec![
        (me, Mode::ToNode, app(me, SERVICE, b"INVITE sip:me")),
        (me, Mode::ToNode, app(me, ServiceId(1), b"not served")),
        (me, Mode::ToNode, Request::App(Box::new(tampered))),
        (far, Mode::ToNode, app(far, SERVICE, b"onwards")),
        (
            me,
            Mode::ToNode,
            Request::Unknown {
                kind: 4000,
                body: b"a newer build's request".to_vec(),
            },
        ),
        (
            far,
            Mode::ToKey,
            Request::Unknown {
                kind: 65_535,
                body: Vec::new(),
            },
        ),
    ]
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let (me_identity, peer) = identities();
    let me = me_identity.node_id();
    let peer = *peer;
    let far = Id::for_key("far node");
    let recs = records(me);

    // ---- wire_decode: one frame of every message kind.
    let mut wire: Vec<Message> = vec![
        Message::Stabilize { seq: 1 },
        Message::StabilizeReply {
            seq: 1,
            predecessor: Some(me),
            successors: vec![peer, far],
        },
        Message::Notify,
        Message::Neighbours {
            predecessor: None,
            successors: vec![far],
        },
        Message::Leave {
            predecessor: Some(far),
            successors: vec![me],
        },
        Message::Close {
            reason: CloseReason::Busy,
        },
        Message::Close {
            reason: CloseReason::Idle,
        },
        Message::RouteAck { no: 42 },
        Message::Replicate {
            records: recs.clone(),
            copies_left: 2,
        },
    ];
    let requests = vec![
        (me, Mode::ToKey, Request::Lookup),
        (me, Mode::ToKey, Request::Join),
        (me, Mode::ToKey, Request::Get { kind: Kind::Single }),
        (me, Mode::ToKey, Request::Put(recs[0].clone().into())),
        (
            me,
            Mode::ToNode,
            Request::Attach {
                data: b"offer".to_vec(),
            },
        ),
        (
            far,
            Mode::ToNode,
            Request::Attach {
                data: b"offer".to_vec(),
            },
        ),
        (far, Mode::ToKey, Request::Lookup),
        (
            far,
            Mode::ToKey,
            Request::Trace {
                path: vec![identities().1],
            },
        ),
    ];
    let requests: Vec<_> = requests.into_iter().chain(app_requests(me, far)).collect();
    for (target, mode, req) in &requests {
        wire.push(route(9, *target, *mode, req.clone()));
    }
    for reply in replies(peer, &recs) {
        wire.push(Message::RouteReply {
            no: 42,
            hops: 3,
            timeouts: 1,
            reply,
        });
    }
    let wire_dir = Path::new(&dir).join("wire_decode");
    let n_wire = wire.len();
    for m in &wire {
        write_seed(&wire_dir, &enc(m));
    }

    // ---- node_input: sequences of frames from the linked peer.
    let node_dir = Path::new(&dir).join("node_input");
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    // Each kind alone, then all in a row.
    let mut all = Vec::new();
    for m in &wire {
        let f = frame(100, &enc(m));
        seeds.push(f.clone());
        all.extend(f);
    }
    seeds.push(all);

    // Play the peer until the node routes a request through it (a finger
    // refresh or its self-check): stabilize towards the node and answer its
    // stabilization, every 255 ms. Then answer what it sent.
    let mut warm = Vec::new();
    let mut sent = Vec::new();
    let mut next = Message::Stabilize { seq: 1 };
    for n in 1..=120 {
        warm.extend(frame(255, &enc(&next)));
        sent.clear();
        let mut reply_to = None;
        run_node(&warm, |after, t| {
            if after <= n && t.to == peer {
                sent.push(t.msg.clone());
                if let (true, Message::Stabilize { seq }) = (after == n, &t.msg) {
                    reply_to = Some(*seq);
                }
            }
        });
        if sent.iter().any(|m| matches!(m, Message::Route(_))) {
            break;
        }
        next = match reply_to {
            Some(seq) => Message::StabilizeReply {
                seq,
                predecessor: Some(me),
                successors: vec![far, me],
            },
            None => Message::Stabilize { seq: n as u32 + 1 },
        };
    }
    let mut answered = 0;
    for msg in &sent {
        match msg {
            Message::Stabilize { seq } => {
                let mut s = warm.clone();
                s.extend(frame(
                    50,
                    &enc(&Message::StabilizeReply {
                        seq: *seq,
                        predecessor: Some(me),
                        successors: vec![far, me],
                    }),
                ));
                seeds.push(s);
                answered += 1;
            }
            Message::Route(r) => {
                let mut base = warm.clone();
                base.extend(frame(10, &enc(&Message::RouteAck { no: r.no })));
                seeds.push(base.clone());
                for reply in replies(far, &recs) {
                    let mut s = base.clone();
                    s.extend(frame(
                        10,
                        &enc(&Message::RouteReply {
                            no: r.no,
                            hops: 2,
                            timeouts: 0,
                            reply,
                        }),
                    ));
                    seeds.push(s);
                }
                answered += 1;
            }
            _ => {}
        }
    }

    // ---- link_input: a hello, a handshake in order, and signals.
    let link_dir = Path::new(&dir).join("link_input");
    let peer_hs = Handshake::new(&Identity::from_seed([2; 32]), [6; 32], Role::Peer);
    let mut server_hs = Handshake::new(&me_identity.clone(), [5; 32], Role::Server);
    let proof = match server_hs.handle(&peer_hs.hello()) {
        Ok(chordphone_link::Step::Send(f)) => f,
        other => panic!("handshake seed: {other:?}"),
    };
    write_seed(&link_dir, &peer_hs.hello());
    // A hello of another version and features, and one with a field appended
    // by a newer build.
    let newer = Handshake::announcing(
        &Identity::from_seed([2; 32]),
        [6; 32],
        Role::Peer,
        PROTOCOL_VERSION + 1,
        FEATURES | 1 << 63,
    );
    write_seed(&link_dir, &newer.hello());
    let mut appended = newer.hello();
    appended.extend_from_slice(b"a field from the future");
    write_seed(&link_dir, &appended);
    let mut both = peer_hs.hello();
    both.push(0xFF);
    both.extend_from_slice(&proof);
    write_seed(&link_dir, &both);
    for sig in [
        Signal::Offer {
            sdp: "v=0\r\n".into(),
        },
        Signal::Answer {
            sdp: "v=0\r\n".into(),
        },
        Signal::Dial {
            url: "ws://127.0.0.1:8080/ws".into(),
        },
        Signal::Refuse {
            reason: Refusal::Glare,
        },
        Signal::Dialling,
    ] {
        write_seed(&link_dir, &sig.encode().expect("seed signal encodes"));
    }

    let mut stored = 0;
    // session_input reads the same frames after one flag byte: odd, the
    // peer first passes the handshake, so the frames reach the node.
    let session_dir = Path::new(&dir).join("session_input");
    for s in &seeds {
        stored = stored.max(run_node(s, |_, _| {}).records().count());
        write_seed(&node_dir, s);
        let mut after_handshake = vec![1];
        after_handshake.extend_from_slice(s);
        chordphone_fuzz::check_session(&after_handshake);
        write_seed(&session_dir, &after_handshake);
    }
    // Before the handshake: a hello of our own, then junk.
    let mut early = vec![0];
    early.extend_from_slice(&chordphone_fuzz::frame(0, &peer_hs.hello()));
    early.extend_from_slice(&chordphone_fuzz::frame(0, &[0x42, 1, 2]));
    chordphone_fuzz::check_session(&early);
    write_seed(&session_dir, &early);
    // ---- sdp_input: trunk SDPs as SIPp and carriers send them, an RTP
    // packet and an RFC 4733 event.
    let sdp_dir = Path::new(&dir).join("sdp_input");
    for sdp in [
        "v=0\r\no=user1 53655765 2353687637 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n",
        "v=0\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000/2 RTP/AVP 97 8\r\na=rtpmap:97 PCMU/8000/1\r\na=sendonly\r\n",
    ] {
        write_seed(&sdp_dir, sdp.as_bytes());
    }
    write_seed(
        &sdp_dir,
        &[0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7, 0xff, 0xff],
    );
    write_seed(&sdp_dir, &[5, 0x8a, 0x03, 0x20]);
    println!(
        "seeds: {n_wire} wire_decode, {} node_input ({answered} answering the node's own \
         requests; up to {stored} records stored by one)",
        seeds.len()
    );
}

fn write_seed(dir: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("create corpus dir");
    // Content-named like libFuzzer's own files (FNV-1a, not SHA-1, is enough).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    let path = dir.join(format!("seed-{h:016x}"));
    if !path.exists() {
        std::fs::write(&path, bytes).expect("write seed");
    }
}
