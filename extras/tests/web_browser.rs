//! Promise 23 in a real browser: the service of `examples/web/06_actix_web.rs`
//! (the example's own code) is started on a free port, headless Chromium
//! loads `/supervision/ui`, and the rendered DOM is checked: every node of
//! the tree is shown with its state, a restart triggered through the API
//! shows up without a reload, and failed nodes stand out. A screenshot of
//! the page is written to `target/ui.png` (and to `docs/ui.png` with
//! `SAVE_UI_SCREENSHOT=1`).
//!
//! The browser is driven through the Chrome DevTools Protocol over a
//! WebSocket; the page is waited on with a `MutationObserver`, not polled.
//! Chromium is found as `$CHROMIUM`, `chromium` or `chromium-browser`;
//! without one the test says so and passes, unless `REQUIRE_BROWSER=1`
//! (`.ci/run` sets it, and installs Chromium when missing).

mod common;

#[allow(dead_code)]
#[path = "../../examples/web/06_actix_web.rs"]
mod app;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use actix_supervisor::TreeSnapshot;
use app::{start, Config, RatesService};
use awc::ws;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};

const TOKEN: &str = "a-browser-test-token-long-enough";
const TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium binary, if any.
fn chromium() -> Option<String> {
    let candidates = std::env::var("CHROMIUM")
        .ok()
        .into_iter()
        .chain(["chromium".to_string(), "chromium-browser".to_string()]);
    for candidate in candidates {
        let found = Command::new(&candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if found {
            return Some(candidate);
        }
    }
    None
}

/// A headless Chromium, killed on drop.
struct Browser {
    process: Child,
    devtools: String,
    _profile: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Browser {
    /// Starts Chromium and waits for the line that gives its DevTools
    /// address.
    fn launch(binary: &str) -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "actix-supervisor-browser-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut process = Command::new(binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                "--window-size=1280,760",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Chromium starts");
        let stderr = process.stderr.take().unwrap();
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(ws) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(ws.trim().to_string());
                }
            }
        });
        let browser_ws = address
            .recv_timeout(TIMEOUT)
            .expect("Chromium prints its DevTools address");
        // ws://127.0.0.1:PORT/devtools/browser/ID -> http://127.0.0.1:PORT
        let host = browser_ws
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        Browser {
            process,
            devtools: format!("http://{host}"),
            _profile: TempDir(profile),
        }
    }
}

/// One page, driven through the DevTools protocol.
struct Page {
    socket: actix_codec::Framed<awc::BoxedSocket, ws::Codec>,
    next_id: u64,
}

impl Page {
    /// Opens a blank page, then loads `url` in it and waits for its load
    /// event.
    async fn open(browser: &Browser, client: &awc::Client, url: &str) -> Page {
        let mut response = client
            .put(format!("{}/json/new?about:blank", browser.devtools))
            .send()
            .await
            .expect("DevTools answers");
        let target: Value = response.json().await.unwrap();
        let page_ws = target["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        let (_, socket) = client
            .ws(page_ws)
            .max_frame_size(64 << 20)
            .connect()
            .await
            .expect("the page's DevTools socket");
        let mut page = Page { socket, next_id: 0 };
        page.command("Page.enable", json!({})).await;
        page.send("Page.navigate", json!({ "url": url })).await;
        page.read_until(|message| message["method"] == "Page.loadEventFired")
            .await;
        page
    }

    async fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let message = json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket
            .send(ws::Message::Text(message.into()))
            .await
            .unwrap();
        id
    }

    /// Reads messages until one matches, and returns it.
    async fn read_until(&mut self, matches: impl Fn(&Value) -> bool) -> Value {
        loop {
            let frame = tokio::time::timeout(TIMEOUT, self.socket.next())
                .await
                .expect("an answer from the browser in time")
                .expect("the socket stays open")
                .unwrap();
            let text = match frame {
                ws::Frame::Text(bytes) | ws::Frame::Binary(bytes) => bytes,
                ws::Frame::Ping(bytes) => {
                    self.socket.send(ws::Message::Pong(bytes)).await.unwrap();
                    continue;
                }
                _ => continue,
            };
            let message: Value = serde_json::from_slice(&text).unwrap();
            if matches(&message) {
                return message;
            }
        }
    }

    /// Sends a DevTools command and returns its result.
    async fn command(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params).await;
        let answer = self.read_until(|message| message["id"] == id).await;
        if let Some(error) = answer.get("error") {
            panic!("{method}: {error}");
        }
        answer["result"].clone()
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns
    /// its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .command(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits, in the page, until `predicate` (a JavaScript expression)
    /// holds: checked now and on every change of the DOM.
    async fn wait_for(&mut self, predicate: &str) {
        let script = format!(
            r#"new Promise((resolve, reject) => {{
                const check = () => {{ try {{ return !!({predicate}); }} catch (e) {{ return false; }} }};
                if (check()) return resolve(true);
                const observer = new MutationObserver(() => {{
                    if (check()) {{ observer.disconnect(); resolve(true); }}
                }});
                observer.observe(document.documentElement, {{ subtree: true, childList: true, attributes: true, characterData: true }});
                setTimeout(() => {{ observer.disconnect(); reject(new Error("timed out waiting for: " + {quoted})); }}, 20000);
            }})"#,
            quoted = serde_json::to_string(predicate).unwrap()
        );
        self.eval(&script).await;
    }

    async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self
            .command("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        base64_decode(shot["data"].as_str().unwrap())
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (18 - 6 * i);
        }
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

async fn snapshot(client: &awc::Client, service: &RatesService) -> TreeSnapshot {
    let mut response = client
        .get(service.url("/supervision"))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// The nodes the page shows: (path, state), in document order.
const SHOWN: &str =
    "Array.from(document.querySelectorAll('.node')).map(n => [n.dataset.path, n.dataset.state])";

#[actix_rt::test]
async fn the_live_page_shows_every_node_and_follows_a_restart_without_a_reload() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var("REQUIRE_BROWSER").is_err(),
            "REQUIRE_BROWSER is set but no Chromium was found"
        );
        eprintln!("skipped: no Chromium (install the `chromium` package)");
        return;
    };
    let service = start(&Config::local_with_control(TOKEN)).unwrap();
    service.refreshed(1).await;
    let client = awc::Client::builder().timeout(TIMEOUT).finish();
    let browser = Browser::launch(&binary);
    let mut page = Page::open(&browser, &client, &service.url("/supervision/ui")).await;
    page.command(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1200, "height": 640, "deviceScaleFactor": 1, "mobile": false }),
    )
    .await;

    // Every node, with its state.
    page.wait_for(
        "document.body.dataset.connected === 'true' && Number(document.body.dataset.updates) > 0",
    )
    .await;
    let tree = snapshot(&client, &service).await;
    let expected: Vec<Value> = tree
        .nodes()
        .map(|n| json!([n.path.as_str(), actix_state(&n.state)]))
        .collect();
    assert_eq!(page.eval(SHOWN).await, Value::Array(expected));
    let shown_kinds = page
        .eval("Array.from(document.querySelectorAll('.node .kind')).map(k => k.textContent)")
        .await;
    assert_eq!(
        shown_kinds,
        json!([
            "supervisor",
            "actor",
            "supervisor",
            "periodic",
            "worker",
            "worker"
        ])
    );

    // A restart through the API appears without a reload.
    page.eval("window.__sameDocument = true").await;
    let mut restart = client
        .post(service.url("/supervision/restart/app/ingest/refresher"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(restart.status(), 202, "{:?}", restart.body().await);
    page.wait_for(
        "(n => n && n.dataset.incarnation === '2' && n.dataset.state === 'running' && n.dataset.restarts === '1')\
         (document.querySelector('.node[data-path=\"/app/ingest/refresher\"]'))",
    )
    .await;
    assert_eq!(
        page.eval("window.__sameDocument === true").await,
        json!(true)
    );
    let logged = page
        .eval("document.getElementById('events').textContent")
        .await;
    assert!(logged.as_str().unwrap().contains("restarting"), "{logged}");

    // Failed nodes stand out.
    service.upstream().set_outage(true);
    page.wait_for(
        "document.querySelector('.node[data-path=\"/app/ingest\"]').dataset.state === 'failed'",
    )
    .await;
    let background = page
        .eval("getComputedStyle(document.querySelector('.node[data-state=\"failed\"] > .card')).backgroundColor")
        .await;
    assert_ne!(
        background,
        json!("rgba(0, 0, 0, 0)"),
        "a failed node has a background"
    );
    let failure = page
        .eval("document.querySelector('.node[data-path=\"/app/ingest\"] .failure').textContent")
        .await;
    assert!(
        failure.as_str().unwrap().contains("upstream unavailable"),
        "{failure}"
    );

    let png = page.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    // The repository's root: this test belongs to the `extras` crate.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target/ui.png");
    std::fs::write(&target, &png).unwrap();
    if std::env::var("SAVE_UI_SCREENSHOT").is_ok() {
        let docs = root.join("docs/ui.png");
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(docs, &png).unwrap();
    }

    drop(page);
    drop(browser);
    service.shutdown_handle().shutdown();
    common::within(service.run_until_shutdown()).await.unwrap();
}

/// The state word the page shows for `state`.
fn actix_state(state: &actix_supervisor::snapshot::NodeState) -> &'static str {
    use actix_supervisor::snapshot::NodeState::*;
    match state {
        Starting => "starting",
        Running => "running",
        Restarting { .. } => "restarting",
        Stopping => "stopping",
        Stopped => "stopped",
        Failed => "failed",
        _ => "unknown",
    }
}
