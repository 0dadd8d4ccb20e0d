//! Duplicated tabs. "Duplicate tab" copies `sessionStorage`, and with it the
//! identity seed: the copy would start as a second node with the same id as
//! the tab it came from, and two nodes claiming one id break the ring (the
//! server takes each new connection for a reconnect and closes the other,
//! back and forth). So every tab answers, on a `BroadcastChannel` of its
//! origin, for the node id it runs, and a tab that starts with a stored
//! seed asks first and takes a fresh identity if another tab answers.

use chordphone_overlay::NodeId;
use js_sys::{Function, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

/// The channel every tab of the origin listens on.
const CHANNEL: &str = "chordphone.nodes";
/// How long a starting tab waits for an answer. Tabs answer from their
/// event loop at once; a busy one may take a while, a closed one never.
const ASK_WAIT_MS: i32 = 150;

fn question(id: &NodeId) -> String {
    format!("who runs {}", id.to_hex())
}

fn answer(id: &NodeId) -> String {
    format!("I run {}", id.to_hex())
}

/// This tab's claim on its node id: answers other tabs that ask, for as
/// long as it lives.
#[derive(Debug)]
pub struct Claim {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}

/// Starts answering for `id`. None where the browser has no
/// `BroadcastChannel` (then duplicates go undetected).
pub fn claim(id: &NodeId) -> Option<Claim> {
    let channel = BroadcastChannel::new(CHANNEL).ok()?;
    let (asked, reply) = (question(id), JsValue::from_str(&answer(id)));
    let ch = channel.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if ev.data().as_string().as_deref() == Some(asked.as_str()) {
            let _ = ch.post_message(&reply);
        }
    });
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    Some(Claim {
        channel,
        _on_message: on_message,
    })
}

/// Whether another tab of this origin runs node `id`: asks, and waits
/// briefly for an answer.
pub async fn taken(id: &NodeId) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let Ok(channel) = BroadcastChannel::new(CHANNEL) else {
        return false;
    };
    let slot: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
    let settle = |slot: &Rc<RefCell<Option<Function>>>, value: bool| {
        if let Some(resolve) = slot.borrow_mut().take() {
            let _ = resolve.call1(&JsValue::NULL, &JsValue::from_bool(value));
        }
    };
    let s = Rc::clone(&slot);
    let promise = Promise::new(&mut |resolve, _| *s.borrow_mut() = Some(resolve));
    let (s, expected) = (Rc::clone(&slot), answer(id));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if ev.data().as_string().as_deref() == Some(expected.as_str()) {
            settle(&s, true);
        }
    });
    let s = Rc::clone(&slot);
    let on_timer = Closure::<dyn FnMut()>::new(move || settle(&s, false));
    channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    let timer = window
        .set_timeout_with_callback_and_timeout_and_arguments_0(
            on_timer.as_ref().unchecked_ref(),
            ASK_WAIT_MS,
        )
        .ok();
    let asked = channel.post_message(&JsValue::from_str(&question(id)));
    let found = if asked.is_ok() && timer.is_some() {
        JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    } else {
        false
    };
    // Neither callback may run once its closure is gone.
    if let Some(t) = timer {
        window.clear_timeout_with_handle(t);
    }
    channel.set_onmessage(None);
    channel.close();
    drop((on_message, on_timer));
    found
}
