//! The plain RTP leg towards the trunk: where to send (the SDP's address
//! until the trunk's first packet shows where it really is: symmetric RTP,
//! also called latching) and the payload types agreed.

use crate::sdp::RemoteSdp;
use core::net::SocketAddr;

/// The trunk leg of one call.
#[derive(Debug, Clone)]
pub(crate) struct TrunkLeg {
    /// The local socket the shell bound for this leg.
    pub local: SocketAddr,
    /// The address the trunk's SDP gave; `None` until its SDP is known.
    pub signalled: Option<SocketAddr>,
    /// The source of the trunk's first packet, once one arrived.
    pub latched: Option<SocketAddr>,
    /// The trunk's payload type for the call's codec.
    pub audio_pt: u8,
    /// The trunk's telephone-event payload type, if it takes events.
    pub event_pt: Option<u8>,
    /// The bridge's SSRC on this leg.
    pub ssrc: u32,
}

/// What a packet from the trunk's side means for the latch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Latch {
    /// The first packet: the bridge now sends to its source.
    Latched,
    /// From the latched source.
    Known,
    /// From somewhere else (a late or forged packet): dropped.
    Foreign,
    /// The trunk's SDP is not known yet: nothing to latch onto.
    TooEarly,
}

impl TrunkLeg {
    /// Where packets towards the trunk go now.
    pub(crate) fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.signalled)
    }

    /// Takes the trunk's SDP (an offer, an answer, or a later one that moves
    /// the media: then the latch is let go and taken anew).
    pub(crate) fn apply_sdp(&mut self, sdp: &RemoteSdp, audio_pt: u8) {
        let signalled = SocketAddr::new(sdp.addr, sdp.port);
        if self.signalled.is_some_and(|s| s != signalled) {
            self.latched = None;
        }
        self.signalled = Some(signalled);
        self.audio_pt = audio_pt;
        self.event_pt = sdp.telephone_event;
    }

    /// A valid RTP packet of a negotiated payload type arrived from `from`.
    pub(crate) fn on_packet(&mut self, from: SocketAddr) -> Latch {
        if self.signalled.is_none() {
            return Latch::TooEarly;
        }
        match self.latched {
            None => {
                self.latched = Some(from);
                Latch::Latched
            }
            Some(source) if source == from => Latch::Known,
            Some(_) => Latch::Foreign,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{parse, G711};

    fn leg() -> TrunkLeg {
        TrunkLeg {
            local: "198.51.100.4:40002".parse().expect("addr"),
            signalled: None,
            latched: None,
            audio_pt: 0,
            event_pt: None,
            ssrc: 1,
        }
    }

    fn sdp(port: u16) -> RemoteSdp {
        parse(&format!(
            "c=IN IP4 192.0.2.7\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        ))
        .expect("valid")
    }

    #[test]
    fn sends_to_the_sdp_address_until_the_first_packet_then_to_its_source() {
        let mut t = leg();
        let nat: SocketAddr = "203.0.113.9:31000".parse().expect("addr");
        assert_eq!(t.on_packet(nat), Latch::TooEarly);
        assert_eq!(t.destination(), None);
        t.apply_sdp(&sdp(6000), G711::Pcmu.static_pt());
        assert_eq!(t.event_pt, Some(101));
        assert_eq!(
            t.destination(),
            Some("192.0.2.7:6000".parse().expect("addr"))
        );
        assert_eq!(t.on_packet(nat), Latch::Latched);
        assert_eq!(t.destination(), Some(nat));
        assert_eq!(t.on_packet(nat), Latch::Known);
        let other: SocketAddr = "203.0.113.66:31000".parse().expect("addr");
        assert_eq!(t.on_packet(other), Latch::Foreign);
        assert_eq!(t.destination(), Some(nat));
    }

    #[test]
    fn new_media_address_from_the_trunk_lets_go_of_the_latch() {
        let mut t = leg();
        let nat: SocketAddr = "203.0.113.9:31000".parse().expect("addr");
        t.apply_sdp(&sdp(6000), 0);
        assert_eq!(t.on_packet(nat), Latch::Latched);
        // The same SDP again (183 then 200): the latch stays.
        t.apply_sdp(&sdp(6000), 0);
        assert_eq!(t.destination(), Some(nat));
        // Another media server answers: send there until it speaks.
        t.apply_sdp(&sdp(7000), 0);
        assert_eq!(
            t.destination(),
            Some("192.0.2.7:7000".parse().expect("addr"))
        );
        assert_eq!(t.on_packet(nat), Latch::Latched);
    }
}
