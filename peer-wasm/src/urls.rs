//! Where the bootstrap server is: its WebSocket URL and its health check.

use chordphone_link::http_origin;

/// The bootstrap WebSocket URL: `?server=` if given (a `ws://` or `wss://`
/// URL), else `/ws` on the page's own host, secure when the page is.
pub fn server_url(page_protocol: &str, page_host: &str, server_param: Option<&str>) -> String {
    if let Some(s) = server_param {
        let s = s.trim();
        if (s.starts_with("ws://") || s.starts_with("wss://")) && s.len() <= 512 {
            return s.to_owned();
        }
    }
    let scheme = if page_protocol == "https:" {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{page_host}/ws")
}

/// The health endpoint on the same origin as a WebSocket URL.
pub fn health_url(ws_url: &str) -> Option<String> {
    Some(format!("{}/healthz", http_origin(ws_url)?))
}

/// The server's ICE settings (TURN credentials) for node `node_hex`, on
/// the same origin as a WebSocket URL.
pub fn ice_url(ws_url: &str, node_hex: &str) -> Option<String> {
    Some(format!("{}/ice?peer={node_hex}", http_origin(ws_url)?))
}

/// Lowercase hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Exactly 32 bytes from 64 hex digits (a stored seed), else `None`.
pub fn seed_from_hex(s: &str) -> Option<[u8; 32]> {
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = char::from(pair[0]).to_digit(16)?;
        let lo = char::from(pair[1]).to_digit(16)?;
        *slot = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_and_health_urls() {
        assert_eq!(server_url("http:", "a:8080", None), "ws://a:8080/ws");
        assert_eq!(server_url("https:", "a", None), "wss://a/ws");
        assert_eq!(server_url("http:", "a", Some("ws://b:9/ws")), "ws://b:9/ws");
        assert_eq!(server_url("http:", "a", Some("javascript:x")), "ws://a/ws");
        assert_eq!(
            health_url("ws://b:9/ws").as_deref(),
            Some("http://b:9/healthz")
        );
        assert_eq!(
            health_url("wss://b/x?y").as_deref(),
            Some("https://b/healthz")
        );
        assert_eq!(health_url("http://b"), None);
        assert_eq!(health_url("ws:///"), None);
        assert_eq!(
            ice_url("wss://b:9/ws", "ab").as_deref(),
            Some("https://b:9/ice?peer=ab")
        );
        assert_eq!(ice_url("ftp://b", "ab"), None);
    }

    #[test]
    fn seeds_round_trip_and_junk_is_refused() {
        let seed = [0xa5; 32];
        assert_eq!(seed_from_hex(&to_hex(&seed)), Some(seed));
        assert_eq!(seed_from_hex("zz"), None);
        assert_eq!(seed_from_hex(&"g".repeat(64)), None);
    }
}
