//! The JSON shapes of the API (and of `cordon --json`), built in one place.

use cordon_app::JournalLine;
use cordon_domain::Incident;
use cordon_store::{ApiToken, IncidentRow, User};
use serde_json::{Value, json};

pub fn incident_row(row: &IncidentRow) -> Value {
    json!({
        "id": row.id.as_str(),
        "codename": row.codename.as_ref().map(|c| c.as_str()),
        "kind": row.kind.as_str(),
        "title": row.title,
        "severity": row.severity.as_str(),
        "status": row.status.as_str(),
        "declared_by": row.declared_by.as_str(),
        "declared_at": row.declared_at.to_rfc3339(),
        "updated_at": row.updated_at.to_rfc3339(),
    })
}

pub fn incident(incident: &Incident) -> Value {
    let steps: Vec<Value> = incident
        .playbook
        .steps
        .iter()
        .map(|step| {
            let state = incident.steps.get(&step.id);
            let blocked: Vec<Value> = incident
                .blocking_gates(step.id)
                .iter()
                .map(|b| json!({"gate": b.gate, "title": b.gate_title, "missing": b.missing, "waived_by": b.waived_by}))
                .collect();
            json!({
                "id": step.id.0,
                "title": step.title,
                "description": step.description,
                "conditional": step.conditional,
                "delegated_to": step.delegated_to,
                "gates": step.gates.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
                "status": state.map(|s| s.status),
                "validated": state.is_some_and(|s| s.validated),
                "last_change": state.and_then(|s| s.last_change.as_ref()).map(|c| json!({
                    "by": c.by.as_str(), "at": c.at.to_rfc3339(), "reason": c.reason,
                })),
                "blocked_by": blocked,
            })
        })
        .collect();
    let justified = |by: &cordon_domain::Person, at: cordon_domain::Timestamp, reason: &str| json!({"by": by.as_str(), "at": at.to_rfc3339(), "reason": reason});
    json!({
        "id": incident.id.as_str(),
        "codename": incident.codename.as_ref().map(|c| c.as_str()),
        "kind": incident.kind.as_str(),
        "title": incident.title,
        "severity": incident.severity.as_str(),
        "status": incident.status.as_str(),
        "declared_by": incident.declared_by.as_str(),
        "declared_at": incident.declared_at.to_rfc3339(),
        "updated_at": incident.updated_at.to_rfc3339(),
        "commander": incident.commander().map(|p| p.as_str()),
        "roles": incident.roles,
        "members": incident.members,
        "excluded": incident.excluded.iter().map(|(p, j)| {
            let mut value = justified(&j.by, j.at, &j.reason);
            value["person"] = json!(p.as_str());
            value
        }).collect::<Vec<_>>(),
        "decisions": incident.decisions.iter().map(|(d, j)| {
            let mut value = justified(&j.by, j.at, &j.reason);
            value["decision"] = json!(d);
            value
        }).collect::<Vec<_>>(),
        "overrides": incident.overrides.iter().map(|o| json!({
            "step": o.step.0, "gate": o.gate, "by": o.by.as_str(), "at": o.at.to_rfc3339(), "reason": o.reason,
        })).collect::<Vec<_>>(),
        "break_glass": incident.break_glass.iter().map(|j| justified(&j.by, j.at, &j.reason)).collect::<Vec<_>>(),
        "steps": steps,
        "last_seq": incident.last_seq,
    })
}

/// The journal and its chain state; `chain_break` describes where the chain breaks.
pub fn journal(lines: &[JournalLine], chain_break: Option<&str>) -> Value {
    let entries: Vec<Value> = lines
        .iter()
        .map(|line| {
            json!({
                "seq": line.recorded.seq,
                "at": line.recorded.at.to_rfc3339(),
                "actor": line.recorded.actor.as_str(),
                "summary": line.recorded.event.summary(),
                "event": line.recorded.event,
                "hash": line.hash.to_hex(),
            })
        })
        .collect();
    json!({
        "entries": entries,
        "chain": match chain_break {
            None => json!({"verified": true}),
            Some(chain_break) => json!({"verified": false, "break": chain_break}),
        },
    })
}

pub fn user(user: &User) -> Value {
    json!({
        "name": user.name.as_str(),
        "role": user.role.as_str(),
        "totp_enabled": user.totp_enabled,
        "totp_required": user.totp_required,
        "disabled": user.disabled,
        "created_at": user.created_at.to_rfc3339(),
    })
}

pub fn token(token: &ApiToken) -> Value {
    json!({
        "id": token.id,
        "label": token.label,
        "scope": token.scope.as_str(),
        "created_at": token.created_at.to_rfc3339(),
        "expires_at": token.expires_at.map(|t| t.to_rfc3339()),
        "revoked": token.revoked,
    })
}
