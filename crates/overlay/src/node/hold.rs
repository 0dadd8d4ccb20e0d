//! Holds: an application (a call, a relay) keeps a link open while it uses
//! it, whatever the ring needs. The idle rule and the link budget close
//! links the ring does not need; a held one they leave alone.

use super::Node;
use crate::id::NodeId;

impl Node {
    /// Keeps the link to `peer` open: neither the idle rule nor the link
    /// budget closes it until every hold is released. Holds are counted,
    /// so that two users of one link each hold and release it. A hold
    /// opens no link; it protects the one there is, or the next one.
    pub fn hold(&mut self, peer: NodeId) {
        let count = self.cold.holds.get_or_insert_with(peer, || 0);
        *count = count.saturating_add(1);
    }

    /// Ends one hold on `peer`; after the last, the link follows the usual
    /// rules again. Releasing a peer that is not held does nothing.
    pub fn release(&mut self, peer: NodeId) {
        let Some(count) = self.cold.holds.get_mut(&peer) else {
            return;
        };
        *count -= 1;
        if *count == 0 {
            self.cold.holds.remove(&peer);
        }
    }

    /// True while some hold on `peer` is in force.
    pub(super) fn is_held(&self, peer: &NodeId) -> bool {
        self.cold.holds.contains_key(peer)
    }
}
