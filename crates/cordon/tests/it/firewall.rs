//! The dependency firewall, for every crate that must stay synchronous and free of the server
//! stack: the pure domain and its siblings never reach an async runtime, a database driver or
//! a web framework, and the hunt engine and evidence locker run on the server's blocking pool,
//! so they must not either. One table, one walk of `cargo tree` per crate.

use std::process::Command;

/// (crate, a dependency the walk must reach to prove it works, crates it must never reach)
const FIREWALL: &[(&str, &str, &[&str])] = &[
    (
        "cordon-domain",
        "serde",
        &["tokio", "sqlx", "sqlx-core", "axum", "hyper", "reqwest"],
    ),
    (
        "cordon-auth",
        "argon2",
        &["tokio", "sqlx", "sqlx-core", "axum", "hyper", "reqwest"],
    ),
    (
        "cordon-oncall",
        "jiff",
        &["tokio", "sqlx", "sqlx-core", "axum", "hyper", "reqwest"],
    ),
    (
        "cordon-intake",
        "serde_json",
        &["tokio", "sqlx", "sqlx-core", "axum", "hyper", "reqwest"],
    ),
    (
        "cordon-evidence",
        "sha2",
        &["tokio", "sqlx", "sqlx-core", "axum", "hyper", "reqwest", "futures"],
    ),
    (
        "cordon-hunt",
        "evtx",
        &["tokio", "async-std", "axum", "hyper", "sqlx", "reqwest"],
    ),
];

#[test]
fn pure_and_blocking_crates_reach_no_runtime_database_or_web_stack() {
    for (krate, witness, forbidden) in FIREWALL {
        let output = Command::new(env!("CARGO"))
            .args([
                "tree",
                "-p",
                krate,
                "--edges",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo tree runs");
        assert!(
            output.status.success(),
            "cargo tree -p {krate} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tree = String::from_utf8(output.stdout).unwrap();
        let crates: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
        assert!(
            crates.contains(witness),
            "cargo tree -p {krate} looks wrong (no {witness}):\n{tree}"
        );
        for name in *forbidden {
            assert!(!crates.contains(name), "{krate} depends on {name}:\n{tree}");
        }
    }
}
