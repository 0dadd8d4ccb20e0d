//! The HTTP side of a link endpoint: a server's `ws(s)://` URL names the
//! origin of its other routes (`/healthz`, `/ice`) too.

/// `http(s)://host[:port]` of a `ws(s)://` URL; `None` for another scheme
/// or no host.
pub fn http_origin(ws_url: &str) -> Option<String> {
    let (scheme, rest) = if let Some(r) = ws_url.strip_prefix("wss://") {
        ("https", r)
    } else if let Some(r) = ws_url.strip_prefix("ws://") {
        ("http", r)
    } else {
        return None;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::http_origin;

    #[test]
    fn the_origin_keeps_host_and_port_and_the_security() {
        assert_eq!(http_origin("ws://b:9/ws").as_deref(), Some("http://b:9"));
        assert_eq!(http_origin("wss://b/x?y").as_deref(), Some("https://b"));
        assert_eq!(http_origin("http://b"), None);
        assert_eq!(http_origin("ws:///"), None);
    }
}
