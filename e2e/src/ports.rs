//! Free loopback ports for servers and chromedriver.

use std::net::TcpListener;

/// A port on 127.0.0.1 that was free a moment ago: the kernel picks it, the
/// listener is dropped, and the caller's process binds it next. Ephemeral
/// ports are handed out in rotation, so another process taking it in
/// between is unlikely.
pub fn free_port() -> crate::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}
