//! TURN REST credentials ("A REST API for access to TURN services", the
//! scheme behind coturn's `use-auth-secret` / `static-auth-secret`).
//!
//! The username carries its own expiry, `<expiry unix seconds>:<user>`, and
//! the password is base64(HMAC-SHA1(secret, username)). Whoever holds the
//! secret can issue and check credentials with no shared state, so several
//! relays behind one secret accept what one server issued.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Longest user part accepted, in bytes: usernames travel in every TURN
/// request, and coturn limits the whole username to 512 bytes.
pub const MAX_USER: usize = 128;

/// A credential as a client uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// `<expiry>:<user>`.
    pub username: String,
    /// base64(HMAC-SHA1(secret, username)).
    pub password: String,
    /// Unix seconds after which relays refuse it.
    pub expires: u64,
}

/// A username taken apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claim<'a> {
    /// Unix seconds after which the credential is refused.
    pub expires: u64,
    /// Who it was issued to.
    pub user: &'a str,
}

/// Why a credential is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The username is not `<expiry>:<user>` with a sane user part.
    #[error("malformed username")]
    Malformed,
    /// The expiry has passed.
    #[error("expired")]
    Expired,
    /// The password is not the secret's signature of the username.
    #[error("wrong signature")]
    BadSignature,
}

/// Issues a credential for `user` that expires `lifetime` seconds after
/// `now` (Unix seconds). Fails if `user` is not acceptable as a user part.
pub fn issue(
    secret: &[u8],
    user: &str,
    now: u64,
    lifetime: u64,
) -> Result<Credential, CredentialError> {
    check_user(user)?;
    let expires = now.saturating_add(lifetime);
    let username = format!("{expires}:{user}");
    let password = password(secret, &username);
    Ok(Credential {
        username,
        password,
        expires,
    })
}

/// The password for `username` under `secret`.
pub fn password(secret: &[u8], username: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(signature(secret, username))
}

fn signature(secret: &[u8], username: &str) -> [u8; 20] {
    // HMAC accepts keys of any length; this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(username.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Takes a username apart without checking its signature or expiry.
pub fn parse(username: &str) -> Result<Claim<'_>, CredentialError> {
    let (expiry, user) = username.split_once(':').ok_or(CredentialError::Malformed)?;
    if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CredentialError::Malformed);
    }
    let expires = expiry.parse().map_err(|_| CredentialError::Malformed)?;
    check_user(user)?;
    Ok(Claim { expires, user })
}

fn check_user(user: &str) -> Result<(), CredentialError> {
    let ok = !user.is_empty()
        && user.len() <= MAX_USER
        && user.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    ok.then_some(()).ok_or(CredentialError::Malformed)
}

/// Checks a username and password against `secret` at `now` (Unix
/// seconds): the signature first, so that a forged username learns nothing
/// about expiry handling.
pub fn check<'a>(
    secret: &[u8],
    username: &'a str,
    password: &str,
    now: u64,
) -> Result<Claim<'a>, CredentialError> {
    let claim = parse(username)?;
    let expected = self::password(secret, username);
    if !constant_time_eq(expected.as_bytes(), password.as_bytes()) {
        return Err(CredentialError::BadSignature);
    }
    check_expiry(&claim, now)?;
    Ok(claim)
}

/// Refuses a claim whose expiry has passed at `now` (Unix seconds).
pub fn check_expiry(claim: &Claim<'_>, now: u64) -> Result<(), CredentialError> {
    if claim.expires <= now {
        Err(CredentialError::Expired)
    } else {
        Ok(())
    }
}

/// When a holder should ask for a fresh credential: halfway through its
/// life, so that a slow or failed renewal still leaves it half the
/// lifetime to try again before relays refuse it.
pub fn renew_at(issued: u64, expires: u64) -> u64 {
    issued + expires.saturating_sub(issued) / 2
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_an_independent_hmac() {
        // `printf '1700000000:alice' | openssl dgst -sha1 -hmac s3cret -binary | base64`
        assert_eq!(
            password(b"s3cret", "1700000000:alice"),
            "TtElzSjT0GdnTQ9xdcRNxx96yQs="
        );
    }

    #[test]
    fn issue_check_expire_and_forge() {
        let c = issue(b"k", "10.0.0.1", 100, 60).unwrap();
        assert_eq!(c.expires, 160);
        assert!(check(b"k", &c.username, &c.password, 159).is_ok());
        assert_eq!(
            check(b"k", &c.username, &c.password, 160),
            Err(CredentialError::Expired)
        );
        assert_eq!(
            check(b"other", &c.username, &c.password, 100),
            Err(CredentialError::BadSignature)
        );
        // Moving the expiry breaks the signature.
        let forged = c.username.replace("160", "999");
        assert_eq!(
            check(b"k", &forged, &c.password, 100),
            Err(CredentialError::BadSignature)
        );
        assert_eq!(renew_at(100, 160), 130);
    }

    #[test]
    fn malformed_usernames_are_refused() {
        for bad in ["", "alice", ":alice", "12:", "x1:alice", "1:a:b", "1:a b"] {
            assert_eq!(parse(bad), Err(CredentialError::Malformed), "{bad}");
        }
        assert!(issue(b"k", &"a".repeat(MAX_USER + 1), 0, 1).is_err());
        assert_eq!(
            parse("99999999999999999999999:a"),
            Err(CredentialError::Malformed)
        );
    }
}
