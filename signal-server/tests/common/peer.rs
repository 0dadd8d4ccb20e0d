//! A native overlay peer for tests: one task owns a `Node` and plays the
//! shell for it over WebSocket links.

use super::{now, random};
use chordphone_link::{classify, FrameKind, Handshake, Refusal, Role, Signal, Step};
use chordphone_overlay::{
    Answer, Config, Event, Id, Identity, Kind, LinkChange, Node, NodeId, Output, Phase, QueryError,
    QueryId, Status, Time,
};
use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Reply = oneshot::Sender<Result<Answer, QueryError>>;
/// An open link: its number and its outgoing frames.
type Link = (u64, mpsc::Sender<Vec<u8>>);

enum Cmd {
    Lookup(Id, Reply),
    Get(Id, Reply),
    Put(Id, Vec<u8>, Reply),
    Status(oneshot::Sender<Status>),
    Leave(oneshot::Sender<()>),
}

enum LinkEv {
    Up(u64, NodeId, mpsc::Sender<Vec<u8>>),
    Frame(u64, NodeId, Vec<u8>),
    Down(u64, NodeId),
}

/// A running test peer.
pub struct TestPeer {
    pub id: NodeId,
    pub url: String,
    cmds: mpsc::Sender<Cmd>,
    task: JoinHandle<()>,
    listener: JoinHandle<()>,
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        self.task.abort();
        self.listener.abort();
    }
}

impl TestPeer {
    /// Starts a peer that joins the ring through the server at `server_url`.
    pub async fn join(server_url: &str) -> TestPeer {
        let identity = Identity::from_seed(random());
        let id = identity.node_id();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (links_tx, links_rx) = mpsc::channel(1024);
        let accept = {
            let (identity, links) = (identity.clone(), links_tx.clone());
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let _ = tcp.set_nodelay(true);
                    let (identity, links) = (identity.clone(), links.clone());
                    tokio::spawn(async move {
                        if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                            run_link(ws, identity, None, links).await;
                        }
                    });
                }
            })
        };
        // Browser defaults, except for a loaded test machine: a hop ack may
        // be late by a scheduling stall (as on the server), and a peer
        // wrongly found dead is taken back after seconds, not half a minute.
        let config = Config {
            connect_timeout: Duration::from_secs(10),
            rto_min: Duration::from_millis(500),
            dead_memory: Duration::from_secs(5),
            ..Config::default()
        };
        let node = Node::new(
            identity.clone(),
            config,
            u64::from_le_bytes(random()),
            now(),
        );
        let (cmds, cmd_rx) = mpsc::channel(64);
        let mut shell = Shell {
            node,
            identity,
            url: url.clone(),
            links: BTreeMap::new(),
            links_tx: links_tx.clone(),
            waiting: BTreeMap::new(),
            connects: BTreeMap::new(),
            connect_waits: BTreeMap::new(),
            bootstrap: None,
        };
        // The first link: to the server, then join through it.
        let server_url = server_url.to_owned();
        let task = tokio::spawn(async move {
            shell.dial(server_url, None);
            shell.run(cmd_rx, links_rx).await;
        });
        let peer = TestPeer {
            id,
            url,
            cmds,
            task,
            listener: accept,
        };
        super::wait_for("the peer to join", || async {
            (peer.status().await.phase == Phase::Joined).then_some(())
        })
        .await;
        peer
    }

    async fn ask(&self, cmd: impl FnOnce(Reply) -> Cmd) -> Result<Answer, QueryError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(cmd(tx)).await.unwrap();
        rx.await.unwrap()
    }

    pub async fn lookup(&self, key: Id) -> Result<Answer, QueryError> {
        self.ask(|r| Cmd::Lookup(key, r)).await
    }

    pub async fn get(&self, key: Id) -> Result<Answer, QueryError> {
        self.ask(|r| Cmd::Get(key, r)).await
    }

    pub async fn put(&self, key: Id, value: &[u8]) -> Result<Answer, QueryError> {
        self.ask(|r| Cmd::Put(key, value.to_vec(), r)).await
    }

    pub async fn status(&self) -> Status {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Status(tx)).await.unwrap();
        rx.await.unwrap()
    }

    /// Leaves the ring gracefully.
    pub async fn leave(&self) {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Leave(tx)).await.unwrap();
        rx.await.unwrap();
    }
}

struct Shell {
    node: Node,
    identity: Identity,
    url: String,
    /// Open links by peer, newest last. Both sides may dial each other at
    /// once: both links stay, frames go on the newest and are taken from
    /// any, and the peer is down when the last one closes (as the server).
    links: BTreeMap<NodeId, Vec<Link>>,
    links_tx: mpsc::Sender<LinkEv>,
    waiting: BTreeMap<QueryId, Reply>,
    connects: BTreeMap<QueryId, NodeId>,
    connect_waits: BTreeMap<NodeId, Time>,
    /// Joins through the first link that comes up.
    bootstrap: Option<NodeId>,
}

impl Shell {
    async fn run(&mut self, mut cmds: mpsc::Receiver<Cmd>, mut links: mpsc::Receiver<LinkEv>) {
        loop {
            let wake = [
                self.node.poll_timeout(),
                self.connect_waits.values().min().copied(),
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(Duration::from_secs(1), |t| t.saturating_since(now()));
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                ev = links.recv() => if let Some(ev) = ev { self.link(ev) },
                () = tokio::time::sleep(wake) => {}
            }
            let t = now();
            if self.node.poll_timeout().is_some_and(|d| d <= t) {
                self.node.handle_timeout(t);
            }
            let expired: Vec<NodeId> = self
                .connect_waits
                .iter()
                .filter(|(_, d)| **d <= t)
                .map(|(p, _)| *p)
                .collect();
            for p in expired {
                self.connect_waits.remove(&p);
                if !self.links.contains_key(&p) {
                    self.node.handle_link(p, LinkChange::Down, t);
                }
            }
            self.drain();
        }
    }

    fn command(&mut self, cmd: Cmd) {
        let t = now();
        match cmd {
            Cmd::Lookup(key, r) => {
                let q = self.node.lookup(key, t);
                self.waiting.insert(q, r);
            }
            Cmd::Get(key, r) => {
                let q = self.node.get(key, Kind::Single, t);
                self.waiting.insert(q, r);
            }
            Cmd::Put(key, v, r) => {
                let q = self
                    .node
                    .put(key, Kind::Single, v, Duration::from_secs(600), t)
                    .unwrap();
                self.waiting.insert(q, r);
            }
            Cmd::Status(r) => {
                let _ = r.send(self.node.status());
            }
            Cmd::Leave(r) => {
                self.node.leave(t);
                self.drain();
                let _ = r.send(());
            }
        }
    }

    fn link(&mut self, ev: LinkEv) {
        let t = now();
        match ev {
            LinkEv::Up(conn, peer, tx) => {
                self.links.entry(peer).or_default().push((conn, tx));
                self.connect_waits.remove(&peer);
                self.node.handle_link(peer, LinkChange::Up, t);
                if self.bootstrap.is_none() && self.node.phase() == Phase::Idle {
                    self.bootstrap = Some(peer);
                    self.node.join(peer, t);
                }
            }
            LinkEv::Frame(conn, peer, bytes) => {
                let open = self.links.get(&peer);
                if open.is_some_and(|ls| ls.iter().any(|(c, _)| *c == conn)) {
                    let _ = self.node.handle_bytes(peer, &bytes, t);
                }
            }
            LinkEv::Down(conn, peer) => {
                let Some(ls) = self.links.get_mut(&peer) else {
                    return;
                };
                let before = ls.len();
                ls.retain(|(c, _)| *c != conn);
                if ls.is_empty() && before > 0 {
                    self.links.remove(&peer);
                    self.node.handle_link(peer, LinkChange::Down, t);
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.node.poll_output() {
            match out {
                Output::Transmit(tx) => {
                    if let Some((_, link)) = self.links.get(&tx.to).and_then(|ls| ls.last()) {
                        let _ = link.try_send(tx.msg.encode().unwrap());
                    }
                }
                Output::Event(e) => self.event(e),
            }
        }
    }

    fn event(&mut self, e: Event) {
        let t = now();
        match e {
            Event::Connect(peer) => {
                if self.links.contains_key(&peer) {
                    self.node.handle_link(peer, LinkChange::Up, t);
                    return;
                }
                let ask = Signal::Dial {
                    url: self.url.clone(),
                };
                let ask = ask.encode().expect("the test URL is a WebSocket URL");
                match self.node.attach(peer, ask, t) {
                    Ok(q) => {
                        self.connects.insert(q, peer);
                        self.connect_waits.insert(peer, t + Duration::from_secs(10));
                    }
                    Err(_) => self.node.handle_link(peer, LinkChange::Down, t),
                }
            }
            Event::Disconnect(peer) => {
                // Dropping the sender ends the link task, which closes it.
                self.links.remove(&peer);
                self.connect_waits.remove(&peer);
            }
            Event::QueryDone { id, outcome, .. } => {
                if let Some(peer) = self.connects.remove(&id) {
                    if self.links.contains_key(&peer) || !self.connect_waits.contains_key(&peer) {
                        return;
                    }
                    let change = match outcome {
                        Ok(Answer::Attached(d)) => match Signal::decode(&d) {
                            Ok(Signal::Dialling) => return,
                            Ok(Signal::Dial { url }) => {
                                self.dial(url, Some(peer));
                                return;
                            }
                            Ok(Signal::Refuse { .. }) => LinkChange::Refused,
                            _ => LinkChange::Down,
                        },
                        _ => LinkChange::Down,
                    };
                    self.connect_waits.remove(&peer);
                    self.node.handle_link(peer, change, t);
                } else if let Some(r) = self.waiting.remove(&id) {
                    let _ = r.send(outcome);
                }
            }
            Event::AttachRequest { token, from, data } => {
                let reply = match Signal::decode(&data) {
                    Ok(Signal::Dial { url }) => {
                        self.dial(url, Some(from));
                        Signal::Dialling
                    }
                    Ok(Signal::Offer { .. }) => Signal::Dial {
                        url: self.url.clone(),
                    },
                    _ => Signal::Refuse {
                        reason: Refusal::Unusable,
                    },
                };
                let reply = reply.encode().expect("the test URL is a WebSocket URL");
                let _ = self.node.attach_reply(token, reply, t);
            }
            Event::JoinFailed(_) => {
                // Try again through the server link, if it is still there.
                if let Some(b) = self.bootstrap.filter(|b| self.links.contains_key(b)) {
                    self.node.join(b, t);
                }
            }
            _ => {}
        }
    }

    fn dial(&self, url: String, expected: Option<NodeId>) {
        let (identity, links) = (self.identity.clone(), self.links_tx.clone());
        tokio::spawn(async move {
            let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true);
            if let Ok((ws, _)) = connect.await {
                run_link(ws, identity, expected, links).await;
            }
        });
    }
}

/// One link: handshake, then frames both ways until either side ends it.
async fn run_link<S>(
    ws: WebSocketStream<S>,
    identity: Identity,
    expected: Option<NodeId>,
    links: mpsc::Sender<LinkEv>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let mut hs = Handshake::new(&identity, random(), Role::Peer);
    if sink.send(Message::Binary(hs.hello().into())).await.is_err() {
        return;
    }
    let peer = loop {
        let Some(Ok(Message::Binary(b))) = stream.next().await else {
            return;
        };
        match hs.handle(&b) {
            Ok(Step::Send(f)) => {
                if sink.send(Message::Binary(f.into())).await.is_err() {
                    return;
                }
            }
            Ok(Step::Done(p)) => break p,
            Err(_) => return,
        }
    };
    if expected.is_some_and(|e| e != peer.id) {
        return;
    }
    let conn = u64::from_le_bytes(random());
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    if links.send(LinkEv::Up(conn, peer.id, tx)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(f) => if sink.send(Message::Binary(f.into())).await.is_err() { break },
                None => { let _ = sink.close().await; break }
            },
            m = stream.next() => match m {
                Some(Ok(Message::Binary(b))) => {
                    if matches!(classify(&b), Ok(FrameKind::Overlay(_)))
                        && links.send(LinkEv::Frame(conn, peer.id, b.to_vec())).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = links.send(LinkEv::Down(conn, peer.id)).await;
}
