//! Dependency firewall: the hunt engine is synchronous and runs on a blocking pool of the
//! server, so nothing it depends on may pull in an async runtime or a web/database stack.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

#[test]
fn hunt_engine_depends_on_no_async_runtime_or_server_stack() {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| (package["id"].as_str().unwrap(), package["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, Vec<&str>> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let dependencies = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                // Only normal dependencies: dev-dependencies do not ship in the engine.
                .filter(|dependency| {
                    dependency["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|kind| kind["kind"].is_null())
                })
                .map(|dependency| dependency["pkg"].as_str().unwrap())
                .collect();
            (node["id"].as_str().unwrap(), dependencies)
        })
        .collect();
    let root = names
        .iter()
        .find(|(_, name)| **name == "cordon-hunt")
        .map(|(id, _)| *id)
        .unwrap();
    let mut reached = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        if reached.insert(names[id]) {
            stack.extend(nodes.get(id).into_iter().flatten().copied());
        }
    }
    assert!(
        reached.contains("evtx") && reached.contains("rayon"),
        "the walk reaches real dependencies: {reached:?}"
    );
    for forbidden in ["tokio", "async-std", "axum", "hyper", "sqlx", "reqwest"] {
        assert!(!reached.contains(forbidden), "cordon-hunt reaches {forbidden}");
    }
}
