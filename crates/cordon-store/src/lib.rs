//! Storage for Cordon: incident journals, their projections, and signed checkpoints.
//!
//! Two narrow traits, [`JournalStore`] and [`CheckpointStore`], are implemented by
//! [`SqliteStore`] (the embedded default) and [`PgStore`] (multi-node mode). Callers are
//! generic over them, so the backend is chosen once, in `main`, from the database URL.
//!
//! **Architecture invariant:** the journal is append-only. The store never updates or deletes a
//! journal entry or a checkpoint, and database triggers refuse it. Two writers appending to the
//! same incident cannot fork its chain: the `(incident_id, seq)` primary key lets exactly one
//! win, and the other gets [`StoreError::Conflict`], which it may retry after reloading.
//!
//! Both backends share their SQL, written once in `backend.rs` and instantiated per backend by a
//! macro; each has its own migrations because their column types differ.

mod accounts;
mod backend;
mod paging;
mod projection;

use std::collections::BTreeMap;
use std::future::Future;

use cordon_domain::{Entry, Head, IncidentId, SignedCheckpoint};

pub use accounts::{AccountStore, ApiToken, Session, User, UserUpdate};
pub use backend::{PgStore, SqliteStore, intake_path, redact_url};
pub use paging::{
    Advance, AlertRow, ContactRow, Definition, DefinitionKind, Delivery, Due, Effect, EscalationRow, IntakeRow,
    IntegrationRow, Joined, NewIntake, NewNotification, NotificationRow, PagingStore, ServiceRow,
};
pub use projection::{IncidentRow, Projection};

/// The incident journals and the projections kept beside them.
pub trait JournalStore: Send + Sync {
    /// Creates an incident with its first journal entry.
    fn declare(&self, projection: &Projection, first: &Entry) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Appends one entry and replaces the incident's projection, atomically. Fails with
    /// [`StoreError::Conflict`] when another writer appended the same sequence number first.
    fn append(&self, entry: &Entry, projection: &Projection) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// One incident's journal in sequence order.
    fn journal(&self, incident: &IncidentId) -> impl Future<Output = Result<Vec<Entry>, StoreError>> + Send;

    /// Every journal, for audits.
    fn journals(&self) -> impl Future<Output = Result<BTreeMap<IncidentId, Vec<Entry>>, StoreError>> + Send;

    /// The incidents `person` may see (need-to-know applied), most recent first.
    fn visible_incidents(&self, person: &str) -> impl Future<Output = Result<Vec<IncidentRow>, StoreError>> + Send;

    /// Incidents whose id equals or starts with `reference`, or whose codename equals it.
    /// Callers apply need-to-know before saying anything about the result.
    fn lookup(&self, reference: &str) -> impl Future<Output = Result<Vec<IncidentRow>, StoreError>> + Send;

    /// The head of every incident's chain.
    fn heads(&self) -> impl Future<Output = Result<Vec<Head>, StoreError>> + Send;

    /// The incidents `person` is a member of (not excluded).
    fn memberships(&self, person: &str) -> impl Future<Output = Result<Vec<IncidentId>, StoreError>> + Send;

    /// Operational incidents by status, for metrics. Security incidents are never counted.
    fn operational_counts(&self) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send;

    /// Whether an open (not closed) incident already uses this codename.
    fn codename_in_use(&self, codename: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Signed checkpoints over the heads of all journals.
pub trait CheckpointStore: Send + Sync {
    fn checkpoints(&self) -> impl Future<Output = Result<Vec<SignedCheckpoint>, StoreError>> + Send;

    fn latest_checkpoint(&self) -> impl Future<Output = Result<Option<SignedCheckpoint>, StoreError>> + Send;

    /// Adds the next checkpoint. Fails with [`StoreError::CheckpointConflict`] when another
    /// writer added one with the same index first.
    fn add_checkpoint(&self, checkpoint: &SignedCheckpoint) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Everything a store needs to be: both traits, cheap to clone and shareable across tasks.
pub trait Store: JournalStore + CheckpointStore + AccountStore + PagingStore + Clone + 'static {}

impl<T: JournalStore + CheckpointStore + AccountStore + PagingStore + Clone + 'static> Store for T {}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("incident {incident} already has entry {seq}; another change was recorded first")]
    Conflict { incident: IncidentId, seq: u64 },
    #[error("codename {codename} is already used by an open incident")]
    CodenameTaken { codename: String },
    #[error("checkpoint {index} was written by another writer first")]
    CheckpointConflict { index: u64 },
    #[error("{what} already exists")]
    Exists { what: String },
    #[error("stored data is not valid: {what}")]
    Corrupt { what: String },
    #[error("cannot open the database at {location}: {source}")]
    Open { location: String, source: sqlx::Error },
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error during {operation}: {source}")]
    Database {
        operation: &'static str,
        source: sqlx::Error,
    },
}
