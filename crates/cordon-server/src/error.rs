//! One error type for every HTTP response that is not a success, with a stable JSON shape:
//! `{"error": {"code": "...", "message": "..."}}`. 4xx messages say what the client did
//! wrong; 5xx messages are generic (the real error is logged once, with the request id that
//! the `x-request-id` response header carries).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cordon_app::AppError;
use cordon_domain::Refusal;
use cordon_evidence::EvidenceError;
use cordon_store::StoreError;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<i64>,
    pub details: Option<Box<serde_json::Value>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            details: None,
        }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in or send a valid API token",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// The one answer for "does not exist" and "you may not know it exists".
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found")
    }

    pub fn throttled(seconds: i64) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!("too many attempts; retry in {seconds} seconds"),
        );
        error.retry_after = Some(seconds);
        error
    }

    pub fn internal(err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; quote the x-request-id header when reporting it",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(details) = self.details {
            body["error"]["details"] = *details;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> ApiError {
        match err {
            AppError::NotFound { .. } => ApiError::not_found(),
            AppError::Ambiguous { .. } => ApiError::new(StatusCode::CONFLICT, "ambiguous", err.to_string()),
            AppError::AlreadyDeclared { .. } => ApiError::new(StatusCode::CONFLICT, "exists", err.to_string()),
            AppError::Refused(refusal) => refusal_error(refusal),
            AppError::EmptyTitle | AppError::PlaybookKind { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", err.to_string())
            }
            AppError::Contended { .. } | AppError::NoCodename => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", err.to_string())
            }
            AppError::NoEvidence { .. } | AppError::ShareInvalid => ApiError::not_found(),
            AppError::NotThroughEvidence(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", err.to_string())
            }
            AppError::IntegrityAlarm { .. } => ApiError::new(StatusCode::CONFLICT, "integrity_alarm", err.to_string()),
            AppError::NoUpload { .. } => ApiError::new(StatusCode::NOT_FOUND, "no_upload", err.to_string()),
            AppError::Evidence(evidence) => evidence_error(evidence),
            AppError::Unreadable { .. } | AppError::Store(_) | AppError::DataDir(_) | AppError::Task(_) => {
                ApiError::internal(&err)
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Exists { .. } => ApiError::new(StatusCode::CONFLICT, "exists", err.to_string()),
            other => ApiError::internal(&other),
        }
    }
}

/// What the client did wrong with an upload says so (4xx, with where to resume when that
/// helps); a failing disk or locker stays a generic 5xx.
fn evidence_error(err: EvidenceError) -> ApiError {
    let message = err.to_string();
    let with_offset = |mut error: ApiError, offset: u64| {
        error.details = Some(Box::new(json!({ "offset": offset })));
        error
    };
    match err {
        EvidenceError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message),
        EvidenceError::UnknownUpload { .. } | EvidenceError::InvalidUploadId { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "no_upload", message)
        }
        EvidenceError::UploadOffsetMismatch { received, .. } => with_offset(
            ApiError::new(StatusCode::CONFLICT, "offset_mismatch", message),
            received,
        ),
        EvidenceError::UploadInterrupted { received, .. } => with_offset(
            ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", message),
            received,
        ),
        EvidenceError::SourceRead { .. } => ApiError::new(StatusCode::BAD_REQUEST, "upload_interrupted", message),
        EvidenceError::UploadDigestMismatch { .. } | EvidenceError::InvalidDigest { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
        other => ApiError::internal(&other),
    }
}

fn refusal_error(refusal: Refusal) -> ApiError {
    let message = refusal.to_string();
    match refusal {
        Refusal::Gate(block) => {
            let mut error = ApiError::new(StatusCode::CONFLICT, "gate_blocked", message);
            error.details = Some(Box::new(json!({
                "step": block.step.0,
                "gate": block.gate,
                "missing": block.missing,
                "waived_by": block.waived_by,
            })));
            error
        }
        Refusal::Excluded { .. }
        | Refusal::NotMember { .. }
        | Refusal::ObserverOnly { .. }
        | Refusal::CommanderOnly { .. }
        | Refusal::CommanderOrCounselOnly { .. }
        | Refusal::NoCommander { .. } => ApiError::new(StatusCode::FORBIDDEN, "forbidden", message),
        Refusal::UnknownStep { .. }
        | Refusal::UnknownGate { .. }
        | Refusal::UnknownDecision { .. }
        | Refusal::NotConditional { .. }
        | Refusal::ReasonRequired { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
        _ => ApiError::new(StatusCode::CONFLICT, "refused", message),
    }
}
