//! Evidence use cases: collect into the content-addressed locker, read back with
//! verification, hand over, export a signed bundle, verify a bundle offline.
//!
//! The chain of custody is the incident's journal: every collection, access, verification and
//! hand-over is a journal entry, hash-chained with everything else that happened. A read that
//! finds the content changed is journaled as an integrity alarm and fails.

use std::io::{Read, Write};
use std::sync::Arc;

use cordon_auth::secret::{self, Secret, TokenKind};

use cordon_domain::journal;
use cordon_domain::{Entry, Event, EvidenceRecord, Incident, IncidentId, Person, Timestamp};
use cordon_evidence::{
    Actor, BundleReport, Compression, CustodyEntry, CustodyEvent, EvidenceItem, EvidenceStore, ExportConfig,
    ExportSummary, Ingested, LocalDirStore, ResumableUploads, RetentionState, Sha256Digest, StoreConfig, Tlp, UploadId,
    UploadStatus, VerificationOutcome,
};
use cordon_store::Store;
use serde_json::{Value, json};

use crate::service::{AppError, Service};

/// What the person collecting evidence says about it.
#[derive(Debug, Clone)]
pub struct EvidenceMeta {
    pub name: String,
    pub source: String,
    pub collected_by: Person,
    pub collected_at: Timestamp,
    pub tlp: Tlp,
}

/// A retention decision about one item: a period to keep it, or a legal hold placed or
/// released. Only the incident commander or legal counsel may take them (the domain decides).
#[derive(Debug, Clone)]
pub enum RetentionDecision {
    RetainUntil { until: Timestamp, reason: String },
    PlaceHold { reason: String },
    ReleaseHold { reason: String },
}

impl RetentionDecision {
    /// The journal event for the item with this full SHA-256.
    pub fn event(self, sha256: String) -> Event {
        match self {
            RetentionDecision::RetainUntil { until, reason } => Event::EvidenceRetentionSet { sha256, until, reason },
            RetentionDecision::PlaceHold { reason } => Event::EvidenceLegalHoldPlaced { sha256, reason },
            RetentionDecision::ReleaseHold { reason } => Event::EvidenceLegalHoldReleased { sha256, reason },
        }
    }
}

/// Where the local command line acts from, for the chain of custody's "from where":
/// `local cli on <host>`. The server records the client's address instead.
pub fn local_origin() -> String {
    let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "an unknown host".to_owned());
    format!("local cli on {host}")
}

impl<S: Store> Service<S> {
    fn locker(&self) -> Result<Arc<LocalDirStore>, AppError> {
        let mut slot = self
            .locker
            .lock()
            .map_err(|_| AppError::Task("the evidence locker lock is poisoned".to_owned()))?;
        if let Some(locker) = slot.as_ref() {
            return Ok(Arc::clone(locker));
        }
        let config = StoreConfig {
            max_object_bytes: self.max_evidence_bytes(),
        };
        let locker =
            Arc::new(LocalDirStore::open(self.data_dir().root().join("evidence"), config).map_err(AppError::Evidence)?);
        *slot = Some(Arc::clone(&locker));
        Ok(locker)
    }

    /// The item of the incident that `sha256` (its full hash, or 8+ leading hex digits) names,
    /// with the incident's id.
    pub async fn evidence_item(
        &self,
        actor: &Person,
        reference: &str,
        sha256: &str,
    ) -> Result<(IncidentId, EvidenceRecord), AppError> {
        let incident = self.show(actor, reference).await?;
        let record = find_evidence(&incident, sha256)?.clone();
        Ok((incident.id, record))
    }

    /// Streams `content` into the locker and journals its collection, from `from`. Returns
    /// the incident.
    pub async fn add_evidence(
        &self,
        actor: &Person,
        reference: &str,
        content: impl Read + Send + 'static,
        meta: EvidenceMeta,
        from: &str,
        now: Timestamp,
    ) -> Result<(Incident, EvidenceRecord), AppError> {
        let id = self.resolve(actor, reference).await?.id;
        let locker = self.locker()?;
        // Hashing a disk image takes a while: keep it off the async workers.
        let ingested = blocking(move || locker.put(content)).await?;
        self.collect(actor, reference, &id, ingested, meta, from, now).await
    }

    /// Journals the collection of content the locker has just stored.
    #[allow(clippy::too_many_arguments)]
    async fn collect(
        &self,
        actor: &Person,
        reference: &str,
        id: &IncidentId,
        ingested: Ingested,
        meta: EvidenceMeta,
        from: &str,
        now: Timestamp,
    ) -> Result<(Incident, EvidenceRecord), AppError> {
        let digests = ingested.digests;
        let record = EvidenceRecord {
            sha256: digests.sha256.to_hex(),
            sha1: digests.sha1.to_hex(),
            md5: digests.md5.to_hex(),
            size: digests.size,
            name: meta.name,
            source: meta.source,
            collected_by: meta.collected_by,
            collected_at: meta.collected_at,
            tlp: meta.tlp.as_str().to_owned(),
            from: Some(from.to_owned()),
        };
        let incident = self
            .append_checked(actor, reference, id, Event::EvidenceCollected(record.clone()), now)
            .await?;
        Ok((incident, record))
    }

    /// Takes a retention decision about the item `sha256` (or a unique prefix of it) names.
    pub async fn decide_retention(
        &self,
        actor: &Person,
        reference: &str,
        sha256: &str,
        decision: RetentionDecision,
        now: Timestamp,
    ) -> Result<Incident, AppError> {
        let (incident, item) = self.evidence_item(actor, reference, sha256).await?;
        self.append_checked(actor, reference, &incident, decision.event(item.sha256), now)
            .await
    }

    /// Copies an item to `out`, re-verifying its hash on the way. The access is journaled,
    /// with where it went (`from`); a mismatch is journaled as an integrity alarm and returned
    /// as an error.
    #[allow(clippy::too_many_arguments)]
    pub async fn read_evidence(
        &self,
        actor: &Person,
        reference: &str,
        sha256: &str,
        purpose: &str,
        mut out: impl Write + Send + 'static,
        from: &str,
        now: Timestamp,
    ) -> Result<u64, AppError> {
        let (incident, item) = self.evidence_item(actor, reference, sha256).await?;
        let digest = parse_digest(&item.sha256)?;
        let locker = self.locker()?;
        let copied = tokio::task::spawn_blocking(move || -> Result<u64, cordon_evidence::EvidenceError> {
            let mut reader = locker.open_verified(&digest)?;
            match std::io::copy(&mut reader, &mut out) {
                Ok(bytes) => Ok(bytes),
                Err(err) => Err(reader.into_error(err)),
            }
        })
        .await
        .map_err(|err| AppError::Task(err.to_string()))?;
        let intact = copied.is_ok();
        let event = Event::EvidenceAccessed {
            sha256: item.sha256.clone(),
            purpose: purpose.to_owned(),
            intact,
            from: Some(from.to_owned()),
        };
        self.append_checked(actor, reference, &incident, event, now).await?;
        copied.map_err(|err| AppError::IntegrityAlarm {
            sha256: item.sha256.clone(),
            problem: err.to_string(),
        })
    }

    /// Re-hashes every evidence item of every incident `actor` may see and journals the
    /// outcome. Returns (item, problem) for each item that failed.
    pub async fn verify_evidence(&self, actor: &Person, now: Timestamp) -> Result<Vec<(String, String)>, AppError> {
        let locker = self.locker()?;
        let mut failures = Vec::new();
        for row in self.list(actor).await? {
            let incident = self.show(actor, row.id.as_str()).await?;
            for item in &incident.evidence {
                let digest = parse_digest(&item.record.sha256)?;
                let outcome = locker.verify(&digest);
                let intact = outcome.is_ok();
                if let Err(err) = outcome {
                    failures.push((item.record.sha256.clone(), err.to_string()));
                }
                let event = Event::EvidenceVerified {
                    sha256: item.record.sha256.clone(),
                    intact,
                };
                self.append_checked(actor, row.id.as_str(), &incident.id, event, now)
                    .await?;
            }
        }
        Ok(failures)
    }

    /// Writes the incident's evidence, chain of custody and journal as a signed bundle.
    pub async fn export_evidence(
        &self,
        actor: &Person,
        reference: &str,
        out: impl Write + Send + 'static,
        compression: Compression,
        now: Timestamp,
    ) -> Result<ExportSummary, AppError> {
        let incident = self.show(actor, reference).await?;
        let entries = self.store().journal(&incident.id).await?;
        let items = incident
            .evidence
            .iter()
            .map(|item| to_item(&incident.id, item))
            .collect::<Result<Vec<_>, _>>()?;
        let custody = custody_entries(&incident.id, &entries)?;
        let journal_json = journal_slice(&entries);
        let config = ExportConfig {
            incident: incident.id.clone(),
            exported_by: actor.clone(),
            created_at: now,
            compression,
        };
        let locker = self.locker()?;
        let key = self.signing_key().clone();
        tokio::task::spawn_blocking(move || {
            cordon_evidence::export_bundle(&*locker, &items, &custody, &journal_json, &key, &config, out)
        })
        .await
        .map_err(|err| AppError::Task(err.to_string()))?
        .map_err(AppError::Evidence)
    }
}

/// Checks a bundle offline: the evidence crate's checks of files, manifest and signature, plus
/// the hash chain of the journal slice inside it. Needs no server and no data directory.
pub fn verify_bundle(reader: impl Read, trusted: Option<cordon_domain::VerifyingKey>) -> (BundleReport, Vec<String>) {
    let mut bytes = Vec::new();
    let mut reader = reader;
    if let Err(err) = reader.read_to_end(&mut bytes) {
        let report = cordon_evidence::verify_bundle(&[][..], trusted);
        return (report, vec![format!("cannot read the bundle: {err}")]);
    }
    let report = cordon_evidence::verify_bundle(&bytes[..], trusted);
    let journal_problems = match read_journal_from_bundle(&bytes) {
        Some(Ok(entries)) => match entries.first().map(|e| e.incident.clone()) {
            Some(incident) => journal::verify_chain(&incident, &entries)
                .err()
                .map(|b| b.to_string())
                .into_iter()
                .collect(),
            None => vec!["journal.json: the journal slice is empty".to_owned()],
        },
        Some(Err(problem)) => vec![format!("journal.json: {problem}")],
        None => Vec::new(),
    };
    (report, journal_problems)
}

fn read_journal_from_bundle(bytes: &[u8]) -> Option<Result<Vec<Entry>, String>> {
    let decoded;
    let tar_bytes: &[u8] = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).ok()?;
        decoded = out;
        &decoded
    } else {
        bytes
    };
    let mut archive = tar::Archive::new(tar_bytes);
    let entries = archive.entries().ok()?;
    for file in entries.flatten() {
        let mut file = file;
        let is_journal = file
            .path()
            .ok()
            .is_some_and(|p| p.as_os_str() == cordon_evidence::JOURNAL_PATH);
        if is_journal {
            let mut text = String::new();
            if file.read_to_string(&mut text).is_err() {
                return Some(Err("not UTF-8".to_owned()));
            }
            return Some(parse_journal_slice(&text));
        }
    }
    None
}

/// The journal as exported: every entry with its exact payload, so the chain can be re-checked.
fn journal_slice(entries: &[Entry]) -> Vec<u8> {
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| {
            json!({
                "incident": entry.incident.as_str(),
                "seq": entry.seq,
                "at": entry.at.unix_millis(),
                "actor": entry.actor.as_str(),
                "payload": String::from_utf8_lossy(&entry.payload),
                "prev_hash": entry.prev_hash.to_hex(),
                "hash": entry.hash.to_hex(),
            })
        })
        .collect();
    serde_json::to_vec_pretty(&json!({"format": "cordon-journal-slice-v1", "entries": entries})).unwrap_or_default()
}

fn parse_journal_slice(text: &str) -> Result<Vec<Entry>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let entries = value["entries"].as_array().ok_or("no entries array")?;
    entries
        .iter()
        .map(|entry| {
            let text = |field: &str| {
                entry[field]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or(format!("entry without {field}"))
            };
            let number = |field: &str| entry[field].as_i64().ok_or(format!("entry without {field}"));
            Ok(Entry {
                incident: IncidentId::new(text("incident")?),
                seq: u64::try_from(number("seq")?).map_err(|e| e.to_string())?,
                at: Timestamp::from_unix_millis(number("at")?),
                actor: Person::new(&text("actor")?).map_err(|e| e.to_string())?,
                payload: text("payload")?.into_bytes(),
                prev_hash: cordon_domain::Hash::from_hex(&text("prev_hash")?).map_err(|e| e.to_string())?,
                hash: cordon_domain::Hash::from_hex(&text("hash")?).map_err(|e| e.to_string())?,
            })
        })
        .collect()
}

/// The item of `incident` that `sha256` names: the full hash or 8+ leading hex digits.
pub fn find_evidence<'a>(incident: &'a Incident, sha256: &str) -> Result<&'a EvidenceRecord, AppError> {
    let wanted = sha256.trim().to_lowercase();
    let matches: Vec<&EvidenceRecord> = incident
        .evidence
        .iter()
        .map(|item| &item.record)
        .filter(|record| wanted.len() >= 8 && record.sha256.starts_with(&wanted))
        .collect();
    match matches.as_slice() {
        [record] => Ok(record),
        [] => Err(AppError::NoEvidence {
            sha256: sha256.to_owned(),
        }),
        _ => Err(AppError::NoEvidence {
            sha256: format!("{sha256} (ambiguous: give more of the hash)"),
        }),
    }
}

fn parse_digest(hex: &str) -> Result<Sha256Digest, AppError> {
    hex.parse().map_err(|_| AppError::NoEvidence { sha256: hex.to_owned() })
}

fn to_item(incident: &IncidentId, item: &cordon_domain::EvidenceState) -> Result<EvidenceItem, AppError> {
    let record = &item.record;
    let corrupt = |what: &str| AppError::Unreadable {
        incident: incident.clone(),
        problem: format!("evidence {}: {what}", record.sha256),
    };
    Ok(EvidenceItem {
        incident: incident.clone(),
        sha256: record.sha256.parse().map_err(|_| corrupt("bad sha256"))?,
        sha1: record.sha1.parse().map_err(|_| corrupt("bad sha1"))?,
        md5: record.md5.parse().map_err(|_| corrupt("bad md5"))?,
        size: record.size,
        original_name: record.name.clone(),
        source: record.source.clone(),
        collected_by: record.collected_by.clone(),
        collected_at: record.collected_at,
        stored_at: item.stored_at,
        tlp: record.tlp.parse().map_err(|_| corrupt("bad TLP label"))?,
        retention: retention_state(item),
    })
}

/// The item's retention as a manifest records it: a legal hold outranks a retention period.
fn retention_state(item: &cordon_domain::EvidenceState) -> RetentionState {
    match (&item.legal_hold, &item.retention) {
        (Some(hold), _) => RetentionState::LegalHold {
            placed_by: hold.by.clone(),
            since: hold.at,
            reason: hold.reason.clone(),
        },
        (None, Some(retention)) => RetentionState::RetainUntil {
            until: retention.until,
            reason: retention.reason.clone(),
        },
        (None, None) => RetentionState::Standard,
    }
}

/// The chain of custody of every item, read from the journal: collections, accesses,
/// verifications, hand-overs, and share links issued and used, each with from where.
fn custody_entries(incident: &IncidentId, entries: &[Entry]) -> Result<Vec<CustodyEntry>, AppError> {
    let mut custody = Vec::new();
    // Share links by grant, so a use can name the recipient the link was issued to.
    let mut recipients: Vec<(String, String)> = Vec::new();
    let unreadable = |problem: String| AppError::Unreadable {
        incident: incident.clone(),
        problem,
    };
    for entry in entries {
        let recorded = entry.decode().map_err(|err| unreadable(err.to_string()))?;
        let outcome = |intact: bool, sha: &Sha256Digest| {
            if intact {
                VerificationOutcome::Intact
            } else {
                VerificationOutcome::Mismatch { actual: *sha }
            }
        };
        let grant_digest = |grant: &str| -> Result<Sha256Digest, AppError> {
            grant
                .parse()
                .map_err(|_| unreadable(format!("bad share grant {grant}")))
        };
        let mut actor = Actor::Member(recorded.actor.clone());
        let (sha256, event, reason, from) = match &recorded.event {
            Event::EvidenceCollected(record) => (
                record.sha256.clone(),
                CustodyEvent::Collected {
                    source: record.source.clone(),
                },
                String::new(),
                record.from.clone(),
            ),
            Event::EvidenceAccessed {
                sha256,
                purpose,
                intact,
                from,
            } => {
                let digest = parse_digest(sha256)?;
                (
                    sha256.clone(),
                    CustodyEvent::Accessed {
                        verified: outcome(*intact, &digest),
                    },
                    purpose.clone(),
                    from.clone(),
                )
            }
            Event::EvidenceVerified { sha256, intact } => {
                let digest = parse_digest(sha256)?;
                (
                    sha256.clone(),
                    CustodyEvent::Verified {
                        outcome: outcome(*intact, &digest),
                    },
                    String::new(),
                    None,
                )
            }
            Event::EvidenceHandedOver {
                sha256,
                recipient,
                organization,
                reason,
            } => (
                sha256.clone(),
                CustodyEvent::HandedOver {
                    recipient: recipient.clone(),
                    organization: organization.clone(),
                },
                reason.clone(),
                None,
            ),
            Event::EvidenceShared {
                sha256,
                grant,
                recipient,
                purpose,
                expires_at,
                single_use,
            } => {
                recipients.push((grant.clone(), recipient.clone()));
                (
                    sha256.clone(),
                    CustodyEvent::SharedLinkCreated {
                        grant: grant_digest(grant)?,
                        recipient: recipient.clone(),
                        expires_at: *expires_at,
                        single_use: *single_use,
                    },
                    purpose.clone(),
                    None,
                )
            }
            Event::EvidenceShareUsed {
                sha256,
                grant,
                intact,
                from,
            } => {
                let digest = parse_digest(sha256)?;
                let recipient = recipients
                    .iter()
                    .find(|(issued, _)| issued == grant)
                    .map_or_else(String::new, |(_, recipient)| recipient.clone());
                actor = Actor::LinkHolder { recipient };
                (
                    sha256.clone(),
                    CustodyEvent::SharedLinkUsed {
                        grant: grant_digest(grant)?,
                        verified: outcome(*intact, &digest),
                    },
                    String::new(),
                    from.clone(),
                )
            }
            _ => continue,
        };
        custody.push(CustodyEntry {
            incident: incident.clone(),
            item: parse_digest(&sha256)?,
            at: recorded.at,
            actor,
            // Entries from before Cordon recorded where say only that it happened in Cordon.
            location: from.unwrap_or_else(|| "cordon".to_owned()),
            reason,
            event,
        });
    }
    Ok(custody)
}

impl<S: Store> Service<S> {
    /// Re-hashes every evidence item of every incident, for `audit verify`. Read-only: it
    /// journals nothing. Returns (incident, item, problem) for each item that fails.
    pub async fn audit_evidence(&self) -> Result<Vec<(IncidentId, String, String)>, AppError> {
        let locker = self.locker()?;
        let mut failures = Vec::new();
        for (id, entries) in self.store().journals().await? {
            for entry in &entries {
                let Ok(recorded) = entry.decode() else { continue };
                let Event::EvidenceCollected(record) = recorded.event else {
                    continue;
                };
                let problem = match parse_digest(&record.sha256) {
                    Ok(digest) => match locker.verify(&digest) {
                        Ok(digests) if digests.sha1.to_hex() != record.sha1 || digests.md5.to_hex() != record.md5 => {
                            Some("its SHA-1 or MD5 differs from the journal".to_owned())
                        }
                        Ok(_) => None,
                        Err(err) => Some(err.to_string()),
                    },
                    Err(_) => Some("the journal records an invalid hash".to_owned()),
                };
                if let Some(problem) = problem {
                    failures.push((id.clone(), record.sha256.clone(), problem));
                }
            }
        }
        Ok(failures)
    }
}

/// A share link just issued: the token (shown once; `Debug` redacts it) and when it stops
/// working. The token names its incident (`cdn_share_<incident>.<random>`) so that serving it
/// folds one journal; only its SHA-256 is journaled.
#[derive(Debug, Clone)]
pub struct IssuedShare {
    pub token: Secret,
    pub expires_at: Timestamp,
}

impl<S: Store> Service<S> {
    /// Issues an expiring, single-purpose link to one item for an outside party. Refused for
    /// TLP:RED items. The issue is journaled with the token's digest, never the token.
    #[allow(clippy::too_many_arguments)]
    pub async fn share_evidence(
        &self,
        actor: &Person,
        reference: &str,
        sha256: &str,
        recipient: &str,
        purpose: &str,
        valid_for_hours: u32,
        single_use: bool,
        now: Timestamp,
    ) -> Result<IssuedShare, AppError> {
        let (incident, item) = self.evidence_item(actor, reference, sha256).await?;
        let (token, grant) =
            secret::mint_scoped(TokenKind::Share, incident.as_str()).map_err(|err| AppError::Task(err.to_string()))?;
        let hours = i64::from(valid_for_hours.clamp(1, 24 * 30));
        let expires_at = Timestamp::from_unix_millis(now.unix_millis() + hours * 3_600_000);
        let event = Event::EvidenceShared {
            sha256: item.sha256,
            grant,
            recipient: recipient.to_owned(),
            purpose: purpose.to_owned(),
            expires_at,
            single_use,
        };
        self.append_checked(actor, reference, &incident, event, now).await?;
        Ok(IssuedShare { token, expires_at })
    }

    /// Serves a share link: checks it (not expired, not used up), re-verifies the content,
    /// journals the use (which is what makes a single-use link single-use), then copies the
    /// item to `out`. Every failure looks the same to the caller.
    pub async fn open_shared(
        &self,
        token: &str,
        out: impl Write + Send + 'static,
        from: &str,
        now: Timestamp,
    ) -> Result<EvidenceRecord, AppError> {
        let incident_id = secret::scope_of(token, TokenKind::Share).ok_or(AppError::ShareInvalid)?;
        let id = IncidentId::new(incident_id);
        let entries = self.store().journal(&id).await?;
        if entries.is_empty() {
            return Err(AppError::ShareInvalid);
        }
        let recorded = entries
            .iter()
            .map(Entry::decode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| AppError::ShareInvalid)?;
        let incident = Incident::fold(id.clone(), &recorded).map_err(|_| AppError::ShareInvalid)?;
        let grant = secret::digest(token);
        let share = incident
            .shares
            .iter()
            .find(|share| share.grant == grant)
            .ok_or(AppError::ShareInvalid)?;
        if share.expires_at <= now {
            return Err(AppError::ShareInvalid);
        }
        let record = find_evidence(&incident, &share.sha256)?.clone();
        let digest = parse_digest(&record.sha256)?;
        let locker = self.locker()?;
        let verify_locker = Arc::clone(&locker);
        let verified = tokio::task::spawn_blocking(move || verify_locker.verify(&digest))
            .await
            .map_err(|err| AppError::Task(err.to_string()))?;
        let link_holder = Person::new("share-link").map_err(|err| AppError::Task(err.to_string()))?;
        let event = Event::EvidenceShareUsed {
            sha256: record.sha256.clone(),
            grant,
            intact: verified.is_ok(),
            from: Some(from.to_owned()),
        };
        self.append_checked(&link_holder, id.as_str(), &id, event, now)
            .await
            .map_err(|err| match err {
                AppError::Refused(_) => AppError::ShareInvalid,
                other => other,
            })?;
        if let Err(err) = verified {
            return Err(AppError::IntegrityAlarm {
                sha256: record.sha256.clone(),
                problem: err.to_string(),
            });
        }
        let copied = tokio::task::spawn_blocking(move || -> Result<u64, cordon_evidence::EvidenceError> {
            let mut reader = locker.open_verified(&digest)?;
            let mut out = out;
            std::io::copy(&mut reader, &mut out).map_err(|err| reader.into_error(err))
        })
        .await
        .map_err(|err| AppError::Task(err.to_string()))?;
        copied.map_err(|err| AppError::IntegrityAlarm {
            sha256: record.sha256.clone(),
            problem: err.to_string(),
        })?;
        Ok(record)
    }
}

impl<S: Store> Service<S> {
    /// Re-hashes one item before it is served, so that a server can refuse to send a single
    /// byte of changed evidence. A mismatch is journaled as an integrity alarm.
    pub async fn check_evidence(
        &self,
        actor: &Person,
        reference: &str,
        sha256: &str,
        now: Timestamp,
    ) -> Result<EvidenceRecord, AppError> {
        let (incident, record) = self.evidence_item(actor, reference, sha256).await?;
        let digest = parse_digest(&record.sha256)?;
        let locker = self.locker()?;
        let verified = tokio::task::spawn_blocking(move || locker.verify(&digest))
            .await
            .map_err(|err| AppError::Task(err.to_string()))?;
        if let Err(err) = verified {
            let event = Event::EvidenceVerified {
                sha256: record.sha256.clone(),
                intact: false,
            };
            self.append_checked(actor, reference, &incident, event, now).await?;
            return Err(AppError::IntegrityAlarm {
                sha256: record.sha256,
                problem: err.to_string(),
            });
        }
        Ok(record)
    }
}

/// Runs locker work on the blocking pool: hashing and copying evidence must not hold up the
/// async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, cordon_evidence::EvidenceError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| AppError::Task(err.to_string()))?
        .map_err(AppError::Evidence)
}

impl<S: Store> Service<S> {
    /// Starts a resumable upload for the incident. The upload is bound to the incident: any
    /// caller who may write to it and holds the id may send the next piece (a colleague can
    /// finish an upload), nobody can send it through another incident.
    pub async fn begin_upload(&self, actor: &Person, reference: &str) -> Result<UploadId, AppError> {
        let id = self.resolve(actor, reference).await?.id;
        let locker = self.locker()?;
        blocking(move || locker.begin_upload(id.as_str())).await
    }

    /// How many bytes of the upload arrived: where the client resumes.
    pub async fn upload_status(&self, actor: &Person, reference: &str, upload: &str) -> Result<UploadStatus, AppError> {
        let id = self.resolve(actor, reference).await?.id;
        let upload = parse_upload(upload)?;
        let locker = self.locker()?;
        let status = blocking(move || locker.upload_status(&upload)).await;
        match status {
            Ok(status) if status.label == id.as_str() => Ok(status),
            Ok(status) => Err(AppError::NoUpload {
                upload: status.upload.to_string(),
            }),
            Err(AppError::Evidence(cordon_evidence::EvidenceError::UnknownUpload { upload })) => {
                Err(AppError::NoUpload { upload })
            }
            Err(err) => Err(err),
        }
    }

    /// Appends `content` at `offset`, which must be what the upload has received so far.
    /// If the content stops part-way, what arrived is kept and the error says where to
    /// resume. Returns the bytes received.
    pub async fn append_upload(
        &self,
        actor: &Person,
        reference: &str,
        upload: &str,
        offset: u64,
        content: impl Read + Send + 'static,
    ) -> Result<u64, AppError> {
        let status = self.upload_status(actor, reference, upload).await?;
        let locker = self.locker()?;
        blocking(move || locker.append_upload(&status.upload, offset, content)).await
    }

    /// Throws an unfinished upload away; it was never evidence.
    pub async fn abandon_upload(&self, actor: &Person, reference: &str, upload: &str) -> Result<(), AppError> {
        let status = self.upload_status(actor, reference, upload).await?;
        let locker = self.locker()?;
        blocking(move || locker.abandon_upload(&status.upload)).await
    }

    /// Hashes the complete upload, refuses it if the client declared another SHA-256, stores
    /// it content-addressed and journals its collection, exactly as a one-piece upload.
    #[allow(clippy::too_many_arguments)]
    pub async fn finish_upload(
        &self,
        actor: &Person,
        reference: &str,
        upload: &str,
        declared_sha256: Option<&str>,
        meta: EvidenceMeta,
        from: &str,
        now: Timestamp,
    ) -> Result<(Incident, EvidenceRecord), AppError> {
        let declared = declared_sha256
            .map(|hex| {
                hex.trim().to_lowercase().parse::<Sha256Digest>().map_err(|_| {
                    AppError::Evidence(cordon_evidence::EvidenceError::InvalidDigest {
                        text: hex.chars().take(80).collect(),
                        expected_hex_digits: 64,
                    })
                })
            })
            .transpose()?;
        let status = self.upload_status(actor, reference, upload).await?;
        let id = IncidentId::new(status.label.clone());
        let locker = self.locker()?;
        let ingested = blocking(move || locker.finish_upload(&status.upload, declared.as_ref())).await?;
        self.collect(actor, reference, &id, ingested, meta, from, now).await
    }
}

fn parse_upload(text: &str) -> Result<UploadId, AppError> {
    UploadId::parse(text).map_err(|_| AppError::NoUpload {
        upload: text.chars().take(80).collect(),
    })
}
