//! The chordphone server: bootstrap peer, ring member and link coordinator, over WebSocket.
