//! The little SDP the gateway reads or edits itself: the media direction
//! of a hold (RFC 3264 §8.4). Everything else about media is the bridge's.

/// A media direction attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `a=sendrecv` (or none: the default).
    SendRecv,
    /// `a=sendonly`: the offerer holds the call.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "a=sendrecv",
            Direction::SendOnly => "a=sendonly",
            Direction::RecvOnly => "a=recvonly",
            Direction::Inactive => "a=inactive",
        }
    }

    /// Whether an offer with this direction puts the call on hold.
    pub fn is_hold(self) -> bool {
        matches!(self, Direction::SendOnly | Direction::Inactive)
    }

    /// The direction of an answer to an offer with this one.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }
}

/// The direction of the first audio stream (or the session's).
pub fn direction(sdp: &str) -> Direction {
    let mut found = Direction::SendRecv;
    for line in sdp.lines().map(str::trim) {
        match line {
            "a=sendonly" => found = Direction::SendOnly,
            "a=recvonly" => found = Direction::RecvOnly,
            "a=inactive" => found = Direction::Inactive,
            "a=sendrecv" => found = Direction::SendRecv,
            _ => continue,
        }
    }
    found
}

/// `sdp` with its direction set to `dir` (every direction line replaced,
/// one added after each `m=` line if there was none) and the `o=` version
/// raised, as a new offer or answer in the same session must (RFC 3264 §8).
pub fn with_direction(sdp: &str, dir: Direction) -> String {
    let had = sdp.lines().any(|l| {
        matches!(
            l.trim(),
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
        )
    });
    let mut out = String::with_capacity(sdp.len() + 16);
    for line in sdp.lines().map(str::trim_end) {
        if line.is_empty() {
            continue;
        }
        match line {
            "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive" => {
                out.push_str(dir.attribute());
            }
            l if l.starts_with("o=") => out.push_str(&bump_version(l)),
            l => out.push_str(l),
        }
        out.push_str("\r\n");
        if !had && line.starts_with("m=") {
            out.push_str(dir.attribute());
            out.push_str("\r\n");
        }
    }
    out
}

/// `o=<user> <id> <version> ...` with the version plus one.
fn bump_version(o: &str) -> String {
    let mut parts: Vec<String> = o.split(' ').map(str::to_owned).collect();
    if let Some(v) = parts.get_mut(2) {
        if let Ok(n) = v.parse::<u64>() {
            *v = n.saturating_add(1).to_string();
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 7 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    #[test]
    fn hold_is_read_and_written() {
        assert_eq!(direction(SDP), Direction::SendRecv);
        let held = with_direction(SDP, Direction::SendOnly);
        assert_eq!(direction(&held), Direction::SendOnly);
        assert!(held.contains("o=- 7 3 IN IP4"), "{held}");
        assert!(held.contains("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"));
        let resumed = with_direction(&held, Direction::SendRecv);
        assert_eq!(direction(&resumed), Direction::SendRecv);
        assert_eq!(resumed.matches("a=").count(), 2, "{resumed}");
        assert!(Direction::SendOnly.is_hold() && Direction::Inactive.is_hold());
        assert_eq!(Direction::SendOnly.answer(), Direction::RecvOnly);
    }
}
