//! The browser objects behind the session's links: what the session asks
//! for (open a WebSocket, make or answer a WebRTC offer, apply an answer,
//! send, close) done with web-sys.

use crate::inbox::Inbox;
use crate::input::{error_text, Input, LinkId};
use crate::rtc::{self, RtcLink};
use crate::view::LinkKind;
use crate::ws::WsLink;
use chordphone_link::CloseCode;
use chordphone_overlay::{NodeId, Time, VecMap};
use chordphone_session::{Event, Open, Output, Session, Transport as Kind};
use core::time::Duration;
use wasm_bindgen_futures::spawn_local;

/// The browser object behind a link.
#[derive(Debug)]
pub enum Transport {
    /// To a server.
    Ws(WsLink),
    /// To another browser.
    Rtc(RtcLink),
}

impl Transport {
    fn send(&self, frame: &[u8]) -> Result<(), &'static str> {
        match self {
            Transport::Ws(ws) => ws.send(frame),
            Transport::Rtc(rtc) => rtc.send(frame),
        }
    }

    /// Starts an orderly close: queued frames are still delivered (closing
    /// the peer connection at once would drop them).
    fn close_gently(&self) {
        match self {
            Transport::Ws(ws) => ws.close(CloseCode::Normal),
            Transport::Rtc(rtc) => rtc.close_channel(),
        }
    }
}

/// What carrying out one output came to.
#[derive(Debug)]
pub enum Applied {
    /// Done (or nothing to do).
    Done,
    /// An event for the driver.
    Event(Event),
    /// The transport could not be made: tell the session it failed.
    Failed(LinkId, String),
    /// The transport could not take a frame and was closed: tell the
    /// session it closed.
    Broken(LinkId, &'static str),
}

/// How often the open WebRTC links' paths (direct or relayed) are read.
const PATH_EVERY: Duration = Duration::from_secs(2);

/// The browser object behind each link of the session.
#[derive(Debug)]
pub struct Transports {
    map: VecMap<LinkId, Transport>,
    inbox: Inbox<Input>,
    /// The peer of each WebRTC link that is up.
    up: VecMap<LinkId, NodeId>,
    /// The WebRTC links whose selected path goes through a relay.
    relayed: VecMap<LinkId, ()>,
    next_path: Time,
}

impl Transports {
    /// No transports; their callbacks will push onto `inbox`.
    pub fn new(inbox: Inbox<Input>) -> Transports {
        Transports {
            map: VecMap::new(),
            inbox,
            up: VecMap::new(),
            relayed: VecMap::new(),
            next_path: Time(0),
        }
    }

    /// Forgets (and so closes) the transport of `link`.
    pub fn remove(&mut self, link: LinkId) {
        self.map.remove(&link);
        self.up.remove(&link);
        self.relayed.remove(&link);
    }

    /// Reads the path of every WebRTC link that is up, every few seconds;
    /// each answer comes back as `Input::Path`.
    pub fn sample_due(&mut self, now: Time) {
        if now < self.next_path || self.up.is_empty() {
            return;
        }
        self.next_path = now + PATH_EVERY;
        for (link, _) in self.up.iter() {
            let Some(Transport::Rtc(rtc)) = self.map.get(link) else {
                continue;
            };
            let (link, pc, inbox) = (*link, rtc.pc(), self.inbox.clone());
            spawn_local(async move {
                let _ = inbox.push(Input::Path(link, rtc::path_relayed(&pc).await));
            });
        }
    }

    /// When the next path reading is due, while WebRTC links are up.
    pub fn next_deadline(&self) -> Option<Time> {
        (!self.up.is_empty()).then_some(self.next_path)
    }

    /// Notes what a path reading found (for a link still up).
    pub fn set_path(&mut self, link: LinkId, relayed: Option<bool>) {
        if relayed == Some(true) && self.up.contains_key(&link) {
            self.relayed.insert(link, ());
        } else if relayed == Some(false) {
            self.relayed.remove(&link);
        }
    }

    /// The peers reached over a relayed WebRTC link.
    pub fn relayed_peers(&self) -> Vec<NodeId> {
        self.relayed
            .iter()
            .filter_map(|(link, ())| self.up.get(link).copied())
            .collect()
    }

    /// Carries out one output of the session.
    pub fn apply(&mut self, out: Output) -> Applied {
        match out {
            Output::Open { link, how } => self.open(link, how),
            Output::ApplyAnswer { link, sdp } => {
                if let Some(Transport::Rtc(rtc)) = self.map.get(&link) {
                    let (pc, inbox) = (rtc.pc(), self.inbox.clone());
                    spawn_local(async move {
                        // Success needs no input: the channel's open event
                        // follows.
                        if let Err(e) = rtc::accept_answer(pc, sdp).await {
                            inbox.push_control(Input::RtcFailed(link, error_text(&e)));
                        }
                    });
                }
                Applied::Done
            }
            Output::Send { link, frame } => {
                let Some(t) = self.map.get(&link) else {
                    return Applied::Done;
                };
                match t.send(&frame) {
                    Ok(()) => Applied::Done,
                    Err(why) => {
                        if let Some(Transport::Ws(ws)) = self.map.remove(&link) {
                            ws.close(CloseCode::SlowReader);
                        }
                        Applied::Broken(link, why)
                    }
                }
            }
            Output::Close { link, code, gently } => {
                if gently {
                    if let Some(t) = self.map.get(&link) {
                        t.close_gently();
                    }
                } else if let Some(Transport::Ws(ws)) = self.map.remove(&link) {
                    // Dropping the transport closes it; a WebSocket first
                    // says why.
                    ws.close(code);
                }
                Applied::Done
            }
            Output::Event(e) => {
                if let Event::LinkUp {
                    peer,
                    link,
                    transport: Kind::WebRtc { .. },
                    ..
                } = &e
                {
                    self.up.insert(*link, peer.id);
                }
                Applied::Event(e)
            }
        }
    }

    fn open(&mut self, link: LinkId, how: Open) -> Applied {
        let inbox = self.inbox.clone();
        // Gathers a local description in the background; the result comes
        // back as an input.
        let gather = |rtc: &RtcLink, offer: Option<String>| {
            let pc = rtc.pc();
            spawn_local(async move {
                let made = match offer {
                    None => rtc::make_offer(pc).await,
                    Some(offer) => rtc::make_answer(pc, offer).await,
                };
                inbox.push_control(match made {
                    Ok(sdp) => Input::Described(link, sdp),
                    Err(e) => Input::RtcFailed(link, error_text(&e)),
                });
            });
        };
        let made = match how {
            Open::WebSocket { url } => WsLink::open(&url, link, &self.inbox).map(Transport::Ws),
            Open::Offer => RtcLink::new(link, &self.inbox).map(|rtc| {
                gather(&rtc, None);
                Transport::Rtc(rtc)
            }),
            Open::Answer { sdp } => RtcLink::new(link, &self.inbox).map(|rtc| {
                gather(&rtc, Some(sdp));
                Transport::Rtc(rtc)
            }),
        };
        match made {
            Ok(t) => {
                self.map.insert(link, t);
                Applied::Done
            }
            Err(e) => Applied::Failed(link, error_text(&e)),
        }
    }
}

/// Open links by peer, in ring order, for the view.
pub fn view_peers(session: &Session) -> Vec<(NodeId, LinkKind)> {
    session
        .peers()
        .into_iter()
        .map(|(peer, kind)| {
            let kind = match kind {
                Kind::WebSocket { .. } => LinkKind::WebSocket,
                Kind::WebRtc { .. } => LinkKind::WebRtc,
            };
            (peer.id, kind)
        })
        .collect()
}
