//! Handles: calls, dialogs and transactions are named by newtypes, never by
//! bare integers or strings.

use core::fmt;

/// One call of this user agent (its handle; not the SIP `Call-ID`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// A request this user agent started outside any call (MESSAGE, OPTIONS,
/// REGISTER): its result comes back in an event carrying this id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(pub u64);

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tx#{}", self.0)
    }
}

/// A registration kept alive by this user agent (the gateway's REGISTER).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistrationId(pub u64);

/// A dialog's identity (RFC 3261 §12): the SIP `Call-ID` and both tags, as
/// seen from this side.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DialogId {
    /// The SIP `Call-ID` header value.
    pub call_id: String,
    /// This side's tag.
    pub local_tag: String,
    /// The other side's tag.
    pub remote_tag: String,
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local={};remote={}",
            self.call_id, self.local_tag, self.remote_tag
        )
    }
}
