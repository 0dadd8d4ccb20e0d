//! `window.chordphone`: the tab's node for people (devtools) and tests.
//!
//! `status()`, `notes()`, `calls()`, `messages()` and `contacts()` answer at once from
//! the snapshots; `exportIdentity`/`importIdentity` run in WebCrypto; the other
//! calls queue a request for the driver and return a Promise it settles. Every rejection
//! is an `Error` with a message that says why.

use crate::calls::Calls;
use crate::inbox::Inbox;
use crate::input::{Input, Op, Reply};
use crate::notes::{Notes, NOTE_SERVICE};
use crate::phone::PhoneOp;
use crate::user;
use crate::view::{LinkKind, View};
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn hex_list<'a>(ids: impl Iterator<Item = &'a chordphone_overlay::NodeId>) -> JsValue {
    ids.map(|id| JsValue::from_str(&id.to_hex()))
        .collect::<Array>()
        .into()
}

/// The `status()` object.
fn status(v: &View) -> JsValue {
    let obj = Object::new();
    set(&obj, "id", &JsValue::from_str(&v.id.to_hex()));
    set(&obj, "name", &JsValue::from_str(&v.name));
    set(&obj, "state", &JsValue::from_str(v.state.as_str()));
    set(
        &obj,
        "predecessor",
        &v.predecessor
            .map_or(JsValue::NULL, |p| JsValue::from_str(&p.to_hex())),
    );
    set(&obj, "successors", &hex_list(v.successors.iter()));
    set(&obj, "fingers", &hex_list(v.fingers.iter()));
    let links = Object::new();
    set(
        &links,
        "webrtc",
        &JsValue::from(v.count(LinkKind::WebRtc) as u32),
    );
    set(
        &links,
        "websocket",
        &JsValue::from(v.count(LinkKind::WebSocket) as u32),
    );
    set(&links, "relayed", &JsValue::from(v.relayed_links() as u32));
    set(&obj, "links", &links);
    set(
        &obj,
        "relayRefused",
        &v.relay_refused
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
    );
    let peers: Array = v
        .peers
        .iter()
        .map(|(id, kind)| {
            let p = Object::new();
            set(&p, "id", &JsValue::from_str(&id.to_hex()));
            set(&p, "kind", &JsValue::from_str(kind.as_str()));
            set(&p, "relayed", &JsValue::from_bool(v.is_relayed(id)));
            JsValue::from(p)
        })
        .collect();
    set(&obj, "peers", &peers);
    set(&obj, "records", &JsValue::from(v.records as u32));
    set(&obj, "joined", &JsValue::from_bool(v.joined));
    obj.into()
}

/// A Promise settled by the driver, or rejected at once when the inbox is full.
fn request(inbox: &Inbox<Input>, op: Result<Op, &'static str>) -> Promise {
    queue(inbox, op.map(|op| move |r| Input::Api(op, r)))
}

/// A phone request: a Promise settled by the driver.
fn phone(inbox: &Inbox<Input>, op: Result<PhoneOp, &'static str>) -> Promise {
    queue(inbox, op.map(|op| move |r| Input::Phone(op, Some(r))))
}

fn queue(
    inbox: &Inbox<Input>,
    input: Result<impl FnOnce(Reply) -> Input, &'static str>,
) -> Promise {
    let mut ends = None;
    let promise = Promise::new(&mut |resolve, reject| ends = Some(Reply { resolve, reject }));
    if let Some(reply) = ends {
        match input {
            Ok(make) => {
                if let Err(Input::Api(_, reply) | Input::Phone(_, Some(reply))) =
                    inbox.push(make(reply))
                {
                    reply.err("busy: too many requests waiting");
                }
            }
            Err(why) => reply.err(why),
        }
    }
    promise
}

/// Most keys queued by one `dtmf()` call.
const MAX_KEYS: usize = 32;

/// Dial-pad keys: 1 to [`MAX_KEYS`] of `0-9 * # A-D` (upper-cased).
fn dial_keys(v: &JsValue) -> Result<String, &'static str> {
    let bad = "keys must be 1 to 32 of 0-9, *, # and A-D";
    let keys = v.as_string().ok_or(bad)?.to_ascii_uppercase();
    let ok = (1..=MAX_KEYS).contains(&keys.len())
        && keys
            .bytes()
            .all(|b| b.is_ascii_digit() || b"*#ABCD".contains(&b));
    ok.then_some(keys).ok_or(bad)
}

/// An optional call id: a string like `"c7"`, a number, or nothing.
fn call_id(v: &JsValue) -> Result<Option<String>, &'static str> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if let Some(n) = v.as_f64() {
        return Ok(Some((n as u32).to_string()));
    }
    v.as_string().map(Some).ok_or("call id must be a string")
}

/// The `calls()` array.
fn calls_list(c: &Calls) -> JsValue {
    let num = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
    c.calls
        .iter()
        .map(|call| {
            let o = Object::new();
            set(&o, "id", &JsValue::from_str(&call.view.id.to_string()));
            set(&o, "direction", &JsValue::from_str(call.direction()));
            set(&o, "peer", &JsValue::from_str(&call.view.peer));
            set(&o, "state", &JsValue::from_str(call.state()));
            set(
                &o,
                "reason",
                &call
                    .view
                    .reason
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
            );
            set(
                &o,
                "held_by_peer",
                &JsValue::from_bool(call.view.held_by_peer),
            );
            let q = &call.quality;
            let m = Object::new();
            set(&m, "rtt_ms", &num(q.rtt_ms));
            set(&m, "jitter_ms", &num(q.jitter_ms));
            set(&m, "loss", &num(q.loss));
            set(&m, "audio_in", &JsValue::from_f64(q.audio_in as f64));
            set(&m, "video_in", &JsValue::from_f64(q.video_in as f64));
            set(&m, "relayed", &JsValue::from_bool(q.relayed == Some(true)));
            set(&m, "restarts", &JsValue::from(call.view.restarts));
            set(&o, "media", &m);
            JsValue::from(o)
        })
        .collect::<Array>()
        .into()
}

/// The `messages()` array.
fn messages_list(c: &Calls) -> JsValue {
    c.messages
        .iter()
        .map(|m| {
            let o = Object::new();
            set(&o, "from", &JsValue::from_str(&m.from));
            set(&o, "to", &JsValue::from_str(&m.to));
            set(&o, "text", &JsValue::from_str(&m.text));
            set(&o, "at", &JsValue::from_f64(m.at_ms));
            set(
                &o,
                "direction",
                &JsValue::from_str(if m.outgoing { "out" } else { "in" }),
            );
            set(&o, "outgoing", &JsValue::from_bool(m.outgoing));
            set(&o, "status", &JsValue::from_str(m.status.as_str()));
            if let Some(r) = &m.reason {
                set(&o, "reason", &JsValue::from_str(r));
            }
            JsValue::from(o)
        })
        .collect::<Array>()
        .into()
}

/// The `contacts()` array.
fn contacts_list(c: &Calls) -> JsValue {
    c.contacts
        .iter()
        .map(|contact| {
            let o = Object::new();
            set(&o, "aor", &JsValue::from_str(&contact.aor));
            set(&o, "name", &JsValue::from_str(&contact.name));
            set(
                &o,
                "presence",
                &JsValue::from_str(contact.presence.as_str()),
            );
            JsValue::from(o)
        })
        .collect::<Array>()
        .into()
}

/// Installs the phone's part of the API.
fn install_phone(api: &Object, inbox: &Inbox<Input>, calls: &Rc<RefCell<Calls>>) {
    let one = |name: &str, make: fn(JsValue) -> Result<PhoneOp, &'static str>| {
        let i = inbox.clone();
        let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |v: JsValue| phone(&i, make(v)));
        set(api, name, &f.into_js_value());
    };
    one("register", |v| {
        string(&v, "name must be a string").map(PhoneOp::Register)
    });
    one("call", |v| {
        string(&v, "target must be a string").map(PhoneOp::Call)
    });
    one("answer", |v| call_id(&v).map(PhoneOp::Answer));
    one("reject", |v| call_id(&v).map(PhoneOp::Reject));
    one("hangup", |v| call_id(&v).map(PhoneOp::Hangup));
    one("hold", |v| call_id(&v).map(PhoneOp::Hold));
    one("resume", |v| call_id(&v).map(PhoneOp::Resume));
    // `mute()` alone mutes; `camera()` alone turns the camera on.
    one("mute", |v| {
        Ok(PhoneOp::Mute(v.is_undefined() || v.is_truthy()))
    });
    one("camera", |v| {
        Ok(PhoneOp::Camera(v.is_undefined() || v.is_truthy()))
    });
    one("removeContact", |v| {
        string(&v, "target must be a string").map(PhoneOp::RemoveContact)
    });
    one("presence", |v| {
        string(&v, "presence must be 'online', 'away' or 'busy'").map(PhoneOp::Presence)
    });

    let i = inbox.clone();
    let f =
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |to: JsValue, text: JsValue| {
            let op = string(&to, "target must be a string").and_then(|to| {
                Ok(PhoneOp::Message(
                    to,
                    string(&text, "text must be a string")?,
                ))
            });
            phone(&i, op)
        });
    set(api, "send", &f.into_js_value());

    // `dtmf(keys, id?)`: dial-pad keys into a call (the active one if no id).
    let i = inbox.clone();
    let f =
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |keys: JsValue, id: JsValue| {
            let op = dial_keys(&keys).and_then(|k| Ok(PhoneOp::Keys(k, call_id(&id)?)));
            phone(&i, op)
        });
    set(api, "dtmf", &f.into_js_value());

    // `addContact(target, name?)`: the display name defaults to the name.
    let i = inbox.clone();
    let f =
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |to: JsValue, name: JsValue| {
            let op = string(&to, "target must be a string").and_then(|to| {
                let name = match name.as_string() {
                    Some(n) => Some(n),
                    None if name.is_undefined() || name.is_null() => None,
                    None => return Err("name must be a string"),
                };
                Ok(PhoneOp::AddContact(to, name))
            });
            phone(&i, op)
        });
    set(api, "addContact", &f.into_js_value());

    let c = Rc::clone(calls);
    let f = Closure::<dyn Fn() -> JsValue>::new(move || calls_list(&c.borrow()));
    set(api, "calls", &f.into_js_value());
    let c = Rc::clone(calls);
    let f = Closure::<dyn Fn() -> JsValue>::new(move || messages_list(&c.borrow()));
    set(api, "messages", &f.into_js_value());
    let c = Rc::clone(calls);
    let f = Closure::<dyn Fn() -> JsValue>::new(move || contacts_list(&c.borrow()));
    set(api, "contacts", &f.into_js_value());

    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |pass: JsValue| {
        match string(&pass, "passphrase must be a string").and_then(|p| user::export(&p)) {
            Ok(p) => p,
            Err(why) => Promise::reject(&js_sys::Error::new(why)),
        }
    });
    set(api, "exportIdentity", &f.into_js_value());

    let i = inbox.clone();
    let f =
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |blob: JsValue, pass: JsValue| {
            let i = i.clone();
            wasm_bindgen_futures::future_to_promise(async move {
                let blob = blob.as_string().unwrap_or_default();
                let pass = pass.as_string().unwrap_or_default();
                let seed = user::open(&blob, &pass).await?;
                user::replace(&seed);
                i.push_control(Input::Phone(PhoneOp::User(seed), None));
                Ok(JsValue::TRUE)
            })
        });
    set(api, "importIdentity", &f.into_js_value());
}

fn string(v: &JsValue, what: &'static str) -> Result<String, &'static str> {
    v.as_string().ok_or(what)
}

/// Installs `window.chordphone`.
pub fn install(
    inbox: &Inbox<Input>,
    view: &Rc<RefCell<View>>,
    notes: &Rc<RefCell<Notes>>,
    calls: &Rc<RefCell<Calls>>,
) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let api = Object::new();

    let (v, c) = (Rc::clone(view), Rc::clone(calls));
    let f = Closure::<dyn Fn() -> JsValue>::new(move || {
        let s = status(&v.borrow());
        let c = c.borrow();
        set(
            s.unchecked_ref(),
            "aor",
            &c.aor.as_deref().map_or(JsValue::NULL, JsValue::from_str),
        );
        set(s.unchecked_ref(), "user", &JsValue::from_str(&c.user));
        set(
            s.unchecked_ref(),
            "presence",
            &JsValue::from_str(c.presence.as_str()),
        );
        s
    });
    set(&api, "status", &f.into_js_value());

    let i = inbox.clone();
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |key: JsValue| {
        request(&i, string(&key, "key must be a string").map(Op::Lookup))
    });
    set(&api, "lookup", &f.into_js_value());

    let i = inbox.clone();
    let f =
        Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |key: JsValue, value: JsValue| {
            let op = string(&key, "key must be a string")
                .and_then(|k| Ok(Op::Put(k, string(&value, "value must be a string")?)));
            request(&i, op)
        });
    set(&api, "put", &f.into_js_value());

    let i = inbox.clone();
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |key: JsValue| {
        request(&i, string(&key, "key must be a string").map(Op::Get))
    });
    set(&api, "get", &f.into_js_value());

    let i = inbox.clone();
    let f = Closure::<dyn Fn(JsValue) -> Promise>::new(move |id: JsValue| {
        request(
            &i,
            string(&id, "id must be a 40-digit hex string").map(Op::Link),
        )
    });
    set(&api, "link", &f.into_js_value());

    let i = inbox.clone();
    let f = Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(
        move |id: JsValue, text: JsValue, service: JsValue| {
            let service = match service.as_f64() {
                None if service.is_undefined() => Ok(NOTE_SERVICE.0),
                Some(n) if (0.0..=65535.0).contains(&n) && n.fract() == 0.0 => Ok(n as u16),
                _ => Err("service must be a number from 0 to 65535"),
            };
            let op = string(&id, "id must be a 40-digit hex string").and_then(|to| {
                Ok(Op::Note {
                    to,
                    text: string(&text, "text must be a string")?,
                    service: service?,
                })
            });
            request(&i, op)
        },
    );
    set(&api, "note", &f.into_js_value());

    let n = Rc::clone(notes);
    let f = Closure::<dyn Fn() -> JsValue>::new(move || {
        n.borrow()
            .iter()
            .map(|note| {
                let o = Object::new();
                set(&o, "from", &JsValue::from_str(&note.from.to_hex()));
                set(&o, "text", &JsValue::from_str(&note.text));
                JsValue::from(o)
            })
            .collect::<Array>()
            .into()
    });
    set(&api, "notes", &f.into_js_value());

    install_phone(&api, inbox, calls);
    Reflect::set(&window, &JsValue::from_str("chordphone"), &api)?;
    Ok(())
}
