//! A tab of the app and its `window.chordphone` API, called from Rust.

use crate::browser::Browser;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thirtyfour::WindowHandle;

/// Calls `window.chordphone[method](...args)` and settles the result into
/// `{ok: value}` or `{err: message}`, so that a rejected Promise comes back
/// as the app's own error message rather than a WebDriver error.
const CALL: &str = r#"
const [method, args] = arguments;
return (async () => {
  const api = window.chordphone;
  if (!api) return { err: "window.chordphone is not defined" };
  if (typeof api[method] !== "function") return { err: "window.chordphone." + method + " is not a function" };
  try {
    const v = await api[method](...args);
    return { ok: v === undefined ? null : JSON.parse(JSON.stringify(v)) };
  } catch (e) {
    return { err: String(e && e.message ? e.message : e) };
  }
})();
"#;

/// The answer to `lookup(key)`.
#[derive(Clone, Debug, Deserialize)]
pub struct Lookup {
    /// Owner of SHA-1(key), 40 hex digits.
    pub owner: String,
    /// Overlay hops taken.
    pub hops: u32,
    /// Time the lookup took, measured in the page.
    pub ms: f64,
    /// Nodes on the way.
    #[serde(default)]
    pub path: Vec<String>,
}

/// One tab (its own window) in a [`Browser`], running the app as node `name`.
#[derive(Debug)]
pub struct Tab {
    browser: Arc<Browser>,
    window: WindowHandle,
    name: String,
}

impl Tab {
    pub(crate) fn new(browser: Arc<Browser>, window: WindowHandle, name: &str) -> Tab {
        Tab {
            browser,
            window,
            name: name.to_string(),
        }
    }

    /// The `?name=` the page was opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The browser process this tab lives in.
    pub fn browser(&self) -> &Arc<Browser> {
        &self.browser
    }

    /// A PNG of what the tab shows in a window of `size` pixels.
    pub async fn screenshot(&self, size: (u32, u32)) -> crate::Result<Vec<u8>> {
        self.browser.screenshot(&self.window, size).await
    }

    /// Runs a script in this tab.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> crate::Result<Value> {
        self.browser.execute(&self.window, script, args).await
    }

    /// Polls until the wasm has loaded and `window.chordphone` exists.
    pub async fn wait_loaded(&self, bound: Duration) -> crate::Result<()> {
        let start = Instant::now();
        let mut last = Value::Null;
        while start.elapsed() < bound {
            let probe = "return { api: typeof window.chordphone, state: document.readyState, \
                         title: document.title, body: (document.body ? document.body.innerText : '').slice(0, 300) };";
            match self.execute(probe, vec![]).await {
                Ok(v) if v["api"] == "object" => return Ok(()),
                Ok(v) => last = v,
                Err(e) => last = Value::String(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "tab {}: window.chordphone not there within {bound:?}; page: {last}",
            self.name
        ))
    }

    /// Calls an API method, returning its value or the app's error.
    pub async fn call(&self, method: &str, args: Vec<Value>) -> crate::Result<Value> {
        let out = self
            .execute(CALL, vec![json!(method), Value::Array(args)])
            .await?;
        if let Some(err) = out.get("err") {
            return Err(format!(
                "tab {}: {method}: {}",
                self.name,
                err.as_str().unwrap_or_default()
            ));
        }
        Ok(out.get("ok").cloned().unwrap_or(Value::Null))
    }

    /// `status()` as JSON.
    pub async fn status(&self) -> crate::Result<Value> {
        self.call("status", vec![]).await
    }

    /// `lookup(key)`.
    pub async fn lookup(&self, key: &str) -> crate::Result<Lookup> {
        let v = self.call("lookup", vec![json!(key)]).await?;
        serde_json::from_value(v.clone()).map_err(|e| {
            format!(
                "tab {}: lookup({key}): unexpected answer {v}: {e}",
                self.name
            )
        })
    }

    /// `put(key, value)`; resolves `true` on success.
    pub async fn put(&self, key: &str, value: &str) -> crate::Result<()> {
        match self.call("put", vec![json!(key), json!(value)]).await? {
            Value::Bool(true) => Ok(()),
            other => Err(format!("tab {}: put({key}): answered {other}", self.name)),
        }
    }

    /// `get(key)`: the values stored under `key`.
    pub async fn get(&self, key: &str) -> crate::Result<Vec<String>> {
        let v = self.call("get", vec![json!(key)]).await?;
        serde_json::from_value(v.clone())
            .map_err(|e| format!("tab {}: get({key}): unexpected answer {v}: {e}", self.name))
    }

    /// `link(id)`: negotiates a link to node `id` through the ring; returns
    /// the set-up time in ms the page measured.
    pub async fn link(&self, id: &str) -> crate::Result<f64> {
        let v = self.call("link", vec![json!(id)]).await?;
        v.get("ms")
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("tab {}: link({id}): unexpected answer {v}", self.name))
    }

    /// `note(id, text[, service])`: a message to node `id` through the ring;
    /// resolves once that node took it.
    pub async fn note(&self, id: &str, text: &str, service: Option<u16>) -> crate::Result<Value> {
        let mut args = vec![json!(id), json!(text)];
        if let Some(s) = service {
            args.push(json!(s));
        }
        self.call("note", args).await
    }

    /// `notes()`: the notes this tab received, as (sender id, text).
    pub async fn notes(&self) -> crate::Result<Vec<(String, String)>> {
        let v = self.call("notes", vec![]).await?;
        let list = v
            .as_array()
            .ok_or_else(|| format!("tab {}: notes(): unexpected answer {v}", self.name))?;
        Ok(list
            .iter()
            .map(|n| {
                let field = |k: &str| {
                    n.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (field("from"), field("text"))
            })
            .collect())
    }
}
