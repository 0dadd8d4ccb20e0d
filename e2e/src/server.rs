//! The server under test as a child process, so that a test can kill it
//! abruptly and start it again on the same port, as an operator would.

use crate::{http, paths, ports, process};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a server may take to answer `/healthz` after it is started.
const READY_BOUND: Duration = Duration::from_secs(30);
/// How long a graceful shutdown may take before the process is killed.
const STOP_BOUND: Duration = Duration::from_secs(10);

/// Command-line options beyond `--listen` and `--static-dir`.
#[derive(Clone, Debug, Default)]
pub struct ServerOpts {
    /// `--join` URLs of other servers' `/ws` endpoints.
    pub join: Vec<String>,
    /// `--max-connections`.
    pub max_connections: Option<u32>,
    /// `--max-links`.
    pub max_links: Option<u32>,
    /// `--rate`.
    pub rate: Option<u32>,
    /// `--queue`.
    pub queue: Option<u32>,
    /// Keep the node identity in a file in the server's temp dir, so a
    /// restart comes back as the same node.
    pub identity_file: bool,
    /// A TOML configuration file's text (`--config`), such as a
    /// `[gateway]` table.
    pub config_toml: Option<String>,
}

/// A running (or stopped) server process with its port, options and log.
#[derive(Debug)]
pub struct Server {
    label: String,
    port: u16,
    bin: PathBuf,
    static_dir: PathBuf,
    opts: ServerOpts,
    dir: TempDir,
    child: Option<Child>,
}

impl Server {
    /// Starts a server on a free port and waits until it is ready.
    pub async fn start(label: &str, opts: ServerOpts) -> crate::Result<Server> {
        Server::start_on(label, ports::free_port()?, opts).await
    }

    /// Starts a server on `port` and waits until it is ready.
    pub async fn start_on(label: &str, port: u16, opts: ServerOpts) -> crate::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("chordphone-e2e-{label}-"))
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let mut server = Server {
            label: label.to_string(),
            port,
            bin: paths::server_bin()?,
            static_dir: paths::dist_dir()?,
            opts,
            dir,
            child: None,
        };
        server.spawn()?;
        server.wait_ready().await?;
        Ok(server)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--listen".to_string(),
            format!("127.0.0.1:{}", self.port),
            "--static-dir".to_string(),
            self.static_dir.display().to_string(),
        ];
        for url in &self.opts.join {
            args.extend(["--join".to_string(), url.clone()]);
        }
        let numeric = [
            ("--max-connections", self.opts.max_connections),
            ("--max-links", self.opts.max_links),
            ("--rate", self.opts.rate),
            ("--queue", self.opts.queue),
        ];
        for (flag, value) in numeric {
            if let Some(v) = value {
                args.extend([flag.to_string(), v.to_string()]);
            }
        }
        if self.opts.config_toml.is_some() {
            args.extend([
                "--config".to_string(),
                self.dir.path().join("server.toml").display().to_string(),
            ]);
        }
        if self.opts.identity_file {
            args.extend([
                "--identity-file".to_string(),
                self.dir.path().join("identity").display().to_string(),
            ]);
        }
        args
    }

    fn spawn(&mut self) -> crate::Result<()> {
        if let Some(text) = &self.opts.config_toml {
            std::fs::write(self.dir.path().join("server.toml"), text)
                .map_err(|e| format!("server.toml: {e}"))?;
        }
        let args = self.args();
        // One log across restarts, each run headed by its command line.
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("server log: {e}"))?;
        let _ = writeln!(log, "=== {} {}", self.bin.display(), args.join(" "));
        drop(log);
        let (out, err) = process::log_file(&self.log_path())?;
        let child = Command::new(&self.bin)
            .args(&args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            // Plain text in the log file.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until `/healthz` answers 200, failing early if the process
    /// exits (its log is in the message).
    pub async fn wait_ready(&mut self) -> crate::Result<()> {
        let start = Instant::now();
        let url = format!("{}/healthz", self.base_url());
        let mut last = String::new();
        while start.elapsed() < READY_BOUND {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(exit)) = child.try_wait() {
                    self.child = None;
                    return Err(format!(
                        "server {} exited during start-up ({exit})\n{}",
                        self.label,
                        self.log_tail(60)
                    ));
                }
            } else {
                return Err(format!("server {} is not running", self.label));
            }
            match http::get(&url).await {
                Ok((200, _)) => return Ok(()),
                Ok((code, body)) => last = format!("status {code}: {body}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "server {} not ready within {READY_BOUND:?} ({last})\n{}",
            self.label,
            self.log_tail(60)
        ))
    }

    /// A name for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The WebSocket link endpoint, `ws://127.0.0.1:PORT/ws`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// The app page for a tab called `name`; it joins at once.
    pub fn page_url(&self, name: &str) -> String {
        format!("{}/?name={name}", self.base_url())
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Kills the process abruptly (SIGKILL): no goodbye to anyone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Graceful shutdown (SIGTERM); killed if it takes longer than
    /// [`STOP_BOUND`]. Returns whether it exited by itself.
    pub async fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        process::terminate(child.id());
        let start = Instant::now();
        while start.elapsed() < STOP_BOUND {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the process again on the same port with the same options.
    pub async fn restart(&mut self) -> crate::Result<()> {
        self.kill();
        self.spawn()?;
        self.wait_ready().await
    }

    /// `GET /status` as JSON.
    pub async fn status(&self) -> crate::Result<serde_json::Value> {
        http::get_json(&format!("{}/status", self.base_url())).await
    }

    /// `GET /healthz` as JSON.
    pub async fn health(&self) -> crate::Result<serde_json::Value> {
        http::get_json(&format!("{}/healthz", self.base_url())).await
    }

    /// `GET /metrics` (Prometheus text).
    pub async fn metrics(&self) -> crate::Result<String> {
        let url = format!("{}/metrics", self.base_url());
        match http::get(&url).await? {
            (200, body) => Ok(body),
            (code, body) => Err(format!("GET {url}: status {code}: {body}")),
        }
    }

    /// The value of one unlabelled counter or gauge in `metrics` text
    /// (0 when it is absent).
    pub fn metric(metrics: &str, name: &str) -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// The last `lines` lines of the server's log, headed by its label.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        format!(
            "--- log of server {} ({}), last {} lines:\n{}",
            self.label,
            self.log_path().display(),
            all.len() - from,
            all[from..].join("\n")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // A failing test shows what the server said.
            eprintln!("{}", self.log_tail(80));
        }
    }
}
