//! An incident's current state as the fold of its journal, and the rules that decide whether a
//! proposed event may be appended to it.
//!
//! `Incident::fold` applies events without judging them: they were judged when they were
//! appended. `Incident::check` is that judgement: it is called with the current state and a
//! proposed event, and either accepts it or says exactly what stands in the way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::event::{Event, EvidenceRecord, Recorded, TLP_LABELS};
use crate::incident::{Codename, IncidentId, Kind, Person, Role, Severity, Status};
use crate::playbook::{Gate, Playbook, StepId};
use crate::time::Timestamp;

/// The state of one incident after applying every event of its journal in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub id: IncidentId,
    pub kind: Kind,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub codename: Option<Codename>,
    pub declared_by: Person,
    pub declared_at: Timestamp,
    pub updated_at: Timestamp,
    pub playbook: Playbook,
    pub steps: BTreeMap<StepId, StepState>,
    pub decisions: BTreeMap<String, Justified>,
    pub overrides: Vec<GateOverride>,
    pub roles: BTreeMap<Person, BTreeSet<Role>>,
    pub members: BTreeSet<Person>,
    pub excluded: BTreeMap<Person, Justified>,
    /// Every break-glass access, in order: who, when and why.
    pub break_glass: Vec<Justified>,
    /// Evidence items in the order they were collected, each with its chain of custody.
    pub evidence: Vec<EvidenceState>,
    /// Integrity alarms: evidence that no longer matched its hash when read.
    pub integrity_alarms: Vec<Justified>,
    /// Share links issued to outside parties, by the digest of their token.
    pub shares: Vec<ShareState>,
    /// Sequence number of the last applied event; the next append must carry `last_seq + 1`.
    pub last_seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Pending,
    InProgress,
    Done,
    Skipped,
    NotApplicable,
}

impl StepStatus {
    /// Settled steps satisfy the gates that wait for them.
    pub fn is_settled(self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Skipped | StepStatus::NotApplicable)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::InProgress => "in progress",
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::NotApplicable => "not applicable",
        }
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepState {
    pub status: StepStatus,
    pub validated: bool,
    /// The note or reason of the last change, and who made it when.
    pub last_change: Option<Justified>,
}

/// One evidence item and its chain of custody (the journal sequence numbers that concern it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceState {
    pub record: EvidenceRecord,
    pub stored_by: Person,
    pub stored_at: Timestamp,
    pub custody: Vec<u64>,
    /// The retention period in force: keep the item at least until then.
    pub retention: Option<Retention>,
    /// The legal hold in force, if any: who placed it, when, and for what matter.
    pub legal_hold: Option<Justified>,
}

impl EvidenceState {
    /// Whether a disposal job may remove the item at `now`. Cordon itself deletes nothing;
    /// this is the rule a disposal process outside it must honour: never under a legal hold,
    /// never before the retention period ends.
    pub fn disposal_forbidden_at(&self, now: Timestamp) -> bool {
        self.legal_hold.is_some() || self.retention.as_ref().is_some_and(|r| now < r.until)
    }
}

/// A retention period set on an evidence item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retention {
    pub until: Timestamp,
    pub by: Person,
    pub at: Timestamp,
    pub reason: String,
}

/// A share link as the journal knows it: never the token, only its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareState {
    pub grant: String,
    pub sha256: String,
    pub recipient: String,
    pub purpose: String,
    pub expires_at: Timestamp,
    pub single_use: bool,
    pub created_by: Person,
    pub uses: u32,
}

/// Who did something, when, and the words they gave for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Justified {
    pub by: Person,
    pub at: Timestamp,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateOverride {
    pub step: StepId,
    pub gate: String,
    pub by: Person,
    pub at: Timestamp,
    pub reason: String,
}

/// Why a gate holds a step back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateBlock {
    pub step: StepId,
    pub gate: String,
    pub gate_title: String,
    /// Plain-words list of what is missing, e.g. "1 Stop the attack in progress (pending)".
    pub missing: Vec<String>,
    /// A decision whose recording would lift the gate.
    pub waived_by: Option<String>,
}

impl fmt::Display for GateBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} is blocked by gate {:?} ({}): waits for {}",
            self.step,
            self.gate,
            self.gate_title,
            self.missing.join(", ")
        )?;
        if let Some(decision) = &self.waived_by {
            write!(f, "; recording decision {decision:?} lifts it")?;
        }
        write!(f, "; an incident commander may override the gate with a reason")
    }
}

/// Everything that can stand in the way of a proposed event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Gate(GateBlock),
    #[error("{person} is excluded from this incident")]
    Excluded { person: Person },
    #[error("{person} is not a member of this incident")]
    NotMember { person: Person },
    #[error("{person} is an observer here and may not change the incident")]
    ObserverOnly { person: Person },
    #[error("only the incident commander ({commander}) may {action}")]
    CommanderOnly { action: &'static str, commander: Person },
    #[error("only the incident commander or legal counsel may {action}")]
    CommanderOrCounselOnly { action: &'static str },
    #[error("{action} needs an incident commander, and none is assigned yet")]
    NoCommander { action: &'static str },
    #[error("the playbook has no step {step}")]
    UnknownStep { step: StepId },
    #[error("step {step} has no gate {gate:?}{}", list_hint(.known))]
    UnknownGate {
        step: StepId,
        gate: String,
        known: Vec<String>,
    },
    #[error("the playbook has no decision {decision:?}{}", list_hint(.known))]
    UnknownDecision { decision: String, known: Vec<String> },
    #[error("step {step} is {status}; cannot {action}")]
    StepState {
        step: StepId,
        status: StepStatus,
        action: &'static str,
    },
    #[error(
        "step {step} is not conditional; only steps the playbook marks \"only if necessary\" may be skipped (use not-applicable with a reason instead)"
    )]
    NotConditional { step: StepId },
    #[error("a reason is required to {action}")]
    ReasonRequired { action: &'static str },
    #[error("the incident is closed; nothing more can change")]
    Closed,
    #[error("status can only move forward: {from} -> {to} is not allowed")]
    StatusBackwards { from: Status, to: Status },
    #[error("cannot close while steps are unsettled: {}", .steps.join(", "))]
    UnsettledSteps { steps: Vec<String> },
    #[error("{person} already holds {role}")]
    RoleHeld { person: Person, role: Role },
    #[error("{person} does not hold {role}")]
    RoleNotHeld { person: Person, role: Role },
    #[error("{person} is already a member")]
    AlreadyMember { person: Person },
    #[error("{person} is not excluded")]
    NotExcluded { person: Person },
    #[error("decision {decision:?} is already recorded")]
    DecisionRecorded { decision: String },
    #[error("gate {gate:?} on step {step} is already overridden")]
    AlreadyOverridden { step: StepId, gate: String },
    #[error("an incident is declared only once")]
    AlreadyDeclared,
    #[error("severity is already {severity}")]
    SameSeverity { severity: Severity },
    #[error("invalid evidence: {problem}")]
    InvalidEvidence { problem: String },
    #[error("this incident has no evidence {sha256}")]
    UnknownEvidence { sha256: String },
    #[error("evidence {sha256} is {state}")]
    LegalHoldState { sha256: String, state: &'static str },
    #[error("evidence {sha256} is already retained until {until}; a retention period is only ever extended")]
    RetentionShortened { sha256: String, until: Timestamp },
    /// Deliberately vague: a link that never existed, was used up or belongs to another item.
    #[error("this share link is not valid")]
    ShareInvalid,
}

fn list_hint(known: &[String]) -> String {
    if known.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}

/// A journal that cannot be folded: it does not start with a declaration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    #[error("the journal is empty")]
    Empty,
    #[error("the journal's first entry is {found:?}, not a declaration")]
    NotDeclared { found: String },
    #[error("entry {seq} declares the incident a second time")]
    DeclaredTwice { seq: u64 },
}

impl Incident {
    /// Folds a whole journal into the current state.
    pub fn fold(id: IncidentId, journal: &[Recorded]) -> Result<Incident, FoldError> {
        let (first, rest) = journal.split_first().ok_or(FoldError::Empty)?;
        let mut incident = Incident::declared(id, first)?;
        for recorded in rest {
            incident.apply(recorded)?;
        }
        Ok(incident)
    }

    fn declared(id: IncidentId, first: &Recorded) -> Result<Incident, FoldError> {
        let Event::Declared {
            kind,
            title,
            severity,
            codename,
            playbook,
        } = &first.event
        else {
            return Err(FoldError::NotDeclared {
                found: first.event.summary(),
            });
        };
        let steps = playbook
            .steps
            .iter()
            .map(|step| {
                let state = StepState {
                    status: StepStatus::Pending,
                    validated: false,
                    last_change: None,
                };
                (step.id, state)
            })
            .collect();
        Ok(Incident {
            id,
            kind: *kind,
            title: title.clone(),
            severity: *severity,
            status: Status::Open,
            codename: codename.clone(),
            declared_by: first.actor.clone(),
            declared_at: first.at,
            updated_at: first.at,
            playbook: playbook.clone(),
            steps,
            decisions: BTreeMap::new(),
            overrides: Vec::new(),
            roles: BTreeMap::new(),
            members: BTreeSet::from([first.actor.clone()]),
            excluded: BTreeMap::new(),
            break_glass: Vec::new(),
            evidence: Vec::new(),
            integrity_alarms: Vec::new(),
            shares: Vec::new(),
            last_seq: first.seq,
        })
    }

    /// Applies one already-accepted event.
    pub fn apply(&mut self, recorded: &Recorded) -> Result<(), FoldError> {
        let justified = |reason: &str| Justified {
            by: recorded.actor.clone(),
            at: recorded.at,
            reason: reason.to_owned(),
        };
        match &recorded.event {
            Event::Declared { .. } => return Err(FoldError::DeclaredTwice { seq: recorded.seq }),
            Event::SeverityChanged { severity, .. } => self.severity = *severity,
            Event::StatusChanged { status, .. } => self.status = *status,
            Event::StepStarted { step } => self.set_step(*step, StepStatus::InProgress, justified("")),
            Event::StepCompleted { step, note } => self.set_step(*step, StepStatus::Done, justified(note)),
            Event::StepSkipped { step, reason } => self.set_step(*step, StepStatus::Skipped, justified(reason)),
            Event::StepNotApplicable { step, reason } => {
                self.set_step(*step, StepStatus::NotApplicable, justified(reason));
            }
            Event::StepReopened { step, reason } => self.set_step(*step, StepStatus::InProgress, justified(reason)),
            Event::StepValidated { step, note } => {
                if let Some(state) = self.steps.get_mut(step) {
                    state.validated = true;
                    state.last_change = Some(justified(note));
                }
            }
            Event::DecisionRecorded { decision, reason } => {
                self.decisions.insert(decision.clone(), justified(reason));
            }
            Event::GateOverridden { step, gate, reason } => self.overrides.push(GateOverride {
                step: *step,
                gate: gate.clone(),
                by: recorded.actor.clone(),
                at: recorded.at,
                reason: reason.clone(),
            }),
            Event::RoleAssigned { person, role } => {
                if *role == Role::IncidentCommander {
                    // Exactly one commander: assigning one hands the role over.
                    for roles in self.roles.values_mut() {
                        roles.remove(&Role::IncidentCommander);
                    }
                }
                self.roles.entry(person.clone()).or_default().insert(*role);
                self.members.insert(person.clone());
            }
            Event::RoleRevoked { person, role } => {
                if let Some(roles) = self.roles.get_mut(person) {
                    roles.remove(role);
                }
            }
            Event::MemberAdded { person } => {
                self.members.insert(person.clone());
            }
            Event::MemberRemoved { person, .. } => {
                self.members.remove(person);
                self.roles.remove(person);
            }
            Event::MemberExcluded { person, reason } => {
                self.members.remove(person);
                self.roles.remove(person);
                self.excluded.insert(person.clone(), justified(reason));
            }
            Event::MemberReinstated { person, .. } => {
                self.excluded.remove(person);
            }
            Event::BreakGlass { reason } => {
                self.members.insert(recorded.actor.clone());
                self.break_glass.push(justified(reason));
            }
            Event::EvidenceCollected(record) => self.evidence.push(EvidenceState {
                record: record.clone(),
                stored_by: recorded.actor.clone(),
                stored_at: recorded.at,
                custody: vec![recorded.seq],
                retention: None,
                legal_hold: None,
            }),
            Event::EvidenceAccessed { sha256, intact, .. } | Event::EvidenceVerified { sha256, intact } => {
                if let Some(item) = self.evidence.iter_mut().find(|item| item.record.sha256 == *sha256) {
                    item.custody.push(recorded.seq);
                }
                if !intact {
                    self.integrity_alarms
                        .push(justified(&format!("evidence {sha256} no longer matches its hash")));
                }
            }
            Event::EvidenceHandedOver { sha256, .. } => self.add_custody(sha256, recorded.seq),
            Event::EvidenceShared {
                sha256,
                grant,
                recipient,
                purpose,
                expires_at,
                single_use,
            } => {
                self.add_custody(sha256, recorded.seq);
                self.shares.push(ShareState {
                    grant: grant.clone(),
                    sha256: sha256.clone(),
                    recipient: recipient.clone(),
                    purpose: purpose.clone(),
                    expires_at: *expires_at,
                    single_use: *single_use,
                    created_by: recorded.actor.clone(),
                    uses: 0,
                });
            }
            Event::EvidenceRetentionSet { sha256, until, reason } => {
                if let Some(item) = self.evidence_mut(sha256) {
                    item.retention = Some(Retention {
                        until: *until,
                        by: recorded.actor.clone(),
                        at: recorded.at,
                        reason: reason.clone(),
                    });
                }
            }
            Event::EvidenceLegalHoldPlaced { sha256, reason } => {
                if let Some(item) = self.evidence_mut(sha256) {
                    item.legal_hold = Some(justified(reason));
                }
            }
            Event::EvidenceLegalHoldReleased { sha256, .. } => {
                if let Some(item) = self.evidence_mut(sha256) {
                    item.legal_hold = None;
                }
            }
            Event::EvidenceShareUsed {
                sha256, grant, intact, ..
            } => {
                self.add_custody(sha256, recorded.seq);
                if let Some(share) = self.shares.iter_mut().find(|share| share.grant == *grant) {
                    share.uses += 1;
                }
                if !intact {
                    self.integrity_alarms
                        .push(justified(&format!("evidence {sha256} no longer matches its hash")));
                }
            }
        }
        self.roles.retain(|_, roles| !roles.is_empty());
        self.last_seq = recorded.seq;
        self.updated_at = recorded.at;
        Ok(())
    }

    fn add_custody(&mut self, sha256: &str, seq: u64) {
        if let Some(item) = self.evidence_mut(sha256) {
            item.custody.push(seq);
        }
    }

    fn evidence_mut(&mut self, sha256: &str) -> Option<&mut EvidenceState> {
        self.evidence.iter_mut().find(|item| item.record.sha256 == sha256)
    }

    /// The evidence item with exactly this SHA-256.
    pub fn evidence_item(&self, sha256: &str) -> Option<&EvidenceState> {
        self.evidence.iter().find(|item| item.record.sha256 == sha256)
    }

    fn set_step(&mut self, step: StepId, status: StepStatus, change: Justified) {
        if let Some(state) = self.steps.get_mut(&step) {
            state.status = status;
            // A reopened or redone step must be validated again.
            state.validated = false;
            state.last_change = Some(change);
        }
    }

    /// The one incident commander, if assigned.
    pub fn commander(&self) -> Option<&Person> {
        self.roles
            .iter()
            .find(|(_, roles)| roles.contains(&Role::IncidentCommander))
            .map(|(person, _)| person)
    }

    pub fn is_excluded(&self, person: &Person) -> bool {
        self.excluded.contains_key(person)
    }

    pub fn is_member(&self, person: &Person) -> bool {
        self.members.contains(person) && !self.is_excluded(person)
    }

    /// Need-to-know: a security incident is visible to its members only; an operational one
    /// to everyone who is not excluded. Exclusion wins over any role.
    pub fn visible_to(&self, person: &Person) -> bool {
        if self.is_excluded(person) {
            return false;
        }
        match self.kind {
            Kind::Security => self.members.contains(person),
            Kind::Operational => true,
        }
    }

    /// The gates that currently hold `step` back, empty when it may proceed.
    pub fn blocking_gates(&self, step: StepId) -> Vec<GateBlock> {
        let Some(definition) = self.playbook.step(step) else {
            return Vec::new();
        };
        definition
            .gates
            .iter()
            .filter_map(|gate| self.gate_block(step, gate))
            .collect()
    }

    fn gate_block(&self, step: StepId, gate: &Gate) -> Option<GateBlock> {
        let overridden = self.overrides.iter().any(|o| o.step == step && o.gate == gate.id);
        let waived = gate.waived_by.as_ref().is_some_and(|d| self.decisions.contains_key(d));
        if overridden || waived {
            return None;
        }
        let status_of = |id: StepId| self.steps.get(&id).map_or(StepStatus::Pending, |s| s.status);
        let mut missing: Vec<String> = gate
            .waits_for
            .iter()
            .filter(|id| !status_of(**id).is_settled())
            .map(|id| format!("{} ({})", self.playbook.describe_step(*id), status_of(*id)))
            .collect();
        for id in &gate.requires_validated {
            let state = self.steps.get(id);
            let validated = state.is_some_and(|s| s.status == StepStatus::Done && s.validated);
            if !validated {
                let status = if status_of(*id) == StepStatus::Done {
                    "done, not validated".to_owned()
                } else {
                    format!("{}, not validated", status_of(*id))
                };
                missing.push(format!("{} ({status})", self.playbook.describe_step(*id)));
            }
        }
        if let Some(decision) = &gate.requires_decision {
            if !self.decisions.contains_key(decision) {
                let title = self.playbook.decision(decision).map_or(decision.as_str(), |d| &d.title);
                missing.push(format!("decision {decision:?} ({title})"));
            }
        }
        (!missing.is_empty()).then(|| GateBlock {
            step,
            gate: gate.id.clone(),
            gate_title: gate.title.clone(),
            missing,
            waived_by: gate.waived_by.clone(),
        })
    }

    /// Decides whether `actor` may append `event` now.
    pub fn check(&self, actor: &Person, event: &Event) -> Result<(), Refusal> {
        // Reading and verifying evidence, break-glass and the use of a share link are recorded
        // even after closure: regulators and courts ask long after an incident is closed.
        // So are retention and legal holds: litigation often starts after the incident ends.
        let after_closure = event.admits_non_members()
            || matches!(
                event,
                Event::EvidenceAccessed { .. }
                    | Event::EvidenceVerified { .. }
                    | Event::EvidenceRetentionSet { .. }
                    | Event::EvidenceLegalHoldPlaced { .. }
                    | Event::EvidenceLegalHoldReleased { .. }
            );
        if self.status == Status::Closed && !after_closure {
            return Err(Refusal::Closed);
        }
        // Break-glass and share links are judged on their own terms below (an excluded person
        // stays out; a link works for its item only); everything else needs a member.
        if !event.admits_non_members() {
            self.check_actor(actor)?;
        }
        match event {
            Event::Declared { .. } => Err(Refusal::AlreadyDeclared),
            Event::BreakGlass { reason } => self.check_break_glass(actor, reason),
            Event::EvidenceCollected(record) => check_evidence_record(record, self),
            Event::EvidenceAccessed { sha256, .. } | Event::EvidenceVerified { sha256, .. } => {
                self.require_evidence(sha256)
            }
            Event::EvidenceHandedOver {
                sha256,
                recipient,
                reason,
                ..
            } => {
                self.require_evidence(sha256)?;
                require_reason(recipient, "hand evidence over (name the recipient)")?;
                require_reason(reason, "hand evidence over")
            }
            Event::EvidenceShared {
                sha256,
                grant,
                recipient,
                purpose,
                ..
            } => self.check_share(sha256, grant, recipient, purpose),
            Event::EvidenceShareUsed { sha256, grant, .. } => self.check_share_use(sha256, grant),
            Event::EvidenceRetentionSet { sha256, until, reason } => {
                self.require_commander_or_counsel(actor, "set a retention period", true)?;
                require_reason(reason, "set a retention period")?;
                let item = self.require_item(sha256)?;
                match &item.retention {
                    Some(current) if *until <= current.until => Err(Refusal::RetentionShortened {
                        sha256: sha256.clone(),
                        until: current.until,
                    }),
                    _ => Ok(()),
                }
            }
            Event::EvidenceLegalHoldPlaced { sha256, reason } => {
                self.require_commander_or_counsel(actor, "place a legal hold", true)?;
                require_reason(reason, "place a legal hold (name the matter)")?;
                if self.require_item(sha256)?.legal_hold.is_some() {
                    return Err(Refusal::LegalHoldState {
                        sha256: sha256.clone(),
                        state: "already under legal hold",
                    });
                }
                Ok(())
            }
            Event::EvidenceLegalHoldReleased { sha256, reason } => {
                self.require_commander_or_counsel(actor, "release a legal hold", false)?;
                require_reason(reason, "release a legal hold")?;
                if self.require_item(sha256)?.legal_hold.is_none() {
                    return Err(Refusal::LegalHoldState {
                        sha256: sha256.clone(),
                        state: "not under legal hold",
                    });
                }
                Ok(())
            }
            Event::SeverityChanged { severity, .. } => {
                self.require_commander(actor, "change the severity")?;
                if *severity == self.severity {
                    return Err(Refusal::SameSeverity { severity: *severity });
                }
                Ok(())
            }
            Event::StatusChanged { status, .. } => self.check_status(actor, *status),
            Event::StepStarted { step } => {
                self.require_step_status(*step, &[StepStatus::Pending], "start it")?;
                self.require_gates_open(*step)
            }
            Event::StepCompleted { step, .. } => {
                self.require_step_status(*step, &[StepStatus::Pending, StepStatus::InProgress], "complete it")?;
                self.require_gates_open(*step)
            }
            Event::StepSkipped { step, reason } => {
                let definition = self.playbook.step(*step).ok_or(Refusal::UnknownStep { step: *step })?;
                if !definition.conditional {
                    return Err(Refusal::NotConditional { step: *step });
                }
                require_reason(reason, "skip a step")?;
                self.require_step_status(*step, &[StepStatus::Pending, StepStatus::InProgress], "skip it")
                    .map(|_| ())
            }
            Event::StepNotApplicable { step, reason } => {
                require_reason(reason, "mark a step not applicable")?;
                self.require_step_status(
                    *step,
                    &[StepStatus::Pending, StepStatus::InProgress],
                    "mark it not applicable",
                )
                .map(|_| ())
            }
            Event::StepValidated { step, .. } => {
                self.require_commander(actor, "validate findings")?;
                let state = self.require_step_status(*step, &[StepStatus::Done], "validate it")?;
                if state.validated {
                    return Err(Refusal::StepState {
                        step: *step,
                        status: state.status,
                        action: "validate it again",
                    });
                }
                Ok(())
            }
            Event::StepReopened { step, reason } => {
                self.require_commander(actor, "reopen a step")?;
                require_reason(reason, "reopen a step")?;
                self.require_step_status(
                    *step,
                    &[StepStatus::Done, StepStatus::Skipped, StepStatus::NotApplicable],
                    "reopen it",
                )
                .map(|_| ())
            }
            Event::DecisionRecorded { decision, reason } => {
                self.require_commander(actor, "record a decision")?;
                require_reason(reason, "record a decision")?;
                if self.playbook.decision(decision).is_none() {
                    return Err(Refusal::UnknownDecision {
                        decision: decision.clone(),
                        known: self.playbook.decisions.iter().map(|d| d.id.clone()).collect(),
                    });
                }
                if self.decisions.contains_key(decision) {
                    return Err(Refusal::DecisionRecorded {
                        decision: decision.clone(),
                    });
                }
                Ok(())
            }
            Event::GateOverridden { step, gate, reason } => self.check_override(actor, *step, gate, reason),
            Event::RoleAssigned { person, role } => {
                self.require_commander(actor, "assign roles")?;
                if self.is_excluded(person) {
                    return Err(Refusal::Excluded { person: person.clone() });
                }
                if self.roles.get(person).is_some_and(|roles| roles.contains(role)) {
                    return Err(Refusal::RoleHeld {
                        person: person.clone(),
                        role: *role,
                    });
                }
                Ok(())
            }
            Event::RoleRevoked { person, role } => {
                self.require_commander(actor, "revoke roles")?;
                if !self.roles.get(person).is_some_and(|roles| roles.contains(role)) {
                    return Err(Refusal::RoleNotHeld {
                        person: person.clone(),
                        role: *role,
                    });
                }
                Ok(())
            }
            Event::MemberAdded { person } => {
                self.require_commander(actor, "add members")?;
                if self.is_excluded(person) {
                    return Err(Refusal::Excluded { person: person.clone() });
                }
                if self.members.contains(person) {
                    return Err(Refusal::AlreadyMember { person: person.clone() });
                }
                Ok(())
            }
            Event::MemberRemoved { person, reason } => {
                self.require_commander(actor, "remove members")?;
                require_reason(reason, "remove a member")?;
                if !self.members.contains(person) {
                    return Err(Refusal::NotMember { person: person.clone() });
                }
                Ok(())
            }
            Event::MemberExcluded { person, reason } => {
                self.require_commander(actor, "exclude people")?;
                require_reason(reason, "exclude someone")?;
                if self.is_excluded(person) {
                    return Err(Refusal::Excluded { person: person.clone() });
                }
                Ok(())
            }
            Event::MemberReinstated { person, reason } => {
                self.require_commander(actor, "reinstate people")?;
                require_reason(reason, "reinstate someone")?;
                if !self.is_excluded(person) {
                    return Err(Refusal::NotExcluded { person: person.clone() });
                }
                Ok(())
            }
        }
    }

    /// Break-glass works on closed incidents too (an audit may need them), never for excluded
    /// people, and only for someone not already on the incident. Whether the person is an
    /// administrator is the server's decision, not the domain's.
    fn check_break_glass(&self, actor: &Person, reason: &str) -> Result<(), Refusal> {
        if self.is_excluded(actor) {
            return Err(Refusal::Excluded { person: actor.clone() });
        }
        require_reason(reason, "break the glass")?;
        if self.members.contains(actor) {
            return Err(Refusal::AlreadyMember { person: actor.clone() });
        }
        Ok(())
    }

    fn check_share(&self, sha256: &str, grant: &str, recipient: &str, purpose: &str) -> Result<(), Refusal> {
        let item = self
            .evidence
            .iter()
            .find(|item| item.record.sha256 == sha256)
            .ok_or_else(|| Refusal::UnknownEvidence {
                sha256: sha256.to_owned(),
            })?;
        if item.record.tlp == "TLP:RED" {
            return Err(Refusal::InvalidEvidence {
                problem: "TLP:RED evidence is never shared outside the incident's members".to_owned(),
            });
        }
        require_reason(recipient, "share evidence (name the recipient)")?;
        require_reason(purpose, "share evidence (say what for)")?;
        let well_formed = grant.len() == 64 && grant.bytes().all(|b| b.is_ascii_hexdigit());
        if !well_formed || self.shares.iter().any(|share| share.grant == grant) {
            return Err(Refusal::InvalidEvidence {
                problem: "the share grant is malformed or already issued".to_owned(),
            });
        }
        Ok(())
    }

    /// A share link works for its one item, once if single-use. Expiry needs the clock, so
    /// the caller checks it before proposing the use.
    fn check_share_use(&self, sha256: &str, grant: &str) -> Result<(), Refusal> {
        match self
            .shares
            .iter()
            .find(|share| share.grant == grant && share.sha256 == sha256)
        {
            None => Err(Refusal::ShareInvalid),
            Some(share) if share.single_use && share.uses > 0 => Err(Refusal::ShareInvalid),
            Some(_) => Ok(()),
        }
    }

    fn require_evidence(&self, sha256: &str) -> Result<(), Refusal> {
        self.require_item(sha256).map(|_| ())
    }

    fn require_item(&self, sha256: &str) -> Result<&EvidenceState, Refusal> {
        self.evidence_item(sha256).ok_or_else(|| Refusal::UnknownEvidence {
            sha256: sha256.to_owned(),
        })
    }

    /// Retention and legal holds are decisions of the incident commander or of legal counsel.
    /// Protective ones (`before_commander`) may, like other commander actions, be taken by any
    /// member while no commander is assigned; releasing a hold always needs one of the two.
    fn require_commander_or_counsel(
        &self,
        actor: &Person,
        action: &'static str,
        before_commander: bool,
    ) -> Result<(), Refusal> {
        let roles = self.roles.get(actor);
        let holds = |role: Role| roles.is_some_and(|roles| roles.contains(&role));
        if holds(Role::IncidentCommander) || holds(Role::LegalCounsel) {
            return Ok(());
        }
        if before_commander && self.commander().is_none() {
            return Ok(());
        }
        Err(Refusal::CommanderOrCounselOnly { action })
    }

    /// Anyone who acts on an incident must not be excluded; on a security incident they must
    /// be a member, and an observer only watches.
    fn check_actor(&self, actor: &Person) -> Result<(), Refusal> {
        if self.is_excluded(actor) {
            return Err(Refusal::Excluded { person: actor.clone() });
        }
        if self.kind == Kind::Security && !self.members.contains(actor) {
            return Err(Refusal::NotMember { person: actor.clone() });
        }
        let roles = self.roles.get(actor);
        if roles.is_some_and(|roles| roles.iter().all(|role| *role == Role::Observer)) {
            return Err(Refusal::ObserverOnly { person: actor.clone() });
        }
        Ok(())
    }

    /// Commander-only actions. Until a commander is assigned, any member may take them, so
    /// that the first responder can appoint one.
    fn require_commander(&self, actor: &Person, action: &'static str) -> Result<(), Refusal> {
        match self.commander() {
            Some(commander) if commander != actor => Err(Refusal::CommanderOnly {
                action,
                commander: commander.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn require_step_status(
        &self,
        step: StepId,
        allowed: &[StepStatus],
        action: &'static str,
    ) -> Result<&StepState, Refusal> {
        let state = self.steps.get(&step).ok_or(Refusal::UnknownStep { step })?;
        if allowed.contains(&state.status) {
            Ok(state)
        } else {
            Err(Refusal::StepState {
                step,
                status: state.status,
                action,
            })
        }
    }

    fn require_gates_open(&self, step: StepId) -> Result<(), Refusal> {
        match self.blocking_gates(step).into_iter().next() {
            Some(block) => Err(Refusal::Gate(block)),
            None => Ok(()),
        }
    }

    fn check_override(&self, actor: &Person, step: StepId, gate: &str, reason: &str) -> Result<(), Refusal> {
        let action = "override a gate";
        match self.commander() {
            None => return Err(Refusal::NoCommander { action }),
            Some(commander) if commander != actor => {
                return Err(Refusal::CommanderOnly {
                    action,
                    commander: commander.clone(),
                });
            }
            Some(_) => {}
        }
        require_reason(reason, action)?;
        let definition = self.playbook.step(step).ok_or(Refusal::UnknownStep { step })?;
        if !definition.gates.iter().any(|g| g.id == gate) {
            return Err(Refusal::UnknownGate {
                step,
                gate: gate.to_owned(),
                known: definition.gates.iter().map(|g| g.id.clone()).collect(),
            });
        }
        if self.overrides.iter().any(|o| o.step == step && o.gate == gate) {
            return Err(Refusal::AlreadyOverridden {
                step,
                gate: gate.to_owned(),
            });
        }
        Ok(())
    }

    fn check_status(&self, actor: &Person, status: Status) -> Result<(), Refusal> {
        self.require_commander(actor, "change the status")?;
        if status <= self.status {
            return Err(Refusal::StatusBackwards {
                from: self.status,
                to: status,
            });
        }
        if status == Status::Closed {
            let unsettled: Vec<String> = self
                .steps
                .iter()
                .filter(|(_, state)| !state.status.is_settled())
                .map(|(id, state)| format!("{} ({})", self.playbook.describe_step(*id), state.status))
                .collect();
            if !unsettled.is_empty() {
                return Err(Refusal::UnsettledSteps { steps: unsettled });
            }
        }
        Ok(())
    }
}

fn check_evidence_record(record: &EvidenceRecord, incident: &Incident) -> Result<(), Refusal> {
    let hex = |text: &str, length: usize| {
        text.len() == length && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !(hex(&record.sha256, 64) && hex(&record.sha1, 40) && hex(&record.md5, 32)) {
        return Err(Refusal::InvalidEvidence {
            problem: "hashes must be lowercase hex SHA-256, SHA-1 and MD5".to_owned(),
        });
    }
    if !TLP_LABELS.contains(&record.tlp.as_str()) {
        return Err(Refusal::InvalidEvidence {
            problem: format!("{:?} is not a TLP 2.0 label ({})", record.tlp, TLP_LABELS.join(", ")),
        });
    }
    require_reason(&record.source, "collect evidence (say where it was taken from)")?;
    if incident.evidence.iter().any(|item| item.record.sha256 == record.sha256) {
        return Err(Refusal::InvalidEvidence {
            problem: format!("evidence {} is already collected in this incident", record.sha256),
        });
    }
    Ok(())
}

fn require_reason(reason: &str, action: &'static str) -> Result<(), Refusal> {
    if reason.trim().is_empty() {
        Err(Refusal::ReasonRequired { action })
    } else {
        Ok(())
    }
}
