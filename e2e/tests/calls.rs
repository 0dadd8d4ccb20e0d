//! Calls between real tabs in two browsers, over the ring: names are
//! registered (a taken one refused in plain words), a call carries each
//! side's voice and camera (browser a speaks 440 Hz, browser b 1000 Hz, so
//! what a tab hears says who it is connected to), hold pauses the media
//! and resume brings it back, mute silences a voice, the camera turns off
//! and on, either side hangs up, and the ways a call
//! does not happen are told apart: declined, busy, cancelled, not
//! registered. Call waiting, forking to two tabs of one person, instant
//! messages, and a call after the server is gone.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::calls::{connect, two_way, Call};
use chordphone_e2e::cluster::{tabs_on_webrtc, Cluster};
use chordphone_e2e::media::{TONE_A_HZ, TONE_B_HZ};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;

/// Waits until `tab` hears the tone `hz` from its call, or no tone at all.
async fn wait_tone(tab: &Tab, hz: Option<u32>) {
    let what = hz.map_or("silence".to_owned(), |hz| format!("{hz} Hz"));
    until(
        &format!("{} to hear {what}", tab.name()),
        Duration::from_secs(30),
        async || {
            let probe = tab.probe_remote().await?;
            let ok = match (&probe.tone, hz) {
                (Some(t), Some(hz)) => t.is(hz),
                (Some(t), None) => t.is_silent(),
                (None, _) => false,
            };
            ok.then_some(()).ok_or_else(|| format!("{probe:?}"))
        },
    )
    .await
    .or_panic();
}

/// Whether the tab's camera track is enabled (`None`: no camera track).
async fn local_video_enabled(tab: &Tab) -> Option<bool> {
    let script = "const s = document.getElementById('local-video').srcObject; \
                  const v = s && s.getVideoTracks()[0]; return v ? v.enabled : null;";
    tab.execute(script, vec![]).await.or_panic().as_bool()
}

/// Registers each tab under its name, in order.
async fn register_all(tabs: &[(&Tab, &str)]) {
    for (tab, name) in tabs {
        tab.register(name).await.or_panic();
    }
}

/// `words` in a failed call's message or in the reason it ended for:
/// `call()` may refuse at once or resolve and end the call after the lookup.
async fn dial_fails(tab: &Tab, target: &str, words: &str) {
    match tab.dial(target).await {
        Err(e) => assert!(e.to_lowercase().contains(words), "{e}"),
        Ok(id) => {
            let call: Call = tab.wait_ended(&id, words).await.or_panic();
            assert_eq!(call.direction, "out", "{call:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_carries_both_voices_and_video_holds_resumes_and_outlives_the_server() {
    let mut server = Server::start("calls", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_phones(&driver, &server, "call", 2).await.or_panic();
    let (alice, bob) = (&tabs[0], &tabs[1]);
    Cluster::new(vec![&server], tabs.iter().collect())
        .wait_ring("two tabs and the server in one ring")
        .await
        .or_panic();

    // Names: the first person to claim one holds it; another is told so.
    alice.register("alice").await.or_panic();
    let err = bob
        .register("alice")
        .await
        .expect_err("a name another person holds is refused");
    assert!(err.to_lowercase().contains("taken"), "{err}");
    bob.register("bob").await.or_panic();

    // A message.
    alice.message("bob", "hello bob").await.or_panic();
    until(
        "bob to have alice's message",
        Duration::from_secs(30),
        async || {
            let got = bob.messages().await?;
            got.iter()
                .find(|m| m.direction == "in" && m.text == "hello bob" && m.from.contains("alice"))
                .map(drop)
                .ok_or_else(|| format!("messages: {got:?}"))
        },
    )
    .await
    .or_panic();

    // Nobody by that name.
    dial_fails(alice, "nobody", "not registered").await;

    // A call: each hears the other's tone and sees the other's camera.
    let (a_id, b_id) = connect(alice, bob, "bob", "alice").await.or_panic();
    two_way((alice, &a_id, TONE_B_HZ), (bob, &b_id, TONE_A_HZ))
        .await
        .or_panic();

    // Hold: alice asks bob to stop sending (sendonly on her side), so no
    // audio reaches her; resume brings bob's voice back.
    alice.act("hold", Some(&a_id)).await.or_panic();
    alice.wait_state(&a_id, "held").await.or_panic();
    bob.wait_call("alice's hold to show", |c| c.id == b_id && c.held_by_peer)
        .await
        .or_panic();
    alice.wait_audio_stops(&a_id).await.or_panic();
    alice.act("resume", Some(&a_id)).await.or_panic();
    alice.wait_state(&a_id, "active").await.or_panic();
    alice.wait_media_flows(&a_id).await.or_panic();
    alice.wait_hears(TONE_B_HZ).await.or_panic();

    // Bob mutes: alice hears no tone from him (silence still flows); he
    // unmutes and his voice is back.
    bob.call("mute", vec![true.into()]).await.or_panic();
    wait_tone(alice, None).await;
    bob.call("mute", vec![false.into()]).await.or_panic();
    wait_tone(alice, Some(TONE_B_HZ)).await;
    // Bob turns his camera off: his video track is disabled (alice gets
    // black frames), the call goes on; on again.
    bob.call("camera", vec![false.into()]).await.or_panic();
    assert_eq!(local_video_enabled(bob).await, Some(false));
    bob.call("camera", vec![true.into()]).await.or_panic();
    assert_eq!(local_video_enabled(bob).await, Some(true));
    alice.wait_media_flows(&a_id).await.or_panic();

    // Bob hangs up.
    bob.act("hangup", Some(&b_id)).await.or_panic();
    alice.wait_ended(&a_id, "hung up").await.or_panic();
    bob.wait_state(&b_id, "ended").await.or_panic();

    // The other way round, and alice hangs up.
    let (b_id, a_id) = connect(bob, alice, "alice", "bob").await.or_panic();
    alice.act("hangup", Some(&a_id)).await.or_panic();
    bob.wait_ended(&b_id, "hung up").await.or_panic();
    alice.wait_state(&a_id, "ended").await.or_panic();

    // Without the server: the two tabs keep their ring (and the records it
    // holds) over WebRTC, and a call still finds bob.
    server.kill();
    Cluster::new(vec![], tabs.iter().collect())
        .wait_ring_with(
            "the two tabs to keep a ring without the server",
            tabs_on_webrtc,
        )
        .await
        .or_panic();
    let (a_id, b_id) = connect(alice, bob, "bob", "alice").await.or_panic();
    two_way((alice, &a_id, TONE_B_HZ), (bob, &b_id, TONE_A_HZ))
        .await
        .or_panic();
    alice.act("hangup", Some(&a_id)).await.or_panic();
    bob.wait_ended(&b_id, "hung up").await.or_panic();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_cancelled_busy_waiting_and_forked_calls() {
    let server = Server::start("calls-cases", ServerOpts::default())
        .await
        .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    // Tabs 0 and 2 in browser a, 1 and 3 in browser b. Tabs of one browser
    // share its storage, so one person's key: carol is alice's second
    // name, and tab 3 is bob's second device.
    let (_browsers, tabs) = two_phones(&driver, &server, "cases", 4).await.or_panic();
    let (alice, bob, carol, bob2) = (&tabs[0], &tabs[1], &tabs[2], &tabs[3]);
    Cluster::new(vec![&server], tabs.iter().collect())
        .wait_ring("four tabs and the server in one ring")
        .await
        .or_panic();
    register_all(&[(alice, "alice"), (bob, "bob"), (carol, "carol")]).await;

    // Declined.
    let out = alice.dial("bob").await.or_panic();
    let ring = bob.wait_incoming("alice").await.or_panic();
    bob.act("reject", Some(&ring.id)).await.or_panic();
    alice.wait_ended(&out, "declined").await.or_panic();
    bob.wait_state(&ring.id, "ended").await.or_panic();

    // Cancelled by the caller while it rings.
    let out = alice.dial("bob").await.or_panic();
    let ring = bob.wait_incoming("alice").await.or_panic();
    alice.wait_state(&out, "ringing").await.or_panic();
    alice.act("hangup", Some(&out)).await.or_panic();
    bob.wait_ended(&ring.id, "cancelled").await.or_panic();
    alice.wait_state(&out, "ended").await.or_panic();

    // Busy: bob is in a call with alice and turns carol's call away.
    let (a_id, b_alice) = connect(alice, bob, "bob", "alice").await.or_panic();
    let out = carol.dial("bob").await.or_panic();
    let waiting = bob.wait_incoming("carol").await.or_panic();
    bob.act("reject", Some(&waiting.id)).await.or_panic();
    carol.wait_ended(&out, "busy").await.or_panic();
    assert_eq!(bob.call_by_id(&b_alice).await.or_panic().state, "active");

    // Call waiting: bob takes carol's second call, alice's goes on hold.
    let out = carol.dial("bob").await.or_panic();
    let waiting = bob.wait_incoming("carol").await.or_panic();
    bob.act("answer", Some(&waiting.id)).await.or_panic();
    bob.wait_state(&b_alice, "held").await.or_panic();
    bob.wait_state(&waiting.id, "active").await.or_panic();
    carol.wait_state(&out, "active").await.or_panic();
    two_way((carol, &out, TONE_B_HZ), (bob, &waiting.id, TONE_A_HZ))
        .await
        .or_panic();
    bob.act("hangup", Some(&waiting.id)).await.or_panic();
    carol.wait_ended(&out, "hung up").await.or_panic();
    bob.act("hangup", Some(&b_alice)).await.or_panic();
    alice.wait_ended(&a_id, "hung up").await.or_panic();

    // Forking: bob's second tab registers his name too; a call rings both,
    // the one that answers takes it, the other stops ringing.
    bob2.register("bob").await.or_panic();
    let out = alice.dial("bob").await.or_panic();
    let first = bob.wait_incoming("alice").await.or_panic();
    let second = bob2.wait_incoming("alice").await.or_panic();
    bob2.act("answer", Some(&second.id)).await.or_panic();
    alice.wait_state(&out, "active").await.or_panic();
    bob.wait_ended(&first.id, "elsewhere").await.or_panic();
    two_way((alice, &out, TONE_B_HZ), (bob2, &second.id, TONE_A_HZ))
        .await
        .or_panic();
    alice.act("hangup", Some(&out)).await.or_panic();
    bob2.wait_ended(&second.id, "hung up").await.or_panic();
}
