//! What the phone screens and `window.chordphone.calls()`/`messages()`/
//! `contacts()` show: a snapshot of the calls, the instant messages and
//! the contacts, rebuilt by the driver from the phone core's events, with
//! the media figures added.

use chordphone_phone::{CallId, CallState, CallView, ContactView, Direction, Presence};
use std::collections::VecDeque;

/// Messages kept for the chat panel and `messages()`; the oldest give way.
pub const MAX_MESSAGES: usize = 200;
/// Calls kept (the core forgets ended calls after a while; so does this).
pub const MAX_CALLS: usize = 16;

/// A call's media figures, read from the browser once a second.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quality {
    /// Round-trip time of the selected candidate pair.
    pub rtt_ms: Option<f64>,
    /// Jitter of the incoming audio.
    pub jitter_ms: Option<f64>,
    /// Share of incoming audio packets lost, 0 to 1.
    pub loss: Option<f64>,
    /// Audio packets received.
    pub audio_in: u64,
    /// Video frames decoded.
    pub video_in: u64,
    /// The selected path goes through a TURN relay; `None` before a path
    /// is selected.
    pub relayed: Option<bool>,
    /// The connection's path is down (`disconnected` or `failed`).
    pub broken: bool,
}

/// One call as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub view: CallView,
    pub quality: Quality,
}

impl Call {
    /// The API's name of the state.
    pub fn state(&self) -> &'static str {
        self.view.state.as_str()
    }

    /// `out` or `in`.
    pub fn direction(&self) -> &'static str {
        match self.view.direction {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }

    pub fn live(&self) -> bool {
        self.view.state != CallState::Ended
    }
}

/// Where a message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Sent, no answer yet.
    Sending,
    /// A device of the other side took it.
    Delivered,
    /// No device of the other side is online: it waits in the overlay,
    /// sealed to them, until one comes back.
    Waiting,
    /// No device could take it (the reason is kept with the message).
    Undeliverable,
    /// It came to us.
    Received,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Delivered => "delivered",
            Status::Waiting => "waiting",
            Status::Undeliverable => "undeliverable",
            Status::Received => "received",
        }
    }
}

/// One instant message, sent or received.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The phone's id for one we sent.
    pub id: Option<u32>,
    pub from: String,
    pub to: String,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: f64,
    pub outgoing: bool,
    pub status: Status,
    /// Why it could not be delivered.
    pub reason: Option<String>,
}

/// Every call and message.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calls {
    /// The person's public key, hex.
    pub user: String,
    /// The address of record, once registered.
    pub aor: Option<String>,
    /// A registration under way (the name asked for).
    pub registering: Option<String>,
    /// Why the last registration failed, in plain words.
    pub register_error: Option<String>,
    /// Oldest first.
    pub calls: Vec<Call>,
    /// Oldest first.
    pub messages: VecDeque<Message>,
    pub muted: bool,
    pub camera_off: bool,
    /// The person the chat panel shows (an AOR).
    pub chat_with: Option<String>,
    /// Why the last request from the page failed, until the next one.
    pub notice: Option<String>,
    /// The contact list, with what each contact's devices say.
    pub contacts: Vec<ContactView>,
    /// This device's presence (offline until registered).
    pub presence: Presence,
}

impl Calls {
    /// A call changed (or is new).
    pub fn update(&mut self, view: CallView) {
        if let Some(c) = self.calls.iter_mut().find(|c| c.view.id == view.id) {
            c.view = view;
            return;
        }
        if self.calls.len() >= MAX_CALLS {
            // Make room: the oldest ended call, else the oldest.
            let i = self.calls.iter().position(|c| !c.live()).unwrap_or(0);
            self.calls.remove(i);
        }
        self.calls.push(Call {
            view,
            quality: Quality::default(),
        });
    }

    /// Keeps only the calls the core still knows (it forgets ended ones).
    pub fn retain(&mut self, known: &[CallId]) {
        self.calls.retain(|c| known.contains(&c.view.id));
    }

    pub fn set_quality(&mut self, call: u32, q: Quality) {
        if let Some(c) = self.calls.iter_mut().find(|c| c.view.id.0 == call) {
            c.quality = q;
        }
    }

    /// The call an API call without an id means: the most recent live call
    /// in one of `states`, else the most recent live call.
    pub fn pick(&self, states: &[CallState]) -> Option<CallId> {
        let live = || self.calls.iter().rev().filter(|c| c.live());
        live()
            .find(|c| states.contains(&c.view.state))
            .or_else(|| live().next())
            .map(|c| c.view.id)
    }

    /// The call in conversation (its media is on screen): the most recent
    /// active one, else the most recent held one.
    pub fn current(&self) -> Option<&Call> {
        let in_state = |s| self.calls.iter().rev().find(|c| c.view.state == s);
        in_state(CallState::Active).or_else(|| in_state(CallState::Held))
    }

    /// Calls ringing here, most recent last.
    pub fn incoming(&self) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .filter(|c| c.view.state == CallState::Incoming)
    }

    /// The most recent outgoing call still being set up.
    pub fn dialing(&self) -> Option<&Call> {
        self.calls
            .iter()
            .rev()
            .find(|c| matches!(c.view.state, CallState::Calling | CallState::Ringing))
    }

    /// Registered, with no call in conversation, being dialled or ringing
    /// here: the dialer and the contacts show.
    pub fn dialer_shown(&self) -> bool {
        self.aor.is_some()
            && self.current().is_none()
            && self.dialing().is_none()
            && self.incoming().next().is_none()
    }

    /// The last call that ended, to say how it ended.
    pub fn last_ended(&self) -> Option<&Call> {
        self.calls.iter().rev().find(|c| !c.live())
    }

    /// A call on hold other than the one in conversation (to switch to).
    pub fn other_held(&self) -> Option<&Call> {
        let current = self.current().map(|c| c.view.id);
        self.calls
            .iter()
            .rev()
            .find(|c| c.view.state == CallState::Held && Some(c.view.id) != current)
    }

    /// A message of ours waits in the overlay for the other side.
    pub fn message_waiting(&mut self, id: u32) {
        if let Some(m) = self.messages.iter_mut().find(|m| m.id == Some(id)) {
            m.status = Status::Waiting;
        }
    }

    /// A message arrived or was sent.
    pub fn add_message(&mut self, m: Message) {
        if self.messages.len() == MAX_MESSAGES {
            self.messages.pop_front();
        }
        self.messages.push_back(m);
    }

    /// The outcome of a message we sent.
    pub fn message_done(&mut self, id: u32, outcome: Result<(), String>) {
        if let Some(m) = self.messages.iter_mut().find(|m| m.id == Some(id)) {
            match outcome {
                // A waiting message stays waiting: nobody took it yet.
                Ok(()) if m.status == Status::Waiting => {}
                Ok(()) => m.status = Status::Delivered,
                Err(why) => {
                    m.status = Status::Undeliverable;
                    m.reason = Some(why);
                }
            }
        }
    }
}

/// The user part of an AOR (`sip:bob@chordphone` -> `bob`), for people.
pub fn user_part(aor: &str) -> &str {
    let s = aor.strip_prefix("sip:").unwrap_or(aor);
    s.split('@').next().unwrap_or(s)
}

/// The AOR a typed target means (`Bob` -> `sip:bob@chordphone`), to group
/// the chat by person. Names are ASCII (the core refuses others).
pub fn aor_of(target: &str) -> String {
    let t = target.trim().to_ascii_lowercase();
    if t.starts_with("sip:") {
        t
    } else {
        let mut aor = String::from("sip:");
        aor.push_str(&t);
        aor.push_str("@chordphone");
        aor
    }
}

/// A message as a sentence on screen: its first letter capitalized.
pub fn sentence(text: &str) -> String {
    let mut s = text.to_owned();
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// A call's running time as `m:ss` (or `h:mm:ss`), from whole seconds.
pub fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let two = |n: u64| {
        [
            char::from(b'0' + (n / 10) as u8),
            char::from(b'0' + (n % 10) as u8),
        ]
    };
    let mut out = String::new();
    if h > 0 {
        out.push_str(&h.to_string());
        out.push(':');
        out.extend(two(m));
    } else {
        out.push_str(&m.to_string());
    }
    out.push(':');
    out.extend(two(s));
    out
}

/// A call id from the API: `"c7"`, `"7"` or `7`.
pub fn parse_call_id(s: &str) -> Option<CallId> {
    let s = s.trim();
    s.strip_prefix('c').unwrap_or(s).parse().ok().map(CallId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::Time;

    fn view(id: u32, state: CallState) -> CallView {
        CallView {
            id: CallId(id),
            direction: Direction::In,
            peer: "sip:bob@chordphone".into(),
            state,
            reason: None,
            held_by_peer: false,
            started: Time(u64::from(id)),
            answered: None,
            ended: None,
            restarts: 0,
        }
    }

    #[test]
    fn an_omitted_id_means_the_most_recent_live_call_of_the_right_kind() {
        let mut c = Calls::default();
        c.update(view(1, CallState::Active));
        c.update(view(2, CallState::Incoming));
        c.update(view(3, CallState::Ended));
        assert_eq!(c.pick(&[CallState::Incoming]), Some(CallId(2)));
        assert_eq!(c.pick(&[CallState::Active]), Some(CallId(1)));
        assert_eq!(c.pick(&[CallState::Held]), Some(CallId(2)));
        assert_eq!(c.current().map(|c| c.view.id), Some(CallId(1)));
        assert_eq!(c.other_held(), None);
        c.update(view(2, CallState::Active));
        assert_eq!(c.current().map(|c| c.view.id), Some(CallId(2)));
        c.update(view(1, CallState::Held));
        assert_eq!(c.other_held().map(|c| c.view.id), Some(CallId(1)));
        c.retain(&[CallId(2)]);
        assert_eq!(c.calls.len(), 1);
    }

    #[test]
    fn tables_are_bounded() {
        let mut c = Calls::default();
        for i in 0..(MAX_CALLS as u32 + 4) {
            c.update(view(i, CallState::Ended));
        }
        assert_eq!(c.calls.len(), MAX_CALLS);
        for i in 0..MAX_MESSAGES + 3 {
            c.add_message(Message {
                id: Some(i as u32),
                from: "a".into(),
                to: "b".into(),
                text: "hi".into(),
                at_ms: 0.0,
                outgoing: true,
                status: Status::Sending,
                reason: None,
            });
        }
        assert_eq!(c.messages.len(), MAX_MESSAGES);
        c.message_done(1, Err("bob is not registered".into()));
        c.message_done(5, Err("bob is not registered".into()));
        c.message_done(10, Ok(()));
        c.message_waiting(6);
        c.message_done(6, Ok(()));
        assert_eq!(
            c.messages
                .iter()
                .find(|m| m.id == Some(6))
                .map(|m| m.status),
            Some(Status::Waiting)
        );
        let five = c.messages.iter().find(|m| m.id == Some(5));
        assert_eq!(five.map(|m| m.status), Some(Status::Undeliverable));
        assert_eq!(
            five.and_then(|m| m.reason.as_deref()),
            Some("bob is not registered")
        );
        assert_eq!(
            c.messages
                .iter()
                .find(|m| m.id == Some(10))
                .map(|m| m.status),
            Some(Status::Delivered)
        );
        // Message 1 gave way to newer ones: nothing to change, no panic.
        assert!(c.messages.iter().all(|m| m.id != Some(1)));
    }

    #[test]
    fn names_timers_and_ids_read_as_people_expect() {
        assert_eq!(user_part("sip:bob@chordphone"), "bob");
        assert_eq!(user_part("bob"), "bob");
        assert_eq!(aor_of(" Bob "), "sip:bob@chordphone");
        assert_eq!(aor_of("sip:bob@chordphone"), "sip:bob@chordphone");
        assert_eq!(sentence("that name is taken"), "That name is taken");
        assert_eq!(sentence(""), "");
        assert_eq!(sentence("é"), "é");
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(75), "1:15");
        assert_eq!(clock(3725), "1:02:05");
        assert_eq!(parse_call_id("c7"), Some(CallId(7)));
        assert_eq!(parse_call_id("12"), Some(CallId(12)));
        assert_eq!(parse_call_id("x"), None);
    }
}
