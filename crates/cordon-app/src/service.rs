//! The use cases: declare an incident, act on it, read it, keep checkpoints, audit.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use cordon_evidence::LocalDirStore;

use cordon_domain::journal::{self, ChainBreak};
use cordon_domain::{
    AuditReport, Checkpoint, Codename, Entry, Event, Hash, Incident, IncidentId, Kind, Person, Playbook, Recorded,
    Refusal, Severity, SignedCheckpoint, SigningKey, Timestamp, VerifyingKey,
};
use cordon_store::{IncidentRow, Projection, Store, StoreError};

use crate::data_dir::{DataDir, DataDirError};

/// How many times an append is retried when other writers keep winning the race.
const MAX_ATTEMPTS: usize = 16;

/// The wall clock, for callers at the edge (the CLI and the server). Everything below takes
/// time as a parameter.
pub fn now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
    Timestamp::from_unix_millis(millis)
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Deliberately the same whether the incident does not exist or is hidden from the
    /// person asking: need-to-know must not leak through error messages.
    #[error("no incident {reference:?} that you can see")]
    NotFound { reference: String },
    #[error("{reference:?} matches several incidents: {}; use more of the id", .candidates.join(", "))]
    Ambiguous { reference: String, candidates: Vec<String> },
    #[error("refused: {0}")]
    Refused(Refusal),
    #[error("too many concurrent changes to incident {incident}; try again")]
    Contended { incident: IncidentId },
    #[error("the title must not be empty")]
    EmptyTitle,
    #[error("incident {id} is already declared")]
    AlreadyDeclared { id: IncidentId },
    #[error("a {playbook} playbook cannot run a {kind} incident")]
    PlaybookKind { playbook: Kind, kind: Kind },
    #[error("no codename is free; close old incidents first")]
    NoCodename,
    #[error("incident {incident} has a journal that cannot be read: {problem}")]
    Unreadable { incident: IncidentId, problem: String },
    #[error("evidence locker: {0}")]
    Evidence(cordon_evidence::EvidenceError),
    #[error("INTEGRITY ALARM: evidence {sha256} does not match its hash ({problem}); the alarm is journaled")]
    IntegrityAlarm { sha256: String, problem: String },
    #[error("no evidence {sha256} in this incident")]
    NoEvidence { sha256: String },
    #[error("no upload {upload} in this incident: it was finished, abandoned or never begun")]
    NoUpload { upload: String },
    #[error("{0} is recorded by the evidence locker itself, not posted as an event")]
    NotThroughEvidence(&'static str),
    /// The same answer for a token that never existed, expired, was used up or was revoked.
    #[error("this share link is not valid (expired, used, or never issued)")]
    ShareInvalid,
    #[error("a background task failed: {0}")]
    Task(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> AppError {
        AppError::Refused(refusal)
    }
}

/// What it takes to declare an incident.
#[derive(Debug, Clone)]
pub struct DeclareRequest {
    pub kind: Kind,
    pub title: String,
    pub severity: Severity,
    /// A team's own playbook; the built-in one for the kind when `None`.
    pub playbook: Option<Playbook>,
}

/// One journal entry as shown to a reader, with the outcome of checking its link in the chain.
#[derive(Debug, Clone)]
pub struct JournalLine {
    pub recorded: Recorded,
    pub hash: Hash,
}

/// An incident the caller may see, with the journal it was folded from.
struct Visible {
    row: IncidentRow,
    entries: Vec<Entry>,
    incident: Incident,
}

/// The use cases over one store. Cheap to clone.
#[derive(Clone)]
pub struct Service<S> {
    store: S,
    key: SigningKey,
    data_dir: DataDir,
    max_evidence_bytes: u64,
    /// The evidence locker, opened once: opening it sweeps abandoned partial files, which
    /// must not happen while another request of this process is writing one.
    pub(crate) locker: Arc<Mutex<Option<Arc<LocalDirStore>>>>,
}

impl<S: Store> Service<S> {
    pub fn new(store: S, data_dir: DataDir) -> Result<Service<S>, AppError> {
        let key = data_dir.signing_key()?;
        Ok(Service {
            store,
            key,
            data_dir,
            max_evidence_bytes: 1 << 40,
            locker: Arc::new(Mutex::new(None)),
        })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Declares an incident. Security incidents get a fresh codename, unique among open
    /// incidents and unrelated to the title.
    pub async fn declare(&self, actor: &Person, request: DeclareRequest, now: Timestamp) -> Result<Incident, AppError> {
        let id = IncidentId::new(uuid::Uuid::new_v4().to_string());
        self.declare_as(actor, request, id, now).await
    }

    /// Declares an incident under an id chosen beforehand, so that a caller that may crash and
    /// retry (the alert pipeline) declares it at most once.
    pub async fn declare_as(
        &self,
        actor: &Person,
        request: DeclareRequest,
        id: IncidentId,
        now: Timestamp,
    ) -> Result<Incident, AppError> {
        if request.title.trim().is_empty() {
            return Err(AppError::EmptyTitle);
        }
        let playbook = request.playbook.unwrap_or_else(|| Playbook::builtin(request.kind));
        if playbook.kind != request.kind {
            return Err(AppError::PlaybookKind {
                playbook: playbook.kind,
                kind: request.kind,
            });
        }
        for _ in 0..MAX_ATTEMPTS {
            let codename = match request.kind {
                Kind::Security => Some(self.fresh_codename().await?),
                Kind::Operational => None,
            };
            let event = Event::Declared {
                kind: request.kind,
                title: request.title.trim().to_owned(),
                severity: request.severity,
                codename,
                playbook: playbook.clone(),
            };
            let entry = Entry::seal(id.clone(), 1, now, actor.clone(), &event, Hash::GENESIS);
            let incident = fold(&id, std::slice::from_ref(&entry))?;
            match self.store.declare(&Projection::from(&incident), &entry).await {
                Ok(()) => {
                    self.checkpoint(now).await?;
                    return Ok(incident);
                }
                // Another declaration took the codename between our check and our insert, or
                // another node declared this very id (the alert pipeline on several nodes).
                Err(StoreError::CodenameTaken { .. }) => {
                    if !self.store.journal(&id).await?.is_empty() {
                        return Err(AppError::AlreadyDeclared { id });
                    }
                    continue;
                }
                Err(err) => return Err(err.into()),
            }
        }
        Err(AppError::NoCodename)
    }

    async fn fresh_codename(&self) -> Result<Codename, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let candidate = Codename::generate(random_u64, |_| false).ok_or(AppError::NoCodename)?;
            if !self.store.codename_in_use(candidate.as_str()).await? {
                return Ok(candidate);
            }
        }
        Err(AppError::NoCodename)
    }

    /// Proposes `event` on the incident `reference` names, as `actor`. The domain decides; an
    /// accepted event is sealed onto the chain and stored, and a checkpoint signed.
    pub async fn act(
        &self,
        actor: &Person,
        reference: &str,
        event: Event,
        now: Timestamp,
    ) -> Result<Incident, AppError> {
        // Collections, accesses, verifications and share links are facts the locker observes
        // or issues; letting a client post them would let it forge a chain of custody.
        match event {
            Event::EvidenceCollected(_) => return Err(AppError::NotThroughEvidence("evidence collection")),
            Event::EvidenceAccessed { .. } => return Err(AppError::NotThroughEvidence("evidence access")),
            Event::EvidenceVerified { .. } => return Err(AppError::NotThroughEvidence("evidence verification")),
            Event::EvidenceShared { .. } => return Err(AppError::NotThroughEvidence("a share link")),
            Event::EvidenceShareUsed { .. } => return Err(AppError::NotThroughEvidence("a share link's use")),
            _ => {}
        }
        if matches!(event, Event::BreakGlass { .. }) {
            return self.break_glass_event(actor, reference, event, now).await;
        }
        let id = self.resolve(actor, reference).await?.id;
        self.append_checked(actor, reference, &id, event, now).await
    }

    /// Lets someone who is not on an incident in, with a reason, journaled for the commander
    /// and members to see. Whether `actor` may break glass at all (an administrator) is the
    /// caller's decision. The incident must be named exactly: by full id or codename.
    pub async fn break_glass(
        &self,
        actor: &Person,
        reference: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Incident, AppError> {
        let event = Event::BreakGlass {
            reason: reason.to_owned(),
        };
        self.break_glass_event(actor, reference, event, now).await
    }

    async fn break_glass_event(
        &self,
        actor: &Person,
        reference: &str,
        event: Event,
        now: Timestamp,
    ) -> Result<Incident, AppError> {
        let wanted = reference.trim();
        let exact: Vec<IncidentRow> = self
            .store
            .lookup(wanted)
            .await?
            .into_iter()
            .filter(|row| row.id.as_str() == wanted || row.codename.as_ref().is_some_and(|c| c.as_str() == wanted))
            .collect();
        let [row] = exact.as_slice() else {
            return Err(AppError::NotFound {
                reference: reference.to_owned(),
            });
        };
        let id = row.id.clone();
        self.append_checked(actor, reference, &id, event, now).await
    }

    pub(crate) fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The largest evidence item accepted (CORDON_EVIDENCE_MAX_BYTES, default 1 TiB).
    pub(crate) fn max_evidence_bytes(&self) -> u64 {
        self.max_evidence_bytes
    }

    /// Sets the largest evidence item accepted.
    pub fn with_max_evidence_bytes(mut self, bytes: u64) -> Self {
        self.max_evidence_bytes = bytes;
        self
    }

    /// The common path of every change: fold, check, seal, append, retry on conflict. The
    /// evidence use cases call it directly for the events only the locker may vouch for.
    pub(crate) async fn append_checked(
        &self,
        actor: &Person,
        reference: &str,
        id: &IncidentId,
        event: Event,
        now: Timestamp,
    ) -> Result<Incident, AppError> {
        let id = id.clone();
        for _ in 0..MAX_ATTEMPTS {
            let entries = self.store.journal(&id).await?;
            let mut incident = fold(&id, &entries)?;
            // Excluded people, and anyone else who may not see the incident, get the same
            // answer as for an incident that does not exist.
            if incident.is_excluded(actor) || (!event.admits_non_members() && !incident.visible_to(actor)) {
                return Err(AppError::NotFound {
                    reference: reference.to_owned(),
                });
            }
            incident.check(actor, &event)?;
            let (seq, prev) = entries
                .last()
                .map_or((1, Hash::GENESIS), |last| (last.seq + 1, last.hash));
            let entry = Entry::seal(id.clone(), seq, now, actor.clone(), &event, prev);
            let recorded = decode(&entry)?;
            incident.apply(&recorded).map_err(|err| AppError::Unreadable {
                incident: id.clone(),
                problem: err.to_string(),
            })?;
            match self.store.append(&entry, &Projection::from(&incident)).await {
                Ok(()) => {
                    tracing::info!(incident = %id, actor = %actor, seq, event = %event.summary(), "journal entry appended");
                    self.checkpoint(now).await?;
                    return Ok(incident);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(AppError::Contended { incident: id })
    }

    /// Finds the one incident `reference` names (id, id prefix of 4+ characters, or codename)
    /// among those `actor` may see.
    pub async fn resolve(&self, actor: &Person, reference: &str) -> Result<IncidentRow, AppError> {
        Ok(self.find_visible(actor, reference).await?.row)
    }

    /// The incident's current state, if `actor` may see it.
    pub async fn show(&self, actor: &Person, reference: &str) -> Result<Incident, AppError> {
        Ok(self.find_visible(actor, reference).await?.incident)
    }

    /// Resolves `reference` among the incidents `actor` may see, keeping the journal that was
    /// loaded and folded to decide it, so callers need not load it again.
    async fn find_visible(&self, actor: &Person, reference: &str) -> Result<Visible, AppError> {
        let mut visible = Vec::new();
        for row in self.store.lookup(reference.trim()).await? {
            let entries = self.store.journal(&row.id).await?;
            let incident = fold(&row.id, &entries)?;
            if incident.visible_to(actor) {
                visible.push(Visible { row, entries, incident });
            }
        }
        match visible.len() {
            0 => Err(AppError::NotFound {
                reference: reference.to_owned(),
            }),
            1 => Ok(visible.remove(0)),
            _ => Err(AppError::Ambiguous {
                reference: reference.to_owned(),
                candidates: visible.iter().map(|found| found.row.id.to_string()).collect(),
            }),
        }
    }

    /// The incidents `actor` may see, most recent first.
    pub async fn list(&self, actor: &Person) -> Result<Vec<IncidentRow>, AppError> {
        Ok(self.store.visible_incidents(actor.as_str()).await?)
    }

    /// The incident's journal, and where its chain breaks, if it does.
    pub async fn journal(
        &self,
        actor: &Person,
        reference: &str,
    ) -> Result<(Vec<JournalLine>, Option<ChainBreak>), AppError> {
        let Visible { row, entries, .. } = self.find_visible(actor, reference).await?;
        let chain_break = journal::verify_chain(&row.id, &entries).err();
        let lines = entries
            .iter()
            .filter_map(|entry| {
                entry.decode().ok().map(|recorded| JournalLine {
                    recorded,
                    hash: entry.hash,
                })
            })
            .collect();
        Ok((lines, chain_break))
    }

    /// Signs a checkpoint over the current chain heads, unless nothing changed since the last
    /// one, and refreshes the witness copy in the data directory.
    pub async fn checkpoint(&self, now: Timestamp) -> Result<Option<SignedCheckpoint>, AppError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut heads = self.store.heads().await?;
            heads.sort();
            let latest = self.store.latest_checkpoint().await?;
            if latest.as_ref().is_some_and(|l| l.checkpoint.heads == heads) {
                return Ok(None);
            }
            let (index, prev) = latest
                .as_ref()
                .map_or((1, Hash::GENESIS), |l| (l.checkpoint.index + 1, l.checkpoint.digest()));
            let signed = Checkpoint::new(index, now, prev, heads).sign(&self.key);
            match self.store.add_checkpoint(&signed).await {
                Ok(()) => {
                    let witness = self.data_dir.read_witness().ok().flatten();
                    if witness.is_none_or(|w| w.checkpoint.index < index) {
                        self.data_dir.write_witness(&signed)?;
                    }
                    return Ok(Some(signed));
                }
                Err(StoreError::CheckpointConflict { .. }) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Ok(None)
    }

    /// Verifies every chain and checkpoint against `trusted` (this installation's key unless
    /// an auditor supplies one kept elsewhere), and the witness copy.
    pub async fn audit(&self, trusted: Option<VerifyingKey>) -> Result<AuditReport, AppError> {
        let journals = self.store.journals().await?;
        let checkpoints = self.store.checkpoints().await?;
        let witness = self.data_dir.read_witness()?;
        let trusted = trusted.unwrap_or_else(|| self.key.verifying_key());
        Ok(journal::audit(&journals, &checkpoints, &trusted, witness.as_ref()))
    }
}

fn decode(entry: &Entry) -> Result<Recorded, AppError> {
    entry.decode().map_err(|err| AppError::Unreadable {
        incident: entry.incident.clone(),
        problem: format!("entry {}: {err}", entry.seq),
    })
}

fn fold(id: &IncidentId, entries: &[Entry]) -> Result<Incident, AppError> {
    let recorded = entries.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
    Incident::fold(id.clone(), &recorded).map_err(|err| AppError::Unreadable {
        incident: id.clone(),
        problem: err.to_string(),
    })
}

fn random_u64() -> u64 {
    // If the OS has no randomness, fall back to the clock: codenames need to be unpredictable
    // to outsiders, not cryptographically strong.
    getrandom::u64().unwrap_or_else(|_| now().unix_millis().unsigned_abs())
}
