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
/// processes with different tones) in a ring whose WebRTC links are all
/// relayed, and keys found through it.
pub async fn relayed_ring(
    driver: &Chromedriver,
    server: &Server,
    prefix: &str,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    relayed_ring_via(driver, (server, &[]), prefix).await
}

/// [`relayed_ring`] with the tabs bootstrapped through `boot`, in a ring
/// that `others` (servers joined to it) are part of.
pub async fn relayed_ring_via(
    driver: &Chromedriver,
    (boot, others): (&Server, &[&Server]),
    prefix: &str,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    let (browsers, tabs) = two_phones_with(driver, boot, prefix, 2, "&relay=only").await?;
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
    Ok((browsers, tabs))
}

/// `alice` (the first tab) calls `bob` (the second), who answers: each
/// hears the other's tone over a relayed path. Returns the two call ids.
pub async fn relayed_call(alice: &Tab, bob: &Tab) -> crate::Result<(Value, Value)> {
    alice.register("alice").await?;
    bob.register("bob").await?;
    let (a_id, b_id) = connect(alice, bob, "bob", "alice").await?;
    two_way((alice, &a_id, TONE_B_HZ), (bob, &b_id, TONE_A_HZ)).await?;
    call_relayed([(alice, &a_id), (bob, &b_id)]).await?;
    Ok((a_id, b_id))
}

/// [`relayed_ring`], then [`relayed_call`], then a hang-up.
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
    servers: (&Server, &[&Server]),
    prefix: &str,
) -> crate::Result<(Vec<Arc<Browser>>, Vec<Tab>)> {
    let (browsers, tabs) = relayed_ring_via(driver, servers, prefix).await?;
    let (a_id, b_id) = relayed_call(&tabs[0], &tabs[1]).await?;
    tabs[0].act("hangup", Some(&a_id)).await?;
    tabs[1].wait_ended(&b_id, "hung up").await?;
    Ok((browsers, tabs))
}
