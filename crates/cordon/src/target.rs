//! Where commands go: the local data directory (through `cordon_app::Service`) or a Cordon
//! server (through its REST API with an API token). Both give the same answers, so every
//! command is written once against [`Target`].

use anyhow::{Context, bail};
use cordon_app::{AppError, DeclareRequest, JournalLine, Service};
use cordon_domain::{
    Event, Hash, Incident, IncidentId, Kind, Person, Recorded, Refusal, Severity, Status, Timestamp, VerifyingKey,
};
use cordon_store::{IncidentRow, Store};
use serde_json::{Value, json};

/// A refusal by a gate, kept apart so the CLI can add the command that overrides it.
#[derive(Debug, thiserror::Error)]
#[error("refused: {message}")]
pub struct GateRefused {
    pub message: String,
    pub step: u32,
    pub gate: String,
}

/// What `audit verify` found, ready to print.
pub struct AuditOutcome {
    pub ok: bool,
    pub text: String,
    pub json: Value,
}

pub trait Target {
    async fn declare(&self, request: DeclareRequest) -> anyhow::Result<Incident>;
    async fn list(&self) -> anyhow::Result<Vec<IncidentRow>>;
    async fn show(&self, reference: &str) -> anyhow::Result<Incident>;
    async fn act(&self, reference: &str, event: Event) -> anyhow::Result<Incident>;
    /// The journal, and a description of where its chain breaks, if it does.
    async fn journal(&self, reference: &str) -> anyhow::Result<(Vec<JournalLine>, Option<String>)>;
    async fn audit(&self, trusted: Option<VerifyingKey>) -> anyhow::Result<AuditOutcome>;
    async fn public_key(&self) -> anyhow::Result<String>;
    /// Signs a checkpoint if anything changed and returns the latest one, as JSON.
    async fn checkpoint(&self) -> anyhow::Result<Option<Value>>;
}

/// The local data directory, acting as `actor`.
pub struct Local<S> {
    pub service: Service<S>,
    pub actor: Person,
}

fn local_error(err: AppError) -> anyhow::Error {
    match err {
        AppError::Refused(Refusal::Gate(block)) => GateRefused {
            message: block.to_string(),
            step: block.step.0,
            gate: block.gate,
        }
        .into(),
        other => other.into(),
    }
}

impl<S: Store> Target for Local<S> {
    async fn declare(&self, request: DeclareRequest) -> anyhow::Result<Incident> {
        Ok(self.service.declare(&self.actor, request, cordon_app::now()).await?)
    }

    async fn list(&self) -> anyhow::Result<Vec<IncidentRow>> {
        Ok(self.service.list(&self.actor).await?)
    }

    async fn show(&self, reference: &str) -> anyhow::Result<Incident> {
        Ok(self.service.show(&self.actor, reference).await?)
    }

    async fn act(&self, reference: &str, event: Event) -> anyhow::Result<Incident> {
        self.service
            .act(&self.actor, reference, event, cordon_app::now())
            .await
            .map_err(local_error)
    }

    async fn journal(&self, reference: &str) -> anyhow::Result<(Vec<JournalLine>, Option<String>)> {
        let (lines, chain_break) = self.service.journal(&self.actor, reference).await?;
        Ok((lines, chain_break.map(|b| b.to_string())))
    }

    async fn audit(&self, trusted: Option<VerifyingKey>) -> anyhow::Result<AuditOutcome> {
        let report = self.service.audit(trusted).await?;
        let evidence = self.service.audit_evidence().await?;
        let mut text = crate::render::audit(&report);
        for (incident, sha256, problem) in &evidence {
            text.push_str(&format!("FAIL incident {incident} evidence {sha256}: {problem}\n"));
        }
        if !evidence.is_empty() {
            text.push_str(&format!(
                "evidence: FAILED, {} item(s) no longer match their hash\n",
                evidence.len()
            ));
        }
        let mut json = serde_json::to_value(&report)?;
        json["evidence_findings"] = evidence
            .iter()
            .map(|(incident, sha256, problem)| json!({"incident": incident.as_str(), "sha256": sha256, "problem": problem}))
            .collect();
        Ok(AuditOutcome {
            ok: report.is_clean() && evidence.is_empty(),
            text,
            json,
        })
    }

    async fn public_key(&self) -> anyhow::Result<String> {
        Ok(hex::encode(self.service.public_key().as_bytes()))
    }

    async fn checkpoint(&self) -> anyhow::Result<Option<Value>> {
        self.service.checkpoint(cordon_app::now()).await?;
        let latest = cordon_store::CheckpointStore::latest_checkpoint(self.service.store()).await?;
        Ok(latest.map(|checkpoint| serde_json::to_value(&checkpoint)).transpose()?)
    }
}

/// A Cordon server, as the owner of an API token.
pub struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Remote {
    pub fn new(server: &str, token: Option<&str>) -> anyhow::Result<Remote> {
        let token = token
            .filter(|t| !t.is_empty())
            .context("--server needs an API token: pass --token or set CORDON_TOKEN")?;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            bail!("--server must be an http:// or https:// URL, got {server:?}");
        }
        Ok(Remote {
            base: format!("{}/api/v1", server.trim_end_matches('/')),
            token: token.to_owned(),
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(60))
                .build(),
        })
    }

    pub(crate) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .request(method, &url)
            .set("authorization", &format!("Bearer {}", self.token));
        let result = match body {
            Some(body) => request.send_json(body.clone()),
            None => request.call(),
        };
        match result {
            Ok(response) => {
                let text = response.into_string().context("reading the server's answer")?;
                if text.is_empty() {
                    Ok(Value::Null)
                } else {
                    Ok(serde_json::from_str(&text)?)
                }
            }
            Err(ureq::Error::Status(status, response)) => {
                let body: Value = response.into_json().unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().unwrap_or("error").to_owned();
                let message = body["error"]["message"].as_str().unwrap_or("no message").to_owned();
                if code == "gate_blocked" {
                    let details = &body["error"]["details"];
                    return Err(GateRefused {
                        message,
                        step: details["step"]
                            .as_u64()
                            .and_then(|s| u32::try_from(s).ok())
                            .unwrap_or(0),
                        gate: details["gate"].as_str().unwrap_or_default().to_owned(),
                    }
                    .into());
                }
                match status {
                    401 => bail!("the server did not accept the token (expired, revoked or wrong): {message}"),
                    404 => bail!("not found (or not visible to you): {path}"),
                    409 | 403 | 422 if code == "refused" || code == "forbidden" || code == "invalid" => {
                        bail!("refused: {message}")
                    }
                    _ => bail!("the server answered {status} {code}: {message}"),
                }
            }
            Err(err) => Err(anyhow::Error::new(err).context(format!("cannot reach {url}"))),
        }
    }

    fn incident_path(reference: &str) -> String {
        format!("/incidents/{}", encode_segment(reference.trim()))
    }

    /// Uploads `file` as evidence through a resumable upload: pieces of `piece_bytes`, each
    /// sent from the offset the server reports, so a dropped connection costs at most the piece
    /// in flight. The file is hashed first and the server refuses the upload if what arrived
    /// hashes differently. `resume` continues an upload an earlier run started.
    pub fn upload_evidence(
        &self,
        reference: &str,
        file: &std::path::Path,
        metadata: Value,
        resume: Option<&str>,
        piece_bytes: u64,
    ) -> anyhow::Result<Value> {
        use std::io::{Read, Seek, SeekFrom};
        let open = || std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()));
        let mut hasher = cordon_evidence::MultiHasher::new();
        let mut content = open()?;
        let mut buffer = vec![0; cordon_evidence::CHUNK_BYTES];
        loop {
            let read = content
                .read(&mut buffer)
                .with_context(|| format!("cannot read {}", file.display()))?;
            if read == 0 {
                break;
            }
            hasher.update(buffer.get(..read).unwrap_or_default());
        }
        let digests = hasher.finish();
        let uploads = format!("{}/evidence/uploads", Self::incident_path(reference));
        let upload = match resume {
            Some(upload) => upload.trim().to_owned(),
            None => {
                let started = self.call("POST", &uploads, None)?;
                let upload = started["upload"]
                    .as_str()
                    .context("the server's answer has no upload id")?
                    .to_owned();
                eprintln!("upload {upload} started; if it is interrupted, run the same command with --resume {upload}");
                upload
            }
        };
        let piece_url = format!("{uploads}/{}", encode_segment(&upload));
        let mut failures = 0u32;
        loop {
            let offset = self.call("GET", &piece_url, None)?["offset"]
                .as_u64()
                .context("the server's answer has no upload offset")?;
            if offset > digests.size {
                bail!(
                    "upload {upload} already holds {offset} bytes, more than {} has; it is not an upload of this file",
                    file.display()
                );
            }
            if offset == digests.size {
                break;
            }
            let length = piece_bytes.max(1).min(digests.size - offset);
            let mut piece = open()?;
            piece.seek(SeekFrom::Start(offset))?;
            let result = self
                .agent
                .request("PATCH", &format!("{}{piece_url}", self.base))
                .set("authorization", &format!("Bearer {}", self.token))
                .set("content-type", "application/offset+octet-stream")
                .set("upload-offset", &offset.to_string())
                .set("content-length", &length.to_string())
                .send(piece.take(length));
            match result {
                Ok(_) => failures = 0,
                // Another piece got there first, or the offset moved: ask again and go on.
                Err(ureq::Error::Status(409, _)) => {}
                Err(ureq::Error::Status(status, response)) if status < 500 && status != 400 => {
                    let body: Value = response.into_json().unwrap_or(Value::Null);
                    bail!(
                        "the server refused a piece of upload {upload} ({status}): {}",
                        body["error"]["message"].as_str().unwrap_or("no message")
                    );
                }
                Err(err) => {
                    failures += 1;
                    if failures > 8 {
                        return Err(anyhow::Error::new(err).context(format!(
                            "upload {upload} keeps failing; run the same command with --resume {upload} later"
                        )));
                    }
                    eprintln!("upload {upload}: a piece failed ({err}); resuming from the server's offset");
                    std::thread::sleep(std::time::Duration::from_secs(u64::from(failures.min(10))));
                }
            }
        }
        let mut body = metadata;
        body["sha256"] = json!(digests.sha256.to_hex());
        self.call("POST", &format!("{piece_url}/complete"), Some(&body))
    }
}

impl Target for Remote {
    async fn declare(&self, request: DeclareRequest) -> anyhow::Result<Incident> {
        let mut body = json!({
            "kind": request.kind.as_str(),
            "severity": request.severity.as_str(),
            "title": request.title,
        });
        if let Some(playbook) = &request.playbook {
            body["playbook"] = json!(toml_of(playbook)?);
        }
        let created = self.call("POST", "/incidents", Some(&body))?;
        let id = created["id"]
            .as_str()
            .context("the server's answer has no incident id")?;
        self.show(id).await
    }

    async fn list(&self) -> anyhow::Result<Vec<IncidentRow>> {
        let mut rows = Vec::new();
        for page in 1.. {
            let answer = self.call("GET", &format!("/incidents?per_page=200&page={page}"), None)?;
            let items = answer["items"].as_array().cloned().unwrap_or_default();
            for item in &items {
                rows.push(row_from_json(item)?);
            }
            let total = answer["total"].as_u64().unwrap_or(0);
            if items.is_empty() || rows.len() as u64 >= total {
                break;
            }
        }
        Ok(rows)
    }

    async fn show(&self, reference: &str) -> anyhow::Result<Incident> {
        let (lines, _) = self.journal(reference).await?;
        let summary = self.call("GET", &Self::incident_path(reference), None)?;
        let id = summary["id"]
            .as_str()
            .context("the server's answer has no incident id")?;
        let recorded: Vec<Recorded> = lines.into_iter().map(|line| line.recorded).collect();
        Ok(Incident::fold(IncidentId::new(id), &recorded)?)
    }

    async fn act(&self, reference: &str, event: Event) -> anyhow::Result<Incident> {
        let body = serde_json::to_value(&event)?;
        let answer = self.call(
            "POST",
            &format!("{}/events", Self::incident_path(reference)),
            Some(&body),
        )?;
        let id = answer["id"]
            .as_str()
            .context("the server's answer has no incident id")?
            .to_owned();
        self.show(&id).await
    }

    async fn journal(&self, reference: &str) -> anyhow::Result<(Vec<JournalLine>, Option<String>)> {
        let answer = self.call("GET", &format!("{}/journal", Self::incident_path(reference)), None)?;
        let mut lines = Vec::new();
        for entry in answer["entries"].as_array().cloned().unwrap_or_default() {
            let at = Timestamp::parse_rfc3339(entry["at"].as_str().unwrap_or_default())?;
            let recorded = Recorded {
                seq: entry["seq"].as_u64().context("journal entry without seq")?,
                at,
                actor: Person::new(entry["actor"].as_str().unwrap_or_default())?,
                event: serde_json::from_value(entry["event"].clone())?,
            };
            let hash = Hash::from_hex(entry["hash"].as_str().unwrap_or_default())?;
            lines.push(JournalLine { recorded, hash });
        }
        let chain_break = answer["chain"]["break"].as_str().map(str::to_owned);
        Ok((lines, chain_break))
    }

    async fn audit(&self, trusted: Option<VerifyingKey>) -> anyhow::Result<AuditOutcome> {
        if trusted.is_some() {
            bail!("--public-key works on a local data directory; a server verifies with its own key");
        }
        let answer = self.call("GET", "/audit", None)?;
        let ok = answer["ok"].as_bool().unwrap_or(false);
        let mut text = format!(
            "checked {} incidents you may see, {} checkpoints\n",
            answer["incidents_checked"], answer["checkpoints"]
        );
        for finding in answer["findings"].as_array().cloned().unwrap_or_default() {
            text.push_str(&format!("FAIL {}\n", finding.as_str().unwrap_or_default()));
        }
        text.push_str(if ok { "audit: OK\n" } else { "audit: FAILED\n" });
        Ok(AuditOutcome { ok, text, json: answer })
    }

    async fn public_key(&self) -> anyhow::Result<String> {
        let answer = self.call("GET", "/audit/public-key", None)?;
        Ok(answer["public_key"].as_str().unwrap_or_default().to_owned())
    }

    async fn checkpoint(&self) -> anyhow::Result<Option<Value>> {
        bail!("checkpoints are exported on the server's host: run `cordon audit checkpoint` there")
    }
}

fn row_from_json(item: &Value) -> anyhow::Result<IncidentRow> {
    let text = |field: &str| {
        item[field]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("incident without {field}"))
    };
    Ok(IncidentRow {
        id: IncidentId::new(text("id")?),
        kind: text("kind")?.parse::<Kind>()?,
        title: text("title")?,
        severity: text("severity")?.parse::<Severity>()?,
        status: text("status")?.parse::<Status>()?,
        codename: item["codename"].as_str().map(cordon_domain::Codename::from_stored),
        declared_by: Person::new(&text("declared_by")?)?,
        declared_at: Timestamp::parse_rfc3339(&text("declared_at")?)?,
        updated_at: Timestamp::parse_rfc3339(&text("updated_at")?)?,
        last_seq: 0,
    })
}

fn toml_of(playbook: &cordon_domain::Playbook) -> anyhow::Result<String> {
    // The server parses and validates playbooks itself; send it the canonical TOML.
    Ok(toml::to_string(playbook)?)
}

/// Percent-encodes one path segment (ids and codenames are plain, but be safe).
pub(crate) fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
