//! SQLite keeps its intake queue in a file of its own; these check that the two files stay in
//! agreement across an upgrade and a lost queue file.

use cordon_domain::Timestamp;
use cordon_store::{Effect, IntakeRow, NewIntake, PagingStore, SqliteStore, intake_path};
use sqlx::Connection;

fn event(dedup: &str) -> NewIntake {
    NewIntake {
        received_at: Timestamp::from_unix_millis(10),
        integration: "i1".into(),
        service: "db".into(),
        action: "trigger".into(),
        dedup_key: dedup.into(),
        group_key: None,
        signal: "{}".into(),
    }
}

fn keys(pending: &[IntakeRow]) -> Vec<&str> {
    pending.iter().map(|intake| intake.event.dedup_key.as_str()).collect()
}

#[tokio::test]
async fn events_an_older_version_queued_in_the_database_are_moved_to_the_queue_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cordon.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    // What an older version left behind: one event processed, two not.
    let mut old = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for (dedup, processed) in [("done", true), ("left-1", false), ("left-2", false)] {
        sqlx::query(
            "INSERT INTO intake_events (received_at, integration, service, action, dedup_key, signal, processed) \
             VALUES (10, 'i1', 'db', 'trigger', $1, '{}', $2)",
        )
        .bind(dedup)
        .bind(processed)
        .execute(&mut old)
        .await
        .unwrap();
    }
    old.close().await.unwrap();

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(keys(&store.pending_intake(10).await.unwrap()), ["left-1", "left-2"]);
    store.close().await;
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        keys(&store.pending_intake(10).await.unwrap()),
        ["left-1", "left-2"],
        "moved once, not again at the next start"
    );
}

#[tokio::test]
async fn a_lost_queue_file_does_not_hide_new_events_below_what_was_processed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cordon.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .insert_intake(&[event("a"), event("b"), event("c")])
        .await
        .unwrap();
    let now = Timestamp::from_unix_millis(20);
    assert_eq!(
        store.process_intake(10, now, |_, _, _| Effect::Ignore).await.unwrap(),
        3
    );
    store.close().await;

    std::fs::remove_file(intake_path(&path)).unwrap();
    for sidecar in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{sidecar}", intake_path(&path).display()));
    }
    let store = SqliteStore::open(&path).await.unwrap();
    store.insert_intake(&[event("d")]).await.unwrap();
    let pending = store.pending_intake(10).await.unwrap();
    assert_eq!(keys(&pending), ["d"]);
    assert!(pending[0].seq > 3, "numbered after the processed events: {pending:?}");
}
