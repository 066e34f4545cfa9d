//! A small W3C WebDriver client over a blocking HTTP/1.1 connection to chromedriver: the
//! dozen commands the browser tests need (sessions, navigation, elements, keys, cookies,
//! screenshots), and nothing else, so the suite adds no HTTP client to the build.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

/// Sends one command to chromedriver and returns its `value`, or the WebDriver error.
pub fn command(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(90))).ok();
    let payload = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    // chromedriver keeps the connection open whatever the request says: read by length.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 65536];
    let body = loop {
        let read = stream.read(&mut chunk).map_err(|e| format!("read: {e}"))?;
        if read == 0 {
            return Err("connection closed before the answer was complete".into());
        }
        raw.extend_from_slice(&chunk[..read]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse::<usize>().ok())
            .ok_or("no content-length in the answer")?;
        if raw.len() >= end + 4 + length {
            break String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned();
        }
    };
    let value: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let value = value.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Err(format!(
            "{error}: {}",
            value.get("message").and_then(Value::as_str).unwrap_or("")
        ));
    }
    Ok(value)
}

/// One browser: its own Chromium process and profile, so two sessions share no cookies.
pub struct Browser {
    port: u16,
    session: String,
    pub base: String,
}

#[derive(Clone)]
pub struct Element {
    id: String,
}

impl Browser {
    pub fn open(port: u16, chromium: &Path, profile: &Path, base: &str) -> Browser {
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--window-size=1280,900".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.display().to_string(), "args": args},
        }}});
        let value = command(port, "POST", "/session", Some(&capabilities)).expect("start a Chromium session");
        let session = value["sessionId"].as_str().expect("a session id").to_owned();
        Browser {
            port,
            session,
            base: base.to_owned(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        command(
            self.port,
            method,
            &format!("/session/{}{path}", self.session),
            body.as_ref(),
        )
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"))
    }

    /// Opens a path of the server under test.
    pub fn go(&self, path: &str) {
        self.must("POST", "/url", Some(json!({"url": format!("{}{path}", self.base)})));
    }

    pub fn url(&self) -> String {
        self.must("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    pub fn title(&self) -> String {
        self.must("GET", "/title", None).as_str().unwrap_or_default().to_owned()
    }

    pub fn source(&self) -> String {
        self.must("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn find(&self, css: &str) -> Element {
        self.try_find(css).unwrap_or_else(|| {
            let page = self.source();
            panic!(
                "no element {css:?} on {}:\n{}",
                self.url(),
                page.get(..3000).unwrap_or(&page)
            )
        })
    }

    pub fn try_find(&self, css: &str) -> Option<Element> {
        let value = match self.call("POST", "/element", Some(json!({"using": "css selector", "value": css}))) {
            Ok(value) => value,
            Err(err) if err.starts_with("no such element") => return None,
            Err(err) => panic!("find {css:?}: {err}"),
        };
        Some(Element {
            id: value[ELEMENT].as_str()?.to_owned(),
        })
    }

    /// The first element matching `css` whose visible text contains `text`.
    pub fn find_by_text(&self, css: &str, text: &str) -> Element {
        let value = self.must(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        );
        for item in value.as_array().into_iter().flatten() {
            if let Some(id) = item[ELEMENT].as_str() {
                let element = Element { id: id.to_owned() };
                if self.element_text(&element).contains(text) {
                    return element;
                }
            }
        }
        panic!("no {css:?} with text {text:?} on {}", self.url())
    }

    pub fn text(&self, css: &str) -> String {
        let element = self.find(css);
        self.element_text(&element)
    }

    pub fn element_text(&self, element: &Element) -> String {
        self.must("GET", &format!("/element/{}/text", element.id), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn property(&self, element: &Element, name: &str) -> String {
        match self.must("GET", &format!("/element/{}/property/{name}", element.id), None) {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    pub fn click(&self, element: &Element) {
        self.must("POST", &format!("/element/{}/click", element.id), Some(json!({})));
    }

    /// Clicks something that loads a new page (a submit button, a link) and waits for it.
    pub fn submit(&self, element: &Element) {
        let old = self.find("html");
        self.click(element);
        self.wait_for_new_page(&old);
    }

    /// Waits until the page that held `old` is gone and the next one has loaded.
    pub fn wait_for_new_page(&self, old: &Element) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.call("GET", &format!("/element/{}/name", old.id), None) {
                Err(err) if err.starts_with("stale element reference") || err.starts_with("no such element") => break,
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "no new page after the action on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(30));
        }
        loop {
            if self.script("return document.readyState") == json!("complete") {
                return;
            }
            assert!(Instant::now() < deadline, "the page never finished loading");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    pub fn html_root(&self) -> Element {
        self.find("html")
    }

    pub fn type_into(&self, element: &Element, text: &str) {
        self.must(
            "POST",
            &format!("/element/{}/value", element.id),
            Some(json!({"text": text})),
        );
    }

    /// Fills the field with the given label text (the `for` attribute names its input).
    pub fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        if let Err(err) = self.call("POST", &format!("/element/{}/clear", element.id), Some(json!({}))) {
            panic!("clear {css:?} on {}: {err}", self.url());
        }
        self.type_into(&element, text);
    }

    /// The element that has keyboard focus.
    pub fn active(&self) -> Element {
        let value = self.must("GET", "/element/active", None);
        Element {
            id: value[ELEMENT].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Presses and releases one key, as a person at the keyboard would.
    pub fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key},
            {"type": "keyUp", "value": key},
        ]}]});
        self.must("POST", "/actions", Some(actions));
    }

    /// Runs a script in the page (WebDriver's, not the page's: the CSP does not apply).
    pub fn script(&self, source: &str) -> Value {
        self.must("POST", "/execute/sync", Some(json!({"script": source, "args": []})))
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.must("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        let data = self.must("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("screenshot is base64");
        std::fs::write(path, bytes).expect("write screenshot");
    }

    /// Waits until `css` matches, for pages that are still loading.
    pub fn wait_for(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(element) = self.try_find(css) {
                return element;
            }
            assert!(Instant::now() < deadline, "{css:?} never appeared on {}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = command(self.port, "DELETE", &format!("/session/{}", self.session), None);
    }
}
