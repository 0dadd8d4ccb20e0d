//! The ICE servers of every new peer connection (overlay links and calls):
//! TURN credentials fetched from the bootstrap server's `/ice`, renewed
//! when the server says, and the relay-only test setting.
//!
//! A server that names no relay (its own is switched off) does not leave
//! the tab without one: the tab reads the relays offered in the overlay
//! (`service:relay`, through the driver) and fetches credentials from the
//! `/ice` of up to [`MAX_RELAY_TRIES`](crate::relay::MAX_RELAY_TRIES) of them, one after the other, each
//! answer checked like the own server's. They are renewed with the rest.
//!
//! A server that does not answer stops nothing: the tab goes on with host
//! candidates only and asks again with back-off. What the server sends is
//! checked and bounded before it reaches `RTCPeerConnection`, whose
//! constructor throws on a malformed server list.

use crate::inbox::Inbox;
use crate::input::{Input, Reply};
use crate::log;
use crate::relay::{
    is_turn, lookup_retry_after, refusal_text, relays_to_ask, renew_after, retry_after,
};
use core::time::Duration;
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    AbortSignal, RequestInit, Response, RtcConfiguration, RtcIceTransportPolicy, RtcPeerConnection,
};

/// A fetch that has not answered after this long failed.
const TIMEOUT_MS: u32 = 5000;
/// At most this many ICE servers, URLs per server, and characters per
/// string are taken from an answer.
const MAX_SERVERS: u32 = 4;
const MAX_URLS: u32 = 4;
const MAX_TEXT: usize = 512;

#[wasm_bindgen(inline_js = r#"
let last = null;
export function watch(pc) {
  pc.addEventListener("icecandidateerror", (e) => {
    if (/^turns?:/.test(e.url || "")) last = [e.errorCode | 0, String(e.errorText || "").slice(0, 80)];
  });
}
export function refused() { return last; }
export function forget() { last = null; }
"#)]
extern "C" {
    /// Notes the TURN errors a peer connection meets while gathering.
    fn watch(pc: &RtcPeerConnection);
    /// The last TURN error as `[code, text]`, or `null`.
    fn refused() -> JsValue;
    /// Forgets it (new credentials came).
    fn forget();
}

/// Starts noting the relay's refusals on a new peer connection.
pub fn watch_refusals(pc: &RtcPeerConnection) {
    watch(pc);
}

/// Why the relay refused this tab, in words, if it did since the last
/// credentials came.
pub fn refusal() -> Option<String> {
    let last = refused();
    let code = Reflect::get(&last, &0.into()).ok()?.as_f64()?;
    let text = Reflect::get(&last, &1.into())
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
    refusal_text(code as u16, &text)
}

/// What every new peer connection is made with.
#[derive(Default)]
struct Settings {
    /// The checked `iceServers` list, once fetched.
    servers: Option<Array>,
    relay_only: bool,
}

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

/// The configuration for a new peer connection.
pub fn configuration() -> RtcConfiguration {
    let config = RtcConfiguration::new();
    SETTINGS.with(|s| {
        let s = s.borrow();
        config.set_ice_servers(&s.servers.clone().unwrap_or_default());
        if s.relay_only {
            config.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
        }
    });
    config
}

/// Keeps the relay settings fresh from `url` (the server's `/ice`) for the
/// life of the tab, with relays found through `inbox` (the driver) when
/// the server names none; `relay_only` forces relayed candidates.
pub fn start(url: Option<String>, relay_only: bool, inbox: Inbox<Input>) {
    SETTINGS.with(|s| s.borrow_mut().relay_only = relay_only);
    if relay_only {
        log::info("relay only: every peer connection uses relayed candidates");
    }
    let Some(url) = url else {
        log::info("no relay settings (no server URL); host candidates only");
        return;
    };
    let peer = url.split_once('?').map_or("", |(_, q)| q).to_owned();
    spawn_local(async move {
        let (mut failures, mut misses) = (0u32, 0u32);
        loop {
            let (mut servers, mut wait) = match fetch(&url).await {
                Ok((servers, renew)) => {
                    failures = 0;
                    (Some(servers), renew)
                }
                Err(why) => {
                    failures = failures.saturating_add(1);
                    let wait = retry_after(failures);
                    log::info(&format!(
                        "relay settings unavailable ({why}); retrying in {} s",
                        wait.as_secs()
                    ));
                    (None, wait)
                }
            };
            if !servers.as_ref().is_some_and(has_turn) {
                match offered(&inbox, &url, &peer).await {
                    Ok((found, renew)) => {
                        misses = 0;
                        wait = wait.min(renew);
                        let all = servers.unwrap_or_default();
                        for s in found.iter().take(MAX_SERVERS as usize) {
                            all.push(&s);
                        }
                        servers = Some(all);
                    }
                    Err(why) => {
                        // Not joined yet, or no relay offered: ask again
                        // soon, then less and less often.
                        misses = misses.saturating_add(1);
                        wait = wait.min(lookup_retry_after(misses));
                        log::info(&format!("no relay found in the overlay ({why})"));
                    }
                }
            }
            // Settings fetched before stay until a fetch succeeds: they are
            // good until they expire, and relays refuse expired ones.
            if let Some(servers) = servers {
                log::info(&format!(
                    "relay settings: {} ICE server(s), renewed in {} s",
                    servers.length(),
                    wait.as_secs()
                ));
                SETTINGS.with(|s| s.borrow_mut().servers = Some(servers));
                forget();
            }
            if sleep(wait).await.is_err() {
                return;
            }
        }
    });
}

/// Whether a checked server list names a relay.
fn has_turn(servers: &Array) -> bool {
    servers.iter().any(|s| {
        let urls = get(&s, "urls");
        Array::from(&urls)
            .iter()
            .any(|u| u.as_string().is_some_and(|u| is_turn(&u)))
    })
}

/// Credentials from a relay offered in the overlay: reads `service:relay`
/// through the driver, then asks the offered `/ice` URLs in turn (not the
/// own server's `own`), naming this tab by `peer` (`peer=<id>`).
async fn offered(inbox: &Inbox<Input>, own: &str, peer: &str) -> Result<(Array, Duration), String> {
    let mut reply = None;
    let read = Promise::new(&mut |resolve, reject| reply = Some(Reply { resolve, reject }));
    let reply = reply.ok_or("no promise")?;
    inbox.push_control(Input::FindRelays(reply));
    let urls: Vec<String> = JsFuture::from(read)
        .await
        .map_err(|e| crate::input::error_text(&e))?
        .dyn_into::<Array>()
        .map_err(|_| "not a list".to_owned())?
        .iter()
        .filter_map(|u| u.as_string())
        .collect();
    let mut last = "none offered".to_owned();
    for base in relays_to_ask(&urls, own) {
        match fetch(&format!("{base}?{peer}")).await {
            Ok((servers, renew)) if has_turn(&servers) => {
                log::info(&format!("relay found in the overlay: {base}"));
                return Ok((servers, renew));
            }
            Ok(_) => last = format!("{base} names no relay"),
            Err(why) => last = format!("{base}: {why}"),
        }
    }
    Err(last)
}

/// Resolves after `wait`.
async fn sleep(wait: Duration) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    let mut armed = Ok(0);
    let done = Promise::new(&mut |resolve, _| {
        armed = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    armed?;
    JsFuture::from(done).await.map(|_| ())
}

/// One fetch of `/ice`: the checked servers and when to renew them.
async fn fetch(url: &str) -> Result<(Array, Duration), String> {
    let window = web_sys::window().ok_or("no window")?;
    let init = RequestInit::new();
    init.set_signal(Some(&AbortSignal::timeout_with_u32(TIMEOUT_MS)));
    let resp: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| "the server did not answer".to_owned())?
        .dyn_into()
        .map_err(|_| "not a response".to_owned())?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let body = JsFuture::from(resp.json().map_err(|_| "no body")?)
        .await
        .map_err(|_| "not JSON".to_owned())?;
    let list = get(&body, "iceServers")
        .dyn_into::<Array>()
        .map_err(|_| "no iceServers list".to_owned())?;
    let servers: Array = list
        .iter()
        .take(MAX_SERVERS as usize)
        .filter_map(|s| checked_server(&s))
        .collect();
    Ok((servers, renew_after(get(&body, "renewAfter").as_f64())))
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// A short string, else `None`.
fn text(v: &JsValue) -> Option<String> {
    v.as_string().filter(|s| s.len() <= MAX_TEXT)
}

/// A TURN or STUN URL the browser accepts the scheme of.
fn ice_url(v: &JsValue) -> Option<String> {
    text(v).filter(|u| {
        ["turn:", "turns:", "stun:", "stuns:"]
            .iter()
            .any(|p| u.starts_with(p))
    })
}

/// `{urls, username, credential}` rebuilt from what was sent, with only
/// well-formed parts; `None` if nothing usable is left.
fn checked_server(s: &JsValue) -> Option<JsValue> {
    let urls = get(s, "urls");
    let urls: Array = match urls.dyn_into::<Array>() {
        Ok(list) => list
            .iter()
            .take(MAX_URLS as usize)
            .filter_map(|u| ice_url(&u))
            .map(|u| JsValue::from_str(&u))
            .collect(),
        Err(one) => ice_url(&one)
            .map(|u| JsValue::from_str(&u))
            .into_iter()
            .collect(),
    };
    if urls.length() == 0 {
        return None;
    }
    let out = Object::new();
    Reflect::set(&out, &"urls".into(), &urls).ok()?;
    // TURN needs both; a STUN-only entry has neither.
    if let (Some(user), Some(pass)) = (text(&get(s, "username")), text(&get(s, "credential"))) {
        Reflect::set(&out, &"username".into(), &user.into()).ok()?;
        Reflect::set(&out, &"credential".into(), &pass.into()).ok()?;
    }
    Some(out.into())
}
