//! Plain RTP (RFC 3550) on the trunk leg and the RFC 4733 telephone-event
//! payload: just enough to read a trunk's packets, restamp them and write
//! the bridge's own.

/// The fixed RTP header's size.
pub const HEADER_LEN: usize = 12;

/// A read RTP packet; `payload` borrows the datagram (padding removed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// The marker bit.
    pub marker: bool,
    /// The payload type (7 bits).
    pub pt: u8,
    /// The sequence number.
    pub seq: u16,
    /// The media timestamp.
    pub timestamp: u32,
    /// The sender's synchronisation source.
    pub ssrc: u32,
    /// The payload, after CSRCs and header extension, before padding.
    pub payload: &'a [u8],
}

/// Why a datagram is not an RTP packet the bridge takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than its header says.
    #[error("truncated RTP packet")]
    Truncated,
    /// Not RTP version 2.
    #[error("not RTP version 2")]
    Version,
    /// Payload type 72-76 with the marker: RTCP (RFC 5761 §4), not media.
    #[error("RTCP on the RTP port")]
    Rtcp,
    /// The padding count is larger than the payload.
    #[error("bad RTP padding")]
    Padding,
}

/// Reads an RTP packet from hostile bytes.
pub fn parse(bytes: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    let header = bytes.get(..HEADER_LEN).ok_or(RtpError::Truncated)?;
    if header[0] >> 6 != 2 {
        return Err(RtpError::Version);
    }
    if (200..=204).contains(&header[1]) {
        return Err(RtpError::Rtcp);
    }
    let padding = header[0] & 0x20 != 0;
    let extension = header[0] & 0x10 != 0;
    let csrc_count = usize::from(header[0] & 0x0f);
    let mut start = HEADER_LEN + 4 * csrc_count;
    if extension {
        let ext = bytes.get(start..start + 4).ok_or(RtpError::Truncated)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        start += 4 + 4 * words;
    }
    let mut end = bytes.len();
    if start > end {
        return Err(RtpError::Truncated);
    }
    if padding {
        let count = usize::from(*bytes.last().ok_or(RtpError::Truncated)?);
        if count == 0 || count > end - start {
            return Err(RtpError::Padding);
        }
        end -= count;
    }
    Ok(RtpPacket {
        marker: header[1] & 0x80 != 0,
        pt: header[1] & 0x7f,
        seq: u16::from_be_bytes([header[2], header[3]]),
        timestamp: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
        ssrc: u32::from_be_bytes([header[8], header[9], header[10], header[11]]),
        payload: &bytes[start..end],
    })
}

/// Writes a packet with the fixed header only (no CSRCs, extension or padding).
pub fn write(packet: &RtpPacket<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + packet.payload.len());
    out.push(0x80);
    out.push(u8::from(packet.marker) << 7 | (packet.pt & 0x7f));
    out.extend_from_slice(&packet.seq.to_be_bytes());
    out.extend_from_slice(&packet.timestamp.to_be_bytes());
    out.extend_from_slice(&packet.ssrc.to_be_bytes());
    out.extend_from_slice(packet.payload);
    out
}

/// One RFC 4733 §2.3 event report (the first block of a payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0-9, 10 `*`, 11 `#`, 12-15 `A`-`D`, 16 flash).
    pub code: u8,
    /// The E bit: the event has ended.
    pub end: bool,
    /// Power level in -dBm0 (6 bits).
    pub volume: u8,
    /// Duration so far in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The payload's size.
    pub const LEN: usize = 4;

    /// Reads the first report of a telephone-event payload.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let b = payload.get(..Self::LEN)?;
        Some(TelephoneEvent {
            code: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3f,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.code,
            u8::from(self.end) << 7 | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// The RFC 4733 §3.2 code of a dial-pad key.
pub fn digit_code(digit: char) -> Option<u8> {
    Some(match digit.to_ascii_uppercase() {
        d @ '0'..='9' => d as u8 - b'0',
        '*' => 10,
        '#' => 11,
        d @ 'A'..='D' => d as u8 - b'A' + 12,
        _ => return None,
    })
}

/// The dial-pad key of an RFC 4733 code (16, flash, and above have none).
pub fn code_digit(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => char::from(b'0' + code),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + code - 12),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back_a_packet() {
        let p = RtpPacket {
            marker: true,
            pt: 8,
            seq: 65535,
            timestamp: 0xdead_beef,
            ssrc: 0x0102_0304,
            payload: &[0xd5; 160],
        };
        let bytes = write(&p);
        assert_eq!(bytes.len(), 172);
        assert_eq!(&bytes[..4], &[0x80, 0x88, 0xff, 0xff]);
        assert_eq!(parse(&bytes), Ok(p));
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        let mut b = vec![0xb1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // one-word extension
        b.extend_from_slice(&[7, 7, 7]);
        b.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let p = parse(&b).expect("valid");
        assert_eq!(p.payload, &[7, 7, 7]);
        assert_eq!(p.seq, 1);
        assert_eq!(p.ssrc, 3);
    }

    #[test]
    fn refuses_broken_packets() {
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(parse(&[0x40; 12]), Err(RtpError::Version));
        let mut rtcp = vec![0x80, 200];
        rtcp.extend_from_slice(&[0; 10]);
        assert_eq!(parse(&rtcp), Err(RtpError::Rtcp));
        let mut b = vec![0x8f, 0];
        b.extend_from_slice(&[0; 10]);
        assert_eq!(parse(&b), Err(RtpError::Truncated));
        let mut b = vec![0x90, 0];
        b.extend_from_slice(&[0; 10]);
        b.extend_from_slice(&[0, 0, 0xff, 0xff]);
        assert_eq!(parse(&b), Err(RtpError::Truncated));
        let mut b = vec![0xa0, 0];
        b.extend_from_slice(&[0; 10]);
        b.push(2);
        assert_eq!(parse(&b), Err(RtpError::Padding));
    }

    #[test]
    fn telephone_event_round_trip() {
        let e = TelephoneEvent {
            code: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.to_bytes(), [5, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Some(e));
        assert_eq!(TelephoneEvent::parse(&[5, 0x8a, 0x03]), None);
    }

    #[test]
    fn dial_pad_keys_map_both_ways() {
        for (i, key) in "0123456789*#ABCD".chars().enumerate() {
            let code = digit_code(key).expect("key");
            assert_eq!(usize::from(code), i);
            assert_eq!(code_digit(code), Some(key));
        }
        assert_eq!(digit_code('d'), Some(15));
        assert_eq!(digit_code('E'), None);
        assert_eq!(code_digit(16), None);
    }
}
