//! The gate every received byte passes: framing, validation and the checks a
//! user agent adds, each refusal mapped to the response RFC 3261 (and RFC
//! 4475's torture tests) name.
//!
//! Where sipx-sip falls short for a UAS it is wrapped here, not replaced:
//! - Its parser refuses a message whose start line or framing is broken as a
//!   whole (rightly: it cannot know the message). A UAS must still answer
//!   400 to such a request (RFC 4475 §3.1.2.2/3/7-10), so [`salvage`] re-reads
//!   the header block behind a stand-in request line, without
//!   `Content-Length`, only to copy Via/From/To/Call-ID/CSeq into the 400.
//! - Its validation treats a missing `Max-Forwards` as a finding; a UAS
//!   accepts it (RFC 2543 senders, RFC 4475 §3.4.1), so that one is dropped.
//! - It has no notion of what a UA supports: URI schemes (416), `Require`
//!   (420), body types (415), `Accept` (406) are checked here.

use bytes::Bytes;
use sipx_sip::error::{LimitKind, ParseError};
use sipx_sip::headers::{Contact, Via};
use sipx_sip::uri::Scheme;
use sipx_sip::{parse_datagram, parse_frame, validate_request, validate_response, Finding};
use sipx_sip::{HeaderName, Limits, Message, Method, Request, Response};

use crate::msg;
use crate::transport::Transport;

/// Option tags we support in `Require`.
#[cfg(feature = "session-timer")]
const SUPPORTED: &[&str] = &["timer"];
#[cfg(not(feature = "session-timer"))]
const SUPPORTED: &[&str] = &[];

/// What a refused message gets: a request salvaged enough to answer, and the code.
pub(crate) type Refusal = Option<Box<(Request, u16)>>;

/// Parses one whole message as the transport frames it.
pub(crate) fn parse(
    transport: Transport,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Message, Refusal> {
    let buf = Bytes::copy_from_slice(bytes);
    let result = match transport {
        Transport::Udp => parse_datagram(buf, limits),
        _ => parse_frame(buf, limits),
    };
    result.map_err(|e| {
        let code = match e {
            ParseError::Limit {
                limit: LimitKind::MessageBytes,
                ..
            } => 513,
            ParseError::Limit {
                limit: LimitKind::BodyBytes,
                ..
            } => 413,
            _ => 400,
        };
        salvage(bytes).map(|r| Box::new((r, code)))
    })
}

/// Re-reads the header block of a request that did not parse, behind a
/// stand-in request line and without its Content-Length, so that an error
/// response can copy its Via, From, To, Call-ID and CSeq. `None` for
/// responses, ACKs, and header blocks too broken to answer.
pub(crate) fn salvage(bytes: &[u8]) -> Option<Request> {
    const MAX: usize = 64 * 1024;
    let bytes = bytes.get(..bytes.len().min(MAX))?;
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    let head = bytes.get(..end)?;
    let first_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first = head.get(..first_end)?;
    if first.starts_with(b"SIP/") || first.starts_with(b"ACK ") || first.starts_with(b"ACK\t") {
        return None;
    }
    let mut out = b"OPTIONS sip:salvaged.invalid SIP/2.0\r\n".to_vec();
    let rest = head.get(first_end + 1..).unwrap_or(&[]);
    for line in rest.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let name: Vec<u8> = line
            .iter()
            .take_while(|&&b| b != b':')
            .map(u8::to_ascii_lowercase)
            .collect();
        let name = name.trim_ascii();
        if name == b"content-length" || name == b"l" {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let limits = Limits {
        max_message_bytes: 2 * MAX,
        max_body_bytes: 0,
        max_headers: 1024,
        max_header_bytes: MAX,
        max_folding_lines: 64,
    };
    match parse_datagram(Bytes::from(out), &limits).ok()? {
        Message::Request(r) if r.headers.get(&HeaderName::Via).is_some() => Some(r),
        _ => None,
    }
}

/// The checks a UAS makes before acting on a request: `Some((code, extra
/// headers))` to refuse it with.
pub(crate) fn check_request(request: &Request) -> Option<(u16, Vec<(HeaderName, String)>)> {
    let findings: Vec<Finding> = validate_request(request)
        .into_iter()
        .filter(|f| !f.is_repairable())
        .collect();
    if findings.contains(&Finding::UnsupportedVersion) {
        return Some((505, Vec::new()));
    }
    if !findings.is_empty() {
        return Some((400, Vec::new()));
    }
    if matches!(request.method, Method::Ack | Method::Cancel) {
        return None;
    }
    if !matches!(
        request.uri.scheme(),
        Scheme::Sip | Scheme::Sips | Scheme::Tel
    ) {
        return Some((416, Vec::new()));
    }
    if request.headers.get(&HeaderName::Contact).is_some()
        && request.headers.typed_all::<Contact>().any(|c| c.is_err())
    {
        return Some((400, Vec::new()));
    }
    let unsupported: Vec<String> = msg::tokens(&request.headers, &HeaderName::Require)
        .into_iter()
        .filter(|t| !SUPPORTED.contains(&t.as_str()))
        .collect();
    if !unsupported.is_empty() {
        return Some((420, vec![(HeaderName::Unsupported, unsupported.join(", "))]));
    }
    if request.method == Method::Invite {
        if !msg::body_is_sdp(&request.headers, request.body()) {
            return Some((
                415,
                vec![(HeaderName::Accept, "application/sdp".to_owned())],
            ));
        }
        if request.headers.get(&HeaderName::Accept).is_some() {
            let accepted = msg::tokens(&request.headers, &HeaderName::Accept);
            let sdp_ok = accepted.iter().any(|t| {
                let t = t.split(';').next().unwrap_or("").trim();
                t == "application/sdp" || t == "application/*" || t == "*/*"
            });
            if !sdp_ok {
                return Some((
                    406,
                    vec![(HeaderName::Accept, "application/sdp".to_owned())],
                ));
            }
        }
    }
    None
}

/// Whether a response may be acted on: valid, exactly one Via, and that Via
/// one of ours (§8.1.3.3, §18.1.2; RFC 4475 §3.3.10).
pub(crate) fn check_response(response: &Response, via_host: &str) -> bool {
    if !validate_response(response).is_empty() {
        return false;
    }
    let mut vias = response.headers.typed_all::<Via>();
    let (Some(Ok(via)), None) = (vias.next(), vias.next()) else {
        return false;
    };
    // Compared as bytes: a host that is not UTF-8 cannot equal `via_host` either way.
    let mut sent_by = via.host.to_bytes().to_vec();
    if let Some(port) = via.port {
        sent_by.push(b':');
        sent_by.extend_from_slice(port.to_string().as_bytes());
    }
    sent_by.eq_ignore_ascii_case(via_host.as_bytes())
}
