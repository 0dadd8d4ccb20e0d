//! Relay offers: the values under the `service:relay` key.
//!
//! A node that can relay for others (a server running a TURN relay) stores
//! a `Multi` record under [`RELAY_SERVICE`], signed with its own key, whose
//! value is the `http(s)://` URL of its `/ice` endpoint: where a peer gets
//! short-lived TURN credentials for that relay. Peers that need a relay
//! read the key and pick among the offers.
//!
//! Every record read back is remote input: an offer is taken only if its
//! signature holds for its writer, it sits under the right key as a
//! `Multi` value, it has not expired, and its value is a short, plain URL.
//! Anything else is refused and counted, never passed on.

use crate::id::{Id, NodeId};
use crate::identity::node_id_of;
use crate::record::{Kind, Record};
use crate::time::Time;

/// The key relay offers are stored under.
pub const RELAY_SERVICE: &str = "service:relay";
/// Longest `/ice` URL an offer may carry.
pub const MAX_OFFER_URL: usize = 256;
/// Most offers taken from one read of the key (the rest are ignored, not
/// refused: a few relays to choose from are enough).
pub const MAX_OFFERS: usize = 8;

/// The ring key of [`RELAY_SERVICE`].
pub fn relay_key() -> Id {
    Id::for_key(RELAY_SERVICE)
}

/// One node's offer to relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayOffer {
    /// The node that signed it.
    pub node: NodeId,
    /// Where to get credentials for its relay (`http(s)://host[:port]/path`,
    /// no query or fragment).
    pub ice_url: String,
}

/// Why a value is not a relay offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// Longer than [`MAX_OFFER_URL`].
    #[error("offer longer than {MAX_OFFER_URL} bytes")]
    TooLong,
    /// Not a plain `http://` or `https://` URL with a host.
    #[error("offer is not a plain http(s) URL")]
    NotUrl,
    /// The record is not a signed `Multi` value under [`RELAY_SERVICE`]
    /// (a forged writer, a squatted key, a removal).
    #[error("record is not a signed relay offer")]
    NotOffer,
    /// The record has expired.
    #[error("offer expired")]
    Expired,
}

/// The value that offers `ice_url`, checked as readers will check it.
pub fn encode_relay_offer(ice_url: &str) -> Result<Vec<u8>, OfferError> {
    check_url(ice_url.as_bytes())?;
    Ok(ice_url.as_bytes().to_vec())
}

/// The offer a record holds, or why it holds none.
pub fn decode_relay_offer(record: &Record, now: Time) -> Result<RelayOffer, OfferError> {
    if record.key != relay_key() || record.kind != Kind::Multi {
        return Err(OfferError::NotOffer);
    }
    if record.expires <= now {
        return Err(OfferError::Expired);
    }
    let value = record.value.as_deref().ok_or(OfferError::NotOffer)?;
    // The cheap checks first: a signature costs far more than a scan.
    let url = check_url(value)?;
    if !record.verify() {
        return Err(OfferError::NotOffer);
    }
    Ok(RelayOffer {
        node: node_id_of(&record.writer),
        ice_url: url.to_owned(),
    })
}

/// The offers of a read of [`RELAY_SERVICE`] (at most [`MAX_OFFERS`], one
/// per node, in the order read) and how many records were refused.
pub fn relay_offers(records: &[Record], now: Time) -> (Vec<RelayOffer>, usize) {
    let mut offers: Vec<RelayOffer> = Vec::new();
    let mut refused = 0;
    for record in records {
        if offers.len() >= MAX_OFFERS {
            break;
        }
        match decode_relay_offer(record, now) {
            Ok(offer) if offers.iter().all(|o| o.node != offer.node) => offers.push(offer),
            // A second value of one writer cannot come from a store that
            // keeps one per writer: someone is replaying.
            Ok(_) | Err(_) => refused += 1,
        }
    }
    (offers, refused)
}

/// `bytes` as a plain `http(s)://host...` URL: printable ASCII without
/// spaces, quotes, angle brackets, backslashes, query or fragment.
fn check_url(bytes: &[u8]) -> Result<&str, OfferError> {
    if bytes.len() > MAX_OFFER_URL {
        return Err(OfferError::TooLong);
    }
    let plain = |b: &u8| b.is_ascii_graphic() && !b"\"'<>\\`?#".contains(b);
    if !bytes.iter().all(plain) {
        return Err(OfferError::NotUrl);
    }
    let url = core::str::from_utf8(bytes).map_err(|_| OfferError::NotUrl)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(OfferError::NotUrl)?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') {
        return Err(OfferError::NotUrl);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use core::time::Duration;

    const NOW: Time = Time(1_700_000_000_000_000);

    fn offer(seed: u8, value: Option<&[u8]>) -> Record {
        Record::sign(
            &Identity::from_seed([seed; 32]),
            relay_key(),
            Kind::Multi,
            1,
            NOW + Duration::from_secs(600),
            value.map(<[u8]>::to_vec),
        )
    }

    #[test]
    fn an_offer_round_trips_and_names_its_signer() {
        let value = encode_relay_offer("https://relay.example:8443/ice").expect("plain URL");
        let got = decode_relay_offer(&offer(1, Some(&value)), NOW).expect("an offer");
        assert_eq!(got.ice_url, "https://relay.example:8443/ice");
        assert_eq!(got.node, Identity::from_seed([1; 32]).node_id());
    }

    #[test]
    fn urls_that_are_not_plain_are_refused_when_written_and_read() {
        let long = format!("http://a/{}", "x".repeat(MAX_OFFER_URL));
        for (url, why) in [
            (long.as_str(), OfferError::TooLong),
            ("javascript:alert(1)", OfferError::NotUrl),
            ("http://", OfferError::NotUrl),
            ("http:///ice", OfferError::NotUrl),
            ("http://a b/ice", OfferError::NotUrl),
            ("http://a/ice?x=1", OfferError::NotUrl),
            ("http://user@a/ice", OfferError::NotUrl),
            ("http://a/\u{e9}", OfferError::NotUrl),
        ] {
            assert_eq!(encode_relay_offer(url), Err(why), "{url}");
            let r = offer(1, Some(url.as_bytes()));
            assert_eq!(decode_relay_offer(&r, NOW), Err(why), "{url}");
        }
        let garbage = offer(1, Some(&[0xff, 0x00, 0x13, 0x37]));
        assert_eq!(decode_relay_offer(&garbage, NOW), Err(OfferError::NotUrl));
    }

    #[test]
    fn forged_squatted_removed_and_expired_records_are_not_offers() {
        let good = offer(1, Some(b"http://a/ice"));
        let mut forged = good.clone();
        // Another writer's key on a value it did not sign.
        forged.writer = Identity::from_seed([2; 32]).public_key();
        assert_eq!(decode_relay_offer(&forged, NOW), Err(OfferError::NotOffer));
        let mut changed = good.clone();
        changed.value = Some(b"http://evil/ice".to_vec());
        assert_eq!(decode_relay_offer(&changed, NOW), Err(OfferError::NotOffer));
        let single = Record::sign(
            &Identity::from_seed([3; 32]),
            relay_key(),
            Kind::Single,
            1,
            NOW + Duration::from_secs(60),
            Some(b"http://a/ice".to_vec()),
        );
        assert_eq!(decode_relay_offer(&single, NOW), Err(OfferError::NotOffer));
        let other_key = Record::sign(
            &Identity::from_seed([3; 32]),
            Id::for_key("service:pstn-gateway"),
            Kind::Multi,
            1,
            NOW + Duration::from_secs(60),
            Some(b"http://a/ice".to_vec()),
        );
        assert_eq!(
            decode_relay_offer(&other_key, NOW),
            Err(OfferError::NotOffer)
        );
        assert_eq!(
            decode_relay_offer(&offer(1, None), NOW),
            Err(OfferError::NotOffer)
        );
        let later = NOW + Duration::from_secs(601);
        assert_eq!(decode_relay_offer(&good, later), Err(OfferError::Expired));
    }

    #[test]
    fn a_read_keeps_good_offers_counts_the_rest_and_is_bounded() {
        let mut forged = offer(9, Some(b"http://b/ice"));
        forged.writer = Identity::from_seed([8; 32]).public_key();
        let records = vec![
            offer(1, Some(b"http://a/ice")),
            forged,
            offer(2, Some(b"not a url")),
            offer(1, Some(b"http://a2/ice")),
            offer(3, Some(b"https://c/ice")),
        ];
        let (offers, refused) = relay_offers(&records, NOW);
        let urls: Vec<&str> = offers.iter().map(|o| o.ice_url.as_str()).collect();
        assert_eq!(urls, ["http://a/ice", "https://c/ice"]);
        assert_eq!(refused, 3);

        let many: Vec<Record> = (0..40).map(|i| offer(i, Some(b"http://a/ice"))).collect();
        let (offers, refused) = relay_offers(&many, NOW);
        assert_eq!((offers.len(), refused), (MAX_OFFERS, 0));
    }
}
