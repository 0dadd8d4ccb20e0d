//! Records signed by a key other than the node's: a user's key pair signs
//! in the app (a name claim the user holds across devices), and the node
//! only carries the record to its owner.

use super::{Node, Phase};
use crate::event::{LocalError, QueryId};
use crate::record::Record;
use crate::time::Time;
use crate::wire::{Mode, Request};

impl Node {
    /// Stores a record that another key pair signed (a user's key, which
    /// signs in the app, not in the node). Checked here like [`Node::put`]
    /// checks its own: the signature, the value size, and a lifetime that is
    /// neither over nor longer than the store accepts. The owner checks
    /// everything again, and answers `Store(NotOwner)` if another writer
    /// holds the key.
    pub fn put_signed(&mut self, record: Record, now: Time) -> Result<QueryId, LocalError> {
        if self.phase == Phase::Left {
            return Err(LocalError::Left);
        }
        if record
            .value
            .as_ref()
            .is_some_and(|v| v.len() > self.cold.config.store.max_value)
        {
            return Err(LocalError::TooLarge);
        }
        if record.expires <= now || record.expires > now + self.cold.config.store.max_ttl {
            return Err(LocalError::BadTtl);
        }
        if !record.verify() {
            return Err(LocalError::BadSignature);
        }
        let key = record.key;
        Ok(self.start_query(key, Mode::ToKey, Request::Put(Box::new(record)), now))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::event::{Answer, Event, LocalError};
    use crate::id::Id;
    use crate::identity::Identity;
    use crate::node::Node;
    use crate::record::{Kind, Record};
    use crate::time::Time;
    use core::time::Duration;

    const T0: Time = Time(1_700_000_000_000_000);

    fn solo() -> Node {
        let mut n = Node::new(Identity::from_seed([1; 32]), Config::default(), 1, T0);
        n.create(T0);
        while n.poll_output().is_some() {}
        n
    }

    fn user_record(user: &Identity, expires: Time) -> Record {
        Record::sign(
            user,
            Id::for_key("claim alice"),
            Kind::Single,
            1,
            expires,
            Some(b"alice".to_vec()),
        )
    }

    #[test]
    fn a_record_signed_by_a_user_key_is_stored() {
        let mut n = solo();
        let user = Identity::from_seed([9; 32]);
        let record = user_record(&user, T0 + Duration::from_secs(60));
        let q = n.put_signed(record.clone(), T0).expect("checks pass");
        let outcome = core::iter::from_fn(|| n.poll_event()).find_map(|e| match e {
            Event::QueryDone { id, outcome, .. } if id == q => Some(outcome),
            _ => None,
        });
        assert_eq!(outcome, Some(Ok(Answer::Stored)));
        // Stored under the user's key, not the node's.
        assert!(n.records().any(|r| *r == record));
        assert_ne!(record.writer, n.identity().public_key());
    }

    #[test]
    fn bad_signatures_sizes_and_lifetimes_are_refused_locally() {
        let mut n = solo();
        let user = Identity::from_seed([9; 32]);
        let mut forged = user_record(&user, T0 + Duration::from_secs(60));
        forged.value = Some(b"mallory".to_vec());
        assert_eq!(n.put_signed(forged, T0), Err(LocalError::BadSignature));
        let expired = user_record(&user, T0);
        assert_eq!(n.put_signed(expired, T0), Err(LocalError::BadTtl));
        let too_long = user_record(&user, T0 + Duration::from_secs(30 * 24 * 3600));
        assert_eq!(n.put_signed(too_long, T0), Err(LocalError::BadTtl));
        let big = Record::sign(
            &user,
            Id::for_key("big"),
            Kind::Single,
            1,
            T0 + Duration::from_secs(60),
            Some(vec![0; n.config().store.max_value + 1]),
        );
        assert_eq!(n.put_signed(big, T0), Err(LocalError::TooLarge));
        // Nothing was sent or stored.
        assert_eq!(n.records().count(), 0);
        assert!(
            core::iter::from_fn(|| n.poll_event()).all(|e| !matches!(e, Event::QueryDone { .. }))
        );
    }
}
