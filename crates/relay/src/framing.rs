//! Cutting a TCP byte stream into TURN messages: STUN messages carry their
//! length in the header, ChannelData messages too, padded to four bytes
//! over TCP (RFC 8656 12.5).

/// The length of the first message in `buf`: `Ok(Some(n))` once its header
/// is there, `Ok(None)` while fewer than four bytes have arrived, `Err`
/// when the stream is neither STUN nor ChannelData (close it).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, NotTurn> {
    let (Some(&first), Some(len)) = (
        buf.first(),
        buf.get(2..4)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
    ) else {
        return Ok(None);
    };
    match first & 0xC0 {
        0x00 => Ok(Some(crate::stun::HEADER + len)),
        0x40 => Ok(Some((4 + len).div_ceil(4) * 4)),
        _ => Err(NotTurn),
    }
}

/// The stream does not carry TURN messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a TURN stream")]
pub struct NotTurn;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(frame_len(&[0, 1, 0]), Ok(None));
        assert_eq!(frame_len(&[0, 1, 0, 8]), Ok(Some(28)));
        assert_eq!(frame_len(&[0x40, 0, 0, 5]), Ok(Some(12)));
        assert_eq!(frame_len(&[0xFF, 0, 0, 5]), Err(NotTurn));
    }
}
