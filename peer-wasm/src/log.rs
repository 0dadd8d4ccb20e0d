//! Link life in the browser console, for whoever debugs a ring: one line
//! per link that comes up or goes away, with short ids.

use chordphone_overlay::NodeId;

/// A short form of an id for log lines.
pub fn short(id: &NodeId) -> String {
    id.to_hex()[..8].to_owned()
}

/// One informational line.
pub fn info(msg: &str) {
    web_sys::console::info_1(&msg.into());
}
