//! The deployment for scale: the server runs no relay of its own but
//! hands out credentials for a coturn that shares its secret
//! (`[[turn]]` in its configuration). Relay-only tabs make their ring and
//! a call with audio both ways through that coturn; a call whose coturn
//! restarts under it (every allocation gone) comes back by ICE restart, the
//! same call; and when the secrets do not match, coturn refuses the tabs
//! and the app says so in words.

use chordphone_e2e::browser::Chromedriver;
use chordphone_e2e::calls::{two_way, CALL_BOUND};
use chordphone_e2e::coturn::Coturn;
use chordphone_e2e::http;
use chordphone_e2e::media::{TONE_A_HZ, TONE_B_HZ};
use chordphone_e2e::relayed::{relayed_call, relayed_ring, relayed_ring_and_call};
use chordphone_e2e::server::{Server, ServerOpts};
use chordphone_e2e::setup::two_phones_with;
use chordphone_e2e::wait::{until, OrPanic};
use std::time::Duration;

const SECRET: &str = "secret shared with coturn";

/// A server whose `/ice` names `coturn`, signing with `secret`.
async fn server_for(label: &str, coturn: &Coturn, secret: &str) -> Server {
    let [udp, tcp] = coturn.urls();
    let config = format!("[[turn]]\nurls = [\"{udp}\", \"{tcp}\"]\nsecret = \"{secret}\"\n");
    Server::start(
        label,
        ServerOpts {
            config: Some(config),
            ..ServerOpts::default()
        },
    )
    .await
    .or_panic()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_tabs_ring_and_call_through_coturn() {
    let coturn = Coturn::start(SECRET).or_panic();
    let server = server_for("coturn", &coturn, SECRET).await;
    let ice = http::get_json(&format!("{}/ice", server.base_url()))
        .await
        .or_panic();
    assert_eq!(ice["iceServers"].as_array().map(Vec::len), Some(1), "{ice}");
    assert_eq!(
        ice["iceServers"][0]["urls"],
        serde_json::json!(coturn.urls())
    );

    let driver = Chromedriver::start().await.or_panic();
    let _tabs = relayed_ring_and_call(&driver, &server, "coturn")
        .await
        .unwrap_or_else(|e| panic!("{e}\ncoturn's log:\n{}", coturn.log()));
    // coturn did the relaying, not the server.
    let metrics = server.metrics().await.or_panic();
    assert_eq!(
        Server::metric(&metrics, "chordphone_relay_allocated_total"),
        0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_relay_restarts_comes_back_by_ice_restart() {
    let mut coturn = Coturn::start(SECRET).or_panic();
    let server = server_for("ice-restart", &coturn, SECRET).await;
    let driver = Chromedriver::start().await.or_panic();
    let (_browsers, tabs) = relayed_ring(&driver, &server, "restart").await.or_panic();
    let (alice, bob) = (&tabs[0], &tabs[1]);
    let (a_id, b_id) = relayed_call(alice, bob).await.or_panic();

    // The relay goes away and comes back empty: the call's path is gone.
    coturn.restart().or_panic();
    // Alice placed the call: she sees the path down and restarts ICE.
    until(
        "alice to restart ICE on the broken call",
        CALL_BOUND,
        async || {
            let call = alice.call_by_id(&a_id).await?;
            (call.media.restarts > 0)
                .then_some(())
                .ok_or_else(|| format!("{call:?}"))
        },
    )
    .await
    .or_panic();
    // The same call carries both voices again, relayed, with no new call.
    two_way((alice, &a_id, TONE_B_HZ), (bob, &b_id, TONE_A_HZ))
        .await
        .unwrap_or_else(|e| panic!("{e}\ncoturn's log:\n{}", coturn.log()));
    for (tab, id) in [(alice, &a_id), (bob, &b_id)] {
        let calls = tab.calls().await.or_panic();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(&calls[0].id, id);
        assert_eq!(calls[0].state, "active", "{calls:?}");
        assert!(calls[0].media.relayed, "{calls:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_refuses_the_credentials_is_said_in_words() {
    let coturn = Coturn::start(SECRET).or_panic();
    let server = server_for("coturn-refuses", &coturn, "not the secret coturn has").await;
    let driver = Chromedriver::start().await.or_panic();
    // Two relay-only tabs: each tries to link to the other through coturn,
    // which answers 401 to credentials it cannot verify.
    let (_browsers, tabs) = two_phones_with(&driver, &server, "refused", 2, "&relay=only")
        .await
        .or_panic();
    for tab in &tabs {
        let why = until(
            &format!("{}: to say the relay refused it", tab.name()),
            Duration::from_secs(60),
            async || {
                let status = tab.status().await?;
                let page = tab
                    .execute(
                        "return document.getElementById('notice').textContent",
                        vec![],
                    )
                    .await?;
                match status["relayRefused"].as_str() {
                    Some(why) if page.as_str() == Some(why) => Ok(why.to_owned()),
                    _ => Err(format!(
                        "relayRefused {}, page {page}",
                        status["relayRefused"]
                    )),
                }
            },
        )
        .await
        .or_panic();
        assert!(why.contains("credentials") && why.contains("401"), "{why}");
    }
}
