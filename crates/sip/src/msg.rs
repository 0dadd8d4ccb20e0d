//! Small helpers over sipx-sip's messages: header values as text, responses
//! built from requests, address header values.

use bytes::Bytes;
use sipx_sip::headers::ContentType;
use sipx_sip::{Header, HeaderName, Headers, Request, Response, ResponseBuilder, StatusCode};

/// The reason phrase RFC 3261 §21 gives a status code (a generic one otherwise).
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        422 => "Session Interval Too Small",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        603 => "Decline",
        _ => match code / 100 {
            1 => "Progress",
            2 => "OK",
            3 => "Redirect",
            4 => "Client Error",
            5 => "Server Error",
            _ => "Global Failure",
        },
    }
}

/// A response to `request`: its Via rows, From, To (with `to_tag` added if
/// the To has none), Call-ID and CSeq copied (whichever of them exist: an
/// error response to a request missing some still goes back), and
/// `Content-Length: 0`. `None` for a request without a Via.
pub(crate) fn response_to(request: &Request, code: u16, to_tag: Option<&str>) -> Option<Response> {
    // Without a Via a response has nowhere to go (§18.2.2).
    request.headers.get(&HeaderName::Via)?;
    let status = StatusCode::new(code)?;
    let mut response = ResponseBuilder::new(status, reason_phrase(code))
        .ok()?
        .build();
    let mut headers = Headers::new();
    for name in [HeaderName::Via, HeaderName::From] {
        for h in request.headers.get_all(&name) {
            headers.push(h.clone());
        }
    }
    if let Some(to) = request.headers.get(&HeaderName::To) {
        let has_tag = crate::dialog::tag_of::<sipx_sip::headers::To>(&request.headers).is_some();
        match to_tag {
            Some(tag) if !has_tag && code > 100 => {
                let mut v = to.value().to_vec();
                v.extend_from_slice(b";tag=");
                v.extend_from_slice(tag.as_bytes());
                // A To the builder refuses to rewrite (RFC 4475's escaped
                // control characters) goes back as it came.
                headers.push(Header::build(HeaderName::To, v).unwrap_or_else(|_| to.clone()));
            }
            _ => headers.push(to.clone()),
        }
    }
    for name in [HeaderName::CallId, HeaderName::CSeq] {
        if let Some(h) = request.headers.get(&name) {
            headers.push(h.clone());
        }
    }
    headers.push(Header::build(HeaderName::ContentLength, Bytes::from_static(b"0")).ok()?);
    response.headers = headers;
    Some(response)
}

/// Adds a header to a built message (before its Content-Length, which stays last).
pub(crate) fn add_header(headers: &mut Headers, name: HeaderName, value: impl Into<Bytes>) -> bool {
    match Header::build(name, value) {
        Ok(h) => {
            let at = headers
                .iter()
                .position(|h| h.name() == &HeaderName::ContentLength)
                .unwrap_or(headers.len());
            headers.insert(at, h);
            true
        }
        Err(_) => false,
    }
}

/// Sets a response's body with its Content-Type and Content-Length.
pub(crate) fn set_body(response: &mut Response, content_type: &str, body: Bytes) {
    response.headers.remove_all(&HeaderName::ContentLength);
    response.headers.remove_all(&HeaderName::ContentType);
    if let Ok(h) = Header::build(HeaderName::ContentType, content_type.to_owned()) {
        response.headers.push(h);
    }
    if let Ok(h) = Header::build(HeaderName::ContentLength, body.len().to_string()) {
        response.headers.push(h);
    }
    response.set_body(body);
}

/// Whether any row of a token-list header (Supported, Require, ...) names `token`.
#[cfg(any(feature = "prack", feature = "session-timer"))]
pub(crate) fn has_token(headers: &Headers, name: &HeaderName, token: &str) -> bool {
    tokens(headers, name).iter().any(|t| t == token)
}

/// Every token of a token-list header, lowercased.
pub(crate) fn tokens(headers: &Headers, name: &HeaderName) -> Vec<String> {
    let mut out = Vec::new();
    for h in headers.get_all(name) {
        for t in h.value().split(|&b| b == b',') {
            let t = lossy(t).trim().to_ascii_lowercase();
            if !t.is_empty() {
                out.push(t);
            }
        }
    }
    out
}

/// Whether the message's body is SDP (or it has none).
pub(crate) fn body_is_sdp(headers: &Headers, body: &[u8]) -> bool {
    if body.is_empty() {
        return true;
    }
    matches!(headers.typed::<ContentType>(), Some(Ok(ct)) if ct.is("application", "sdp"))
}

/// The Content-Type as text, or `application/octet-stream`.
pub(crate) fn content_type(headers: &Headers) -> String {
    match headers.typed::<ContentType>() {
        Some(Ok(ct)) => {
            let mut out = lossy(&ct.media_type);
            out.push('/');
            out.push_str(&lossy(&ct.subtype));
            out
        }
        _ => "application/octet-stream".to_owned(),
    }
}

/// Bytes as text, each invalid UTF-8 sequence replaced by U+FFFD: what
/// `String::from_utf8_lossy` gives, on the `from_utf8` already linked
/// rather than its own decoder (a kilobyte of the tab's WebAssembly).
pub(crate) fn lossy(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match core::str::from_utf8(bytes) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(core::str::from_utf8(valid).unwrap_or_default());
                out.push(char::REPLACEMENT_CHARACTER);
                match e.error_len() {
                    Some(len) => bytes = rest.get(len..).unwrap_or_default(),
                    None => return out,
                }
            }
        }
    }
}

/// A header value as lossy text.
pub(crate) fn text(headers: &Headers, name: &HeaderName) -> String {
    headers.value(name).map(|v| lossy(&v)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::lossy;

    #[test]
    fn lossy_text_is_what_the_standard_library_gives() {
        let cases: [&[u8]; 7] = [
            b"plain",
            b"",
            "caf\u{e9} \u{1f4de}".as_bytes(),
            b"a\xffb",
            b"\xe2\x82",
            b"x\xf0\x9f\x93y\xc3",
            b"\xed\xa0\x80\xc0\xaf\xf8\x88\x80\x80\x80z",
        ];
        for bytes in cases {
            assert_eq!(lossy(bytes), String::from_utf8_lossy(bytes), "{bytes:?}");
        }
    }
}
