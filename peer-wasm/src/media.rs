//! The media of calls: one `RTCPeerConnection` per call (DTLS-SRTP, the
//! same ICE settings as the ring's links), the camera and microphone, the
//! two `<video>` elements, the ringtone, and the quality figures.
//!
//! The phone core asks for media with [`PhoneMedia`] actions; the steps are
//! asynchronous in the browser, so each runs as a task that ends by
//! queueing an [`Input::Media`] (the SDP made, or why not) for the driver,
//! which hands it to the phone. As on the ring's links there is no trickle
//! ICE: a description goes out once gathering is complete (or after a cap).
//! The few browser calls that are simplest in JavaScript (capture with its
//! fallbacks, reading `getStats`, the oscillator ringtone and ringback) are in a small
//! JS module.

use crate::calls::Quality;
use crate::inbox::Inbox;
use crate::input::{error_text, Input};
use crate::rtc;
use chordphone_overlay::{Time, VecMap};
use chordphone_phone::{CallId, Media as PhoneMedia};
use core::time::Duration;
use js_sys::{Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{
    HtmlMediaElement, MediaStream, MediaStreamTrack, RtcPeerConnection, RtcPeerConnectionState,
    RtcRtpTransceiver, RtcRtpTransceiverDirection, RtcTrackEvent,
};

/// Calls with media at once; more are refused (the phone bounds its calls
/// too, this only guards the browser's resources).
const MAX_CALLS: usize = 8;
/// How long a failed media connection may wait before it ends the call
/// itself: for the call's own end (a BYE through the ring), or for an ICE
/// restart to bring the path back (the caller restarts every few seconds
/// while the path is down).
const FAIL_GRACE_MS: i32 = 45_000;
/// How often the quality figures are read.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

#[wasm_bindgen(inline_js = r#"
export async function capture() {
  const md = navigator.mediaDevices;
  if (!md) throw new Error("This page cannot use a microphone (it needs https or localhost).");
  try { return await md.getUserMedia({ audio: true, video: true }); } catch (_) {}
  try { return await md.getUserMedia({ audio: true }); } catch (e) {
    if (e && (e.name === "NotAllowedError" || e.name === "SecurityError"))
      throw new Error("Microphone access was refused: allow the microphone for this site to make calls.");
    throw new Error("No microphone found: connect one to make calls.");
  }
}
export function restartIce(pc) { pc.restartIce(); }
export function dtmf(pc, keys) {
  const s = pc.getSenders().find(s => s.track && s.track.kind === "audio");
  if (!s || !s.dtmf || !s.dtmf.canInsertDTMF) return false;
  s.dtmf.insertDTMF(s.dtmf.toneBuffer + keys, 100, 70);
  return true;
}
export async function sample(pc) {
  const st = pc.connectionState;
  const q = { rtt_ms: null, jitter_ms: null, loss: null, audio_in: 0, video_in: 0,
    broken: st === "disconnected" || st === "failed" };
  (await pc.getStats()).forEach(s => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded" && s.currentRoundTripTime !== undefined) {
      q.rtt_ms = s.currentRoundTripTime * 1000;
    } else if (s.type === "inbound-rtp" && s.kind === "audio") {
      const lost = Math.max(0, s.packetsLost || 0);
      q.audio_in = s.packetsReceived || 0;
      q.jitter_ms = (s.jitter || 0) * 1000;
      q.loss = q.audio_in + lost ? lost / (q.audio_in + lost) : 0;
    } else if (s.type === "inbound-rtp" && s.kind === "video") {
      q.video_in = s.framesDecoded || 0;
    }
  });
  return q;
}
let ctx = null, tone = null, mode = 0;
// mode 1: the ringtone (two tones, 1.3 s in every 3 s); mode 2: the
// ringback a caller hears (one low tone, 1 s in every 4 s, quieter).
export function ring(m) {
  if (m === mode) return;
  if (tone) { clearInterval(tone); tone = null; }
  mode = m;
  if (!m) return;
  try { ctx = ctx || new AudioContext(); } catch (_) { return; }
  const [freqs, vol, len, every] = m === 1 ? [[440, 480], 0.15, 1.3, 3000] : [[425], 0.06, 1.0, 4000];
  const burst = () => {
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const t = ctx.currentTime, g = ctx.createGain();
    g.connect(ctx.destination);
    g.gain.setValueAtTime(0.0001, t);
    g.gain.exponentialRampToValueAtTime(vol, t + 0.05);
    g.gain.setValueAtTime(vol, t + len - 0.1);
    g.gain.exponentialRampToValueAtTime(0.0001, t + len);
    for (const f of freqs) {
      const o = ctx.createOscillator();
      o.frequency.value = f; o.connect(g); o.start(t); o.stop(t + len + 0.05);
    }
  };
  burst();
  tone = setInterval(burst, every);
}
"#)]
extern "C" {
    /// A Promise of the local MediaStream: camera and microphone, or the
    /// microphone alone; rejects with a plain-words `Error`.
    fn capture() -> Promise;
    /// A Promise of `{rtt_ms, jitter_ms, loss, audio_in, video_in, broken}`.
    fn sample(pc: &RtcPeerConnection) -> Promise;
    /// `pc.restartIce()`: the next offer carries fresh ICE credentials.
    #[wasm_bindgen(js_name = restartIce)]
    fn restart_ice(pc: &RtcPeerConnection);
    /// Queues RFC 4733 key presses on the audio sender; false if the call
    /// has none that takes them.
    fn dtmf(pc: &RtcPeerConnection, keys: &str) -> bool;
    /// Plays the ringtone (1), the ringback (2) or nothing (0).
    fn ring(mode: u8);
}

/// The tones of a phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Silent = 0,
    /// A call rings here.
    Ringtone = 1,
    /// Our call rings at the other side.
    Ringback = 2,
}

/// One call's peer connection and what it received.
struct CallMedia {
    pc: RtcPeerConnection,
    /// The other side's tracks, as they arrive.
    remote: MediaStream,
    _on_track: Closure<dyn FnMut(RtcTrackEvent)>,
    _on_state: Closure<dyn FnMut()>,
}

impl core::fmt::Debug for CallMedia {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CallMedia")
    }
}

impl Drop for CallMedia {
    fn drop(&mut self) {
        self.pc.set_ontrack(None);
        self.pc.set_onconnectionstatechange(None);
        self.pc.close();
    }
}

fn video(id: &str) -> Option<HtmlMediaElement> {
    web_sys::window()?
        .document()?
        .get_element_by_id(id)?
        .dyn_into()
        .ok()
}

fn tracks(stream: &MediaStream) -> impl Iterator<Item = MediaStreamTrack> {
    stream
        .get_tracks()
        .into_iter()
        .filter_map(|t| t.dyn_into().ok())
}

fn number(obj: &JsValue, key: &str) -> Option<f64> {
    Reflect::get(obj, &JsValue::from_str(key)).ok()?.as_f64()
}

/// The shared local stream, captured on first need. (Beware: web-sys gives
/// `MediaStream` an inherent `clone()`, the JS method that copies the
/// tracks; `Clone::clone` copies the handle.)
type Local = Rc<RefCell<Option<MediaStream>>>;

/// The camera and microphone stream, asking for it the first time.
async fn local_stream(local: &Local) -> Result<MediaStream, String> {
    if let Some(s) = local.borrow().as_ref() {
        return Ok(Clone::clone(s));
    }
    let stream: MediaStream = JsFuture::from(capture())
        .await
        .map_err(|e| error_text(&e))?
        .unchecked_into();
    // Two calls may have asked at once: keep the first stream, stop the other.
    if let Some(s) = local.borrow().as_ref() {
        tracks(&stream).for_each(|t| t.stop());
        return Ok(Clone::clone(s));
    }
    *local.borrow_mut() = Some(Clone::clone(&stream));
    if let Some(v) = video("local-video") {
        v.set_src_object(Some(&stream));
    }
    Ok(stream)
}

/// Adds the local tracks to a fresh peer connection; without a camera the
/// call still offers to receive video.
fn attach(pc: &RtcPeerConnection, stream: &MediaStream) {
    if pc.get_senders().length() > 0 {
        return;
    }
    let mut video = false;
    for t in tracks(stream) {
        video |= t.kind() == "video";
        pc.add_track_0(&t, stream);
    }
    if !video {
        pc.add_transceiver_with_str("video")
            .set_direction(RtcRtpTransceiverDirection::Recvonly);
    }
}

/// Sends on every transceiver, or only sends (holding the other side).
fn set_direction(pc: &RtcPeerConnection, hold: bool) {
    let dir = if hold {
        RtcRtpTransceiverDirection::Sendonly
    } else {
        RtcRtpTransceiverDirection::Sendrecv
    };
    for t in pc.get_transceivers() {
        if let Ok(t) = t.dyn_into::<RtcRtpTransceiver>() {
            t.set_direction(dir);
        }
    }
}

/// The media side of every call.
#[derive(Debug)]
pub struct Media {
    inbox: Inbox<Input>,
    calls: VecMap<u32, CallMedia>,
    local: Local,
    muted: bool,
    camera_off: bool,
    /// The call whose remote media the page shows.
    shown: Option<u32>,
    next_sample: Time,
}

impl Media {
    pub fn new(inbox: Inbox<Input>) -> Media {
        Media {
            inbox,
            calls: VecMap::new(),
            local: Rc::new(RefCell::new(None)),
            muted: false,
            camera_off: false,
            shown: None,
            next_sample: Time(0),
        }
    }

    /// The call's peer connection, made on first use.
    fn pc(&mut self, call: u32) -> Result<RtcPeerConnection, String> {
        if let Some(m) = self.calls.get(&call) {
            return Ok(m.pc.clone());
        }
        if self.calls.len() >= MAX_CALLS {
            return Err("Too many calls at once.".to_owned());
        }
        let pc = rtc::peer_connection().map_err(|e| error_text(&e))?;
        let remote = MediaStream::new().map_err(|e| error_text(&e))?;
        let r = Clone::clone(&remote);
        let on_track = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |ev: RtcTrackEvent| {
            r.add_track(&ev.track());
            // Re-set so that the element picks up a track that came later.
            if let Some(v) = video("remote-video").filter(|v| v.src_object().as_ref() == Some(&r)) {
                v.set_src_object(None);
                v.set_src_object(Some(&r));
            }
        });
        let (i, p) = (self.inbox.clone(), pc.clone());
        let on_state = Closure::<dyn FnMut()>::new(move || {
            if p.connection_state() != RtcPeerConnectionState::Failed {
                return;
            }
            // The other side closing its connection on hang-up fails ours
            // at once, before its BYE comes through the ring: the call
            // only ends for this if it is still failed a while later (a
            // closed connection, after the BYE, is not).
            let (i, p) = (i.clone(), p.clone());
            let later = Closure::once_into_js(move || {
                if p.connection_state() == RtcPeerConnectionState::Failed {
                    i.push_control(Input::Media(
                        call,
                        Err("The connection to the other side was lost.".to_owned()),
                    ));
                }
            });
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    later.unchecked_ref(),
                    FAIL_GRACE_MS,
                );
            }
        });
        pc.set_ontrack(Some(on_track.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        self.calls.insert(
            call,
            CallMedia {
                pc: pc.clone(),
                remote,
                _on_track: on_track,
                _on_state: on_state,
            },
        );
        if self.shown == Some(call) {
            self.present();
        }
        Ok(pc)
    }

    /// Carries out a media action of the phone.
    pub fn apply(&mut self, action: PhoneMedia) {
        let (call, step) = match action {
            PhoneMedia::Close { call } => {
                self.close(call.0);
                return;
            }
            PhoneMedia::Offer {
                call,
                hold,
                restart,
            } => (call, Step::Offer { hold, restart }),
            PhoneMedia::Answer { call, offer } => (call, Step::Answer(offer)),
            PhoneMedia::Apply { call, answer } => (call, Step::Apply(answer)),
        };
        let c = call.0;
        let inbox = self.inbox.clone();
        let pc = match self.pc(c) {
            Ok(pc) => pc,
            Err(why) => {
                inbox.push_control(Input::Media(c, Err(why)));
                return;
            }
        };
        let (local, muted, camera_off) = (Rc::clone(&self.local), self.muted, self.camera_off);
        spawn_local(async move {
            let out = step.run(&pc, &local).await;
            if let Some(s) = local.borrow().as_ref() {
                enable(s, muted, camera_off);
            }
            if !matches!(out, Ok(None)) {
                inbox.push_control(Input::Media(c, out));
            }
        });
    }

    /// Ends a call's media; the camera and microphone stop with the last call.
    fn close(&mut self, call: u32) {
        self.calls.remove(&call);
        if self.shown == Some(call) {
            self.shown = None;
            self.present();
        }
        if self.calls.is_empty() {
            if let Some(s) = self.local.borrow_mut().take() {
                tracks(&s).for_each(|t| t.stop());
            }
            if let Some(v) = video("local-video") {
                v.set_src_object(None);
            }
        }
    }

    /// Shows this call's remote media (or none) in the page's video; a call
    /// whose peer connection comes later is shown once it exists.
    pub fn show(&mut self, call: Option<CallId>) {
        let call = call.map(|c| c.0);
        if call == self.shown {
            return;
        }
        self.shown = call;
        self.present();
    }

    /// Puts the shown call's stream (or nothing) in the page's video.
    fn present(&self) {
        if let Some(v) = video("remote-video") {
            v.set_src_object(
                self.shown
                    .and_then(|c| self.calls.get(&c))
                    .map(|m| &m.remote),
            );
        }
    }

    /// Sends dial-pad keys in `call` (RFC 4733 events on its audio);
    /// false if the call has no audio sender that takes them.
    pub fn keys(&self, call: CallId, keys: &str) -> bool {
        self.calls.get(&call.0).is_some_and(|m| dtmf(&m.pc, keys))
    }

    /// Mutes or unmutes the microphone in every call.
    pub fn mute(&mut self, on: bool) {
        self.muted = on;
        self.refresh();
    }

    /// Turns the camera on or off in every call.
    pub fn camera(&mut self, on: bool) {
        self.camera_off = !on;
        self.refresh();
    }

    fn refresh(&self) {
        if let Some(s) = self.local.borrow().as_ref() {
            enable(s, self.muted, self.camera_off);
        }
    }

    /// What the person hears while no call is in conversation.
    pub fn ring(&self, tone: Tone) {
        ring(tone as u8);
    }

    /// Reads every call's quality figures once a second.
    pub fn sample_due(&mut self, now: Time) {
        if now < self.next_sample || self.calls.is_empty() {
            return;
        }
        self.next_sample = now + SAMPLE_EVERY;
        for (call, m) in self.calls.iter() {
            let (call, inbox, p) = (*call, self.inbox.clone(), sample(&m.pc));
            let pc = m.pc.clone();
            spawn_local(async move {
                if let Ok(q) = JsFuture::from(p).await {
                    let relayed = rtc::path_relayed(&pc).await;
                    let _ = inbox.push(Input::Quality(
                        call,
                        Quality {
                            rtt_ms: number(&q, "rtt_ms"),
                            jitter_ms: number(&q, "jitter_ms"),
                            loss: number(&q, "loss"),
                            audio_in: number(&q, "audio_in").unwrap_or(0.0) as u64,
                            video_in: number(&q, "video_in").unwrap_or(0.0) as u64,
                            relayed,
                            broken: Reflect::get(&q, &JsValue::from_str("broken"))
                                .ok()
                                .and_then(|b| b.as_bool())
                                .unwrap_or(false),
                        },
                    ));
                }
            });
        }
    }

    /// When the next quality reading is due, while there are calls.
    pub fn next_deadline(&self) -> Option<Time> {
        (!self.calls.is_empty()).then_some(self.next_sample)
    }
}

/// Mute is the microphone track disabled; camera off is the video track
/// disabled (the other side then receives black frames, not a frozen one).
fn enable(stream: &MediaStream, muted: bool, camera_off: bool) {
    for t in tracks(stream) {
        t.set_enabled(if t.kind() == "audio" {
            !muted
        } else {
            !camera_off
        });
    }
}

/// One asynchronous step of a call's negotiation.
enum Step {
    Offer { hold: bool, restart: bool },
    Answer(String),
    Apply(String),
}

impl Step {
    /// Runs it: the SDP to hand to the phone, nothing, or why it failed.
    async fn run(self, pc: &RtcPeerConnection, local: &Local) -> Result<Option<String>, String> {
        let text = |e: JsValue| error_text(&e);
        match self {
            Step::Offer { hold, restart } => {
                attach(pc, &local_stream(local).await?);
                set_direction(pc, hold);
                if restart {
                    // The current ICE servers: the credentials the call
                    // started with may have expired, or the relay changed.
                    let _ = pc.set_configuration_with_configuration(&crate::ice::configuration());
                    restart_ice(pc);
                }
                rtc::make_offer(pc.clone()).await.map(Some).map_err(text)
            }
            Step::Answer(offer) => {
                attach(pc, &local_stream(local).await?);
                rtc::make_answer(pc.clone(), offer)
                    .await
                    .map(Some)
                    .map_err(text)
            }
            Step::Apply(answer) => rtc::accept_answer(pc.clone(), answer)
                .await
                .map(|()| None)
                .map_err(text),
        }
    }
}
