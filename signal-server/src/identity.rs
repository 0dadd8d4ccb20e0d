//! The server's key pair and fresh randomness from the operating system.

use chordphone_overlay::Identity;
use std::path::Path;

/// Why the identity could not be had.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The operating system's random source failed.
    #[error("no randomness from the operating system: {0}")]
    Random(getrandom::Error),
    /// The identity file could not be read or written.
    #[error("identity file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The identity file does not hold 64 hex digits.
    #[error("identity file {0} must hold a 32-byte seed as 64 hex digits")]
    Format(String),
}

/// Fills an array from the operating system's random source.
pub fn random<const N: usize>() -> Result<[u8; N], IdentityError> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(IdentityError::Random)?;
    Ok(out)
}

/// The identity stored in `path` (created with a fresh seed if missing), or
/// a fresh one when there is no file.
pub fn load_or_create(path: Option<&Path>) -> Result<Identity, IdentityError> {
    let Some(path) = path else {
        return Ok(Identity::from_seed(random()?));
    };
    let io = |source| IdentityError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let seed = parse_hex(text.trim())
                .ok_or_else(|| IdentityError::Format(path.display().to_string()))?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seed: [u8; 32] = random()?;
            write_secret(path, &format!("{}\n", to_hex(&seed))).map_err(io)?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a new file readable by its owner only: it holds a secret key.
fn write_secret(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_hex_round_trips_and_garbage_is_refused() {
        let seed = [0xAB; 32];
        assert_eq!(parse_hex(&to_hex(&seed)), Some(seed));
        assert_eq!(parse_hex("zz"), None);
        assert_eq!(parse_hex(&"g".repeat(64)), None);
        assert_eq!(parse_hex(&"é".repeat(32)), None);
    }
}
