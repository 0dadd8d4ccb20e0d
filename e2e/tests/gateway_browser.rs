//! A tab calls a telephone number: the server runs the SIP gateway (a
//! `[gateway]` table with one trunk) and announces it in the ring; the
//! tab finds it under `service:pstn-gateway` and sends its sealed INVITE
//! there. No media bridge is connected yet, so the gateway refuses the
//! call with 503 rather than pretend, and the person reads why: "No line
//! to the phone network is available". The server's `/metrics` shows the
//! refusal under its reason, which proves the INVITE crossed the overlay
//! to the gateway (a tab that found no gateway would say the same words).

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::calls::Call;
use chordphone_e2e::cluster::Cluster;
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones;
use chordphone_e2e::wait::{until, OrPanic};
use core::time::Duration;

const NO_LINE: &str = "no line to the phone network is available";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_calling_a_number_is_told_there_is_no_line_until_the_bridge_exists() {
    // The trunk: a socket that never answers (no call gets that far).
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let trunk = trunk.local_addr().expect("its address");
    let config = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\nannounce_interval = 30\n\
         [[gateway.trunk]]\nname = \"carrier\"\nhost = \"127.0.0.1\"\nport = {}\n\
         username = \"gateway\"\npassword = \"s3cret\"\noptions_interval = 0\n",
        trunk.port()
    );
    let server = Server::start(
        "gateway",
        ServerOpts {
            config: Some(config),
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic();
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = two_phones(&driver, &server, "gateway", 2).await.or_panic();
    Cluster::new(vec![&server], tabs.iter().collect())
        .wait_ring("two tabs and the server in one ring")
        .await
        .or_panic();
    let alice = &tabs[0];
    alice.register("alice").await.or_panic();

    let id = alice.dial("+1 555 123-4567").await.or_panic();
    let call: Call = alice.wait_ended(&id, NO_LINE).await.or_panic();
    assert_eq!(call.direction, "out", "{call:?}");
    until(
        "the gateway to count the refusal",
        Duration::from_secs(20),
        async || {
            let m = server.metrics().await?;
            m.lines()
                .any(|l| l == "chordphone_gateway_refused_total{reason=\"no_media\"} 1")
                .then_some(())
                .ok_or_else(|| {
                    m.lines()
                        .filter(|l| l.starts_with("chordphone_gateway"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
        },
    )
    .await
    .or_panic();
}
