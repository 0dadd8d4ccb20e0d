//! A stand-in for the media bridge, for tests, fuzzing and trying the
//! signalling against a trunk: it hands back fixed SDP and carries no
//! audio. The server never connects it: without the real bridge it
//! refuses calls to numbers instead.

use std::sync::{Arc, Mutex};

use chordphone_sip::Time;

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
