//! `cordon evidence ...`: the evidence locker on the local data directory or, for adding,
//! listing and retention decisions, on a server (`--server`); and offline bundle verification.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use cordon_app::{EvidenceMeta, RetentionDecision, Service};
use cordon_domain::{Event, Incident, Person, Timestamp};
use cordon_evidence::{Compression, Tlp};
use cordon_store::Store;
use serde_json::json;

use crate::cli::{EvidenceCommand, Global};
use crate::render;
use crate::target::{Local, Remote, Target};

/// Pieces of a resumable upload to a server: small enough that a dropped connection costs
/// little, large enough that the requests do not dominate. `CORDON_UPLOAD_PIECE_BYTES` changes it.
const UPLOAD_PIECE_BYTES: u64 = 16 * 1024 * 1024;

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
            resume,
        } => {
            if resume.is_some() {
                bail!("--resume continues an upload to a server: give --server too");
            }
            let tlp = parse_tlp(&tlp)?;
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
            let from = cordon_app::local_origin();
            let (_, record) = service
                .add_evidence(actor, &incident, content, meta, &from, now)
                .await?;
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
        command @ (EvidenceCommand::List { .. }
        | EvidenceCommand::Hold { .. }
        | EvidenceCommand::Release { .. }
        | EvidenceCommand::Retain { .. }) => {
            let local = Local {
                service: service.clone(),
                actor: actor.clone(),
            };
            return on_target(&local, global, command).await;
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
                .read_evidence(
                    actor,
                    &incident,
                    &sha256,
                    &purpose,
                    BufWriter::new(file),
                    &cordon_app::local_origin(),
                    now,
                )
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

/// `evidence ...` against a server: adding (a resumable upload), listing and retention
/// decisions. The rest works on the server's host.
pub async fn remote(remote: &Remote, global: &Global, command: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match command {
        EvidenceCommand::Add {
            file,
            incident,
            source,
            collected_by,
            collected_at,
            tlp,
            name,
            resume,
        } => {
            let tlp = parse_tlp(&tlp)?;
            let name = name.unwrap_or_else(|| file_name(&file));
            let mut metadata = json!({"source": source, "name": name, "tlp": tlp.as_str()});
            if let Some(collected_by) = collected_by {
                metadata["collected_by"] = json!(collected_by);
            }
            if let Some(collected_at) = collected_at {
                metadata["collected_at"] = json!(Timestamp::parse_rfc3339(&collected_at)?.to_rfc3339());
            }
            let piece_bytes = match std::env::var("CORDON_UPLOAD_PIECE_BYTES") {
                Ok(text) => text
                    .parse()
                    .with_context(|| format!("CORDON_UPLOAD_PIECE_BYTES={text:?} is not a number of bytes"))?,
                Err(_) => UPLOAD_PIECE_BYTES,
            };
            let record = remote.upload_evidence(&incident, &file, metadata, resume.as_deref(), piece_bytes)?;
            if global.json {
                println!("{record:#}");
            } else {
                println!(
                    "stored {} ({} bytes, {})",
                    record["name"].as_str().unwrap_or_default(),
                    record["size"],
                    record["tlp"].as_str().unwrap_or_default()
                );
                for digest in ["sha256", "sha1", "md5"] {
                    println!("  {digest:<6} {}", record[digest].as_str().unwrap_or_default());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        command @ (EvidenceCommand::List { .. }
        | EvidenceCommand::Hold { .. }
        | EvidenceCommand::Release { .. }
        | EvidenceCommand::Retain { .. }) => on_target(remote, global, command).await,
        _ => bail!(
            "with --server, evidence commands can add, list, hold, release and retain; run the others on the server's host"
        ),
    }
}

/// The evidence commands that read and decide through the incident's journal alone, the same
/// way locally and against a server.
async fn on_target<T: Target>(target: &T, global: &Global, command: EvidenceCommand) -> anyhow::Result<ExitCode> {
    let (incident, sha256, decision) = match command {
        EvidenceCommand::List { incident } => {
            list(&target.show(&incident).await?, global)?;
            return Ok(ExitCode::SUCCESS);
        }
        EvidenceCommand::Hold {
            sha256,
            incident,
            reason,
        } => (incident, sha256, RetentionDecision::PlaceHold { reason }),
        EvidenceCommand::Release {
            sha256,
            incident,
            reason,
        } => (incident, sha256, RetentionDecision::ReleaseHold { reason }),
        EvidenceCommand::Retain {
            sha256,
            incident,
            until,
            reason,
        } => {
            let until = Timestamp::parse_date_or_rfc3339(&until)?;
            (incident, sha256, RetentionDecision::RetainUntil { until, reason })
        }
        _ => bail!("not a journal-only evidence command"),
    };
    let shown = target.show(&incident).await?;
    let record = cordon_app::find_evidence(&shown, &sha256)?.clone();
    let after = target.act(&incident, decision.event(record.sha256.clone())).await?;
    let state = after
        .evidence_item(&record.sha256)
        .map_or_else(String::new, |item| retention_words(item, cordon_app::now()));
    println!("{}: {state} (journal entry {})", record.name, after.last_seq);
    Ok(ExitCode::SUCCESS)
}

fn list(incident: &Incident, global: &Global) -> anyhow::Result<()> {
    let now = cordon_app::now();
    if global.json {
        let items: Vec<_> = incident
            .evidence
            .iter()
            .map(|item| {
                json!({
                    "record": item.record,
                    "stored_by": item.stored_by,
                    "stored_at": item.stored_at.to_rfc3339(),
                    "custody_entries": item.custody,
                    "retention": item.retention,
                    "legal_hold": item.legal_hold,
                    "disposal_forbidden": item.disposal_forbidden_at(now),
                })
            })
            .collect();
        println!(
            "{:#}",
            json!({"items": items, "integrity_alarms": incident.integrity_alarms.len()})
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = incident
        .evidence
        .iter()
        .map(|item| {
            let record = &item.record;
            vec![
                record.sha256.get(..16).unwrap_or(&record.sha256).to_owned(),
                record.size.to_string(),
                record.tlp.clone(),
                retention_words(item, now),
                record.collected_by.to_string(),
                record.name.clone(),
                record.source.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        render::table(
            &["SHA256", "BYTES", "TLP", "RETENTION", "COLLECTED BY", "NAME", "SOURCE"],
            &rows
        )
    );
    for alarm in &incident.integrity_alarms {
        println!("ALARM {} ({} at {})", alarm.reason, alarm.by, alarm.at);
    }
    Ok(())
}

/// An item's retention in a few words: a legal hold outranks a retention period.
fn retention_words(item: &cordon_domain::EvidenceState, now: Timestamp) -> String {
    match (&item.legal_hold, &item.retention) {
        (Some(_), _) => "legal hold".to_owned(),
        (None, Some(period)) if now < period.until => {
            format!("kept until {}", period.until.to_rfc3339().get(..10).unwrap_or_default())
        }
        _ => "standard".to_owned(),
    }
}

fn parse_tlp(tlp: &str) -> anyhow::Result<Tlp> {
    tlp.parse().map_err(|_| {
        anyhow::anyhow!(
            "invalid --tlp {tlp:?}: use one of {}",
            cordon_domain::TLP_LABELS.join(", ")
        )
    })
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
