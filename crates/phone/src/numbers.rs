//! Calls to telephone numbers: they go to a gateway node, found under the
//! overlay's `service:pstn-gateway` key (one signed entry per gateway),
//! which carries them to a SIP trunk. The tab tries one gateway at a
//! time and falls over to the next when one cannot be reached.
//!
//! The gateway answers for the number: its replies carry a claim on its
//! own name, not on the number, so the gate accepts a message about a
//! number only from a gateway node this phone is calling through.

use chordphone_overlay::{node_id_of, Answer, Id, Kind, NodeId, QueryError, Record, Time};
use chordphone_sip::Failure;
use rand_core::RngCore;

use crate::action::{Action, CallId};
use crate::binding::Device;
use crate::phone::{Pending, Phone};

/// The overlay key gateways announce themselves under (`Kind::Multi`).
pub const GATEWAY_SERVICE: &str = "service:pstn-gateway";

/// Gateways tried for one call, at most.
pub const MAX_GATEWAYS: usize = 4;

/// No gateway, or none could take the call.
pub const NO_LINE: &str = "No line to the phone network is available";

/// The AOR a dialled number is called at (`sip:+15551234567@chordphone`),
/// if `target` is a number: `+...`, digits with separators, `tel:`, or a
/// `sip:` URI whose user is a number. The gateway applies its dial plan;
/// the tab only removes separators.
pub fn number_aor(target: &str, overlay_name: &str) -> Option<String> {
    let t = target.trim();
    let lower = t.to_ascii_lowercase();
    let dialled = if let Some(rest) = lower.strip_prefix("tel:") {
        rest.split(';').next().unwrap_or(rest)
    } else if let Some(rest) = lower.strip_prefix("sip:") {
        let (user, host) = rest.split_once('@')?;
        if host != overlay_name.to_ascii_lowercase() {
            return None;
        }
        user.split(';').next().unwrap_or(user)
    } else {
        &lower
    };
    let mut number = String::with_capacity(dialled.len());
    for (i, c) in dialled.chars().enumerate() {
        match c {
            '0'..='9' => number.push(c),
            '+' if i == 0 => number.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let digits = number.trim_start_matches('+').len();
    (3..=20)
        .contains(&digits)
        .then(|| format!("sip:{number}@{}", overlay_name.to_ascii_lowercase()))
}

/// Whether `aor` is a number's AOR (`sip:+1555...@...` or digits).
pub(crate) fn is_number_aor(aor: &str) -> bool {
    let user = aor
        .strip_prefix("sip:")
        .and_then(|r| r.split('@').next())
        .unwrap_or("");
    let digits = user.strip_prefix('+').unwrap_or(user);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Why a call to a number failed, in words for the person (the gateway
/// says the same in its log).
pub fn number_failure_words(f: &Failure) -> &'static str {
    match f {
        Failure::NotFound => "That number does not exist",
        Failure::Busy => "The number is busy",
        Failure::Unauthorized => "The trunk refused the call",
        Failure::NoAnswer | Failure::Unreachable => "The phone network did not answer",
        Failure::ServerError { code: 503 } => NO_LINE,
        Failure::ServerError { .. } => "The phone network failed to connect the call",
        Failure::Declined => "The call was declined",
        Failure::Cancelled => "The call was cancelled",
        Failure::Incompatible => "The phone network cannot carry this call's audio",
        Failure::SessionExpired | Failure::DialogGone => {
            "The connection to the phone network was lost"
        }
        _ => "The phone network refused the call",
    }
}

/// The gateways among the records a get of [`GATEWAY_SERVICE`] returned:
/// signed, live, and not this node.
fn gateways(records: &[Record], me: NodeId, now: Time) -> Vec<Device> {
    let key = Id::for_key(GATEWAY_SERVICE);
    let mut found: Vec<Device> = records
        .iter()
        .filter(|r| r.key == key && r.kind == Kind::Multi && r.expires > now)
        .filter(|r| r.value.is_some() && r.verify())
        .map(|r| Device {
            node: node_id_of(&r.writer),
            node_key: r.writer,
            label: "gateway".to_owned(),
        })
        .filter(|d| d.node != me)
        .collect();
    found.sort_by_key(|d| d.node);
    found.dedup_by(|a, b| a.node == b.node);
    found
}

impl Phone {
    /// Looks the gateways up for a call to a number.
    pub(crate) fn start_gateway_lookup(&mut self, call: CallId) {
        let token = self.token(Pending::LookupGateways(call));
        self.act(Action::Get {
            token,
            key: Id::for_key(GATEWAY_SERVICE),
            kind: Kind::Multi,
        });
    }

    /// The gateways found: the call goes to one of them (picked by the
    /// phone's seeded generator, so that callers spread over them), the
    /// others wait as spares.
    pub(crate) fn on_gateways(
        &mut self,
        call: CallId,
        outcome: Result<Answer, QueryError>,
        now: Time,
    ) {
        let records = match outcome {
            Ok(Answer::Records(r)) => r,
            _ => Vec::new(),
        };
        let mut found = gateways(&records, self.config.node.node_id(), now);
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if !c.is_dialing() {
            return;
        }
        if found.is_empty() {
            return self.end_call(call, NO_LINE.to_owned(), now);
        }
        let first = (self.rng.next_u32() as usize) % found.len();
        found.rotate_left(first);
        found.truncate(MAX_GATEWAYS);
        let first = found.remove(0);
        c.spare_gateways = found;
        c.devices = Some(vec![first]);
        if c.offer.is_some() {
            self.fork(call, now);
        }
    }

    /// A gateway leg could not be reached: the next gateway, if any.
    /// Whether one was tried.
    pub(crate) fn next_gateway(&mut self, call: CallId, now: Time) -> bool {
        let Some(c) = self.calls.get_mut(&call) else {
            return false;
        };
        if !c.is_dialing() || c.winner.is_some() || c.spare_gateways.is_empty() {
            return false;
        }
        let next = c.spare_gateways.remove(0);
        self.ring_device(call, next, now)
    }

    /// Whether `from` is a gateway this phone calls `number` through.
    pub(crate) fn is_gateway_for(&self, from: NodeId, number: &str) -> bool {
        self.calls
            .values()
            .any(|c| c.is_live() && c.peer == number && c.legs.iter().any(|l| l.node == from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_told_from_names() {
        let n = |t| number_aor(t, "chordphone");
        assert_eq!(
            n("+1 555 123-4567").as_deref(),
            Some("sip:+15551234567@chordphone")
        );
        assert_eq!(
            n("tel:+1-555-123-4567;phone-context=x").as_deref(),
            Some("sip:+15551234567@chordphone")
        );
        assert_eq!(
            n("sip:+15551234567@chordphone").as_deref(),
            Some("sip:+15551234567@chordphone")
        );
        assert_eq!(
            n("(555) 123-4567").as_deref(),
            Some("sip:5551234567@chordphone")
        );
        assert_eq!(n("bob"), None);
        assert_eq!(n("sip:bob@chordphone"), None);
        assert_eq!(n("sip:+15551234567@elsewhere"), None);
        assert_eq!(n("+1"), None);
        assert_eq!(n("1+2345"), None);
        assert!(is_number_aor("sip:+15551234567@chordphone"));
        assert!(!is_number_aor("sip:bob@chordphone"));
    }

    #[test]
    fn failures_become_words() {
        assert_eq!(
            number_failure_words(&Failure::ServerError { code: 503 }),
            NO_LINE
        );
        assert_eq!(number_failure_words(&Failure::Busy), "The number is busy");
        assert_eq!(
            number_failure_words(&Failure::NotFound),
            "That number does not exist"
        );
    }
}
