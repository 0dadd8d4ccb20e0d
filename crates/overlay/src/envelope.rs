//! How requests and replies sit on the wire: a kind number, then the body's
//! length, then the body.
//!
//! A node must be able to carry a request that a newer build invented:
//! hops only read the route header, and the destination answers what it
//! does not know with [`Reply::Unsupported`] instead of failing to decode
//! the frame (which closes the link). So the kind is a plain number and the
//! body is length-prefixed: a kind this build does not know decodes as
//! [`Request::Unknown`] (or [`Reply::Unknown`]) with its body kept as bytes,
//! and encodes back to the same bytes when forwarded.
//!
//! The body of a known kind must decode exactly, with no byte left over:
//! a new field means a new kind number. Kind numbers are part of the wire
//! format and are never reused.

use crate::wire::{Reply, Request};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Request kind numbers.
mod req {
    pub const LOOKUP: u16 = 0;
    pub const JOIN: u16 = 1;
    pub const GET: u16 = 2;
    pub const PUT: u16 = 3;
    pub const ATTACH: u16 = 4;
    pub const TRACE: u16 = 5;
    pub const APP: u16 = 6;
    /// Every kind this build knows.
    pub const KNOWN: [u16; 7] = [LOOKUP, JOIN, GET, PUT, ATTACH, TRACE, APP];
}

/// Reply kind numbers.
mod rep {
    pub const OWNER: u16 = 0;
    pub const JOINED: u16 = 1;
    pub const RECORDS: u16 = 2;
    pub const STORED: u16 = 3;
    pub const REFUSED: u16 = 4;
    pub const ATTACHED: u16 = 5;
    pub const FAILED: u16 = 6;
    pub const TRACED: u16 = 7;
    pub const DELIVERED: u16 = 8;
    pub const UNSUPPORTED: u16 = 9;
    pub const BAD_ORIGIN: u16 = 10;
    /// Every kind this build knows.
    pub const KNOWN: [u16; 11] = [
        OWNER,
        JOINED,
        RECORDS,
        STORED,
        REFUSED,
        ATTACHED,
        FAILED,
        TRACED,
        DELIVERED,
        UNSUPPORTED,
        BAD_ORIGIN,
    ];
}

/// True if `kind` is a request kind this build defines.
pub(crate) fn is_known_request(kind: u16) -> bool {
    req::KNOWN.contains(&kind)
}

/// True if `kind` is a reply kind this build defines.
pub(crate) fn is_known_reply(kind: u16) -> bool {
    rep::KNOWN.contains(&kind)
}

/// Why an envelope's body was refused.
const BAD_BODY: &str = "body does not match its kind";
/// An `Unknown` carrying a number this build knows would decode as the
/// known kind on the other side, or not at all.
const KNOWN_AS_UNKNOWN: &str = "unknown kind with a known number";

fn body<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, &'static str> {
    postcard::to_allocvec(value).map_err(|_| BAD_BODY)
}

/// Decodes a known kind's body, refusing bytes left over.
fn exact<T: DeserializeOwned>(body: &[u8]) -> Result<T, &'static str> {
    match postcard::take_from_bytes::<T>(body) {
        Ok((v, [])) => Ok(v),
        _ => Err(BAD_BODY),
    }
}

fn empty(body: &[u8]) -> Result<(), &'static str> {
    if body.is_empty() {
        Ok(())
    } else {
        Err(BAD_BODY)
    }
}

impl Request {
    /// The kind number and encoded body.
    fn to_envelope(&self) -> Result<(u16, Vec<u8>), &'static str> {
        match self {
            Request::Lookup => Ok((req::LOOKUP, Vec::new())),
            Request::Join => Ok((req::JOIN, Vec::new())),
            Request::Get { kind } => Ok((req::GET, body(kind)?)),
            Request::Put(record) => Ok((req::PUT, body(record)?)),
            Request::Attach { data } => Ok((req::ATTACH, body(data)?)),
            Request::Trace { path } => Ok((req::TRACE, body(path)?)),
            Request::App(m) => Ok((req::APP, body(m)?)),
            Request::Unknown { kind, .. } if is_known_request(*kind) => Err(KNOWN_AS_UNKNOWN),
            Request::Unknown { kind, body } => Ok((*kind, body.clone())),
        }
    }

    fn from_envelope(kind: u16, body: Vec<u8>) -> Result<Request, &'static str> {
        Ok(match kind {
            req::LOOKUP => empty(&body).map(|()| Request::Lookup)?,
            req::JOIN => empty(&body).map(|()| Request::Join)?,
            req::GET => Request::Get {
                kind: exact(&body)?,
            },
            req::PUT => Request::Put(Box::new(exact(&body)?)),
            req::ATTACH => Request::Attach {
                data: exact(&body)?,
            },
            req::TRACE => Request::Trace {
                path: exact(&body)?,
            },
            req::APP => Request::App(Box::new(exact(&body)?)),
            _ => Request::Unknown { kind, body },
        })
    }
}

impl Reply {
    /// The kind number and encoded body.
    fn to_envelope(&self) -> Result<(u16, Vec<u8>), &'static str> {
        match self {
            Reply::Owner { owner } => Ok((rep::OWNER, body(owner)?)),
            Reply::Joined {
                owner,
                predecessor,
                successors,
            } => Ok((rep::JOINED, body(&(owner, predecessor, successors))?)),
            Reply::Records { records } => Ok((rep::RECORDS, body(records)?)),
            Reply::Stored => Ok((rep::STORED, Vec::new())),
            Reply::Refused(e) => Ok((rep::REFUSED, body(e)?)),
            Reply::Attached { data } => Ok((rep::ATTACHED, body(data)?)),
            Reply::Failed(e) => Ok((rep::FAILED, body(e)?)),
            Reply::Traced { owner, path } => Ok((rep::TRACED, body(&(owner, path))?)),
            Reply::Delivered => Ok((rep::DELIVERED, Vec::new())),
            Reply::Unsupported => Ok((rep::UNSUPPORTED, Vec::new())),
            Reply::BadOrigin => Ok((rep::BAD_ORIGIN, Vec::new())),
            Reply::Unknown { kind, .. } if is_known_reply(*kind) => Err(KNOWN_AS_UNKNOWN),
            Reply::Unknown { kind, body } => Ok((*kind, body.clone())),
        }
    }

    fn from_envelope(kind: u16, body: Vec<u8>) -> Result<Reply, &'static str> {
        Ok(match kind {
            rep::OWNER => Reply::Owner {
                owner: exact(&body)?,
            },
            rep::JOINED => {
                let (owner, predecessor, successors) = exact(&body)?;
                Reply::Joined {
                    owner,
                    predecessor,
                    successors,
                }
            }
            rep::RECORDS => Reply::Records {
                records: exact(&body)?,
            },
            rep::STORED => empty(&body).map(|()| Reply::Stored)?,
            rep::REFUSED => Reply::Refused(exact(&body)?),
            rep::ATTACHED => Reply::Attached {
                data: exact(&body)?,
            },
            rep::FAILED => Reply::Failed(exact(&body)?),
            rep::TRACED => {
                let (owner, path) = exact(&body)?;
                Reply::Traced { owner, path }
            }
            rep::DELIVERED => empty(&body).map(|()| Reply::Delivered)?,
            rep::UNSUPPORTED => empty(&body).map(|()| Reply::Unsupported)?,
            rep::BAD_ORIGIN => empty(&body).map(|()| Reply::BadOrigin)?,
            _ => Reply::Unknown { kind, body },
        })
    }
}

impl Serialize for Request {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, body) = self.to_envelope().map_err(S::Error::custom)?;
        (kind, body).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Request, D::Error> {
        let (kind, body) = <(u16, Vec<u8>)>::deserialize(d)?;
        Request::from_envelope(kind, body).map_err(D::Error::custom)
    }
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (kind, body) = self.to_envelope().map_err(S::Error::custom)?;
        (kind, body).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Reply {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reply, D::Error> {
        let (kind, body) = <(u16, Vec<u8>)>::deserialize(d)?;
        Reply::from_envelope(kind, body).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;
    use crate::wire::RouteError;

    #[test]
    fn unknown_kinds_keep_their_bytes_and_known_bodies_must_be_exact() {
        let r = Request::Unknown {
            kind: 700,
            body: vec![1, 2, 3],
        };
        let bytes = postcard::to_allocvec(&r).expect("encodes");
        assert_eq!(postcard::from_bytes::<Request>(&bytes), Ok(r));

        let r = Reply::Unknown {
            kind: 65_535,
            body: Vec::new(),
        };
        let bytes = postcard::to_allocvec(&r).expect("encodes");
        assert_eq!(postcard::from_bytes::<Reply>(&bytes), Ok(r));

        // A known kind with a byte too many, or none where one is due.
        let lookup = postcard::to_allocvec(&(req::LOOKUP, vec![0u8])).expect("encodes");
        assert!(postcard::from_bytes::<Request>(&lookup).is_err());
        let get = postcard::to_allocvec(&(req::GET, Vec::<u8>::new())).expect("encodes");
        assert!(postcard::from_bytes::<Request>(&get).is_err());
        let owner = postcard::to_allocvec(&(rep::OWNER, vec![0u8; 21])).expect("encodes");
        assert!(postcard::from_bytes::<Reply>(&owner).is_err());
        let owner = postcard::to_allocvec(&(rep::OWNER, vec![0u8; 20])).expect("encodes");
        assert_eq!(
            postcard::from_bytes::<Reply>(&owner),
            Ok(Reply::Owner { owner: Id::ZERO })
        );
    }

    #[test]
    fn an_unknown_kind_with_a_known_number_does_not_encode() {
        for kind in req::KNOWN {
            let r = Request::Unknown {
                kind,
                body: Vec::new(),
            };
            assert!(postcard::to_allocvec(&r).is_err(), "request kind {kind}");
        }
        for kind in rep::KNOWN {
            let r = Reply::Unknown {
                kind,
                body: Vec::new(),
            };
            assert!(postcard::to_allocvec(&r).is_err(), "reply kind {kind}");
        }
        // Known kinds encode under their own numbers.
        let f = postcard::to_allocvec(&Reply::Failed(RouteError::NoSuchNode)).expect("encodes");
        assert_eq!(f[0], u8::try_from(rep::FAILED).expect("small"));
    }
}
