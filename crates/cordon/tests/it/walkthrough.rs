//! The README's walk-through: a security incident from declaration to closure, with a gate
//! refusing, an override recorded, and a second responder who sees nothing until added.

use crate::support::Cordon;

#[test]
fn security_incident_from_open_to_closed() {
    let cordon = Cordon::new();
    let incident = cordon.declare("alice", "Deploy key leaked; customer DB read");
    let id = incident.as_str();
    let words: Vec<&str> = id.split('-').collect();
    assert_eq!(words.len(), 2, "codename is two words: {id}");
    assert!(!"Deploy key leaked; customer DB read".to_lowercase().contains(words[0]));

    // Bob, not on the incident, sees nothing of it: not in lists, not by name.
    assert_eq!(cordon.ok("bob", &["incident", "list"]), "no incidents you can see\n");
    let hidden = cordon.fails("bob", &["incident", "show", id]);
    let missing = cordon.fails("bob", &["incident", "show", "no-such-thing"]);
    assert_eq!(
        hidden.replace(id, "X"),
        missing.replace("no-such-thing", "X"),
        "hidden looks exactly like missing"
    );

    cordon.ok("alice", &["role", "assign", id, "alice", "incident-commander"]);

    // Contain first: assembling is gated on steps 1 and 2.
    let refused = cordon.fails("alice", &["step", "start", id, "3"]);
    assert!(refused.contains("blocked by gate \"contain-first\""), "{refused}");
    assert!(
        refused.contains(&format!("cordon gate override {id} 3 contain-first")),
        "{refused}"
    );
    cordon.ok(
        "alice",
        &[
            "gate",
            "override",
            id,
            "3",
            "--reason",
            "attacker still active; we need hands to contain",
        ],
    );
    cordon.ok("alice", &["step", "start", id, "3"]);
    cordon.ok("alice", &["role", "assign", id, "bob", "subject-matter-expert"]);
    assert!(
        cordon.ok("bob", &["incident", "list"]).contains(id),
        "bob sees it once added"
    );

    for step in ["1", "2", "3", "4", "5", "6", "7", "8", "9"] {
        cordon.ok("bob", &["step", "done", id, step, "--note", "done in the walk-through"]);
    }
    cordon.ok("bob", &["step", "done", id, "10"]);
    let refused = cordon.fails("alice", &["step", "start", id, "11"]);
    assert!(refused.contains("attack-not-internal"), "{refused}");
    cordon.ok(
        "alice",
        &[
            "decision",
            "record",
            id,
            "attack-not-internal",
            "--reason",
            "key leaked from a public CI log",
        ],
    );
    cordon.ok("alice", &["step", "done", id, "11"]);
    cordon.ok(
        "alice",
        &["step", "skip", id, "12", "--reason", "no legal duty to report"],
    );
    cordon.ok(
        "alice",
        &["step", "skip", id, "13", "--reason", "no third party was used"],
    );
    let refused = cordon.fails("alice", &["step", "start", id, "14"]);
    assert!(refused.contains("not validated"), "{refused}");
    cordon.ok(
        "alice",
        &["step", "validate", id, "5", "--note", "timeline reviewed with counsel"],
    );
    cordon.ok("alice", &["step", "validate", id, "6"]);
    cordon.ok("alice", &["step", "done", id, "14", "--note", "customer notice sent"]);
    for status in ["contained", "resolved", "closed"] {
        cordon.ok("alice", &["incident", "status", id, status, "--reason", "walk-through"]);
    }

    let show: serde_json::Value =
        serde_json::from_str(&cordon.ok("alice", &["--json", "incident", "show", id])).unwrap();
    assert_eq!(show["status"], "closed");
    assert_eq!(
        show["overrides"][0]["reason"],
        "attacker still active; we need hands to contain"
    );

    let journal = cordon.ok("alice", &["journal", id]);
    assert!(
        journal.contains("overrode gate contain-first on step 3  attacker still active"),
        "{journal}"
    );
    assert!(journal.contains("hash chain: verified"), "{journal}");
    let audit = cordon.ok("alice", &["audit", "verify"]);
    assert!(audit.contains("audit: OK"), "{audit}");
}

#[test]
fn excluded_people_stay_out_whatever_their_role() {
    let cordon = Cordon::new();
    let id = cordon.declare("alice", "Suspicious admin logins");
    cordon.ok("alice", &["role", "assign", &id, "alice", "incident-commander"]);
    cordon.ok("alice", &["role", "assign", &id, "mallory", "executive"]);
    assert!(cordon.ok("mallory", &["incident", "list"]).contains(&id));
    cordon.ok(
        "alice",
        &[
            "member",
            "exclude",
            &id,
            "mallory",
            "--reason",
            "logins came from her laptop",
        ],
    );
    assert_eq!(
        cordon.ok("mallory", &["incident", "list"]),
        "no incidents you can see\n"
    );
    let refused = cordon.fails("alice", &["role", "assign", &id, "mallory", "observer"]);
    assert!(refused.contains("mallory is excluded"), "{refused}");
}

#[test]
fn invalid_playbook_files_are_reported_with_file_and_line() {
    let cordon = Cordon::new();
    let path = cordon.dir.path().join("team.toml");
    std::fs::write(
        &path,
        "id = \"t\"\ntitle = \"T\"\nkind = \"security\"\n[[steps]]\nid = 1\ntitle = \"a\"\n[[steps.gates]]\nid = \"g\"\ntitle = \"G\"\nwaits_for = [9]\n",
    )
    .unwrap();
    let file = path.display().to_string();
    let message = cordon.fails("alice", &["playbook", "check", &file]);
    assert!(
        message.contains(&format!("{file}:10:14: gate \"g\" refers to unknown step 9")),
        "{message}"
    );
    let message = cordon.fails("alice", &["incident", "open", "--title", "x", "--playbook", &file]);
    assert!(message.contains("refers to unknown step 9"), "{message}");
}

#[test]
fn a_team_playbook_runs_an_incident() {
    let cordon = Cordon::new();
    let path = cordon.dir.path().join("team.toml");
    let text = cordon
        .ok("alice", &["playbook", "show", "security"])
        .replace("id = \"security\"", "id = \"team-security\"");
    std::fs::write(&path, text).unwrap();
    let out = cordon.ok(
        "alice",
        &[
            "--json",
            "incident",
            "open",
            "--title",
            "x",
            "--playbook",
            &path.display().to_string(),
        ],
    );
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["steps"].as_array().unwrap().len(), 14);
}
