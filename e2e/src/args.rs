//! Command-line flags of the benchmark binaries.

/// The number after `flag`, taken from `rest`.
pub fn number(rest: &mut impl Iterator<Item = String>, flag: &str) -> Result<usize, String> {
    rest.next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{flag} needs a number"))
}
