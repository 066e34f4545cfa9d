//! The tamper-evident journal: a SHA-256 hash chain per incident, and signed checkpoints over
//! the heads of every chain.
//!
//! Each entry's hash covers the previous entry's hash and a canonical encoding of the entry
//! (incident, sequence number, time, actor and the exact payload bytes that were stored), so
//! changing, deleting or reordering any entry breaks the chain from that point on. A chain
//! alone cannot reveal that its tail was cut off; checkpoints can. A checkpoint lists the head
//! (last sequence number and hash) of every incident's chain, links to the previous
//! checkpoint, and is signed with the installation's ed25519 key.

use std::collections::BTreeMap;
use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{Event, Recorded};
use crate::incident::{IncidentId, Person};
use crate::time::Timestamp;

/// A SHA-256 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The `prev_hash` of every chain's first entry, and of the first checkpoint.
    pub const GENESIS: Hash = Hash([0; 32]);

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Hash, JournalError> {
        let bytes = hex::decode(text).map_err(|_| JournalError::BadHash { text: text.to_owned() })?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| JournalError::BadHash { text: text.to_owned() })?;
        Ok(Hash(array))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..12])
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl From<Hash> for String {
    fn from(hash: Hash) -> String {
        hash.to_hex()
    }
}

impl TryFrom<String> for Hash {
    type Error = JournalError;

    fn try_from(text: String) -> Result<Hash, JournalError> {
        Hash::from_hex(&text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("invalid hash {text:?}: expected 64 hex digits")]
    BadHash { text: String },
    #[error("invalid signature or key encoding")]
    BadSignatureEncoding,
}

/// One journal entry exactly as stored. `payload` holds the serialized event bytes; the hash
/// is computed over those bytes, never over a re-serialization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub incident: IncidentId,
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Person,
    pub payload: Vec<u8>,
    pub prev_hash: Hash,
    pub hash: Hash,
}

impl Entry {
    /// Seals a new entry onto a chain whose head is `prev_hash`.
    pub fn seal(incident: IncidentId, seq: u64, at: Timestamp, actor: Person, event: &Event, prev_hash: Hash) -> Entry {
        let payload = encode_event(event);
        let hash = entry_hash(prev_hash, &incident, seq, at, &actor, &payload);
        Entry {
            incident,
            seq,
            at,
            actor,
            payload,
            prev_hash,
            hash,
        }
    }

    /// The hash this entry should have, recomputed from its fields.
    pub fn recompute_hash(&self) -> Hash {
        entry_hash(
            self.prev_hash,
            &self.incident,
            self.seq,
            self.at,
            &self.actor,
            &self.payload,
        )
    }

    pub fn decode(&self) -> Result<Recorded, serde_json::Error> {
        let event = serde_json::from_slice(&self.payload)?;
        Ok(Recorded {
            seq: self.seq,
            at: self.at,
            actor: self.actor.clone(),
            event,
        })
    }
}

/// The bytes an event is stored (and hashed) as.
pub fn encode_event(event: &Event) -> Vec<u8> {
    // Serializing a plain enum of strings, numbers and vectors into memory cannot fail; an
    // empty payload would be caught by verification as undecodable.
    serde_json::to_vec(event).unwrap_or_default()
}

fn entry_hash(prev: Hash, incident: &IncidentId, seq: u64, at: Timestamp, actor: &Person, payload: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(b"cordon-journal-entry-v1\0");
    hasher.update(prev.0);
    put_bytes(&mut hasher, incident.as_str().as_bytes());
    hasher.update(seq.to_be_bytes());
    hasher.update(at.unix_millis().to_be_bytes());
    put_bytes(&mut hasher, actor.as_str().as_bytes());
    put_bytes(&mut hasher, payload);
    Hash(hasher.finalize().into())
}

/// Length-prefixes a field so that no two different field sequences encode the same.
fn put_bytes(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// The first place a chain fails to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub incident: IncidentId,
    /// The position (1-based) at which the problem was found.
    pub position: u64,
    /// The sequence number stored at that position, if there is an entry there.
    pub stored_seq: Option<u64>,
    pub problem: String,
}

impl fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "incident {} entry {}: {}",
            self.incident, self.position, self.problem
        )
    }
}

/// Checks one incident's chain, entries in stored order. Returns the first break.
pub fn verify_chain(incident: &IncidentId, entries: &[Entry]) -> Result<(), ChainBreak> {
    let mut prev = Hash::GENESIS;
    for (index, entry) in entries.iter().enumerate() {
        let position = index as u64 + 1;
        let fail = |problem: String| ChainBreak {
            incident: incident.clone(),
            position,
            stored_seq: Some(entry.seq),
            problem,
        };
        if entry.seq != position {
            return Err(fail(format!(
                "sequence number is {}, expected {position} (an entry was deleted, inserted or reordered)",
                entry.seq
            )));
        }
        if entry.prev_hash != prev {
            return Err(fail(
                "does not link to the entry before it (prev_hash differs)".to_owned(),
            ));
        }
        if entry.recompute_hash() != entry.hash {
            return Err(fail(
                "content does not match its hash (the entry was changed)".to_owned(),
            ));
        }
        if let Err(err) = entry.decode() {
            return Err(fail(format!("payload is not a valid event: {err}")));
        }
        if (position == 1) != matches!(entry.decode().map(|r| r.event), Ok(Event::Declared { .. })) {
            return Err(fail(
                "only the first entry may, and must, declare the incident".to_owned(),
            ));
        }
        prev = entry.hash;
    }
    Ok(())
}

/// The head of one incident's chain, as a checkpoint records it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Head {
    pub incident: IncidentId,
    pub seq: u64,
    pub hash: Hash,
}

/// A statement of every chain's head at one moment, linked to the previous checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub index: u64,
    pub at: Timestamp,
    pub prev: Hash,
    /// Sorted by incident id.
    pub heads: Vec<Head>,
}

impl Checkpoint {
    pub fn new(index: u64, at: Timestamp, prev: Hash, mut heads: Vec<Head>) -> Checkpoint {
        heads.sort();
        Checkpoint { index, at, prev, heads }
    }

    /// The digest that is signed, and that the next checkpoint links to.
    pub fn digest(&self) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(b"cordon-checkpoint-v1\0");
        hasher.update(self.index.to_be_bytes());
        hasher.update(self.at.unix_millis().to_be_bytes());
        hasher.update(self.prev.0);
        hasher.update((self.heads.len() as u64).to_be_bytes());
        for head in &self.heads {
            put_bytes(&mut hasher, head.incident.as_str().as_bytes());
            hasher.update(head.seq.to_be_bytes());
            hasher.update(head.hash.0);
        }
        Hash(hasher.finalize().into())
    }

    pub fn sign(self, key: &SigningKey) -> SignedCheckpoint {
        let signature = key.sign(&self.digest().0);
        SignedCheckpoint {
            checkpoint: self,
            public_key: hex::encode(key.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// A checkpoint with the ed25519 signature over its digest and the key that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    #[serde(flatten)]
    pub checkpoint: Checkpoint,
    pub public_key: String,
    pub signature: String,
}

impl SignedCheckpoint {
    /// True when the signature is valid and made by `trusted`.
    pub fn verify(&self, trusted: &VerifyingKey) -> Result<bool, JournalError> {
        if self.public_key != hex::encode(trusted.as_bytes()) {
            return Ok(false);
        }
        let bytes: [u8; 64] = hex::decode(&self.signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(JournalError::BadSignatureEncoding)?;
        let signature = Signature::from_bytes(&bytes);
        Ok(trusted.verify(&self.checkpoint.digest().0, &signature).is_ok())
    }
}

/// What `audit verify` found wrong. Each finding names where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    Chain(ChainBreak),
    Checkpoint {
        index: u64,
        problem: String,
    },
    Truncated {
        incident: IncidentId,
        checkpoint: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    Witness {
        problem: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Chain(chain_break) => chain_break.fmt(f),
            Finding::Checkpoint { index, problem } => write!(f, "checkpoint {index}: {problem}"),
            Finding::Truncated {
                incident,
                checkpoint,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "incident {incident}: checkpoint {checkpoint} records {expected_seq} entries but the journal has {found_seq} (its tail was cut off)"
            ),
            Finding::Witness { problem } => write!(f, "witness: {problem}"),
        }
    }
}

/// The result of auditing every journal against the checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    pub incidents: usize,
    pub entries: u64,
    pub checkpoints: usize,
    pub findings: Vec<Finding>,
    /// Entries appended since the latest checkpoint; these are chained but not yet signed.
    pub unsigned_entries: u64,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Audits all journals, the checkpoint chain, and the latest checkpoint against the witness
/// copy kept outside the database.
pub fn audit(
    journals: &BTreeMap<IncidentId, Vec<Entry>>,
    checkpoints: &[SignedCheckpoint],
    trusted: &VerifyingKey,
    witness: Option<&SignedCheckpoint>,
) -> AuditReport {
    let mut findings = Vec::new();
    for (incident, entries) in journals {
        if let Err(chain_break) = verify_chain(incident, entries) {
            findings.push(Finding::Chain(chain_break));
        }
    }
    let mut prev = Hash::GENESIS;
    for (position, signed) in checkpoints.iter().enumerate() {
        let checkpoint = &signed.checkpoint;
        let index = checkpoint.index;
        let problem = if index != position as u64 + 1 {
            Some(format!(
                "index is {index}, expected {} (a checkpoint is missing)",
                position + 1
            ))
        } else if checkpoint.prev != prev {
            Some("does not link to the checkpoint before it".to_owned())
        } else {
            match signed.verify(trusted) {
                Ok(true) => None,
                Ok(false) => Some("signature does not verify with this installation's key".to_owned()),
                Err(err) => Some(err.to_string()),
            }
        };
        if let Some(problem) = problem {
            findings.push(Finding::Checkpoint { index, problem });
        }
        prev = checkpoint.digest();
    }
    let latest = checkpoints.last();
    if let Some(latest) = latest {
        check_heads(journals, &latest.checkpoint, &mut findings);
    }
    if let Some(witness) = witness {
        check_witness(witness, checkpoints, trusted, &mut findings);
    }
    let entries = journals.values().map(|entries| entries.len() as u64).sum();
    let signed: u64 = latest.map_or(0, |l| l.checkpoint.heads.iter().map(|h| h.seq).sum());
    AuditReport {
        incidents: journals.len(),
        entries,
        checkpoints: checkpoints.len(),
        unsigned_entries: entries.saturating_sub(signed),
        findings,
    }
}

fn check_heads(journals: &BTreeMap<IncidentId, Vec<Entry>>, checkpoint: &Checkpoint, findings: &mut Vec<Finding>) {
    for head in &checkpoint.heads {
        let entries = journals.get(&head.incident).map_or(&[][..], Vec::as_slice);
        let found_seq = entries.len() as u64;
        if found_seq < head.seq {
            findings.push(Finding::Truncated {
                incident: head.incident.clone(),
                checkpoint: checkpoint.index,
                expected_seq: head.seq,
                found_seq,
            });
            continue;
        }
        let index = usize::try_from(head.seq.saturating_sub(1)).unwrap_or(usize::MAX);
        if entries.get(index).is_some_and(|entry| entry.hash != head.hash) {
            findings.push(Finding::Chain(ChainBreak {
                incident: head.incident.clone(),
                position: head.seq,
                stored_seq: Some(head.seq),
                problem: format!(
                    "hash differs from the one signed in checkpoint {} (the chain was rewritten)",
                    checkpoint.index
                ),
            }));
        }
    }
}

fn check_witness(
    witness: &SignedCheckpoint,
    checkpoints: &[SignedCheckpoint],
    trusted: &VerifyingKey,
    findings: &mut Vec<Finding>,
) {
    if !matches!(witness.verify(trusted), Ok(true)) {
        findings.push(Finding::Witness {
            problem: "the witness checkpoint's signature does not verify".to_owned(),
        });
        return;
    }
    let index = witness.checkpoint.index;
    let stored = usize::try_from(index)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| checkpoints.get(i));
    match stored {
        None => findings.push(Finding::Witness {
            problem: format!(
                "the witness holds checkpoint {index} but the database has only {} (checkpoints were removed)",
                checkpoints.len()
            ),
        }),
        Some(stored) if stored.checkpoint.digest() != witness.checkpoint.digest() => {
            findings.push(Finding::Witness {
                problem: format!("checkpoint {index} in the database differs from the witness copy"),
            });
        }
        Some(_) => {}
    }
}
