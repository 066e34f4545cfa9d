//! Events: every change to an incident is one of these, appended to its journal.
//!
//! The serialized form of an event is what the journal hashes, so variants and fields are
//! only ever added, never renamed.

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
}

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
        }
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
            | Event::BreakGlass { reason } => Some(reason.as_str()),
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

/// An event as the journal holds it: who recorded it, when, and its position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Person,
    pub event: Event,
}
