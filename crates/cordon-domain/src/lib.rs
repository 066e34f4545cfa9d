//! Cordon's domain: what an incident is and the rules it lives by.
//!
//! This crate is pure. It does no IO, reads no clock, spawns nothing and knows no wire format:
//! time and identifiers are passed in, and every decision is a function of its inputs. That is
//! what lets the journal be replayed, property-tested and audited. The firewall test in
//! `crates/cordon/tests/it/firewall.rs` fails if this crate ever depends on tokio, sqlx or axum.
//!
//! The pieces:
//! - [`incident`]: kinds, severities, statuses, roles, people and codenames.
//! - [`playbook`]: response processes as data, parsed with located errors.
//! - [`event`]: the changes an incident goes through, as journal payloads.
//! - [`state`]: the incident as the fold of its events, and the rules (gates, roles,
//!   need-to-know) that decide whether a proposed event is accepted.
//! - [`journal`]: the hash chain, signed checkpoints and the audit over them.

pub mod event;
pub mod incident;
pub mod journal;
pub mod playbook;
pub mod state;
pub mod time;

pub use event::{Event, EvidenceRecord, Recorded, TLP_LABELS};
pub use incident::{Codename, GlobalRole, IncidentId, Kind, ParseError, Person, Role, Scope, Severity, Status};
pub use journal::{AuditReport, Checkpoint, Entry, Finding, Hash, Head, SignedCheckpoint};
pub use playbook::{Playbook, PlaybookError, StepId};
pub use state::{EvidenceState, GateBlock, Incident, Refusal, Retention, ShareState, StepStatus};
pub use time::Timestamp;

/// Re-exported so that callers sign and verify checkpoints with the same key types.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
