//! Requests from people and programs: lookup, put, get and link, and how
//! their answers come back (as Promise results or on the page).

use crate::input::Reply;
use crate::log;
use crate::relay::by_distance;
use crate::view::Route;
use chordphone_overlay::{
    relay_key, relay_offers, Answer, Id, Kind, NodeId, QueryError, QueryId, ServiceId, Time, VecMap,
};
use chordphone_session::Session;
use core::time::Duration;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

/// Lifetime of a value stored with `put`.
const PUT_TTL: Duration = Duration::from_secs(3600);
/// Longest a `link()` call waits.
const LINK_WAIT: Duration = Duration::from_secs(20);
/// Longest key accepted from a caller.
const MAX_KEY: usize = 1024;

/// A request in flight, by what should happen with its answer.
#[derive(Debug)]
pub enum Pending {
    /// `lookup()` from the API, or from the page (no reply).
    Lookup(Option<Reply>, String),
    /// `put()`.
    Put(Reply),
    /// `get()`.
    Get(Reply),
    /// `note()`.
    Send(Reply),
    /// Relays offered in the overlay, for the relay settings.
    Relays(Reply),
}

/// A `link()` call waiting for its link.
#[derive(Debug)]
pub struct Waiter {
    reply: Reply,
    started: Time,
    /// When it gives up.
    pub deadline: Time,
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

fn ids(list: &[NodeId]) -> JsValue {
    list.iter()
        .map(|id| JsValue::from_str(&id.to_hex()))
        .collect::<Array>()
        .into()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Checks a key from a caller.
fn key_ok(key: &str, reply: Reply) -> Option<Reply> {
    if key.is_empty() || key.len() > MAX_KEY {
        reply.err(&format!("key must be 1 to {MAX_KEY} bytes"));
        return None;
    }
    Some(reply)
}

/// What an answer changes on the page.
#[derive(Debug)]
pub enum PageChange {
    /// Draw this route (a page lookup ended).
    Route(Route),
    /// Say this.
    Notice(String),
}

/// The requests this tab started and the `link()` calls waiting.
#[derive(Debug, Default)]
pub struct Requests {
    /// By the node's query id.
    queries: VecMap<QueryId, Pending>,
    /// By the peer they wait for.
    waiters: VecMap<NodeId, Vec<Waiter>>,
}

impl Requests {
    pub fn api_lookup(&mut self, session: &mut Session, key: String, reply: Reply, now: Time) {
        let Some(reply) = key_ok(&key, reply) else {
            return;
        };
        let q = session.node_mut().trace(Id::for_key(&key), now);
        self.queries.insert(q, Pending::Lookup(Some(reply), key));
    }

    /// A lookup typed on the page; a notice if the key is unusable.
    pub fn page_lookup(
        &mut self,
        session: &mut Session,
        key: String,
        now: Time,
    ) -> Option<PageChange> {
        if key.is_empty() || key.len() > MAX_KEY {
            return Some(PageChange::Notice("Type a name to look up.".to_owned()));
        }
        let q = session.node_mut().trace(Id::for_key(&key), now);
        self.queries.insert(q, Pending::Lookup(None, key));
        None
    }

    pub fn api_put(
        &mut self,
        session: &mut Session,
        key: &str,
        value: String,
        reply: Reply,
        now: Time,
    ) {
        let Some(reply) = key_ok(key, reply) else {
            return;
        };
        match session.node_mut().put(
            Id::for_key(key),
            Kind::Single,
            value.into_bytes(),
            PUT_TTL,
            now,
        ) {
            Ok(q) => {
                self.queries.insert(q, Pending::Put(reply));
            }
            Err(e) => reply.err(&format!("put refused: {e}")),
        }
    }

    pub fn api_get(&mut self, session: &mut Session, key: &str, reply: Reply, now: Time) {
        let Some(reply) = key_ok(key, reply) else {
            return;
        };
        let q = session.node_mut().get(Id::for_key(key), Kind::Single, now);
        self.queries.insert(q, Pending::Get(reply));
    }

    pub fn api_link(&mut self, session: &mut Session, hex: &str, reply: Reply, now: Time) {
        let Some(peer) = Id::from_hex(hex.trim()) else {
            reply.err("not a node id: expected 40 hex digits");
            return;
        };
        if peer == session.id() {
            reply.err("that is this node's own id");
            return;
        }
        if session.is_up(&peer) {
            let obj = Object::new();
            set(&obj, "ms", &JsValue::from_f64(0.0));
            reply.ok(&obj);
            return;
        }
        self.waiters
            .get_or_insert_with(peer, Vec::new)
            .push(Waiter {
                reply,
                started: now,
                deadline: now + LINK_WAIT,
            });
        session.connect(peer, now);
    }

    /// `note(idHex, text, service)`: a message to a node through the ring,
    /// settled when the node took it.
    pub fn api_send(
        &mut self,
        session: &mut Session,
        (to, text, service): (&str, String, u16),
        reply: Reply,
        now: Time,
    ) {
        let Some(to) = Id::from_hex(to.trim()) else {
            reply.err("not a node id: expected 40 hex digits");
            return;
        };
        if text.len() > crate::notes::MAX_NOTE {
            reply.err("message too long");
            return;
        }
        match session
            .node_mut()
            .send_app(to, ServiceId(service), text.into_bytes(), now)
        {
            Ok(q) => {
                self.queries.insert(q, Pending::Send(reply));
            }
            Err(e) => reply.err(&format!("not sent: {e}")),
        }
    }

    /// Reads the relays offered in the overlay (`service:relay`).
    pub fn find_relays(&mut self, session: &mut Session, reply: Reply, now: Time) {
        let q = session.node_mut().get(relay_key(), Kind::Multi, now);
        self.queries.insert(q, Pending::Relays(reply));
    }

    /// The link to `peer` is up: fulfil the `link()` calls waiting on it.
    pub fn link_up(&mut self, peer: NodeId, now: Time) {
        for w in self.waiters.remove(&peer).unwrap_or_default() {
            let obj = Object::new();
            set(
                &obj,
                "ms",
                &JsValue::from_f64(ms(now.saturating_since(w.started))),
            );
            w.reply.ok(&obj);
        }
    }

    /// No link to `peer`: reject the `link()` calls waiting on it.
    pub fn link_failed(&mut self, peer: NodeId, why: &str) {
        for w in self.waiters.remove(&peer).unwrap_or_default() {
            w.reply
                .err(&format!("no link to {}: {why}", &peer.to_hex()[..8]));
        }
    }

    pub fn expire(&mut self, now: Time) {
        let late: Vec<NodeId> = self
            .waiters
            .iter()
            .filter(|(_, ws)| ws.iter().any(|w| w.deadline <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in late {
            let Some(list) = self.waiters.remove(&peer) else {
                continue;
            };
            let (late, keep): (Vec<Waiter>, Vec<Waiter>) =
                list.into_iter().partition(|w| w.deadline <= now);
            for w in late {
                w.reply
                    .err(&format!("no link to {}: timed out", &peer.to_hex()[..8]));
            }
            if !keep.is_empty() {
                self.waiters.insert(peer, keep);
            }
        }
    }

    /// A request ended; `me` is this node, `now` the time.
    pub fn done(
        &mut self,
        id: QueryId,
        (hops, elapsed): (u8, Duration),
        outcome: Result<Answer, QueryError>,
        (me, now): (NodeId, Time),
    ) -> Option<PageChange> {
        let pending = self.queries.remove(&id)?;
        match (pending, outcome) {
            (Pending::Lookup(reply, key), Ok(Answer::Route { owner, mut path })) => {
                // The path runs from this node to the owner; the page draws
                // the owner itself at the end of the route.
                if let Some(reply) = reply {
                    let obj = Object::new();
                    set(&obj, "owner", &JsValue::from_str(&owner.to_hex()));
                    set(&obj, "hops", &JsValue::from(hops));
                    set(&obj, "ms", &JsValue::from_f64(ms(elapsed)));
                    set(&obj, "path", &ids(&path));
                    reply.ok(&obj);
                } else {
                    if path.last() == Some(&owner) {
                        path.pop();
                    }
                    return Some(PageChange::Route(Route {
                        key,
                        owner,
                        path,
                        hops,
                        ms: ms(elapsed),
                    }));
                }
            }
            (Pending::Put(reply), Ok(Answer::Stored)) => reply.ok(&JsValue::TRUE),
            (Pending::Send(reply), Ok(Answer::Delivered)) => {
                let obj = Object::new();
                set(&obj, "hops", &JsValue::from(hops));
                set(&obj, "ms", &JsValue::from_f64(ms(elapsed)));
                reply.ok(&obj);
            }
            (Pending::Send(reply), Err(e)) => reply.err(&format!("not delivered: {e}")),
            (Pending::Send(reply), Ok(_)) => reply.err("unexpected answer"),
            (Pending::Get(reply), Ok(Answer::Records(records))) => {
                let values: Array = records
                    .iter()
                    .filter_map(|r| r.value.as_deref())
                    .map(|v| JsValue::from_str(&String::from_utf8_lossy(v)))
                    .collect();
                reply.ok(&values);
            }
            (Pending::Relays(reply), Ok(Answer::Records(records))) => {
                let (offers, refused) = relay_offers(&records, now);
                if refused > 0 {
                    log::info(&format!(
                        "{refused} relay offer(s) refused: not signed offers of a plain URL"
                    ));
                }
                let urls: Array = by_distance(offers, &me)
                    .iter()
                    .map(|u| JsValue::from_str(u))
                    .collect();
                reply.ok(&urls);
            }
            (Pending::Relays(reply), Err(e)) => reply.err(&format!("no relays read: {e}")),
            (Pending::Lookup(None, key), Err(e)) => {
                return Some(PageChange::Notice(format!("Lookup of “{key}” failed: {e}")));
            }
            (Pending::Lookup(Some(reply), _), Err(e)) => reply.err(&format!("lookup failed: {e}")),
            (Pending::Put(reply), Err(e)) => reply.err(&format!("put failed: {e}")),
            (Pending::Get(reply), Err(e)) => reply.err(&format!("get failed: {e}")),
            (
                Pending::Lookup(Some(reply), _)
                | Pending::Put(reply)
                | Pending::Get(reply)
                | Pending::Relays(reply),
                Ok(_),
            ) => reply.err("unexpected answer"),
            (Pending::Lookup(None, _), Ok(_)) => {}
        }
        None
    }

    /// When the earliest `link()` call gives up.
    pub fn next_deadline(&self) -> Option<Time> {
        self.waiters.values().flatten().map(|w| w.deadline).min()
    }
}
