//! The evidence locker over HTTP: list, streaming and resumable uploads, verified download,
//! retention and legal holds, and expiring share links for outside parties. Uploads stream to
//! the locker (never held in memory) and are limited by the locker's own size limit, not the
//! API's body limit; downloads are re-hashed before the first byte is sent and again while
//! sending. Every upload, download and share use journals the client's address as "from where".

use std::io::Write;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use bytes::Bytes;
use cordon_app::{EvidenceMeta, RetentionDecision};
use cordon_domain::{Person, Timestamp};
use cordon_evidence::Tlp;
use cordon_store::Store;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::auth::{ClientAddr, Principal};
use crate::error::ApiError;
use crate::routes::{Body as JsonBody, Policy, Route, route};
use crate::state::AppState;

/// The route whose body is evidence: exempt from the API's body limit.
pub const UPLOAD_PATH: &str = "/api/v1/incidents/{incident}/evidence";
/// A resumable upload; its pieces are evidence too, exempt from the body limit.
pub const UPLOAD_PIECE_PATH: &str = "/api/v1/incidents/{incident}/evidence/uploads/{upload}";
/// The header that carries a resumable upload's offset, as in tus.
pub const UPLOAD_OFFSET: &str = "upload-offset";

pub fn routes<S: Store>() -> Vec<Route<S>> {
    vec![
        route(
            Method::GET,
            "/api/v1/incidents/{incident}/evidence",
            Policy::IncidentRead,
            "The incident's evidence with hashes, TLP and custody",
            get(list::<S>),
        ),
        route(
            Method::POST,
            UPLOAD_PATH,
            Policy::IncidentWrite,
            "Upload evidence as the raw request body (streamed; query: source, name, tlp, collected_by, collected_at)",
            post(upload::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/incidents/{incident}/evidence/{sha256}",
            Policy::IncidentRead,
            "Download an item, re-verified before and while sending; the access is journaled (query: purpose)",
            get(download::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/evidence/{sha256}/share",
            Policy::IncidentWrite,
            "Issue an expiring, single-purpose link to one item for an outside party (never TLP:RED)",
            post(share::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/evidence/{sha256}/retention",
            Policy::IncidentWrite,
            "Keep an item at least until a date or time (commander or legal counsel; periods only grow)",
            post(retain::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/evidence/{sha256}/legal-hold",
            Policy::IncidentWrite,
            "Place an item under legal hold (commander or legal counsel)",
            post(hold::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/evidence/{sha256}/legal-hold/release",
            Policy::IncidentWrite,
            "Release an item's legal hold (commander or legal counsel)",
            post(release::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/evidence/uploads",
            Policy::IncidentWrite,
            "Start a resumable upload; returns its id (send pieces with PATCH, then complete)",
            post(begin_upload::<S>),
        ),
        route(
            Method::GET,
            UPLOAD_PIECE_PATH,
            Policy::IncidentWrite,
            "How many bytes of a resumable upload arrived (also HEAD; the Upload-Offset header)",
            get(upload_status::<S>),
        ),
        route(
            Method::PATCH,
            UPLOAD_PIECE_PATH,
            Policy::IncidentWrite,
            "Append a piece at the Upload-Offset header (raw body, streamed); answers the new offset",
            patch(append_upload::<S>),
        ),
        route(
            Method::DELETE,
            UPLOAD_PIECE_PATH,
            Policy::IncidentWrite,
            "Abandon an unfinished upload (it was never evidence)",
            axum::routing::delete(abandon_upload::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/evidence/uploads/{upload}/complete",
            Policy::IncidentWrite,
            "Finish a resumable upload: hash, check the declared sha256, store and journal (JSON: source, name, tlp, collected_by, collected_at, sha256)",
            post(complete_upload::<S>),
        ),
        route(
            Method::GET,
            "/share/{token}",
            Policy::Public,
            "Download through a share link; the use is journaled",
            get(shared::<S>),
        ),
    ]
}

async fn list<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let incident = state.service().show(principal.person(), &reference).await?;
    let now = cordon_app::now();
    let items: Vec<Value> = incident.evidence.iter().map(|item| item_json(item, now)).collect();
    let alarms: Vec<&str> = incident.integrity_alarms.iter().map(|a| a.reason.as_str()).collect();
    Ok(Json(json!({"items": items, "integrity_alarms": alarms})))
}

/// One item as the API shows it, with its retention and whether a disposal job may act on it
/// now (never under a legal hold or before its retention period ends).
fn item_json(item: &cordon_domain::EvidenceState, now: Timestamp) -> Value {
    json!({
        "record": item.record,
        "stored_by": item.stored_by.as_str(),
        "stored_at": item.stored_at.to_rfc3339(),
        "custody_entries": item.custody,
        "retention": item.retention.as_ref().map(|r| json!({
            "until": r.until.to_rfc3339(), "reason": r.reason, "by": r.by.as_str(), "at": r.at.to_rfc3339(),
        })),
        "legal_hold": item.legal_hold.as_ref().map(|h| json!({
            "reason": h.reason, "by": h.by.as_str(), "at": h.at.to_rfc3339(),
        })),
        "disposal_forbidden": item.disposal_forbidden_at(now),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    source: Option<String>,
    name: Option<String>,
    tlp: Option<String>,
    collected_by: Option<String>,
    collected_at: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}

/// What the uploader says about an item, checked: where it came from (required), its name,
/// TLP marking (TLP:AMBER+STRICT unless given), collector (the caller unless given) and time
/// of collection (now unless given).
fn upload_meta(
    principal: &Principal,
    source: Option<String>,
    name: Option<String>,
    tlp: Option<&str>,
    collected_by: Option<String>,
    collected_at: Option<String>,
    now: Timestamp,
) -> Result<EvidenceMeta, ApiError> {
    let source = source
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("source is required (where the evidence was taken from)"))?;
    let tlp: Tlp = tlp
        .unwrap_or("TLP:AMBER+STRICT")
        .parse()
        .map_err(|_| invalid(format!("tlp must be one of {}", cordon_domain::TLP_LABELS.join(", "))))?;
    let collected_by = match collected_by {
        Some(name) => Person::new(&name).map_err(|err| invalid(err.to_string()))?,
        None => principal.person().clone(),
    };
    let collected_at = match collected_at {
        Some(text) => Timestamp::parse_rfc3339(&text).map_err(|err| invalid(err.to_string()))?,
        None => now,
    };
    Ok(EvidenceMeta {
        name: name.unwrap_or_else(|| "upload".to_owned()),
        source,
        collected_by,
        collected_at,
        tlp,
    })
}

/// A request body as a blocking reader for the locker, streamed chunk by chunk.
fn body_reader(body: Body) -> impl std::io::Read + Send + 'static {
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    SyncIoBridge::new(StreamReader::new(stream))
}

async fn upload<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    ClientAddr(from): ClientAddr,
    Path(reference): Path<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    // Need-to-know first: a non-member learns nothing, not even that they may not write.
    state.service().resolve(principal.person(), &reference).await?;
    principal.require_write()?;
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let now = cordon_app::now();
    let meta = upload_meta(
        &principal,
        query.source,
        query.name,
        query.tlp.as_deref(),
        query.collected_by,
        query.collected_at,
        now,
    )?;
    let (_, record) = state
        .service()
        .add_evidence(principal.person(), &reference, body_reader(body), meta, &from, now)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(record))).into_response())
}

/// Need-to-know, then write permission: what every route that changes evidence checks first.
async fn writer<S: Store>(state: &AppState<S>, principal: &Principal, reference: &str) -> Result<(), ApiError> {
    state.service().resolve(principal.person(), reference).await?;
    principal.require_write()
}

fn offset_header(offset: u64) -> [(&'static str, String); 1] {
    [(UPLOAD_OFFSET, offset.to_string())]
}

async fn begin_upload<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
) -> Result<Response, ApiError> {
    writer(&state, &principal, &reference).await?;
    let upload = state.service().begin_upload(principal.person(), &reference).await?;
    let location = format!("/api/v1/incidents/{reference}/evidence/uploads/{upload}");
    let body = json!({"upload": upload.as_str(), "offset": 0, "location": location});
    Ok((StatusCode::CREATED, [(header::LOCATION.as_str(), location)], Json(body)).into_response())
}

async fn upload_status<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, upload)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    writer(&state, &principal, &reference).await?;
    let status = state
        .service()
        .upload_status(principal.person(), &reference, &upload)
        .await?;
    let body = json!({
        "upload": status.upload.as_str(),
        "offset": status.received,
        "last_written_at": status.last_written_at.to_rfc3339(),
    });
    Ok((offset_header(status.received), Json(body)).into_response())
}

async fn append_upload<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, upload)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    writer(&state, &principal, &reference).await?;
    let offset = headers
        .get(UPLOAD_OFFSET)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_request("send the Upload-Offset header: the bytes the upload has so far"))?;
    let received = state
        .service()
        .append_upload(principal.person(), &reference, &upload, offset, body_reader(body))
        .await?;
    Ok((StatusCode::NO_CONTENT, offset_header(received)).into_response())
}

async fn abandon_upload<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, upload)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    writer(&state, &principal, &reference).await?;
    state
        .service()
        .abandon_upload(principal.person(), &reference, &upload)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteRequest {
    source: Option<String>,
    name: Option<String>,
    tlp: Option<String>,
    collected_by: Option<String>,
    collected_at: Option<String>,
    /// The SHA-256 the client computed; a different result stores nothing.
    sha256: Option<String>,
}

async fn complete_upload<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    ClientAddr(from): ClientAddr,
    Path((reference, upload)): Path<(String, String)>,
    JsonBody(request): JsonBody<CompleteRequest>,
) -> Result<Response, ApiError> {
    writer(&state, &principal, &reference).await?;
    let now = cordon_app::now();
    let meta = upload_meta(
        &principal,
        request.source,
        request.name,
        request.tlp.as_deref(),
        request.collected_by,
        request.collected_at,
        now,
    )?;
    let (_, record) = state
        .service()
        .finish_upload(
            principal.person(),
            &reference,
            &upload,
            request.sha256.as_deref(),
            meta,
            &from,
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(record))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RetentionRequest {
    until: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonRequest {
    reason: String,
}

async fn decide<S: Store>(
    state: &AppState<S>,
    principal: &Principal,
    reference: &str,
    sha256: &str,
    decision: RetentionDecision,
) -> Result<Response, ApiError> {
    writer(state, principal, reference).await?;
    let now = cordon_app::now();
    let incident = state
        .service()
        .decide_retention(principal.person(), reference, sha256, decision, now)
        .await?;
    let record = cordon_app::find_evidence(&incident, sha256)?;
    let item = incident
        .evidence_item(&record.sha256)
        .map(|item| item_json(item, now))
        .unwrap_or(Value::Null);
    Ok(Json(item).into_response())
}

async fn retain<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, sha256)): Path<(String, String)>,
    JsonBody(request): JsonBody<RetentionRequest>,
) -> Result<Response, ApiError> {
    match Timestamp::parse_date_or_rfc3339(&request.until) {
        Ok(until) => {
            let decision = RetentionDecision::RetainUntil {
                until,
                reason: request.reason,
            };
            decide(&state, &principal, &reference, &sha256, decision).await
        }
        Err(err) => {
            // Access first, so a non-member cannot learn anything from a malformed time either.
            writer(&state, &principal, &reference).await?;
            Err(invalid(err.to_string()))
        }
    }
}

async fn hold<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, sha256)): Path<(String, String)>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<Response, ApiError> {
    let decision = RetentionDecision::PlaceHold { reason: request.reason };
    decide(&state, &principal, &reference, &sha256, decision).await
}

async fn release<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, sha256)): Path<(String, String)>,
    JsonBody(request): JsonBody<ReasonRequest>,
) -> Result<Response, ApiError> {
    let decision = RetentionDecision::ReleaseHold { reason: request.reason };
    decide(&state, &principal, &reference, &sha256, decision).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadQuery {
    purpose: Option<String>,
}

async fn download<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    ClientAddr(from): ClientAddr,
    Path((reference, sha256)): Path<(String, String)>,
    query: Result<Query<DownloadQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require_read()?;
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let purpose = query
        .purpose
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "download".to_owned());
    let now = cordon_app::now();
    let service = state.service().clone();
    let person = principal.person().clone();
    let record = service.check_evidence(&person, &reference, &sha256, now).await?;
    let (writer, body) = channel_body();
    // The body ends only when this last sender goes, after the access is journaled: a client
    // that has the whole item knows its access is on the record, and a failure to record it
    // breaks the download instead of passing silently.
    let end_of_body = writer.0.clone();
    tokio::spawn(async move {
        if let Err(err) = service
            .read_evidence(&person, &reference, &sha256, &purpose, writer, &from, now)
            .await
        {
            tracing::error!(error = %err, "evidence download failed after verification");
            let _ = end_of_body
                .send(Err(std::io::Error::other(
                    "the download could not be completed and journaled",
                )))
                .await;
        }
        drop(end_of_body);
    });
    Ok(file_response(body, &record.name, &record.sha256, record.size))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRequest {
    recipient: String,
    purpose: String,
    #[serde(default = "default_hours")]
    valid_for_hours: u32,
    #[serde(default = "default_single_use")]
    single_use: bool,
}

fn default_hours() -> u32 {
    72
}

fn default_single_use() -> bool {
    true
}

async fn share<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path((reference, sha256)): Path<(String, String)>,
    JsonBody(request): JsonBody<ShareRequest>,
) -> Result<Response, ApiError> {
    state.service().resolve(principal.person(), &reference).await?;
    principal.require_write()?;
    let issued = state
        .service()
        .share_evidence(
            principal.person(),
            &reference,
            &sha256,
            &request.recipient,
            &request.purpose,
            request.valid_for_hours,
            request.single_use,
            cordon_app::now(),
        )
        .await?;
    let url = format!("{}/share/{}", state.config().public_url, issued.token.expose());
    let body = json!({"token": issued.token.expose(), "url": url, "expires_at": issued.expires_at.to_rfc3339()});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn shared<S: Store>(
    State(state): State<AppState<S>>,
    ClientAddr(from): ClientAddr,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let (writer, body) = channel_body();
    let service = state.service().clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let ready = std::sync::Arc::new(std::sync::Mutex::new(Some(ready_tx)));
    let signal = ReadySignal {
        inner: writer,
        ready: std::sync::Arc::clone(&ready),
    };
    tokio::spawn(async move {
        match service.open_shared(&token, signal, &from, cordon_app::now()).await {
            // An empty item writes nothing: say it is ready now.
            Ok(_) => fire(&ready),
            Err(err) => tracing::warn!(error = %err, "share link refused"),
        }
    });
    // The first byte (or a successful end) says the link was accepted and its use journaled;
    // anything else is the one answer every bad link gets.
    match ready_rx.await {
        Ok(()) => Ok(file_response(body, "shared-evidence", "", 0)),
        Err(_) => Err(ApiError::not_found()),
    }
}

type Ready = std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>>;

fn fire(ready: &Ready) {
    if let Some(sender) = ready.lock().ok().and_then(|mut slot| slot.take()) {
        let _ = sender.send(());
    }
}

/// Signals readiness just before the first byte, so the handler answers 200 only once the
/// link has been accepted.
struct ReadySignal {
    inner: ChannelWriter,
    ready: Ready,
}

impl Write for ReadySignal {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        fire(&self.ready);
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A `Write` that feeds a response body from a blocking thread.
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn channel_body() -> (ChannelWriter, Body) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    (ChannelWriter(sender), Body::from_stream(stream))
}

fn file_response(body: Body, name: &str, sha256: &str, size: u64) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let safe_name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if !sha256.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&format!("sha256={sha256}")) {
            headers.insert("x-cordon-evidence-verified", value);
        }
        if let Ok(value) = HeaderValue::from_str(&size.to_string()) {
            headers.insert(header::CONTENT_LENGTH, value);
        }
    }
    response
}
