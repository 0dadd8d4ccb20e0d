//! The chordphone browser peer: the overlay node driven from a browser tab, links over WebSocket and WebRTC data channels.
