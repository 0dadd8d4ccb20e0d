//! A link over WebSocket (to a server). The callbacks only turn browser
//! events into inputs; the driver decides what they mean.

use crate::inbox::Inbox;
use crate::input::{message_input, Input, LinkId};
use chordphone_link::CloseCode;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

/// A peer that lets this much pile up unsent is not keeping up.
pub const MAX_BUFFERED: u32 = 4 << 20;

/// An open (or opening) WebSocket and the callbacks that feed the inbox.
#[derive(Debug)]
pub struct WsLink {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl WsLink {
    /// Starts connecting to `url`.
    pub fn open(url: &str, link: LinkId, inbox: &Inbox<Input>) -> Result<WsLink, JsValue> {
        let ws = WebSocket::new(url)?;
        ws.set_binary_type(BinaryType::Arraybuffer);

        let i = inbox.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || i.push_control(Input::Opened(link)));
        let i = inbox.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            // A full inbox drops the frame (counted): the overlay retries.
            let _ = i.push(message_input(link, ev.data()));
        });
        let i = inbox.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |ev: CloseEvent| {
            i.push_control(match CloseCode::from_code(ev.code()) {
                Some(c) => Input::Closed(link, format!("server closed the link: {}", c.reason())),
                None => Input::Lost(link, format!("connection closed (code {})", ev.code())),
            });
        });
        let i = inbox.clone();
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            i.push_control(Input::Lost(link, "connection failed".to_owned()));
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        ws.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(WsLink {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        })
    }

    /// Sends one frame; an error means the link is no good any more.
    pub fn send(&self, frame: &[u8]) -> Result<(), &'static str> {
        if self.ws.buffered_amount() > MAX_BUFFERED {
            return Err("peer not reading");
        }
        self.ws.send_with_u8_array(frame).map_err(|_| "send failed")
    }

    /// Closes with a code the other side can read.
    pub fn close(&self, code: CloseCode) {
        let _ = self
            .ws
            .close_with_code_and_reason(code.code(), code.reason());
    }
}

impl Drop for WsLink {
    fn drop(&mut self) {
        // The closures die with this value: the socket must not call them
        // afterwards.
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}
