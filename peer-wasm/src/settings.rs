//! The settings panel: export the person's identity as a passphrase-locked
//! text, and import one (see `user`). Results are said in the panel.

use crate::inbox::Inbox;
use crate::input::{error_text, Input, PhoneOp};
use crate::user;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{Document, Element, HtmlInputElement, HtmlTextAreaElement};

/// Wires the Export and Import buttons; nothing on a page without them.
pub fn attach(doc: &Document, inbox: &Inbox<Input>) -> Option<()> {
    let pass: HtmlInputElement = doc.get_element_by_id("id-pass")?.dyn_into().ok()?;
    let blob: HtmlTextAreaElement = doc.get_element_by_id("id-blob")?.dyn_into().ok()?;
    let status: Element = doc.get_element_by_id("id-status")?;

    let (p, b, s) = (pass.clone(), blob.clone(), status.clone());
    let export = Closure::<dyn FnMut()>::new(move || {
        let promise = match user::export(&p.value()) {
            Ok(promise) => promise,
            Err(why) => return s.set_text_content(Some(why)),
        };
        s.set_text_content(Some("Locking your identity…"));
        let (b, s) = (b.clone(), s.clone());
        spawn_local(async move {
            match JsFuture::from(promise).await {
                Ok(text) => {
                    b.set_value(&text.as_string().unwrap_or_default());
                    b.select();
                    s.set_text_content(Some("Copy this text to the other browser and import it there with the same passphrase."));
                }
                Err(e) => s.set_text_content(Some(&error_text(&e))),
            }
        });
    });
    doc.get_element_by_id("id-export")?
        .add_event_listener_with_callback("click", export.as_ref().unchecked_ref())
        .ok()?;
    export.forget();

    let inbox = inbox.clone();
    let import = Closure::<dyn FnMut()>::new(move || {
        let (text, pass, s, i) = (blob.value(), pass.value(), status.clone(), inbox.clone());
        s.set_text_content(Some("Unlocking…"));
        spawn_local(async move {
            match user::open(&text, &pass).await {
                Ok(seed) => {
                    user::replace(&seed);
                    i.push_control(Input::Phone(PhoneOp::User(seed), None));
                    s.set_text_content(Some("Done: this browser now uses the imported identity."));
                }
                Err(e) => s.set_text_content(Some(&error_text(&e))),
            }
        });
    });
    doc.get_element_by_id("id-import")?
        .add_event_listener_with_callback("click", import.as_ref().unchecked_ref())
        .ok()?;
    import.forget();
    Some(())
}
