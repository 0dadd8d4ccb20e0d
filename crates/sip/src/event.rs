//! What a user agent tells the app, and what it counts.

use bytes::Bytes;

use crate::failure::{EndReason, Failure};
use crate::ids::{CallId, RegistrationId, TransactionId};

/// What the user agent tells the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Someone calls us: ring, then [`UserAgent::answer`](crate::UserAgent::answer) or [`UserAgent::reject`](crate::UserAgent::reject).
    Incoming {
        /// The new call.
        call: CallId,
        /// The caller's `From` (display name and URI, as received).
        from: String,
        /// The `To` of the INVITE.
        to: String,
        /// The SDP offer, if the INVITE carried one.
        offer: Option<Bytes>,
    },
    /// Our call makes progress: 180 Ringing or 183 with early media.
    Progress {
        /// The call.
        call: CallId,
        /// 180 or 183 (or another 1xx).
        code: u16,
        /// An SDP answer for early media, if any.
        body: Option<Bytes>,
    },
    /// Our call was answered: the 2xx arrived and we sent the ACK.
    Answered {
        /// The call.
        call: CallId,
        /// The SDP answer.
        answer: Option<Bytes>,
    },
    /// A call we answered is confirmed: the caller's ACK arrived.
    Connected {
        /// The call.
        call: CallId,
    },
    /// The other side offers a media change (re-INVITE: hold, resume, new
    /// media): answer with [`UserAgent::accept_reoffer`](crate::UserAgent::accept_reoffer) or refuse with
    /// [`UserAgent::reject_reoffer`](crate::UserAgent::reject_reoffer).
    Reoffer {
        /// The call.
        call: CallId,
        /// The new SDP offer.
        offer: Bytes,
    },
    /// Our media change was accepted.
    MediaChanged {
        /// The call.
        call: CallId,
        /// The SDP answer.
        answer: Bytes,
    },
    /// Our media change was refused; the call goes on unchanged.
    ReofferFailed {
        /// The call.
        call: CallId,
        /// Why.
        failure: Failure,
    },
    /// The call is over.
    Ended {
        /// The call.
        call: CallId,
        /// How it ended.
        reason: EndReason,
    },
    /// A MESSAGE arrived (answered 200 already).
    Message {
        /// The sender's `From`.
        from: String,
        /// Its Content-Type.
        content_type: String,
        /// Its body.
        body: Bytes,
    },
    /// A MESSAGE or OPTIONS of ours got its final answer.
    RequestDone {
        /// Which request.
        id: TransactionId,
        /// The 2xx code, or why it failed.
        outcome: Result<u16, Failure>,
    },
    /// A registration succeeded (and is refreshed before it runs out).
    Registered {
        /// Which registration.
        id: RegistrationId,
        /// Seconds the registrar granted (0: removed).
        expires: u32,
    },
    /// A registration failed.
    RegistrationFailed {
        /// Which registration.
        id: RegistrationId,
        /// Why.
        failure: Failure,
    },
}

/// Counters of what arrived and what was done with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs handed to the user agent.
    pub received: u64,
    /// Inputs that did not parse as a SIP message at all.
    pub malformed: u64,
    /// Messages that parsed but were refused (invalid, unsupported).
    pub invalid: u64,
    /// Error responses we sent without creating any state (stateless 4xx/5xx).
    pub error_responses: u64,
    /// Responses and ACKs that matched nothing of ours.
    pub stray: u64,
    /// Requests refused for lack of room (calls, transactions).
    pub overload: u64,
    /// Keepalives (CRLF) received.
    pub keepalives: u64,
}
