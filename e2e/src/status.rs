//! A node's status, as the server's `/status` and a tab's `status()` report
//! it; the two shapes share the fields the ring checks read.

use chordphone_overlay::Id;
use serde_json::Value;

/// The parts of a status the checks use, with the raw JSON for dumps.
#[derive(Clone, Debug)]
pub struct NodeStatus {
    /// Which node (a server or a tab name), for messages.
    pub label: String,
    /// Its id.
    pub id: Id,
    /// Its predecessor, if it has one.
    pub predecessor: Option<Id>,
    /// Its successor list, nearest first.
    pub successors: Vec<Id>,
    /// The nodes it has a link to.
    pub peers: Vec<Id>,
    /// Open WebRTC data-channel links.
    pub webrtc: u64,
    /// Open WebSocket links.
    pub websocket: u64,
    /// Records it stores.
    pub records: u64,
    /// Whether it has joined the ring.
    pub joined: bool,
    /// A tab's connection state ("joined", "server-unreachable", ...).
    pub state: Option<String>,
    /// The JSON as reported.
    pub raw: Value,
}

fn id_field(v: &Value, what: &str) -> crate::Result<Id> {
    v.as_str()
        .and_then(Id::from_hex)
        .ok_or_else(|| format!("{what} is not a 40-digit hex id: {v}"))
}

impl NodeStatus {
    /// Parses a status; `label` names the node in messages.
    pub fn parse(label: &str, raw: Value) -> crate::Result<NodeStatus> {
        let fail = |e: String| format!("{label}: status {raw}: {e}");
        let id = id_field(&raw["id"], "id").map_err(fail)?;
        let predecessor = match &raw["predecessor"] {
            Value::Null => None,
            v => Some(id_field(v, "predecessor").map_err(fail)?),
        };
        let list = |key: &str| -> crate::Result<Vec<Id>> {
            match &raw[key] {
                Value::Array(items) => items.iter().map(|v| id_field(v, key)).collect(),
                Value::Null => Ok(Vec::new()),
                other => Err(format!("{key} is not a list: {other}")),
            }
        };
        let successors = list("successors").map_err(fail)?;
        let peers = match &raw["peers"] {
            Value::Array(items) => items
                .iter()
                .map(|p| id_field(&p["id"], "peers[].id"))
                .collect::<crate::Result<Vec<Id>>>()
                .map_err(fail)?,
            _ => Vec::new(),
        };
        let count = |key: &str| raw["links"][key].as_u64().unwrap_or(0);
        Ok(NodeStatus {
            label: label.to_string(),
            id,
            predecessor,
            successors,
            peers,
            webrtc: count("webrtc"),
            websocket: count("websocket"),
            records: raw["records"].as_u64().unwrap_or(0),
            joined: raw["joined"].as_bool().unwrap_or(false),
            state: raw["state"].as_str().map(str::to_string),
            raw: raw.clone(),
        })
    }

    /// Whether it has a link to `id`.
    pub fn linked_to(&self, id: &Id) -> bool {
        self.peers.contains(id)
    }
}
