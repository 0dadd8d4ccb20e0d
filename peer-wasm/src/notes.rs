//! Short text notes between nodes over the application channel: the
//! simplest use of it, and the way tests (and people, from devtools) check
//! that a message reaches a node by id with its sender proven.
//!
//! Notes travel on [`NOTE_SERVICE`]. Received notes are kept in a bounded
//! list, newest last; the oldest give way.

use chordphone_overlay::{NodeId, ServiceId};
use std::collections::VecDeque;

/// The service number of notes.
pub const NOTE_SERVICE: ServiceId = ServiceId(1);
/// Notes kept.
pub const MAX_NOTES: usize = 64;
/// Longest note, in bytes of UTF-8.
pub const MAX_NOTE: usize = 2048;

/// One received note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The sender, proven by the application channel.
    pub from: NodeId,
    /// What it said (invalid UTF-8 replaced).
    pub text: String,
}

/// Received notes, newest last.
#[derive(Debug, Default)]
pub struct Notes {
    list: VecDeque<Note>,
    /// Notes refused (too long).
    pub refused: u64,
}

impl Notes {
    /// Keeps a note that arrived from `from`; an oversized one is counted
    /// and dropped.
    pub fn receive(&mut self, from: NodeId, payload: &[u8]) {
        if payload.len() > MAX_NOTE {
            self.refused += 1;
            return;
        }
        if self.list.len() == MAX_NOTES {
            self.list.pop_front();
        }
        self.list.push_back(Note {
            from,
            text: String::from_utf8_lossy(payload).into_owned(),
        });
    }

    /// Every note kept, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Note> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::Id;

    #[test]
    fn the_list_is_bounded_and_oversized_notes_are_refused() {
        let mut notes = Notes::default();
        let from = Id::for_key("a");
        for i in 0..MAX_NOTES + 5 {
            notes.receive(from, format!("note {i}").as_bytes());
        }
        assert_eq!(notes.iter().count(), MAX_NOTES);
        assert_eq!(notes.iter().next().map(|n| n.text.as_str()), Some("note 5"));
        notes.receive(from, &vec![b'x'; MAX_NOTE + 1]);
        assert_eq!(notes.refused, 1);
        notes.receive(from, &[0xff, b'o', b'k']);
        assert_eq!(
            notes.iter().last().map(|n| n.text.as_str()),
            Some("\u{fffd}ok")
        );
    }
}
