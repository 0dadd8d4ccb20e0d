//! The phone screens: registration, the dialer, an incoming call, the call
//! itself (video, controls, timer, quality), call waiting and the chat.
//! Their elements are in `web/index.html`; this module wires their buttons
//! and forms to the driver and redraws them from the [`Calls`] snapshot.
//! Names and messages are always set as text, never as markup.

use crate::calls::{clock, sentence, user_part, Call, Calls, Status};
use crate::inbox::Inbox;
use crate::input::{Input, PhoneOp};
use chordphone_overlay::Time;
use chordphone_phone::CallState;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Event, HtmlElement, HtmlInputElement};

/// The elements the phone redraws.
#[derive(Debug)]
pub struct Screens {
    doc: Document,
    notice: Element,
    reg_form: HtmlElement,
    reg_status: Element,
    me: HtmlElement,
    me_name: Element,
    dial_form: HtmlElement,
    dial_status: Element,
    incoming: HtmlElement,
    incoming_who: Element,
    in_call: HtmlElement,
    call_peer: Element,
    call_timer: Element,
    call_quality: Element,
    dialpad: HtmlElement,
    waiting: HtmlElement,
    waiting_who: Element,
    other: HtmlElement,
    other_who: Element,
    chat: HtmlElement,
    chat_title: Element,
    chat_list: Element,
    chat_form: Element,
}

fn el(doc: &Document, id: &str) -> Option<Element> {
    doc.get_element_by_id(id)
}

fn html(doc: &Document, id: &str) -> Option<HtmlElement> {
    el(doc, id)?.dyn_into().ok()
}

/// What a button asks for, from its `data-op` and `data-call`.
fn op_of(op: &str, call: Option<String>) -> Option<PhoneOp> {
    Some(match op {
        "answer" => PhoneOp::Answer(call),
        "reject" => PhoneOp::Reject(call),
        "hangup" => PhoneOp::Hangup(call),
        "hold" => PhoneOp::Hold(call),
        "resume" => PhoneOp::Resume(call),
        "mute" => PhoneOp::Mute(true),
        "unmute" => PhoneOp::Mute(false),
        "camera-off" => PhoneOp::Camera(false),
        "camera-on" => PhoneOp::Camera(true),
        _ => return None,
    })
}

/// Wires a form: `make` gets the input's trimmed text (and the form).
fn on_submit(
    form: &Element,
    input: HtmlInputElement,
    inbox: &Inbox<Input>,
    make: fn(String, &Element) -> Option<PhoneOp>,
) {
    let (inbox, f2) = (inbox.clone(), form.clone());
    let f = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
        ev.prevent_default();
        if let Some(op) = make(input.value().trim().to_owned(), &f2) {
            let _ = inbox.push(Input::Phone(op, None));
            if f2.id() == "chat-form" {
                input.set_value("");
            }
        }
    });
    let _ = form.add_event_listener_with_callback("submit", f.as_ref().unchecked_ref());
    // The listener lives as long as the page.
    f.forget();
}

/// Wires a button by its `data-op`/`data-call`, which `render` keeps current.
fn on_click(doc: &Document, id: &str, inbox: &Inbox<Input>) -> Option<()> {
    let button = el(doc, id)?;
    let (inbox, b) = (inbox.clone(), button.clone());
    let f = Closure::<dyn FnMut()>::new(move || {
        let op = b.get_attribute("data-op").unwrap_or_default();
        if let Some(op) = op_of(&op, b.get_attribute("data-call")) {
            let _ = inbox.push(Input::Phone(op, None));
        }
    });
    let _ = button.add_event_listener_with_callback("click", f.as_ref().unchecked_ref());
    f.forget();
    Some(())
}

fn set_op(doc: &Document, id: &str, op: &str, call: Option<&Call>, label: &str) {
    if let Some(b) = el(doc, id) {
        let _ = b.set_attribute("data-op", op);
        match call {
            Some(c) => {
                let _ = b.set_attribute("data-call", &c.view.id.to_string());
            }
            None => {
                let _ = b.remove_attribute("data-call");
            }
        }
        b.set_text_content(Some(label));
    }
}

/// Whole numbers without float formatting (which adds kilobytes).
fn whole(v: f64) -> String {
    ((v.max(0.0) + 0.5) as u64).to_string()
}

/// The quality line: "direct · RTT 23 ms · jitter 2 ms · loss 0.4 %".
fn quality_line(c: &Call) -> String {
    let q = &c.quality;
    let mut out = String::new();
    match q.relayed {
        Some(true) => out.push_str("relayed · "),
        Some(false) => out.push_str("direct · "),
        None => {}
    }
    if let Some(r) = q.rtt_ms {
        out.push_str("RTT ");
        out.push_str(&whole(r));
        out.push_str(" ms");
    }
    if let Some(j) = q.jitter_ms {
        out.push_str(" · jitter ");
        out.push_str(&whole(j));
        out.push_str(" ms");
    }
    if let Some(l) = q.loss {
        let tenths = (l.clamp(0.0, 1.0) * 1000.0 + 0.5) as u64;
        out.push_str(" · loss ");
        out.push_str(&(tenths / 10).to_string());
        out.push('.');
        out.push_str(&(tenths % 10).to_string());
        out.push_str(" %");
    }
    out
}

/// What the call's line says beside the peer's name.
fn call_line(c: &Call, now: Time) -> String {
    let peer = user_part(&c.view.peer);
    match c.view.state {
        CallState::Calling => "Calling…".to_owned(),
        CallState::Ringing => "Ringing…".to_owned(),
        CallState::Held => "On hold".to_owned(),
        _ if c.view.held_by_peer => format!("{peer} put you on hold"),
        _ => clock(
            c.view
                .answered
                .map_or(0, |a| now.saturating_since(a).as_secs()),
        ),
    }
}

/// How long the dialer says how the last call ended.
const ENDED_SHOWN: core::time::Duration = core::time::Duration::from_secs(15);

/// How the last call ended, for a while after: why, if it never got
/// through ("bob is busy"); else with whom and how long it lasted.
fn ended_line(e: &Call, now: Time) -> Option<String> {
    let ended = e.view.ended.unwrap_or(now);
    if now.saturating_since(ended) > ENDED_SHOWN {
        return None;
    }
    Some(match (e.view.answered, &e.view.reason) {
        (None, Some(r)) => r.clone(),
        (Some(a), _) => {
            let mut line = String::from("Call with ");
            line.push_str(user_part(&e.view.peer));
            line.push_str(" ended · ");
            line.push_str(&clock(ended.saturating_since(a).as_secs()));
            line
        }
        (None, None) => String::from("Call ended"),
    })
}

impl Screens {
    /// Finds the elements and wires them; `None` on a page without them.
    pub fn attach(doc: &Document, inbox: &Inbox<Input>) -> Option<Screens> {
        let s = Screens {
            doc: doc.clone(),
            notice: el(doc, "phone-notice")?,
            reg_form: html(doc, "reg-form")?,
            reg_status: el(doc, "reg-status")?,
            me: html(doc, "me")?,
            me_name: el(doc, "me-name")?,
            dial_form: html(doc, "dial-form")?,
            dial_status: el(doc, "dial-status")?,
            incoming: html(doc, "incoming")?,
            incoming_who: el(doc, "incoming-who")?,
            in_call: html(doc, "in-call")?,
            call_peer: el(doc, "call-peer")?,
            call_timer: el(doc, "call-timer")?,
            call_quality: el(doc, "call-quality")?,
            dialpad: html(doc, "dialpad")?,
            waiting: html(doc, "waiting")?,
            waiting_who: el(doc, "waiting-who")?,
            other: html(doc, "other-call")?,
            other_who: el(doc, "other-who")?,
            chat: html(doc, "chat")?,
            chat_title: el(doc, "chat-title")?,
            chat_list: el(doc, "chat-list")?,
            chat_form: el(doc, "chat-form")?,
        };
        let input = |id: &str| el(doc, id)?.dyn_into::<HtmlInputElement>().ok();
        on_submit(&s.reg_form, input("reg-name")?, inbox, |v, _| {
            Some(PhoneOp::Register(v))
        });
        on_submit(&s.dial_form, input("dial-target")?, inbox, |v, _| {
            Some(PhoneOp::Call(v))
        });
        on_submit(&s.chat_form, input("chat-text")?, inbox, |v, form| {
            let peer = form.get_attribute("data-peer")?;
            (!v.is_empty()).then_some(PhoneOp::Message(peer, v))
        });
        // "Message": opens the chat with the person typed in the dialer.
        let (i, target) = (inbox.clone(), input("dial-target")?);
        let f = Closure::<dyn FnMut()>::new(move || {
            let v = target.value().trim().to_owned();
            if !v.is_empty() {
                let _ = i.push(Input::Phone(PhoneOp::Chat(v), None));
            }
        });
        let _ = el(doc, "chat-open")?
            .add_event_listener_with_callback("click", f.as_ref().unchecked_ref());
        f.forget();
        // The dial pad: one listener; each key names itself in `data-key`.
        let i = inbox.clone();
        let f = Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            let key = ev
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|b| b.get_attribute("data-key"));
            if let Some(k) = key {
                let _ = i.push(Input::Phone(PhoneOp::Keys(k, None), None));
            }
        });
        let _ = s
            .dialpad
            .add_event_listener_with_callback("click", f.as_ref().unchecked_ref());
        f.forget();
        for id in [
            "answer-btn",
            "decline-btn",
            "mute-btn",
            "camera-btn",
            "hold-btn",
            "hangup-btn",
            "waiting-answer",
            "waiting-decline",
            "other-resume",
        ] {
            on_click(doc, id, inbox)?;
        }
        Some(s)
    }

    /// Redraws from the snapshot.
    pub fn render(&self, c: &Calls, now: Time) {
        let registered = c.aor.is_some();
        self.notice
            .set_text_content(Some(&c.notice.as_deref().map(sentence).unwrap_or_default()));
        self.reg_form.set_hidden(registered);
        let reg = match (&c.registering, &c.register_error) {
            (Some(name), _) => format!("Registering “{name}”…"),
            (None, Some(why)) => sentence(why),
            _ => String::new(),
        };
        self.reg_status.set_text_content(Some(&reg));
        let _ = self.reg_status.set_attribute(
            "class",
            if c.register_error.is_some() && c.registering.is_none() {
                "outcome bad"
            } else {
                "hint"
            },
        );
        self.me.set_hidden(!registered);
        self.me_name
            .set_text_content(Some(c.aor.as_deref().map_or("", user_part)));

        let current = c.current().or_else(|| c.dialing());
        let ringing = c.incoming().last();
        self.dial_form.set_hidden(!c.dialer_shown());
        let ended = c.last_ended().and_then(|e| ended_line(e, now));
        self.dial_status
            .set_text_content(Some(ended.as_deref().unwrap_or("")));

        self.incoming
            .set_hidden(ringing.is_none() || current.is_some());
        if let Some(r) = ringing {
            let who = user_part(&r.view.peer);
            self.incoming_who.set_text_content(Some(who));
            set_op(&self.doc, "answer-btn", "answer", Some(r), "Answer");
            set_op(&self.doc, "decline-btn", "reject", Some(r), "Decline");
            set_op(
                &self.doc,
                "waiting-answer",
                "answer",
                Some(r),
                "Answer & hold current",
            );
            set_op(&self.doc, "waiting-decline", "reject", Some(r), "Decline");
            self.waiting_who
                .set_text_content(Some(&format!("{who} is calling you")));
        }
        self.waiting
            .set_hidden(ringing.is_none() || current.is_none());

        self.in_call.set_hidden(current.is_none());
        if let Some(call) = current {
            let dialing = matches!(call.view.state, CallState::Calling | CallState::Ringing);
            self.call_peer
                .set_text_content(Some(user_part(&call.view.peer)));
            self.call_timer
                .set_text_content(Some(&call_line(call, now)));
            self.call_quality
                .set_text_content(Some(&quality_line(call)));
            // Keys matter to the phone network (menus, PINs), not to a
            // person called by name.
            let number = user_part(&call.view.peer).starts_with('+');
            self.dialpad
                .set_hidden(!number || call.view.state != CallState::Active);
            let (op, label) = if c.muted {
                ("unmute", "Unmute")
            } else {
                ("mute", "Mute")
            };
            set_op(&self.doc, "mute-btn", op, None, label);
            let (op, label) = if c.camera_off {
                ("camera-on", "Camera on")
            } else {
                ("camera-off", "Camera off")
            };
            set_op(&self.doc, "camera-btn", op, None, label);
            let (op, label) = if call.view.state == CallState::Held {
                ("resume", "Resume")
            } else {
                ("hold", "Hold")
            };
            set_op(&self.doc, "hold-btn", op, Some(call), label);
            if let Some(b) = el(&self.doc, "hold-btn") {
                let _ = b.toggle_attribute_with_force("disabled", dialing);
            }
            set_op(
                &self.doc,
                "hangup-btn",
                "hangup",
                Some(call),
                if dialing { "Cancel" } else { "Hang up" },
            );
            for (id, on) in [("mute-btn", c.muted), ("camera-btn", c.camera_off)] {
                if let Some(b) = el(&self.doc, id) {
                    let _ = b.set_attribute("aria-pressed", if on { "true" } else { "false" });
                }
            }
        }
        let other = c.other_held();
        self.other.set_hidden(other.is_none());
        if let Some(o) = other {
            let mut line = String::from(user_part(&o.view.peer));
            line.push_str(" is on hold");
            self.other_who.set_text_content(Some(&line));
            set_op(&self.doc, "other-resume", "resume", Some(o), "Switch");
        }
        self.render_chat(c);
    }

    fn render_chat(&self, c: &Calls) {
        let peer = c.chat_with.as_deref().filter(|_| c.aor.is_some());
        self.chat.set_hidden(peer.is_none());
        let Some(peer) = peer else {
            return;
        };
        let _ = self.chat_form.set_attribute("data-peer", peer);
        self.chat_title
            .set_text_content(Some(&format!("Messages with {}", user_part(peer))));
        self.chat_list.set_text_content(None);
        for m in c.messages.iter().filter(|m| {
            if m.outgoing {
                m.to == peer
            } else {
                m.from == peer
            }
        }) {
            let Ok(li) = self.doc.create_element("li") else {
                continue;
            };
            let _ = li.set_attribute("class", if m.outgoing { "out" } else { "in" });
            li.set_text_content(Some(&m.text));
            if m.outgoing {
                if let Ok(mark) = self.doc.create_element("span") {
                    let (class, text) = match m.status {
                        Status::Delivered => ("mark ok", "✓ delivered".to_owned()),
                        Status::Waiting => ("mark", format!("waiting for {}", user_part(&m.to))),
                        Status::Undeliverable => (
                            "mark bad",
                            format!("✗ not delivered: {}", m.reason.as_deref().unwrap_or("")),
                        ),
                        _ => ("mark", "sending…".to_owned()),
                    };
                    let _ = mark.set_attribute("class", class);
                    mark.set_text_content(Some(&text));
                    let _ = li.append_child(&mark);
                }
            }
            let _ = self.chat_list.append_child(&li);
        }
    }
}
