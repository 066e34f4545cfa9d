//! `cordon evidence ...`: the evidence locker on the local data directory, and offline
//! bundle verification.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cordon_app::{EvidenceMeta, Service};
use cordon_domain::{Event, Person, Timestamp};
use cordon_evidence::{Compression, Tlp};
use cordon_store::Store;
use serde_json::json;

use crate::cli::{EvidenceCommand, Global};
use crate::render;

pub async fn run<S: Store>(
    service: &Service<S>,
    actor: &Person,
    global: &Global,
    command: EvidenceCommand,
) -> anyhow::Result<ExitCode> {
    let now = cordon_app::now();
    match command {
        EvidenceCommand::Add {
            file,
            incident,
            source,
            collected_by,
            collected_at,
            tlp,
            name,
        } => {
            let tlp: Tlp = tlp.parse().map_err(|_| {
                anyhow::anyhow!(
                    "invalid --tlp {tlp:?}: use one of {}",
                    cordon_domain::TLP_LABELS.join(", ")
                )
            })?;
            let collected_by = match collected_by {
                Some(name) => Person::new(&name)?,
                None => actor.clone(),
            };
            let collected_at = match collected_at {
                Some(text) => Timestamp::parse_rfc3339(&text)?,
                None => now,
            };
            let name = name.unwrap_or_else(|| file_name(&file));
            let content = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            let meta = EvidenceMeta {
                name,
                source,
                collected_by,
                collected_at,
                tlp,
            };
            let (_, record) = service.add_evidence(actor, &incident, content, meta, now).await?;
            if global.json {
                println!("{:#}", serde_json::to_value(&record)?);
            } else {
                println!("stored {} ({} bytes, {})", record.name, record.size, record.tlp);
                println!(
                    "  sha256 {}\n  sha1   {}\n  md5    {}",
                    record.sha256, record.sha1, record.md5
                );
            }
        }
        EvidenceCommand::List { incident } => {
            let incident = service.show(actor, &incident).await?;
            if global.json {
                let items: Vec<_> = incident
                    .evidence
                    .iter()
                    .map(|item| json!({"record": item.record, "stored_by": item.stored_by, "stored_at": item.stored_at.to_rfc3339(), "custody_entries": item.custody}))
                    .collect();
                println!(
                    "{:#}",
                    json!({"items": items, "integrity_alarms": incident.integrity_alarms.len()})
                );
            } else {
                let rows: Vec<Vec<String>> = incident
                    .evidence
                    .iter()
                    .map(|item| {
                        let record = &item.record;
                        vec![
                            record.sha256.get(..16).unwrap_or(&record.sha256).to_owned(),
                            record.size.to_string(),
                            record.tlp.clone(),
                            record.collected_by.to_string(),
                            record.name.clone(),
                            record.source.clone(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    render::table(&["SHA256", "BYTES", "TLP", "COLLECTED BY", "NAME", "SOURCE"], &rows)
                );
                for alarm in &incident.integrity_alarms {
                    println!("ALARM {} ({} at {})", alarm.reason, alarm.by, alarm.at);
                }
            }
        }
        EvidenceCommand::Get {
            sha256,
            incident,
            out,
            purpose,
        } => {
            if out.exists() {
                bail!(
                    "{} exists; evidence is never written over an existing file",
                    out.display()
                );
            }
            let file = File::create_new(&out).with_context(|| format!("cannot create {}", out.display()))?;
            match service
                .read_evidence(actor, &incident, &sha256, &purpose, BufWriter::new(file), now)
                .await
            {
                Ok(bytes) => println!(
                    "wrote {} ({bytes} bytes), hash verified; the access is journaled",
                    out.display()
                ),
                Err(err) => {
                    // Never leave a copy behind that could be taken for good evidence.
                    let _ = std::fs::remove_file(&out);
                    return Err(err.into());
                }
            }
        }
        EvidenceCommand::HandOver {
            sha256,
            incident,
            recipient,
            organization,
            reason,
        } => {
            let (_, record) = service.evidence_item(actor, &incident, &sha256).await?;
            let event = Event::EvidenceHandedOver {
                sha256: record.sha256,
                recipient,
                organization,
                reason,
            };
            let incident = service.act(actor, &incident, event, now).await?;
            println!("hand-over recorded (journal entry {})", incident.last_seq);
        }
        EvidenceCommand::Verify => {
            let failures = service.verify_evidence(actor, now).await?;
            if failures.is_empty() {
                println!("evidence: every item verifies");
            } else {
                for (sha256, problem) in &failures {
                    println!("ALARM evidence {sha256}: {problem}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
        EvidenceCommand::Export { incident, out, gzip } => {
            if out.exists() {
                bail!("{} exists; choose a new file for the bundle", out.display());
            }
            let file = File::create_new(&out).with_context(|| format!("cannot create {}", out.display()))?;
            let compression = if gzip { Compression::Gzip } else { Compression::None };
            match service
                .export_evidence(actor, &incident, BufWriter::new(file), compression, now)
                .await
            {
                Ok(summary) => println!(
                    "wrote {}: {} items, {} objects, {} bytes of evidence; manifest sha256 {}",
                    out.display(),
                    summary.items,
                    summary.objects,
                    summary.object_bytes,
                    summary.manifest_sha256.to_hex()
                ),
                Err(err) => {
                    let _ = std::fs::remove_file(&out);
                    return Err(err.into());
                }
            }
        }
        EvidenceCommand::VerifyBundle { .. } => return verify_bundle(global, command),
    }
    Ok(ExitCode::SUCCESS)
}

/// Needs no data directory and no server: only the bundle (and, ideally, a trusted key).
pub fn verify_bundle(global: &Global, command: EvidenceCommand) -> anyhow::Result<ExitCode> {
    let EvidenceCommand::VerifyBundle { bundle, public_key } = command else {
        bail!("not a verify-bundle command");
    };
    let trusted = public_key
        .as_deref()
        .map(crate::commands::parse_public_key)
        .transpose()?;
    let file = File::open(&bundle).with_context(|| format!("cannot open {}", bundle.display()))?;
    let (report, journal_problems) = cordon_app::verify_bundle(std::io::BufReader::new(file), trusted);
    let ok = report.is_valid() && journal_problems.is_empty();
    if global.json {
        println!(
            "{:#}",
            json!({"ok": ok, "report": report, "journal_problems": journal_problems})
        );
    } else {
        println!(
            "{}: {} items, {} files checked, signed by {}{}",
            bundle.display(),
            report.items,
            report.files_checked,
            report.bundle_key.as_deref().unwrap_or("(unknown key)"),
            if report.checked_against_trusted_key {
                " (the trusted key)"
            } else {
                " (no trusted key given: pass --public-key)"
            }
        );
        for problem in &report.problems {
            println!("FAIL {problem}");
        }
        for problem in &journal_problems {
            println!("FAIL journal.json: {problem}");
        }
        println!("{}", if ok { "bundle: OK" } else { "bundle: FAILED" });
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}
