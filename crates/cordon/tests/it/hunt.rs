//! `cordon hunt` end to end: the hunt engine's committed fixtures through the real binary, in
//! every output format, with the documented exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cordon-hunt/tests/fixtures")
}

fn hunt(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .arg("hunt")
        .args(args)
        .env_remove("CORDON_SERVER")
        .output()
        .unwrap()
}

#[test]
fn hunt_reports_detections_in_every_format_with_exit_code_one() {
    let fixtures = fixtures();
    let rules = fixtures.join("rules");
    let logs = fixtures.join("logs");
    let iocs = fixtures.join("iocs.txt");
    let common = [
        "--rules",
        rules.to_str().unwrap(),
        "--indicators",
        iocs.to_str().unwrap(),
        "--syslog-year",
        "2024",
    ];

    let table = hunt(&[&common[..], &[logs.to_str().unwrap()]].concat());
    assert_eq!(
        table.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let stdout = String::from_utf8(table.stdout).unwrap();
    assert!(stdout.starts_with("time (UTC)"));
    assert!(stdout.contains("Windows AMSI Related Registry Tampering Via CommandLine"));
    assert!(stdout.contains("indicator sightings:"));
    let stderr = String::from_utf8(table.stderr).unwrap();
    assert!(stderr.contains("rules: 7 loaded, 1 correlation, 0 skipped"), "{stderr}");
    assert!(stderr.contains("corrupt: "), "the bad JSON line is reported: {stderr}");
    assert!(!stderr.contains("\r"), "no progress line when stderr is not a terminal");

    for (format, check) in [
        ("csv", "time,kind,detection"),
        ("jsonl", "{\"time\":"),
        ("ocsf", "\"class_uid\":2004"),
    ] {
        let output = hunt(&[&common[..], &["--format", format, logs.to_str().unwrap()]].concat());
        assert_eq!(output.status.code(), Some(1));
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(text.starts_with(check) || text.contains(check), "{format}: {text}");
    }
}

#[test]
fn hunt_without_detections_exits_zero_and_bad_input_exits_two() {
    let fixtures = fixtures();
    let rules = fixtures.join("rules");
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(
        clean.path().join("clean.jsonl"),
        "{\"time\":\"2024-01-01T00:00:00Z\",\"msg\":\"nothing here\"}\n",
    )
    .unwrap();
    let quiet = hunt(&["--rules", rules.to_str().unwrap(), clean.path().to_str().unwrap()]);
    assert_eq!(
        quiet.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    let missing_rules = hunt(&[
        "--rules",
        clean.path().join("nope").to_str().unwrap(),
        clean.path().to_str().unwrap(),
    ]);
    assert_eq!(missing_rules.status.code(), Some(2));
    let nothing_to_hunt_with = hunt(&[clean.path().to_str().unwrap()]);
    assert_eq!(nothing_to_hunt_with.status.code(), Some(2));
}
