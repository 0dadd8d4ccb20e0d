//! Why a call ended, in words a person can read.

use core::fmt;

/// Why a call failed or could not go on. Every way a call can end other than
/// a hang-up has one; the app shows its `Display` text.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// 486 Busy Here, 600 Busy Everywhere.
    Busy,
    /// 603 Decline: the person refused the call.
    Declined,
    /// Nobody answered: 480, 408 from the far end, or our own ring timeout.
    NoAnswer,
    /// 404, 604, 410, 484: no such person or number.
    NotFound,
    /// 401/407 without credentials that worked, or 403.
    Unauthorized,
    /// No response at all (transaction timeout), the transport failed, or the
    /// other side never acknowledged the answer.
    Unreachable,
    /// 488, 606, 415: the two sides have no media (or body format) in common.
    Incompatible,
    /// 500, 502, 503, 504, 513 and other 5xx: the far end or a server on the way failed.
    ServerError {
        /// The status code.
        code: u16,
    },
    /// The caller gave up before the call was answered (CANCEL), or we did.
    Cancelled,
    /// The session timer ran out with no refresh (RFC 4028): the other side is gone.
    SessionExpired,
    /// The call's dialog no longer exists on the other side (481).
    DialogGone,
    /// Any other final response.
    Rejected {
        /// The status code.
        code: u16,
        /// The reason phrase as received (lossy UTF-8, at most 64 characters).
        reason: String,
    },
}

impl Failure {
    /// The failure a final non-2xx response stands for.
    pub fn from_status(code: u16, reason: &[u8]) -> Failure {
        match code {
            486 | 600 => Failure::Busy,
            603 => Failure::Declined,
            480 | 408 => Failure::NoAnswer,
            404 | 410 | 484 | 604 => Failure::NotFound,
            401 | 403 | 407 => Failure::Unauthorized,
            415 | 488 | 606 => Failure::Incompatible,
            487 => Failure::Cancelled,
            481 => Failure::DialogGone,
            500..=599 => Failure::ServerError { code },
            _ => Failure::Rejected {
                code,
                reason: crate::msg::lossy(reason).chars().take(64).collect(),
            },
        }
    }

    /// The status code a UAS sends to refuse a call for this reason.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Failure::Busy => (486, "Busy Here"),
            Failure::Declined => (603, "Decline"),
            Failure::NoAnswer => (480, "Temporarily Unavailable"),
            Failure::NotFound => (404, "Not Found"),
            Failure::Unauthorized => (403, "Forbidden"),
            Failure::Incompatible => (488, "Not Acceptable Here"),
            Failure::Cancelled => (487, "Request Terminated"),
            Failure::DialogGone => (481, "Call/Transaction Does Not Exist"),
            Failure::Unreachable | Failure::SessionExpired => (408, "Request Timeout"),
            // A gateway passes on why the network failed; other codes
            // collapse to 500.
            Failure::ServerError { code: 502 } => (502, "Bad Gateway"),
            Failure::ServerError { code: 503 } => (503, "Service Unavailable"),
            Failure::ServerError { code: 504 } => (504, "Server Time-out"),
            Failure::ServerError { .. } => (500, "Server Internal Error"),
            Failure::Rejected { .. } => (603, "Decline"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Busy => f.write_str("busy"),
            Failure::Declined => f.write_str("declined"),
            Failure::NoAnswer => f.write_str("no answer"),
            Failure::NotFound => f.write_str("not found: no such person or number"),
            Failure::Unauthorized => f.write_str("not authorized"),
            Failure::Unreachable => f.write_str("could not reach the other side (network)"),
            Failure::Incompatible => f.write_str("no common audio or video format"),
            Failure::ServerError { code } => write!(f, "server error ({code})"),
            Failure::Cancelled => f.write_str("cancelled before it was answered"),
            Failure::SessionExpired => f.write_str("connection to the other side was lost"),
            Failure::DialogGone => f.write_str("the other side no longer knows this call"),
            Failure::Rejected { code, reason } => {
                if reason.is_empty() {
                    write!(f, "refused ({code})")
                } else {
                    write!(f, "refused: {reason} ({code})")
                }
            }
        }
    }
}

/// How a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (or cancelled our own call: that is [`Failure::Cancelled`]).
    LocalHangup,
    /// The other side hung up (BYE).
    RemoteHangup,
    /// The call failed.
    Failed(Failure),
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndReason::LocalHangup => f.write_str("you hung up"),
            EndReason::RemoteHangup => f.write_str("the other side hung up"),
            EndReason::Failed(failure) => fmt::Display::fmt(failure, f),
        }
    }
}

/// Local misuse of the user agent: a command that cannot apply.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// No such call (never was, or already ended).
    #[error("no such call")]
    UnknownCall,
    /// The call is not in a state where this command applies.
    #[error("the call is not in a state where this applies")]
    WrongState,
    /// A URI given to the command does not parse.
    #[error("the address is not a valid SIP URI")]
    BadUri,
    /// A value given to the command would make an invalid header.
    #[error("a value contains characters a SIP header cannot carry")]
    BadValue,
    /// A re-INVITE of ours is still in progress on this call.
    #[error("a media change is already in progress")]
    OfferPending,
    /// Too many calls at once (see `Config::max_calls`).
    #[error("too many calls at once")]
    TooManyCalls,
}
