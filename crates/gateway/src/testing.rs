//! Stand-ins for tests, fuzzing and trying the signalling against a
//! trunk: a media bridge that hands back fixed SDP and carries no audio
//! (the server never connects it: without the real bridge it refuses
//! calls to numbers instead), and a caller's user agent wired to the
//! gateway in memory.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chordphone_sip::{CallId, Config, EndReason, Event, Flow, Time, Transport, UserAgent};

use crate::b2bua::{Gateway, GatewayEvent};
use crate::media::{Media, MediaCall, MediaError, OutboundMedia};

/// What the gateway asked of a [`FixedSdp`], shared with its clones.
#[derive(Clone, Debug, Default)]
pub struct MediaLog {
    /// Each call in order: `outbound 1`, `rtp_answer 1`, `hold 1 true`, `close 1`.
    pub steps: Vec<String>,
    /// The trunks' SDP answers, in order.
    pub rtp_answers: Vec<String>,
}

/// The stand-in bridge (see the module doc). Clones share one log.
#[derive(Clone, Debug)]
pub struct FixedSdp {
    webrtc_answer: String,
    rtp_offer: String,
    log: Arc<Mutex<MediaLog>>,
}

impl FixedSdp {
    /// A stand-in answering every browser offer with `webrtc_answer` and
    /// offering `rtp_offer` to the trunk.
    pub fn new(webrtc_answer: &str, rtp_offer: &str) -> FixedSdp {
        FixedSdp {
            webrtc_answer: webrtc_answer.to_owned(),
            rtp_offer: rtp_offer.to_owned(),
            log: Arc::default(),
        }
    }

    /// What it was asked so far.
    pub fn log(&self) -> MediaLog {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn step(&self, s: String) {
        if let Ok(mut l) = self.log.lock() {
            l.steps.push(s);
        }
    }
}

impl Media for FixedSdp {
    fn outbound(
        &mut self,
        call: MediaCall,
        offer: &str,
        _: Time,
    ) -> Result<OutboundMedia, MediaError> {
        self.step(format!("outbound {}", call.0));
        if !offer.contains("m=audio") {
            return Err(MediaError::NoCommonCodec);
        }
        Ok(OutboundMedia {
            webrtc_answer: self.webrtc_answer.clone(),
            rtp_offer: self.rtp_offer.clone(),
        })
    }

    fn rtp_answer(&mut self, call: MediaCall, answer: &str, _: Time) -> Result<(), MediaError> {
        self.step(format!("rtp_answer {}", call.0));
        if let Ok(mut l) = self.log.lock() {
            l.rtp_answers.push(answer.to_owned());
        }
        Ok(())
    }

    fn inbound(&mut self, _: MediaCall, _: &str, _: Time) -> Result<String, MediaError> {
        Err(MediaError::Full)
    }

    fn webrtc_answer(&mut self, _: MediaCall, _: &str, _: Time) -> Result<String, MediaError> {
        Err(MediaError::UnknownCall)
    }

    fn hold(&mut self, call: MediaCall, on: bool, _: Time) {
        self.step(format!("hold {} {on}", call.0));
    }

    fn dtmf(&mut self, _: MediaCall, d: char, _: Time) -> Result<(), MediaError> {
        Err(MediaError::BadDigit(d))
    }

    fn close(&mut self, call: MediaCall) {
        self.step(format!("close {}", call.0));
    }
}

/// How [`Caller`] names the gateway's node, and the gateway names the caller's.
pub const GATEWAY_NODE: u32 = 1;
/// See [`GATEWAY_NODE`].
pub const CALLER_NODE: u32 = 10;

/// A caller's SIP user agent wired to a gateway's caller side in memory,
/// as a tab's is after the overlay and the gate; it keeps what both say.
#[derive(Debug)]
pub struct Caller {
    /// The caller's user agent.
    pub ua: UserAgent<u32>,
    /// The name the gate proved for the caller (`None`: none).
    pub proven: Option<String>,
    /// What the caller's user agent reported.
    pub events: Vec<Event>,
    /// What the gateway reported.
    pub gateway_events: Vec<GatewayEvent>,
}

impl Caller {
    /// A caller whose AOR is `aor`, proven as that.
    pub fn new(aor: &str, seed: u64) -> Caller {
        Caller {
            ua: UserAgent::new(Config::new(aor, aor, "caller.invalid"), seed),
            proven: Some(aor.to_owned()),
            events: Vec::new(),
            gateway_events: Vec::new(),
        }
    }

    /// Moves SIP both ways and takes both sides' events; whether anything moved.
    pub fn exchange<T: Clone + Ord + core::fmt::Debug>(
        &mut self,
        gw: &mut Gateway<u32, T>,
        now: Time,
    ) -> bool {
        let mut moved = false;
        while let Some(t) = self.ua.poll_transmit() {
            moved = true;
            gw.handle_caller(CALLER_NODE, self.proven.as_deref(), &t.bytes, now);
        }
        while let Some(t) = gw.poll_caller_transmit() {
            moved = true;
            let from = Flow::new(Transport::Overlay, GATEWAY_NODE);
            self.ua.handle_input(from, &t.bytes, now);
        }
        self.events
            .extend(core::iter::from_fn(|| self.ua.poll_event()));
        self.gateway_events
            .extend(core::iter::from_fn(|| gw.poll_event()));
        moved
    }

    /// Calls `target` (a URI, or a dialled number sent as
    /// `sip:+15551234567@chordphone`, as a tab does) offering `offer`.
    pub fn invite(&mut self, target: &str, offer: &str, now: Time) -> Option<CallId> {
        let uri = if target.contains(':') {
            target.to_owned()
        } else {
            let number = target.replace([' ', '-', '(', ')', '.'], "");
            format!("sip:{number}@chordphone")
        };
        let flow = Flow::new(Transport::Overlay, GATEWAY_NODE);
        let offer = Bytes::from(offer.to_owned());
        self.ua.invite(&uri, flow, Some(offer), now).ok()
    }

    /// How `call` ended, if it did.
    pub fn ended(&self, call: CallId) -> Option<EndReason> {
        self.events.iter().find_map(|e| match e {
            Event::Ended { call: c, reason } if *c == call => Some(reason.clone()),
            _ => None,
        })
    }

    /// The SDP answer `call` was answered with, if it was.
    pub fn answered(&self, call: CallId) -> Option<Bytes> {
        self.events.iter().find_map(|e| match e {
            Event::Answered { call: c, answer } if *c == call => answer.clone(),
            _ => None,
        })
    }

    /// The words of every call the gateway ended (`None`: hung up).
    pub fn words(&self) -> Vec<Option<&'static str>> {
        self.gateway_events
            .iter()
            .filter_map(|e| match e {
                GatewayEvent::Ended { words, .. } => Some(*words),
                _ => None,
            })
            .collect()
    }
}
