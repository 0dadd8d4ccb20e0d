//! Tabs forced to relayed candidates (`?relay=only`): the checks that
//! their ring and their calls really go through a relay, and the whole
//! scenario the relay tests play against the embedded relay and coturn.

use crate::api::Tab;
use crate::browser::{Browser, Chromedriver};
use crate::calls::{connect, two_way, CALL_BOUND};
use crate::cluster::{Cluster, Snapshot};
use crate::media::{TONE_A_HZ, TONE_B_HZ};
use crate::server::Server;
use crate::setup::two_phones_with;
use crate::wait::until;
use serde_json::Value;
use std::sync::Arc;

/// Every tab has WebRTC links, and all of them are relayed (servers have
/// WebSocket links only).
pub fn all_links_relayed(snap: &Snapshot) -> crate::Result<()> {
    for (label, status) in &snap.nodes {
        let Ok(status) = status else { continue };
        if label.starts_with("server") {
            continue;
        }
        let links = &status.raw["links"];
        let (webrtc, relayed) = (links["webrtc"].as_u64(), links["relayed"].as_u64());
        if webrtc.unwrap_or(0) == 0 || relayed != webrtc {
            return Err(format!("{label}: links {links}"));
        }
    }
    Ok(())
}

/// Both sides of the call report a relayed path.
pub async fn call_relayed(sides: [(&Tab, &Value); 2]) -> crate::Result<()> {
    for (tab, id) in sides {
        until(
            &format!("{}: call {id} to report a relayed path", tab.name()),
            CALL_BOUND,
            async || {
                let call = tab.call_by_id(id).await?;
                call.media
                    .relayed
                    .then_some(())
                    .ok_or_else(|| format!("{call:?}"))
            },
        )
        .await?;
    }
    Ok(())
}

/// Two relay-only tabs of `server` (`prefix-0`, `prefix-1`, in two browser
/// processes with different tones) make a ring whose WebRTC links are all
/// relayed, find keys, and call: each hears the other's tone over a
/// relayed path, then the call ends. Returns the browsers and tabs.
pub async fn relayed_ring_and_call(
    driver: &Chromedriver,
    server: &Server,
    prefix: &str,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    relayed_ring_and_call_via(driver, (server, &[]), prefix).await
}

/// [`relayed_ring_and_call`] with the tabs bootstrapped through `boot`, in a
/// ring that `others` (servers joined to it) are part of.
pub async fn relayed_ring_and_call_via(
    driver: &Chromedriver,
    (boot, others): (&Server, &[&Server]),
    prefix: &str,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    let (browsers, tabs) = two_phones_with(driver, boot, prefix, 2, "&relay=only").await?;
    {
        let (alice, bob) = (&tabs[0], &tabs[1]);
        let servers = core::iter::once(boot)
            .chain(others.iter().copied())
            .collect();
        let cluster = Cluster::new(servers, tabs.iter().collect());
        let snap = cluster
            .wait_ring_with(
                "a ring whose WebRTC links all go through the relay",
                all_links_relayed,
            )
            .await?;
        cluster
            .wait_lookups(&snap.ring(), &["alice", "bob", "carol"], CALL_BOUND)
            .await?;
        alice.register("alice").await?;
        bob.register("bob").await?;
        let (a_id, b_id) = connect(alice, bob, "bob", "alice").await?;
        two_way((alice, &a_id, TONE_B_HZ), (bob, &b_id, TONE_A_HZ)).await?;
        call_relayed([(alice, &a_id), (bob, &b_id)]).await?;
        alice.act("hangup", Some(&a_id)).await?;
        bob.wait_ended(&b_id, "hung up").await?;
    }
    Ok((browsers, tabs))
}
