//! Is the server there? A `/healthz` fetch every few seconds tells, without
//! reconnecting the WebSocket in a loop while the ring lives on without it.

use crate::inbox::Inbox;
use crate::input::Input;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortSignal, RequestInit, RequestMode};

/// A check that has not answered after this long counts as a failure.
const TIMEOUT_MS: u32 = 3000;

/// Starts one check; its outcome arrives as `Input::Health`.
pub fn check(url: &str, inbox: &Inbox<Input>) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let init = RequestInit::new();
    // An opaque answer is enough: any HTTP answer means the server is up,
    // and `no-cors` works when `?server=` names another origin.
    init.set_mode(RequestMode::NoCors);
    init.set_signal(Some(&AbortSignal::timeout_with_u32(TIMEOUT_MS)));
    let promise = window.fetch_with_str_and_init(url, &init);
    let inbox = inbox.clone();
    spawn_local(async move {
        let ok = JsFuture::from(promise).await.is_ok();
        inbox.push_control(Input::Health(ok));
    });
}
