//! Is the server there? A `/healthz` fetch every few seconds tells, without
//! reconnecting the WebSocket in a loop while the ring lives on without it.
//! The answer names the server's run (`instance`): a change means the
//! server restarted, perhaps between two checks.

use crate::inbox::Inbox;
use crate::input::Input;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortSignal, RequestInit, Response};

/// A check that has not answered after this long counts as a failure.
const TIMEOUT_MS: u32 = 3000;
/// Longest instance string kept (the server sends a hex number).
const MAX_INSTANCE: usize = 32;

/// Starts one check; its outcome arrives as `Input::Health`: `None` when
/// the server did not answer, else its instance (empty if it named none).
pub fn check(url: &str, inbox: &Inbox<Input>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let init = RequestInit::new();
    init.set_signal(Some(&AbortSignal::timeout_with_u32(TIMEOUT_MS)));
    let promise = window.fetch_with_str_and_init(url, &init);
    let inbox = inbox.clone();
    spawn_local(async move {
        let outcome = match JsFuture::from(promise).await {
            Ok(resp) => Some(instance_of(resp).await),
            Err(_) => None,
        };
        inbox.push_control(Input::Health(outcome));
    });
}

/// The `instance` field of a health answer; empty when there is none or
/// the answer is not the JSON expected (the server still answered).
async fn instance_of(resp: wasm_bindgen::JsValue) -> String {
    let Ok(resp) = resp.dyn_into::<Response>() else {
        return String::new();
    };
    let Ok(json) = resp.json() else {
        return String::new();
    };
    let Ok(body) = JsFuture::from(json).await else {
        return String::new();
    };
    js_sys::Reflect::get(&body, &"instance".into())
        .ok()
        .and_then(|v| v.as_string())
        .filter(|s| s.len() <= MAX_INSTANCE)
        .unwrap_or_default()
}
