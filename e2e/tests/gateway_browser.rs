//! A tab calls a telephone number, end to end: the server runs the SIP
//! gateway (a `[gateway]` table with one trunk) and announces it in the
//! ring; the tab finds it under `service:pstn-gateway` and sends its sealed
//! INVITE there; the gateway calls SIPp, which plays the trunk (digest
//! challenge, 180, 183 with early media, 200) and echoes every RTP packet
//! (`-rtp_echo`). The media bridge in the server joins the tab's WebRTC
//! (ICE, DTLS-SRTP) to SIPp's plain RTP, so the tab hears its own 440 Hz
//! tone come back from the trunk (FFT of the call's remote audio). A key
//! pressed on the tab's dial pad travels as RFC 4733 events to SIPp and
//! back (counted by the server under `from="browser"` and `from="trunk"`).
//! The tab hangs up and SIPp receives the BYE.
//!
//! And a gateway that has no address to give for media refuses calls to
//! numbers with 503, in words the person reads: it does not pretend.

use chordphone_e2e::api::Tab;
use chordphone_e2e::browser::{Browser, Chromedriver, LaunchOpts};
use chordphone_e2e::calls::Call;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::media::TONE_A_HZ;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::sipp::Sipp;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;
use serde_json::json;

const NO_LINE: &str = "no line to the phone network is available";
/// Generous: each step takes a second or two on a quiet machine.
const BOUND: Duration = Duration::from_secs(60);

/// The `[gateway]` table for one trunk at `port` of 127.0.0.1.
fn gateway_config(listen: &str, trunk_port: u16, media: &str) -> String {
    format!(
        "[gateway]\nlisten = \"{listen}\"\nannounce_interval = 30\n\
         [[gateway.trunk]]\nname = \"carrier\"\nhost = \"127.0.0.1\"\nport = {trunk_port}\n\
         username = \"gateway\"\npassword = \"s3cret\"\noptions_interval = 0\n{media}"
    )
}

/// The value of the metric line `name` (with its labels), or 0.
fn metric(all: &str, name: &str) -> u64 {
    all.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Waits until the server's metric `name` reaches `at_least`.
async fn wait_metric(server: &Server, name: &str, at_least: u64) {
    until(&format!("{name} >= {at_least}"), BOUND, async || {
        let m = server.metrics().await?;
        if metric(&m, name) >= at_least {
            Ok(())
        } else {
            Err(m
                .lines()
                .filter(|l| {
                    l.starts_with("chordphone_gateway") || l.starts_with("chordphone_media")
                })
                .collect::<Vec<_>>()
                .join("\n"))
        }
    })
    .await
    .or_panic();
}

/// Once the tabs and the server form one ring, the first tab registers
/// as alice and dials a number; alice's tab and the call's id.
async fn alice_dials_a_number<'a>(
    server: &Server,
    tabs: &'a [Tab],
) -> (&'a Tab, serde_json::Value) {
    Cluster::new(vec![server], tabs.iter().collect())
        .wait_ring("two tabs and the server in one ring")
        .await
        .or_panic();
    let alice = &tabs[0];
    alice.register("alice").await.or_panic();
    let id = alice.dial("+1 555 123-4567").await.or_panic();
    (alice, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_calls_a_number_hears_the_trunk_and_its_keys_reach_it() {
    let media_port = chordphone_e2e::sipp::free_udp_port().to_string();
    let (mut sipp, trunk) = Sipp::scenario_with(
        "gateway_echo_uas.xml",
        include_str!("../sipp/gateway_echo_uas.xml"),
        &["-rtp_echo", "-mp", &media_port, "-timeout", "240s"],
    );
    // The bridge on loopback: Chromium is let reach it there (as tabs on
    // the server's own machine would reach its public address).
    let media = "[gateway.media]\nbind = \"127.0.0.1\"\nports = [21120, 21139]\nseed = 7\n";
    let server = Server::start(
        "gateway-media",
        ServerOpts {
            config: Some(gateway_config("127.0.0.1:0", trunk.port(), media)),
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let opts = LaunchOpts {
        tone_hz: Some(TONE_A_HZ),
        webrtc_loopback: true,
    };
    let browser = Browser::launch_with(&driver, "a", opts).await.or_panic();
    let mut tabs: Vec<Tab> = Vec::new();
    for name in ["pstn-0", "pstn-1"] {
        let tab = browser
            .open_tab(name, &server.page_url(name))
            .await
            .or_panic();
        tabs.push(tab);
    }
    let (alice, id) = alice_dials_a_number(&server, &tabs).await;
    let call: Call = alice.wait_state(&id, "active").await.or_panic();
    assert_eq!(call.direction, "out", "{call:?}");

    until(
        "alice to hear her own 440 Hz tone back from the trunk",
        BOUND,
        async || {
            let probe = alice.probe_remote().await?;
            if probe.tone.as_ref().is_some_and(|t| t.is(TONE_A_HZ)) {
                Ok(())
            } else {
                Err(format!("{probe:?}"))
            }
        },
    )
    .await
    .or_panic();
    wait_metric(
        &server,
        "chordphone_media_legs_total{event=\"browser_connected\"}",
        1,
    )
    .await;
    wait_metric(
        &server,
        "chordphone_media_legs_total{event=\"trunk_latched\"}",
        1,
    )
    .await;

    // A key of the dial pad: RFC 4733 from the tab to the bridge, on to
    // SIPp, echoed back to the bridge from the trunk's side.
    alice.call("dtmf", vec![json!("5")]).await.or_panic();
    wait_metric(&server, "chordphone_media_dtmf_total{from=\"browser\"}", 1).await;
    wait_metric(&server, "chordphone_media_dtmf_total{from=\"trunk\"}", 1).await;

    alice.act("hangup", Some(&id)).await.or_panic();
    alice.wait_state(&id, "ended").await.or_panic();
    let code = sipp.finish().await;
    assert_eq!(code, 0, "SIPp's call failed:\n{}", sipp.errors());
    wait_metric(&server, "chordphone_gateway_answered_total", 1).await;
    until("the bridge to free the call", BOUND, async || {
        let m = server.metrics().await?;
        (metric(&m, "chordphone_media_calls") == 0)
            .then_some(())
            .ok_or_else(|| "chordphone_media_calls > 0".to_owned())
    })
    .await
    .or_panic();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_with_no_address_for_media_says_there_is_no_line() {
    // The trunk: a socket that never answers (no call gets that far).
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let trunk = trunk.local_addr().expect("its address");
    // Listening on every interface with no public address nor
    // `[gateway.media] advertise`: the bridge has nothing to put in SDP.
    let server = Server::start(
        "gateway",
        ServerOpts {
            config: Some(gateway_config("0.0.0.0:0", trunk.port(), "")),
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_phones(&driver, &server, "gateway", 2).await.or_panic();
    let (alice, id) = alice_dials_a_number(&server, &tabs).await;
    let call: Call = alice.wait_ended(&id, NO_LINE).await.or_panic();
    assert_eq!(call.direction, "out", "{call:?}");
    // The refusal counted under its reason proves the INVITE crossed the
    // overlay to the gateway (a tab that found no gateway says the same).
    wait_metric(
        &server,
        "chordphone_gateway_refused_total{reason=\"no_media\"}",
        1,
    )
    .await;
}
