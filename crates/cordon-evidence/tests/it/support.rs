//! Shared fixtures: stores in temporary directories, evidence items, readers that generate,
//! fail or watch their callers, and a way to take a bundle apart and put it back together.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;

use cordon_domain::{IncidentId, Person, SigningKey, Timestamp};
use cordon_evidence::{
    Actor, CustodyEntry, CustodyEvent, EvidenceItem, Ingested, LocalDirStore, RetentionState, Sha256Digest,
    StoreConfig, Tlp, VerificationOutcome,
};
use tempfile::TempDir;

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

pub fn person(name: &str) -> Person {
    Person::new(name).unwrap()
}

pub fn new_store() -> (TempDir, LocalDirStore) {
    new_store_with(StoreConfig::default())
}

/// The conformance suite's constructor for the local directory store.
pub fn new_store_limited(max_object_bytes: u64) -> (TempDir, LocalDirStore) {
    new_store_with(StoreConfig { max_object_bytes })
}

pub fn new_store_with(config: StoreConfig) -> (TempDir, LocalDirStore) {
    let dir = TempDir::new().unwrap();
    let store = LocalDirStore::open(dir.path().join("evidence"), config).unwrap();
    (dir, store)
}

pub fn incident() -> IncidentId {
    IncidentId::new("7f3c2a10-incident")
}

/// The record a caller would keep for freshly ingested content.
pub fn item_for(ingested: &Ingested, original_name: &str, tlp: Tlp) -> EvidenceItem {
    let digests = ingested.digests;
    EvidenceItem {
        incident: incident(),
        sha256: digests.sha256,
        sha1: digests.sha1,
        md5: digests.md5,
        size: digests.size,
        original_name: original_name.to_owned(),
        source: "host db-3, /dev/xvda1".to_owned(),
        collected_by: person("alice"),
        collected_at: at("2026-11-27T22:10:00Z"),
        stored_at: at("2026-11-27T22:40:00Z"),
        tlp,
        retention: RetentionState::Standard,
    }
}

pub fn collected(item: &EvidenceItem) -> CustodyEntry {
    CustodyEntry {
        incident: item.incident.clone(),
        item: item.sha256,
        at: item.collected_at,
        actor: Actor::Member(item.collected_by.clone()),
        location: "db-3".to_owned(),
        reason: "suspected compromise, image before rebuild".to_owned(),
        event: CustodyEvent::Collected {
            source: item.source.clone(),
        },
    }
}

pub fn verified(item: &EvidenceItem) -> CustodyEntry {
    CustodyEntry {
        incident: item.incident.clone(),
        item: item.sha256,
        at: at("2026-11-28T00:00:00Z"),
        actor: Actor::Member(person("bob")),
        location: "cordon server".to_owned(),
        reason: "pre-export audit".to_owned(),
        event: CustodyEvent::Verified {
            outcome: VerificationOutcome::Intact,
        },
    }
}

pub fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Flips one bit of a stored object's byte at `offset`, as an intruder with disk access would.
pub fn corrupt_object(store: &LocalDirStore, sha256: &Sha256Digest, offset: usize) {
    let path = store.object_path(sha256);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    bytes[offset] ^= 0x01;
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
}

/// Generates `len` bytes where byte `i` is `i % 251`, without holding them, and records the
/// largest buffer it was asked to fill.
pub struct PatternReader {
    position: u64,
    len: u64,
    pub largest_read: usize,
}

impl PatternReader {
    pub fn new(len: u64) -> Self {
        PatternReader {
            position: 0,
            len,
            largest_read: 0,
        }
    }
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest_read = self.largest_read.max(buf.len());
        let remaining = self.len - self.position;
        let count = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
        for (offset, byte) in buf[..count].iter_mut().enumerate() {
            *byte = ((self.position + offset as u64) % 251) as u8;
        }
        self.position += count as u64;
        Ok(count)
    }
}

/// Yields `good` bytes of content, then fails as a dropped connection would.
pub struct FailingReader {
    pub content: io::Cursor<Vec<u8>>,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.content.read(buf)? {
            0 => Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away")),
            read => Ok(read),
        }
    }
}

/// Every file of a tar bundle, in order.
pub fn unpack(bundle: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(bundle);
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

/// A tar bundle of these files, in this order.
pub fn pack(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o444);
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The bundle with one file's bytes changed by `change`.
pub fn with_file_changed(bundle: &[u8], path: &str, change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut files = unpack(bundle);
    let (_, bytes) = files
        .iter_mut()
        .find(|(name, _)| name == path)
        .unwrap_or_else(|| panic!("no {path} in the bundle"));
    change(bytes);
    pack(&files)
}
