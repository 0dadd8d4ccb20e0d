//! The gateway's view of media: the bridge (WebRTC towards the tab, plain
//! RTP towards the trunk) behind one trait. The gateway never touches a
//! media byte; it hands SDP to the bridge and carries what comes back.

use chordphone_sip::Time;

/// The gateway's call id (opaque to the bridge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MediaCall(pub u64);

/// What the bridge answers to a browser's offer for an outgoing call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMedia {
    /// The WebRTC answer for the browser (sent with the first 183 or 200).
    pub webrtc_answer: String,
    /// The plain-RTP SDP offer for the trunk's INVITE.
    pub rtp_offer: String,
}

/// Why the bridge could not set up a call's media.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The browser's offer has no codec the trunk can take as is.
    #[error("the browser's offer has no audio we can pass to the trunk (PCMU or PCMA)")]
    NoCommonCodec,
    /// An SDP that does not parse or lacks what is needed.
    #[error("the session description is not usable: {0}")]
    BadSdp(String),
    /// No port or table room left for another call.
    #[error("the media bridge has no room for another call")]
    Full,
    /// The call is not known to the bridge.
    #[error("the media bridge does not know this call")]
    UnknownCall,
    /// A digit that RFC 4733 cannot carry.
    #[error("not a DTMF digit: {0:?}")]
    BadDigit(char),
}

/// The media bridge, as the gateway drives it (see the crate doc of
/// `chordphone-bridge` for its own IO side).
pub trait Media {
    /// A browser called out: its WebRTC offer. Returns the WebRTC answer
    /// and the plain-RTP SDP offer to send to the trunk.
    fn outbound(
        &mut self,
        call: MediaCall,
        webrtc_offer: &str,
        now: Time,
    ) -> Result<OutboundMedia, MediaError>;
    /// The trunk's SDP answer (from 183 or 200) to that offer.
    fn rtp_answer(
        &mut self,
        call: MediaCall,
        rtp_answer: &str,
        now: Time,
    ) -> Result<(), MediaError>;
    /// A trunk called in (a DID): its RTP offer. Returns the WebRTC offer
    /// to send to the user's tabs.
    fn inbound(
        &mut self,
        call: MediaCall,
        rtp_offer: &str,
        now: Time,
    ) -> Result<String, MediaError>;
    /// The answering tab's WebRTC answer. Returns the RTP SDP answer for
    /// the trunk's 200.
    fn webrtc_answer(
        &mut self,
        call: MediaCall,
        webrtc_answer: &str,
        now: Time,
    ) -> Result<String, MediaError>;
    /// Hold (true) / resume (false) from either side.
    fn hold(&mut self, call: MediaCall, on: bool, now: Time);
    /// A DTMF digit (0-9, *, #, A-D) to send towards the trunk as RFC 4733.
    fn dtmf(&mut self, call: MediaCall, digit: char, now: Time) -> Result<(), MediaError>;
    /// The call ended: free its ports and state.
    fn close(&mut self, call: MediaCall);
}
