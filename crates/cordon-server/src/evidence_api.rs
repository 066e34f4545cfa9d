//! The evidence locker over HTTP: list, streaming upload, verified download, and expiring
//! share links for outside parties. Uploads stream to the locker (never held in memory) and
//! are limited by the locker's own size limit, not the API's body limit; downloads are
//! re-hashed before the first byte is sent and again while sending.

use std::io::Write;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use cordon_app::EvidenceMeta;
use cordon_domain::{Person, Timestamp};
use cordon_evidence::Tlp;
use cordon_store::Store;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::{Body as JsonBody, Policy, Route, route};
use crate::state::AppState;

/// The route whose body is evidence: exempt from the API's body limit.
pub const UPLOAD_PATH: &str = "/api/v1/incidents/{incident}/evidence";

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
    let items: Vec<Value> = incident
        .evidence
        .iter()
        .map(|item| {
            json!({
                "record": item.record,
                "stored_by": item.stored_by.as_str(),
                "stored_at": item.stored_at.to_rfc3339(),
                "custody_entries": item.custody,
            })
        })
        .collect();
    let alarms: Vec<&str> = incident.integrity_alarms.iter().map(|a| a.reason.as_str()).collect();
    Ok(Json(json!({"items": items, "integrity_alarms": alarms})))
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

async fn upload<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Body,
) -> Result<Response, ApiError> {
    // Need-to-know first: a non-member learns nothing, not even that they may not write.
    state.service().resolve(principal.person(), &reference).await?;
    principal.require_write()?;
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let source = query
        .source
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("the query parameter source is required (where the evidence was taken from)"))?;
    let tlp: Tlp = query
        .tlp
        .as_deref()
        .unwrap_or("TLP:AMBER+STRICT")
        .parse()
        .map_err(|_| invalid(format!("tlp must be one of {}", cordon_domain::TLP_LABELS.join(", "))))?;
    let collected_by = match query.collected_by {
        Some(name) => Person::new(&name).map_err(|err| invalid(err.to_string()))?,
        None => principal.person().clone(),
    };
    let now = cordon_app::now();
    let collected_at = match query.collected_at {
        Some(text) => Timestamp::parse_rfc3339(&text).map_err(|err| invalid(err.to_string()))?,
        None => now,
    };
    let meta = EvidenceMeta {
        name: query.name.unwrap_or_else(|| "upload".to_owned()),
        source,
        collected_by,
        collected_at,
        tlp,
    };
    let stream = body
        .into_data_stream()
        .map(|chunk| chunk.map_err(std::io::Error::other));
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let (_, record) = state
        .service()
        .add_evidence(principal.person(), &reference, reader, meta, now)
        .await?;
    Ok((StatusCode::CREATED, Json(json!(record))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DownloadQuery {
    purpose: Option<String>,
}

async fn download<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
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
    tokio::spawn(async move {
        if let Err(err) = service
            .read_evidence(&person, &reference, &sha256, &purpose, writer, now)
            .await
        {
            tracing::error!(error = %err, "evidence download failed after verification");
        }
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

async fn shared<S: Store>(State(state): State<AppState<S>>, Path(token): Path<String>) -> Result<Response, ApiError> {
    let (writer, body) = channel_body();
    let service = state.service().clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let ready = std::sync::Arc::new(std::sync::Mutex::new(Some(ready_tx)));
    let signal = ReadySignal {
        inner: writer,
        ready: std::sync::Arc::clone(&ready),
    };
    tokio::spawn(async move {
        match service.open_shared(&token, signal, cordon_app::now()).await {
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
