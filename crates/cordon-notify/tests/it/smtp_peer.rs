//! The SMTP peer: aiosmtpd in a child process, with a CA and a server certificate made for
//! this test, and a maildir where it drops what it accepts.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtp_server.py");

#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// STARTTLS offered and required before `MAIL`.
    Starttls,
    /// No TLS offered at all.
    Plain,
    /// TLS from the first byte.
    Implicit,
}

pub struct SmtpPeer {
    pub port: u16,
    /// PEM of the CA that signed the server's certificate.
    pub ca_pem: PathBuf,
    dir: tempfile::TempDir,
    _child: Child,
}

/// Starts a server, or returns `None` (with a notice) when aiosmtpd is not installed outside CI.
pub async fn start(mode: Mode) -> Option<SmtpPeer> {
    if !aiosmtpd_available().await {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but python3 cannot import aiosmtpd: the SMTP tests must run in CI (see scripts/setup)");
        }
        eprintln!("notice: python3 with aiosmtpd is not available; skipping the SMTP test (run scripts/setup)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("mail");
    std::fs::create_dir(&maildir).unwrap();
    let (ca_pem, cert, key) = certificates(dir.path());

    let mode_word = match mode {
        Mode::Starttls => "starttls",
        Mode::Plain => "plain",
        Mode::Implicit => "implicit",
    };
    let mut child = Command::new("python3")
        .arg(SCRIPT)
        .args(["--mode", mode_word, "--maildir"])
        .arg(&maildir)
        .arg("--cert")
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start python3");
    let stdout = child.stdout.take().unwrap();
    let mut first_line = String::new();
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut first_line),
    )
    .await;
    let Ok(port) = first_line.trim().parse::<u16>() else {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), pipe.read_to_string(&mut stderr)).await;
        }
        panic!("the SMTP server did not start ({read:?}, stdout {first_line:?}):\n{stderr}");
    };
    Some(SmtpPeer {
        port,
        ca_pem,
        dir,
        _child: child,
    })
}

impl SmtpPeer {
    /// Every mail accepted so far, in order.
    pub fn mails(&self) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .collect()
    }
}

async fn aiosmtpd_available() -> bool {
    Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// A CA, and a server certificate for `localhost` and `127.0.0.1` signed by it. Returns the
/// paths of the CA certificate, the server certificate and the server key.
fn certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cordon-notify test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

    let paths = (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, server_cert.pem()).unwrap();
    std::fs::write(&paths.2, server_key.serialize_pem()).unwrap();
    paths
}
