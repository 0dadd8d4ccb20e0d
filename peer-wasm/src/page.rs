//! The page: the join form, the state line, the ring picture and the lookup
//! box, with the phone's screens (`screens`) and settings (`settings`). The page's elements are in `web/index.html`; this module finds them,
//! forwards what the person does to the driver, and redraws from the view.
//! Names and keys are always set as text, never as markup.

use crate::calls::Calls;
use crate::contacts_panel::ContactsPanel;
use crate::inbox::Inbox;
use crate::input::Input;
use crate::screens::Screens;
use crate::settings;
use crate::ui::{ring_summary, ring_svg};
use crate::view::{LinkKind, View};
use chordphone_overlay::Time;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event, HtmlElement, HtmlInputElement};

/// The elements the driver updates.
#[derive(Debug)]
pub struct Page {
    state: Element,
    who: Element,
    join_form: HtmlElement,
    ring: Element,
    picture: Element,
    caption: Element,
    lookup_form: HtmlElement,
    lookup_result: Element,
    notice: Element,
    /// The phone's screens.
    screens: Option<Screens>,
    /// The contacts beside the dialer.
    contacts: Option<ContactsPanel>,
}

fn by_id(doc: &Document, id: &str) -> Option<Element> {
    doc.get_element_by_id(id)
}

/// Calls `make` with the trimmed text of `input` when `form` is submitted.
fn on_submit(
    form: &HtmlElement,
    input: HtmlInputElement,
    inbox: &Inbox<Input>,
    make: fn(String) -> Input,
) {
    let inbox = inbox.clone();
    let f = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
        ev.prevent_default();
        let _ = inbox.push(make(input.value().trim().to_owned()));
    });
    let _ = form.add_event_listener_with_callback("submit", f.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    f.forget();
}

impl Page {
    /// Finds the page's elements and wires its forms; `None` on a page
    /// without them (the API works all the same).
    pub fn attach(inbox: &Inbox<Input>) -> Option<Page> {
        let doc = web_sys::window()?.document()?;
        let join_form: HtmlElement = by_id(&doc, "join-form")?.dyn_into().ok()?;
        let name: HtmlInputElement = by_id(&doc, "name")?.dyn_into().ok()?;
        let lookup_form: HtmlElement = by_id(&doc, "lookup-form")?.dyn_into().ok()?;
        let key: HtmlInputElement = by_id(&doc, "key")?.dyn_into().ok()?;
        on_submit(&join_form, name, inbox, Input::Join);
        on_submit(&lookup_form, key, inbox, Input::PageLookup);
        // A hidden tab is not redrawn; it catches up when shown again.
        let i = inbox.clone();
        let f = Closure::<dyn FnMut()>::new(move || i.push_control(Input::Redraw));
        let _ =
            doc.add_event_listener_with_callback("visibilitychange", f.as_ref().unchecked_ref());
        f.forget();
        settings::attach(&doc, inbox);
        // Leaving (or reloading): remove this device's binding so that calls
        // stop forking to it. The task runs in the microtasks right after
        // this handler, while the page can still send.
        let i = inbox.clone();
        let f = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            // A page kept for the back button (`persisted`) may come back.
            let kept = js_sys::Reflect::get(&ev, &"persisted".into())
                .ok()
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            if !kept {
                i.push_control(Input::Phone(crate::input::PhoneOp::Leave, None));
            }
        });
        let window = web_sys::window()?;
        let _ = window.add_event_listener_with_callback("pagehide", f.as_ref().unchecked_ref());
        f.forget();
        Some(Page {
            screens: Screens::attach(&doc, inbox),
            contacts: ContactsPanel::attach(&doc, inbox),
            state: by_id(&doc, "state")?,
            who: by_id(&doc, "who")?,
            join_form,
            ring: by_id(&doc, "ring-layer")?,
            picture: by_id(&doc, "ring")?,
            caption: by_id(&doc, "caption")?,
            lookup_form,
            lookup_result: by_id(&doc, "lookup-result")?,
            notice: by_id(&doc, "notice")?,
        })
    }

    /// True while the person can see the page (drawing a hidden tab is
    /// wasted work).
    pub fn visible(&self) -> bool {
        self.state.owner_document().is_none_or(|d| !d.hidden())
    }

    /// Redraws the phone's screens.
    pub fn render_phone(&self, calls: &Calls, now: Time) {
        if let Some(s) = &self.screens {
            s.render(calls, now);
        }
        if let Some(p) = &self.contacts {
            p.render(calls, calls.dialer_shown());
        }
    }

    /// Redraws from the view.
    pub fn render(&self, v: &View, asked_to_join: bool) {
        let (state, sentence) = if asked_to_join {
            (v.state.as_str(), v.state.sentence())
        } else {
            ("idle", "Choose a display name to join the ring.")
        };
        let _ = self.state.set_attribute("data-state", state);
        self.state.set_text_content(Some(sentence));
        let short = &v.id.to_hex()[..8];
        let who = if v.name.is_empty() {
            format!("Node {short}")
        } else {
            format!("{} · node {short}", v.name)
        };
        self.who.set_text_content(Some(&who));
        self.join_form.set_hidden(asked_to_join);
        self.lookup_form.set_hidden(!v.joined);
        self.ring.set_inner_html(&ring_svg(v));
        let _ = self.picture.set_attribute("aria-label", &ring_summary(v));
        let rtc = v.count(LinkKind::WebRtc);
        let relayed = v.relayed_links();
        let caption = format!(
            "{} WebRTC ({} direct, {} relayed) · {} WebSocket · {} records held",
            rtc,
            rtc - relayed,
            relayed,
            v.count(LinkKind::WebSocket),
            v.records
        );
        self.caption.set_text_content(Some(&caption));
        let result = v.route.as_ref().map(|r| {
            format!(
                "“{}” belongs to {} — {} {}, {} ms",
                r.key,
                if r.owner == v.id {
                    "this tab".to_owned()
                } else {
                    format!("node {}", &r.owner.to_hex()[..8])
                },
                r.hops,
                if r.hops == 1 { "hop" } else { "hops" },
                // Whole milliseconds, without float formatting code.
                (r.ms + 0.5) as u64
            )
        });
        self.lookup_result
            .set_text_content(Some(result.as_deref().unwrap_or("")));
        // The relay's refusal is said while nothing more recent is.
        let notice = match &v.relay_refused {
            Some(why) if v.notice.is_empty() => why,
            _ => &v.notice,
        };
        self.notice.set_text_content(Some(notice));
    }
}
