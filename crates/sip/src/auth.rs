//! HTTP digest answers to 401/407 challenges (RFC 3261 §22, RFC 7616), on
//! sipx-sip's digest: the gateway's business, behind the `digest` feature.

use sipx_sip::auth::{self, Challenge};
use sipx_sip::{HeaderName, Request, Response};

pub use sipx_sip::auth::Credentials;

/// The header answering the strongest challenge in `response` for `request`
/// (its method and Request-URI), or `None` if there is no challenge we can answer.
pub(crate) fn authorize(
    response: &Response,
    request: &Request,
    credentials: &Credentials,
    nonce_count: u32,
    cnonce: &str,
) -> Option<(HeaderName, String)> {
    let mut challenges = Vec::new();
    for (name, proxy) in [
        (HeaderName::WwwAuthenticate, false),
        (HeaderName::ProxyAuthenticate, true),
    ] {
        for h in response.headers.get_all(&name) {
            if let Some(c) = Challenge::parse(&h.value(), proxy) {
                challenges.push(c);
            }
        }
    }
    let challenge = auth::strongest(challenges)?;
    let uri = String::from_utf8_lossy(&request.uri.to_bytes()).into_owned();
    let method = String::from_utf8_lossy(request.method.as_bytes()).into_owned();
    let value = auth::respond(&challenge, credentials, &method, &uri, nonce_count, cnonce);
    Some((challenge.response_header(), value))
}
