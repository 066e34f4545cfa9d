//! Cordon's use cases, shared by the command line and the server.
//!
//! [`Service`] ties the pure domain to a store: it loads an incident's journal, folds it,
//! asks the domain whether a proposed event is allowed, seals it onto the chain, appends it,
//! retries when another writer got there first, and keeps signed checkpoints current. It also
//! owns the rule that a person who may not see an incident is told exactly what they would be
//! told if it did not exist.
//!
//! [`DataDir`] is the local directory that holds the SQLite database, the installation's
//! signing key and the witness copy of the latest checkpoint.

mod data_dir;
mod evidence;
pub mod paging;
mod service;

pub use data_dir::{DataDir, DataDirError};
pub use evidence::{EvidenceMeta, IssuedShare, RetentionDecision, find_evidence, local_origin, verify_bundle};
pub use service::{AppError, DeclareRequest, JournalLine, Service, now};
