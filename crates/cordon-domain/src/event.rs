//! Events: every change to an incident is one of these, appended to its journal.
//!
//! The serialized form of an event is what the journal hashes, so variants and fields are
//! only ever added, never renamed. A field added to an existing variant is optional with a
//! serde default, so entries written before it existed still read.

use serde::{Deserialize, Serialize};

use crate::incident::{Codename, Kind, Person, Role, Severity, Status};
use crate::playbook::{Playbook, StepId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Always the first entry. Carries the whole playbook so the incident keeps its rules.
    Declared {
        kind: Kind,
        title: String,
        severity: Severity,
        codename: Option<Codename>,
        playbook: Playbook,
    },
    SeverityChanged {
        severity: Severity,
        reason: String,
    },
    StatusChanged {
        status: Status,
        reason: String,
    },
    StepStarted {
        step: StepId,
    },
    StepCompleted {
        step: StepId,
        note: String,
    },
    /// Only conditional steps may be skipped, and only with a reason.
    StepSkipped {
        step: StepId,
        reason: String,
    },
    StepNotApplicable {
        step: StepId,
        reason: String,
    },
    /// A completed step's findings were checked (steps 5 and 6 gate external communication).
    StepValidated {
        step: StepId,
        note: String,
    },
    StepReopened {
        step: StepId,
        reason: String,
    },
    DecisionRecorded {
        decision: String,
        reason: String,
    },
    GateOverridden {
        step: StepId,
        gate: String,
        reason: String,
    },
    RoleAssigned {
        person: Person,
        role: Role,
    },
    RoleRevoked {
        person: Person,
        role: Role,
    },
    MemberAdded {
        person: Person,
    },
    MemberRemoved {
        person: Person,
        reason: String,
    },
    /// A suspected insider: out of the incident whatever roles they held, until reinstated.
    MemberExcluded {
        person: Person,
        reason: String,
    },
    MemberReinstated {
        person: Person,
        reason: String,
    },
    /// An administrator who was not on the incident gave a reason and let themselves in. The
    /// commander and members are told; excluded people cannot do this.
    BreakGlass {
        reason: String,
    },
    /// Evidence was stored, content-addressed by its SHA-256: the start of its chain of custody.
    EvidenceCollected(EvidenceRecord),
    /// Evidence was downloaded or opened. `intact` false means the content no longer matched
    /// its hash: an integrity alarm, never a silent success.
    EvidenceAccessed {
        sha256: String,
        purpose: String,
        intact: bool,
        /// From where: the client's address, or the host of a local command line.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// Evidence was re-hashed for an audit.
    EvidenceVerified {
        sha256: String,
        intact: bool,
    },
    /// Evidence was handed to a third party outside Cordon.
    EvidenceHandedOver {
        sha256: String,
        recipient: String,
        organization: String,
        reason: String,
    },
    /// A member issued an expiring, single-purpose link to one item for an outside party.
    /// `grant` is the SHA-256 of the link's token; the token itself is never stored.
    EvidenceShared {
        sha256: String,
        grant: String,
        recipient: String,
        purpose: String,
        expires_at: Timestamp,
        single_use: bool,
    },
    /// The holder of a share link downloaded the item; `intact` as for an access.
    EvidenceShareUsed {
        sha256: String,
        grant: String,
        intact: bool,
        /// From where: the link holder's address.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    },
    /// Keep the item at least until `until` (a regulator's or the company's retention period).
    /// A period is only ever extended.
    EvidenceRetentionSet {
        sha256: String,
        until: Timestamp,
        reason: String,
    },
    /// Keep the item whatever any retention period says, until the hold is released. The
    /// reason names the matter, e.g. a case number.
    EvidenceLegalHoldPlaced {
        sha256: String,
        reason: String,
    },
    EvidenceLegalHoldReleased {
        sha256: String,
        reason: String,
    },
}

/// What the journal keeps about one evidence item. Hashes are lowercase hex; `tlp` is a TLP 2.0
/// label such as `TLP:RED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
    pub size: u64,
    pub name: String,
    pub source: String,
    pub collected_by: Person,
    pub collected_at: Timestamp,
    pub tlp: String,
    /// From where it was stored: the uploading client's address, or the host of a local
    /// command line. Absent in entries written before Cordon recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// The TLP 2.0 labels evidence may carry, most restrictive first.
pub const TLP_LABELS: &[&str] = &["TLP:RED", "TLP:AMBER+STRICT", "TLP:AMBER", "TLP:GREEN", "TLP:CLEAR"];

impl Event {
    /// A short verb phrase for timelines, e.g. "started step 3".
    pub fn summary(&self) -> String {
        match self {
            Event::Declared { kind, severity, .. } => {
                format!("declared a {severity} {kind} incident")
            }
            Event::SeverityChanged { severity, .. } => format!("changed severity to {severity}"),
            Event::StatusChanged { status, .. } => format!("set status to {status}"),
            Event::StepStarted { step } => format!("started step {step}"),
            Event::StepCompleted { step, .. } => format!("completed step {step}"),
            Event::StepSkipped { step, .. } => format!("skipped step {step}"),
            Event::StepNotApplicable { step, .. } => format!("marked step {step} not applicable"),
            Event::StepValidated { step, .. } => format!("validated the findings of step {step}"),
            Event::StepReopened { step, .. } => format!("reopened step {step}"),
            Event::DecisionRecorded { decision, .. } => format!("recorded decision {decision}"),
            Event::GateOverridden { step, gate, .. } => {
                format!("overrode gate {gate} on step {step}")
            }
            Event::RoleAssigned { person, role } => format!("assigned {role} to {person}"),
            Event::RoleRevoked { person, role } => format!("revoked {role} from {person}"),
            Event::MemberAdded { person } => format!("added member {person}"),
            Event::MemberRemoved { person, .. } => format!("removed member {person}"),
            Event::MemberExcluded { person, .. } => format!("excluded {person}"),
            Event::MemberReinstated { person, .. } => format!("reinstated {person}"),
            Event::BreakGlass { .. } => "broke the glass to gain access".to_owned(),
            Event::EvidenceCollected(record) => {
                format!(
                    "collected evidence {} ({}, {} bytes, {})",
                    short(&record.sha256),
                    record.name,
                    record.size,
                    record.tlp
                )
            }
            Event::EvidenceAccessed {
                sha256, intact: true, ..
            } => format!("accessed evidence {} (verified intact)", short(sha256)),
            Event::EvidenceAccessed {
                sha256, intact: false, ..
            } => {
                format!("INTEGRITY ALARM: evidence {} no longer matches its hash", short(sha256))
            }
            Event::EvidenceVerified { sha256, intact: true } => format!("verified evidence {} intact", short(sha256)),
            Event::EvidenceVerified { sha256, intact: false } => {
                format!("INTEGRITY ALARM: evidence {} failed verification", short(sha256))
            }
            Event::EvidenceHandedOver {
                sha256,
                recipient,
                organization,
                ..
            } => format!("handed evidence {} to {recipient} ({organization})", short(sha256)),
            Event::EvidenceShared {
                sha256,
                recipient,
                expires_at,
                single_use,
                ..
            } => format!(
                "shared evidence {} with {recipient} until {expires_at}{}",
                short(sha256),
                if *single_use { ", single use" } else { "" }
            ),
            Event::EvidenceShareUsed { sha256, intact, .. } => format!(
                "share link used to download evidence {}{}",
                short(sha256),
                if *intact {
                    " (verified intact)"
                } else {
                    ": INTEGRITY ALARM, content no longer matches"
                }
            ),
            Event::EvidenceRetentionSet { sha256, until, .. } => {
                format!("set retention of evidence {} until {until}", short(sha256))
            }
            Event::EvidenceLegalHoldPlaced { sha256, .. } => {
                format!("placed evidence {} under legal hold", short(sha256))
            }
            Event::EvidenceLegalHoldReleased { sha256, .. } => {
                format!("released the legal hold on evidence {}", short(sha256))
            }
        }
    }

    /// The two ways onto an incident for someone who is not a member: break-glass, and the use
    /// of a share link. The domain judges each on its own terms; everything else needs a member.
    pub fn admits_non_members(&self) -> bool {
        matches!(self, Event::BreakGlass { .. } | Event::EvidenceShareUsed { .. })
    }

    /// The written reason or note that came with the event, if any.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Event::SeverityChanged { reason, .. }
            | Event::StatusChanged { reason, .. }
            | Event::StepSkipped { reason, .. }
            | Event::StepNotApplicable { reason, .. }
            | Event::StepReopened { reason, .. }
            | Event::DecisionRecorded { reason, .. }
            | Event::GateOverridden { reason, .. }
            | Event::MemberRemoved { reason, .. }
            | Event::MemberExcluded { reason, .. }
            | Event::MemberReinstated { reason, .. }
            | Event::BreakGlass { reason }
            | Event::EvidenceHandedOver { reason, .. }
            | Event::EvidenceRetentionSet { reason, .. }
            | Event::EvidenceLegalHoldPlaced { reason, .. }
            | Event::EvidenceLegalHoldReleased { reason, .. } => Some(reason.as_str()),
            Event::EvidenceShared { purpose, .. } => Some(purpose.as_str()),
            Event::EvidenceShareUsed { .. } => None,
            Event::EvidenceAccessed { purpose, .. } => Some(purpose.as_str()),
            Event::EvidenceCollected(record) => Some(record.source.as_str()),
            Event::EvidenceVerified { .. } => None,
            Event::StepCompleted { note, .. } | Event::StepValidated { note, .. } => Some(note.as_str()),
            Event::Declared { .. }
            | Event::StepStarted { .. }
            | Event::RoleAssigned { .. }
            | Event::RoleRevoked { .. }
            | Event::MemberAdded { .. } => None,
        }
        .filter(|text| !text.is_empty())
    }
}

fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// An event as the journal holds it: who recorded it, when, and its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Person,
    pub event: Event,
}
