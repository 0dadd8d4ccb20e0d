//! Where the pieces under test live: the repository, the built app and the
//! server binary.

use std::path::{Path, PathBuf};

/// The repository root (the parent of this crate).
pub fn repo_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The built app, `<repo>/dist`, checked to hold `index.html`.
pub fn dist_dir() -> crate::Result<PathBuf> {
    let dist = repo_root().join("dist");
    if dist.join("index.html").is_file() {
        Ok(dist)
    } else {
        Err(format!(
            "{} is missing: run `trunk build --release` at the repository root \
             (after `eval \"$(bash scripts/setup-web.sh --print-path)\"`)",
            dist.join("index.html").display()
        ))
    }
}

/// The `signal-server` binary: `CHORDPHONE_SERVER_BIN`, else next to the
/// running executable. Test executables live in `target/<profile>/deps/`,
/// binaries in `target/<profile>/`, so both that directory and its parent
/// are tried.
pub fn server_bin() -> crate::Result<PathBuf> {
    if let Some(bin) = std::env::var_os("CHORDPHONE_SERVER_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!(
                "CHORDPHONE_SERVER_BIN={} is not a file",
                bin.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join("signal-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(format!(
        "no signal-server binary (tried {}): run `cargo build --release -p signal-server` \
         with the same CARGO_TARGET_DIR, or set CHORDPHONE_SERVER_BIN",
        tried.join(", ")
    ))
}
