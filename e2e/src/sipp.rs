//! SIPp as a child process: a scenario in its own directory, on a free
//! UDP port of 127.0.0.1, killed when dropped. SIPp runs with `-nostdin`,
//! `-m 1` (one call, then it exits: 0 if the call went as its scenario
//! says) and a global `-timeout`; every wait here is bounded too.
//!
//! Needs `sipp` on PATH (Debian's `sip-tester`; `scripts/setup-web.sh`
//! installs it).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest SIPp may take to finish its call once the test is done with it.
const FINISH: Duration = Duration::from_secs(40);

/// A SIPp process, killed when dropped.
#[derive(Debug)]
pub struct Sipp {
    child: Child,
    dir: tempfile::TempDir,
}

impl Sipp {
    /// SIPp with `args` (plus one call, a timeout, errors traced), working
    /// in `dir`.
    pub fn start(args: &[&str], dir: tempfile::TempDir) -> Sipp {
        // A `-timeout` in `args` replaces the default bound.
        let timeout: &[&str] = if args.contains(&"-timeout") {
            &[]
        } else {
            &["-timeout", "30s"]
        };
        let child = Command::new("sipp")
            .args(args)
            .args(["-nostdin", "-m", "1", "-trace_err", "-trace_msg"])
            .args(timeout)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp on PATH (apt-get install sip-tester, or scripts/setup-web.sh)");
        Sipp { child, dir }
    }

    /// SIPp playing the scenario `xml` (written as `name` in its own
    /// directory) on a free port of 127.0.0.1, and that address.
    pub fn scenario(name: &str, xml: &str) -> (Sipp, SocketAddr) {
        Sipp::scenario_with(name, xml, &[])
    }

    /// [`Sipp::scenario`] with more of SIPp's options (`-rtp_echo`, `-mp`,
    /// `-timeout` ...).
    pub fn scenario_with(name: &str, xml: &str, extra: &[&str]) -> (Sipp, SocketAddr) {
        let port = free_udp_port();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join(name);
        std::fs::write(&file, xml).expect("the scenario written");
        let file = file.to_string_lossy().into_owned();
        let port_arg = port.to_string();
        let mut args = vec!["-sf", &file, "-i", "127.0.0.1", "-p", &port_arg];
        args.extend_from_slice(extra);
        let sipp = Sipp::start(&args, dir);
        (sipp, SocketAddr::from(([127, 0, 0, 1], port)))
    }

    /// Waits (bounded) for SIPp to exit; its exit code (0: the call passed).
    pub async fn finish(&mut self) -> i32 {
        let start = Instant::now();
        while start.elapsed() < FINISH {
            if let Some(status) = self.child.try_wait().expect("sipp's status") {
                return status.code().unwrap_or(-1);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("sipp did not exit; errors:\n{}", self.errors());
    }

    /// SIPp's exit code once it has exited (0: the call passed).
    pub fn exited(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// SIPp's error log (unexpected messages and the like) and every
    /// message it sent and received.
    pub fn errors(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with("errors.log") || name.ends_with("messages.log") {
                    out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free UDP port on 127.0.0.1 (the kernel's pick, released for SIPp).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    s.local_addr().expect("its address").port()
}
