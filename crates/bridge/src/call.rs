//! One bridged call: its str0m `Rtc` (the browser leg), its trunk leg, and
//! the forwarding between them.

use crate::clock::Clock;
use crate::dtmf::{DtmfReader, DtmfSender};
use crate::output::{BridgeEvent, Leg, MediaCall, Outputs, Transmit};
use crate::restamp::Restamp;
use crate::rtp::{self, RtpPacket};
use crate::sdp::{LocalSdp, G711};
use crate::trunk::{Latch, TrunkLeg};
use chordphone_sip::Time;
use core::net::SocketAddr;
use std::time::Instant;
use str0m::change::SdpPendingOffer;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

/// Largest RTP payload forwarded (G.711 at 20 ms is 160 bytes; 60 ms is 480).
const MAX_PAYLOAD: usize = 1200;

/// Where the call's negotiation stands.
#[derive(Debug)]
pub(crate) enum Negotiation {
    /// Outbound: the trunk's answer is awaited.
    AwaitTrunkAnswer,
    /// Inbound: the browser's answer to this offer is awaited.
    AwaitBrowserAnswer(SdpPendingOffer),
    /// Both legs have agreed.
    Done,
}

/// A payload type's role on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Audio,
    Event,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub id: MediaCall,
    pub rtc: Rtc,
    /// The socket the shell bound for the browser leg.
    pub browser_local: SocketAddr,
    /// The ICE host candidate: the advertised address with the same port.
    pub candidate: SocketAddr,
    pub mid: Option<Mid>,
    pub negotiation: Negotiation,
    pub codec: G711,
    /// The browser's telephone-event payload type, once agreed.
    pub browser_event_pt: Option<u8>,
    pub trunk: TrunkLeg,
    pub local_sdp: LocalSdp,
    pub held: bool,
    /// When str0m next wants a timeout.
    pub rtc_deadline: Instant,
    /// A leg failure has been reported (once).
    pub failed: bool,
    pub to_trunk: Restamp,
    pub to_browser: Restamp,
    pub dtmf_out: DtmfSender,
    /// Timestamp of the event the bridge is sending to the trunk.
    pub dtmf_ts: u32,
    pub browser_dtmf: DtmfReader,
    pub trunk_dtmf: DtmfReader,
}

impl Call {
    /// The earliest time this call needs [`Call::on_timeout`].
    pub(crate) fn deadline(&self, clock: &Clock) -> Time {
        let rtc = clock.time(self.rtc_deadline);
        self.dtmf_out.deadline().map_or(rtc, |d| d.min(rtc))
    }

    /// Drains str0m after a mutation (its one rule): datagrams out, events
    /// handled, the next timeout kept.
    pub(crate) fn drain(&mut self, now: Time, out: &mut Outputs) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_deadline = t;
                    return;
                }
                Ok(Output::Transmit(t)) => out.transmit(Transmit {
                    from: self.browser_local,
                    to: t.destination,
                    bytes: t.contents.to_vec(),
                }),
                Ok(Output::Event(e)) => self.on_rtc_event(e, now, out),
                Err(e) => {
                    self.fail(Leg::Browser, e.to_string(), out);
                    return;
                }
            }
        }
    }

    fn fail(&mut self, leg: Leg, reason: String, out: &mut Outputs) {
        if !self.failed {
            self.failed = true;
            out.event(BridgeEvent::LegFailed {
                call: self.id,
                leg,
                reason,
            });
        }
    }

    fn on_rtc_event(&mut self, event: Event, now: Time, out: &mut Outputs) {
        match event {
            Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.mid.is_none() => {
                self.mid = Some(m.mid);
            }
            Event::Connected => out.event(BridgeEvent::BrowserConnected { call: self.id }),
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.fail(Leg::Browser, "ICE disconnected".into(), out);
            }
            Event::Closed => self.fail(Leg::Browser, "closed".into(), out),
            Event::RtpPacket(p) => self.on_browser_packet(&p, now, out),
            _ => {}
        }
    }

    /// A packet from the browser: passed to the trunk restamped.
    fn on_browser_packet(&mut self, p: &str0m::rtp::RtpPacket, now: Time, out: &mut Outputs) {
        let pt = *p.header.payload_type;
        let kind = if pt == self.codec.static_pt() {
            Kind::Audio
        } else if Some(pt) == self.browser_event_pt {
            Kind::Event
        } else {
            out.counters.dropped_unknown_pt += 1;
            return;
        };
        if p.payload.len() > MAX_PAYLOAD {
            out.counters.dropped_oversize += 1;
            return;
        }
        if kind == Kind::Event {
            if let Some(digit) = self.browser_dtmf.on_report(p.header.timestamp, &p.payload) {
                out.event(BridgeEvent::Dtmf {
                    call: self.id,
                    from: Leg::Browser,
                    digit,
                });
            }
        }
        let (seq, ts) = self.to_trunk.map(
            *p.header.ssrc,
            p.header.sequence_number,
            p.header.timestamp,
            now,
        );
        let out_pt = match kind {
            Kind::Audio => Some(self.trunk.audio_pt),
            Kind::Event => self.trunk.event_pt,
        };
        // The bridge's own DTMF replaces the browser's audio while it lasts.
        let dtmf_over_audio = kind == Kind::Audio && self.dtmf_out.is_sending();
        let flowing = !self.held && !dtmf_over_audio;
        let (Some(to), Some(out_pt), true) = (self.trunk.destination(), out_pt, flowing) else {
            out.counters.dropped_not_flowing += 1;
            return;
        };
        self.send_to_trunk(to, out_pt, p.header.marker, seq, ts, &p.payload, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn send_to_trunk(
        &self,
        to: SocketAddr,
        pt: u8,
        marker: bool,
        seq: u64,
        ts: u32,
        payload: &[u8],
        out: &mut Outputs,
    ) {
        let bytes = rtp::write(&RtpPacket {
            marker,
            pt,
            // The low 16 bits are the wire sequence number.
            seq: (seq & 0xffff) as u16,
            timestamp: ts,
            ssrc: self.trunk.ssrc,
            payload,
        });
        out.counters.to_trunk += 1;
        out.transmit(Transmit {
            from: self.trunk.local,
            to,
            bytes,
        });
    }

    /// A datagram on the browser leg's socket: STUN, DTLS or SRTP for str0m.
    pub(crate) fn on_browser_datagram(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        now: Time,
        clock: &Clock,
        out: &mut Outputs,
    ) {
        let Ok(contents) = bytes.try_into() else {
            out.counters.dropped_malformed += 1;
            return;
        };
        let input = Input::Receive(
            clock.instant(now),
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.candidate,
                contents,
            },
        );
        if !self.rtc.accepts(&input) {
            out.counters.dropped_malformed += 1;
            return;
        }
        if self.rtc.handle_input(input).is_err() {
            // A packet str0m could not take (bad SRTP, a stray DTLS record);
            // the connection goes on, as a browser's would.
            out.counters.dropped_malformed += 1;
        }
        self.drain(now, out);
    }

    /// A datagram on the trunk leg's socket: RTP for the browser.
    pub(crate) fn on_trunk_datagram(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        now: Time,
        clock: &Clock,
        out: &mut Outputs,
    ) {
        let Ok(p) = rtp::parse(bytes) else {
            out.counters.dropped_malformed += 1;
            return;
        };
        if p.payload.len() > MAX_PAYLOAD {
            out.counters.dropped_oversize += 1;
            return;
        }
        let kind = if p.pt == self.trunk.audio_pt {
            Kind::Audio
        } else if Some(p.pt) == self.trunk.event_pt {
            Kind::Event
        } else {
            out.counters.dropped_unknown_pt += 1;
            return;
        };
        match self.trunk.on_packet(from) {
            Latch::Latched => out.event(BridgeEvent::TrunkLatched {
                call: self.id,
                source: from,
            }),
            Latch::Known => {}
            Latch::Foreign => {
                out.counters.dropped_foreign_source += 1;
                return;
            }
            Latch::TooEarly => {
                out.counters.dropped_not_flowing += 1;
                return;
            }
        }
        if kind == Kind::Event {
            if let Some(digit) = self.trunk_dtmf.on_report(p.timestamp, p.payload) {
                out.event(BridgeEvent::Dtmf {
                    call: self.id,
                    from: Leg::Trunk,
                    digit,
                });
            }
        }
        let (seq, ts) = self.to_browser.map(p.ssrc, p.seq, p.timestamp, now);
        let out_pt = match kind {
            Kind::Audio => Some(self.codec.static_pt()),
            Kind::Event => self.browser_event_pt,
        };
        let (Some(mid), Some(out_pt), false, true) =
            (self.mid, out_pt, self.held, self.rtc.is_connected())
        else {
            out.counters.dropped_not_flowing += 1;
            return;
        };
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            out.counters.dropped_not_flowing += 1;
            return;
        };
        tx.write_rtp(
            RtpWrite::new(
                out_pt.into(),
                seq.into(),
                ts,
                clock.instant(now),
                p.payload.to_vec(),
            )
            .marker(p.marker),
        );
        out.counters.to_browser += 1;
        self.drain(now, out);
    }

    /// Time passed: str0m's timers and the DTMF sender.
    pub(crate) fn on_timeout(&mut self, now: Time, clock: &Clock, out: &mut Outputs) {
        let instant = clock.instant(now);
        if self.rtc_deadline <= instant {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(instant)) {
                self.fail(Leg::Browser, e.to_string(), out);
            }
            self.drain(now, out);
        }
        self.send_dtmf(now, out);
    }

    /// Sends the DTMF reports due at `now` to the trunk.
    pub(crate) fn send_dtmf(&mut self, now: Time, out: &mut Outputs) {
        while let Some(report) = self.dtmf_out.poll(now) {
            let (Some(to), Some(pt)) = (self.trunk.destination(), self.trunk.event_pt) else {
                continue;
            };
            if report.starts {
                self.dtmf_ts = self.to_trunk.now_ts(now);
                out.counters.dtmf_sent += 1;
            }
            let seq = self.to_trunk.insert();
            let payload = report.event.to_bytes();
            self.send_to_trunk(to, pt, report.marker, seq, self.dtmf_ts, &payload, out);
        }
    }
}
