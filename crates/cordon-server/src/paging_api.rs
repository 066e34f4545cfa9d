//! On-call over HTTP: services and their integrations, escalation policies, schedules, who is
//! on call, contact methods, and alerts with the pages they caused.
//!
//! Administrators define services, integrations, policies and schedules; everyone signed in
//! may read them and ask who is on call. People manage their own contact methods. Alerts apply
//! need-to-know: an alert of a security incident exists only for that incident's members.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use cordon_app::paging::{AlertView, IntegrationKind, PagingError, ServiceSpec};
use cordon_domain::{Person, Timestamp};
use cordon_intake::Mapping;
use cordon_oncall::Schedule;
use cordon_oncall::escalation::EscalationPolicy;
use cordon_store::{AlertRow, ContactRow, IntegrationRow, NotificationRow, Store};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::{Body, Policy, Route, parse_person, route};
use crate::state::AppState;

pub fn routes<S: Store>() -> Vec<Route<S>> {
    use Policy::*;
    vec![
        route(
            Method::GET,
            "/api/v1/services",
            SignedIn,
            "List services and their routing",
            get(list_services::<S>),
        ),
        route(
            Method::PUT,
            "/api/v1/services/{service}",
            Admin,
            "Create or replace a service: escalation policy, security-sensitive flag, routing rules",
            put(put_service::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/services/{service}/integrations",
            Admin,
            "Add an integration (pagerduty, alertmanager, webhook); its key is shown only in this response",
            post(add_integration::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/integrations",
            Admin,
            "List integrations (never their keys)",
            get(list_integrations::<S>),
        ),
        route(
            Method::DELETE,
            "/api/v1/integrations/{integration}",
            Admin,
            "Remove an integration; its key stops working",
            delete(remove_integration::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/escalation-policies",
            SignedIn,
            "List escalation policies",
            get(list_policies::<S>),
        ),
        route(
            Method::PUT,
            "/api/v1/escalation-policies/{policy}",
            Admin,
            "Create or replace an escalation policy: levels of targets, timeouts, repeats",
            put(put_policy::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/schedules",
            SignedIn,
            "List on-call schedules",
            get(list_schedules::<S>),
        ),
        route(
            Method::PUT,
            "/api/v1/schedules/{schedule}",
            Admin,
            "Create or replace a schedule: rotation layers, hand-off times, time zone, overrides",
            put(put_schedule::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/schedules/{schedule}/on-call",
            SignedIn,
            "Who is on call now, or at ?at=<RFC 3339 time>",
            get(on_call::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/contacts",
            SignedIn,
            "Your contact methods (administrators: ?person=, or everyone's)",
            get(list_contacts::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/contacts",
            SignedIn,
            "Add a contact method: email, signed webhook or Slack webhook (administrators may add for others)",
            post(add_contact::<S>),
        ),
        route(
            Method::DELETE,
            "/api/v1/contacts/{contact}",
            SignedIn,
            "Remove one of your contact methods",
            delete(remove_contact::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/alerts",
            SignedIn,
            "Alerts you may see, most recent first (?open=true for unresolved only)",
            get(list_alerts::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/alerts/{alert}",
            SignedIn,
            "An alert and who it paged when",
            get(show_alert::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/alerts/{alert}/acknowledge",
            Responder,
            "Acknowledge an alert: its escalation stops",
            post(acknowledge::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/alerts/{alert}/resolve",
            Responder,
            "Resolve an alert",
            post(resolve::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/incidents/{incident}/alerts",
            IncidentRead,
            "The alerts that opened or joined an incident, and who was paged when",
            get(incident_alerts::<S>),
        ),
    ]
}

impl From<PagingError> for ApiError {
    fn from(err: PagingError) -> ApiError {
        match err {
            PagingError::Invalid(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", err.to_string()),
            PagingError::Unknown { what: "alert", .. }
            | PagingError::Unknown {
                what: "contact method", ..
            } => ApiError::not_found(),
            PagingError::Unknown { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown", err.to_string()),
            PagingError::Store(err) => err.into(),
            PagingError::Stored(_) | PagingError::Random(_) => ApiError::internal(&err),
        }
    }
}

pub(crate) fn service_json(spec: &ServiceSpec) -> Value {
    json!({
        "name": spec.name,
        "description": spec.description,
        "escalation_policy": spec.escalation_policy,
        "security": spec.security,
        "default_outcome": spec.default_outcome,
        "rules": spec.rules,
    })
}

fn integration_json(row: &IntegrationRow) -> Value {
    json!({
        "id": row.id,
        "service": row.service,
        "kind": row.kind,
        "rate_per_minute": row.rate_per_minute,
        "burst": row.burst,
        "mapping": row.mapping.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()),
        "created_at": row.created_at.to_rfc3339(),
    })
}

/// A contact method without its secret parts: the kind, and the address for email.
fn contact_json(row: &ContactRow) -> Value {
    let channel: Value = serde_json::from_str(&row.channel).unwrap_or(Value::Null);
    let kind = channel.get("kind").cloned().unwrap_or(Value::Null);
    let address = channel.get("address").cloned();
    json!({"id": row.id, "person": row.person, "kind": kind, "address": address, "created_at": row.created_at.to_rfc3339()})
}

pub(crate) fn alert_json(row: &AlertRow) -> Value {
    let time = |at: Option<Timestamp>| at.map(Timestamp::to_rfc3339);
    json!({
        "id": row.id,
        "service": row.service,
        "dedup_key": row.dedup_key,
        "status": row.status,
        "outcome": row.outcome,
        "severity": row.severity,
        "summary": row.summary,
        "source": row.source,
        "details": serde_json::from_str::<Value>(&row.details).unwrap_or(Value::Null),
        "group": row.group_key,
        "incident": row.incident_id,
        "events": row.event_count,
        "received_at": row.received_at.to_rfc3339(),
        "created_at": row.created_at.to_rfc3339(),
        "acknowledged_by": row.acknowledged_by,
        "acknowledged_at": time(row.acknowledged_at),
        "resolved_by": row.resolved_by,
        "resolved_at": time(row.resolved_at),
    })
}

pub(crate) fn page_json(row: &NotificationRow) -> Value {
    json!({
        "person": row.new.person,
        "level": row.new.level + 1,
        "round": row.new.round + 1,
        "status": row.status,
        "attempts": row.attempts,
        "created_at": row.created_at.to_rfc3339(),
        "sent_at": row.sent_at.map(Timestamp::to_rfc3339),
        "error": row.last_error,
    })
}

fn view_json(view: &AlertView) -> Value {
    let mut body = alert_json(&view.alert);
    body["pages"] = view.pages.iter().map(page_json).collect();
    body
}

async fn list_services<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let services = state.paging().services().await?;
    Ok(Json(
        json!({"items": services.iter().map(|s| service_json(&s.spec)).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRequest {
    #[serde(default)]
    description: String,
    #[serde(default)]
    escalation_policy: Option<String>,
    #[serde(default)]
    security: bool,
    #[serde(default)]
    default_outcome: Option<cordon_intake::Outcome>,
    #[serde(default)]
    rules: Vec<cordon_intake::Rule>,
}

async fn put_service<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(name): Path<String>,
    Body(request): Body<ServiceRequest>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let spec = ServiceSpec {
        name,
        description: request.description,
        escalation_policy: request.escalation_policy,
        security: request.security,
        default_outcome: request.default_outcome,
        rules: request.rules,
    };
    let service = state.paging().put_service(spec, cordon_app::now()).await?;
    Ok(Json(service_json(&service.spec)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntegrationRequest {
    kind: String,
    #[serde(default)]
    mapping: Option<Mapping>,
    #[serde(default)]
    rate_per_minute: Option<u32>,
}

async fn add_integration<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(service): Path<String>,
    Body(request): Body<IntegrationRequest>,
) -> Result<Response, ApiError> {
    principal.require_admin()?;
    let kind = IntegrationKind::parse(&request.kind).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("kind {:?} is not pagerduty, alertmanager or webhook", request.kind),
        )
    })?;
    let new = state
        .paging()
        .add_integration(
            &service,
            kind,
            request.mapping,
            request.rate_per_minute,
            cordon_app::now(),
        )
        .await?;
    let base = state.config().public_url.clone();
    let mut body = integration_json(&new.row);
    body["key"] = json!(new.key.expose());
    body["secret"] = json!(new.secret.as_ref().map(|s| s.expose().to_owned()));
    body["url"] = json!(match kind {
        IntegrationKind::PagerDuty => format!("{base}/v2/enqueue"),
        IntegrationKind::Alertmanager => format!("{base}/api/v1/intake/alertmanager"),
        IntegrationKind::Webhook => format!("{base}/api/v1/intake/webhook"),
    });
    tracing::info!(integration = %new.row.id, service = %service, kind = kind.as_str(), by = %principal.person(), "integration added");
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn list_integrations<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let rows = state.paging().integrations().await?;
    Ok(Json(
        json!({"items": rows.iter().map(integration_json).collect::<Vec<_>>()}),
    ))
}

async fn remove_integration<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_admin()?;
    match state.paging().remove_integration(&id).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(PagingError::Unknown { .. }) => Err(ApiError::not_found()),
        Err(err) => Err(err.into()),
    }
}

async fn list_policies<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let policies = state.paging().policies().await?;
    Ok(Json(json!({"items": policies})))
}

/// A definition whose name is in the path; a name in the body must agree with it.
fn named<T>(path: String, body: Value, set_name: impl FnOnce(&mut T, String), what: &str) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned,
{
    let mut body = body;
    if let Some(object) = body.as_object_mut() {
        match object.get("name").and_then(Value::as_str) {
            Some(name) if name != path => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("the {what} in the body is {name:?} but the path names {path:?}"),
                ));
            }
            _ => {
                object.insert("name".to_owned(), Value::String(path.clone()));
            }
        }
    }
    let mut value: T = serde_json::from_value(body)
        .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("{what}: {err}")))?;
    set_name(&mut value, path);
    Ok(value)
}

async fn put_policy<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(name): Path<String>,
    Body(body): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let policy: EscalationPolicy = named(
        name,
        body,
        |p: &mut EscalationPolicy, n| p.name = n,
        "escalation policy",
    )?;
    state.paging().put_policy(policy.clone(), cordon_app::now()).await?;
    Ok(Json(json!(policy)))
}

async fn list_schedules<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let schedules = state.paging().schedules().await?;
    Ok(Json(json!({"items": schedules})))
}

async fn put_schedule<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(name): Path<String>,
    Body(body): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let schedule: Schedule = named(name, body, |s: &mut Schedule, n| s.name = n, "schedule")?;
    state.paging().put_schedule(schedule.clone(), cordon_app::now()).await?;
    Ok(Json(json!(schedule)))
}

#[derive(Deserialize)]
struct AtQuery {
    at: Option<String>,
}

async fn on_call<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(schedule): Path<String>,
    Query(query): Query<AtQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let at = match query.at.as_deref() {
        Some(text) => Timestamp::parse_rfc3339(text).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("at={text:?} is not an RFC 3339 time such as 2026-03-29T01:30:00Z"),
            )
        })?,
        None => cordon_app::now(),
    };
    match state.paging().on_call(&schedule, at).await {
        Ok(shift) => Ok(Json(json!({
            "schedule": schedule,
            "at": at.to_rfc3339(),
            "person": shift.as_ref().map(|s| s.person.as_str().to_owned()),
            "shift_start": shift.as_ref().map(|s| s.start.to_rfc3339()),
            "shift_end": shift.as_ref().map(|s| s.end.to_rfc3339()),
            "layer": shift.as_ref().and_then(|s| s.layer.clone()),
        }))),
        Err(PagingError::Unknown { .. }) => Err(ApiError::not_found()),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
struct PersonQuery {
    person: Option<String>,
}

/// Whose contact methods a request is about: the caller's own, or (administrators) anyone's.
fn contact_owner(principal: &Principal, wanted: Option<&str>) -> Result<Option<Person>, ApiError> {
    let admin = principal.require_admin().is_ok();
    match wanted {
        Some(name) if admin => Ok(Some(parse_person(name)?)),
        None if admin => Ok(None),
        Some(name) if name != principal.person().as_str() => Err(ApiError::forbidden(
            "only administrators manage other people's contact methods",
        )),
        _ => Ok(Some(principal.person().clone())),
    }
}

async fn list_contacts<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Query(query): Query<PersonQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let owner = contact_owner(&principal, query.person.as_deref())?;
    let rows = state.paging().contacts(owner.as_ref()).await?;
    Ok(Json(
        json!({"items": rows.iter().map(contact_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactRequest {
    #[serde(default)]
    person: Option<String>,
    channel: cordon_notify::Channel,
}

async fn add_contact<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Body(request): Body<ContactRequest>,
) -> Result<Response, ApiError> {
    principal.require_read()?;
    let owner = contact_owner(
        &principal,
        Some(request.person.as_deref().unwrap_or(principal.person().as_str())),
    )?
    .unwrap_or_else(|| principal.person().clone());
    request
        .channel
        .validate()
        .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", err.to_string()))?;
    let row = state
        .paging()
        .add_contact(&owner, request.channel, cordon_app::now())
        .await?;
    Ok((StatusCode::CREATED, Json(contact_json(&row))).into_response())
}

async fn remove_contact<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_read()?;
    let owner = match principal.require_admin() {
        Ok(()) => None,
        Err(_) => Some(principal.person().clone()),
    };
    state.paging().remove_contact(&id, owner.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct AlertsQuery {
    #[serde(default)]
    open: bool,
    limit: Option<u32>,
}

async fn list_alerts<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Query(query): Query<AlertsQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1_000);
    let alerts = state
        .paging()
        .visible_alerts(principal.person(), query.open, limit)
        .await?;
    Ok(Json(
        json!({"items": alerts.iter().map(alert_json).collect::<Vec<_>>()}),
    ))
}

async fn show_alert<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let view = state.paging().alert_view(principal.person(), &id).await?;
    Ok(Json(view_json(&view)))
}

async fn change_alert<S: Store>(
    state: &AppState<S>,
    principal: &Principal,
    id: &str,
    status: &str,
) -> Result<Json<Value>, ApiError> {
    // Need-to-know first: a hidden alert is not found, whoever asks.
    state.paging().visible_alert(principal.person(), id).await?;
    principal.require_write()?;
    let alert = state
        .paging()
        .set_alert_status(principal.person(), id, status, cordon_app::now())
        .await
        .map_err(|err| match err {
            PagingError::Invalid(message) => ApiError::new(StatusCode::CONFLICT, "unchanged", message),
            other => other.into(),
        })?;
    Ok(Json(alert_json(&alert)))
}

async fn acknowledge<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    change_alert(&state, &principal, &id, "acknowledged").await
}

async fn resolve<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    change_alert(&state, &principal, &id, "resolved").await
}

async fn incident_alerts<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let views = state.paging().incident_paging(principal.person(), &reference).await?;
    Ok(Json(json!({"items": views.iter().map(view_json).collect::<Vec<_>>()})))
}
