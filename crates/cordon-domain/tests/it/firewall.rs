//! The dependency firewall: the domain stays pure, so it must never reach an async runtime,
//! a database driver or a web framework, directly or through another crate.

use std::process::Command;

#[test]
fn domain_does_not_depend_on_runtime_database_or_web_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "cordon-domain",
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
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let crates: Vec<&str> = tree.lines().filter_map(|line| line.split_whitespace().next()).collect();
    assert!(crates.contains(&"serde"), "cargo tree output looks wrong:\n{tree}");
    for forbidden in ["tokio", "sqlx", "sqlx-core", "axum", "hyper", "reqwest"] {
        assert!(
            !crates.contains(&forbidden),
            "cordon-domain depends on {forbidden}:\n{tree}"
        );
    }
}
