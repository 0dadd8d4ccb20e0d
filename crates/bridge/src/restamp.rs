//! Sequence numbers and timestamps for one outgoing stream fed by an
//! incoming one that may restart.
//!
//! Packets are passed through with their spacing: a gap in the incoming
//! sequence stays a gap (the receiver sees the loss), and timestamps move by
//! the incoming difference. Only when the source restarts (a new SSRC, or a
//! jump no jitter buffer would bridge) is the outgoing stream re-anchored:
//! one sequence number on, and the timestamp on by the time that passed. The
//! bridge also inserts its own packets (DTMF) into the stream; [`Restamp::insert`]
//! takes a sequence number for them so nothing is sent twice under one number.

use chordphone_sip::Time;

/// A sequence jump beyond this (either way) counts as a restart of the source.
const MAX_JUMP: i32 = 3000;
/// The G.711 and telephone-event clock: 8 samples per millisecond.
const SAMPLES_PER_MS: u64 = 8;

/// The outgoing side of one bridged stream.
#[derive(Debug, Clone)]
pub(crate) struct Restamp {
    /// (SSRC, sequence, timestamp) of the newest incoming packet.
    last_in: Option<(u32, u16, u32)>,
    /// Newest outgoing sequence number, extended to 64 bits.
    out_seq: u64,
    /// Newest outgoing timestamp.
    out_ts: u32,
    /// When the newest outgoing packet was mapped.
    out_at: Option<Time>,
}

impl Restamp {
    /// A stream that starts at the (seeded, unpredictable) `seq` and `ts`.
    pub(crate) fn new(seq: u16, ts: u32) -> Restamp {
        Restamp {
            last_in: None,
            out_seq: u64::from(seq),
            out_ts: ts,
            out_at: None,
        }
    }

    /// Maps an incoming packet: returns its outgoing sequence and timestamp.
    pub(crate) fn map(&mut self, ssrc: u32, seq: u16, ts: u32, now: Time) -> (u64, u32) {
        if let Some((last_ssrc, last_seq, last_ts)) = self.last_in {
            let delta = i32::from(seq.wrapping_sub(last_seq) as i16);
            if last_ssrc == ssrc && delta.unsigned_abs() < MAX_JUMP.unsigned_abs() {
                let out_ts = self.out_ts.wrapping_add(ts.wrapping_sub(last_ts));
                if delta > 0 {
                    self.out_seq += u64::from(delta.unsigned_abs());
                    self.out_ts = out_ts;
                    self.last_in = Some((ssrc, seq, ts));
                    self.out_at = Some(now);
                    return (self.out_seq, out_ts);
                }
                // Late or repeated: keeps its place behind the newest packet.
                return (
                    self.out_seq.saturating_sub(u64::from(delta.unsigned_abs())),
                    out_ts,
                );
            }
        }
        // First packet or a restart of the source.
        self.out_seq += 1;
        self.out_ts = self.now_ts(now);
        self.last_in = Some((ssrc, seq, ts));
        self.out_at = Some(now);
        (self.out_seq, self.out_ts)
    }

    /// A sequence number for a packet the bridge makes itself.
    pub(crate) fn insert(&mut self) -> u64 {
        self.out_seq += 1;
        self.out_seq
    }

    /// The outgoing timestamp that corresponds to `now` (the newest packet's,
    /// moved on by the time since it was sent).
    pub(crate) fn now_ts(&self, now: Time) -> u32 {
        match self.out_at {
            None => self.out_ts,
            Some(at) => {
                let ms = now.0.saturating_sub(at.0) / 1000;
                // Wraps like RTP time does; the truncation to u32 is the wrap.
                self.out_ts
                    .wrapping_add((ms.wrapping_mul(SAMPLES_PER_MS) & 0xffff_ffff) as u32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1000;

    #[test]
    fn keeps_gaps_and_spacing_of_one_source() {
        let mut r = Restamp::new(100, 5000);
        assert_eq!(r.map(1, 65535, 1_000, Time(0)), (101, 5000));
        assert_eq!(r.map(1, 0, 1_160, Time(20 * MS)), (102, 5160));
        // Two packets lost: the gap stays.
        assert_eq!(r.map(1, 3, 1_640, Time(80 * MS)), (105, 5640));
        // A late packet keeps its place and does not move the stream.
        assert_eq!(r.map(1, 2, 1_480, Time(81 * MS)), (104, 5480));
        assert_eq!(r.map(1, 4, 1_800, Time(100 * MS)), (106, 5800));
    }

    #[test]
    fn a_new_source_continues_the_stream_in_time() {
        let mut r = Restamp::new(0, 0);
        assert_eq!(r.map(1, 10, 90, Time(0)), (1, 0));
        // A new SSRC 200 ms later: next sequence number, 1600 samples on.
        assert_eq!(r.map(2, 5000, 7, Time(200 * MS)), (2, 1600));
        assert_eq!(r.map(2, 5001, 167, Time(220 * MS)), (3, 1760));
        // A jump no jitter buffer bridges is a restart too.
        assert_eq!(r.map(2, 15001, 999, Time(240 * MS)), (4, 1920));
    }

    #[test]
    fn inserted_packets_take_their_own_numbers() {
        let mut r = Restamp::new(0, 0);
        assert_eq!(r.map(1, 10, 0, Time(0)), (1, 0));
        assert_eq!(r.insert(), 2);
        assert_eq!(r.insert(), 3);
        assert_eq!(r.now_ts(Time(50 * MS)), 400);
        // The source goes on: the next packet does not reuse 2 or 3.
        assert_eq!(r.map(1, 11, 160, Time(20 * MS)), (4, 160));
    }
}
