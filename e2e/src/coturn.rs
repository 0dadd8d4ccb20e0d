//! A real coturn (`turnserver`, the Debian package `coturn`) on loopback,
//! sharing a secret with the server the way the README's deployment for
//! scale does (`use-auth-secret`): the server signs TURN REST credentials,
//! coturn checks them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A coturn process, killed when dropped.
#[derive(Debug)]
pub struct Coturn {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    secret: String,
}

/// A program on PATH (coturn's tools among others).
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A loopback port free for both UDP and TCP right now.
pub fn free_udp_tcp_port() -> crate::Result<u16> {
    for _ in 0..100 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let port = udp.local_addr().map_err(|e| e.to_string())?.port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both UDP and TCP".into())
}

/// Runs `turnserver` on 127.0.0.1:`port` (UDP and TCP), its files in `dir`.
/// Loopback peers are allowed: every test peer is on loopback.
fn spawn(dir: &Path, port: u16, secret: &str) -> crate::Result<Child> {
    let bin = on_path("turnserver")
        .ok_or("coturn's turnserver is not on PATH (scripts/setup-web.sh installs it)")?;
    let path = |name: &str| dir.join(name).display().to_string();
    Command::new(bin)
        .args(["-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1"])
        .arg(format!("--listening-port={port}"))
        .arg("--use-auth-secret")
        .arg(format!("--static-auth-secret={secret}"))
        .args(["--realm=chordphone.test", "--fingerprint", "--no-tls"])
        .args(["--no-dtls", "--no-cli", "--allow-loopback-peers"])
        .arg("--simple-log")
        .arg(format!("--userdb={}", path("turndb")))
        .arg(format!("--pidfile={}", path("pid")))
        .arg(format!("--log-file={}", path("log")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn turnserver: {e}"))
}

impl Coturn {
    /// True if `turnserver` is on PATH (`scripts/setup-web.sh` installs it).
    pub fn installed() -> bool {
        on_path("turnserver").is_some()
    }

    /// Starts coturn on 127.0.0.1 (UDP and TCP on one port), checking
    /// TURN REST credentials signed with `secret`. coturn answers once it
    /// is up; clients retransmit until then.
    pub fn start(secret: &str) -> crate::Result<Coturn> {
        let port = free_udp_tcp_port()?;
        let dir = tempfile::Builder::new()
            .prefix("chordphone-coturn-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let child = spawn(dir.path(), port, secret)?;
        Ok(Coturn {
            child,
            dir,
            port,
            secret: secret.to_owned(),
        })
    }

    /// Kills coturn and starts it again on the same port: every allocation
    /// it held is gone, as when a relay restarts.
    pub fn restart(&mut self) -> crate::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.dir.path(), self.port, &self.secret)?;
        Ok(())
    }

    /// The UDP and TCP port coturn listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its TURN URLs, over UDP and over TCP.
    pub fn urls(&self) -> [String; 2] {
        ["udp", "tcp"].map(|t| format!("turn:127.0.0.1:{}?transport={t}", self.port))
    }

    /// What coturn logged so far (for failure messages).
    pub fn log(&self) -> String {
        // coturn names its log file after the one given, with a date.
        std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("log"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
