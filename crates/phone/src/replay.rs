//! Replays: a sealed message captured on its way (by a hop, or by anyone
//! the overlay handed it to) must not work a second time. Every message is
//! signed over the time it was sealed; a receiver refuses one sealed
//! outside a window around its own clock, and remembers the signatures of
//! those inside it.

use chordphone_overlay::VecMap;

use core::time::Duration;

use chordphone_overlay::{Sig, Time};

/// How far a message's sealing time may be from the receiver's clock
/// (delivery time and clock skew between tabs).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Signatures remembered, at most; beyond it the oldest are forgotten
/// (a flood of fresh messages can shorten the memory, never grow it).
pub const MAX_SEEN: usize = 8192;

/// Why a message counts as a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replay {
    /// Sealed too long ago, or too far in the future.
    OutOfWindow,
    /// Seen already.
    Seen,
}

/// The signatures of recent messages and when they were sealed (the
/// phone's, and any other receiver of sealed SIP: the gateway).
#[derive(Debug, Default)]
pub struct Replays {
    seen: VecMap<[u8; 64], Time>,
}

impl Replays {
    /// Accepts a message sealed at `sent` with signature `sig` once.
    pub fn check(&mut self, sig: &Sig, sent: Time, now: Time) -> Result<(), Replay> {
        if sent + REPLAY_WINDOW < now || now + REPLAY_WINDOW < sent {
            return Err(Replay::OutOfWindow);
        }
        if self.seen.contains_key(&sig.0) {
            return Err(Replay::Seen);
        }
        if self.seen.len() >= MAX_SEEN {
            self.seen.retain(|_, t| *t + REPLAY_WINDOW >= now);
            if self.seen.len() >= MAX_SEEN {
                let oldest = self.seen.iter().min_by_key(|(_, t)| **t).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.seen.remove(&k);
                }
            }
        }
        self.seen.insert(sig.0, sent);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Time = Time(1_700_000_000_000_000);

    #[test]
    fn once_inside_the_window_and_never_outside() {
        let mut r = Replays::default();
        let sig = Sig([1; 64]);
        assert_eq!(r.check(&sig, NOW, NOW), Ok(()));
        assert_eq!(r.check(&sig, NOW, NOW), Err(Replay::Seen));
        let old = NOW - REPLAY_WINDOW - Duration::from_secs(1);
        assert_eq!(r.check(&Sig([2; 64]), old, NOW), Err(Replay::OutOfWindow));
        let ahead = NOW + REPLAY_WINDOW + Duration::from_secs(1);
        assert_eq!(r.check(&Sig([3; 64]), ahead, NOW), Err(Replay::OutOfWindow));
        // A tab whose clock is a minute off is fine.
        let skewed = NOW + Duration::from_secs(60);
        assert_eq!(r.check(&Sig([4; 64]), skewed, NOW), Ok(()));
    }

    #[test]
    fn memory_is_bounded() {
        let mut r = Replays::default();
        for i in 0..(MAX_SEEN + 10) as u64 {
            let mut s = [0u8; 64];
            s[..8].copy_from_slice(&i.to_be_bytes());
            assert_eq!(
                r.check(&Sig(s), NOW + Duration::from_micros(i), NOW),
                Ok(())
            );
        }
        assert_eq!(r.seen.len(), MAX_SEEN);
    }
}
