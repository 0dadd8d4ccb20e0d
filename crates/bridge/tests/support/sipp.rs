//! SIPp as an RTP echo: every packet to its media port goes back to where it
//! came from (`-rtp_echo`). Its built-in UAS only keeps it running; no SIP
//! is sent to it. Shared with the browser test in `e2e/`.
// Not every test that includes this calls all of it.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};

/// A running SIPp echoing RTP, killed when dropped.
pub struct SippEcho {
    child: Child,
    /// SIPp's media address (the trunk's address in the SDP).
    pub media: SocketAddr,
    _dir: tempfile::TempDir,
}

impl SippEcho {
    /// Whether `sipp` is on PATH.
    pub fn installed() -> bool {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("sipp").is_file()))
    }

    /// Starts SIPp on 127.0.0.1; `seconds` bounds its life should the test
    /// be killed before dropping it.
    pub fn start(seconds: u32) -> SippEcho {
        let media = free_port();
        let dir = tempfile::tempdir().expect("a directory for SIPp's files");
        let child = Command::new("sipp")
            .args(["-sn", "uas", "-rtp_echo", "-i", "127.0.0.1", "-nostdin"])
            .args(["-mp", &media.to_string(), "-p", &free_port().to_string()])
            .args(["-timeout", &format!("{seconds}s")])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp on PATH (apt-get install sip-tester, or scripts/setup-web.sh)");
        SippEcho {
            child,
            media: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), media),
            _dir: dir,
        }
    }
}

impl Drop for SippEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port free now (SIPp binds it a moment later).
fn free_port() -> u16 {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port on loopback")
}
