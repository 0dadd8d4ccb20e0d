//! What the gateway counts; the server renders these in `/metrics`.

use crate::limits::LimitHit;

/// Why the gateway refused a call before any trunk saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refusal {
    /// The caller is not a registered, signed identity.
    Unregistered,
    /// The SIP From is not the identity the caller proved.
    WrongIdentity,
    /// The destination is not a phone number.
    NotANumber,
    /// The destination is denied (or not allowed) by the dial plan.
    ForbiddenDestination,
    /// A per-identity limit (see [`LimitHit`]).
    Limit(LimitHit),
    /// No media bridge is configured, or it refused the call's media.
    NoMedia,
    /// No trunk is up.
    NoTrunk,
    /// The gateway's call table is full.
    Full,
}

impl Refusal {
    /// Every reason, for rendering counters that are still zero.
    pub const ALL: [Refusal; 11] = [
        Refusal::Unregistered,
        Refusal::WrongIdentity,
        Refusal::NotANumber,
        Refusal::ForbiddenDestination,
        Refusal::Limit(LimitHit::Concurrent),
        Refusal::Limit(LimitHit::PerHour),
        Refusal::Limit(LimitHit::MinutesPerDay),
        Refusal::Limit(LimitHit::Table),
        Refusal::NoMedia,
        Refusal::NoTrunk,
        Refusal::Full,
    ];

    /// A metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Unregistered => "unregistered",
            Refusal::WrongIdentity => "wrong_identity",
            Refusal::NotANumber => "not_a_number",
            Refusal::ForbiddenDestination => "forbidden_destination",
            Refusal::Limit(LimitHit::Concurrent) => "limit_concurrent",
            Refusal::Limit(LimitHit::PerHour) => "limit_per_hour",
            Refusal::Limit(LimitHit::MinutesPerDay) => "limit_minutes_per_day",
            Refusal::Limit(LimitHit::Table) => "limit_table",
            Refusal::NoMedia => "no_media",
            Refusal::NoTrunk => "no_trunk",
            Refusal::Full => "full",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The gateway's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls from chordphone callers to numbers, accepted and sent to a trunk.
    pub calls_out: u64,
    /// Calls from trunks to DIDs (the next stage; 0 for now).
    pub calls_in: u64,
    /// Calls a trunk answered.
    pub answered: u64,
    /// Calls that ended failed after reaching a trunk.
    pub failed: u64,
    /// Calls tried again on the next trunk.
    pub failovers: u64,
    /// Calls hung up because the caller's minutes ran out.
    pub minutes_cut: u64,
    /// Calls ended because the media bridge lost a leg (ICE or DTLS with
    /// the tab gave up).
    pub media_failed: u64,
    /// Times a trunk went from up to down.
    pub trunk_down: u64,
    /// Times a trunk came up (first answer, or back after being down).
    pub trunk_up: u64,
    /// Datagrams from an address that is no trunk of ours (dropped).
    pub stray: u64,
    refused: [u64; Refusal::ALL.len()],
}

impl Stats {
    /// Calls refused for `why`.
    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why.index()]
    }

    /// All refusals.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    pub(crate) fn count_refusal(&mut self, why: Refusal) {
        self.refused[why.index()] += 1;
    }
}
