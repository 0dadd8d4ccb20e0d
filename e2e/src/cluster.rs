//! A set of live nodes (servers and tabs) looked at together: their
//! statuses, the ring their ids imply, and checks of one against the other
//! whose failures show every node's status.

use crate::api::Tab;
use crate::ring::Ring;
use crate::server::Server;
use crate::status::NodeStatus;
use crate::wait;
use std::fmt::Write;
use std::time::Duration;

/// The live nodes of a test: every server and tab in it is expected to be
/// in one ring.
#[derive(Debug)]
pub struct Cluster<'a> {
    servers: Vec<&'a Server>,
    tabs: Vec<&'a Tab>,
}

/// Every node's status at one moment.
#[derive(Debug)]
pub struct Snapshot {
    /// Label and status (or why it could not be read), servers first.
    pub nodes: Vec<(String, crate::Result<NodeStatus>)>,
}

impl Snapshot {
    /// The statuses that could be read.
    pub fn statuses(&self) -> Vec<NodeStatus> {
        self.nodes
            .iter()
            .filter_map(|(_, s)| s.as_ref().ok().cloned())
            .collect()
    }

    /// The status of the node labelled `label`.
    pub fn get(&self, label: &str) -> Option<&NodeStatus> {
        self.nodes
            .iter()
            .find(|(l, _)| l == label)
            .and_then(|(_, s)| s.as_ref().ok())
    }

    /// The ring over the ids of the nodes whose status could be read.
    pub fn ring(&self) -> Ring {
        Ring::new(self.statuses().into_iter().map(|s| s.id))
    }

    /// Every node's status, the ring order with labels, for a failure.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let statuses = self.statuses();
        let label_of = |id| {
            statuses
                .iter()
                .find(|s| s.id == id)
                .map_or("?", |s| s.label.as_str())
        };
        let order: Vec<String> = self
            .ring()
            .ids()
            .iter()
            .map(|id| format!("{id:?}={}", label_of(*id)))
            .collect();
        let _ = writeln!(out, "ring order: {}", order.join(" -> "));
        for (label, status) in &self.nodes {
            match status {
                Ok(s) => {
                    let _ = writeln!(out, "  {label}: {}", s.raw);
                }
                Err(e) => {
                    let _ = writeln!(out, "  {label}: status unreadable: {e}");
                }
            }
        }
        out
    }

    /// Ok if every status was read and matches the ring of the live ids.
    pub fn check_ring(&self) -> crate::Result<()> {
        let mut problems: Vec<String> = self
            .nodes
            .iter()
            .filter_map(|(l, s)| s.as_ref().err().map(|e| format!("{l}: {e}")))
            .collect();
        let statuses = self.statuses();
        let ring = self.ring();
        if ring.len() != statuses.len() {
            problems.push("two nodes report the same id".to_string());
        }
        problems.extend(ring.mismatches(&statuses));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "ring not consistent:\n  {}\n{}",
                problems.join("\n  "),
                self.dump()
            ))
        }
    }
}

impl<'a> Cluster<'a> {
    /// The nodes `servers` and `tabs`.
    pub fn new(servers: Vec<&'a Server>, tabs: Vec<&'a Tab>) -> Cluster<'a> {
        Cluster { servers, tabs }
    }

    /// The tabs.
    pub fn tabs(&self) -> &[&'a Tab] {
        &self.tabs
    }

    /// The recent console output of every browser of the tabs.
    pub async fn consoles(&self) -> String {
        let mut out = String::new();
        let mut seen = Vec::new();
        for tab in &self.tabs {
            let browser = tab.browser();
            if seen.contains(&browser.label()) {
                continue;
            }
            seen.push(browser.label());
            let lines = browser.console_tail(40).await;
            let _ = writeln!(
                out,
                "--- console of browser {}, last {} lines:\n{}",
                browser.label(),
                lines.len(),
                lines.join("\n")
            );
        }
        out
    }

    /// Reads every node's status.
    pub async fn snapshot(&self) -> Snapshot {
        let mut nodes = Vec::new();
        for server in &self.servers {
            let label = format!("server {}", server.label());
            let status = match server.status().await {
                Ok(raw) => NodeStatus::parse(&label, raw),
                Err(e) => Err(e),
            };
            nodes.push((label, status));
        }
        for tab in &self.tabs {
            let label = format!("tab {}", tab.name());
            let status = match tab.status().await {
                Ok(raw) => NodeStatus::parse(&label, raw),
                Err(e) => Err(e),
            };
            nodes.push((label, status));
        }
        Snapshot { nodes }
    }

    /// Waits until every node is joined and its successor and predecessor
    /// are those of the sorted live ids; returns that snapshot.
    pub async fn wait_ring(&self, what: &str) -> crate::Result<Snapshot> {
        self.wait_ring_with(what, |_| Ok(())).await
    }

    /// [`Cluster::wait_ring`], and `extra` holds on the same snapshot.
    pub async fn wait_ring_with(
        &self,
        what: &str,
        extra: impl Fn(&Snapshot) -> crate::Result<()>,
    ) -> crate::Result<Snapshot> {
        let result = wait::until(what, wait::BOUND, async || {
            let snap = self.snapshot().await;
            snap.check_ring()?;
            extra(&snap).map_err(|e| format!("{e}\n{}", snap.dump()))?;
            Ok(snap)
        })
        .await;
        match result {
            Ok(snap) => Ok(snap),
            Err(e) => Err(format!("{e}{}", self.consoles().await)),
        }
    }

    /// Looks every key up from every tab and checks the owner against
    /// `ring`. Returns the lookups, or every error and wrong owner.
    pub async fn check_lookups(
        &self,
        ring: &Ring,
        keys: &[&str],
    ) -> crate::Result<Vec<crate::api::Lookup>> {
        let mut problems = Vec::new();
        let mut found = Vec::new();
        for tab in &self.tabs {
            for key in keys {
                let expected = ring.owner_of_name(key);
                match tab.lookup(key).await {
                    Ok(l) => {
                        if Some(l.owner.as_str()) != expected.map(|e| e.to_hex()).as_deref() {
                            problems.push(format!(
                                "tab {}: lookup({key}) found {} (path {:?}), expected {:?}",
                                tab.name(),
                                l.owner,
                                l.path,
                                expected
                            ));
                        }
                        found.push(l);
                    }
                    Err(e) => problems.push(e),
                }
            }
        }
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(format!(
                "lookups failed:\n  {}\n{}{}",
                problems.join("\n  "),
                self.snapshot().await.dump(),
                self.consoles().await
            ))
        }
    }

    /// [`Cluster::check_lookups`], retried until it passes or `bound`.
    pub async fn wait_lookups(
        &self,
        ring: &Ring,
        keys: &[&str],
        bound: Duration,
    ) -> crate::Result<()> {
        wait::until("lookups to find the true owners", bound, async || {
            self.check_lookups(ring, keys).await.map(|_| ())
        })
        .await
    }
}

/// Every tab in the snapshot has at least one WebRTC data-channel link and
/// says it is joined: the ring between tabs runs over the tabs' own links.
pub fn tabs_on_webrtc(snap: &Snapshot) -> crate::Result<()> {
    let problems: Vec<String> = snap
        .statuses()
        .into_iter()
        .filter(|s| s.label.starts_with("tab "))
        .filter_map(|s| {
            if s.webrtc == 0 {
                Some(format!("{} has no WebRTC link", s.label))
            } else if s.state.as_deref() == Some("offline") || !s.joined {
                Some(format!("{} is {:?}, joined={}", s.label, s.state, s.joined))
            } else {
                None
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
