//! Debug output that follows the copies of chosen records over time: set
//! `CHORD_SIM_FOLLOW` to hex prefixes of record keys (comma-separated,
//! together with `CHORD_SIM_DEBUG`) and every change in who holds a copy is
//! printed, with the true owner, its successors and each holder's view of
//! its own neighbours. It only reads the nodes: the run is the same with or
//! without it.

use crate::net::Net;
use crate::truth::Truth;
use chordphone_overlay::{Id, NodeId};
use std::collections::BTreeMap;

/// The records followed and what was last printed of each.
#[derive(Default)]
pub struct Follow {
    keys: Vec<Id>,
    last: BTreeMap<Id, String>,
}

impl Follow {
    /// Reads the keys to follow from the environment; none if unset.
    pub fn from_env(records: &[(Id, Vec<u8>)]) -> Follow {
        let (Some(_), Ok(want)) = (
            std::env::var_os("CHORD_SIM_DEBUG"),
            std::env::var("CHORD_SIM_FOLLOW"),
        ) else {
            return Follow::default();
        };
        let keys = records
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| {
                let hex = k.to_hex();
                want.split(',').any(|p| !p.is_empty() && hex.starts_with(p))
            })
            .collect();
        Follow {
            keys,
            last: BTreeMap::new(),
        }
    }

    pub fn is_on(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Prints what changed since the last call.
    pub fn check(&mut self, net: &Net, truth: &Truth) {
        for key in &self.keys {
            let mut holders = Vec::new();
            for (_, sn) in net.nodes() {
                let Some(node) = &sn.node else { continue };
                if node.records().any(|r| r.key == *key) {
                    let st = node.status();
                    let owns = st.predecessor.is_some_and(|p| key.in_half_open(&p, &sn.id));
                    holders.push(format!(
                        "{:?}{} pred {:?} succ {:?}",
                        sn.id,
                        if owns { " (owns)" } else { "" },
                        st.predecessor,
                        &st.successors[..st.successors.len().min(3)]
                    ));
                }
            }
            let owner = truth.owner(key);
            let next: Vec<NodeId> = owner.map(|o| truth.successors(&o, 3)).unwrap_or_default();
            let line = format!(
                "owner {owner:?} then {next:?}; {} holders: {}",
                holders.len(),
                holders.join(" | ")
            );
            if self.last.get(key) != Some(&line) {
                eprintln!(
                    "follow {key:?} t={} ms: {line}",
                    net.now.0 / 1000 % 10_000_000
                );
                self.last.insert(*key, line);
            }
        }
    }
}
