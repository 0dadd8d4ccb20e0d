//! The bridge as the gateway's `Media`: each method forwards to the
//! inherent one of the same name; errors become the gateway's kinds, with
//! the bridge's own words kept where they say more.

use crate::bridge::Bridge;
use crate::error::MediaError;
use chordphone_gateway::{Media, MediaCall, OutboundMedia};
use chordphone_sip::Time;

type GatewayError = chordphone_gateway::MediaError;

impl From<MediaError> for GatewayError {
    fn from(e: MediaError) -> GatewayError {
        match e {
            MediaError::UnknownCall => GatewayError::UnknownCall,
            MediaError::BadDigit(d) => GatewayError::BadDigit(d),
            MediaError::BrowserCodec | MediaError::TrunkCodec => GatewayError::NoCommonCodec,
            MediaError::TooManyCalls(_) | MediaError::NoPorts | MediaError::DuplicateCall => {
                GatewayError::Full
            }
            other => GatewayError::BadSdp(other.to_string()),
        }
    }
}

impl Media for Bridge {
    fn outbound(
        &mut self,
        call: MediaCall,
        webrtc_offer: &str,
        now: Time,
    ) -> Result<OutboundMedia, GatewayError> {
        Ok(Bridge::outbound(self, call, webrtc_offer, now)?)
    }

    fn rtp_answer(
        &mut self,
        call: MediaCall,
        rtp_answer: &str,
        now: Time,
    ) -> Result<(), GatewayError> {
        Ok(Bridge::rtp_answer(self, call, rtp_answer, now)?)
    }

    fn inbound(
        &mut self,
        call: MediaCall,
        rtp_offer: &str,
        now: Time,
    ) -> Result<String, GatewayError> {
        Ok(Bridge::inbound(self, call, rtp_offer, now)?)
    }

    fn webrtc_answer(
        &mut self,
        call: MediaCall,
        webrtc_answer: &str,
        now: Time,
    ) -> Result<String, GatewayError> {
        Ok(Bridge::webrtc_answer(self, call, webrtc_answer, now)?)
    }

    fn hold(&mut self, call: MediaCall, on: bool, now: Time) {
        Bridge::hold(self, call, on, now);
    }

    fn dtmf(&mut self, call: MediaCall, digit: char, now: Time) -> Result<(), GatewayError> {
        Ok(Bridge::dtmf(self, call, digit, now)?)
    }

    fn close(&mut self, call: MediaCall) {
        Bridge::close(self, call);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_kind_for_the_gateway() {
        assert_eq!(GatewayError::from(MediaError::NoPorts), GatewayError::Full);
        assert_eq!(
            GatewayError::from(MediaError::BrowserCodec),
            GatewayError::NoCommonCodec
        );
        assert_eq!(
            GatewayError::from(MediaError::BadDigit('x')),
            GatewayError::BadDigit('x')
        );
        let why = GatewayError::from(MediaError::WrongState("no offer"));
        assert!(matches!(why, GatewayError::BadSdp(w) if w.contains("no offer")));
    }
}
