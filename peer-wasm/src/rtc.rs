//! A link over a WebRTC data channel (to another browser).
//!
//! One `RTCPeerConnection` per neighbour, with one data channel negotiated
//! out of band (`negotiated: true, id: 0`, label `chord`, ordered) so that
//! neither side waits for a `datachannel` event. There is no trickle ICE:
//! the offer and the answer are sent once gathering is complete (or after
//! a cap), so one attach round trip through the ring sets the link up.

use crate::inbox::Inbox;
use crate::input::{error_text, message_input, Input, LinkId};
use crate::{ice, log};
use js_sys::{Function, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Event, MessageEvent, RtcConfiguration, RtcDataChannel, RtcDataChannelInit, RtcDataChannelType,
    RtcIceGatheringState, RtcPeerConnection, RtcPeerConnectionState, RtcSdpType,
    RtcSessionDescriptionInit,
};

/// Longest wait for ICE gathering; what is gathered by then is sent.
const GATHER_CAP_MS: i32 = 3000;
/// A peer that lets this much pile up unsent is not keeping up.
const MAX_BUFFERED: u32 = 4 << 20;

#[wasm_bindgen(inline_js = r#"
export async function relayed(pc) {
  const stats = await pc.getStats();
  let pair = null;
  stats.forEach(s => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) stats.forEach(s => {
    if (!pair && s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
  });
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
  return !!((local && local.candidateType === "relay") || (remote && remote.candidateType === "relay"));
}
"#)]
extern "C" {
    /// A Promise of whether the selected candidate pair goes through a
    /// relay (either end a `relay` candidate), or `null` before one is
    /// selected.
    fn relayed(pc: &RtcPeerConnection) -> Promise;
}

/// Whether the connection's selected path is relayed; `None` while none
/// is selected or the statistics cannot be read.
pub async fn path_relayed(pc: &RtcPeerConnection) -> Option<bool> {
    JsFuture::from(relayed(pc)).await.ok()?.as_bool()
}

/// A new peer connection with the tab's ICE settings (see `ice`). Should
/// the browser refuse them, it is made with host candidates only rather
/// than not at all.
pub fn peer_connection() -> Result<RtcPeerConnection, JsValue> {
    let pc = RtcPeerConnection::new_with_configuration(&ice::configuration()).or_else(|e| {
        log::info(&format!(
            "ICE settings refused ({}); host candidates only",
            error_text(&e)
        ));
        RtcPeerConnection::new_with_configuration(&RtcConfiguration::new())
    })?;
    ice::watch_refusals(&pc);
    Ok(pc)
}

/// A peer connection, its data channel and the callbacks feeding the inbox.
#[derive(Debug)]
pub struct RtcLink {
    pc: RtcPeerConnection,
    dc: RtcDataChannel,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(Event)>,
    _on_state: Closure<dyn FnMut()>,
}

impl RtcLink {
    /// A new peer connection with its channel; negotiation is up to the caller.
    pub fn new(link: LinkId, inbox: &Inbox<Input>) -> Result<RtcLink, JsValue> {
        let pc = peer_connection()?;
        let init = RtcDataChannelInit::new();
        init.set_negotiated(true);
        init.set_id(0);
        init.set_ordered(true);
        let dc = pc.create_data_channel_with_data_channel_dict("chord", &init);
        dc.set_binary_type(RtcDataChannelType::Arraybuffer);

        let i = inbox.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || i.push_control(Input::Opened(link)));
        let i = inbox.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
            let _ = i.push(message_input(link, ev.data()));
        });
        let i = inbox.clone();
        let on_close = Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            i.push_control(Input::Closed(link, "data channel closed".to_owned()));
        });
        let i = inbox.clone();
        let pc2 = pc.clone();
        let on_state = Closure::<dyn FnMut()>::new(move || {
            // "disconnected" may recover by itself; "failed" does not.
            if pc2.connection_state() == RtcPeerConnectionState::Failed {
                i.push_control(Input::Closed(link, "ICE failed".to_owned()));
            }
        });
        dc.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        dc.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        dc.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        dc.set_onerror(Some(on_close.as_ref().unchecked_ref()));
        pc.set_onconnectionstatechange(Some(on_state.as_ref().unchecked_ref()));
        Ok(RtcLink {
            pc,
            dc,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_state: on_state,
        })
    }

    /// The peer connection, for the negotiation steps.
    pub fn pc(&self) -> RtcPeerConnection {
        self.pc.clone()
    }

    /// Closes the data channel after its queued messages (the peer
    /// connection is closed when this value is dropped).
    pub fn close_channel(&self) {
        self.dc.close();
    }

    /// Sends one frame; an error means the link is no good any more.
    pub fn send(&self, frame: &[u8]) -> Result<(), &'static str> {
        if self.dc.buffered_amount() > MAX_BUFFERED {
            return Err("peer not reading");
        }
        self.dc.send_with_u8_array(frame).map_err(|_| "send failed")
    }
}

impl Drop for RtcLink {
    fn drop(&mut self) {
        self.dc.set_onopen(None);
        self.dc.set_onmessage(None);
        self.dc.set_onclose(None);
        self.dc.set_onerror(None);
        self.pc.set_onconnectionstatechange(None);
        self.dc.close();
        self.pc.close();
    }
}

fn description(kind: RtcSdpType, sdp: &str) -> RtcSessionDescriptionInit {
    let d = RtcSessionDescriptionInit::new(kind);
    d.set_sdp(sdp);
    d
}

fn sdp_of(desc: &JsValue) -> Result<String, JsValue> {
    Reflect::get(desc, &JsValue::from_str("sdp"))?
        .as_string()
        .ok_or_else(|| JsValue::from_str("no SDP in the description"))
}

/// Creates our offer and returns it once ICE gathering is complete.
pub async fn make_offer(pc: RtcPeerConnection) -> Result<String, JsValue> {
    let offer = JsFuture::from(pc.create_offer()).await?;
    let sdp = sdp_of(&offer)?;
    let before = ice_ufrag(&pc);
    JsFuture::from(pc.set_local_description(&description(RtcSdpType::Offer, &sdp))).await?;
    gathered_sdp(&pc, restarted(before, &pc)).await
}

/// Applies a remote offer and returns our answer once gathering is complete.
pub async fn make_answer(pc: RtcPeerConnection, offer: String) -> Result<String, JsValue> {
    JsFuture::from(pc.set_remote_description(&description(RtcSdpType::Offer, &offer))).await?;
    let answer = JsFuture::from(pc.create_answer()).await?;
    let sdp = sdp_of(&answer)?;
    let before = ice_ufrag(&pc);
    JsFuture::from(pc.set_local_description(&description(RtcSdpType::Answer, &sdp))).await?;
    gathered_sdp(&pc, restarted(before, &pc)).await
}

/// The ICE username fragment of the local description, if there is one.
fn ice_ufrag(pc: &RtcPeerConnection) -> Option<String> {
    let sdp = pc.local_description()?.sdp();
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
}

/// Whether the description just set restarted ICE (new credentials where
/// there were others): gathering starts again, though the state still
/// says the last round is complete until the browser reports the new one.
fn restarted(before: Option<String>, pc: &RtcPeerConnection) -> bool {
    before.is_some() && before != ice_ufrag(pc)
}

/// Applies the remote answer to our offer.
pub async fn accept_answer(pc: RtcPeerConnection, answer: String) -> Result<(), JsValue> {
    JsFuture::from(pc.set_remote_description(&description(RtcSdpType::Answer, &answer))).await?;
    Ok(())
}

/// The local description once ICE gathering is complete, or after the cap;
/// `fresh`: a new round of gathering has begun, whatever the state says.
async fn gathered_sdp(pc: &RtcPeerConnection, fresh: bool) -> Result<String, JsValue> {
    if fresh || pc.ice_gathering_state() != RtcIceGatheringState::Complete {
        let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let resolve_slot: Rc<RefCell<Option<Function>>> = Rc::new(RefCell::new(None));
        let mut timer = None;
        let slot = Rc::clone(&resolve_slot);
        let done = Promise::new(&mut |resolve, _reject| {
            timer = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, GATHER_CAP_MS)
                .ok();
            *slot.borrow_mut() = Some(resolve);
        });
        let pc2 = pc.clone();
        let on_change = Closure::<dyn FnMut()>::new(move || {
            if pc2.ice_gathering_state() == RtcIceGatheringState::Complete {
                if let Some(resolve) = resolve_slot.borrow_mut().take() {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            }
        });
        pc.set_onicegatheringstatechange(Some(on_change.as_ref().unchecked_ref()));
        let _ = JsFuture::from(done).await;
        pc.set_onicegatheringstatechange(None);
        if let Some(t) = timer {
            window.clear_timeout_with_handle(t);
        }
        drop(on_change);
    }
    let desc = pc
        .local_description()
        .ok_or_else(|| JsValue::from_str("no local description"))?;
    Ok(desc.sdp())
}
