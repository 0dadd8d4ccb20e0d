//! The browser objects behind the session's links: what the session asks
//! for (open a WebSocket, make or answer a WebRTC offer, apply an answer,
//! send, close) done with web-sys, and the session's link events turned
//! into what the page and `window.chordphone` show.

use crate::driver::Shell;
use crate::input::{error_text, Input, LinkId};
use crate::log;
use crate::rtc::{self, RtcLink};
use crate::view::LinkKind;
use crate::ws::WsLink;
use chordphone_link::CloseCode;
use chordphone_overlay::{NodeId, Phase, Time};
use chordphone_session::{Event, Open, Output, Transport as Kind};
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

impl Shell {
    /// Open links by peer, in ring order, for the view.
    pub(crate) fn peers(&self) -> Vec<(NodeId, LinkKind)> {
        self.session
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

    /// Carries out one output of the session.
    pub(crate) fn carry_out(&mut self, out: Output, now: Time) {
        match out {
            Output::Open { link, how } => self.open(link, how, now),
            Output::ApplyAnswer { link, sdp } => {
                let Some(Transport::Rtc(rtc)) = self.transports.get(&link) else {
                    return;
                };
                let (pc, inbox) = (rtc.pc(), self.inbox.clone());
                spawn_local(async move {
                    // Success needs no input: the channel's open event follows.
                    if let Err(e) = rtc::accept_answer(pc, sdp).await {
                        inbox.push_control(Input::RtcFailed(link, error_text(&e)));
                    }
                });
            }
            Output::Send { link, frame } => {
                let Some(t) = self.transports.get(&link) else {
                    return;
                };
                if let Err(why) = t.send(&frame) {
                    if let Some(Transport::Ws(ws)) = self.transports.remove(&link) {
                        ws.close(CloseCode::SlowReader);
                    }
                    self.session.handle_closed(link, why, now);
                }
            }
            Output::Close { link, code, gently } => {
                if gently {
                    if let Some(t) = self.transports.get(&link) {
                        t.close_gently();
                    }
                } else if let Some(Transport::Ws(ws)) = self.transports.remove(&link) {
                    // Dropping the transport closes it; a WebSocket first
                    // says why.
                    ws.close(code);
                }
            }
            Output::Event(e) => self.on_session_event(e, now),
        }
    }

    fn open(&mut self, link: LinkId, how: Open, now: Time) {
        let made = match how {
            Open::WebSocket { url } => WsLink::open(&url, link, &self.inbox).map(Transport::Ws),
            Open::Offer => RtcLink::new(link, &self.inbox).map(|rtc| {
                let (pc, inbox) = (rtc.pc(), self.inbox.clone());
                spawn_local(async move {
                    let input = match rtc::make_offer(pc).await {
                        Ok(sdp) => Input::Described(link, sdp),
                        Err(e) => Input::RtcFailed(link, error_text(&e)),
                    };
                    inbox.push_control(input);
                });
                Transport::Rtc(rtc)
            }),
            Open::Answer { sdp } => RtcLink::new(link, &self.inbox).map(|rtc| {
                let (pc, inbox) = (rtc.pc(), self.inbox.clone());
                spawn_local(async move {
                    let input = match rtc::make_answer(pc, sdp).await {
                        Ok(sdp) => Input::Described(link, sdp),
                        Err(e) => Input::RtcFailed(link, error_text(&e)),
                    };
                    inbox.push_control(input);
                });
                Transport::Rtc(rtc)
            }),
        };
        match made {
            Ok(t) => {
                self.transports.insert(link, t);
            }
            Err(e) => self.session.handle_failed(link, &error_text(&e), now),
        }
    }

    fn on_session_event(&mut self, e: Event, now: Time) {
        match e {
            Event::Overlay(e) => self.on_node_event(e),
            Event::LinkUp {
                peer,
                transport,
                bootstrap,
                ..
            } => {
                log::info(&format!(
                    "link up: {} ({})",
                    log::short(&peer.id),
                    transport.name()
                ));
                if bootstrap {
                    self.server_reachable = true;
                }
                self.link_up_waiters(peer.id, now);
            }
            Event::LinkFailed { peer, reason } => {
                log::info(&format!("no link to {}: {reason}", log::short(&peer)));
                self.reject_waiters(peer, &reason.to_string());
            }
            Event::BootstrapLost { why } => {
                log::info(&format!("server link closed: {why}"));
                if self.session.node().phase() != Phase::Joined {
                    self.notice = format!("Cannot reach the server: {why}");
                }
                self.dirty = true;
            }
            Event::Misbehaved { what, .. } => {
                self.notice = format!("A peer {what}; link closed.");
            }
        }
    }
}
