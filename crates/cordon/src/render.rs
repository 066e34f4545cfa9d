//! Human-readable output: aligned tables and the incident board. JSON output for scripts is
//! built here too, so that the wire shape lives in one place.

use cordon_app::JournalLine;
use cordon_domain::{AuditReport, Incident, Kind, StepStatus};
use cordon_store::IncidentRow;

/// Renders rows as columns separated by two spaces; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if index < last {
                let pad = widths[index] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The name an incident goes by: the codename for security incidents.
pub fn display_name(row: &IncidentRow) -> String {
    match &row.codename {
        Some(codename) => codename.to_string(),
        None => short_id(row.id.as_str()),
    }
}

fn short_id(id: &str) -> String {
    id.chars().take(8).collect()
}

pub fn incident_list(rows: &[IncidentRow]) -> String {
    if rows.is_empty() {
        return "no incidents you can see\n".to_owned();
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            vec![
                display_name(row),
                short_id(row.id.as_str()),
                row.kind.to_string(),
                row.severity.to_string(),
                row.status.to_string(),
                row.declared_at.to_string(),
                row.title.clone(),
            ]
        })
        .collect();
    table(
        &["NAME", "ID", "KIND", "SEVERITY", "STATUS", "DECLARED", "TITLE"],
        &rows,
    )
}

/// The incident header and its playbook as a board of steps.
pub fn incident(incident: &Incident) -> String {
    let mut out = String::new();
    let name = incident
        .codename
        .as_ref()
        .map_or_else(|| short_id(incident.id.as_str()), |c| c.to_string());
    out.push_str(&format!(
        "{name}  {} incident, {}, {}\n",
        incident.kind, incident.severity, incident.status
    ));
    if incident.kind == Kind::Security {
        out.push_str("CONFIDENTIAL: need to know. Do not share outside the incident's members.\n");
    }
    let commander = incident
        .commander()
        .map_or("not assigned".to_owned(), ToString::to_string);
    let mut roles: Vec<String> = Vec::new();
    for (person, held) in &incident.roles {
        let held: Vec<&str> = held.iter().map(|role| role.as_str()).collect();
        roles.push(format!("{person} ({})", held.join(", ")));
    }
    let members: Vec<String> = incident.members.iter().map(ToString::to_string).collect();
    let fields = [
        ("Title", incident.title.clone()),
        ("Id", incident.id.to_string()),
        (
            "Declared",
            format!("{} by {}", incident.declared_at, incident.declared_by),
        ),
        ("Commander", commander),
        (
            "Roles",
            if roles.is_empty() {
                "none".to_owned()
            } else {
                roles.join("; ")
            },
        ),
        ("Members", members.join(", ")),
    ];
    for (label, value) in fields {
        out.push_str(&format!("{label:<10} {value}\n"));
    }
    for (person, why) in &incident.excluded {
        out.push_str(&format!(
            "{:<10} {person}, by {} at {}: {}\n",
            "Excluded", why.by, why.at, why.reason
        ));
    }
    for (decision, why) in &incident.decisions {
        out.push_str(&format!(
            "{:<10} {decision}, by {} at {}: {}\n",
            "Decision", why.by, why.at, why.reason
        ));
    }
    for o in &incident.overrides {
        out.push_str(&format!(
            "{:<10} gate {} on step {}, by {} at {}: {}\n",
            "Override", o.gate, o.step, o.by, o.at, o.reason
        ));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = incident
        .playbook
        .steps
        .iter()
        .map(|step| {
            let state = &incident.steps[&step.id];
            let mut status = state.status.to_string();
            if state.validated {
                status.push_str(", validated");
            }
            let mut title = step.title.clone();
            if step.conditional {
                title.push_str(" (only if necessary)");
            }
            let mut notes = Vec::new();
            if !state.status.is_settled() {
                for block in incident.blocking_gates(step.id) {
                    notes.push(format!("waits for: {}", block.missing.join(", ")));
                }
            }
            if let Some(role) = &step.delegated_to {
                notes.push(format!("delegated to {role}"));
            }
            if let Some(change) = &state.last_change {
                if !change.reason.is_empty() && state.status != StepStatus::InProgress {
                    notes.push(format!("{}: {}", change.by, change.reason));
                }
            }
            vec![step.id.to_string(), status, title, notes.join("; ")]
        })
        .collect();
    out.push_str(&table(&["STEP", "STATE", "TITLE", "NOTES"], &rows));
    out
}

pub fn journal(lines: &[JournalLine], chain_break: Option<&str>) -> String {
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|line| {
            let recorded = &line.recorded;
            vec![
                recorded.seq.to_string(),
                recorded.at.to_string(),
                recorded.actor.to_string(),
                recorded.event.summary(),
                recorded.event.reason().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    let mut out = table(&["SEQ", "TIME", "WHO", "WHAT", "WHY"], &rows);
    match chain_break {
        None => out.push_str(&format!("hash chain: verified ({} entries)\n", lines.len())),
        Some(chain_break) => out.push_str(&format!("hash chain: BROKEN at {chain_break}\n")),
    }
    out
}

pub fn audit(report: &AuditReport) -> String {
    let mut out = format!(
        "checked {} incidents, {} journal entries, {} checkpoints\n",
        report.incidents, report.entries, report.checkpoints
    );
    if report.unsigned_entries > 0 {
        out.push_str(&format!(
            "note: {} entries were appended after the latest checkpoint\n",
            report.unsigned_entries
        ));
    }
    if report.is_clean() {
        out.push_str("audit: OK, every chain and checkpoint verifies\n");
    } else {
        for finding in &report.findings {
            out.push_str(&format!("FAIL {finding}\n"));
        }
        out.push_str(&format!("audit: FAILED with {} finding(s)\n", report.findings.len()));
    }
    out
}
