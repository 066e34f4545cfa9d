//! The real things the browser suite drives: a `cordon serve` process on free ports with a
//! temporary data directory, and chromedriver with Debian's Chromium. Each is stopped when
//! dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Chromium and chromedriver, when installed. Under CI=true their absence fails the suite;
/// elsewhere it is skipped with a notice.
pub fn browser_tools() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        names.iter().find_map(|name| {
            std::env::split_paths(&path)
                .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")])
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    let chromium = std::env::var_os("CORDON_TEST_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| find(&["chromium", "chromium-browser", "google-chrome"]));
    let driver = std::env::var_os("CORDON_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find(&["chromedriver"]));
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but chromium or chromedriver is missing: scripts/setup installs them")
        }
        _ => {
            eprintln!(
                "notice: chromium or chromedriver not found; skipping the browser tests (scripts/setup installs them)"
            );
            None
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The `cordon` binary: `CORDON_BIN`, or the one beside this test binary, which cargo builds
/// (or finds up to date) first so the suite never drives a stale server.
pub fn cordon_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CORDON_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/it-<hash> -> target/<profile>/cordon
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "cordon", "--bin", "cordon"]);
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build -p cordon");
        assert!(status.success(), "cargo build -p cordon failed");
    });
    let binary = profile_dir.join("cordon");
    assert!(
        binary.is_file(),
        "no cordon binary at {} (set CORDON_BIN)",
        binary.display()
    );
    binary
}

/// `cordon serve` on free ports with a fresh data directory.
pub struct Server {
    child: Child,
    pub base: String,
    pub setup_link: String,
    _data: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let data = tempfile::tempdir().expect("a temporary data directory");
        let port = free_port();
        let mut child = Command::new(cordon_binary())
            .args(["serve", "--data-dir"])
            .arg(data.path().join("data"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{}", free_port())])
            .env_remove("CORDON_DATABASE_URL")
            .env_remove("CORDON_CONFIG")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cordon serve");
        // The setup link is printed once on stderr; read it, then keep draining stderr.
        let stderr = child.stderr.take().expect("piped stderr");
        // Owned from here on, so a failed start still stops it.
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            setup_link: String::new(),
            _data: data,
        };
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let mut setup_link = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match receiver.recv_timeout(Duration::from_millis(200)) {
                Ok(line) if line.contains("/setup?token=") => {
                    setup_link = line
                        .split_whitespace()
                        .find(|w| w.contains("/setup?token="))
                        .map(str::to_owned);
                }
                Ok(line) if line.contains("cordon serving on") => break,
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("cordon serve exited at start"),
            }
        }
        let setup_link = setup_link.expect("cordon serve printed the setup link");
        server.setup_link = setup_link.trim_start_matches(&server.base).to_owned();
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver on a free port.
pub struct Driver {
    child: Child,
    pub port: u16,
}

impl Driver {
    pub fn start(binary: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Owned from here on, so a failed start still stops it.
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = super::webdriver::command(port, "GET", "/status", None)
                .is_ok_and(|value| value["ready"].as_bool() == Some(true));
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        driver
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where screenshots go: `artifacts/screenshots/` at the workspace root (not committed).
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots");
    std::fs::create_dir_all(&dir).expect("create artifacts/screenshots");
    dir
}
