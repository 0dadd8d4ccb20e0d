//! Counters of what the phone received, refused and dropped.

/// What arrived and what was done with it. Every refusal has a counter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Payloads handed to [`crate::Phone::handle_app`].
    pub received: u64,
    /// Payloads that opened and passed every check (handed to SIP).
    pub accepted: u64,
    /// Not a sealed envelope at all.
    pub garbage: u64,
    /// Failed authentication: altered on the way, or sealed for another node.
    pub undecryptable: u64,
    /// Opened, but the contents do not decode.
    pub malformed: u64,
    /// The sender's node key does not hash to the origin.
    pub wrong_node_key: u64,
    /// The claim record is forged, expired or not a claim.
    pub bad_claim: u64,
    /// The user signature does not verify under the claim's writer.
    pub bad_user_sig: u64,
    /// Sealed outside the replay window, or seen before: replays.
    pub replayed: u64,
    /// The SIP sender's AOR is not the claimed one (or the SIP is unreadable).
    pub wrong_sender: u64,
    /// 403 Forbidden answers sent to refused requests.
    pub forbidden_sent: u64,
    /// New calls and messages for a name this device does not hold
    /// (answered 404).
    pub misdirected: u64,
    /// Payloads that arrived while no name is registered.
    pub not_registered: u64,
    /// Incoming calls refused: no room (486), or no SDP offer (488).
    pub calls_refused: u64,
    /// Outgoing messages that could not be sealed (no key, too large).
    pub unsealable: u64,
    /// Sends the overlay reported as failed.
    pub send_failed: u64,
    /// Outcomes for tokens the phone no longer waits for.
    pub stray_outcomes: u64,
    /// Lookup records that did not verify (forged claims or bindings).
    pub bad_records: u64,
    /// Overlay requests given up on because too many waited for outcomes.
    pub dropped_pending: u64,
    /// Notices dropped because the action queue was full.
    pub dropped_events: u64,
    /// Inbox values that were not a message for us from whom they claim
    /// (sealed to another key, forged sender, malformed, too many letters).
    pub inbox_refused: u64,
    /// Inbox values beyond what one read opens.
    pub inbox_dropped: u64,
    /// Contact list records that did not verify, open or decode.
    pub contacts_refused: u64,
    /// Presence values not trusted (forged, another AOR's, malformed,
    /// expired) or beyond what one read judges.
    pub presence_refused: u64,
    /// The SIP user agent's own counters.
    pub sip: chordphone_sip::Stats,
}
