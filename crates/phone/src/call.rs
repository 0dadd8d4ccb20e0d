//! One call as the phone keeps it: its state, its legs (one user agent
//! call per device rung; an incoming call has one) and the media step it
//! waits for.

use chordphone_overlay::VecSet;

use chordphone_overlay::{NodeId, Time};

use crate::action::{CallId, CallState, CallView, Direction};
use crate::binding::Device;

/// The media step a call waits for from the shell (`local_description`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Nothing.
    Idle,
    /// Our first offer (outgoing call).
    Offer,
    /// Our answer to the caller's offer (after `answer()`).
    Answer,
    /// Our offer for a hold (`true`) or resume.
    Reoffer(bool),
    /// Our re-offer is out; its answer comes as `MediaChanged`.
    ReofferSent(bool),
    /// Our answer to the other side's re-offer (hold if `true`).
    ReofferAnswer(bool),
}

/// Why one leg of an outgoing call failed, ranked: the call ends with the
/// reason of the best-ranked leg (busy beats offline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LegEnd {
    pub(crate) rank: u8,
    pub(crate) text: String,
}

/// One user agent call: to one device (outgoing) or from one (incoming).
#[derive(Clone, Debug)]
pub(crate) struct Leg {
    pub(crate) ua: chordphone_sip::CallId,
    pub(crate) node: NodeId,
    /// The SIP Call-ID, once known.
    pub(crate) sip_call_id: Option<String>,
    /// Why it failed, if it did.
    pub(crate) failed: Option<LegEnd>,
}

/// A call.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) direction: Direction,
    pub(crate) peer: String,
    pub(crate) state: CallState,
    pub(crate) reason: Option<String>,
    pub(crate) held_by_peer: bool,
    pub(crate) started: Time,
    pub(crate) answered: Option<Time>,
    pub(crate) ended: Option<Time>,
    pub(crate) legs: Vec<Leg>,
    /// The leg that carries the call (incoming: the only one).
    pub(crate) winner: Option<usize>,
    /// Outgoing: our first offer. Incoming: the caller's offer.
    pub(crate) offer: Option<String>,
    /// Outgoing: the devices found, waiting for our offer.
    pub(crate) devices: Option<Vec<Device>>,
    /// A call to a number: the gateways not tried yet.
    pub(crate) spare_gateways: Vec<Device>,
    pub(crate) wait: Wait,
    /// Incoming: the caller said the call was settled on another device
    /// (the CANCEL's cause: 200 answered, 603 declined).
    pub(crate) elsewhere: Option<u16>,
    /// Nodes we asked the shell to keep linked.
    pub(crate) held: VecSet<NodeId>,
    /// ICE restarts asked for.
    pub(crate) restarts: u32,
}

impl Call {
    pub(crate) fn new(id: CallId, direction: Direction, peer: String, now: Time) -> Call {
        Call {
            id,
            direction,
            peer,
            state: match direction {
                Direction::Out => CallState::Calling,
                Direction::In => CallState::Incoming,
            },
            reason: None,
            held_by_peer: false,
            started: now,
            answered: None,
            ended: None,
            legs: Vec::new(),
            winner: None,
            offer: None,
            devices: None,
            spare_gateways: Vec::new(),
            wait: Wait::Idle,
            elsewhere: None,
            held: VecSet::new(),
            restarts: 0,
        }
    }

    pub(crate) fn view(&self) -> CallView {
        CallView {
            id: self.id,
            direction: self.direction,
            peer: self.peer.clone(),
            state: self.state,
            reason: self.reason.clone(),
            held_by_peer: self.held_by_peer,
            started: self.started,
            answered: self.answered,
            ended: self.ended,
            restarts: self.restarts,
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        self.state != CallState::Ended
    }

    /// Connected (active or held by us).
    pub(crate) fn is_up(&self) -> bool {
        matches!(self.state, CallState::Active | CallState::Held)
    }

    /// Not yet answered, ours.
    pub(crate) fn is_dialing(&self) -> bool {
        self.direction == Direction::Out
            && matches!(self.state, CallState::Calling | CallState::Ringing)
    }

    /// The nodes this call keeps linked.
    pub(crate) fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.held.iter().copied()
    }

    /// The user agent call carrying the call.
    pub(crate) fn winner_leg(&self) -> Option<&Leg> {
        self.legs.get(self.winner?)
    }

    pub(crate) fn leg_index(&self, ua: chordphone_sip::CallId) -> Option<usize> {
        self.legs.iter().position(|l| l.ua == ua)
    }
}
