//! Why a call to a number failed, in words for the person who dialled it.

use chordphone_sip::Failure;

/// No trunk is usable, or no media bridge is configured.
pub const NO_LINE: &str = "No line to the phone network is available";

/// The words for a trunk's (or our own) failure of a call to a number.
pub fn failure_words(f: &Failure) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_statuses_become_the_words_a_person_reads() {
        let w = |code: u16| failure_words(&Failure::from_status(code, b""));
        assert_eq!(w(404), "That number does not exist");
        assert_eq!(w(486), "The number is busy");
        assert_eq!(w(600), "The number is busy");
        assert_eq!(w(403), "The trunk refused the call");
        assert_eq!(w(408), "The phone network did not answer");
        assert_eq!(w(503), NO_LINE);
        assert_eq!(w(500), "The phone network failed to connect the call");
        assert_eq!(
            failure_words(&Failure::Unreachable),
            "The phone network did not answer"
        );
        assert_eq!(w(699), "The phone network refused the call");
    }
}
