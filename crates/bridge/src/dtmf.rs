//! DTMF as RFC 4733 telephone events: the bridge's own sender towards the
//! trunk (digits from the dial pad) and the reader that turns either leg's
//! events into one report per key press.

use crate::rtp::{code_digit, TelephoneEvent};
use chordphone_sip::Time;
use std::collections::VecDeque;

/// Most digits waiting to be sent on one call (a pasted number is ~20).
pub const MAX_QUEUED_DIGITS: usize = 32;
/// One report every 20 ms, as an audio packet would be sent.
const REPORT_INTERVAL_US: u64 = 20_000;
/// Duration of one key press in timestamp units: 100 ms at 8 kHz.
const EVENT_DURATION: u16 = 800;
/// Increase of the duration per report (20 ms at 8 kHz).
const DURATION_STEP: u16 = 160;
/// The final report is sent three times (RFC 4733 §2.5.1.4).
const END_REPORTS: u8 = 3;
/// Silence between two key presses.
const GAP_US: u64 = 60_000;
/// Volume: -10 dBm0, what phones send.
const VOLUME: u8 = 10;

/// A packet the sender wants sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventPacket {
    /// The first report of an event carries the marker bit.
    pub marker: bool,
    /// Whether this report starts a new event (the caller picks its timestamp then).
    pub starts: bool,
    pub event: TelephoneEvent,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    code: u8,
    duration: u16,
    ends_sent: u8,
    next_at: Time,
}

/// The queue of digits for one call and the event being sent.
#[derive(Debug, Default)]
pub(crate) struct DtmfSender {
    queue: VecDeque<u8>,
    sending: Option<Sending>,
    /// The next event may start at this time (the gap after the last).
    idle_from: Time,
}

impl DtmfSender {
    /// Queues a key press; false when the queue is full.
    pub(crate) fn push(&mut self, code: u8) -> bool {
        if self.queue.len() >= MAX_QUEUED_DIGITS {
            return false;
        }
        self.queue.push_back(code);
        true
    }

    /// Whether an event is on the wire (audio towards the trunk pauses then).
    pub(crate) fn is_sending(&self) -> bool {
        self.sending.is_some()
    }

    /// When [`DtmfSender::poll`] next has a packet.
    pub(crate) fn deadline(&self) -> Option<Time> {
        match self.sending {
            Some(s) => Some(s.next_at),
            None if !self.queue.is_empty() => Some(self.idle_from),
            None => None,
        }
    }

    /// The next report due at `now`, if any (call until `None`).
    pub(crate) fn poll(&mut self, now: Time) -> Option<EventPacket> {
        let mut starts = false;
        let mut s = match self.sending {
            Some(s) if s.next_at <= now => s,
            Some(_) => return None,
            None => {
                if self.idle_from > now {
                    return None;
                }
                let code = self.queue.pop_front()?;
                starts = true;
                Sending {
                    code,
                    duration: 0,
                    ends_sent: 0,
                    next_at: now,
                }
            }
        };
        s.duration = s.duration.saturating_add(DURATION_STEP).min(EVENT_DURATION);
        let end = s.duration >= EVENT_DURATION;
        if end {
            s.ends_sent += 1;
        }
        s.next_at = Time(now.0.saturating_add(REPORT_INTERVAL_US));
        let packet = EventPacket {
            marker: starts,
            starts,
            event: TelephoneEvent {
                code: s.code,
                end,
                volume: VOLUME,
                duration: s.duration,
            },
        };
        if s.ends_sent >= END_REPORTS {
            self.sending = None;
            self.idle_from = Time(now.0.saturating_add(GAP_US));
        } else {
            self.sending = Some(s);
        }
        Some(packet)
    }
}

/// Turns a leg's stream of event reports into one digit per key press.
#[derive(Debug, Default)]
pub(crate) struct DtmfReader {
    /// Timestamp of the last event reported (its end reports repeat).
    last_reported: Option<u32>,
}

impl DtmfReader {
    /// A report arrived in a packet with RTP `timestamp`: the digit, once
    /// per event, when its end is first seen.
    pub(crate) fn on_report(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload)?;
        if !event.end || self.last_reported == Some(timestamp) {
            return None;
        }
        self.last_reported = Some(timestamp);
        code_digit(event.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn a_key_press_is_reports_every_20_ms_then_three_ends() {
        let mut s = DtmfSender::default();
        assert!(s.push(5));
        assert_eq!(s.deadline(), Some(Time(0)));
        let mut sent = Vec::new();
        let mut now = Time(0);
        while let Some(t) = s.deadline() {
            now = now.max(t);
            while let Some(p) = s.poll(now) {
                sent.push((now.0 / MS, p));
            }
            if sent.len() > 20 {
                break;
            }
        }
        let summary: Vec<_> = sent
            .iter()
            .map(|(ms, p)| (*ms, p.marker, p.event.end, p.event.duration))
            .collect();
        assert_eq!(
            summary,
            vec![
                (0, true, false, 160),
                (20, false, false, 320),
                (40, false, false, 480),
                (60, false, false, 640),
                (80, false, true, 800),
                (100, false, true, 800),
                (120, false, true, 800),
            ]
        );
        assert!(sent.iter().all(|(_, p)| p.event.code == 5));
        assert!(!s.is_sending());
    }

    #[test]
    fn the_next_digit_waits_for_the_gap_and_the_queue_is_bounded() {
        let mut s = DtmfSender::default();
        for _ in 0..MAX_QUEUED_DIGITS {
            assert!(s.push(1));
        }
        assert!(!s.push(1));
        let mut now = Time(0);
        for _ in 0..7 {
            now = s.deadline().expect("due");
            assert!(s.poll(now).is_some());
        }
        assert_eq!(s.deadline(), Some(Time(now.0 + GAP_US)));
        assert_eq!(s.poll(Time(now.0 + GAP_US - 1)), None);
        assert!(s.poll(Time(now.0 + GAP_US)).expect("next").starts);
    }

    #[test]
    fn the_reader_reports_each_event_once_at_its_end() {
        let mut r = DtmfReader::default();
        let report = |code, end| {
            TelephoneEvent {
                code,
                end,
                volume: 10,
                duration: 800,
            }
            .to_bytes()
        };
        assert_eq!(r.on_report(160, &report(11, false)), None);
        assert_eq!(r.on_report(160, &report(11, true)), Some('#'));
        assert_eq!(r.on_report(160, &report(11, true)), None);
        assert_eq!(r.on_report(960, &report(3, true)), Some('3'));
        assert_eq!(r.on_report(1960, &report(16, true)), None);
        assert_eq!(r.on_report(2960, &[1, 2]), None);
    }
}
