//! The fake media and the probe the call tests rely on, checked before any
//! call: each browser's microphone carries its own tone and the probe finds
//! it (440 Hz in browser a, 1000 Hz in browser b), the camera delivers
//! frames, and both survive a WebRTC connection within the page (remote
//! tracks are where Chromium's habits bite), where a disabled microphone
//! is heard as silence.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::media::{Probe, Source, TONE_A_HZ, TONE_B_HZ};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;

/// How long each measurement listens.
const WINDOW: Duration = Duration::from_millis(1000);
/// Frames a 30 fps camera shows in [`WINDOW`], with room for a slow machine.
const MIN_FRAMES: u32 = 5;

/// Sends the tab's camera and microphone from one RTCPeerConnection to
/// another in the same page and shows what arrives in
/// `<video id="e2e-loopback">`.
const LOOPBACK: &str = r#"
return (async () => {
  const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const remote = new MediaStream();
  b.ontrack = (e) => remote.addTrack(e.track);
  for (const t of local.getTracks()) a.addTrack(t, local);
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  const el = document.createElement('video');
  el.id = 'e2e-loopback';
  el.muted = true;
  el.srcObject = remote;
  document.body.append(el);
  window.e2eLoopback = { a, b, local };
  return true;
})();
"#;

/// Turns the looped-back microphone on or off (a disabled track sends
/// silence).
const MIC: &str =
    "window.e2eLoopback.local.getAudioTracks()[0].enabled = arguments[0]; return true;";

/// Waits (bounded) until a probe of `source` passes `check`.
async fn probe_until(tab: &Tab, source: Source<'_>, what: &str, check: impl Fn(&Probe) -> bool) {
    until(what, Duration::from_secs(30), async || {
        let probe = tab.probe_media(source, WINDOW).await?;
        if check(&probe) {
            Ok(())
        } else {
            Err(format!("{}: {probe:?}", tab.name()))
        }
    })
    .await
    .or_panic();
}

fn hears(probe: &Probe, hz: u32) -> bool {
    probe.tone.as_ref().is_some_and(|t| t.is(hz))
}

fn sees(probe: &Probe) -> bool {
    probe
        .video
        .as_ref()
        .is_some_and(|v| v.frames >= MIN_FRAMES && v.width > 0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_browser_has_its_own_tone_and_camera_and_the_probe_hears_them() {
    let server = Server::start("media", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_phones(&driver, &server, "media", 2).await.or_panic();
    for (tab, hz, other) in [
        (&tabs[0], TONE_A_HZ, TONE_B_HZ),
        (&tabs[1], TONE_B_HZ, TONE_A_HZ),
    ] {
        // What the microphone captures, with the processing an app gets by
        // default and without it.
        for source in [Source::Capture, Source::RawCapture] {
            let probe = tab.probe_media(source, WINDOW).await.or_panic();
            assert!(
                hears(&probe, hz),
                "{} expected {hz} Hz: {probe:?}",
                tab.name()
            );
            assert!(
                !hears(&probe, other),
                "{} hears {other} Hz: {probe:?}",
                tab.name()
            );
            assert!(sees(&probe), "{}: camera frames: {probe:?}", tab.name());
        }

        // The same after a WebRTC hop: remote tracks.
        tab.execute(LOOPBACK, vec![]).await.or_panic();
        let remote = Source::Element("#e2e-loopback");
        probe_until(
            tab,
            remote,
            &format!("the {hz} Hz tone and frames over WebRTC"),
            |p| hears(p, hz) && sees(p),
        )
        .await;
        // The probe tells a tone from silence.
        tab.execute(MIC, vec![serde_json::json!(false)])
            .await
            .or_panic();
        probe_until(tab, remote, "silence once the microphone is off", |p| {
            p.tone.as_ref().is_some_and(|t| t.is_silent())
        })
        .await;
        tab.execute(MIC, vec![serde_json::json!(true)])
            .await
            .or_panic();
        probe_until(tab, remote, &format!("the {hz} Hz tone again"), |p| {
            hears(p, hz)
        })
        .await;
    }
}
