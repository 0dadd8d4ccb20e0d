//! A native overlay peer for tests: one task drives a
//! `chordphone_session::Session` (the same core the server and the browser
//! tab drive) over WebSocket links, accepted on a port of its own or
//! dialled.

use super::{now, random};
use chordphone_overlay::{
    Answer, Event as NodeEvent, Id, Kind, Phase, QueryError, QueryId, Status,
};
use chordphone_session::{Config, Event, LinkId, Open, Output, Session};
use core::time::Duration;
use futures_util::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Reply = oneshot::Sender<Result<Answer, QueryError>>;

enum Cmd {
    Lookup(Id, Reply),
    Get(Id, Reply),
    Put(Id, Vec<u8>, Reply),
    Status(oneshot::Sender<Status>),
    Leave(oneshot::Sender<()>),
}

/// What a connection task tells the peer's task.
enum LinkEv {
    /// A socket came in; the reply names its link.
    Accepted(mpsc::Sender<Vec<u8>>, oneshot::Sender<LinkId>),
    /// A socket the session asked for is open.
    Opened(LinkId, mpsc::Sender<Vec<u8>>),
    /// It could not be opened.
    Failed(LinkId),
    Frame(LinkId, Vec<u8>),
    Closed(LinkId),
}

/// A running test peer.
pub struct TestPeer {
    pub id: chordphone_overlay::NodeId,
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
        let identity = chordphone_overlay::Identity::from_seed(random());
        let id = identity.node_id();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/ws", listener.local_addr().unwrap());
        let (links_tx, links_rx) = mpsc::channel(1024);
        let accept = {
            let links = links_tx.clone();
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let _ = tcp.set_nodelay(true);
                    let links = links.clone();
                    tokio::spawn(async move {
                        if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                            let (tx, rx) = mpsc::channel(1024);
                            let (reply, link) = oneshot::channel();
                            if links.send(LinkEv::Accepted(tx, reply)).await.is_ok() {
                                if let Ok(link) = link.await {
                                    run_link(ws, link, rx, links).await;
                                }
                            }
                        }
                    });
                }
            })
        };
        // Browser defaults, except for a loaded test machine: a peer wrongly
        // found dead is taken back after seconds, not half a minute.
        let mut config = Config::native_peer(url.clone());
        config.overlay.dead_memory = Duration::from_secs(5);
        let mut session = Session::new(identity, config, random(), now());
        session.set_bootstrap(vec![server_url.to_owned()]);
        let (cmds, cmd_rx) = mpsc::channel(64);
        let mut shell = Shell {
            session,
            conns: BTreeMap::new(),
            links_tx,
            waiting: BTreeMap::new(),
        };
        let task = tokio::spawn(async move {
            shell.session.join(now());
            shell.drain();
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

    pub async fn leave(&self) {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Leave(tx)).await.unwrap();
        rx.await.unwrap();
    }
}

struct Shell {
    session: Session,
    /// Outgoing frames of each open socket; dropping one closes it.
    conns: BTreeMap<LinkId, mpsc::Sender<Vec<u8>>>,
    links_tx: mpsc::Sender<LinkEv>,
    waiting: BTreeMap<QueryId, Reply>,
}

impl Shell {
    async fn run(&mut self, mut cmds: mpsc::Receiver<Cmd>, mut links: mpsc::Receiver<LinkEv>) {
        loop {
            let wake = self
                .session
                .poll_timeout()
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
            if self.session.poll_timeout().is_some_and(|d| d <= t) {
                self.session.handle_timeout(t);
            }
            self.drain();
        }
    }

    fn command(&mut self, cmd: Cmd) {
        let t = now();
        let node = self.session.node_mut();
        match cmd {
            Cmd::Lookup(key, r) => {
                let q = node.lookup(key, t);
                self.waiting.insert(q, r);
            }
            Cmd::Get(key, r) => {
                let q = node.get(key, Kind::Single, t);
                self.waiting.insert(q, r);
            }
            Cmd::Put(key, v, r) => {
                let q = node
                    .put(key, Kind::Single, v, Duration::from_secs(600), t)
                    .unwrap();
                self.waiting.insert(q, r);
            }
            Cmd::Status(r) => {
                let _ = r.send(node.status());
            }
            Cmd::Leave(r) => {
                self.session.leave(t);
                self.drain();
                let _ = r.send(());
            }
        }
    }

    fn link(&mut self, ev: LinkEv) {
        let t = now();
        match ev {
            LinkEv::Accepted(tx, reply) => {
                let link = self.session.accept(t);
                if reply.send(link).is_ok() {
                    self.conns.insert(link, tx);
                }
            }
            LinkEv::Opened(link, tx) => {
                self.conns.insert(link, tx);
                self.session.handle_opened(link, t);
            }
            LinkEv::Failed(link) => self.session.handle_failed(link, "dial failed", t),
            LinkEv::Frame(link, bytes) => {
                if self.conns.contains_key(&link) {
                    self.session.handle_frame(link, &bytes, t);
                }
            }
            LinkEv::Closed(link) => {
                if self.conns.remove(&link).is_some() {
                    self.session.handle_closed(link, "closed", t);
                }
            }
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.session.poll_output() {
            match out {
                Output::Open {
                    link,
                    how: Open::WebSocket { url },
                } => self.dial(link, url),
                Output::Open { link, .. } | Output::ApplyAnswer { link, .. } => {
                    self.session.handle_failed(link, "no WebRTC here", now());
                }
                Output::Send { link, frame } => {
                    if let Some(tx) = self.conns.get(&link) {
                        let _ = tx.try_send(frame);
                    }
                }
                Output::Close { link, .. } => {
                    // Dropping the sender ends the link task, which closes
                    // the socket after what is queued.
                    self.conns.remove(&link);
                }
                Output::Event(Event::Overlay(NodeEvent::QueryDone { id, outcome, .. })) => {
                    if let Some(r) = self.waiting.remove(&id) {
                        let _ = r.send(outcome);
                    }
                }
                Output::Event(_) => {}
            }
        }
    }

    fn dial(&self, link: LinkId, url: String) {
        let links = self.links_tx.clone();
        tokio::spawn(async move {
            let connect = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true);
            match connect.await {
                Ok((ws, _)) => {
                    let (tx, rx) = mpsc::channel(1024);
                    if links.send(LinkEv::Opened(link, tx)).await.is_ok() {
                        run_link(ws, link, rx, links).await;
                    }
                }
                Err(_) => {
                    let _ = links.send(LinkEv::Failed(link)).await;
                }
            }
        });
    }
}

/// Moves frames between one socket and the peer's task.
async fn run_link<S>(
    ws: WebSocketStream<S>,
    link: LinkId,
    mut rx: mpsc::Receiver<Vec<u8>>,
    links: mpsc::Sender<LinkEv>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(f) => if sink.send(Message::Binary(f.into())).await.is_err() { break },
                None => { let _ = sink.close().await; break }
            },
            m = stream.next() => match m {
                Some(Ok(Message::Binary(b))) => {
                    if links.send(LinkEv::Frame(link, b.to_vec())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = links.send(LinkEv::Closed(link)).await;
}
