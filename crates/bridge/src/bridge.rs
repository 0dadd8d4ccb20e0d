//! The bridge: many calls, the gateway's media requests, and the shell's
//! IO (datagrams in and out, time).

use crate::call::{Call, Negotiation};
use crate::clock::Clock;
use crate::dtmf::DtmfSender;
use crate::error::MediaError;
use crate::output::{BridgeEvent, Counters, Leg, MediaCall, Outputs, Transmit};
use crate::ports::PortPool;
use crate::restamp::Restamp;
use crate::rtp::digit_code;
use crate::sdp::{self, Direction, LocalSdp, G711};
use crate::trunk::TrunkLeg;
use crate::webrtc::{self, WebRtcShared};
use chordphone_gateway::OutboundMedia;
use chordphone_sip::Time;
use core::net::{IpAddr, SocketAddr};
use std::collections::BTreeMap;
use std::time::Instant;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction as RtcDirection, MediaKind};

/// Largest datagram taken from either leg (a UDP payload on Ethernet is at
/// most 1472 bytes; DTLS and SRTP stay under it).
pub const MAX_DATAGRAM: usize = 1500;
/// Largest browser SDP handed to str0m (Chromium's audio offer is ~4 KiB).
pub const MAX_BROWSER_SDP: usize = 32 * 1024;

/// The bridge's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeConfig {
    /// The address the shell binds the calls' sockets on (e.g. 0.0.0.0).
    pub bind_ip: IpAddr,
    /// The address browsers and trunks are told to send to (ICE candidate,
    /// SDP `c=`): the server's public address.
    pub advertise_ip: IpAddr,
    /// The first and last UDP port of the range calls take ports from (two a call).
    pub ports: (u16, u16),
    /// Most calls at once.
    pub max_calls: usize,
    /// Seeds SSRCs, initial sequence numbers and timestamps, SDP session ids.
    pub seed: u64,
}

/// A setting the bridge cannot work with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The port range is empty or starts at 0.
    #[error("the media port range {0}-{1} is empty")]
    EmptyPortRange(u16, u16),
    /// The crypto backend could not make a DTLS certificate.
    #[error("{0}")]
    WebRtc(MediaError),
}

/// The media bridge between browsers (WebRTC) and SIP trunks (plain RTP).
#[derive(Debug)]
pub struct Bridge {
    config: BridgeConfig,
    clock: Clock,
    shared: WebRtcShared,
    ports: PortPool,
    calls: BTreeMap<MediaCall, Call>,
    /// Which call and leg each held port belongs to.
    by_port: BTreeMap<u16, (MediaCall, Leg)>,
    out: Outputs,
    /// SplitMix64 state for SSRCs, sequence numbers, timestamps, session ids.
    rng: u64,
}

impl Bridge {
    /// A bridge with no calls. `base` is the shell's `Instant` at `now`,
    /// read once: str0m takes `Instant`s, and every later `Time` is mapped
    /// onto this pair by offset.
    pub fn new(config: BridgeConfig, base: Instant, now: Time) -> Result<Bridge, ConfigError> {
        let (first, last) = config.ports;
        if first == 0 || first > last {
            return Err(ConfigError::EmptyPortRange(first, last));
        }
        let shared = WebRtcShared::new().map_err(ConfigError::WebRtc)?;
        Ok(Bridge {
            rng: config.seed,
            ports: PortPool::new(first, last),
            config,
            clock: Clock::new(base, now),
            shared,
            calls: BTreeMap::new(),
            by_port: BTreeMap::new(),
            out: Outputs::default(),
        })
    }

    fn random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Number of calls with media.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// What the bridge did and refused so far.
    pub fn counters(&self) -> Counters {
        self.out.counters
    }

    // ----- The gateway's side (the `Media` trait's methods) -----

    /// A browser called out: its WebRTC offer. Returns the WebRTC answer and
    /// the plain RTP offer for the trunk.
    ///
    /// The browser's first G.711 codec is the call's only codec on both
    /// legs: the bridge does not transcode, so offering the trunk a codec
    /// the browser will not send could leave one direction silent.
    pub fn outbound(
        &mut self,
        call: MediaCall,
        webrtc_offer: &str,
        now: Time,
    ) -> Result<OutboundMedia, MediaError> {
        self.check_room(call)?;
        let offer = parse_browser_sdp(webrtc_offer, SdpOffer::from_sdp_string)?;
        let params: Vec<_> = offer
            .media_lines
            .iter()
            .flat_map(|m| m.rtp_params())
            .collect();
        let codec = webrtc::first_g711(params.iter().cloned()).ok_or(MediaError::BrowserCodec)?;
        let browser_event_pt = webrtc::event_pt(params);
        let mut c = self.open(call, codec, now)?;
        let answer = match c.rtc.sdp_api().accept_offer(offer) {
            Ok(a) => a,
            Err(e) => {
                self.release(&c);
                return Err(MediaError::WebRtc(e.to_string()));
            }
        };
        c.drain(now, &mut self.out);
        c.browser_event_pt = browser_event_pt;
        c.local_sdp.codecs = vec![(codec, codec.static_pt())];
        c.local_sdp.telephone_event = Some(webrtc::BROWSER_EVENT_PT);
        c.trunk.audio_pt = codec.static_pt();
        let rtp_offer = c.local_sdp.to_string();
        self.insert(c);
        Ok(OutboundMedia {
            webrtc_answer: sdp::fill_rejected_formats(&answer.to_sdp_string(), webrtc_offer),
            rtp_offer,
        })
    }

    /// The trunk's SDP answer (from a 183 or a 200) to the bridge's offer.
    ///
    /// A later SDP of the trunk (a re-INVITE's offer that moves its media)
    /// goes here too; the bridge's answer to it is [`Bridge::rtp_sdp`].
    pub fn rtp_answer(
        &mut self,
        call: MediaCall,
        rtp_answer: &str,
        _now: Time,
    ) -> Result<(), MediaError> {
        let sdp = sdp::parse(rtp_answer)?;
        let c = self.calls.get_mut(&call).ok_or(MediaError::UnknownCall)?;
        if matches!(c.negotiation, Negotiation::AwaitBrowserAnswer(_)) {
            return Err(MediaError::WrongState(
                "the trunk offered, it does not answer",
            ));
        }
        let pt = sdp.pt_of(c.codec).ok_or(MediaError::TrunkCodec)?;
        c.trunk.apply_sdp(&sdp, pt);
        c.negotiation = Negotiation::Done;
        Ok(())
    }

    /// A trunk called in: its RTP offer. Returns the WebRTC offer for the
    /// user's tabs (with the trunk's first G.711 codec only).
    pub fn inbound(
        &mut self,
        call: MediaCall,
        rtp_offer: &str,
        now: Time,
    ) -> Result<String, MediaError> {
        self.check_room(call)?;
        let sdp = sdp::parse(rtp_offer)?;
        let (codec, pt) = sdp.preferred_g711().ok_or(MediaError::TrunkCodec)?;
        let mut c = self.open(call, codec, now)?;
        let mut change = c.rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, RtcDirection::SendRecv, None, None, None);
        let Some((offer, pending)) = change.apply() else {
            self.release(&c);
            return Err(MediaError::WebRtc("no offer was made".into()));
        };
        c.drain(now, &mut self.out);
        c.mid = Some(mid);
        c.negotiation = Negotiation::AwaitBrowserAnswer(pending);
        c.trunk.apply_sdp(&sdp, pt);
        c.local_sdp.codecs = vec![(codec, pt)];
        c.local_sdp.telephone_event = sdp.telephone_event;
        self.insert(c);
        Ok(offer.to_sdp_string())
    }

    /// The answering tab's WebRTC answer. Returns the RTP answer for the trunk.
    pub fn webrtc_answer(
        &mut self,
        call: MediaCall,
        webrtc_answer: &str,
        now: Time,
    ) -> Result<String, MediaError> {
        let c = self.calls.get_mut(&call).ok_or(MediaError::UnknownCall)?;
        let Negotiation::AwaitBrowserAnswer(_) = c.negotiation else {
            return Err(MediaError::WrongState("no offer was sent to a browser"));
        };
        let answer = parse_browser_sdp(webrtc_answer, SdpAnswer::from_sdp_string)?;
        let params: Vec<_> = answer
            .media_lines
            .iter()
            .flat_map(|m| m.rtp_params())
            .collect();
        if webrtc::first_g711(params.iter().cloned()) != Some(c.codec) {
            return Err(MediaError::BrowserCodec);
        }
        let Negotiation::AwaitBrowserAnswer(pending) =
            core::mem::replace(&mut c.negotiation, Negotiation::Done)
        else {
            return Err(MediaError::WrongState("no offer was sent to a browser"));
        };
        c.browser_event_pt = webrtc::event_pt(params);
        let accepted = c.rtc.sdp_api().accept_answer(pending, answer);
        c.drain(now, &mut self.out);
        accepted.map_err(|e| MediaError::WebRtc(e.to_string()))?;
        Ok(c.local_sdp.to_string())
    }

    /// Hold (true) or resume (false): no media is forwarded either way while
    /// held; [`Bridge::rtp_sdp`] then says `sendonly` for the re-INVITE.
    pub fn hold(&mut self, call: MediaCall, on: bool, _now: Time) {
        if let Some(c) = self.calls.get_mut(&call) {
            if c.held != on {
                c.held = on;
                c.local_sdp.direction = if on {
                    Direction::SendOnly
                } else {
                    Direction::SendRecv
                };
                c.local_sdp.version += 1;
            }
        }
    }

    /// A dial-pad key to send to the trunk as RFC 4733 events.
    pub fn dtmf(&mut self, call: MediaCall, digit: char, now: Time) -> Result<(), MediaError> {
        let code = digit_code(digit).ok_or(MediaError::BadDigit(digit))?;
        let c = self.calls.get_mut(&call).ok_or(MediaError::UnknownCall)?;
        if c.trunk.event_pt.is_none() || c.trunk.destination().is_none() {
            return Err(MediaError::WrongState(
                "the trunk has not agreed to telephone-event",
            ));
        }
        if !c.dtmf_out.push(code) {
            return Err(MediaError::DtmfBusy);
        }
        c.send_dtmf(now, &mut self.out);
        Ok(())
    }

    /// The call ended: its ports are freed ([`BridgeEvent::Unbind`]) and its state dropped.
    pub fn close(&mut self, call: MediaCall) {
        if let Some(c) = self.calls.remove(&call) {
            self.release(&c);
        }
    }

    /// The bridge's current SDP for the trunk (for a re-INVITE after [`Bridge::hold`]).
    pub fn rtp_sdp(&self, call: MediaCall) -> Option<String> {
        self.calls.get(&call).map(|c| c.local_sdp.to_string())
    }

    fn check_room(&self, call: MediaCall) -> Result<(), MediaError> {
        if self.calls.contains_key(&call) {
            return Err(MediaError::DuplicateCall);
        }
        if self.calls.len() >= self.config.max_calls {
            return Err(MediaError::TooManyCalls(self.config.max_calls));
        }
        Ok(())
    }

    /// Takes the call's two ports and builds its state (not yet inserted).
    fn open(&mut self, id: MediaCall, codec: G711, now: Time) -> Result<Call, MediaError> {
        let browser_port = self.ports.take().ok_or(MediaError::NoPorts)?;
        let Some(trunk_port) = self.ports.take() else {
            self.ports.free(browser_port);
            return Err(MediaError::NoPorts);
        };
        let candidate = SocketAddr::new(self.config.advertise_ip, browser_port);
        let instant = self.clock.instant(now);
        let rtc = match self.shared.rtc(codec, candidate, instant) {
            Ok(rtc) => rtc,
            Err(e) => {
                self.ports.free(browser_port);
                self.ports.free(trunk_port);
                return Err(e);
            }
        };
        let r = [self.random(), self.random(), self.random(), self.random()];
        // Truncations below take the low bits of random words on purpose.
        let ssrc = (r[0] & 0xffff_ffff) as u32;
        Ok(Call {
            id,
            rtc,
            browser_local: SocketAddr::new(self.config.bind_ip, browser_port),
            candidate,
            mid: None,
            negotiation: Negotiation::AwaitTrunkAnswer,
            codec,
            browser_event_pt: None,
            trunk: TrunkLeg {
                local: SocketAddr::new(self.config.bind_ip, trunk_port),
                signalled: None,
                latched: None,
                audio_pt: codec.static_pt(),
                event_pt: None,
                ssrc,
            },
            local_sdp: LocalSdp {
                addr: self.config.advertise_ip,
                port: trunk_port,
                codecs: Vec::new(),
                telephone_event: None,
                direction: Direction::SendRecv,
                session_id: r[3] >> 12,
                version: 1,
            },
            held: false,
            rtc_deadline: instant,
            failed: false,
            to_trunk: Restamp::new((r[1] & 0xffff) as u16, (r[1] >> 32) as u32),
            to_browser: Restamp::new((r[2] & 0xffff) as u16, (r[2] >> 32) as u32),
            dtmf_out: DtmfSender::default(),
            dtmf_ts: 0,
            browser_dtmf: Default::default(),
            trunk_dtmf: Default::default(),
        })
    }

    fn insert(&mut self, c: Call) {
        for (leg, local) in [(Leg::Browser, c.browser_local), (Leg::Trunk, c.trunk.local)] {
            self.by_port.insert(local.port(), (c.id, leg));
            self.out.event(BridgeEvent::Bind {
                call: c.id,
                leg,
                local,
            });
        }
        self.calls.insert(c.id, c);
    }

    /// Frees a call's ports; tells the shell if they were announced.
    fn release(&mut self, c: &Call) {
        for local in [c.browser_local, c.trunk.local] {
            self.ports.free(local.port());
            if self.by_port.remove(&local.port()).is_some() {
                self.out.event(BridgeEvent::Unbind { call: c.id, local });
            }
        }
    }

    // ----- The shell's side -----

    /// A datagram arrived on the socket bound to `local` (from a
    /// [`BridgeEvent::Bind`]) from `from`.
    pub fn handle_datagram(
        &mut self,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
        now: Time,
    ) {
        if bytes.len() > MAX_DATAGRAM {
            self.out.counters.dropped_oversize += 1;
            return;
        }
        let Some(&(id, leg)) = self.by_port.get(&local.port()) else {
            self.out.counters.dropped_unknown_port += 1;
            return;
        };
        let Some(c) = self.calls.get_mut(&id) else {
            self.out.counters.dropped_unknown_port += 1;
            return;
        };
        match leg {
            Leg::Browser => c.on_browser_datagram(from, bytes, now, &self.clock, &mut self.out),
            Leg::Trunk => c.on_trunk_datagram(from, bytes, now, &self.clock, &mut self.out),
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the shell or the gateway.
    pub fn poll_event(&mut self) -> Option<BridgeEvent> {
        self.out.events.pop_front()
    }

    /// When [`Bridge::handle_timeout`] is next due (`None`: no calls).
    pub fn poll_timeout(&self) -> Option<Time> {
        self.calls.values().map(|c| c.deadline(&self.clock)).min()
    }

    /// Time passed: runs every call's due timers.
    pub fn handle_timeout(&mut self, now: Time) {
        for c in self.calls.values_mut() {
            if c.deadline(&self.clock) <= now {
                c.on_timeout(now, &self.clock, &mut self.out);
            }
        }
    }
}

/// Hands a browser SDP of bounded size to str0m's parser.
fn parse_browser_sdp<T, E: core::fmt::Display>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, MediaError> {
    if text.len() > MAX_BROWSER_SDP {
        return Err(MediaError::BrowserSdp(
            "larger than the bridge reads".into(),
        ));
    }
    parse(text).map_err(|e| {
        // str0m's parse errors name a memory address; the person needs the rest.
        let text: Vec<String> = e
            .to_string()
            .lines()
            .filter(|l| !l.contains("PointerOffset") && !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
            .collect();
        MediaError::BrowserSdp(text.join("; ").chars().take(200).collect())
    })
}
