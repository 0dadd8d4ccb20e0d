//! A browser's side of the WebRTC leg for tests and the benchmark: a second
//! str0m `Rtc` with full ICE (the controlling agent, as a browser is),
//! DTLS-SRTP, Opus first and then PCMU/PCMA as Chromium offers them, and
//! telephone-event at 126 (Chromium's payload type, not the bridge's 101).
//! It owns no socket: the caller carries its datagrams.
// Each test binary and the benchmark use their own part of this.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Instant;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The telephone-event payload type Chromium uses at 8 kHz.
pub const BROWSER_EVENT_PT: u8 = 126;

pub struct BrowserPeer {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub mid: Option<Mid>,
    pub connected: bool,
    pub received: Vec<RtpPacket>,
    /// Datagrams for the caller to carry: (destination, bytes).
    pub outgoing: Vec<(SocketAddr, Vec<u8>)>,
    pub deadline: Instant,
}

impl BrowserPeer {
    pub fn new(addr: SocketAddr, now: Instant) -> BrowserPeer {
        BrowserPeer::with_g711(addr, now, true)
    }

    /// A peer that offers Opus alone when `g711` is false.
    pub fn with_g711(addr: SocketAddr, now: Instant, g711: bool) -> BrowserPeer {
        let mut config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .set_crypto_provider(std::sync::Arc::new(str0m::crypto::from_feature_flags()));
        let codecs = config.codec_config();
        codecs.enable_opus(true, false);
        codecs.enable_pcmu(g711, false);
        codecs.enable_pcma(g711, false);
        codecs.add_config(
            BROWSER_EVENT_PT.into(),
            None,
            Codec::Tele,
            Frequency::EIGHT_KHZ,
            None,
            FormatParams {
                telephone_event_max: Some(16),
                ..FormatParams::default()
            },
        );
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("host candidate"));
        BrowserPeer {
            rtc,
            addr,
            mid: None,
            connected: false,
            received: Vec::new(),
            outgoing: Vec::new(),
            deadline: now,
        }
    }

    /// An audio offer, as `RTCPeerConnection.createOffer` makes.
    pub fn offer(&mut self) -> (String, SdpPendingOffer) {
        let mut change = self.rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        self.mid = Some(mid);
        let (offer, pending) = change.apply().expect("an offer");
        self.drain();
        (offer.to_sdp_string(), pending)
    }

    pub fn accept_answer(&mut self, pending: SdpPendingOffer, answer: &str) {
        let answer = SdpAnswer::from_sdp_string(answer).expect("the bridge's answer parses");
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("the bridge's answer is accepted");
        self.drain();
    }

    pub fn accept_offer(&mut self, offer: &str) -> String {
        let offer = SdpOffer::from_sdp_string(offer).expect("the bridge's offer parses");
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .expect("the bridge's offer is accepted");
        self.drain();
        answer.to_sdp_string()
    }

    pub fn receive(&mut self, from: SocketAddr, bytes: &[u8], now: Instant) {
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.addr,
                contents: bytes.try_into().expect("a datagram str0m reads"),
            },
        );
        self.rtc.handle_input(input).expect("input taken");
        self.drain();
    }

    pub fn timeout(&mut self, now: Instant) {
        if self.deadline <= now {
            self.rtc
                .handle_input(Input::Timeout(now))
                .expect("timeout taken");
            self.drain();
        }
    }

    /// Sends one RTP packet on the audio stream.
    pub fn send_rtp(
        &mut self,
        pt: u8,
        seq: u64,
        ts: u32,
        marker: bool,
        payload: &[u8],
        now: Instant,
    ) {
        let mid = self.mid.expect("negotiated");
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("a send stream");
        tx.write_rtp(
            RtpWrite::new(pt.into(), seq.into(), ts, now, payload.to_vec()).marker(marker),
        );
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("str0m output") {
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
                Output::Transmit(t) => self.outgoing.push((t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaAdded(m)) if self.mid.is_none() => self.mid = Some(m.mid),
                Output::Event(Event::RtpPacket(p)) => self.received.push(p),
                Output::Event(_) => {}
            }
        }
    }
}
