//! The evidence locker from the command line: collect, read back verified, detect a flipped
//! byte at the next read and in `audit verify`, export a signed bundle and verify it offline.

use crate::support::Cordon;

const CONTENT: &[u8] = b"EVIDENCE-MARKER: memory image of host db-3 taken at 02:14 UTC\n";

fn collected(cordon: &Cordon) -> (String, String) {
    let incident = cordon.declare("alice", "Disk image of db-3");
    let image = cordon.dir.path().join("db-3.img");
    std::fs::write(&image, CONTENT.repeat(2000)).unwrap();
    let out = cordon.ok(
        "alice",
        &[
            "--json",
            "evidence",
            "add",
            &image.display().to_string(),
            "--incident",
            &incident,
            "--source",
            "host db-3, /dev/xvda1",
            "--tlp",
            "TLP:RED",
        ],
    );
    let record: serde_json::Value = serde_json::from_str(&out).unwrap();
    (incident, record["sha256"].as_str().unwrap().to_owned())
}

fn object_path(cordon: &Cordon, sha256: &str) -> std::path::PathBuf {
    cordon
        .data_dir()
        .join("evidence/objects")
        .join(&sha256[..2])
        .join(&sha256[2..])
}

#[test]
fn evidence_is_read_back_verified_and_journaled() {
    let cordon = Cordon::new();
    let (incident, sha256) = collected(&cordon);
    let copy = cordon.dir.path().join("copy.img");
    cordon.ok(
        "alice",
        &[
            "evidence",
            "get",
            &sha256[..12],
            "--incident",
            &incident,
            "--out",
            &copy.display().to_string(),
            "--purpose",
            "timeline",
        ],
    );
    assert_eq!(std::fs::read(&copy).unwrap(), CONTENT.repeat(2000));
    let journal = cordon.ok("alice", &["journal", &incident]);
    assert!(
        journal.contains("collected evidence") && journal.contains("(verified intact)") && journal.contains("timeline"),
        "{journal}"
    );
    // Bob is not on the incident: the evidence does not exist for him either.
    let other = cordon.dir.path().join("bob.img");
    cordon.fails(
        "bob",
        &[
            "evidence",
            "get",
            &sha256,
            "--incident",
            &incident,
            "--out",
            &other.display().to_string(),
            "--purpose",
            "curious",
        ],
    );
    assert!(!other.exists());
}

#[test]
fn a_flipped_byte_is_an_alarm_at_the_next_read_and_in_the_audit() {
    let cordon = Cordon::new();
    let (incident, sha256) = collected(&cordon);
    let object = object_path(&cordon, &sha256);
    let mut permissions = std::fs::metadata(&object).unwrap().permissions();
    assert!(permissions.readonly(), "stored evidence is read-only");
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&object, permissions).unwrap();
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[100] ^= 0x01;
    std::fs::write(&object, bytes).unwrap();

    let copy = cordon.dir.path().join("copy.img");
    let refused = cordon.fails(
        "alice",
        &[
            "evidence",
            "get",
            &sha256,
            "--incident",
            &incident,
            "--out",
            &copy.display().to_string(),
            "--purpose",
            "forensics",
        ],
    );
    assert!(refused.contains("INTEGRITY ALARM"), "{refused}");
    assert!(!copy.exists(), "no copy of bad evidence is left behind");
    let listed = cordon.ok("alice", &["evidence", "list", "--incident", &incident]);
    assert!(listed.contains("ALARM evidence"), "{listed}");
    let audit = cordon.fails("alice", &["audit", "verify"]);
    assert!(
        audit.contains(&format!("evidence {sha256}")) && audit.contains("corrupt"),
        "{audit}"
    );
}

#[test]
fn the_export_bundle_verifies_offline_and_names_what_changed() {
    let cordon = Cordon::new();
    let (incident, _) = collected(&cordon);
    let bundle = cordon.dir.path().join("bundle.tar");
    cordon.ok(
        "alice",
        &[
            "evidence",
            "export",
            "--incident",
            &incident,
            "--out",
            &bundle.display().to_string(),
        ],
    );
    let key = cordon.ok("alice", &["audit", "public-key"]);
    let bundle_arg = bundle.display().to_string();
    // Verification needs no data directory: run it from an empty one.
    let elsewhere = Cordon::new();
    let report = elsewhere.ok(
        "carol",
        &["evidence", "verify-bundle", &bundle_arg, "--public-key", key.trim()],
    );
    assert!(
        report.contains("bundle: OK") && report.contains("(the trusted key)"),
        "{report}"
    );
    assert!(
        !elsewhere.data_dir().exists(),
        "verifying a bundle touches no data directory"
    );

    let mut bytes = std::fs::read(&bundle).unwrap();
    let marker = bytes.windows(CONTENT.len()).position(|w| w == CONTENT).unwrap();
    bytes[marker + 3] ^= 0x20;
    let tampered = cordon.dir.path().join("tampered.tar");
    std::fs::write(&tampered, &bytes).unwrap();
    let report = elsewhere.fails("carol", &["evidence", "verify-bundle", &tampered.display().to_string()]);
    assert!(
        report.contains("FAIL objects/") && report.contains("changed"),
        "{report}"
    );

    let mut bytes = std::fs::read(&bundle).unwrap();
    let marker = bytes.windows(9).position(|w| w == b"db-3.img\"").unwrap();
    bytes[marker] = b'x';
    std::fs::write(&tampered, &bytes).unwrap();
    let report = elsewhere.fails("carol", &["evidence", "verify-bundle", &tampered.display().to_string()]);
    assert!(report.contains("manifest.sig: does not verify"), "{report}");
}

#[test]
fn an_item_over_the_size_limit_is_refused_and_nothing_is_stored() {
    let cordon = Cordon::new();
    let incident = cordon.declare("alice", "Too big");
    let image = cordon.dir.path().join("big.img");
    std::fs::write(&image, vec![7u8; 4096]).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cordon"))
        .args([
            "evidence",
            "add",
            &image.display().to_string(),
            "--incident",
            &incident,
            "--source",
            "laptop",
        ])
        .env("CORDON_DATA_DIR", cordon.data_dir())
        .env("CORDON_USER", "alice")
        .env("CORDON_EVIDENCE_MAX_BYTES", "1024")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1024") || stderr.contains("1.0 KiB"),
        "the error names the limit: {stderr}"
    );
    let listed = cordon.ok("alice", &["evidence", "list", "--incident", &incident]);
    assert_eq!(listed.lines().count(), 1, "nothing stored: {listed}");
}

#[test]
fn legal_holds_and_retention_from_the_command_line() {
    let cordon = Cordon::new();
    let (incident, sha256) = collected(&cordon);
    let item = &sha256[..12];
    cordon.ok("alice", &["role", "assign", &incident, "alice", "incident-commander"]);
    cordon.ok("alice", &["member", "add", &incident, "carol"]);
    let refused = cordon.fails(
        "carol",
        &["evidence", "hold", item, "--incident", &incident, "--reason", "case 42"],
    );
    assert!(
        refused.contains("only the incident commander or legal counsel may place a legal hold"),
        "{refused}"
    );
    let held = cordon.ok(
        "alice",
        &["evidence", "hold", item, "--incident", &incident, "--reason", "case 42"],
    );
    assert!(held.contains("legal hold"), "{held}");
    cordon.ok(
        "alice",
        &[
            "evidence",
            "retain",
            item,
            "--incident",
            &incident,
            "--until",
            "2099-01-31",
            "--reason",
            "regulator",
        ],
    );
    let list = cordon.ok("alice", &["evidence", "list", "--incident", &incident]);
    assert!(list.contains("RETENTION") && list.contains("legal hold"), "{list}");
    cordon.ok(
        "alice",
        &[
            "evidence",
            "release",
            item,
            "--incident",
            &incident,
            "--reason",
            "case settled",
        ],
    );
    let list = cordon.ok("alice", &["evidence", "list", "--incident", &incident]);
    assert!(list.contains("kept until 2099-01-31"), "{list}");
    let journal = cordon.ok("alice", &["--json", "journal", &incident]);
    assert!(
        journal.contains("local cli on "),
        "the collection records the host: {journal}"
    );
}
