//! Alert intake over HTTP, in the senders' own formats:
//!
//! - `POST /v2/enqueue`: PagerDuty's Events API v2, so any sender that speaks it (Alertmanager's
//!   `pagerduty_configs`, the `pagerduty` Python client, monitoring tools) only changes its URL.
//!   Same request, same answers: `202 {"status":"success","message":"Event processed",
//!   "dedup_key":...}`, `400 {"status":"invalid event","message":"Event object is invalid",
//!   "errors":[...]}`, `429` with `Retry-After`.
//! - `POST /api/v1/intake/alertmanager`: Alertmanager's `webhook_configs`, with the integration
//!   key as a bearer token (`http_config.authorization.credentials`).
//! - `POST /api/v1/intake/webhook`: any JSON, read with the integration's field mapping and
//!   authenticated twice: the key as a bearer token and an `X-Cordon-Signature` HMAC of the
//!   body under the integration's secret (the scheme Cordon's own outgoing webhooks use).
//!
//! Every endpoint answers 202 only after the event is committed to the database.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use cordon_app::paging::{IntakeError, IntegrationKind};
use cordon_domain::Timestamp;
use cordon_intake::{Mapping, Signal, alertmanager, pagerduty};
use cordon_notify::{SIGNATURE_HEADER, Secret, verify_webhook_signature};
use cordon_store::{IntegrationRow, Store};
use serde_json::{Value, json};

use crate::routes::{Policy, Route, route};
use crate::state::AppState;

/// How old a signed webhook may be before it is refused as a possible replay.
const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

pub fn routes<S: Store>() -> Vec<Route<S>> {
    vec![
        route(
            Method::POST,
            "/v2/enqueue",
            Policy::Public,
            "PagerDuty Events API v2: trigger, acknowledge or resolve an alert (authenticated by routing_key)",
            post(enqueue::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/intake/alertmanager",
            Policy::Public,
            "Prometheus Alertmanager webhook (authenticated by the integration key as a bearer token)",
            post(alertmanager_webhook::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/intake/webhook",
            Policy::Public,
            "Generic JSON webhook read with the integration's field mapping (bearer key and X-Cordon-Signature HMAC)",
            post(generic_webhook::<S>),
        ),
    ]
}

/// An answer in the Events API's shape.
fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn invalid(errors: Vec<String>) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

/// The answer to an event that was not stored.
fn refused(err: &IntakeError) -> Response {
    match err {
        IntakeError::UnknownKey => invalid(vec![err.to_string()]),
        IntakeError::BadSignature => answer(
            StatusCode::UNAUTHORIZED,
            json!({"status": "unauthorized", "message": err.to_string()}),
        ),
        IntakeError::Throttled { retry_after_secs } => {
            let mut response = answer(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"status": "throttle event", "message": err.to_string()}),
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        IntakeError::Unavailable(problem) => {
            tracing::error!(problem = %problem, "intake could not store an event");
            let mut response = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unavailable", "message": "the event was not stored; retry"}),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

async fn enqueue<S: Store>(State(state): State<AppState<S>>, body: Bytes) -> Response {
    let event = match pagerduty::parse(&body) {
        Ok(event) => event,
        Err(problems) => return invalid(problems.problems),
    };
    let integration = match state
        .paging()
        .integration(&event.routing_key, IntegrationKind::PagerDuty)
        .await
    {
        Ok(integration) => integration,
        Err(err) => return refused(&err),
    };
    let signal = Signal::from_pagerduty(event, || uuid::Uuid::new_v4().simple().to_string());
    let processed = json!({"status": "success", "message": "Event processed", "dedup_key": signal.dedup_key});
    store(&state, &integration, vec![signal], cordon_app::now(), processed).await
}

/// Stores `signals` and answers 202 with `accepted`, or says why nothing was stored.
async fn store<S: Store>(
    state: &AppState<S>,
    integration: &IntegrationRow,
    signals: Vec<Signal>,
    now: Timestamp,
    accepted: Value,
) -> Response {
    match state.paging().accept(integration, signals, now).await {
        Ok(()) => answer(StatusCode::ACCEPTED, accepted),
        Err(err) => refused(&err),
    }
}

/// The integration of `kind` whose key the request carries as `Authorization: Bearer <key>`,
/// or the answer that refuses the request.
async fn bearer_integration<S: Store>(
    state: &AppState<S>,
    headers: &HeaderMap,
    kind: IntegrationKind,
) -> Result<Arc<IntegrationRow>, Response> {
    let Some(key) = bearer(headers) else {
        return Err(invalid(vec![
            "send the integration key as 'Authorization: Bearer <key>'".to_owned(),
        ]));
    };
    state.paging().integration(key, kind).await.map_err(|err| refused(&err))
}

/// The integration key a request carries as `Authorization: Bearer <key>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key.trim())
}

async fn alertmanager_webhook<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap, body: Bytes) -> Response {
    let integration = match bearer_integration(&state, &headers, IntegrationKind::Alertmanager).await {
        Ok(integration) => integration,
        Err(refusal) => return refusal,
    };
    let group = match alertmanager::parse(&body) {
        Ok(group) => group,
        Err(problems) => return invalid(problems.problems),
    };
    let signals = Signal::from_alertmanager(&group);
    let processed = json!({"status": "success", "message": "Alerts processed", "alerts": signals.len()});
    store(&state, &integration, signals, cordon_app::now(), processed).await
}

async fn generic_webhook<S: Store>(State(state): State<AppState<S>>, headers: HeaderMap, body: Bytes) -> Response {
    let integration = match bearer_integration(&state, &headers, IntegrationKind::Webhook).await {
        Ok(integration) => integration,
        Err(refusal) => return refusal,
    };
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Every webhook integration gets a secret when it is created; without one, nothing is
    // accepted (an empty key would let anyone sign).
    let Some(secret) = integration.secret.clone().filter(|s| !s.is_empty()).map(Secret::new) else {
        return refused(&IntakeError::BadSignature);
    };
    let now = cordon_app::now();
    if verify_webhook_signature(&secret, signature, &body, now.unix_millis() / 1000, SIGNATURE_TOLERANCE).is_err() {
        return refused(&IntakeError::BadSignature);
    }
    let mapping: Option<Mapping> = integration
        .mapping
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok());
    let Some(mapping) = mapping else {
        return refused(&IntakeError::Unavailable(format!(
            "integration {} has no valid mapping",
            integration.id
        )));
    };
    let signal = match mapping.apply(&body) {
        Ok(signal) => signal,
        Err(problems) => return invalid(problems.problems),
    };
    let processed = json!({"status": "success", "message": "Event processed", "dedup_key": signal.dedup_key});
    store(&state, &integration, vec![signal], now, processed).await
}
