//! A small Chrome DevTools Protocol client for the live view's browser
//! test: start headless Chromium on a page, evaluate JavaScript in it,
//! wait for a condition, take a screenshot. One websocket (tungstenite)
//! to the browser, attached to the page's target in flat mode.
//!
//! Chromium is killed and its fresh profile directory removed on drop.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a page may take to reach a condition, and Chromium to start;
/// a stop for a hung browser, not a measure of speed.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    profile: PathBuf,
}

impl Browser {
    /// Starts `chromium` headless on `url`, with a fresh profile and
    /// nothing that reaches the network by itself.
    pub fn open(chromium: &Path, url: &str) -> Result<Browser> {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let profile = std::env::temp_dir().join(format!("mosaic-chromium-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)?;
        let child = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
            .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
            .args(["--remote-debugging-port=0", "--window-size=1200,2400"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", chromium.display()))?;
        let endpoint = match devtools_endpoint(&profile) {
            Ok(e) => e,
            Err(e) => {
                kill(child, &profile);
                return Err(e);
            }
        };
        let (ws, _) = tungstenite::connect(endpoint.as_str()).context("cannot connect to Chromium's DevTools")?;
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(PATIENCE))?;
        }
        let mut browser = Browser { child, ws, session: String::new(), next_id: 0, profile };
        browser.attach(url)?;
        Ok(browser)
    }

    /// Attaches to the page showing `url` (flat mode: one socket, messages
    /// tagged with the session).
    fn attach(&mut self, url: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        let target = loop {
            let targets = self.call("Target.getTargets", json!({}), false)?;
            let pages = targets["targetInfos"].as_array().cloned().unwrap_or_default();
            if let Some(page) = pages.iter().find(|t| t["type"] == "page" && t["url"].as_str() == Some(url)) {
                break page["targetId"].as_str().unwrap_or_default().to_string();
            }
            if Instant::now() > deadline {
                bail!("Chromium shows no page at {url}: {pages:?}");
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let attached = self.call("Target.attachToTarget", json!({"targetId": target, "flatten": true}), false)?;
        self.session = attached["sessionId"].as_str().context("no sessionId")?.to_string();
        Ok(())
    }

    /// Sends one command and returns its result, skipping events.
    fn call(&mut self, method: &str, params: Value, in_page: bool) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if in_page {
            message["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::Text(message.to_string().into()))?;
        loop {
            let reply = self.ws.read().with_context(|| format!("no answer from Chromium to {method}"))?;
            let Message::Text(text) = reply else { continue };
            let value: Value = serde_json::from_str(text.as_str())?;
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    bail!("{method}: {error}");
                }
                return Ok(value["result"].clone());
            }
        }
    }

    /// Evaluates `js` in the page and returns its value.
    pub fn eval(&mut self, js: &str) -> Result<Value> {
        let result = self.call("Runtime.evaluate", json!({"expression": js, "returnByValue": true}), true)?;
        if let Some(e) = result.get("exceptionDetails") {
            bail!("`{js}` threw: {e}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits until `js` is true in the page; fails, saying `what`, when
    /// PATIENCE runs out (a hung page, not a slow one).
    pub fn wait_until(&mut self, js: &str, what: &str) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.eval(js)? == json!(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let status = self.eval("document.getElementById('status')?.textContent")?;
                bail!("the page never showed {what} (status: {status})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves a PNG of the whole page to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        let shot =
            self.call("Page.captureScreenshot", json!({"format": "png", "captureBeyondViewport": true}), true)?;
        let data = shot["data"].as_str().ok_or_else(|| anyhow!("no screenshot data"))?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        std::fs::create_dir_all(path.parent().context("a screenshot goes in a directory")?)?;
        std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Reads the port and path Chromium writes to `DevToolsActivePort` in
/// its profile once it listens.
fn devtools_endpoint(profile: &Path) -> Result<String> {
    let file = profile.join("DevToolsActivePort");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                return Ok(format!("ws://127.0.0.1:{port}{path}"));
            }
        }
        if Instant::now() > deadline {
            bail!("Chromium did not open its DevTools port ({} never appeared)", file.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn kill(mut child: Child, profile: &Path) {
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(profile);
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
