//! Fresh, isolated stores for each test: a temporary SQLite file, or a new PostgreSQL database.

use cordon_store::{PgStore, SqliteStore};
use sqlx::Connection;

pub async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("cordon.db")).await.unwrap();
    (store, dir)
}

/// The URL of the test cluster, or `None` (with a notice) when there is none outside CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var("CORDON_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but CORDON_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run in CI")
        }
        _ => {
            eprintln!("notice: CORDON_TEST_POSTGRES_URL is not set; skipping the PostgreSQL conformance tests");
            None
        }
    }
}

/// A new, empty database on the test cluster, migrated.
pub async fn postgres() -> Option<PgStore> {
    let url = postgres_url()?;
    let name = format!("cordon_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    Some(PgStore::connect(&format!("{base}/{name}")).await.unwrap())
}
