//! Peers out of reach one way: the shell could not set a link up (ICE
//! failed, the set-up timed out) though nothing says the peer died. Such a
//! peer stays in the ring view (successor list, fingers); requests go
//! around it for now, and the node asks for a link again after a back-off
//! that grows with each failure, up to a bound, so that a way found later
//! (a relay) is used.

use super::Node;
use crate::id::NodeId;
use crate::time::Time;
use core::time::Duration;

/// The wait before asking again after the first failure; it doubles with
/// each further one, up to the bound.
pub(super) const UNREACHABLE_BACKOFF_MIN: Duration = Duration::from_secs(10);
pub(super) const UNREACHABLE_BACKOFF_MAX: Duration = Duration::from_secs(160);

/// Most peers remembered as out of reach (shell reports are local, but a
/// table must not grow without bound).
const MAX_REMEMBERED: usize = 4096;

/// What the node remembers of a peer it could not link to.
#[derive(Clone, Copy, Debug)]
pub(super) struct OutOfReach {
    /// Set-ups that failed in a row.
    failures: u32,
    /// When the last one failed.
    last: Time,
}

impl Node {
    /// The shell could not set up a link to `peer`.
    pub(super) fn on_link_unreachable(&mut self, peer: NodeId, now: Time) {
        let known = self.cold.out_of_reach.contains_key(&peer);
        if !known && self.cold.out_of_reach.len() >= MAX_REMEMBERED {
            // Remember nothing more, but still wait the shortest back-off.
            self.busy.insert(peer, now + UNREACHABLE_BACKOFF_MIN);
        } else {
            let entry = self
                .cold
                .out_of_reach
                .get_or_insert_with(peer, || OutOfReach {
                    failures: 0,
                    last: now,
                });
            entry.failures = entry.failures.saturating_add(1);
            entry.last = now;
            let wait = unreachable_backoff(entry.failures);
            self.busy.insert(peer, now + wait);
        }
        // No failure of the peer: it keeps its place in the ring view.
        self.links.remove(&peer);
        self.forget_waits_on(peer);
        self.reroute_via(peer, now);
    }

    /// A link to `peer` is up: whatever failed before, it is in reach.
    pub(super) fn reached(&mut self, peer: &NodeId) {
        self.cold.out_of_reach.remove(peer);
    }

    /// Forgets failures long past: a peer out of reach that long ago starts
    /// again from the shortest back-off.
    pub(super) fn forget_old_failures(&mut self, now: Time) {
        self.cold
            .out_of_reach
            .retain(|_, e| now.saturating_since(e.last) < UNREACHABLE_BACKOFF_MAX * 2);
    }
}

/// The back-off after `failures` failed set-ups in a row.
pub(super) fn unreachable_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    UNREACHABLE_BACKOFF_MIN
        .saturating_mul(1 << doublings)
        .min(UNREACHABLE_BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_its_bound() {
        assert_eq!(unreachable_backoff(1), UNREACHABLE_BACKOFF_MIN);
        assert_eq!(unreachable_backoff(2), UNREACHABLE_BACKOFF_MIN * 2);
        assert_eq!(unreachable_backoff(3), UNREACHABLE_BACKOFF_MIN * 4);
        assert_eq!(unreachable_backoff(50), UNREACHABLE_BACKOFF_MAX);
        assert_eq!(unreachable_backoff(u32::MAX), UNREACHABLE_BACKOFF_MAX);
    }
}
