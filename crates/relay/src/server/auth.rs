//! Long-term credential authentication with TURN REST credentials, and
//! the nonces that go with it: stateless, an HMAC under the relay's seed of
//! the issue time and the client's address, fresh for `nonce_lifetime`.

use super::{Authed, Client, Refusal, Relay, SOFTWARE};
use crate::credential::{self, CredentialError};
use crate::stun::{self, attr, Builder, Class, Message};
use core::time::Duration;
use hmac::{Hmac, Mac};
use sha1::Sha1;

impl Relay {
    fn nonce(&self, client: Client, issued: u64) -> String {
        let mut s = format!("{issued:016x}");
        for b in &self.nonce_mac(client, issued)[..8] {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    fn nonce_mac(&self, client: Client, issued: u64) -> [u8; 20] {
        let mut mac =
            <Hmac<Sha1> as Mac>::new_from_slice(&self.nonce_key).unwrap_or_else(|_| unreachable!());
        mac.update(&issued.to_be_bytes());
        mac.update(format!("{:?}", client).as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A nonce is ours (bound to the client), and fresh.
    fn nonce_ok(&self, client: Client, nonce: &str, now: Duration) -> bool {
        let Some(issued) = nonce
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
        else {
            return false;
        };
        now.as_secs().saturating_sub(issued) < self.config.nonce_lifetime.as_secs()
            && issued <= now.as_secs()
            && self.nonce(client, issued) == nonce
    }

    fn challenge(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        code: u16,
        reason: &str,
        now: Duration,
    ) {
        let nonce = self.nonce(client, now.as_secs());
        let reply = Builder::new(msg.method, Class::Error, msg.tid)
            .error(code, reason)
            .attr(attr::REALM, self.config.realm.as_bytes())
            .attr(attr::NONCE, nonce.as_bytes())
            .attr(attr::SOFTWARE, SOFTWARE)
            .finish(None);
        self.reply_to(client, reply);
    }

    /// The long-term credential check with REST credentials; answers the
    /// client itself when it fails.
    pub(super) fn authenticate(
        &mut self,
        client: Client,
        msg: &Message<'_>,
        now: Duration,
    ) -> Option<Authed> {
        if !msg.has_integrity() {
            // The usual first request: tell the realm and a nonce.
            self.challenge(client, msg, 401, "Unauthorized", now);
            return None;
        }
        let (Some(username), Some(realm), Some(nonce)) = (
            msg.text(attr::USERNAME),
            msg.text(attr::REALM),
            msg.text(attr::NONCE),
        ) else {
            self.refuse(Refusal::BadRequest);
            self.error(client, msg, 400, "Bad Request", None);
            return None;
        };
        if realm != self.config.realm || !self.nonce_ok(client, nonce, now) {
            self.refuse(Refusal::StaleNonce);
            self.challenge(client, msg, 438, "Stale Nonce", now);
            return None;
        }
        let claim = match credential::parse(username) {
            Ok(c) => c,
            Err(_) => {
                self.refuse(Refusal::BadCredential);
                self.challenge(client, msg, 401, "Unauthorized", now);
                return None;
            }
        };
        let password = credential::password(&self.config.secret, username);
        let key = stun::long_term_key(username, realm, &password);
        if !msg.check_integrity(&key) {
            self.refuse(Refusal::BadCredential);
            self.challenge(client, msg, 401, "Unauthorized", now);
            return None;
        }
        if credential::check_expiry(&claim, now.as_secs()) == Err(CredentialError::Expired) {
            self.refuse(Refusal::Expired);
            self.challenge(client, msg, 401, "Unauthorized", now);
            return None;
        }
        let account = claim
            .user
            .split('/')
            .next()
            .unwrap_or(claim.user)
            .to_owned();
        Some(Authed { key, account })
    }
}
