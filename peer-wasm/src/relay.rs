//! The relay settings' timing and the relay-only test setting, free of the
//! browser so that they test natively. The browser side (fetching `/ice`,
//! keeping the ICE servers) is in `ice`.

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

/// `?relay=only`: every peer connection of the tab uses relayed candidates
/// only (`iceTransportPolicy: 'relay'`), so that tests prove the relay path.
pub fn relay_only(param: Option<&str>) -> bool {
    param.is_some_and(|p| p.trim().eq_ignore_ascii_case("only"))
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
