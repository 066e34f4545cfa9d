//! Projections: the rows kept beside the journal so that lists and look-ups do not have to
//! fold every journal. They are derived from the folded state and rewritten on every append.

use cordon_domain::{Codename, Incident, IncidentId, Kind, Person, Severity, Status, Timestamp};

/// The summary of one incident as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    pub id: IncidentId,
    pub kind: Kind,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub codename: Option<Codename>,
    pub declared_by: Person,
    pub declared_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_seq: u64,
}

/// What the store keeps about an incident besides its journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    pub row: IncidentRow,
    pub members: Vec<Person>,
    pub excluded: Vec<Person>,
}

impl From<&Incident> for Projection {
    fn from(incident: &Incident) -> Projection {
        Projection {
            row: IncidentRow {
                id: incident.id.clone(),
                kind: incident.kind,
                title: incident.title.clone(),
                severity: incident.severity,
                status: incident.status,
                codename: incident.codename.clone(),
                declared_by: incident.declared_by.clone(),
                declared_at: incident.declared_at,
                updated_at: incident.updated_at,
                last_seq: incident.last_seq,
            },
            members: incident
                .members
                .iter()
                .filter(|p| !incident.is_excluded(p))
                .cloned()
                .collect(),
            excluded: incident.excluded.keys().cloned().collect(),
        }
    }
}
