//! The relay settings' timing, the choice among relays offered in the
//! overlay, and the relay-only test setting, free of the browser so that
//! they test natively. The browser side (fetching `/ice`, reading
//! `service:relay`, keeping the ICE servers) is in `ice`.

use chordphone_overlay::{NodeId, RelayOffer};
use core::time::Duration;

/// The first retry after a failed fetch of the settings.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// The longest wait between two retries: a server that is gone is asked
/// about this often, no more.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// Shortest and longest wait before renewing: a hostile or broken answer
/// must neither make the tab ask in a loop nor keep credentials for ever.
const MIN_RENEW: Duration = Duration::from_secs(30);
const MAX_RENEW: Duration = Duration::from_secs(12 * 3600);
/// The wait when the answer names no `renewAfter`.
const DEFAULT_RENEW: Duration = Duration::from_secs(600);

/// Most relays of the overlay asked for credentials in one round: each
/// costs a fetch with its own timeout.
pub const MAX_RELAY_TRIES: usize = 3;

/// The `/ice` URLs of relays offered in the overlay, nearest first going
/// clockwise from this node `me`: each tab starts at a different relay,
/// so that tabs spread over the relays without any random choice.
pub fn by_distance(mut offers: Vec<RelayOffer>, me: &NodeId) -> Vec<String> {
    offers.sort_by_key(|o| me.distance_key(&o.node));
    offers.into_iter().map(|o| o.ice_url).collect()
}

/// The relays to ask, in order: at most [`MAX_RELAY_TRIES`], without the
/// tab's own server (`own`, its `/ice` URL with or without a query),
/// which has just said it has no relay.
pub fn relays_to_ask(offered: &[String], own: &str) -> Vec<String> {
    let own = own.split('?').next().unwrap_or(own);
    offered
        .iter()
        .filter(|u| u.as_str() != own)
        .take(MAX_RELAY_TRIES)
        .cloned()
        .collect()
}

/// Whether an ICE server URL is a relay (TURN) rather than STUN only.
pub fn is_turn(url: &str) -> bool {
    url.starts_with("turn:") || url.starts_with("turns:")
}

/// `?relay=only`: every peer connection of the tab uses relayed candidates
/// only (`iceTransportPolicy: 'relay'`), so that tests prove the relay path.
pub fn relay_only(param: Option<&str>) -> bool {
    param.is_some_and(|p| p.trim().eq_ignore_ascii_case("only"))
}

/// The longest wait between two reads of the relays offered in the
/// overlay while none is found: a tab without a relay cannot link to peers
/// it reaches only through one, and a read costs one request.
const MAX_LOOKUP_RETRY: Duration = Duration::from_secs(30);

/// How long to wait after `misses` reads of the offered relays in a row
/// found none usable (1 or more): like [`retry_after`], up to 30 s.
pub fn lookup_retry_after(misses: u32) -> Duration {
    retry_after(misses).min(MAX_LOOKUP_RETRY)
}

/// How long to wait after `failures` fetches in a row failed (1 or more):
/// doubling from two seconds up to five minutes.
pub fn retry_after(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1u32 << doublings).min(MAX_RETRY)
}

/// How long to keep the settings before fetching new ones, from the
/// server's `renewAfter` (seconds), kept within sane bounds.
pub fn renew_after(secs: Option<f64>) -> Duration {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => {
            Duration::from_secs_f64(s.min(MAX_RENEW.as_secs_f64())).clamp(MIN_RENEW, MAX_RENEW)
        }
        _ => DEFAULT_RENEW,
    }
}

/// What a TURN error code met while gathering means for the person, if it
/// is the relay refusing us (RFC 8656: 401 bad or expired credentials, 403
/// forbidden, 437/438 a stale allocation or nonce, 441 wrong credentials,
/// 486 over quota). Unreachable relays (701) and the like are not refusals:
/// the tab may reach peers directly all the same.
pub fn refusal_text(code: u16, text: &str) -> Option<String> {
    let why = match code {
        401 | 441 => "it did not accept this tab's credentials, which are wrong or expired",
        403 => "it is not allowed to relay for this tab",
        486 => "this tab is over its relay quota",
        _ => return None,
    };
    let text = text.trim().trim_end_matches('.');
    let detail = if text.is_empty() {
        format!("{code}")
    } else {
        format!("{code} {text}")
    };
    Some(format!(
        "The relay server refused this tab ({detail}): {why}. \
         People who can only be reached through a relay cannot be reached."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_refusals_are_said_in_words_and_other_errors_are_not_refusals() {
        let t = refusal_text(401, "Unauthorized.").unwrap_or_default();
        assert!(
            t.contains("credentials") && t.contains("(401 Unauthorized)"),
            "{t}"
        );
        let t = refusal_text(403, "").unwrap_or_default();
        assert!(t.contains("not allowed") && t.contains("(403)"), "{t}");
        assert_eq!(refusal_text(701, "unreachable"), None);
        assert_eq!(refusal_text(0, ""), None);
    }

    fn offer(top: u64, url: &str) -> RelayOffer {
        RelayOffer {
            node: NodeId::from_u64_top(top),
            ice_url: url.to_owned(),
        }
    }

    #[test]
    fn relays_are_tried_nearest_first_without_the_own_server_and_bounded() {
        let offers = vec![
            offer(10, "http://a/ice"),
            offer(30, "http://c/ice"),
            offer(20, "http://b/ice"),
        ];
        // From 15: b (20) and c (30) ahead, a (10) only after wrapping round.
        let order = by_distance(offers.clone(), &NodeId::from_u64_top(15));
        assert_eq!(order, ["http://b/ice", "http://c/ice", "http://a/ice"]);
        // Another tab starts elsewhere.
        let order = by_distance(offers, &NodeId::from_u64_top(25));
        assert_eq!(order, ["http://c/ice", "http://a/ice", "http://b/ice"]);

        let ask = relays_to_ask(&order, "http://c/ice?peer=00ff");
        assert_eq!(ask, ["http://a/ice", "http://b/ice"]);
        let many: Vec<String> = (0..10).map(|i| format!("http://r{i}/ice")).collect();
        assert_eq!(
            relays_to_ask(&many, "http://own/ice").len(),
            MAX_RELAY_TRIES
        );
        assert!(relays_to_ask(&[], "http://own/ice").is_empty());
    }

    #[test]
    fn only_turn_urls_are_relays() {
        assert!(is_turn("turn:127.0.0.1:3478?transport=udp"));
        assert!(is_turn("turns:relay.example:5349"));
        assert!(!is_turn("stun:stun.example:3478"));
        assert!(!is_turn("http://a/ice"));
    }

    #[test]
    fn relay_only_needs_the_word_only() {
        assert!(relay_only(Some("only")));
        assert!(relay_only(Some(" ONLY ")));
        assert!(!relay_only(Some("1")));
        assert!(!relay_only(None));
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_after(1), Duration::from_secs(2));
        assert_eq!(retry_after(2), Duration::from_secs(4));
        assert_eq!(retry_after(4), Duration::from_secs(16));
        assert_eq!(retry_after(9), MAX_RETRY);
        assert_eq!(retry_after(u32::MAX), MAX_RETRY);
        assert_eq!(lookup_retry_after(2), Duration::from_secs(4));
        assert_eq!(lookup_retry_after(9), MAX_LOOKUP_RETRY);
    }

    #[test]
    fn renewal_follows_the_server_within_bounds() {
        assert_eq!(renew_after(Some(3000.0)), Duration::from_secs(3000));
        assert_eq!(renew_after(Some(1.0)), MIN_RENEW);
        assert_eq!(renew_after(Some(1e30)), MAX_RENEW);
        assert_eq!(renew_after(Some(f64::NAN)), DEFAULT_RENEW);
        assert_eq!(renew_after(Some(-5.0)), DEFAULT_RENEW);
        assert_eq!(renew_after(None), DEFAULT_RENEW);
    }
}
