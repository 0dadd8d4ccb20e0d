//! `window.chordphone`: the tab's node for people (devtools) and tests.
//!
//! `status()` and `notes()` answer at once from the snapshot; the other
//! calls queue a request for the driver and return a Promise it settles. Every rejection
//! is an `Error` with a message that says why.

use crate::inbox::Inbox;
use crate::input::{Input, Op, Reply};
use crate::notes::{Notes, NOTE_SERVICE};
use crate::view::{LinkKind, View};
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsValue;

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
    // Relayed links (through a TURN relay) are not made yet.
    set(&links, "relayed", &JsValue::from(0u32));
    set(&obj, "links", &links);
    let peers: Array = v
        .peers
        .iter()
        .map(|(id, kind)| {
            let p = Object::new();
            set(&p, "id", &JsValue::from_str(&id.to_hex()));
            set(&p, "kind", &JsValue::from_str(kind.as_str()));
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
    let mut ends = None;
    let promise = Promise::new(&mut |resolve, reject| ends = Some(Reply { resolve, reject }));
    if let Some(reply) = ends {
        match op {
            Ok(op) => {
                if let Err(Input::Api(_, reply)) = inbox.push(Input::Api(op, reply)) {
                    reply.err("busy: too many requests waiting");
                }
            }
            Err(why) => reply.err(why),
        }
    }
    promise
}

fn string(v: &JsValue, what: &'static str) -> Result<String, &'static str> {
    v.as_string().ok_or(what)
}

/// Installs `window.chordphone`.
pub fn install(
    inbox: &Inbox<Input>,
    view: &Rc<RefCell<View>>,
    notes: &Rc<RefCell<Notes>>,
) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let api = Object::new();

    let v = Rc::clone(view);
    let f = Closure::<dyn Fn() -> JsValue>::new(move || status(&v.borrow()));
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
                Ok(Op::Send {
                    to,
                    text: string(&text, "text must be a string")?,
                    service: service?,
                })
            });
            request(&i, op)
        },
    );
    set(&api, "send", &f.into_js_value());

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

    Reflect::set(&window, &JsValue::from_str("chordphone"), &api)?;
    Ok(())
}
