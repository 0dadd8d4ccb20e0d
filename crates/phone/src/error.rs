//! Typed errors of the phone's commands and of registration, each with a
//! `Display` text a person can read.

/// A command the phone cannot carry out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// Not a valid name: 1 to 32 characters of `a-z 0-9 . _ -`.
    #[error("a name is 1 to 32 letters, digits, dots, dashes or underscores")]
    BadName,
    /// Not something this phone can call: another overlay, a `tel:` URI, a
    /// telephone number.
    #[error("that address cannot be called from here")]
    BadTarget,
    /// Register a name first.
    #[error("not registered yet")]
    NotRegistered,
    /// No such call (never was, or already forgotten).
    #[error("no such call")]
    UnknownCall,
    /// The call is not in a state where this applies.
    #[error("the call is not in a state where this applies")]
    WrongState,
    /// A media change (hold, resume, answer) is still in progress.
    #[error("a media change is still in progress")]
    MediaPending,
    /// As many calls as the phone keeps at once.
    #[error("too many calls at once")]
    TooManyCalls,
    /// As many name look-ups as the phone runs at once.
    #[error("too many look-ups at once")]
    TooManyLookups,
    /// As many messages on their way as the phone keeps.
    #[error("too many messages on their way")]
    TooManyMessages,
    /// A message longer than the phone sends.
    #[error("the message is too long")]
    MessageTooLong,
    /// The contact list holds as many contacts (or bytes) as it can.
    #[error("the contact list is full")]
    ContactsFull,
    /// Not in the contact list.
    #[error("no such contact")]
    UnknownContact,
    /// A person chooses online, away or busy.
    #[error("presence is online, away or busy")]
    BadPresence,
}

/// Why a registration failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another user key holds the name.
    #[error("that name is already taken by someone else")]
    NameTaken,
    /// The overlay could not store the records: not in a ring yet, no
    /// route to the key's owner, no answer in time.
    #[error("could not reach the network to register; try again in a moment")]
    NoRoute,
    /// The overlay refused a record for another reason (its store is full,
    /// the clocks disagree about its lifetime).
    #[error("the network refused the registration")]
    Refused,
}
