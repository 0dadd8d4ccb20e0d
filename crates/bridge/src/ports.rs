//! The configured UDP port range and which ports calls hold.

use std::collections::BTreeSet;

/// Hands out ports from a range, least recently freed first.
///
/// A freed port goes to the back: a late packet of an ended call then
/// reaches no new call for as long as the range allows.
#[derive(Debug)]
pub(crate) struct PortPool {
    first: u16,
    last: u16,
    in_use: BTreeSet<u16>,
    /// The next port to try; the search goes round the range from here.
    cursor: u16,
}

impl PortPool {
    pub(crate) fn new(first: u16, last: u16) -> PortPool {
        PortPool {
            first,
            last,
            in_use: BTreeSet::new(),
            cursor: first,
        }
    }

    fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// A free port, or `None` when the range is used up.
    pub(crate) fn take(&mut self) -> Option<u16> {
        let len = self.len();
        for step in 0..len {
            let offset = (u32::from(self.cursor - self.first) + step) % len;
            // In range by construction: first + offset <= last.
            let port = u16::try_from(u32::from(self.first) + offset).ok()?;
            if self.in_use.insert(port) {
                let next = (offset + 1) % len;
                self.cursor = u16::try_from(u32::from(self.first) + next).ok()?;
                return Some(port);
            }
        }
        None
    }

    pub(crate) fn free(&mut self, port: u16) {
        self.in_use.remove(&port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_round_the_range_and_reuses_freed_ports_last() {
        let mut p = PortPool::new(65533, 65535);
        assert_eq!(p.take(), Some(65533));
        assert_eq!(p.take(), Some(65534));
        p.free(65533);
        assert_eq!(p.take(), Some(65535));
        assert_eq!(p.take(), Some(65533));
        assert_eq!(p.take(), None);
        p.free(65534);
        assert_eq!(p.take(), Some(65534));
    }
}
