//! The web UI: server-rendered pages for people in a browser, on the same use cases and
//! access rules as the JSON API.
//!
//! Every page works without script: actions are plain HTML forms that carry the session's CSRF
//! token in a hidden `csrf_token` field, checked before the form is read ([`extract::WebForm`]).
//! The sign-in and setup forms, shown before there is a session, bind their token to a
//! random form cookie instead. The pages use no inline script or style, so the strict CSP of
//! the API applies to them unchanged; the only asset is one stylesheet served from the binary.
//!
//! **Architecture invariant:** a page about a security incident answers a non-member exactly
//! as for a missing incident: the same 404 page, byte for byte ([`extract::not_found`]).

mod alerts;
mod evidence;
mod extract;
mod room;
mod view;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use cordon_app::{AppError, DeclareRequest};
use cordon_domain::{Event, GlobalRole, Kind, Role, Scope, Severity, Status, StepId};
use cordon_store::Store;
use serde::Deserialize;

use crate::auth::{ClientAddr, SESSION_COOKIE};
use crate::error::ApiError;
use crate::routes::{self, ListFilter, Policy, Route, Surface};
use crate::state::AppState;
use extract::{PublicForm, WebError, WebForm, WebUser, html, public_csrf};

const STYLESHEET: &str = include_str!("assets/cordon.css");

fn page<S>(
    method: Method,
    path: &'static str,
    policy: Policy,
    summary: &'static str,
    handler: MethodRouter<AppState<S>>,
) -> Route<S> {
    Route {
        surface: Surface::Web,
        ..crate::routes::route(method, path, policy, summary, handler)
    }
}

/// Exempt from the API's body limit, like the API's upload route.
pub const EVIDENCE_UPLOAD_PATH: &str = evidence::UPLOAD_PATH;

/// The web UI's routes, for the one route table.
pub fn routes<S: Store>() -> Vec<Route<S>> {
    use Policy::*;
    vec![
        page(
            Method::POST,
            evidence::UPLOAD_PATH,
            IncidentWrite,
            "Web UI: upload evidence from the incident room (multipart form, streamed to the locker)",
            post(evidence::upload::<S>),
        ),
        page(
            Method::POST,
            "/incidents/{incident}/evidence/{sha256}/share",
            IncidentWrite,
            "Web UI: issue a share link to one item for an outside party (form; the link is shown once)",
            post(evidence::share::<S>),
        ),
        page(
            Method::GET,
            "/",
            Public,
            "Web UI: the start page (the incident list)",
            get(home),
        ),
        page(
            Method::GET,
            "/static/cordon.css",
            Public,
            "Web UI: the stylesheet",
            get(stylesheet),
        ),
        page(
            Method::GET,
            "/sign-in",
            Public,
            "Web UI: the sign-in page",
            get(sign_in_page::<S>),
        ),
        page(
            Method::POST,
            "/sign-in",
            Public,
            "Web UI: sign in (form)",
            post(sign_in::<S>),
        ),
        page(
            Method::GET,
            "/setup",
            Public,
            "Web UI: the first-administrator page (one-time link)",
            get(setup_page::<S>),
        ),
        page(
            Method::POST,
            "/setup",
            Public,
            "Web UI: create the first administrator (form)",
            post(setup::<S>),
        ),
        page(
            Method::POST,
            "/sign-out",
            SignedIn,
            "Web UI: sign out (form)",
            post(sign_out::<S>),
        ),
        page(
            Method::GET,
            "/account/totp",
            SignedIn,
            "Web UI: second-factor (TOTP) enrolment",
            get(totp_page),
        ),
        page(
            Method::POST,
            "/account/totp/enrol",
            SignedIn,
            "Web UI: start TOTP enrolment (form)",
            post(totp_enrol::<S>),
        ),
        page(
            Method::POST,
            "/account/totp/confirm",
            SignedIn,
            "Web UI: confirm TOTP enrolment (form)",
            post(totp_confirm::<S>),
        ),
        page(
            Method::GET,
            "/account/tokens",
            SignedIn,
            "Web UI: your API tokens",
            get(tokens_page::<S>),
        ),
        page(
            Method::POST,
            "/account/tokens",
            SignedIn,
            "Web UI: create an API token (form)",
            post(create_token::<S>),
        ),
        page(
            Method::POST,
            "/account/tokens/{token}/revoke",
            SignedIn,
            "Web UI: revoke an API token (form)",
            post(revoke_token::<S>),
        ),
        page(
            Method::GET,
            "/incidents",
            SignedIn,
            "Web UI: the incidents you may see, with filters",
            get(incident_list::<S>),
        ),
        page(
            Method::GET,
            "/incidents/new",
            Responder,
            "Web UI: the declare page",
            get(declare_page),
        ),
        page(
            Method::POST,
            "/incidents",
            Responder,
            "Web UI: declare an incident (form)",
            post(declare::<S>),
        ),
        page(
            Method::GET,
            "/incidents/{incident}",
            IncidentRead,
            "Web UI: the incident room",
            get(room_page::<S>),
        ),
        page(
            Method::POST,
            "/incidents/{incident}/events",
            IncidentWrite,
            "Web UI: act on an incident (form)",
            post(act::<S>),
        ),
        page(
            Method::GET,
            "/alerts",
            SignedIn,
            "Web UI: the alerts you may see",
            get(alerts::list::<S>),
        ),
        page(
            Method::GET,
            "/oncall",
            SignedIn,
            "Web UI: who is on call now, and which policy pages for which service",
            get(alerts::on_call::<S>),
        ),
        page(
            Method::GET,
            "/alerts/{alert}",
            SignedIn,
            "Web UI: one alert and who it paged when",
            get(alerts::show::<S>),
        ),
        page(
            Method::POST,
            "/alerts/{alert}/status",
            Responder,
            "Web UI: acknowledge or resolve an alert (form)",
            post(alerts::set_status::<S>),
        ),
        page(
            Method::GET,
            "/page/{token}",
            Public,
            "Web UI: the confirmation behind a notification's signed acknowledge or resolve link",
            get(alerts::link_confirm::<S>),
        ),
        page(
            Method::POST,
            "/page/{token}",
            Public,
            "Web UI: acknowledge or resolve through a notification's signed link (form)",
            post(alerts::link_act::<S>),
        ),
        page(
            Method::GET,
            "/break-glass",
            Admin,
            "Web UI: the break-glass page",
            get(break_glass_page),
        ),
        page(
            Method::POST,
            "/break-glass",
            Admin,
            "Web UI: break the glass into an incident (form)",
            post(break_glass::<S>),
        ),
        page(
            Method::GET,
            "/audit",
            Admin,
            "Web UI: audit of journals and checkpoints",
            get(audit_page::<S>),
        ),
        page(
            Method::GET,
            "/admin/users",
            Admin,
            "Web UI: users",
            get(users_page::<S>),
        ),
        page(
            Method::POST,
            "/admin/users",
            Admin,
            "Web UI: create a user (form)",
            post(create_user::<S>),
        ),
    ]
}

/// The answer for an address nothing serves: JSON under the API, the HTML 404 page elsewhere.
pub async fn fallback(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::not_found().into_response()
    } else {
        extract::not_found()
    }
}

async fn home() -> Redirect {
    Redirect::to("/incidents")
}

async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
}

fn ok(markup: maud::Markup) -> Response {
    html(StatusCode::OK, markup)
}

fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// Sign-in page notices come from a fixed list, so the address cannot put words on the page.
#[derive(Deserialize)]
struct SignInQuery {
    notice: Option<String>,
}

fn sign_in_notice(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "signed-out" => Some("You are signed out."),
        "setup-done" => Some("The administrator account exists. Sign in with it."),
        "totp-on" => Some("Your second factor is on. Sign in again with a one-time code."),
        _ => None,
    }
}

async fn sign_in_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Result<Response, WebError> {
    let (token, cookie) = public_csrf(&state, &headers)?;
    let markup = view::sign_in(&token, None, sign_in_notice(query.notice.as_deref()), "");
    Ok(with_cookie(ok(markup), cookie))
}

fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
struct SignInForm {
    name: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

async fn sign_in<S: Store>(
    State(state): State<AppState<S>>,
    ClientAddr(address): ClientAddr,
    PublicForm { form, headers }: PublicForm<SignInForm>,
) -> Result<Response, WebError> {
    match routes::sign_in(&state, &address, &form.name, form.password, form.totp.as_deref()).await {
        Ok(session) => {
            let next = if session.second_factor {
                "/incidents"
            } else {
                "/account/totp"
            };
            let cookie = routes::session_cookie(&state, &session.token);
            Ok(with_cookie(see_other(next), Some(cookie)))
        }
        Err(err) if err.status.is_client_error() => {
            let (token, cookie) = public_csrf(&state, &headers)?;
            let markup = view::sign_in(&token, Some(&err.message), None, &form.name);
            let mut response = with_cookie(html(err.status, markup), cookie);
            if let Some(seconds) = err.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, seconds);
            }
            Ok(response)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
struct SetupQuery {
    #[serde(default)]
    token: String,
}

async fn setup_page<S: Store>(
    State(state): State<AppState<S>>,
    headers: HeaderMap,
    Query(query): Query<SetupQuery>,
) -> Result<Response, WebError> {
    let (csrf, cookie) = public_csrf(&state, &headers)?;
    Ok(with_cookie(ok(view::setup(&csrf, &query.token, None)), cookie))
}

#[derive(Deserialize)]
struct SetupForm {
    token: String,
    name: String,
    password: String,
}

async fn setup<S: Store>(
    State(state): State<AppState<S>>,
    PublicForm { form, headers }: PublicForm<SetupForm>,
) -> Result<Response, WebError> {
    match routes::first_admin(&state, &form.token, &form.name, form.password).await {
        Ok(_) => Ok(see_other("/sign-in?notice=setup-done")),
        Err(err) if err.status.is_client_error() => {
            let (csrf, cookie) = public_csrf(&state, &headers)?;
            let markup = view::setup(&csrf, &form.token, Some(&err.message));
            Ok(with_cookie(html(err.status, markup), cookie))
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
struct Empty {}

async fn sign_out<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, .. }: WebForm<Empty>,
) -> Result<Response, WebError> {
    state.store().delete_session(&user.digest).await?;
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(with_cookie(see_other("/sign-in?notice=signed-out"), Some(expired)))
}

async fn totp_page(user: WebUser) -> Result<Response, WebError> {
    let account = &user.principal.user;
    let pending = account
        .totp_secret
        .as_deref()
        .filter(|_| !account.totp_enabled)
        .map(|secret| {
            let uri = cordon_auth::totp::provisioning_uri(secret, account.name.as_str(), "Cordon");
            (secret.to_owned(), uri)
        });
    let pending_refs = pending.as_ref().map(|(s, u)| (s.as_str(), u.as_str()));
    Ok(ok(view::totp(&user, None, pending_refs)))
}

/// The otpauth URI as an inline SVG QR code (no script, no image request), for phones to scan.
pub(crate) fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(220, 220)
        .build();
    // Drop the XML declaration: the SVG goes inside an HTML page.
    svg.find("<svg").map(|start| svg[start..].to_owned())
}

async fn totp_enrol<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, .. }: WebForm<Empty>,
) -> Result<Response, WebError> {
    routes::start_totp(&state, &user.principal.user).await?;
    Ok(see_other("/account/totp"))
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn totp_confirm<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, form }: WebForm<CodeForm>,
) -> Result<Response, WebError> {
    match routes::confirm_totp(&state, &user.principal.user, &form.code).await {
        Ok(()) => Ok(see_other("/sign-in?notice=totp-on")),
        Err(err) if err.status == StatusCode::UNPROCESSABLE_ENTITY => {
            let account = &user.principal.user;
            let secret = account.totp_secret.clone().unwrap_or_default();
            let uri = cordon_auth::totp::provisioning_uri(&secret, account.name.as_str(), "Cordon");
            Err(WebError::Page(
                err.status,
                view::totp(&user, Some(&err.message), Some((&secret, &uri))),
            ))
        }
        Err(err) => Err(err.into()),
    }
}

async fn tokens_page<S: Store>(State(state): State<AppState<S>>, user: WebUser) -> Result<Response, WebError> {
    user.require_read()?;
    let tokens = state.store().tokens_of(user.name()).await?;
    Ok(ok(view::tokens(&user, &tokens, None, None)))
}

#[derive(Deserialize)]
struct TokenForm {
    label: String,
    scope: Scope,
    #[serde(default)]
    expires_in_days: String,
}

async fn create_token<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, form }: WebForm<TokenForm>,
) -> Result<Response, WebError> {
    user.require_read()?;
    let days = match form.expires_in_days.trim() {
        "" => None,
        text => Some(text.parse::<u32>().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "expiry must be a whole number of days",
            )
        })?),
    };
    let result = routes::mint_token(&state, &user.principal, &form.label, form.scope, days).await;
    let tokens = state.store().tokens_of(user.name()).await?;
    match result {
        Ok((record, secret)) => Ok(html(
            StatusCode::CREATED,
            view::tokens(&user, &tokens, Some((&record, secret.expose())), None),
        )),
        Err(err) if err.status.is_client_error() => Err(WebError::Page(
            err.status,
            view::tokens(&user, &tokens, None, Some(&err.message)),
        )),
        Err(err) => Err(err.into()),
    }
}

async fn revoke_token<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    WebForm { user, .. }: WebForm<Empty>,
) -> Result<Response, WebError> {
    user.require_read()?;
    if !state.store().revoke_token(user.name(), &id).await? {
        return Err(ApiError::not_found().into());
    }
    Ok(see_other("/account/tokens"))
}

/// List filters as a form sends them: an empty select means "any".
#[derive(Deserialize)]
struct ListForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    mine: String,
}

fn optional<T: std::str::FromStr>(text: &str) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    match text.trim() {
        "" => Ok(None),
        text => text
            .parse()
            .map(Some)
            .map_err(|err: T::Err| ApiError::bad_request(err.to_string())),
    }
}

async fn incident_list<S: Store>(
    State(state): State<AppState<S>>,
    user: WebUser,
    query: Result<Query<ListForm>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, WebError> {
    user.require_read()?;
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let filter = ListFilter {
        kind: optional::<Kind>(&query.kind)?,
        severity: optional::<Severity>(&query.severity)?,
        status: optional::<Status>(&query.status)?,
        mine: matches!(query.mine.as_str(), "true" | "on"),
    };
    let rows = routes::visible_incidents(&state, user.principal.person(), filter).await?;
    Ok(ok(view::incident_list(&user, &rows, filter)))
}

async fn declare_page(user: WebUser) -> Result<Response, WebError> {
    user.require_write()?;
    Ok(ok(view::declare(&user, None)))
}

#[derive(Deserialize)]
struct DeclareForm {
    kind: Kind,
    severity: Severity,
    title: String,
}

async fn declare<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, form }: WebForm<DeclareForm>,
) -> Result<Response, WebError> {
    user.require_write()?;
    let request = DeclareRequest {
        kind: form.kind,
        title: form.title,
        severity: form.severity,
        playbook: None,
    };
    match state
        .service()
        .declare(user.principal.person(), request, cordon_app::now())
        .await
    {
        Ok(incident) => Ok(see_other(&format!("/incidents/{}", incident.id.as_str()))),
        Err(AppError::EmptyTitle) => Err(WebError::Page(
            StatusCode::UNPROCESSABLE_ENTITY,
            view::declare(&user, Some("Give the incident a title.")),
        )),
        Err(err) => Err(err.into()),
    }
}

async fn room_page<S: Store>(
    State(state): State<AppState<S>>,
    Path(reference): Path<String>,
    user: WebUser,
) -> Result<Response, WebError> {
    // Need-to-know before anything else: a non-member gets the 404 page whoever they are.
    state.service().resolve(user.principal.person(), &reference).await?;
    user.require_read()?;
    Ok(ok(render_room(&state, &user, &reference, None).await?))
}

async fn render_room<S: Store>(
    state: &AppState<S>,
    user: &WebUser,
    reference: &str,
    refusal: Option<&str>,
) -> Result<maud::Markup, WebError> {
    render_room_with(state, user, reference, refusal, None).await
}

/// The room, with a share link just issued shown once at the top of the evidence section.
pub(crate) async fn render_room_with<S: Store>(
    state: &AppState<S>,
    user: &WebUser,
    reference: &str,
    refusal: Option<&str>,
    issued_share: Option<&room::IssuedLink>,
) -> Result<maud::Markup, WebError> {
    let person = user.principal.person();
    let incident = state.service().show(person, reference).await?;
    let (journal, chain_break) = state.service().journal(person, incident.id.as_str()).await?;
    let alerts = state.paging().incident_paging(person, incident.id.as_str()).await?;
    Ok(room::page(&room::Room {
        user,
        incident: &incident,
        alerts: &alerts,
        journal: &journal,
        chain_break: chain_break.as_ref(),
        refusal,
        issued_share,
        now: cordon_app::now(),
    }))
}

/// One flat form for every event: the hidden `type` says which, the other fields are the
/// event's. Everything arrives as text and is parsed here, with a clear message when wrong.
#[derive(Deserialize)]
struct EventForm {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    step: String,
    #[serde(default)]
    gate: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    /// "person role", from the revoke-role list.
    #[serde(default)]
    holding: String,
    /// An evidence item's SHA-256, for retention and legal holds.
    #[serde(default)]
    sha256: String,
    /// A retention period's end: a date (YYYY-MM-DD, from a date field) or RFC 3339.
    #[serde(default)]
    until: String,
}

impl EventForm {
    fn into_event(self) -> Result<Event, ApiError> {
        let invalid = |message: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
        let step = || {
            self.step
                .trim()
                .parse::<u32>()
                .map(StepId)
                .map_err(|_| invalid("the form names no step".into()))
        };
        let person = || routes::parse_person(self.person.trim());
        let reason = self.reason.trim().to_owned();
        let note = self.note.trim().to_owned();
        let parse_err = |err: cordon_domain::ParseError| invalid(err.to_string());
        Ok(match self.event_type.as_str() {
            "step_started" => Event::StepStarted { step: step()? },
            "step_completed" => Event::StepCompleted { step: step()?, note },
            "step_skipped" => Event::StepSkipped { step: step()?, reason },
            "step_not_applicable" => Event::StepNotApplicable { step: step()?, reason },
            "step_validated" => Event::StepValidated { step: step()?, note },
            "step_reopened" => Event::StepReopened { step: step()?, reason },
            "gate_overridden" => Event::GateOverridden {
                step: step()?,
                gate: self.gate.trim().to_owned(),
                reason,
            },
            "decision_recorded" => Event::DecisionRecorded {
                decision: self.decision.trim().to_owned(),
                reason,
            },
            "role_assigned" => Event::RoleAssigned {
                person: person()?,
                role: self.role.parse::<Role>().map_err(parse_err)?,
            },
            "role_revoked" => {
                let (who, role) = match self.holding.trim().split_once(' ') {
                    Some((who, role)) => (routes::parse_person(who)?, role),
                    None => (person()?, self.role.as_str()),
                };
                Event::RoleRevoked {
                    person: who,
                    role: role.parse::<Role>().map_err(parse_err)?,
                }
            }
            "member_added" => Event::MemberAdded { person: person()? },
            "member_removed" => Event::MemberRemoved {
                person: person()?,
                reason,
            },
            "member_excluded" => Event::MemberExcluded {
                person: person()?,
                reason,
            },
            "member_reinstated" => Event::MemberReinstated {
                person: person()?,
                reason,
            },
            "status_changed" => Event::StatusChanged {
                status: self.status.parse::<Status>().map_err(parse_err)?,
                reason,
            },
            "severity_changed" => Event::SeverityChanged {
                severity: self.severity.parse::<Severity>().map_err(parse_err)?,
                reason,
            },
            "evidence_retention_set" => Event::EvidenceRetentionSet {
                sha256: self.sha256.trim().to_owned(),
                until: cordon_domain::Timestamp::parse_date_or_rfc3339(&self.until)
                    .map_err(|err| invalid(err.to_string()))?,
                reason,
            },
            "evidence_legal_hold_placed" => Event::EvidenceLegalHoldPlaced {
                sha256: self.sha256.trim().to_owned(),
                reason,
            },
            "evidence_legal_hold_released" => Event::EvidenceLegalHoldReleased {
                sha256: self.sha256.trim().to_owned(),
                reason,
            },
            other => return Err(invalid(format!("unknown action {other:?}"))),
        })
    }
}

/// Where to land after an action: next to what changed.
fn anchor(event: &Event) -> String {
    match event {
        Event::StepStarted { step }
        | Event::StepCompleted { step, .. }
        | Event::StepSkipped { step, .. }
        | Event::StepNotApplicable { step, .. }
        | Event::StepValidated { step, .. }
        | Event::StepReopened { step, .. }
        | Event::GateOverridden { step, .. } => format!("step-{}", step.0),
        Event::RoleAssigned { .. }
        | Event::RoleRevoked { .. }
        | Event::MemberAdded { .. }
        | Event::MemberRemoved { .. }
        | Event::MemberExcluded { .. }
        | Event::MemberReinstated { .. } => "people".into(),
        Event::EvidenceRetentionSet { .. }
        | Event::EvidenceLegalHoldPlaced { .. }
        | Event::EvidenceLegalHoldReleased { .. } => "evidence".into(),
        _ => "decisions".into(),
    }
}

async fn act<S: Store>(
    State(state): State<AppState<S>>,
    Path(reference): Path<String>,
    WebForm { user, form }: WebForm<EventForm>,
) -> Result<Response, WebError> {
    // Need-to-know first: a non-member learns nothing, not even that they may not write.
    let row = state.service().resolve(user.principal.person(), &reference).await?;
    user.require_write()?;
    let event = form.into_event()?;
    let target = anchor(&event);
    match state
        .service()
        .act(user.principal.person(), row.id.as_str(), event, cordon_app::now())
        .await
    {
        Ok(incident) => Ok(see_other(&format!("/incidents/{}#{target}", incident.id.as_str()))),
        Err(AppError::Refused(refusal)) => {
            let message = refusal.to_string();
            let status = ApiError::from(AppError::Refused(refusal)).status;
            let markup = render_room(&state, &user, row.id.as_str(), Some(&message)).await?;
            Err(WebError::Page(status, markup))
        }
        Err(err) => Err(err.into()),
    }
}

async fn break_glass_page(user: WebUser) -> Result<Response, WebError> {
    user.require_admin()?;
    Ok(ok(view::break_glass(&user, None)))
}

#[derive(Deserialize)]
struct BreakGlassForm {
    incident: String,
    reason: String,
}

async fn break_glass<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, form }: WebForm<BreakGlassForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let result = state
        .service()
        .break_glass(user.principal.person(), &form.incident, &form.reason, cordon_app::now())
        .await;
    match result {
        Ok(incident) => {
            tracing::warn!(incident = %incident.id, by = %user.name(), "break-glass access");
            Ok(see_other(&format!("/incidents/{}", incident.id.as_str())))
        }
        Err(err @ (AppError::NotFound { .. } | AppError::Ambiguous { .. } | AppError::Refused(_))) => {
            let err = ApiError::from(err);
            Err(WebError::Page(err.status, view::break_glass(&user, Some(&err.message))))
        }
        Err(err) => Err(err.into()),
    }
}

async fn audit_page<S: Store>(State(state): State<AppState<S>>, user: WebUser) -> Result<Response, WebError> {
    user.require_admin()?;
    let view = routes::audit_view(&state, &user.principal).await?;
    Ok(ok(view::audit(&user, &view)))
}

async fn users_page<S: Store>(State(state): State<AppState<S>>, user: WebUser) -> Result<Response, WebError> {
    user.require_admin()?;
    let users = state.store().users().await?;
    Ok(ok(view::users(&user, &users, None, None)))
}

#[derive(Deserialize)]
struct UserForm {
    name: String,
    role: GlobalRole,
    password: String,
    #[serde(default)]
    totp_required: Option<String>,
}

async fn create_user<S: Store>(
    State(state): State<AppState<S>>,
    WebForm { user, form }: WebForm<UserForm>,
) -> Result<Response, WebError> {
    user.require_admin()?;
    let result = routes::create_account(
        &state,
        &user.principal,
        &form.name,
        form.role,
        form.password,
        form.totp_required.is_some(),
    )
    .await;
    let users = state.store().users().await?;
    match result {
        Ok(created) => Ok(html(
            StatusCode::CREATED,
            view::users(&user, &users, None, Some(created.name.as_str())),
        )),
        Err(err) if err.status.is_client_error() => Err(WebError::Page(
            err.status,
            view::users(&user, &users, Some(&err.message), None),
        )),
        Err(err) => Err(err.into()),
    }
}
