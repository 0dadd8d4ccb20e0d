//! What the phone reads in SIP messages itself, next to the user agent:
//! the sender's AOR (to hold it against the sender's claim), the Call-ID
//! and method (to tie a send's outcome to a call leg or a message), the
//! "answered elsewhere" reason of a CANCEL (RFC 3326), and a 403 built for
//! a request refused before the user agent saw it.

use bytes::Bytes;
use chordphone_sip::sipx_sip::headers::{From, To};
use chordphone_sip::sipx_sip::uri::Scheme;
use chordphone_sip::sipx_sip::{
    parse_frame, Header, HeaderName, Headers, Limits, Message, Method, Request, Response,
    ResponseBuilder, StatusCode, Uri,
};

/// The causes a CANCEL of ours carries (RFC 3326 `Reason`) when the call
/// was settled on another device of the callee.
pub(crate) const ANSWERED_ELSEWHERE: u16 = 200;
/// See [`ANSWERED_ELSEWHERE`].
pub(crate) const DECLINED_ELSEWHERE: u16 = 603;

/// What the phone needs to know of one SIP message.
#[derive(Debug)]
pub(crate) struct Summary {
    /// The request, if it is one (responses are not kept).
    pub(crate) request: Option<Request>,
    /// The request's method; `None` for a response.
    pub(crate) method: Option<Method>,
    /// The Call-ID.
    pub(crate) call_id: String,
    /// Who sent it: the From AOR of a request, the To AOR of a response.
    pub(crate) sender: Option<String>,
    /// Whom a request is for: its To AOR (`None` for a response).
    pub(crate) target: Option<String>,
    /// A response's status code.
    pub(crate) status: Option<u16>,
    /// A request outside any dialog (no To tag).
    pub(crate) initial: bool,
    /// A CANCEL saying the call was settled elsewhere: the cause (200
    /// answered, 603 declined).
    pub(crate) elsewhere: Option<u16>,
}

/// Reads one SIP message; `None` if it does not parse.
pub(crate) fn summarize(bytes: &[u8]) -> Option<Summary> {
    let limits = Limits {
        max_message_bytes: chordphone_overlay::MAX_APP,
        max_body_bytes: chordphone_overlay::MAX_APP,
        ..Limits::datagram()
    };
    let message = parse_frame(Bytes::copy_from_slice(bytes), &limits).ok()?;
    match message {
        Message::Request(request) => {
            let headers = &request.headers;
            let to_tag = headers
                .typed::<To>()
                .and_then(Result::ok)
                .is_some_and(|t| t.tag().is_some());
            let elsewhere = if request.method == Method::Cancel {
                headers
                    .get_all(&HeaderName::Reason)
                    .find_map(|h| reason_cause(&h.value()))
            } else {
                None
            };
            Some(Summary {
                method: Some(request.method.clone()),
                call_id: call_id(headers),
                sender: headers
                    .typed::<From>()
                    .and_then(Result::ok)
                    .and_then(|f| aor_of_uri(&f.uri)),
                target: headers
                    .typed::<To>()
                    .and_then(Result::ok)
                    .and_then(|t| aor_of_uri(&t.uri)),
                status: None,
                initial: !to_tag,
                elsewhere,
                request: Some(request),
            })
        }
        Message::Response(response) => Some(Summary {
            method: None,
            call_id: call_id(&response.headers),
            sender: response
                .headers
                .typed::<To>()
                .and_then(Result::ok)
                .and_then(|t| aor_of_uri(&t.uri)),
            target: None,
            status: Some(response.status.code()),
            initial: false,
            elsewhere: None,
            request: None,
        }),
    }
}

fn call_id(headers: &Headers) -> String {
    headers
        .get(&HeaderName::CallId)
        .map(|h| String::from_utf8_lossy(&h.value()).into_owned())
        .unwrap_or_default()
}

/// The AOR of a `sip:` URI: `sip:user@host`, lower-cased, without port or
/// parameters. `None` for other schemes and URIs without a user.
pub(crate) fn aor_of_uri(uri: &Uri) -> Option<String> {
    if !matches!(uri.scheme(), Scheme::Sip) {
        return None;
    }
    let user = core::str::from_utf8(uri.user()?).ok()?;
    let host = uri.host()?.to_string();
    Some(format!(
        "sip:{}@{}",
        user.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    ))
}

/// An error response (403 Forbidden, 404 Not Found) for a request the
/// phone refuses before the user agent sees it: its Via rows, From, To
/// (with `tag`), Call-ID and CSeq. `None` for an ACK (never answered) or a
/// request without a Via.
pub(crate) fn refusal(request: &Request, code: u16, reason: &str, tag: &str) -> Option<Vec<u8>> {
    if request.method == Method::Ack {
        return None;
    }
    request.headers.get(&HeaderName::Via)?;
    let mut response: Response = ResponseBuilder::new(StatusCode::new(code)?, reason.to_owned())
        .ok()?
        .build();
    let mut headers = Headers::new();
    for h in request.headers.get_all(&HeaderName::Via) {
        headers.push(h.clone());
    }
    for name in [
        HeaderName::From,
        HeaderName::To,
        HeaderName::CallId,
        HeaderName::CSeq,
    ] {
        let h = request.headers.get(&name)?;
        if name == HeaderName::To
            && !h
                .value()
                .windows(5)
                .any(|w| w.eq_ignore_ascii_case(b";tag="))
        {
            let mut v = h.value().to_vec();
            v.extend_from_slice(b";tag=");
            v.extend_from_slice(tag.as_bytes());
            headers.push(Header::build(HeaderName::To, v).ok()?);
        } else {
            headers.push(h.clone());
        }
    }
    headers.push(Header::build(HeaderName::ContentLength, "0").ok()?);
    response.headers = headers;
    let mut out = Vec::new();
    response.write_to(&mut out);
    Some(out)
}

/// The SIP cause of a `Reason` value (`SIP ;cause=200 ;text=".."`).
fn reason_cause(value: &[u8]) -> Option<u16> {
    let v = String::from_utf8_lossy(value).to_ascii_lowercase();
    let rest = v.trim_start().strip_prefix("sip")?;
    let at = rest.find("cause=")? + "cause=".len();
    let digits: String = rest[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `bytes` (a CANCEL of ours) with a Reason header saying the call was
/// settled on another device (`cause` 200 answered, 603 declined), so the
/// devices still ringing can tell their user.
pub(crate) fn with_elsewhere_reason(bytes: &[u8], cause: u16) -> Vec<u8> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return bytes.to_vec();
    };
    let text = if cause == DECLINED_ELSEWHERE {
        "Call declined elsewhere"
    } else {
        "Call completed elsewhere"
    };
    let header = format!("Reason: SIP ;cause={cause} ;text=\"{text}\"\r\n");
    let mut out = Vec::with_capacity(bytes.len() + header.len());
    out.extend_from_slice(&bytes[..end + 2]);
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&bytes[end + 2..]);
    out
}

/// Whether an SDP offer puts the call on hold (every media sendonly or
/// inactive, the way RFC 3264 §8.4 holds a stream).
pub(crate) fn offers_hold(sdp: &str) -> bool {
    let mut media = 0;
    let mut held = 0;
    let mut session_held = false;
    let mut in_media = false;
    let mut this_held = false;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            if in_media && (this_held || session_held) {
                held += 1;
            }
            media += 1;
            in_media = true;
            this_held = false;
        } else if line == "a=sendonly" || line == "a=inactive" {
            if in_media {
                this_held = true;
            } else {
                session_held = true;
            }
        }
    }
    if in_media && (this_held || session_held) {
        held += 1;
    }
    if media == 0 {
        session_held
    } else {
        held == media
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANCEL: &[u8] = b"CANCEL sip:bob@chordphone SIP/2.0\r\nVia: SIP/2.0/P2P a.invalid;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nFrom: <sip:alice@chordphone>;tag=1\r\nTo: <sip:bob@chordphone>\r\nCall-ID: abc\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn a_cancel_can_say_answered_elsewhere() {
        let plain = summarize(CANCEL).expect("parses");
        assert_eq!(plain.elsewhere, None);
        assert_eq!(plain.sender.as_deref(), Some("sip:alice@chordphone"));
        assert_eq!(plain.call_id, "abc");
        let marked = summarize(&with_elsewhere_reason(CANCEL, 200)).expect("parses");
        assert_eq!(marked.elsewhere, Some(ANSWERED_ELSEWHERE));
        let declined = summarize(&with_elsewhere_reason(CANCEL, 603)).expect("parses");
        assert_eq!(declined.elsewhere, Some(DECLINED_ELSEWHERE));
        assert_eq!(marked.method, Some(Method::Cancel));
    }

    #[test]
    fn a_forbidden_answer_matches_the_request() {
        let invite = CANCEL.to_vec();
        let s = summarize(&invite).expect("parses");
        let bytes = refusal(
            s.request.as_ref().expect("request"),
            403,
            "Forbidden",
            "xyz",
        )
        .expect("builds");
        let text = String::from_utf8(bytes.clone()).expect("text");
        assert!(text.starts_with("SIP/2.0 403 Forbidden\r\n"), "{text}");
        assert!(text.contains("tag=xyz"), "{text}");
        let r = summarize(&bytes).expect("parses");
        assert_eq!(r.sender.as_deref(), Some("sip:bob@chordphone"));
        assert_eq!(r.call_id, "abc");
    }

    #[test]
    fn hold_is_every_stream_sendonly_or_inactive() {
        assert!(offers_hold(
            "v=0\r\nm=audio 9 x 0\r\na=sendonly\r\nm=video 9 x 96\r\na=inactive\r\n"
        ));
        assert!(!offers_hold(
            "v=0\r\nm=audio 9 x 0\r\na=sendonly\r\nm=video 9 x 96\r\na=sendrecv\r\n"
        ));
        assert!(offers_hold("v=0\r\na=sendonly\r\nm=audio 9 x 0\r\n"));
        assert!(!offers_hold("v=0\r\nm=audio 9 x 0\r\na=sendrecv\r\n"));
    }
}
