//! The contacts panel beside the dialer: each contact with a presence dot,
//! a Call and a Message button and a remove button; a form to add one; and
//! the person's own presence (a choice in the "You are …" line). Names are
//! set as text, never as markup. The list is rebuilt only when it changed,
//! so a redraw never replaces a button under the pointer.

use crate::calls::Calls;
use crate::inbox::Inbox;
use crate::input::{Input, PhoneOp};
use chordphone_phone::{ContactView, Presence};
use js_sys::Reflect;
use std::cell::RefCell;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Event, HtmlElement, HtmlInputElement};

/// The elements of the panel.
#[derive(Debug)]
pub struct ContactsPanel {
    doc: Document,
    panel: HtmlElement,
    list: Element,
    empty: HtmlElement,
    me: Element,
    mine: Element,
    /// What the list shows now.
    drawn: RefCell<Option<Vec<ContactView>>>,
}

/// What the person reads beside a contact's name.
fn words(p: Presence) -> &'static str {
    match p {
        Presence::Online => "online",
        Presence::Away => "away",
        Presence::Busy => "busy",
        Presence::InCall => "in a call",
        Presence::Offline => "offline",
    }
}

fn el(doc: &Document, id: &str) -> Option<Element> {
    doc.get_element_by_id(id)
}

fn input(doc: &Document, id: &str) -> Option<HtmlInputElement> {
    el(doc, id)?.dyn_into().ok()
}

/// `value` of a form control (a `<select>`), without its web-sys type.
fn value_of(e: &Element) -> String {
    Reflect::get(e, &JsValue::from_str("value"))
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

impl ContactsPanel {
    /// Finds the elements and wires them; `None` on a page without them.
    pub fn attach(doc: &Document, inbox: &Inbox<Input>) -> Option<ContactsPanel> {
        let p = ContactsPanel {
            doc: doc.clone(),
            panel: el(doc, "contacts")?.dyn_into().ok()?,
            list: el(doc, "contact-list")?,
            empty: el(doc, "contacts-empty")?.dyn_into().ok()?,
            me: el(doc, "me")?,
            mine: el(doc, "my-presence")?,
            drawn: RefCell::new(None),
        };
        let form = el(doc, "contact-form")?;
        let (target, label) = (input(doc, "contact-target")?, input(doc, "contact-label")?);
        let i = inbox.clone();
        let f = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            ev.prevent_default();
            let t = target.value().trim().to_owned();
            if t.is_empty() {
                return;
            }
            let l = label.value().trim().to_owned();
            let _ = i.push(Input::Phone(
                PhoneOp::AddContact(t, (!l.is_empty()).then_some(l)),
                None,
            ));
            target.set_value("");
            label.set_value("");
        });
        let _ = form.add_event_listener_with_callback("submit", f.as_ref().unchecked_ref());
        // The listeners live as long as the page.
        f.forget();

        // One listener for every button of the list, by its data-op.
        let i = inbox.clone();
        let f = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            let Some(button) = ev
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|e| e.closest("button").ok().flatten())
            else {
                return;
            };
            let target = button.get_attribute("data-target").unwrap_or_default();
            let op = match button.get_attribute("data-op").as_deref() {
                Some("call") => PhoneOp::Call(target),
                Some("chat") => PhoneOp::Chat(target),
                Some("remove") => PhoneOp::RemoveContact(target),
                _ => return,
            };
            let _ = i.push(Input::Phone(op, None));
        });
        let _ = p
            .list
            .add_event_listener_with_callback("click", f.as_ref().unchecked_ref());
        f.forget();

        let (i, mine) = (inbox.clone(), p.mine.clone());
        let f = Closure::<dyn FnMut()>::new(move || {
            let _ = i.push(Input::Phone(PhoneOp::Presence(value_of(&mine)), None));
        });
        let _ = p
            .mine
            .add_event_listener_with_callback("change", f.as_ref().unchecked_ref());
        f.forget();
        Some(p)
    }

    /// Redraws from the snapshot; `shown` when the dialer is.
    pub fn render(&self, c: &Calls, shown: bool) {
        self.panel.set_hidden(!shown);
        let _ = self.me.set_attribute("data-presence", c.presence.as_str());
        // The choice follows `presence()` calls from programs, and shows
        // "In a call" (which nobody chooses) while a call lasts; the
        // person's choice comes back after it.
        if c.presence != Presence::Offline && value_of(&self.mine) != c.presence.as_str() {
            let _ = Reflect::set(
                &self.mine,
                &JsValue::from_str("value"),
                &JsValue::from_str(c.presence.as_str()),
            );
        }
        if self.drawn.borrow().as_ref() == Some(&c.contacts) {
            return;
        }
        self.empty.set_hidden(!c.contacts.is_empty());
        self.list.set_text_content(None);
        for contact in &c.contacts {
            if let Some(li) = self.row(contact) {
                let _ = self.list.append_child(&li);
            }
        }
        *self.drawn.borrow_mut() = Some(c.contacts.clone());
    }

    /// One contact's row.
    fn row(&self, contact: &ContactView) -> Option<Element> {
        let doc = &self.doc;
        let li = doc.create_element("li").ok()?;
        let state = contact.presence.as_str();
        let _ = li.set_attribute("data-presence", state);
        let dot = doc.create_element("span").ok()?;
        let _ = dot.set_attribute("class", "dot");
        let _ = dot.set_attribute("aria-hidden", "true");
        let who = doc.create_element("span").ok()?;
        let _ = who.set_attribute("class", "who");
        let name = doc.create_element("strong").ok()?;
        name.set_text_content(Some(&contact.name));
        let line = doc.create_element("span").ok()?;
        let _ = line.set_attribute("class", "state");
        line.set_text_content(Some(words(contact.presence)));
        let _ = who.append_child(&name);
        let _ = who.append_child(&line);
        let _ = li.append_child(&dot);
        let _ = li.append_child(&who);
        let user = crate::calls::user_part(&contact.aor);
        for (op, class, text, label) in [
            ("call", "go", "Call", "Call "),
            ("chat", "quiet", "Message", "Message "),
            ("remove", "quiet remove", "×", "Remove "),
        ] {
            let b = doc.create_element("button").ok()?;
            let _ = b.set_attribute("type", "button");
            let _ = b.set_attribute("class", class);
            let _ = b.set_attribute("data-op", op);
            let _ = b.set_attribute("data-target", &contact.aor);
            let _ = b.set_attribute("aria-label", &format!("{label}{user}"));
            b.set_text_content(Some(text));
            let _ = li.append_child(&b);
        }
        Some(li)
    }
}
