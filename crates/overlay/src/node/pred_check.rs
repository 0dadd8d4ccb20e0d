//! Checking on the predecessor. It stabilizes with us once a period; when
//! it misses a round we ask it directly (a probe), and one that does not
//! answer within the acknowledgement timeout is taken for dead at once.
//!
//! Why not wait for the silence timeout (four periods) or the link to drop:
//! the successor of a dead node inherits its range and holds a copy of what
//! it owned, and it is the node that pushes that range down its successor
//! chain again. Under churn (tabs that live two minutes) the next holders
//! die too, and the records that were lost in the simulator were those
//! whose three holders died within about three seconds: the time the
//! successor took to notice. A probe after one missed round halves that.
//! A new predecessor is probed once at once, to learn the round trip to it
//! (it sends us requests but rarely answers any): a later probe then waits
//! a measured timeout instead of the initial one. That first probe only
//! measures: a newcomer is often busy starting (a tab loading its page and
//! media), and silence then is no evidence of death.

use super::Node;
use crate::id::NodeId;
use crate::time::Time;
use crate::wire::Message;

/// A probe of the predecessor waiting for its answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct PredProbe {
    /// The predecessor asked.
    peer: NodeId,
    /// The sequence number its answer must carry.
    seq: u32,
    /// When it was sent, to measure the round trip.
    sent: Time,
    /// Unanswered by then, the predecessor is taken for dead (or, for a
    /// probe that only measures, the probe is forgotten).
    deadline: Time,
    /// Sent because the predecessor missed a round: silence is death.
    lethal: bool,
}

impl PredProbe {
    pub(super) fn deadline(&self) -> Time {
        self.deadline
    }
}

impl Node {
    /// On the stabilization tick: a predecessor that missed a round is
    /// probed.
    pub(super) fn check_predecessor(&mut self, now: Time) {
        if self.cold.pred_probe.is_some() {
            return;
        }
        let Some(p) = self.ring.pred else {
            return;
        };
        // Its rounds come at most 1.25 periods apart (the jitter), so a
        // longer silence means one was missed.
        let quiet = self.cold.config.stabilize_interval * 5 / 4;
        if now.saturating_since(self.cold.pred_heard) <= quiet
            || !self.links.is_up(&p)
            || self.is_dead(&p)
        {
            return;
        }
        self.send_pred_probe(p, true, now);
    }

    /// A new predecessor: probe it now if its round trip is unknown.
    pub(super) fn measure_predecessor(&mut self, p: NodeId, now: Time) {
        if self.cold.pred_probe.is_none() && self.links.is_up(&p) && !self.links.has_rtt(&p) {
            self.send_pred_probe(p, false, now);
        }
    }

    fn send_pred_probe(&mut self, p: NodeId, lethal: bool, now: Time) {
        let seq = self.next_seq();
        self.cold.pred_probe = Some(PredProbe {
            peer: p,
            seq,
            sent: now,
            deadline: now + self.rto(&p),
            lethal,
        });
        self.push_transmit(p, Message::Probe { seq });
    }

    /// A probe answer: true if it answered our probe of the predecessor.
    /// An answer proves the node alive, not that it is still our
    /// predecessor (it may have found a closer successor): the silence
    /// timeout still decides that.
    pub(super) fn on_pred_probe_reply(&mut self, from: NodeId, seq: u32, now: Time) -> bool {
        match self.cold.pred_probe {
            Some(w) if w.peer == from && w.seq == seq => {
                self.cold.pred_probe = None;
                self.links.sample_rtt(&from, now.saturating_since(w.sent));
                true
            }
            _ => false,
        }
    }

    /// An unanswered probe after a missed round: the predecessor is dead.
    pub(super) fn check_pred_probe(&mut self, now: Time) {
        if let Some(w) = self.cold.pred_probe {
            if now >= w.deadline {
                self.cold.pred_probe = None;
                if w.lethal {
                    self.stats.hop_timeouts += 1;
                    self.peer_failed(w.peer, now);
                }
            }
        }
    }

    /// Stops waiting for the predecessor's answer (it was found dead or
    /// left by other means).
    pub(super) fn forget_pred_probe(&mut self, peer: NodeId) {
        if self.cold.pred_probe.is_some_and(|w| w.peer == peer) {
            self.cold.pred_probe = None;
        }
    }
}
