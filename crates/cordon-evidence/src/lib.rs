//! Cordon's evidence locker: write-once, content-addressed storage for disk and memory images,
//! log archives and screenshots, with the records a court or regulator asks for later.
//!
//! # Design
//!
//! **Content addressing.** An evidence object is stored under the SHA-256 of its content
//! ([`EvidenceStore::put`]). The address is the integrity check: whoever reads an object
//! re-hashes it and compares. SHA-1 and MD5 are computed in the same pass because forensic
//! tools and older documents still quote them; they are recorded, never used as addresses.
//!
//! **Streaming in constant memory.** Ingest, verification and export read in 1 MiB chunks
//! ([`CHUNK_BYTES`]), so a multi-gigabyte disk image costs no more memory than a screenshot. A
//! configurable limit ([`StoreConfig::max_object_bytes`]) stops an oversized upload early with
//! an error that names the limit.
//!
//! **Write once, never delete.** The store API has no delete and no overwrite. The
//! [`LocalDirStore`] writes into a partial file, syncs it, makes it read-only and hard-links it
//! into place, which never replaces an existing object; an interrupted ingest leaves only a
//! partial file outside `objects/`, which the next [`LocalDirStore::open`] removes. Retention
//! and legal hold are states the caller records (a bundle's manifest shows them as
//! [`RetentionState`]), not storage operations, so a later disposal job can refuse held items.
//!
//! **Restartable and resumable.** An ingest cut off half-way stores nothing; a client that
//! wants to resume instead uses [`ResumableUploads`], offset-based pieces that survive a
//! dropped connection or a restart and are hashed and linked only when finished.
//!
//! **Verified reads only.** Content comes out only through [`VerifiedReader`], which hashes as
//! it streams and turns a mismatch at the end into an error, so a download of a changed object
//! can never look like a success. [`EvidenceStore::verify`] does the same for audits.
//!
//! **Records, not side effects.** This crate never prints, logs, reads the clock or writes the
//! journal. Metadata ([`EvidenceItem`]) and custody ([`CustodyEntry`]) are plain serde values;
//! the caller keeps them in the incident's journal, whose hash chain makes them tamper-evident.
//! Share links live there too, not here: their single use must hold across server nodes, which
//! the journal's append conflict gives. Time is always a `now: Timestamp` parameter.
//!
//! **Bundles that verify offline.** [`export_bundle`] writes one tar archive with a manifest
//! signed by the installation's ed25519 key; [`verify_bundle`] needs only the archive (and,
//! ideally, the trusted public key) and reports each problem by file name.
//!
//! **Architecture invariant:** the crate is synchronous and does not depend on tokio, sqlx or
//! axum (the firewall test in `crates/cordon/tests/it/firewall.rs`). The server calls it on a blocking pool.

mod bundle;
mod custody;
mod digest;
mod error;
mod item;
mod serde_time;
mod store;
mod upload;

pub use bundle::{
    BUNDLE_FORMAT, BundleProblem, BundleReport, CUSTODY_PATH, Compression, ExportConfig, ExportSummary, JOURNAL_PATH,
    MANIFEST_PATH, MAX_METADATA_FILE_BYTES, Manifest, ManifestFile, OBJECTS_PREFIX, PUBLIC_KEY_PATH, SIGNATURE_PATH,
    export_bundle, verify_bundle,
};
pub use custody::{Actor, CustodyEntry, CustodyEvent, VerificationOutcome};
pub use digest::{Digests, HexDigest, Md5Digest, MultiHasher, Sha1Digest, Sha256Digest, sha256_of};
pub use error::{EvidenceError, human_bytes};
pub use item::{EvidenceItem, RetentionState, Tlp};
pub use store::{
    CHUNK_BYTES, EvidenceStore, Ingested, LocalDirStore, StoreConfig, StoredObject, Verdict, VerifiedReader,
    verify_item,
};
pub use upload::{ResumableUploads, UploadId, UploadStatus};
