//! Dialogs (RFC 3261 §12): the peer-to-peer relationship an INVITE sets up,
//! kept by both ends: identity, sequence numbers, route set and remote target.
//!
//! A dialog is built from a 2xx or a 1xx with a `To` tag (UAC, §12.1.2) or
//! from the INVITE being answered (UAS, §12.1.1); it builds every request
//! sent inside it (§12.2.1.1) and checks every request received in it
//! (§12.2.2).

use bytes::Bytes;
use sipx_sip::headers::{CSeq, CallId, Contact, From, RecordRoute, To};
use sipx_sip::{HeaderName, Method, Request, RequestBuilder, Response, Uri};

use crate::ids::DialogId;

/// Early (a 1xx with a tag created it) or confirmed (a 2xx did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response; may still end without a call.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// One dialog, from this side.
#[derive(Clone, Debug)]
pub struct Dialog {
    /// Call-ID and both tags.
    pub id: DialogId,
    /// Early or confirmed.
    pub state: DialogState,
    /// The CSeq of the last request we sent in the dialog.
    pub local_seq: u32,
    /// The CSeq of the last request we received in it, if any.
    pub remote_seq: Option<u32>,
    /// Our `From` value on requests we send (with our tag).
    local_addr: Bytes,
    /// Their `To` value on requests we send (with their tag).
    remote_addr: Bytes,
    /// Where requests in the dialog go: the other side's `Contact`.
    pub remote_target: Uri,
    /// `Route` URIs for requests in the dialog, in the order they are put.
    pub route_set: Vec<Uri>,
    /// Reliable provisional responses received in it (RFC 3262).
    #[cfg(feature = "prack")]
    pub(crate) rseq: sipx_sip::rel::Sequence,
}

/// The first tag of an address header value.
pub(crate) fn tag_of<H: sipx_sip::TypedHeader + core::ops::Deref<Target = sipx_sip::Address>>(
    headers: &sipx_sip::Headers,
) -> Option<String> {
    let h = headers.typed::<H>()?.ok()?;
    let tag = h.tag()?;
    String::from_utf8(tag.to_vec()).ok()
}

pub(crate) fn call_id_of(headers: &sipx_sip::Headers) -> Option<String> {
    let id = headers.typed::<CallId>()?.ok()?;
    String::from_utf8(id.0).ok()
}

pub(crate) fn cseq_of(headers: &sipx_sip::Headers) -> Option<CSeq> {
    headers.typed::<CSeq>()?.ok()
}

/// The first `Contact` URI.
pub(crate) fn contact_of(headers: &sipx_sip::Headers) -> Option<Uri> {
    headers
        .typed_all::<Contact>()
        .next()
        .and_then(Result::ok)
        .map(|c| c.0.uri)
}

/// Every `Record-Route` URI in message order, or `None` if one is malformed.
fn record_route(headers: &sipx_sip::Headers) -> Option<Vec<Uri>> {
    headers
        .typed_all::<RecordRoute>()
        .map(|r| r.ok().map(|r| r.0.uri))
        .collect()
}

fn raw(headers: &sipx_sip::Headers, name: &HeaderName) -> Option<Bytes> {
    headers.value(name).map(|v| Bytes::copy_from_slice(&v))
}

impl Dialog {
    /// The UAC's dialog from the INVITE it sent and a 1xx (with a `To` tag)
    /// or 2xx it received (§12.1.2). `None` if the response has no tag or
    /// lacks what a dialog needs.
    pub fn uac(request: &Request, response: &Response) -> Option<Dialog> {
        let remote_tag = tag_of::<To>(&response.headers)?;
        let local_tag = tag_of::<From>(&request.headers)?;
        let call_id = call_id_of(&request.headers)?;
        let local_seq = cseq_of(&request.headers)?.sequence;
        let mut route_set = record_route(&response.headers)?;
        route_set.reverse();
        let to_uri = response.headers.typed::<To>()?.ok()?.0.uri;
        let state = if response.status.is_success() {
            DialogState::Confirmed
        } else {
            DialogState::Early
        };
        Some(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            state,
            local_seq,
            remote_seq: None,
            local_addr: raw(&request.headers, &HeaderName::From)?,
            remote_addr: raw(&response.headers, &HeaderName::To)?,
            remote_target: contact_of(&response.headers).unwrap_or(to_uri),
            route_set,
            #[cfg(feature = "prack")]
            rseq: Default::default(),
        })
    }

    /// The UAS's dialog for a request it answers with a tag of its own (§12.1.1).
    pub fn uas(request: &Request, local_tag: &str, local_seq: u32) -> Option<Dialog> {
        let remote_tag = tag_of::<From>(&request.headers).unwrap_or_default();
        let call_id = call_id_of(&request.headers)?;
        let remote_seq = cseq_of(&request.headers)?.sequence;
        let route_set = record_route(&request.headers)?;
        let from_uri = request.headers.typed::<From>()?.ok()?.0.uri;
        let to = raw(&request.headers, &HeaderName::To)?;
        let mut local_addr = to.to_vec();
        local_addr.extend_from_slice(b";tag=");
        local_addr.extend_from_slice(local_tag.as_bytes());
        Some(Dialog {
            id: DialogId {
                call_id,
                local_tag: local_tag.to_owned(),
                remote_tag,
            },
            state: DialogState::Early,
            local_seq,
            remote_seq: Some(remote_seq),
            local_addr: Bytes::from(local_addr),
            remote_addr: raw(&request.headers, &HeaderName::From)?,
            remote_target: contact_of(&request.headers).unwrap_or(from_uri),
            route_set,
            #[cfg(feature = "prack")]
            rseq: Default::default(),
        })
    }

    /// A 2xx for this dialog arrived (UAC): confirmed, and the route set and
    /// target recomputed from it (§13.2.2.4).
    pub fn confirm_uac(&mut self, response: &Response) {
        self.state = DialogState::Confirmed;
        if let Some(mut routes) = record_route(&response.headers) {
            routes.reverse();
            self.route_set = routes;
        }
        self.refresh_target(&response.headers);
    }

    /// A target refresh (re-INVITE or its 2xx) names a new remote target.
    pub fn refresh_target(&mut self, headers: &sipx_sip::Headers) {
        if let Some(target) = contact_of(headers) {
            self.remote_target = target;
        }
    }

    /// Checks a request received in the dialog (§12.2.2): a CSeq lower than
    /// the last one is out of order (the caller answers 500). ACK and CANCEL
    /// carry the CSeq of what they refer to and are not checked.
    pub fn accept_remote_cseq(&mut self, method: &Method, seq: u32) -> bool {
        if matches!(method, Method::Ack | Method::Cancel) {
            return true;
        }
        if let Some(last) = self.remote_seq {
            if seq < last {
                return false;
            }
        }
        self.remote_seq = Some(seq);
        true
    }

    /// The Request-URI and `Route` values for a request in the dialog
    /// (§12.2.1.1: loose routing if the first route has `lr`, strict otherwise).
    fn target_and_routes(&self) -> (Uri, Vec<Uri>) {
        match self.route_set.first() {
            None => (self.remote_target.clone(), Vec::new()),
            Some(first) if first.params().is_some_and(|p| p.contains("lr")) => {
                (self.remote_target.clone(), self.route_set.clone())
            }
            Some(first) => {
                let mut routes: Vec<Uri> = self.route_set.iter().skip(1).cloned().collect();
                routes.push(self.remote_target.clone());
                (first.clone(), routes)
            }
        }
    }

    /// A request in the dialog with the next local CSeq (or the given one for
    /// ACK), carrying `via`, the dialog's addresses, route set and Call-ID.
    /// The caller adds Contact and a body.
    pub fn request(
        &mut self,
        method: Method,
        via: &str,
        cseq: Option<u32>,
    ) -> Option<RequestBuilder> {
        let seq = match cseq {
            Some(seq) => seq,
            None => {
                self.local_seq = self.local_seq.wrapping_add(1).max(1);
                self.local_seq
            }
        };
        let (uri, routes) = self.target_and_routes();
        let mut b = RequestBuilder::new(method.clone(), uri)
            .header(HeaderName::Via, via.to_owned())
            .ok()?
            .max_forwards(70)
            .header(HeaderName::From, self.local_addr.clone())
            .ok()?
            .header(HeaderName::To, self.remote_addr.clone())
            .ok()?
            .header(HeaderName::CallId, self.id.call_id.clone())
            .ok()?
            .cseq(seq, &method)
            .ok()?;
        for route in routes {
            let mut v = b"<".to_vec();
            v.extend_from_slice(&route.to_bytes());
            v.push(b'>');
            b = b.header(HeaderName::Route, v).ok()?;
        }
        Some(b)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sipx_sip::{parse_datagram, Limits, Message};

    fn request(text: &str) -> Request {
        match parse_datagram(Bytes::from(text.to_owned()), &Limits::datagram()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    fn invite(record_route: &str) -> Request {
        request(&format!(
            "INVITE sip:bob@b.test SIP/2.0\r\nVia: SIP/2.0/UDP a.test;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n{record_route}From: <sip:alice@a.test>;tag=at\r\nTo: <sip:bob@b.test>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContact: <sip:alice@host.a.test>\r\nContent-Length: 0\r\n\r\n"
        ))
    }

    fn headers(r: &Request, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        r.write_to(&mut out);
        String::from_utf8(out)
            .unwrap()
            .split("\r\n")
            .filter_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            .collect()
    }

    #[test]
    fn loose_routing_keeps_the_target_and_lists_the_routes() {
        let inv = invite("Record-Route: <sip:p2.test;lr>, <sip:p1.test;lr>\r\n");
        let mut d = Dialog::uas(&inv, "bt", 100).unwrap();
        assert_eq!(d.id.remote_tag, "at");
        let b = d
            .request(Method::Bye, "SIP/2.0/UDP b.test;branch=z9hG4bK2", None)
            .unwrap();
        let bye = b.build();
        assert_eq!(bye.uri.to_string(), "sip:alice@host.a.test");
        assert_eq!(
            headers(&bye, "Route"),
            ["<sip:p2.test;lr>", "<sip:p1.test;lr>"]
        );
        assert_eq!(headers(&bye, "CSeq"), ["101 BYE"]);
        assert_eq!(headers(&bye, "From"), ["<sip:bob@b.test>;tag=bt"]);
    }

    #[test]
    fn strict_routing_puts_the_first_route_in_the_request_uri() {
        // A route without `lr` is a strict router (§12.2.1.1): it becomes the
        // Request-URI and the remote target goes last in Route.
        let inv = invite("Record-Route: <sip:strict.test>\r\n");
        let mut d = Dialog::uas(&inv, "bt", 1).unwrap();
        let bye = d
            .request(Method::Bye, "SIP/2.0/UDP b.test;branch=z9hG4bK3", None)
            .unwrap()
            .build();
        assert_eq!(bye.uri.to_string(), "sip:strict.test");
        assert_eq!(headers(&bye, "Route"), ["<sip:alice@host.a.test>"]);
    }

    #[test]
    fn remote_cseq_must_not_go_back() {
        let inv = invite("");
        let mut d = Dialog::uas(&inv, "bt", 1).unwrap();
        assert!(d.accept_remote_cseq(&Method::Bye, 8));
        assert!(!d.accept_remote_cseq(&Method::Invite, 6));
        // ACK and CANCEL carry the CSeq of what they refer to.
        assert!(d.accept_remote_cseq(&Method::Ack, 7));
        assert_eq!(d.remote_seq, Some(8));
    }
}
