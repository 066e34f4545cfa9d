//! Tampering with the SQLite file by hand, the way an intruder with file access would: drop
//! the append-only triggers, then edit, delete or cut entries. `audit verify` must point at
//! the tampered entry.

use sqlx::{Connection, SqliteConnection};

use crate::support::Cordon;

/// Runs SQL directly on the data directory's database, bypassing Cordon.
fn tamper(cordon: &Cordon, statements: &[&str]) {
    let url = format!("sqlite://{}", cordon.data_dir().join("cordon.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut connection = SqliteConnection::connect(&url).await.unwrap();
        for statement in statements {
            sqlx::query(statement).execute(&mut connection).await.unwrap();
        }
    });
}

fn incident_with_entries(cordon: &Cordon) -> (String, String) {
    let codename = cordon.declare("alice", "Ransomware note on file server");
    cordon.ok("alice", &["role", "assign", &codename, "alice", "incident-commander"]);
    cordon.ok(
        "alice",
        &["step", "done", &codename, "1", "--note", "file server powered off"],
    );
    cordon.ok(
        "alice",
        &["step", "done", &codename, "2", "--note", "VPN account disabled"],
    );
    let show: serde_json::Value =
        serde_json::from_str(&cordon.ok("alice", &["--json", "incident", "show", &codename])).unwrap();
    (codename, show["id"].as_str().unwrap().to_owned())
}

#[test]
fn the_journal_refuses_updates_through_the_database() {
    let cordon = Cordon::new();
    incident_with_entries(&cordon);
    let url = format!("sqlite://{}", cordon.data_dir().join("cordon.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = runtime.block_on(async {
        let mut connection = SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM journal WHERE seq = 3")
            .execute(&mut connection)
            .await
            .unwrap_err()
    });
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn an_edited_entry_is_named() {
    let cordon = Cordon::new();
    let (codename, id) = incident_with_entries(&cordon);
    tamper(
        &cordon,
        &[
            "DROP TRIGGER journal_no_update",
            "UPDATE journal SET payload = replace(payload, 'VPN account disabled', 'nothing happened') WHERE seq = 4",
        ],
    );
    let report = cordon.fails("alice", &["audit", "verify"]);
    assert!(
        report.contains(&format!("FAIL incident {id} entry 4: content does not match its hash")),
        "{report}"
    );
    let journal = cordon.fails("alice", &["journal", &codename]);
    assert!(journal.contains("hash chain: BROKEN"), "{journal}");
}

#[test]
fn a_deleted_entry_is_named() {
    let cordon = Cordon::new();
    let (_, id) = incident_with_entries(&cordon);
    tamper(
        &cordon,
        &["DROP TRIGGER journal_no_delete", "DELETE FROM journal WHERE seq = 2"],
    );
    let report = cordon.fails("alice", &["audit", "verify"]);
    assert!(
        report.contains(&format!("FAIL incident {id} entry 2: sequence number is 3, expected 2")),
        "{report}"
    );
}

#[test]
fn a_cut_tail_is_caught_by_the_checkpoint() {
    let cordon = Cordon::new();
    let (_, id) = incident_with_entries(&cordon);
    tamper(
        &cordon,
        &["DROP TRIGGER journal_no_delete", "DELETE FROM journal WHERE seq >= 3"],
    );
    let report = cordon.fails("alice", &["audit", "verify"]);
    assert!(report.contains(&format!("incident {id}: checkpoint")), "{report}");
    assert!(report.contains("records 4 entries but the journal has 2"), "{report}");
}

#[test]
fn cutting_checkpoints_too_is_caught_by_the_witness() {
    let cordon = Cordon::new();
    incident_with_entries(&cordon);
    tamper(
        &cordon,
        &[
            "DROP TRIGGER journal_no_delete",
            "DROP TRIGGER checkpoints_no_delete",
            "DELETE FROM journal WHERE seq >= 3",
            "DELETE FROM checkpoints WHERE idx >= 3",
        ],
    );
    let report = cordon.fails("alice", &["audit", "verify"]);
    assert!(
        report.contains("witness: the witness holds checkpoint 4 but the database has only 2"),
        "{report}"
    );
}

#[test]
fn a_checkpoint_from_another_key_is_refused() {
    let cordon = Cordon::new();
    incident_with_entries(&cordon);
    let other = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let report = cordon.fails("alice", &["audit", "verify", "--public-key", other]);
    assert!(report.contains("checkpoint 1: signature does not verify"), "{report}");
}
