//! The dial plan: what a person typed (or the To of a sealed INVITE)
//! becomes an E.164 number, and only allowed destinations are called.
//!
//! Accepted forms: `+1 555 123-4567`, `(555) 123-4567` (national),
//! `1 555 123 4567` (national prefix), `011 33 1 23 45 67 89`
//! (international prefix), `tel:+15551234567;phone-context=...`,
//! `sip:+15551234567@chordphone`, and any of them in `<...>` with a
//! display name. Visual separators (space, `-`, `.`, `(`, `)`) go.

use crate::config::DialPlanConfig;

/// Longest E.164 number (digits after `+`), ITU-T E.164 §6.
pub const MAX_E164_DIGITS: usize = 15;

/// Longest dialled string looked at; longer input is refused before any work.
const MAX_INPUT: usize = 128;

/// A normalised number: `+` and 7 to 15 digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct E164(String);

impl E164 {
    /// `+` and the digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Display for E164 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a dialled string is not a number we call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// Nothing dialled, or not a phone number at all (letters, a name).
    #[error("that is not a phone number")]
    NotANumber,
    /// Too few digits.
    #[error("the number is too short")]
    TooShort,
    /// More than E.164 allows.
    #[error("the number is too long")]
    TooLong,
    /// A denied prefix, or not an allowed one.
    #[error("calls to that number are not allowed")]
    Forbidden,
}

/// The configured dial plan.
#[derive(Clone, Debug)]
pub struct DialPlan {
    config: DialPlanConfig,
}

impl DialPlan {
    /// The plan (prefixes as validated by [`GatewayConfig::validate`](crate::GatewayConfig::validate)).
    pub fn new(config: DialPlanConfig) -> DialPlan {
        DialPlan { config }
    }

    /// `input` as an E.164 number, or why not (allow/deny not applied).
    pub fn normalise(&self, input: &str) -> Result<E164, DialError> {
        if input.len() > MAX_INPUT {
            return Err(DialError::TooLong);
        }
        let dialled = user_part(input);
        let mut digits = String::with_capacity(dialled.len());
        let mut plus = false;
        for (i, c) in dialled.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => plus = true,
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(DialError::NotANumber),
            }
        }
        if digits.is_empty() {
            return Err(DialError::NotANumber);
        }
        let c = &self.config;
        let international = if plus {
            digits
        } else if !c.international_prefix.is_empty() && digits.starts_with(&c.international_prefix)
        {
            digits[c.international_prefix.len()..].to_owned()
        } else if !c.national_prefix.is_empty() && digits.starts_with(&c.national_prefix) {
            format!("{}{}", c.country_code, &digits[c.national_prefix.len()..])
        } else {
            format!("{}{}", c.country_code, digits)
        };
        if international.len() > MAX_E164_DIGITS {
            return Err(DialError::TooLong);
        }
        if international.len() < c.min_digits.max(1) || international.starts_with('0') {
            return Err(DialError::TooShort);
        }
        Ok(E164(format!("+{international}")))
    }

    /// Whether `number` may be called: a denied prefix never; otherwise
    /// any number when `allow` is empty, or one with an allowed prefix.
    pub fn check(&self, number: &E164) -> Result<(), DialError> {
        let n = number.as_str();
        if self.config.deny.iter().any(|p| n.starts_with(p.as_str())) {
            return Err(DialError::Forbidden);
        }
        if self.config.allow.is_empty()
            || self.config.allow.iter().any(|p| n.starts_with(p.as_str()))
        {
            Ok(())
        } else {
            Err(DialError::Forbidden)
        }
    }

    /// [`normalise`](Self::normalise) then [`check`](Self::check).
    pub fn route(&self, input: &str) -> Result<E164, DialError> {
        let n = self.normalise(input)?;
        self.check(&n)?;
        Ok(n)
    }
}

/// Whether `target` looks like a phone number rather than a name: `tel:`,
/// `+...`, or digits with separators (the tab's test; names start with a
/// letter).
pub fn is_number(target: &str) -> bool {
    let u = user_part(target);
    u.starts_with('+')
        || (u.bytes().any(|b| b.is_ascii_digit())
            && u.bytes()
                .all(|b| b.is_ascii_digit() || b" -.()".contains(&b)))
}

/// The dialled part of a target: the inside of `<...>`, then the number of
/// a `tel:` URI or the user of a `sip:` URI, without URI parameters.
fn user_part(input: &str) -> &str {
    let mut s = input.trim();
    if let (Some(open), Some(close)) = (s.find('<'), s.rfind('>')) {
        if open < close {
            s = &s[open + 1..close];
        }
    }
    let s = s.trim();
    let lower = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    let s = if lower("tel:") {
        &s[4..]
    } else if lower("sip:") || lower("sips:") {
        let rest = &s[s.find(':').map_or(0, |i| i + 1)..];
        rest.split('@').next().unwrap_or(rest)
    } else {
        s
    };
    s.split(';').next().unwrap_or(s).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanp() -> DialPlan {
        DialPlan::new(DialPlanConfig::default())
    }

    fn n(s: &str) -> Result<String, DialError> {
        nanp().normalise(s).map(|e| e.0)
    }

    #[test]
    fn every_way_of_writing_a_nanp_number_is_the_same_number() {
        for s in [
            "+1 555 123-4567",
            "+15551234567",
            "+1 (555) 123-4567",
            "+1.555.123.4567",
            "(555) 123-4567",
            "555-123-4567",
            "1 555 123 4567",
            "011 1 555 123 4567",
            "tel:+1-555-123-4567",
            "tel:+15551234567;phone-context=example.com",
            "TEL:+15551234567",
            "sip:+15551234567@chordphone",
            "sips:+15551234567@chordphone;user=phone",
            "\"Bob\" <sip:+15551234567@chordphone>;tag=abc",
            "<tel:+15551234567>",
            "  +15551234567  ",
        ] {
            assert_eq!(n(s), Ok("+15551234567".into()), "{s}");
        }
    }

    #[test]
    fn international_and_european_plans() {
        assert_eq!(n("011 33 1 23 45 67 89"), Ok("+33123456789".into()));
        let fr = DialPlan::new(DialPlanConfig {
            country_code: "33".into(),
            national_prefix: "0".into(),
            international_prefix: "00".into(),
            ..DialPlanConfig::default()
        });
        assert_eq!(fr.normalise("01 23 45 67 89").unwrap().0, "+33123456789");
        assert_eq!(
            fr.normalise("0044 20 7946 0018").unwrap().0,
            "+442079460018"
        );
        assert_eq!(fr.normalise("+44 20 7946 0018").unwrap().0, "+442079460018");
    }

    #[test]
    fn what_is_not_a_number_is_refused() {
        assert_eq!(n(""), Err(DialError::NotANumber));
        assert_eq!(n("tel:"), Err(DialError::NotANumber));
        assert_eq!(n("bob"), Err(DialError::NotANumber));
        assert_eq!(n("sip:bob@chordphone"), Err(DialError::NotANumber));
        assert_eq!(n("+1555abc4567"), Err(DialError::NotANumber));
        assert_eq!(n("1+5551234567"), Err(DialError::NotANumber));
        assert_eq!(n("++15551234567"), Err(DialError::NotANumber));
        assert_eq!(n("+1555*1234"), Err(DialError::NotANumber));
        assert_eq!(n("+1 555"), Err(DialError::TooShort));
        assert_eq!(n("+0123456789"), Err(DialError::TooShort));
        assert_eq!(n("+1234567890123456"), Err(DialError::TooLong));
        assert_eq!(n(&"1".repeat(500)), Err(DialError::TooLong));
        assert_eq!(n("+123456789012345"), Ok("+123456789012345".into()));
    }

    #[test]
    fn hostile_input_never_panics() {
        for s in [
            "<",
            ">",
            "><",
            "sip:",
            "sip:@",
            "tel:;",
            "<sip:>",
            "\u{00e9}+1",
            "+\u{0661}\u{0662}",
        ] {
            let _ = nanp().route(s);
        }
    }

    #[test]
    fn deny_wins_over_allow_and_allow_limits() {
        let plan = DialPlan::new(DialPlanConfig {
            allow: vec!["+1".into(), "+44".into()],
            deny: vec!["+1900".into(), "+1976".into()],
            ..DialPlanConfig::default()
        });
        assert!(plan.route("+1 555 123 4567").is_ok());
        assert!(plan.route("+44 20 7946 0018").is_ok());
        assert_eq!(plan.route("+1 900 555 0100"), Err(DialError::Forbidden));
        assert_eq!(plan.route("1 976 555 0100"), Err(DialError::Forbidden));
        assert_eq!(plan.route("+882 1234 5678"), Err(DialError::Forbidden));
        // Without allow, only deny applies.
        let open = DialPlan::new(DialPlanConfig {
            deny: vec!["+882".into()],
            ..DialPlanConfig::default()
        });
        assert!(open.route("+33 1 23 45 67 89").is_ok());
        assert_eq!(open.route("+882 1234 5678"), Err(DialError::Forbidden));
    }

    #[test]
    fn numbers_are_told_from_names() {
        for s in [
            "+15551234567",
            "tel:+15551234567",
            "555 1234",
            "(555) 123-4567",
            "sip:+1555@x",
        ] {
            assert!(is_number(s), "{s}");
        }
        for s in ["bob", "alice2", "sip:bob@chordphone", "", "b0b", "---"] {
            assert!(!is_number(s), "{s}");
        }
    }
}
