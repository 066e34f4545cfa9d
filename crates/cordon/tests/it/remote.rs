//! The CLI against a real `cordon serve`: the same commands, given `--server` and a token,
//! act through the REST API with the token owner's identity and need-to-know.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_port;
use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
    setup_token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    start_server_with(true)
}

/// Starts `cordon serve`; with `drain_log` false the test closes the server's stderr once it
/// is up, as a crashed log collector would.
fn start_server_with(drain_log: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics_port) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .env("CORDON_DATA_DIR", dir.path().join("data"))
        .env_remove("CORDON_DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut setup_token = String::new();
    let started = Instant::now();
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(position) = line.find("token=cdn_setup_") {
            setup_token = line[position + 6..].split_whitespace().next().unwrap().to_owned();
        }
        if line.starts_with("cordon serving on") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not start");
    }
    assert!(!setup_token.is_empty(), "the server printed no setup link");
    if drain_log {
        std::thread::spawn(move || lines.for_each(drop));
    } else {
        drop(lines);
    }
    Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
        setup_token,
    }
}

fn post(url: &str, body: Value, cookie: Option<&str>, csrf: Option<&str>) -> ureq::Response {
    let mut request = ureq::post(url);
    if let Some(cookie) = cookie {
        request = request.set("cookie", cookie);
    }
    if let Some(csrf) = csrf {
        request = request.set("x-csrf-token", csrf);
    }
    request.send_json(body).unwrap()
}

/// Creates the first administrator, `root`, and signs in: (session cookie, CSRF token).
fn set_up_root(server: &Server) -> (String, String) {
    post(
        &format!("{}/api/v1/setup", server.url),
        json!({"token": server.setup_token, "name": "root", "password": "correct horse battery"}),
        None,
        None,
    );
    sign_in(server, "root")
}

/// Signs `name` in with the test password: (session cookie, CSRF token).
fn sign_in(server: &Server, name: &str) -> (String, String) {
    let login = post(
        &format!("{}/api/v1/session", server.url),
        json!({"name": name, "password": "correct horse battery"}),
        None,
        None,
    );
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = login.into_json::<Value>().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

/// Creates a user through the API (as the admin) and returns an API token of theirs.
fn user_with_token(server: &Server, admin: &(String, String), name: &str, role: &str) -> String {
    let (cookie, csrf) = admin;
    if name != "root" {
        let body = json!({"name": name, "role": role, "password": "correct horse battery"});
        post(&format!("{}/api/v1/users", server.url), body, Some(cookie), Some(csrf));
    }
    let (cookie, csrf) = sign_in(server, name);
    let token = post(
        &format!("{}/api/v1/tokens", server.url),
        json!({"label": "cli", "scope": "write"}),
        Some(&cookie),
        Some(&csrf),
    );
    token.into_json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn cordon(server: &Server, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["--server", &server.url])
        .args(args)
        .env("CORDON_TOKEN", token)
        .env_remove("CORDON_DATA_DIR")
        .output()
        .unwrap()
}

fn ok(server: &Server, token: &str, args: &[&str]) -> String {
    let output = cordon(server, token, args);
    assert!(
        output.status.success(),
        "cordon {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_cli_drives_a_server_with_a_token() {
    let server = start_server();
    let admin = set_up_root(&server);
    let alice = user_with_token(&server, &admin, "alice", "responder");
    let bob = user_with_token(&server, &admin, "bob", "responder");

    let declared: Value = serde_json::from_str(&ok(
        &server,
        &alice,
        &["--json", "incident", "open", "--title", "Exfiltration via leaked key"],
    ))
    .unwrap();
    let codename = declared["codename"].as_str().unwrap().to_owned();
    assert_eq!(declared["declared_by"], "alice", "the token decides who acts, not --as");

    ok(
        &server,
        &alice,
        &["role", "assign", &codename, "alice", "incident-commander"],
    );
    let refused = cordon(&server, &alice, &["step", "start", &codename, "3"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("blocked by gate \"contain-first\"") && stderr.contains("hint: cordon gate override"),
        "{stderr}"
    );
    ok(
        &server,
        &alice,
        &["gate", "override", &codename, "3", "--reason", "need hands now"],
    );
    ok(&server, &alice, &["step", "start", &codename, "3"]);
    let board = ok(&server, &alice, &["incident", "show", &codename]);
    assert!(
        board.contains("3     in progress  Assemble the response team"),
        "{board}"
    );
    let journal = ok(&server, &alice, &["journal", &codename]);
    assert!(
        journal.contains("need hands now") && journal.contains("hash chain: verified"),
        "{journal}"
    );

    // Bob is not on it: nothing to see, until alice adds him.
    assert_eq!(ok(&server, &bob, &["incident", "list"]), "no incidents you can see\n");
    assert_eq!(
        cordon(&server, &bob, &["incident", "show", &codename]).status.code(),
        Some(1)
    );
    ok(&server, &alice, &["member", "add", &codename, "bob"]);
    assert!(ok(&server, &bob, &["incident", "list"]).contains(&codename));

    let bad = cordon(&server, "cdn_t_not-a-real-token", &["incident", "list"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("did not accept the token"));
}

#[test]
fn a_closed_log_pipe_does_not_break_requests() {
    let server = start_server_with(false);
    // Creating the first admin logs at info level, into the now closed pipe.
    let created = post(
        &format!("{}/api/v1/setup", server.url),
        json!({"token": server.setup_token, "name": "root", "password": "correct horse battery"}),
        None,
        None,
    );
    assert_eq!(created.status(), 201);
}

#[test]
fn evidence_added_through_a_server_resumes_an_interrupted_upload() {
    let server = start_server();
    let alice = user_with_token(&server, &set_up_root(&server), "alice", "responder");
    let declared: Value = serde_json::from_str(&ok(
        &server,
        &alice,
        &["--json", "incident", "open", "--title", "Memory image of web-1"],
    ))
    .unwrap();
    let codename = declared["codename"].as_str().unwrap().to_owned();

    // An earlier run sent the first megabyte, then the connection dropped.
    let image: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let file = server._dir.path().join("web-1.lime");
    std::fs::write(&file, &image).unwrap();
    let uploads = format!("{}/api/v1/incidents/{codename}/evidence/uploads", server.url);
    let started: Value = ureq::post(&uploads)
        .set("authorization", &format!("Bearer {alice}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let upload = started["upload"].as_str().unwrap().to_owned();
    ureq::request("PATCH", &format!("{uploads}/{upload}"))
        .set("authorization", &format!("Bearer {alice}"))
        .set("upload-offset", "0")
        .send_bytes(&image[..1_000_000])
        .unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args(["--server", &server.url, "--json", "evidence", "add"])
        .arg(&file)
        .args([
            "--incident",
            &codename,
            "--source",
            "host web-1, memory",
            "--resume",
            &upload,
        ])
        .env("CORDON_TOKEN", &alice)
        .env("CORDON_UPLOAD_PIECE_BYTES", "700000")
        .env_remove("CORDON_DATA_DIR")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let record: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sha256 = record["sha256"].as_str().unwrap().to_owned();
    assert_eq!(record["size"], image.len());
    assert_eq!(
        record["from"], "127.0.0.1",
        "the server records where the upload came from"
    );

    // A fresh upload of the same content is refused as already collected, after its pieces.
    let again = cordon(
        &server,
        &alice,
        &[
            "evidence",
            "add",
            &file.display().to_string(),
            "--incident",
            &codename,
            "--source",
            "again",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already collected"));

    ok(
        &server,
        &alice,
        &[
            "evidence",
            "hold",
            &sha256[..12],
            "--incident",
            &codename,
            "--reason",
            "case 42",
        ],
    );
    let list = ok(&server, &alice, &["evidence", "list", "--incident", &codename]);
    assert!(list.contains("legal hold") && list.contains("web-1.lime"), "{list}");
    let refused = cordon(
        &server,
        &alice,
        &["evidence", "export", "--incident", &codename, "--out", "x.tar"],
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("run the others on the server's host"));
}
