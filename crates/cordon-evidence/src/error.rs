//! The one error type of the evidence locker. Every variant carries what a person needs to act
//! on it: the path, the object, the limit, the time.

use std::io;
use std::path::PathBuf;

use crate::digest::Sha256Digest;

#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// A file system operation on the store failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The caller's reader failed while evidence was being ingested. Nothing was stored.
    #[error("reading the evidence failed after {bytes_read} bytes, nothing was stored: {source}")]
    SourceRead {
        bytes_read: u64,
        #[source]
        source: io::Error,
    },

    #[error("no upload {upload}: it was finished, abandoned or never begun")]
    UnknownUpload { upload: String },

    #[error("invalid upload id {text:?}: expected 32 lowercase hex digits")]
    InvalidUploadId { text: String },

    /// A piece of a resumable upload was sent for the wrong offset.
    #[error(
        "upload {upload} has received {received} bytes, but the piece was sent for offset {offset}; resume from {received}"
    )]
    UploadOffsetMismatch { upload: String, received: u64, offset: u64 },

    /// The client's stream failed part-way; what arrived is kept.
    #[error("upload {upload} was interrupted after {received} bytes, which are kept; resume from {received}: {source}")]
    UploadInterrupted {
        upload: String,
        received: u64,
        #[source]
        source: io::Error,
    },

    /// The finished upload does not hash to what the client declared. Nothing was stored.
    #[error(
        "upload {upload} hashes to {actual}, not to the {declared} the client declared; nothing was stored, abandon it and upload again"
    )]
    UploadDigestMismatch {
        upload: String,
        declared: Sha256Digest,
        actual: Sha256Digest,
    },

    /// The evidence is larger than the store accepts. Nothing was stored.
    #[error(
        "evidence is larger than the size limit of {} ({limit_bytes} bytes), nothing was stored; raise the store's max_object_bytes to accept it",
        human_bytes(*limit_bytes)
    )]
    TooLarge { limit_bytes: u64 },

    /// Reading a stored object failed for a reason other than a hash mismatch.
    #[error("cannot read evidence object {sha256}: {source}")]
    ObjectRead {
        sha256: Sha256Digest,
        #[source]
        source: io::Error,
    },

    #[error("no evidence object {sha256} in the store")]
    NotFound { sha256: Sha256Digest },

    /// Stored content no longer hashes to its address: it was changed after it was stored.
    #[error("evidence object {expected} is corrupt: its content now hashes to {actual}; treat this as an alarm")]
    HashMismatch {
        expected: Sha256Digest,
        actual: Sha256Digest,
    },

    /// Stored content has a different length than the metadata recorded.
    #[error("evidence object {sha256} is {actual} bytes long, but its record says {recorded}")]
    SizeMismatch {
        sha256: Sha256Digest,
        recorded: u64,
        actual: u64,
    },

    /// Stored content hashes to its address, but disagrees with another digest or the size
    /// that the item's record holds: the record or the content was changed.
    #[error("evidence object {sha256}: its record says {field} {recorded}, the content has {actual}")]
    RecordMismatch {
        sha256: Sha256Digest,
        field: &'static str,
        recorded: String,
        actual: String,
    },

    #[error("invalid digest {text:?}: expected {expected_hex_digits} hex digits")]
    InvalidDigest { text: String, expected_hex_digits: usize },

    #[error("invalid TLP marking {text:?}: expected one of TLP:RED, TLP:AMBER+STRICT, TLP:AMBER, TLP:GREEN, TLP:CLEAR")]
    InvalidTlp { text: String },

    /// The journal slice given to the exporter is not JSON.
    #[error("the journal slice is not valid JSON: {source}")]
    JournalNotJson {
        #[source]
        source: serde_json::Error,
    },

    /// The export items belong to more than one incident.
    #[error("an export bundle holds one incident, but items of {first} and {other} were given")]
    MixedIncidents { first: String, other: String },

    #[error("cannot serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// Writing the export bundle failed. Whatever was written is incomplete and must be
    /// discarded.
    #[error("cannot write {path} into the export bundle, discard the partial output: {source}")]
    BundleWrite {
        path: String,
        #[source]
        source: io::Error,
    },

    /// The operating system could not supply random bytes for an upload id.
    #[error("cannot draw random bytes for an upload id: {reason}")]
    Randomness { reason: String },
}

/// Formats a byte count the way a person reads it: `1.5 GiB`, `64 MiB`, `512 bytes`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // Precision loss is fine for a human-readable size.
    #[allow(clippy::cast_precision_loss)]
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS[unit];
    if value.fract() == 0.0 {
        format!("{value:.0} {name}")
    } else {
        format!("{value:.1} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(64 * 1024 * 1024), "64 MiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn the_size_limit_error_names_the_limit() {
        let err = EvidenceError::TooLarge {
            limit_bytes: 1024 * 1024,
        };
        assert_eq!(
            err.to_string(),
            "evidence is larger than the size limit of 1 MiB (1048576 bytes), nothing was stored; raise the store's max_object_bytes to accept it"
        );
    }
}
