//! The relay offer this server keeps in the overlay: a `service:relay`
//! record (one value per node, signed by this node) naming its `/ice`, so
//! that tabs of servers without a relay find this one by lookup.
//!
//! Sans-IO: the node task asks [`Advert::due`] with the time, stores the
//! record through the node, and reports the answer with
//! [`Advert::outcome`]. The record expires on its own if the server dies;
//! a live server writes it again at half its lifetime, and sooner after a
//! failed write (not joined yet, no answer).

use chordphone_overlay::{
    encode_relay_offer, relay_key, Kind, LocalError, Node, OfferError, Phase, QueryId, Time,
};
use core::time::Duration;

/// How long a written offer lives in the overlay.
pub const OFFER_TTL: Duration = Duration::from_secs(600);
/// Wait before writing again after a write failed.
const RETRY: Duration = Duration::from_secs(10);
/// How long the removal written at shutdown stays (it only has to outlive
/// the replicas of the offer it replaces).
const REMOVAL_TTL: Duration = OFFER_TTL;

/// The offer and when to write it.
#[derive(Debug)]
pub struct Advert {
    value: Vec<u8>,
    /// When to write next (`None`: a write is in flight).
    next: Option<Time>,
    /// The write in flight.
    pending: Option<QueryId>,
    /// Writes that were stored, for the log's first line.
    stored: u64,
}

impl Advert {
    /// An offer of the `/ice` at `ice_url`, first written as soon as the
    /// node is in a ring.
    pub fn new(ice_url: &str) -> Result<Advert, OfferError> {
        Ok(Advert {
            value: encode_relay_offer(ice_url)?,
            next: Some(Time(0)),
            pending: None,
            stored: 0,
        })
    }

    /// Whether the offer should be written now.
    pub fn due(&self, phase: Phase, now: Time) -> bool {
        phase == Phase::Joined && self.next.is_some_and(|t| t <= now)
    }

    /// Writes the offer through `node`.
    pub fn write(&mut self, node: &mut Node, now: Time) {
        let key = relay_key();
        match node.put(key, Kind::Multi, self.value.clone(), OFFER_TTL, now) {
            Ok(q) => {
                self.pending = Some(q);
                self.next = None;
            }
            Err(e) => self.failed(&e, now),
        }
    }

    fn failed(&mut self, why: &dyn core::fmt::Display, now: Time) {
        tracing::debug!("relay offer not written: {why}");
        self.pending = None;
        self.next = Some(now + RETRY);
    }

    /// The answer to a request of the node; `false` if it was not the
    /// offer's write.
    pub fn outcome(
        &mut self,
        id: QueryId,
        result: Result<(), &dyn core::fmt::Display>,
        now: Time,
    ) -> bool {
        if self.pending != Some(id) {
            return false;
        }
        match result {
            Ok(()) => {
                if self.stored == 0 {
                    tracing::info!(
                        url = %String::from_utf8_lossy(&self.value),
                        "relay offered in the overlay (service:relay)"
                    );
                }
                self.stored += 1;
                self.pending = None;
                self.next = Some(now + OFFER_TTL / 2);
            }
            Err(why) => self.failed(why, now),
        }
        true
    }

    /// Removes the offer (at shutdown, before leaving), so that tabs stop
    /// finding a relay that is going away.
    pub fn withdraw(&mut self, node: &mut Node, now: Time) -> Result<(), LocalError> {
        self.next = None;
        if self.stored == 0 {
            return Ok(());
        }
        node.remove(relay_key(), Kind::Multi, REMOVAL_TTL, now)
            .map(|_| ())
    }
}

/// The `/ice` URL of a server others dial at `public_url` (`ws(s)://host
/// [:port]/...`): the same host over HTTP(S).
pub fn ice_url_of(public_url: &str) -> Option<String> {
    Some(format!("{}/ice", chordphone_link::http_origin(public_url)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chordphone_overlay::{relay_offers, Answer, Config, Event, Identity, Output};

    const T0: Time = Time(1_700_000_000_000_000);

    fn solo() -> Node {
        let mut n = Node::new(Identity::from_seed([7; 32]), Config::default(), 1, T0);
        n.create(T0);
        while n.poll_output().is_some() {}
        n
    }

    /// The answer of the node's last request.
    fn answer(node: &mut Node) -> (QueryId, Answer) {
        while let Some(out) = node.poll_output() {
            if let Output::Event(Event::QueryDone { id, outcome, .. }) = out {
                return (id, outcome.expect("answered"));
            }
        }
        panic!("no answer");
    }

    #[test]
    fn the_ice_url_follows_the_public_url() {
        assert_eq!(
            ice_url_of("ws://127.0.0.1:8080/ws").as_deref(),
            Some("http://127.0.0.1:8080/ice")
        );
        assert_eq!(
            ice_url_of("wss://relay.example/ws").as_deref(),
            Some("https://relay.example/ice")
        );
        assert_eq!(ice_url_of("ws:///ws"), None);
        assert_eq!(ice_url_of("http://a/ws"), None);
    }

    #[test]
    fn the_offer_is_written_when_joined_rewritten_at_half_its_life_and_readable() {
        let mut node = solo();
        let mut ad = Advert::new("http://127.0.0.1:8080/ice").expect("plain URL");
        assert!(!ad.due(Phase::Idle, T0), "not before the node is in a ring");
        assert!(ad.due(Phase::Joined, T0));
        ad.write(&mut node, T0);
        assert!(!ad.due(Phase::Joined, T0), "one write at a time");
        let (id, got) = answer(&mut node);
        assert_eq!(got, Answer::Stored);
        assert!(ad.outcome(id, Ok(()), T0));
        assert!(!ad.outcome(id, Ok(()), T0), "answered once");
        assert!(!ad.due(Phase::Joined, T0 + OFFER_TTL / 2 - Duration::from_secs(1)));
        assert!(ad.due(Phase::Joined, T0 + OFFER_TTL / 2));

        node.get(relay_key(), Kind::Multi, T0);
        let (_, Answer::Records(records)) = answer(&mut node) else {
            panic!("records expected");
        };
        let (offers, refused) = relay_offers(&records, T0);
        assert_eq!(refused, 0);
        assert_eq!(offers.len(), 1);
        assert_eq!(offers[0].ice_url, "http://127.0.0.1:8080/ice");
        assert_eq!(offers[0].node, node.id());

        // Withdrawn: the key holds no offer of this node any more.
        ad.withdraw(&mut node, T0).expect("removal written");
        answer(&mut node);
        node.get(relay_key(), Kind::Multi, T0);
        let (_, Answer::Records(records)) = answer(&mut node) else {
            panic!("records expected");
        };
        assert!(relay_offers(&records, T0).0.is_empty());
    }

    #[test]
    fn a_failed_write_is_tried_again_soon() {
        let mut ad = Advert::new("http://a/ice").expect("plain URL");
        ad.pending = Some(QueryId(5));
        ad.next = None;
        assert!(ad.outcome(QueryId(5), Err(&"no answer in time"), T0));
        assert!(!ad.due(Phase::Joined, T0 + RETRY - Duration::from_secs(1)));
        assert!(ad.due(Phase::Joined, T0 + RETRY));
        assert!(Advert::new("ftp://a").is_err());
    }
}
