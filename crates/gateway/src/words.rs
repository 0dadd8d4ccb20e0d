//! Why a call to a number failed, in words for the person who dialled
//! it: the phone core's words, so that the tab shows what the gateway logs.

pub use chordphone_phone::{number_failure_words as failure_words, NO_LINE};

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_sip::Failure;

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
