//! Link life in the browser console, for whoever debugs a ring: one line
//! per link that comes up or goes away, with short ids.

use chordphone_overlay::NodeId;

/// A short form of an id for log lines.
pub fn short(id: &NodeId) -> String {
    id.to_hex()[..8].to_owned()
}

thread_local! {
    static ME: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Names this node in every line (several tabs may share one console log).
pub fn set_me(id: &NodeId) {
    ME.with(|m| *m.borrow_mut() = short(id));
}

/// One informational line.
pub fn info(msg: &str) {
    let line = ME.with(|m| format!("[{}] {msg}", m.borrow()));
    web_sys::console::info_1(&line.into());
}
