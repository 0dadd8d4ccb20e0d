//! WebSocket close codes with which a server ends a link, and why. Codes in
//! 4000..=4999 are for applications (RFC 6455, section 7.4.2); the browser
//! shows [`CloseCode::reason`] to the person.

/// Why a link was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseCode {
    /// Closed on purpose: the overlay no longer needs the link, or shutdown.
    Normal,
    /// A frame could not be parsed.
    Malformed,
    /// The identity handshake failed or took too long.
    Handshake,
    /// The peer sent faster than it is allowed to.
    RateLimited,
    /// The peer did not read fast enough: its outgoing queue filled.
    SlowReader,
    /// A frame was larger than [`crate::MAX_LINK_FRAME`].
    TooLarge,
    /// The server holds as many connections as it accepts.
    Full,
    /// The same node id connected again; the older connection yields.
    Replaced,
}

impl CloseCode {
    /// Every code, for tables and tests.
    pub const ALL: [CloseCode; 8] = [
        CloseCode::Normal,
        CloseCode::Malformed,
        CloseCode::Handshake,
        CloseCode::RateLimited,
        CloseCode::SlowReader,
        CloseCode::TooLarge,
        CloseCode::Full,
        CloseCode::Replaced,
    ];

    /// The numeric WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::Normal => 1000,
            CloseCode::TooLarge => 1009,
            CloseCode::Malformed => 4000,
            CloseCode::Handshake => 4001,
            CloseCode::RateLimited => 4002,
            CloseCode::SlowReader => 4003,
            CloseCode::Full => 4004,
            CloseCode::Replaced => 4005,
        }
    }

    /// A short reason for the close frame (at most 123 bytes by RFC 6455).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::Normal => "closed",
            CloseCode::Malformed => "malformed frame",
            CloseCode::Handshake => "identity handshake failed",
            CloseCode::RateLimited => "too many messages",
            CloseCode::SlowReader => "not reading: queue full",
            CloseCode::TooLarge => "frame too large",
            CloseCode::Full => "server full",
            CloseCode::Replaced => "same node connected again",
        }
    }

    /// The code for a numeric close code, if it is one of ours.
    pub fn from_code(code: u16) -> Option<CloseCode> {
        CloseCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// A label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            CloseCode::Normal => "normal",
            CloseCode::Malformed => "malformed",
            CloseCode::Handshake => "handshake",
            CloseCode::RateLimited => "rate_limited",
            CloseCode::SlowReader => "slow_reader",
            CloseCode::TooLarge => "too_large",
            CloseCode::Full => "full",
            CloseCode::Replaced => "replaced",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_round_trip_and_reasons_fit_a_close_frame() {
        for c in CloseCode::ALL {
            assert_eq!(CloseCode::from_code(c.code()), Some(c));
            assert!(c.reason().len() <= 123);
        }
        assert_eq!(CloseCode::from_code(1006), None);
    }
}
