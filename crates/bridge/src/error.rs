//! Why the bridge refused a request of the gateway.

use crate::sdp::SdpError;

/// A media request the bridge could not carry out; the text is for the person.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// No call with this id (never opened, or closed).
    #[error("no media for this call")]
    UnknownCall,
    /// A call with this id already has media.
    #[error("this call already has media")]
    DuplicateCall,
    /// The configured number of calls is reached.
    #[error("the media bridge is full ({0} calls)")]
    TooManyCalls(usize),
    /// The configured port range has no free ports left.
    #[error("the media bridge has no free UDP ports")]
    NoPorts,
    /// The browser's SDP could not be read or used.
    #[error("the browser's session description could not be used: {0}")]
    BrowserSdp(String),
    /// The browser offered neither PCMU nor PCMA.
    #[error("the browser's offer has no audio we can pass to the trunk (PCMU or PCMA)")]
    BrowserCodec,
    /// The trunk's SDP could not be read.
    #[error("the trunk's session description could not be used: {0}")]
    TrunkSdp(#[from] SdpError),
    /// The trunk offered or answered no codec the browser side has.
    #[error("the trunk's audio is neither PCMU nor PCMA, or not the codec offered")]
    TrunkCodec,
    /// The request does not fit the call's state (e.g. an answer before an offer).
    #[error("the call's media is not waiting for this ({0})")]
    WrongState(&'static str),
    /// Not a dial-pad key.
    #[error("{0:?} is not a key of the dial pad")]
    BadDigit(char),
    /// Too many digits are waiting to be sent.
    #[error("too many digits are waiting to be sent")]
    DtmfBusy,
    /// The WebRTC stack refused the operation.
    #[error("the browser's media connection failed: {0}")]
    WebRtc(String),
}
