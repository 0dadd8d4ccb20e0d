//! The trunk leg's SDP: a bounded reader for what a SIP trunk sends and a
//! writer for what the bridge offers or answers (plain RTP, RTP/AVP).
//!
//! The reader takes only what the bridge needs (the connection address, the
//! first audio stream's port and payload types, `rtpmap` names and the
//! direction) and refuses everything it cannot bound: the trunk's bytes are
//! hostile, so sizes and counts are capped and nothing panics.

use core::fmt::{self, Write as _};
use core::net::IpAddr;

/// Largest SDP body the reader accepts (a trunk's audio SDP is well under 1 KiB).
pub const MAX_SDP_BYTES: usize = 8 * 1024;
/// Most lines read from one SDP.
pub const MAX_SDP_LINES: usize = 128;
/// Most payload types kept from one `m=` line.
pub const MAX_PAYLOAD_TYPES: usize = 32;

/// The two G.711 codecs the bridge passes through unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum G711 {
    /// μ-law, static payload type 0.
    Pcmu,
    /// A-law, static payload type 8.
    Pcma,
}

impl G711 {
    /// The static payload type (RFC 3551).
    pub fn static_pt(self) -> u8 {
        match self {
            G711::Pcmu => 0,
            G711::Pcma => 8,
        }
    }

    /// The `rtpmap` encoding name.
    pub fn name(self) -> &'static str {
        match self {
            G711::Pcmu => "PCMU",
            G711::Pcma => "PCMA",
        }
    }
}

/// An SDP media direction (RFC 3264).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Media both ways.
    #[default]
    SendRecv,
    /// The writer sends and does not receive (it put the other side on hold).
    SendOnly,
    /// The writer receives only.
    RecvOnly,
    /// No media either way.
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn parse(attr: &str) -> Option<Direction> {
        Some(match attr {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }
}

/// What the bridge reads from a trunk's SDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSdp {
    /// Where the trunk says it receives RTP (media-level `c=` over session-level).
    pub addr: IpAddr,
    /// The audio stream's RTP port (never 0: a rejected stream is an error).
    pub port: u16,
    /// The `m=audio` payload types in the trunk's order of preference.
    pub payload_types: Vec<u8>,
    /// The G.711 codecs offered, with their payload type, in the trunk's order.
    pub g711: Vec<(G711, u8)>,
    /// The payload type of `telephone-event/8000`, if offered.
    pub telephone_event: Option<u8>,
    /// The direction (media level over session level; `c=0.0.0.0` reads as
    /// the old RFC 2543 hold, `sendonly`).
    pub direction: Direction,
}

impl RemoteSdp {
    /// The first G.711 codec in the trunk's preference order.
    pub fn preferred_g711(&self) -> Option<(G711, u8)> {
        self.g711.first().copied()
    }

    /// The payload type the trunk uses for `codec`, if it offered it.
    pub fn pt_of(&self, codec: G711) -> Option<u8> {
        self.g711
            .iter()
            .find(|(c, _)| *c == codec)
            .map(|(_, pt)| *pt)
    }
}

/// Why a trunk's SDP was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Bigger than [`MAX_SDP_BYTES`] or more than [`MAX_SDP_LINES`] lines.
    #[error("the SDP is larger than the bridge reads")]
    TooLarge,
    /// No `m=audio` line with a non-zero port.
    #[error("the SDP has no audio stream")]
    NoAudio,
    /// The audio stream is not plain RTP (`RTP/AVP`); SRTP trunks are not supported.
    #[error("the SDP's audio is not plain RTP (RTP/AVP) but {0}")]
    NotPlainRtp(String),
    /// No usable `c=` line (missing, a host name, or malformed).
    #[error("the SDP has no usable connection address (c=)")]
    NoAddress,
    /// A line the reader needs could not be read.
    #[error("the SDP line {0:?} could not be read")]
    Malformed(String),
}

/// Longest piece of a bad line quoted in an error (the rest is remote noise).
const QUOTE_MAX: usize = 60;

fn malformed(line: &str) -> SdpError {
    let end = line
        .char_indices()
        .nth(QUOTE_MAX)
        .map_or(line.len(), |(i, _)| i);
    SdpError::Malformed(line[..end].to_owned())
}

/// Reads the trunk's SDP: the first audio stream only (others are ignored).
pub fn parse(text: &str) -> Result<RemoteSdp, SdpError> {
    if text.len() > MAX_SDP_BYTES {
        return Err(SdpError::TooLarge);
    }
    let mut session_addr: Option<IpAddr> = None;
    let mut session_dir: Option<Direction> = None;
    // State of the first audio section, once seen.
    let mut audio: Option<AudioSection> = None;
    // Inside some media section other than the first audio one.
    let mut in_other_media = false;
    for (index, raw) in text.lines().enumerate() {
        if index >= MAX_SDP_LINES {
            return Err(SdpError::TooLarge);
        }
        let line = raw.trim_end_matches('\r');
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                if audio.is_some() || !value.starts_with("audio ") {
                    in_other_media = true;
                    if audio.is_some() {
                        // Only the first audio stream is read.
                        break;
                    }
                    continue;
                }
                in_other_media = false;
                audio = Some(AudioSection::from_m_line(line, value)?);
            }
            _ if in_other_media => {}
            "c" => {
                let addr = parse_connection(line, value)?;
                match audio.as_mut() {
                    Some(a) => a.addr = Some(addr),
                    None => session_addr = Some(addr),
                }
            }
            "a" => {
                if let Some(dir) = Direction::parse(value) {
                    match audio.as_mut() {
                        Some(a) => a.direction = Some(dir),
                        None => session_dir = Some(dir),
                    }
                } else if let Some(map) = value.strip_prefix("rtpmap:") {
                    if let Some(a) = audio.as_mut() {
                        a.rtpmap(line, map)?;
                    }
                }
            }
            _ => {}
        }
    }
    let audio = audio.ok_or(SdpError::NoAudio)?;
    let addr = audio.addr.or(session_addr).ok_or(SdpError::NoAddress)?;
    let mut direction = audio.direction.or(session_dir).unwrap_or_default();
    if addr.is_unspecified() && direction == Direction::SendRecv {
        direction = Direction::SendOnly;
    }
    let mut g711 = Vec::new();
    let mut telephone_event = None;
    for &pt in &audio.payload_types {
        let name = audio.names.iter().find(|(p, _)| *p == pt).map(|(_, n)| n);
        let codec = match (pt, name) {
            (_, Some(n)) if n.eq_ignore_ascii_case("PCMU/8000") => Some(G711::Pcmu),
            (_, Some(n)) if n.eq_ignore_ascii_case("PCMA/8000") => Some(G711::Pcma),
            (_, Some(n)) if n.eq_ignore_ascii_case("telephone-event/8000") => {
                telephone_event = telephone_event.or(Some(pt));
                None
            }
            (0, None) => Some(G711::Pcmu),
            (8, None) => Some(G711::Pcma),
            _ => None,
        };
        if let Some(c) = codec {
            if !g711.iter().any(|(have, _)| *have == c) {
                g711.push((c, pt));
            }
        }
    }
    Ok(RemoteSdp {
        addr,
        port: audio.port,
        payload_types: audio.payload_types,
        g711,
        telephone_event,
        direction,
    })
}

struct AudioSection {
    port: u16,
    payload_types: Vec<u8>,
    names: Vec<(u8, String)>,
    addr: Option<IpAddr>,
    direction: Option<Direction>,
}

impl AudioSection {
    fn from_m_line(line: &str, value: &str) -> Result<AudioSection, SdpError> {
        let mut fields = value.split_ascii_whitespace();
        let _media = fields.next();
        let port_field = fields.next().ok_or_else(|| malformed(line))?;
        // "port/count" (RFC 4566) — only the first port is used.
        let port_text = port_field.split('/').next().unwrap_or(port_field);
        let port: u16 = port_text.parse().map_err(|_| malformed(line))?;
        if port == 0 {
            return Err(SdpError::NoAudio);
        }
        let proto = fields.next().ok_or_else(|| malformed(line))?;
        if proto != "RTP/AVP" {
            return Err(SdpError::NotPlainRtp(
                proto.chars().take(QUOTE_MAX).collect(),
            ));
        }
        let mut payload_types = Vec::new();
        for f in fields {
            let pt: u8 = f.parse().map_err(|_| malformed(line))?;
            if pt > 127 {
                return Err(malformed(line));
            }
            if payload_types.len() < MAX_PAYLOAD_TYPES && !payload_types.contains(&pt) {
                payload_types.push(pt);
            }
        }
        if payload_types.is_empty() {
            return Err(malformed(line));
        }
        Ok(AudioSection {
            port,
            payload_types,
            names: Vec::new(),
            addr: None,
            direction: None,
        })
    }

    /// `a=rtpmap:<pt> <name>/<rate>[/<channels>]`, kept only for listed payload types.
    fn rtpmap(&mut self, line: &str, map: &str) -> Result<(), SdpError> {
        let (pt, rest) = map.split_once(' ').ok_or_else(|| malformed(line))?;
        let pt: u8 = pt.parse().map_err(|_| malformed(line))?;
        if !self.payload_types.contains(&pt) || self.names.iter().any(|(p, _)| *p == pt) {
            return Ok(());
        }
        // Channels ("/1") are dropped so that "PCMU/8000/1" reads as "PCMU/8000".
        let mut parts = rest.trim().splitn(3, '/');
        let name = parts.next().unwrap_or_default();
        let rate = parts.next().unwrap_or_default();
        self.names.push((pt, format!("{name}/{rate}")));
        Ok(())
    }
}

fn parse_connection(line: &str, value: &str) -> Result<IpAddr, SdpError> {
    let mut fields = value.split_ascii_whitespace();
    if fields.next() != Some("IN") {
        return Err(malformed(line));
    }
    let family = fields.next().ok_or_else(|| malformed(line))?;
    let addr = fields.next().ok_or_else(|| malformed(line))?;
    // Multicast "addr/ttl" is not for a trunk; the TTL suffix is refused with it.
    let ip: IpAddr = addr.parse().map_err(|_| SdpError::NoAddress)?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Ok(ip),
        _ => Err(malformed(line)),
    }
}

/// The plain RTP SDP the bridge sends to the trunk (an offer or an answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalSdp {
    /// The advertised address (`o=` and `c=`).
    pub addr: IpAddr,
    /// The bridge's RTP port for this call.
    pub port: u16,
    /// The audio codecs with their payload types, in preference order.
    pub codecs: Vec<(G711, u8)>,
    /// The telephone-event payload type, if offered or accepted.
    pub telephone_event: Option<u8>,
    /// `sendrecv`, or `sendonly` while the bridge holds the trunk.
    pub direction: Direction,
    /// `o=` session id (stays for the call).
    pub session_id: u64,
    /// `o=` version (goes up with every change, RFC 3264 §8).
    pub version: u64,
}

impl fmt::Display for LocalSdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = if self.addr.is_ipv4() { "IP4" } else { "IP6" };
        let mut m_line = format!("m=audio {} RTP/AVP", self.port);
        for (_, pt) in &self.codecs {
            let _ = write!(m_line, " {pt}");
        }
        if let Some(pt) = self.telephone_event {
            let _ = write!(m_line, " {pt}");
        }
        write!(
            f,
            "v=0\r\no=chordphone {} {} IN {family} {addr}\r\ns=chordphone\r\nc=IN {family} {addr}\r\nt=0 0\r\n{m_line}\r\n",
            self.session_id,
            self.version,
            addr = self.addr
        )?;
        for (codec, pt) in &self.codecs {
            write!(f, "a=rtpmap:{pt} {}/8000\r\n", codec.name())?;
        }
        if let Some(pt) = self.telephone_event {
            write!(
                f,
                "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n"
            )?;
        }
        write!(f, "a=ptime:20\r\na={}\r\n", self.direction.attribute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 0 96\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\n";

    #[test]
    fn reads_a_trunk_offer_in_its_preference_order() {
        let sdp = parse(SIPP_OFFER).expect("valid");
        assert_eq!(sdp.addr, IpAddr::from([192, 0, 2, 7]));
        assert_eq!(sdp.port, 6000);
        assert_eq!(sdp.payload_types, vec![8, 0, 96]);
        assert_eq!(sdp.g711, vec![(G711::Pcma, 8), (G711::Pcmu, 0)]);
        assert_eq!(sdp.preferred_g711(), Some((G711::Pcma, 8)));
        assert_eq!(sdp.telephone_event, Some(96));
        assert_eq!(sdp.direction, Direction::SendRecv);
    }

    #[test]
    fn media_level_connection_and_direction_win() {
        let text = "v=0\nc=IN IP4 192.0.2.1\na=sendrecv\nm=audio 4000 RTP/AVP 0\nc=IN IP6 2001:db8::5\na=sendonly\n";
        let sdp = parse(text).expect("valid");
        assert_eq!(sdp.addr, "2001:db8::5".parse::<IpAddr>().expect("ip"));
        assert_eq!(sdp.direction, Direction::SendOnly);
        assert_eq!(sdp.g711, vec![(G711::Pcmu, 0)]);
        assert_eq!(sdp.telephone_event, None);
    }

    #[test]
    fn old_style_hold_reads_as_sendonly() {
        let text = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(parse(text).expect("valid").direction, Direction::SendOnly);
    }

    #[test]
    fn only_the_first_audio_stream_is_read() {
        let text = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\nm=audio 4000 RTP/AVP 8\r\nm=audio 4002 RTP/AVP 0\r\n";
        let sdp = parse(text).expect("valid");
        assert_eq!(sdp.port, 4000);
        assert_eq!(sdp.g711, vec![(G711::Pcma, 8)]);
    }

    #[test]
    fn a_dynamic_payload_type_can_carry_g711() {
        let text = "c=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 97 101\r\na=rtpmap:97 pcmu/8000/1\r\na=rtpmap:101 telephone-event/8000\r\n";
        let sdp = parse(text).expect("valid");
        assert_eq!(sdp.g711, vec![(G711::Pcmu, 97)]);
        assert_eq!(sdp.telephone_event, Some(101));
    }

    #[test]
    fn refuses_what_the_bridge_cannot_carry() {
        let c = "c=IN IP4 192.0.2.1\r\n";
        assert_eq!(parse(c), Err(SdpError::NoAudio));
        assert_eq!(
            parse(&format!("{c}m=audio 0 RTP/AVP 0\r\n")),
            Err(SdpError::NoAudio)
        );
        assert_eq!(
            parse(&format!("{c}m=audio 4000 RTP/SAVP 0\r\n")),
            Err(SdpError::NotPlainRtp("RTP/SAVP".into()))
        );
        assert_eq!(
            parse("m=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::NoAddress)
        );
        assert_eq!(
            parse("c=IN IP4 trunk.example\r\nm=audio 4000 RTP/AVP 0\r\n"),
            Err(SdpError::NoAddress)
        );
        assert!(matches!(
            parse(&format!("{c}m=audio 70000 RTP/AVP 0\r\n")),
            Err(SdpError::Malformed(_))
        ));
        assert!(matches!(
            parse(&format!("{c}m=audio 4000 RTP/AVP 200\r\n")),
            Err(SdpError::Malformed(_))
        ));
        assert_eq!(
            parse(&"a".repeat(MAX_SDP_BYTES + 1)),
            Err(SdpError::TooLarge)
        );
        assert_eq!(
            parse(&"x=y\n".repeat(MAX_SDP_LINES + 1)),
            Err(SdpError::TooLarge)
        );
    }

    #[test]
    fn an_error_quotes_only_the_start_of_a_long_line() {
        let long = format!(
            "c=IN IP4 192.0.2.1\r\nm=audio x{} RTP/AVP 0\r\n",
            "é".repeat(500)
        );
        match parse(&long) {
            Err(SdpError::Malformed(q)) => assert_eq!(q.chars().count(), QUOTE_MAX),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn writes_an_offer_the_reader_reads_back() {
        let local = LocalSdp {
            addr: IpAddr::from([198, 51, 100, 4]),
            port: 40002,
            codecs: vec![(G711::Pcmu, 0), (G711::Pcma, 8)],
            telephone_event: Some(101),
            direction: Direction::SendRecv,
            session_id: 7,
            version: 1,
        };
        let text = local.to_string();
        assert_eq!(
            text,
            "v=0\r\no=chordphone 7 1 IN IP4 198.51.100.4\r\ns=chordphone\r\nc=IN IP4 198.51.100.4\r\nt=0 0\r\nm=audio 40002 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let back = parse(&text).expect("own SDP");
        assert_eq!(back.port, 40002);
        assert_eq!(back.g711, local.codecs);
        assert_eq!(back.telephone_event, Some(101));
    }

    #[test]
    fn hold_writes_sendonly() {
        let local = LocalSdp {
            addr: IpAddr::from([198, 51, 100, 4]),
            port: 40002,
            codecs: vec![(G711::Pcma, 8)],
            telephone_event: None,
            direction: Direction::SendOnly,
            session_id: 7,
            version: 2,
        };
        let text = local.to_string();
        assert!(text.contains("m=audio 40002 RTP/AVP 8\r\n"));
        assert!(text.ends_with("a=sendonly\r\n"));
        assert_eq!(parse(&text).expect("own").direction, Direction::SendOnly);
    }
}

/// The answer with a format on every rejected media line (port 0) that
/// has none: RFC 3264 wants the offer's formats listed even on a refused
/// stream, and browsers refuse an answer with an empty list (str0m writes
/// `m=video 0 UDP/TLS/RTP/SAVPF` with nothing after it). The `n`th media
/// line of the answer takes the first format of the `n`th of the offer.
pub fn fill_rejected_formats(answer: &str, offer: &str) -> String {
    let mut offered = offer
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(|l| l.split_whitespace().nth(3).unwrap_or("0"));
    let mut out = String::with_capacity(answer.len() + 8);
    for line in answer.split_inclusive('\n') {
        if !line.starts_with("m=") {
            out.push_str(line);
            continue;
        }
        let format = offered.next().unwrap_or("0");
        let body = line.trim_end_matches(['\r', '\n']);
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() == 3 && fields[1] == "0" {
            out.push_str(&fields.join(" "));
            out.push(' ');
            out.push_str(format);
            out.push_str(&line[body.len()..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod rejected_tests {
    use super::fill_rejected_formats;

    #[test]
    fn a_rejected_line_gets_the_offers_first_format() {
        let offer =
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n";
        let answer =
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nm=video 0 UDP/TLS/RTP/SAVPF \r\na=mid:1\r\n";
        assert_eq!(
            fill_rejected_formats(answer, offer),
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
        );
        // Nothing to fill: unchanged.
        let whole = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
        assert_eq!(fill_rejected_formats(whole, offer), whole);
    }
}
