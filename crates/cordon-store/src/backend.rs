//! The SQLite and PostgreSQL stores. Their SQL is the same, so it is written once in
//! `impl_store!` and instantiated for each backend; only connecting and migrating differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use cordon_domain::journal::Checkpoint;
use cordon_domain::{Codename, Entry, Hash, Head, IncidentId, Person, SignedCheckpoint, Timestamp};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Transaction};

use crate::projection::{IncidentRow, Projection};
use crate::{CheckpointStore, JournalStore, StoreError};

/// The embedded default: SQLite in WAL mode, in two files: the database and its intake queue.
///
/// SQLite has one write lock per file. Every write goes through a single writer connection,
/// so writers queue in order inside the process instead of retrying the lock with SQLite's
/// busy handler, which sleeps up to 100 ms between attempts. Reads use their own connections,
/// which WAL lets run beside the writer; they are opened query-only, so a write sent to them by
/// mistake fails instead of contending for the lock.
///
/// Accepted events go to a second file with its own writer ([`intake_path`]), so that
/// answering a sender never waits behind the paging pipeline's transactions on the first.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Query-only connections to the main file, for reads.
    pub(crate) pool: SqlitePool,
    /// The main file's one writer connection.
    pub(crate) writer: SqlitePool,
    /// The queue file's writer and readers.
    pub(crate) intake_writer: SqlitePool,
    pub(crate) intake_reader: SqlitePool,
}

/// The intake queue's file beside the database at `database`: `cordon.db` → `cordon-intake.db`.
/// The two files are one database: back them up and move them together.
pub fn intake_path(database: &Path) -> PathBuf {
    let stem = database
        .file_stem()
        .map_or_else(|| "cordon".into(), |s| s.to_string_lossy());
    database.with_file_name(format!("{stem}-intake.db"))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its intake queue, and applies
    /// migrations.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let (writer, pool) = open_sqlite(path, 8).await?;
        sqlx::migrate!("migrations/sqlite").run(&writer).await?;
        let (intake_writer, intake_reader) = open_sqlite(&intake_path(path), 2).await?;
        sqlx::migrate!("migrations/sqlite-intake").run(&intake_writer).await?;
        let store = SqliteStore {
            pool,
            writer,
            intake_writer,
            intake_reader,
        };
        store.adopt_intake().await?;
        Ok(store)
    }

    /// Closes every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        for pool in [&self.writer, &self.pool, &self.intake_writer, &self.intake_reader] {
            pool.close().await;
        }
    }
}

/// One SQLite file: its writer connection and a pool of `readers` query-only connections.
async fn open_sqlite(path: &Path, readers: u32) -> Result<(SqlitePool, SqlitePool), StoreError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // The journal is evidence: a commit must survive a power cut, not only a crash.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // 16 MiB of page cache per connection (the default is 2 MiB): the pipeline's indexes
        // stay in memory during a storm.
        .pragma("cache_size", "-16384")
        // Multi-row statements keep their statement journal in memory rather than a temporary
        // file, and the WAL is copied back every 40 MiB rather than every 4 MiB: a storm's
        // hot pages are then written back once, not many times.
        .pragma("temp_store", "memory")
        .pragma("wal_autocheckpoint", "10000")
        // Other processes (the local CLI) may still hold the lock for a while.
        .busy_timeout(Duration::from_secs(30));
    let opened = |source| StoreError::Open {
        location: path.display().to_string(),
        source,
    };
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        // A writer that queues behind a long transaction must wait for it, not give up.
        .acquire_timeout(Duration::from_secs(60))
        .connect_with(options.clone())
        .await
        .map_err(opened)?;
    let reader = SqlitePoolOptions::new()
        .max_connections(readers)
        .connect_with(options.pragma("query_only", "ON"))
        .await
        .map_err(opened)?;
    Ok((writer, reader))
}

/// Multi-node mode: any number of `cordon` processes share one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (`postgres://...`) and applies migrations.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                location: redact_url(url),
                source,
            })?;
        sqlx::migrate!("migrations/postgres").run(&pool).await?;
        Ok(PgStore { pool })
    }
}

/// Where each backend writes: the shared SQL asks for `writer()` and `intake_writer()`.
impl SqliteStore {
    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub(crate) fn intake_writer(&self) -> &SqlitePool {
        &self.intake_writer
    }
}

/// PostgreSQL locks rows, not the database, so writers need no queue of their own, and the
/// intake queue is a table like any other: every write uses the one pool.
impl PgStore {
    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn intake_writer(&self) -> &PgPool {
        &self.pool
    }
}

/// Hides the password of a database URL so that it never reaches a message or a log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

pub(crate) fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt { what: what.into() }
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} is negative ({value})")))
}

fn parse<T: FromStr>(text: &str, what: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| corrupt(format!("{what} {text:?} is not recognised")))
}

fn person(text: String) -> Result<Person, StoreError> {
    Person::new(&text).map_err(|err| corrupt(err.to_string()))
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|db| db.is_unique_violation())
}

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        impl $store {
            fn entry_from(row: &<$db as sqlx::Database>::Row) -> Result<Entry, StoreError> {
                let get = |column: &'static str| -> Result<String, StoreError> {
                    row.try_get::<String, _>(column).map_err(db("reading the journal"))
                };
                let number = |column: &'static str| -> Result<i64, StoreError> {
                    row.try_get::<i64, _>(column).map_err(db("reading the journal"))
                };
                Ok(Entry {
                    incident: IncidentId::new(get("incident_id")?),
                    seq: to_u64(number("seq")?, "seq")?,
                    at: Timestamp::from_unix_millis(number("at")?),
                    actor: person(get("actor")?)?,
                    payload: get("payload")?.into_bytes(),
                    prev_hash: Hash::from_hex(&get("prev_hash")?).map_err(|e| corrupt(e.to_string()))?,
                    hash: Hash::from_hex(&get("hash")?).map_err(|e| corrupt(e.to_string()))?,
                })
            }

            fn row_from(row: &<$db as sqlx::Database>::Row) -> Result<IncidentRow, StoreError> {
                let get = |column: &'static str| -> Result<String, StoreError> {
                    row.try_get::<String, _>(column).map_err(db("reading incidents"))
                };
                let number = |column: &'static str| -> Result<i64, StoreError> {
                    row.try_get::<i64, _>(column).map_err(db("reading incidents"))
                };
                let codename: Option<String> = row.try_get("codename").map_err(db("reading incidents"))?;
                Ok(IncidentRow {
                    id: IncidentId::new(get("id")?),
                    kind: parse(&get("kind")?, "kind")?,
                    title: get("title")?,
                    severity: parse(&get("severity")?, "severity")?,
                    status: parse(&get("status")?, "status")?,
                    codename: codename.map(Codename::from_stored),
                    declared_by: person(get("declared_by")?)?,
                    declared_at: Timestamp::from_unix_millis(number("declared_at")?),
                    updated_at: Timestamp::from_unix_millis(number("updated_at")?),
                    last_seq: to_u64(number("last_seq")?, "last_seq")?,
                })
            }

            async fn insert_entry(tx: &mut Transaction<'static, $db>, entry: &Entry) -> Result<(), StoreError> {
                let payload = std::str::from_utf8(&entry.payload).map_err(|_| corrupt("event payload is not UTF-8"))?;
                let result = sqlx::query(
                    "INSERT INTO journal (incident_id, seq, at, actor, payload, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(entry.incident.as_str())
                .bind(to_i64(entry.seq))
                .bind(entry.at.unix_millis())
                .bind(entry.actor.as_str())
                .bind(payload)
                .bind(entry.prev_hash.to_hex())
                .bind(entry.hash.to_hex())
                .execute(&mut **tx)
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(err) if is_unique_violation(&err) => Err(StoreError::Conflict {
                        incident: entry.incident.clone(),
                        seq: entry.seq,
                    }),
                    Err(err) => Err(db("appending to the journal")(err)),
                }
            }

            async fn write_people(tx: &mut Transaction<'static, $db>, projection: &Projection) -> Result<(), StoreError> {
                let id = projection.row.id.as_str();
                sqlx::query("DELETE FROM incident_people WHERE incident_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(db("updating members"))?;
                let people = projection
                    .members
                    .iter()
                    .map(|p| (p, false))
                    .chain(projection.excluded.iter().map(|p| (p, true)));
                for (person, excluded) in people {
                    sqlx::query("INSERT INTO incident_people (incident_id, person, excluded) VALUES ($1, $2, $3)")
                        .bind(id)
                        .bind(person.as_str())
                        .bind(excluded)
                        .execute(&mut **tx)
                        .await
                        .map_err(db("updating members"))?;
                }
                Ok(())
            }
        }

        impl JournalStore for $store {
            async fn declare(&self, projection: &Projection, first: &Entry) -> Result<(), StoreError> {
                let row = &projection.row;
                let mut tx = self.writer().begin().await.map_err(db("starting a transaction"))?;
                let inserted = sqlx::query(
                    "INSERT INTO incidents (id, kind, title, severity, status, codename, declared_by, \
                     declared_at, updated_at, last_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(row.id.as_str())
                .bind(row.kind.as_str())
                .bind(&row.title)
                .bind(row.severity.as_str())
                .bind(row.status.as_str())
                .bind(row.codename.as_ref().map(Codename::as_str))
                .bind(row.declared_by.as_str())
                .bind(row.declared_at.unix_millis())
                .bind(row.updated_at.unix_millis())
                .bind(to_i64(row.last_seq))
                .execute(&mut *tx)
                .await;
                match inserted {
                    Ok(_) => {}
                    Err(err) if is_unique_violation(&err) => {
                        let codename = row.codename.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
                        return Err(StoreError::CodenameTaken { codename });
                    }
                    Err(err) => return Err(db("declaring an incident")(err)),
                }
                Self::insert_entry(&mut tx, first).await?;
                Self::write_people(&mut tx, projection).await?;
                tx.commit().await.map_err(db("committing a declaration"))
            }

            async fn append(&self, entry: &Entry, projection: &Projection) -> Result<(), StoreError> {
                let row = &projection.row;
                let mut tx = self.writer().begin().await.map_err(db("starting a transaction"))?;
                // The insert comes first so that the write lock is taken at once and a
                // concurrent writer of the same sequence number is refused here.
                Self::insert_entry(&mut tx, entry).await?;
                sqlx::query(
                    "UPDATE incidents SET title = $2, severity = $3, status = $4, updated_at = $5, last_seq = $6 \
                     WHERE id = $1",
                )
                .bind(row.id.as_str())
                .bind(&row.title)
                .bind(row.severity.as_str())
                .bind(row.status.as_str())
                .bind(row.updated_at.unix_millis())
                .bind(to_i64(row.last_seq))
                .execute(&mut *tx)
                .await
                .map_err(db("updating an incident"))?;
                Self::write_people(&mut tx, projection).await?;
                tx.commit().await.map_err(|err| {
                    if is_unique_violation(&err) {
                        StoreError::Conflict { incident: entry.incident.clone(), seq: entry.seq }
                    } else {
                        db("committing an append")(err)
                    }
                })
            }

            async fn journal(&self, incident: &IncidentId) -> Result<Vec<Entry>, StoreError> {
                let rows = sqlx::query("SELECT * FROM journal WHERE incident_id = $1 ORDER BY seq")
                    .bind(incident.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading the journal"))?;
                rows.iter().map(Self::entry_from).collect()
            }

            async fn journals(&self) -> Result<BTreeMap<IncidentId, Vec<Entry>>, StoreError> {
                let mut journals: BTreeMap<IncidentId, Vec<Entry>> = BTreeMap::new();
                // Incidents without any entry must show up too: that is a journal cut to nothing.
                let ids = sqlx::query("SELECT id FROM incidents")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading incidents"))?;
                for row in &ids {
                    let id: String = row.try_get("id").map_err(db("reading incidents"))?;
                    journals.insert(IncidentId::new(id), Vec::new());
                }
                let rows = sqlx::query("SELECT * FROM journal ORDER BY incident_id, seq")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading the journal"))?;
                for row in &rows {
                    let entry = Self::entry_from(row)?;
                    journals.entry(entry.incident.clone()).or_default().push(entry);
                }
                Ok(journals)
            }

            async fn visible_incidents(&self, person: &str) -> Result<Vec<IncidentRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT i.* FROM incidents i \
                     WHERE NOT EXISTS (SELECT 1 FROM incident_people p \
                                       WHERE p.incident_id = i.id AND p.person = $1 AND p.excluded) \
                       AND (i.kind = 'operational' OR EXISTS (SELECT 1 FROM incident_people p \
                            WHERE p.incident_id = i.id AND p.person = $1 AND NOT p.excluded)) \
                     ORDER BY i.declared_at DESC, i.id",
                )
                .bind(person)
                .fetch_all(&self.pool)
                .await
                .map_err(db("listing incidents"))?;
                rows.iter().map(Self::row_from).collect()
            }

            async fn lookup(&self, reference: &str) -> Result<Vec<IncidentRow>, StoreError> {
                // A prefix match uses substr rather than LIKE so that % and _ in user input
                // match only themselves.
                let rows = sqlx::query(
                    "SELECT * FROM incidents WHERE id = $1 OR codename = $1 \
                     OR (length($1) >= 4 AND substr(id, 1, length($1)) = $1) ORDER BY declared_at DESC",
                )
                .bind(reference)
                .fetch_all(&self.pool)
                .await
                .map_err(db("looking up an incident"))?;
                rows.iter().map(Self::row_from).collect()
            }

            async fn heads(&self) -> Result<Vec<Head>, StoreError> {
                let rows = sqlx::query(
                    "SELECT j.incident_id, j.seq, j.hash FROM journal j \
                     JOIN (SELECT incident_id, max(seq) AS seq FROM journal GROUP BY incident_id) last \
                       ON last.incident_id = j.incident_id AND last.seq = j.seq",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading chain heads"))?;
                rows.iter()
                    .map(|row| {
                        let id: String = row.try_get("incident_id").map_err(db("reading chain heads"))?;
                        let seq: i64 = row.try_get("seq").map_err(db("reading chain heads"))?;
                        let hash: String = row.try_get("hash").map_err(db("reading chain heads"))?;
                        Ok(Head {
                            incident: IncidentId::new(id),
                            seq: to_u64(seq, "seq")?,
                            hash: Hash::from_hex(&hash).map_err(|e| corrupt(e.to_string()))?,
                        })
                    })
                    .collect()
            }

            async fn memberships(&self, person: &str) -> Result<Vec<IncidentId>, StoreError> {
                let rows = sqlx::query("SELECT incident_id FROM incident_people WHERE person = $1 AND NOT excluded")
                    .bind(person)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading memberships"))?;
                rows.iter()
                    .map(|row| {
                        let id: String = row.try_get("incident_id").map_err(db("reading memberships"))?;
                        Ok(IncidentId::new(id))
                    })
                    .collect()
            }

            async fn operational_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
                let rows = sqlx::query(
                    "SELECT status, count(*) AS n FROM incidents WHERE kind = 'operational' GROUP BY status ORDER BY status",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db("counting incidents"))?;
                rows.iter()
                    .map(|row| {
                        let status: String = row.try_get("status").map_err(db("counting incidents"))?;
                        let count: i64 = row.try_get("n").map_err(db("counting incidents"))?;
                        Ok((status, u64::try_from(count).unwrap_or(0)))
                    })
                    .collect()
            }

            async fn codename_in_use(&self, codename: &str) -> Result<bool, StoreError> {
                let row = sqlx::query("SELECT count(*) AS n FROM incidents WHERE codename = $1 AND status <> 'closed'")
                    .bind(codename)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("checking a codename"))?;
                let count: i64 = row.try_get("n").map_err(db("checking a codename"))?;
                Ok(count > 0)
            }
        }

        impl CheckpointStore for $store {
            async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, StoreError> {
                let rows = sqlx::query("SELECT * FROM checkpoints ORDER BY idx")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading checkpoints"))?;
                rows.iter().map(checkpoint_from_row::<$db>).collect()
            }

            async fn latest_checkpoint(&self) -> Result<Option<SignedCheckpoint>, StoreError> {
                let row = sqlx::query("SELECT * FROM checkpoints ORDER BY idx DESC LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("reading checkpoints"))?;
                row.as_ref().map(checkpoint_from_row::<$db>).transpose()
            }

            async fn add_checkpoint(&self, signed: &SignedCheckpoint) -> Result<(), StoreError> {
                let checkpoint = &signed.checkpoint;
                let heads = serde_json::to_string(&checkpoint.heads).map_err(|e| corrupt(e.to_string()))?;
                let result = sqlx::query(
                    "INSERT INTO checkpoints (idx, at, prev, heads, public_key, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(to_i64(checkpoint.index))
                .bind(checkpoint.at.unix_millis())
                .bind(checkpoint.prev.to_hex())
                .bind(heads)
                .bind(&signed.public_key)
                .bind(&signed.signature)
                .execute(self.writer())
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(err) if is_unique_violation(&err) => {
                        Err(StoreError::CheckpointConflict { index: checkpoint.index })
                    }
                    Err(err) => Err(db("writing a checkpoint")(err)),
                }
            }
        }
    };
}

fn checkpoint_from_row<DB: sqlx::Database>(row: &DB::Row) -> Result<SignedCheckpoint, StoreError>
where
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c str: sqlx::ColumnIndex<DB::Row>,
{
    let get = |column: &'static str| -> Result<String, StoreError> {
        row.try_get::<String, _>(column).map_err(db("reading checkpoints"))
    };
    let index: i64 = row.try_get("idx").map_err(db("reading checkpoints"))?;
    let at: i64 = row.try_get("at").map_err(db("reading checkpoints"))?;
    let heads: Vec<Head> =
        serde_json::from_str(&get("heads")?).map_err(|e| corrupt(format!("checkpoint {index} heads: {e}")))?;
    let prev = Hash::from_hex(&get("prev")?).map_err(|e| corrupt(e.to_string()))?;
    Ok(SignedCheckpoint {
        checkpoint: Checkpoint {
            index: to_u64(index, "checkpoint index")?,
            at: Timestamp::from_unix_millis(at),
            prev,
            heads,
        },
        public_key: get("public_key")?,
        signature: get("signature")?,
    })
}

impl_store!(SqliteStore, sqlx::Sqlite);
impl_store!(PgStore, sqlx::Postgres);

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://cordon:s3cret@db:5432/cordon"),
            "postgres://cordon:***@db:5432/cordon"
        );
        assert_eq!(redact_url("postgres://db/cordon"), "postgres://db/cordon");
    }
}
