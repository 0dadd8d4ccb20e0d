//! The chordphone browser peer: a chordphone session (the overlay node and
//! its links) driven from a browser tab, links over WebSocket (to servers)
//! and WebRTC data channels (to other tabs).
//!
//! One task owns the [`Session`](chordphone_session::Session). Browser
//! callbacks only queue inputs and wake it; the task runs:
//!
//! ```text
//! loop {
//!     batch = inbox.next().await            // inputs, or the one timer fired
//!     for input in batch {
//!         now = performance.timeOrigin + performance.now()   // always fresh
//!         hand it to the session: handle_opened / handle_frame /
//!             handle_closed / handle_description / handle_failed / join /
//!             node_mut().lookup / connect ...
//!         drain:  Open        -> new WebSocket or RTCPeerConnection
//!                 ApplyAnswer -> setRemoteDescription
//!                 Send        -> send on the link's transport
//!                 Close       -> close it
//!                 Event       -> settle a Promise, update the page
//!     }
//!     session.handle_timeout(now) if due, then drain
//!     publish the snapshot (status(), the page)
//!     setTimeout at min(session.poll_timeout(), shell deadlines)
//! }
//! ```
//!
//! Modules, one job each: [`inbox`] (bounded queue), `driver` (the loop),
//! `links` (the browser objects behind the session's links), `requests`
//! (lookup/put/get/link/send), [`notes`] (text notes over the application
//! channel), `ws` and `rtc` (the two transports), `ice` (their
//! relay settings, timed by [`relay`]), `health` (is the server there), `api` (`window.chordphone`), `page` and [`ui`] (what
//! the person sees), `clock`, `storage` (identity in `sessionStorage`),
//! `user` (the person's key, shared by the tabs, and moving it), `phone`
//! (the phone core wired to the node), `media` (the calls' WebRTC media),
//! [`calls`] (what the phone screens show), `screens` and `contacts_panel`
//! (the phone's screens, the contacts with their presence),
//! `log` (link life in the console), [`urls`], [`view`]. The platform-free
//! modules build and test natively.

pub mod calls;
pub mod inbox;
pub mod notes;
pub mod relay;
pub mod ui;
pub mod urls;
pub mod view;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod clock;
#[cfg(target_arch = "wasm32")]
mod contacts_panel;
#[cfg(target_arch = "wasm32")]
mod driver;
#[cfg(target_arch = "wasm32")]
mod health;
#[cfg(target_arch = "wasm32")]
mod ice;
#[cfg(target_arch = "wasm32")]
mod input;
#[cfg(target_arch = "wasm32")]
mod links;
#[cfg(target_arch = "wasm32")]
mod log;
#[cfg(target_arch = "wasm32")]
mod media;
#[cfg(target_arch = "wasm32")]
mod page;
#[cfg(target_arch = "wasm32")]
mod phone;
#[cfg(target_arch = "wasm32")]
mod requests;
#[cfg(target_arch = "wasm32")]
mod rtc;
#[cfg(target_arch = "wasm32")]
mod screens;
#[cfg(target_arch = "wasm32")]
mod settings;
#[cfg(target_arch = "wasm32")]
mod storage;
#[cfg(target_arch = "wasm32")]
mod twin;
#[cfg(target_arch = "wasm32")]
mod user;
#[cfg(target_arch = "wasm32")]
mod ws;

#[cfg(target_arch = "wasm32")]
mod start {
    use crate::calls::Calls;
    use crate::inbox::Inbox;
    use crate::input::{Input, PhoneOp};
    use crate::notes::Notes;
    use crate::view::View;
    use crate::{api, clock, driver, ice, log, page, relay, storage, twin, urls, user};
    use chordphone_overlay::Identity;
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;

    /// Entry point: starts the tab's boot in the background.
    #[wasm_bindgen(start)]
    pub fn start() -> Result<(), JsValue> {
        wasm_bindgen_futures::spawn_local(async {
            if let Err(e) = boot().await {
                web_sys::console::error_2(&JsValue::from_str("chordphone: start failed:"), &e);
            }
        });
        Ok(())
    }

    /// Picks the identity (a fresh one if another tab runs the stored one),
    /// builds the node, installs the API and runs the task.
    async fn boot() -> Result<(), JsValue> {
        let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let location = window.location();
        let params = web_sys::UrlSearchParams::new_with_str(&location.search()?)?;
        let server_url = urls::server_url(
            &location.protocol()?,
            &location.host()?,
            params.get("server").as_deref(),
        );

        // A stored seed comes from a reload, or from the tab this one was
        // duplicated from; only the second is another tab's node.
        let seed = match storage::stored_seed() {
            Some(seed) if !twin::taken(&Identity::from_seed(seed).node_id()).await => seed,
            Some(_) => {
                log::info("another tab runs this node; this tab takes a fresh identity");
                storage::fresh_seed()?
            }
            None => storage::fresh_seed()?,
        };
        let identity = Identity::from_seed(seed);
        let claim = twin::claim(&identity.node_id());
        log::set_me(&identity.node_id());
        let seed = storage::random_bytes::<32>()?;
        let inbox: Inbox<Input> = Inbox::default();
        ice::start(
            urls::ice_url(&server_url, &identity.node_id().to_hex()),
            relay::relay_only(params.get("relay").as_deref()),
            inbox.clone(),
        );
        let view = Rc::new(RefCell::new(View::new(identity.node_id())));
        let notes = Rc::new(RefCell::new(Notes::default()));
        let calls = Rc::new(RefCell::new(Calls::default()));
        api::install(&inbox, &view, &notes, &calls)?;
        let page = page::Page::attach(&inbox);
        user::follow(&inbox);
        let shell = driver::Shell::new(
            (identity, user::seed()?, seed),
            server_url,
            inbox.clone(),
            (view, notes, calls),
            page,
            clock::now(),
        );
        // `?name=` joins at once; otherwise a reload rejoins under the name
        // this tab used before.
        if let Some(name) = params.get("name").or_else(storage::saved_name) {
            inbox.push_control(Input::Join(name));
        }
        // A reload registers again under the phone name this tab had.
        if let Some(name) = storage::saved_phone_name() {
            inbox.push_control(Input::Phone(PhoneOp::Register(name), None));
        }
        shell.run().await;
        drop(claim);
        Ok(())
    }
}
