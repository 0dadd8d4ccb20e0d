//! The two records behind a name: the claim (who holds the name: the user
//! key that signed it first) and the device bindings (which nodes answer
//! for it), with the checks a reader makes before trusting either.

use chordphone_overlay::{node_id_of, verify, Identity, Kind, NodeId, Record, Sig, Time};
use serde::{Deserialize, Serialize};

use crate::names::{claim_key, devices_key};

/// Longest device label kept in a binding, in bytes.
pub const MAX_LABEL: usize = 64;

/// Most devices one name rings at once (bindings beyond are ignored).
pub const MAX_DEVICES: usize = 8;

/// Domain of a binding's user signature: worthless as any other signature.
const BINDING_DOMAIN: &[u8] = b"chordphone binding v1\0";

/// The value of a claim record: the AOR the user key holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// `sip:<name>@<overlay>`.
    pub aor: String,
}

/// The value of a device record: one node answers for the AOR, vouched for
/// by the user key that holds the name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The AOR.
    pub aor: String,
    /// The user's public key (the claim's writer).
    pub user_key: [u8; 32],
    /// The device's node public key (the record's writer).
    pub node_key: [u8; 32],
    /// A label shown to the user's other devices ("browser", "laptop").
    pub label: String,
    /// When the binding stops counting.
    pub expires: Time,
    /// The user key's signature over the domain and every field above.
    pub user_sig: Sig,
}

/// A device a name can be reached on: its node and the key to seal to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// The device's node id.
    pub node: NodeId,
    /// The device's node public key.
    pub node_key: [u8; 32],
    /// Its label.
    pub label: String,
}

impl Binding {
    /// A binding of the node `node_key` to `aor`, signed by `user`.
    pub fn sign(
        user: &Identity,
        node_key: [u8; 32],
        aor: &str,
        label: &str,
        expires: Time,
    ) -> Binding {
        let mut label = label.to_owned();
        while label.len() > MAX_LABEL {
            label.pop();
        }
        let mut b = Binding {
            aor: aor.to_owned(),
            user_key: user.public_key(),
            node_key,
            label,
            expires,
            user_sig: Sig([0; 64]),
        };
        b.user_sig = Sig(user.sign(&b.signed_bytes()));
        b
    }

    /// Whether `user_sig` is the user key's signature over every field.
    pub fn verify(&self) -> bool {
        verify(&self.user_key, &self.signed_bytes(), &self.user_sig.0)
    }

    /// The record value.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// A record value read back; `None` if it is not a binding.
    pub fn decode(bytes: &[u8]) -> Option<Binding> {
        postcard::from_bytes(bytes).ok()
    }

    /// Whether this binding lets the node that wrote a record (`writer`)
    /// speak for `aor` now: it is for `aor`, vouched for by `user_key` (the
    /// claim's writer) with a signature that verifies, names the writer's
    /// node and has not expired.
    pub fn vouches(&self, writer: &[u8; 32], aor: &str, user_key: &[u8; 32], now: Time) -> bool {
        self.aor == aor
            && self.user_key == *user_key
            && node_id_of(&self.node_key) == node_id_of(writer)
            && self.expires > now
            && self.verify()
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut m =
            Vec::with_capacity(BINDING_DOMAIN.len() + 128 + self.aor.len() + self.label.len());
        m.extend_from_slice(BINDING_DOMAIN);
        put_len_prefixed(&mut m, self.aor.as_bytes());
        m.extend_from_slice(&self.user_key);
        m.extend_from_slice(&self.node_key);
        put_len_prefixed(&mut m, self.label.as_bytes());
        m.extend_from_slice(&self.expires.as_micros().to_be_bytes());
        m
    }
}

/// Appends `bytes` with its length in front, so that no two field lists
/// share their signed bytes.
pub(crate) fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The claim record on `aor`, signed by `user`, valid until `expires`.
pub fn claim_record(user: &Identity, aor: &str, version: u64, expires: Time) -> Record {
    let value = postcard::to_allocvec(&Claim {
        aor: aor.to_owned(),
    })
    .unwrap_or_default();
    Record::sign(
        user,
        claim_key(aor),
        Kind::Single,
        version,
        expires,
        Some(value),
    )
}

/// The AOR a claim record proves, if it is one: it verifies, has not
/// expired, is single-valued and lives at the claim key of the AOR it names.
pub fn claimed_aor(record: &Record, now: Time) -> Option<String> {
    if record.kind != Kind::Single || record.expires <= now || !record.verify() {
        return None;
    }
    let claim: Claim = postcard::from_bytes(record.value.as_deref()?).ok()?;
    (record.key == claim_key(&claim.aor)).then_some(claim.aor)
}

/// The valid claim on `aor` among the records a get returned.
pub fn find_claim<'a>(records: &'a [Record], aor: &str, now: Time) -> Option<&'a Record> {
    records
        .iter()
        .find(|r| claimed_aor(r, now).as_deref() == Some(aor))
}

/// The devices among the records of `devices_key(aor)` that a reader may
/// trust: the record verifies and lives there; its binding is for `aor`,
/// vouched for by `user_key` (the claim's writer) with a signature that
/// verifies; the binding's node key is the record writer's (same node id);
/// and it has not expired. At most [`MAX_DEVICES`], ordered by node id,
/// one per node.
pub fn valid_devices(records: &[Record], aor: &str, user_key: &[u8; 32], now: Time) -> Vec<Device> {
    let key = devices_key(aor);
    let mut out: Vec<Device> = records
        .iter()
        .filter(|r| r.key == key && r.kind == Kind::Multi && r.expires > now)
        .filter_map(|r| {
            let b = Binding::decode(r.value.as_deref()?)?;
            (b.vouches(&r.writer, aor, user_key, now) && r.verify()).then(|| Device {
                node: node_id_of(&b.node_key),
                node_key: b.node_key,
                label: b.label,
            })
        })
        .collect();
    out.sort_by_key(|d| d.node);
    out.dedup_by(|a, b| a.node == b.node);
    out.truncate(MAX_DEVICES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;

    const NOW: Time = Time(1_700_000_000_000_000);
    const AOR: &str = "sip:alice@chordphone";

    fn binding_record(user: &Identity, node: &Identity, aor: &str, expires: Time) -> Record {
        let b = Binding::sign(user, node.public_key(), aor, "tab", expires);
        Record::sign(
            node,
            devices_key(aor),
            Kind::Multi,
            1,
            expires,
            Some(b.encode()),
        )
    }

    #[test]
    fn a_claim_proves_its_aor_only_where_it_belongs() {
        let user = Identity::from_seed([1; 32]);
        let later = NOW + Duration::from_secs(60);
        let r = claim_record(&user, AOR, 1, later);
        assert_eq!(claimed_aor(&r, NOW).as_deref(), Some(AOR));
        assert_eq!(claimed_aor(&r, later), None, "expired");
        let mut moved = r.clone();
        moved.key = claim_key("sip:bob@chordphone");
        assert_eq!(claimed_aor(&moved, NOW), None, "bad signature");
        let elsewhere = Record::sign(
            &user,
            claim_key("sip:bob@chordphone"),
            Kind::Single,
            1,
            later,
            r.value.clone(),
        );
        assert_eq!(claimed_aor(&elsewhere, NOW), None, "at another AOR's key");
    }

    #[test]
    fn only_bindings_vouched_for_by_the_claim_holder_count() {
        let user = Identity::from_seed([1; 32]);
        let mallory = Identity::from_seed([2; 32]);
        let tab = Identity::from_seed([3; 32]);
        let other_tab = Identity::from_seed([4; 32]);
        let later = NOW + Duration::from_secs(300);
        let good = binding_record(&user, &tab, AOR, later);
        let by_mallory = binding_record(&mallory, &other_tab, AOR, later);
        // A node republishing another node's binding under its own key.
        let mut stolen =
            Binding::decode(good.value.as_deref().unwrap_or_default()).expect("binding");
        stolen.label = "stolen".into();
        let stolen = Record::sign(
            &other_tab,
            devices_key(AOR),
            Kind::Multi,
            1,
            later,
            Some(stolen.encode()),
        );
        let copied = Record::sign(
            &other_tab,
            devices_key(AOR),
            Kind::Multi,
            1,
            later,
            good.value.clone(),
        );
        let stale = binding_record(&user, &other_tab, AOR, NOW);
        let records = [good, by_mallory, stolen, copied, stale];
        let devices = valid_devices(&records, AOR, &user.public_key(), NOW);
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].node, tab.node_id());
        assert_eq!(devices[0].label, "tab");
    }
}
