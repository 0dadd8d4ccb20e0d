//! Everything that reaches the driver task: transport events, results of
//! WebRTC's asynchronous steps, health checks, and requests from people
//! (the page) and programs (`window.chordphone`).

use crate::calls::Quality;
pub use crate::phone::PhoneOp;
use chordphone_link::MAX_LINK_FRAME;
pub use chordphone_session::LinkId;
use js_sys::{ArrayBuffer, Function, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// One input for the driver.
#[derive(Debug)]
pub enum Input {
    /// The transport is open: start the handshake.
    Opened(LinkId),
    /// One binary message, at most [`MAX_LINK_FRAME`] bytes.
    Frame(LinkId, Vec<u8>),
    /// The peer broke the link's rules (text, oversized frame).
    Bad(LinkId, &'static str),
    /// The transport closed or failed.
    Closed(LinkId, String),
    /// A WebSocket broke off without a close frame from the server (the
    /// server died or the network went): handled as `Closed`, and the
    /// server counts as unreachable until a health check says otherwise.
    Lost(LinkId, String),
    /// Our offer or answer, with every ICE candidate, is ready to send.
    Described(LinkId, String),
    /// A WebRTC step failed.
    RtcFailed(LinkId, String),
    /// Outcome of a `/healthz` check.
    Health(Option<String>),
    /// The person chose a name and joins.
    Join(String),
    /// The person looked a name up on the page.
    PageLookup(String),
    /// The page became visible again: draw it.
    Redraw,
    /// A `window.chordphone` call.
    Api(Op, Reply),
    /// A phone request, from the page (no Promise) or the API.
    Phone(PhoneOp, Option<Reply>),
    /// A media step of a call ended: the SDP made, nothing, or why not.
    Media(u32, Result<Option<String>, String>),
    /// A call's media figures.
    Quality(u32, Quality),
    /// Whether a WebRTC link's selected path is relayed (`None`: none
    /// selected yet).
    Path(LinkId, Option<bool>),
    /// The relay settings need relays offered in the overlay: read
    /// `service:relay` and settle with their `/ice` URLs, nearest first.
    FindRelays(Reply),
}

/// A `window.chordphone` request.
#[derive(Debug)]
pub enum Op {
    /// `lookup(key)`.
    Lookup(String),
    /// `put(key, value)`.
    Put(String, String),
    /// `get(key)`.
    Get(String),
    /// `link(idHex)`.
    Link(String),
    /// `note(idHex, text, service)`: a note (or bytes for another service).
    Note {
        /// The node, 40 hex digits.
        to: String,
        /// What to say.
        text: String,
        /// The service number ([`crate::notes::NOTE_SERVICE`] if not given).
        service: u16,
    },
}

/// The two ends of a JS Promise.
#[derive(Debug)]
pub struct Reply {
    /// Fulfils the promise.
    pub resolve: Function,
    /// Rejects the promise.
    pub reject: Function,
}

impl Reply {
    /// Fulfils with `value`.
    pub fn ok(self, value: &JsValue) {
        let _ = self.resolve.call1(&JsValue::NULL, value);
    }

    /// Rejects with an `Error` carrying `message`.
    pub fn err(self, message: &str) {
        let e = js_sys::Error::new(message);
        let _ = self.reject.call1(&JsValue::NULL, &e);
    }
}

/// The input for a message event: a frame, or why the message is refused.
/// The size is checked before anything is copied.
pub fn message_input(link: LinkId, data: JsValue) -> Input {
    match data.dyn_into::<ArrayBuffer>() {
        Ok(buf) => {
            let len = buf.byte_length() as usize;
            if len > MAX_LINK_FRAME {
                Input::Bad(link, "frame too large")
            } else if len == 0 {
                Input::Bad(link, "empty frame")
            } else {
                Input::Frame(link, Uint8Array::new(&buf).to_vec())
            }
        }
        Err(_) => Input::Bad(link, "text message on a binary link"),
    }
}

/// A readable text for a JS error value.
pub fn error_text(e: &JsValue) -> String {
    if let Some(s) = e.as_string() {
        return s;
    }
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    "unknown error".to_owned()
}
