//! The phone in a tab, driven from Rust: registering a name, calls and
//! their states, instant messages, and what a call carries (the tone and
//! video frames of the other side, the media counters).
//!
//! Every wait polls with a generous bound and fails with what it saw last:
//! a call set up through the ring takes a lookup, a forked INVITE and an
//! ICE negotiation, each on its own schedule.

use crate::api::Tab;
use crate::media::{Probe, Source};
use crate::wait::until;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How long a call may take to reach a state (lookups, forking, ICE, a
/// re-INVITE), or a tone or frames to show.
pub const CALL_BOUND: Duration = Duration::from_secs(60);
/// How long one media measurement listens.
pub const LISTEN: Duration = Duration::from_millis(1000);
/// How long a media counter must stay still to count as stopped: the page
/// reads the counters once a second, so twice that and a margin.
pub const STILL: Duration = Duration::from_millis(3500);

/// Console lines shown with a failed wait.
const CONSOLE_LINES: usize = 25;

/// The element the in-call screen shows the other side in.
pub const REMOTE_VIDEO: &str = "#remote-video";

/// A call's media figures as `calls()` reports them.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct MediaFigures {
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub loss: Option<f64>,
    /// Audio packets received.
    #[serde(default)]
    pub audio_in: u64,
    /// Video frames decoded.
    #[serde(default)]
    pub video_in: u64,
    /// The selected candidate pair goes through a TURN relay.
    #[serde(default)]
    pub relayed: bool,
    /// ICE restarts this side asked for after the path broke.
    #[serde(default)]
    pub restarts: u32,
}

/// One entry of `calls()`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Call {
    /// The tab's id for the call (`"c3"`), passed back to act on it.
    pub id: Value,
    /// `out` or `in`.
    pub direction: String,
    /// The other side's address of record.
    pub peer: String,
    /// `calling`, `ringing`, `incoming`, `active`, `held` or `ended`.
    pub state: String,
    /// Why it ended, in plain words.
    pub reason: Option<String>,
    /// Whether the other side has put the call on hold.
    #[serde(default)]
    pub held_by_peer: bool,
    #[serde(default)]
    pub media: MediaFigures,
}

impl Call {
    /// Whether the other side is `name` (a bare name or an address).
    pub fn with(&self, name: &str) -> bool {
        self.peer == name || self.peer.starts_with(&format!("sip:{name}@"))
    }

    /// Whether the call ended with a reason that contains `words`
    /// (ignoring case).
    pub fn ended_for(&self, words: &str) -> bool {
        self.state == "ended"
            && self
                .reason
                .as_deref()
                .is_some_and(|r| r.to_lowercase().contains(&words.to_lowercase()))
    }
}

/// One entry of `messages()`: only the fields the tests read.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Message {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub text: String,
    /// `out` (sent here) or `in` (received).
    #[serde(default)]
    pub direction: String,
    /// `sending`, `delivered`, `waiting` (in the overlay for a person with
    /// no tab open), `undeliverable` or `received`.
    #[serde(default)]
    pub status: String,
}

impl Tab {
    /// `register(name)`: resolves once the name is ours, or fails with the
    /// app's reason.
    pub async fn register(&self, name: &str) -> crate::Result<()> {
        self.call("register", vec![json!(name)]).await.map(drop)
    }

    /// `call(target)` (the name `call` is taken by the API helper):
    /// the new call's id.
    pub async fn dial(&self, target: &str) -> crate::Result<Value> {
        self.call("call", vec![json!(target)]).await
    }

    /// One of `answer`, `reject`, `hangup`, `hold`, `resume` on call `id`
    /// (`None`: the call the app picks).
    pub async fn act(&self, method: &str, id: Option<&Value>) -> crate::Result<()> {
        let args = id.map(|id| vec![id.clone()]).unwrap_or_default();
        self.call(method, args).await.map(drop)
    }

    /// `calls()`.
    pub async fn calls(&self) -> crate::Result<Vec<Call>> {
        let v = self.call("calls", vec![]).await?;
        serde_json::from_value(v.clone())
            .map_err(|e| format!("tab {}: calls(): unexpected answer {v}: {e}", self.name()))
    }

    /// The call `id` as `calls()` shows it now.
    pub async fn call_by_id(&self, id: &Value) -> crate::Result<Call> {
        let calls = self.calls().await?;
        calls
            .iter()
            .find(|c| &c.id == id)
            .cloned()
            .ok_or_else(|| format!("tab {}: no call {id} in {calls:?}", self.name()))
    }

    /// Waits until some call passes `check`; returns it. A failure shows
    /// the calls last seen and the end of the browser's console.
    pub async fn wait_call(
        &self,
        what: &str,
        check: impl Fn(&Call) -> bool,
    ) -> crate::Result<Call> {
        let found = until(
            &format!("{}: {what}", self.name()),
            CALL_BOUND,
            async || {
                let calls = self.calls().await?;
                calls
                    .iter()
                    .find(|c| check(c))
                    .cloned()
                    .ok_or_else(|| format!("calls: {calls:?}"))
            },
        )
        .await;
        match found {
            Ok(call) => Ok(call),
            Err(e) => Err(self.with_console(e).await),
        }
    }

    /// `e` followed by the last lines of this tab's browser console.
    pub async fn with_console(&self, e: String) -> String {
        let console = self.browser().console_tail(CONSOLE_LINES).await;
        format!(
            "{e}\n--- console of browser {}, last {} lines:\n{}",
            self.browser().label(),
            console.len(),
            console.join("\n")
        )
    }

    /// Waits until call `id` is in `state`.
    pub async fn wait_state(&self, id: &Value, state: &str) -> crate::Result<Call> {
        self.wait_call(&format!("call {id} to be {state}"), |c| {
            &c.id == id && c.state == state
        })
        .await
    }

    /// Waits until call `id` ended for a reason containing `words`.
    pub async fn wait_ended(&self, id: &Value, words: &str) -> crate::Result<Call> {
        self.wait_call(&format!("call {id} to end ({words})"), |c| {
            &c.id == id && c.ended_for(words)
        })
        .await
    }

    /// Waits for a call from `name` that rings here; returns it.
    pub async fn wait_incoming(&self, name: &str) -> crate::Result<Call> {
        self.wait_call(&format!("a call from {name} to ring"), |c| {
            c.direction == "in" && c.state == "incoming" && c.with(name)
        })
        .await
    }

    /// Waits until no call of this tab is live (every one ended).
    pub async fn wait_idle(&self) -> crate::Result<()> {
        until(
            &format!("{}: no live call", self.name()),
            CALL_BOUND,
            async || {
                let calls = self.calls().await?;
                if calls.iter().all(|c| c.state == "ended") {
                    Ok(())
                } else {
                    Err(format!("calls: {calls:?}"))
                }
            },
        )
        .await
    }

    /// Measures the other side of the current call (the in-call screen's
    /// video element) for [`LISTEN`].
    pub async fn probe_remote(&self) -> crate::Result<Probe> {
        self.probe_media(Source::Element(REMOTE_VIDEO), LISTEN)
            .await
    }

    /// Waits until the current call carries the tone `hz` and video frames.
    pub async fn wait_hears(&self, hz: u32) -> crate::Result<Probe> {
        until(
            &format!("{} to hear {hz} Hz and see frames", self.name()),
            CALL_BOUND,
            async || {
                let probe = self.probe_remote().await?;
                let heard = probe.tone.as_ref().is_some_and(|t| t.is(hz));
                let seen = probe
                    .video
                    .as_ref()
                    .is_some_and(|v| v.frames > 0 && v.width > 0);
                if heard && seen {
                    Ok(probe)
                } else {
                    Err(format!("{probe:?}"))
                }
            },
        )
        .await
    }

    /// Waits until call `id`'s audio and video counters both grow (media
    /// arrives now, not just earlier).
    pub async fn wait_media_flows(&self, id: &Value) -> crate::Result<()> {
        let first = self.call_by_id(id).await?.media;
        until(
            &format!("{}: media to arrive on call {id}", self.name()),
            CALL_BOUND,
            async || {
                let now = self.call_by_id(id).await?.media;
                if now.audio_in > first.audio_in && now.video_in > first.video_in {
                    Ok(())
                } else {
                    Err(format!("first {first:?}, now {now:?}"))
                }
            },
        )
        .await
    }

    /// Waits until call `id`'s audio counter stays still for [`STILL`]
    /// (nothing arrives any more).
    pub async fn wait_audio_stops(&self, id: &Value) -> crate::Result<()> {
        let mut last = self.call_by_id(id).await?.media.audio_in;
        let mut since = std::time::Instant::now();
        until(
            &format!("{}: audio to stop on call {id}", self.name()),
            CALL_BOUND,
            async || {
                let now = self.call_by_id(id).await?.media.audio_in;
                if now != last {
                    (last, since) = (now, std::time::Instant::now());
                }
                if since.elapsed() >= STILL {
                    Ok(())
                } else {
                    Err(format!("audio_in {now}, still for {:?}", since.elapsed()))
                }
            },
        )
        .await
    }

    /// `send(target, text)`: an instant message; resolves with `true` once
    /// a device of `target` took it, or `"waiting"` once it waits in the
    /// overlay for a person with no device online.
    pub async fn message(&self, target: &str, text: &str) -> crate::Result<Value> {
        self.call("send", vec![json!(target), json!(text)]).await
    }

    /// `messages()`.
    pub async fn messages(&self) -> crate::Result<Vec<Message>> {
        let v = self.call("messages", vec![]).await?;
        serde_json::from_value(v.clone()).map_err(|e| {
            format!(
                "tab {}: messages(): unexpected answer {v}: {e}",
                self.name()
            )
        })
    }
}

/// `caller` calls `callee` (registered as `name`), who answers: returns
/// both sides' call ids once both are active.
pub async fn connect(
    caller: &Tab,
    callee: &Tab,
    name: &str,
    caller_name: &str,
) -> crate::Result<(Value, Value)> {
    let out = caller.dial(name).await?;
    let incoming = callee.wait_incoming(caller_name).await?;
    caller.wait_state(&out, "ringing").await?;
    callee.act("answer", Some(&incoming.id)).await?;
    caller.wait_state(&out, "active").await?;
    callee.wait_state(&incoming.id, "active").await?;
    Ok((out, incoming.id))
}

/// Each side of an active call hears the other's tone, sees frames, and
/// counts media arriving: `(tab, its call id, the tone it should hear)`.
pub async fn two_way(a: (&Tab, &Value, u32), b: (&Tab, &Value, u32)) -> crate::Result<()> {
    for (tab, id, hears) in [a, b] {
        tab.wait_hears(hears).await?;
        tab.wait_media_flows(id).await?;
    }
    Ok(())
}
