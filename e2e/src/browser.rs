//! Headless Chromium driven through chromedriver: one [`Browser`] is one
//! Chromium process (its own fresh profile, so its own WebRTC peers and
//! session storage), holding several [`Tab`]s. Killing a browser closes all
//! its tabs abruptly, as a crash or a pulled plug would.

use crate::{http, ports, process};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use thirtyfour::common::capabilities::chromium::ChromiumLikeCapabilities;
use thirtyfour::{DesiredCapabilities, LoggingPrefsLogLevel, WebDriver, WindowHandle};
use tokio::sync::Mutex;

/// How long chromedriver may take to answer `/status`.
const DRIVER_READY_BOUND: Duration = Duration::from_secs(30);
/// Upper bound for one script (a lookup or a link set-up that hangs fails
/// the call instead of the whole test run).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the page may take to load the wasm and expose its API.
const LOAD_BOUND: Duration = Duration::from_secs(60);

fn chromium_bin() -> String {
    std::env::var("CHROMIUM_BIN").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver_bin() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

#[derive(Debug)]
struct DriverProcess {
    child: std::sync::Mutex<Child>,
    port: u16,
    dir: TempDir,
}

impl Drop for DriverProcess {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A chromedriver process on a free port. Every [`Browser`] holds a clone,
/// so the driver outlives the sessions it serves: a session quit after its
/// driver died would orphan its Chromium.
#[derive(Clone, Debug)]
pub struct Chromedriver(Arc<DriverProcess>);

impl Chromedriver {
    /// Starts chromedriver and waits until it accepts sessions.
    pub async fn start() -> crate::Result<Chromedriver> {
        let port = ports::free_port()?;
        let dir = tempfile::Builder::new()
            .prefix("chordphone-e2e-chromedriver-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let log = dir.path().join("chromedriver.log");
        let (out, err) = process::log_file(&log)?;
        let child = Command::new(chromedriver_bin())
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| {
                format!(
                    "spawn {}: {e} (install chromium-driver)",
                    chromedriver_bin()
                )
            })?;
        let driver = Chromedriver(Arc::new(DriverProcess {
            child: std::sync::Mutex::new(child),
            port,
            dir,
        }));
        let start = Instant::now();
        let url = format!("{}/status", driver.url());
        let mut last = String::new();
        while start.elapsed() < DRIVER_READY_BOUND {
            match http::get(&url).await {
                Ok((200, _)) => return Ok(driver),
                Ok((code, body)) => last = format!("status {code}: {body}"),
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "chromedriver not ready within {DRIVER_READY_BOUND:?}: {last}\n{}",
            std::fs::read_to_string(driver.0.dir.path().join("chromedriver.log"))
                .unwrap_or_default()
        ))
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.0.port)
    }
}

/// One Chromium process and the tabs it shows.
#[derive(Debug)]
pub struct Browser {
    label: String,
    driver: Option<WebDriver>,
    profile: TempDir,
    /// The window WebDriver commands currently go to, and the lock that
    /// serialises commands: one session has one current window.
    current: Mutex<Option<WindowHandle>>,
    /// The window the session started with, until a tab takes it.
    spare: std::sync::Mutex<Option<WindowHandle>>,
    killed: AtomicBool,
    /// Console lines read so far (chromedriver hands each out once).
    console: std::sync::Mutex<Vec<String>>,
    // Last field: dropped after the session quit.
    _chromedriver: Chromedriver,
}

/// How a [`Browser`] is launched beyond the flags every browser gets.
#[derive(Clone, Copy, Debug, Default)]
pub struct LaunchOpts {
    /// Fake capture devices: the camera shows Chromium's moving pattern,
    /// the microphone plays a pure tone of this many Hz, and pages may use
    /// both without a prompt (or play media without a gesture). `None`: no
    /// media flags at all, the browser as the other tests know it.
    pub tone_hz: Option<u32>,
    /// WebRTC may use the loopback interface (`--allow-loopback-in-peer-connection`):
    /// for a peer on 127.0.0.1 such as the media bridge's tests.
    pub webrtc_loopback: bool,
}

impl Browser {
    /// Launches a headless Chromium with a fresh profile.
    pub async fn launch(chromedriver: &Chromedriver, label: &str) -> crate::Result<Arc<Browser>> {
        Browser::launch_with(chromedriver, label, LaunchOpts::default()).await
    }

    /// Launches a headless Chromium with a fresh profile and `opts`.
    pub async fn launch_with(
        chromedriver: &Chromedriver,
        label: &str,
        opts: LaunchOpts,
    ) -> crate::Result<Arc<Browser>> {
        let profile = tempfile::Builder::new()
            .prefix(&format!("chordphone-e2e-{label}-profile-"))
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let mut args = chromium_args(profile.path());
        if let Some(hz) = opts.tone_hz {
            // The file lives in the profile, so it goes with the browser.
            let wav = crate::media::write_tone_wav(profile.path(), hz)?;
            args.extend(fake_media_args(&wav));
        }
        if opts.webrtc_loopback {
            args.push("--allow-loopback-in-peer-connection".to_string());
        }
        let mut caps = DesiredCapabilities::chrome();
        let fail = |e: thirtyfour::error::WebDriverError| format!("capabilities: {e}");
        caps.set_binary(&chromium_bin()).map_err(fail)?;
        // Console output and uncaught errors of the pages, for failures.
        caps.set_browser_log_level(LoggingPrefsLogLevel::All)
            .map_err(fail)?;
        for arg in args {
            caps.add_arg(&arg).map_err(fail)?;
        }
        let driver = WebDriver::new(chromedriver.url(), caps)
            .await
            .map_err(|e| format!("browser {label}: new session: {e}"))?;
        // Build the browser before anything else can fail, so that its Drop
        // quits the session and kills the processes.
        let browser = Browser {
            label: label.to_string(),
            driver: Some(driver),
            profile,
            current: Mutex::new(None),
            spare: std::sync::Mutex::new(None),
            killed: AtomicBool::new(false),
            console: std::sync::Mutex::new(Vec::new()),
            _chromedriver: chromedriver.clone(),
        };
        let driver = browser.driver()?;
        driver
            .set_script_timeout(SCRIPT_TIMEOUT)
            .await
            .map_err(|e| format!("browser {label}: script timeout: {e}"))?;
        let first = driver
            .window()
            .await
            .map_err(|e| format!("browser {label}: window: {e}"))?;
        *browser.current.lock().await = Some(first.clone());
        if let Ok(mut spare) = browser.spare.lock() {
            *spare = Some(first);
        }
        Ok(Arc::new(browser))
    }

    fn driver(&self) -> crate::Result<&WebDriver> {
        if self.killed.load(Ordering::SeqCst) {
            return Err(format!("browser {} was killed", self.label));
        }
        self.driver
            .as_ref()
            .ok_or_else(|| format!("browser {} has quit", self.label))
    }

    /// A name for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Opens `url` in a new window of this browser (the first tab takes the
    /// window the session started with). Returns once the page has loaded
    /// and exposes `window.chordphone`.
    pub async fn open_tab(
        self: &Arc<Self>,
        name: &str,
        url: &str,
    ) -> crate::Result<crate::api::Tab> {
        let tab = self.open_page(name, url).await?;
        tab.wait_loaded(LOAD_BOUND).await?;
        Ok(tab)
    }

    /// Opens `url` in a new window without waiting for the app to load.
    pub async fn open_page(
        self: &Arc<Self>,
        name: &str,
        url: &str,
    ) -> crate::Result<crate::api::Tab> {
        let driver = self.driver()?;
        let mut current = self.current.lock().await;
        let spare = self.spare.lock().ok().and_then(|mut s| s.take());
        let handle = match spare {
            Some(handle) => handle,
            // A window rather than a tab: each is in the foreground, so
            // none is throttled as a background tab.
            None => driver
                .new_window()
                .await
                .map_err(|e| format!("browser {}: new window: {e}", self.label))?,
        };
        driver
            .switch_to_window(handle.clone())
            .await
            .map_err(|e| format!("browser {}: switch: {e}", self.label))?;
        *current = Some(handle.clone());
        driver
            .goto(url)
            .await
            .map_err(|e| format!("browser {}: open {url}: {e}", self.label))?;
        Ok(crate::api::Tab::new(self.clone(), handle, name))
    }

    /// Makes `window` the one WebDriver commands go to; holds the switch
    /// until the guard is dropped, so that no other tab's command slips in.
    async fn focus(
        &self,
        window: &WindowHandle,
    ) -> crate::Result<(
        &WebDriver,
        tokio::sync::MutexGuard<'_, Option<WindowHandle>>,
    )> {
        let driver = self.driver()?;
        let mut current = self.current.lock().await;
        if current.as_ref() != Some(window) {
            driver
                .switch_to_window(window.clone())
                .await
                .map_err(|e| format!("browser {}: switch: {e}", self.label))?;
            *current = Some(window.clone());
        }
        Ok((driver, current))
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the tab's
    /// window. A returned Promise is awaited by WebDriver.
    pub async fn execute(
        &self,
        window: &WindowHandle,
        script: &str,
        args: Vec<Value>,
    ) -> crate::Result<Value> {
        let (driver, _current) = self.focus(window).await?;
        let ret = driver
            .execute(script, args)
            .await
            .map_err(|e| format!("browser {}: script: {e}", self.label))?;
        Ok(ret.json().clone())
    }

    /// A PNG of what the tab's window shows, the window made `width` by
    /// `height` pixels first.
    pub async fn screenshot(
        &self,
        window: &WindowHandle,
        (width, height): (u32, u32),
    ) -> crate::Result<Vec<u8>> {
        let (driver, _current) = self.focus(window).await?;
        driver
            .set_window_rect(0, 0, width, height)
            .await
            .map_err(|e| format!("browser {}: resize: {e}", self.label))?;
        driver
            .screenshot_as_png()
            .await
            .map_err(|e| format!("browser {}: screenshot: {e}", self.label))
    }

    /// The last `n` console lines of this browser's pages (all tabs).
    pub async fn console_tail(&self, n: usize) -> Vec<String> {
        if let Ok(driver) = self.driver() {
            let _current = self.current.lock().await;
            if let Ok(entries) = driver.browser_log().await {
                if let Ok(mut console) = self.console.lock() {
                    console.extend(
                        entries
                            .into_iter()
                            .map(|e| format!("{} {} {}", e.timestamp, e.level, e.message)),
                    );
                }
            }
        }
        let console = self.console.lock().map(|c| c.clone()).unwrap_or_default();
        console[console.len().saturating_sub(n)..].to_vec()
    }

    /// The profile flag that names this browser's processes.
    fn marker(&self) -> String {
        format!("--user-data-dir={}", self.profile.path().display())
    }

    /// Ids of this browser's processes.
    pub fn pids(&self) -> std::collections::BTreeSet<u32> {
        process::pids_with_marker(&self.marker())
    }

    /// Kills every process of this browser with SIGKILL, closing all its
    /// tabs without a goodbye, and waits until they are gone.
    pub async fn kill(&self) -> crate::Result<()> {
        self.killed.store(true, Ordering::SeqCst);
        let start = Instant::now();
        // Remember every process seen: a child whose parent died first is
        // reparented and no longer found through the browser's process tree.
        let mut seen = std::collections::BTreeSet::new();
        loop {
            seen.extend(self.pids());
            let alive: std::collections::BTreeSet<u32> = seen
                .iter()
                .copied()
                .filter(|p| process::alive(*p))
                .collect();
            if alive.is_empty() {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "browser {}: processes {alive:?} survive SIGKILL",
                    self.label
                ));
            }
            process::kill_all(&alive);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.take() {
            if self.killed.load(Ordering::SeqCst) {
                // The session's browser is gone: do not ask chromedriver
                // to talk to it, just forget the session.
                let _ = driver.leak();
            } else {
                // Quits the session (a blocking DELETE on its own thread).
                drop(driver);
            }
        }
        // Whatever survived the quit (or a failed quit) goes now.
        let left = process::kill_and_wait(&self.pids(), Duration::from_secs(10));
        if !left.is_empty() {
            eprintln!("browser {}: processes {left:?} survive SIGKILL", self.label);
        }
    }
}

/// Chromium flags that work as root on this closed network (see
/// shared/ENVIRONMENT.md), plus: no throttling of timers in windows that
/// are not focused (the overlay's stabilization rides on timers).
fn chromium_args(profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        "--window-size=800,600",
        // Every name but loopback fails at once instead of stalling on a
        // network that is not there; except the mDNS names (*.local) that
        // hide WebRTC host candidates: mapped to NOTFOUND too, no ICE pair
        // ever forms and no data channel opens.
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE *.local",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args
}

/// Chromium flags for fake capture: the camera's moving pattern, `wav` as
/// the microphone (looped), no permission prompt, and media that plays
/// without a user gesture (the tests never click before a call is heard).
fn fake_media_args(wav: &Path) -> Vec<String> {
    vec![
        "--use-fake-ui-for-media-stream".to_string(),
        "--use-fake-device-for-media-stream".to_string(),
        format!("--use-file-for-fake-audio-capture={}", wav.display()),
        "--autoplay-policy=no-user-gesture-required".to_string(),
    ]
}
