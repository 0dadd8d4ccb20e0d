//! Names, addresses of record and the record keys derived from them.
//!
//! A name is what a person types ("Bob"); its address of record (AOR) is
//! `sip:bob@chordphone`; the records that say who holds the name and which
//! devices answer for it live under keys hashed from the AOR.

use chordphone_overlay::Id;

use crate::error::PhoneError;

/// The overlay name used when none is configured.
pub const DEFAULT_OVERLAY_NAME: &str = "chordphone";

/// Longest name, in characters.
pub const MAX_NAME: usize = 32;

/// The canonical form of a name: trimmed, lower-cased, 1 to 32 characters
/// of `a-z 0-9 . _ -`.
pub fn normalize_name(name: &str) -> Result<String, PhoneError> {
    let name = name.trim().to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(name)
    } else {
        Err(PhoneError::BadName)
    }
}

/// The AOR of a (canonical) name in an overlay: `sip:<name>@<overlay>`.
pub fn aor_of(name: &str, overlay_name: &str) -> String {
    format!("sip:{name}@{overlay_name}")
}

/// The name part of an AOR (`bob` of `sip:bob@chordphone`), for the texts
/// shown to people.
pub fn name_of(aor: &str) -> &str {
    let rest = aor.strip_prefix("sip:").unwrap_or(aor);
    rest.split('@').next().unwrap_or(rest)
}

/// The AOR a call or message target names: `bob`, `Bob`,
/// `sip:bob@chordphone`, `bob@chordphone`. Another overlay's name, `sips:`,
/// `tel:` and telephone numbers are [`PhoneError::BadTarget`] (numbers
/// are the gateway's business).
pub fn parse_target(target: &str, overlay_name: &str) -> Result<String, PhoneError> {
    let t = target.trim().to_ascii_lowercase();
    if t.starts_with("tel:") || t.starts_with("sips:") {
        return Err(PhoneError::BadTarget);
    }
    let t = t.strip_prefix("sip:").unwrap_or(&t);
    let (user, host) = match t.split_once('@') {
        Some((user, host)) => (user, Some(host)),
        None => (t, None),
    };
    if host.is_some_and(|h| h != overlay_name.to_ascii_lowercase()) {
        return Err(PhoneError::BadTarget);
    }
    let digits = user.trim_start_matches('+');
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PhoneError::BadTarget);
    }
    let name = normalize_name(user)?;
    Ok(aor_of(&name, &overlay_name.to_ascii_lowercase()))
}

/// Where the claim on an AOR lives (`Kind::Single`, written by the user key).
pub fn claim_key(aor: &str) -> Id {
    key_for(b"chordphone claim\0", aor)
}

/// Where the device bindings of an AOR live (`Kind::Multi`, one per node).
pub fn devices_key(aor: &str) -> Id {
    key_for(b"chordphone devices\0", aor)
}

pub(crate) fn key_for(domain: &[u8], aor: &str) -> Id {
    let mut bytes = Vec::with_capacity(domain.len() + aor.len());
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(aor.as_bytes());
    Id::hash(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_lowercased_and_limited() {
        assert_eq!(normalize_name("  Bob "), Ok("bob".to_owned()));
        assert_eq!(normalize_name("a.b_c-9"), Ok("a.b_c-9".to_owned()));
        for bad in ["", "   ", "bob smith", "bob@x", "élan", &"x".repeat(33)] {
            assert_eq!(normalize_name(bad), Err(PhoneError::BadName), "{bad:?}");
        }
        assert!(normalize_name(&"x".repeat(32)).is_ok());
    }

    #[test]
    fn targets_name_an_aor_of_this_overlay() {
        let aor = Ok("sip:bob@chordphone".to_owned());
        for t in [
            "bob",
            "Bob",
            " sip:bob@chordphone",
            "SIP:Bob@Chordphone",
            "bob@chordphone",
        ] {
            assert_eq!(parse_target(t, "chordphone"), aor, "{t:?}");
        }
        for t in [
            "sip:bob@elsewhere",
            "tel:+4930123",
            "+4930123",
            "0301234",
            "sips:bob@chordphone",
        ] {
            assert_eq!(
                parse_target(t, "chordphone"),
                Err(PhoneError::BadTarget),
                "{t:?}"
            );
        }
        assert_eq!(
            parse_target("bob smith", "chordphone"),
            Err(PhoneError::BadName)
        );
        assert_eq!(name_of("sip:bob@chordphone"), "bob");
    }

    #[test]
    fn claim_and_devices_keys_differ_per_aor() {
        let a = "sip:alice@chordphone";
        let b = "sip:bob@chordphone";
        assert_ne!(claim_key(a), claim_key(b));
        assert_ne!(claim_key(a), devices_key(a));
        assert_eq!(
            claim_key(a),
            Id::hash(b"chordphone claim\0sip:alice@chordphone")
        );
    }
}
