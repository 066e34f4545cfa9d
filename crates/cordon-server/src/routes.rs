//! The route table: every route with its access policy, summary and handler. The router, the
//! OpenAPI document and the access-control matrix test are all built from this one table, so a
//! route cannot exist without a policy and cannot be missing from the documentation.

use std::collections::{BTreeMap, HashSet};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use cordon_app::DeclareRequest;
use cordon_auth::secret::{self, Secret, TokenKind};
use cordon_domain::{Event, GlobalRole, Kind, Person, Playbook, Scope, Severity, Status, Timestamp};
use cordon_store::{ApiToken, Session, Store, User, UserUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{ClientAddr, Principal, SESSION_COOKIE, Via};
use crate::dto;
use crate::error::ApiError;
use crate::state::AppState;

/// Who may call a route. The matrix test derives each caller's expected status from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in caller (a pending second factor is enough for the TOTP routes).
    SignedIn,
    /// Signed-in callers who may change things: responders and admins, write-scoped tokens.
    Responder,
    /// Callers who may see the named incident (need-to-know).
    IncidentRead,
    /// Callers who may see the named incident and change things; the domain decides the rest.
    IncidentWrite,
    /// Administrators (admin-scoped tokens).
    Admin,
    /// Administrators who are not excluded from the named incident.
    BreakGlass,
}

/// Who a route answers: programs (JSON, errors as JSON, 401 when not signed in) or people in
/// a browser (HTML pages, forms with a CSRF field, a redirect to the sign-in page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Api,
    Web,
}

pub struct Route<S> {
    pub method: Method,
    pub path: &'static str,
    pub policy: Policy,
    pub surface: Surface,
    pub summary: &'static str,
    pub handler: MethodRouter<AppState<S>>,
}

pub(crate) fn route<S>(
    method: Method,
    path: &'static str,
    policy: Policy,
    summary: &'static str,
    handler: MethodRouter<AppState<S>>,
) -> Route<S> {
    Route {
        method,
        path,
        policy,
        surface: Surface::Api,
        summary,
        handler,
    }
}

/// Every route Cordon serves, in the order they are documented: the JSON API, then the web UI.
pub fn table<S: Store>() -> Vec<Route<S>> {
    let mut routes = api_table();
    routes.extend(crate::evidence_api::routes());
    routes.extend(crate::intake_api::routes());
    routes.extend(crate::paging_api::routes());
    routes.extend(crate::web::routes());
    routes
}

fn api_table<S: Store>() -> Vec<Route<S>> {
    use Policy::*;
    vec![
        route(
            Method::GET,
            "/healthz",
            Public,
            "Liveness: the process is up",
            get(healthz),
        ),
        route(
            Method::GET,
            "/readyz",
            Public,
            "Readiness: the database answers",
            get(readyz::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/openapi.json",
            Public,
            "This API's OpenAPI 3.1 document",
            get(openapi::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/setup",
            Public,
            "Create the first administrator with the one-time setup token",
            post(setup::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/session",
            Public,
            "Sign in; sets the session cookie and returns the CSRF token",
            post(login::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/session",
            SignedIn,
            "Who am I, with the CSRF token for this session",
            get(whoami::<S>),
        ),
        route(
            Method::DELETE,
            "/api/v1/session",
            SignedIn,
            "Sign out",
            delete(logout::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/totp/enrol",
            SignedIn,
            "Start TOTP enrolment; returns the secret and otpauth URI",
            post(totp_enrol::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/totp/confirm",
            SignedIn,
            "Confirm TOTP enrolment with a code",
            post(totp_confirm::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/tokens",
            SignedIn,
            "List your API tokens",
            get(list_tokens::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/tokens",
            SignedIn,
            "Create an API token; the token is shown only in this response",
            post(create_token::<S>),
        ),
        route(
            Method::DELETE,
            "/api/v1/tokens/{token}",
            SignedIn,
            "Revoke one of your API tokens",
            delete(revoke_token::<S>),
        ),
        route(Method::GET, "/api/v1/users", Admin, "List users", get(list_users::<S>)),
        route(
            Method::POST,
            "/api/v1/users",
            Admin,
            "Create a user",
            post(create_user::<S>),
        ),
        route(
            Method::PATCH,
            "/api/v1/users/{user}",
            Admin,
            "Change a user's role, password, second-factor requirement or disable them",
            patch(update_user::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/incidents",
            SignedIn,
            "List the incidents you may see (filters, pagination)",
            get(list_incidents::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents",
            Responder,
            "Declare an incident",
            post(declare::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/incidents/{incident}",
            IncidentRead,
            "An incident with its step board",
            get(show_incident::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/incidents/{incident}/journal",
            IncidentRead,
            "An incident's journal and hash-chain state",
            get(incident_journal::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/events",
            IncidentWrite,
            "Propose a change (step, gate override, decision, role, member, status, severity)",
            post(post_event::<S>),
        ),
        route(
            Method::POST,
            "/api/v1/incidents/{incident}/break-glass",
            BreakGlass,
            "Administrator access to an incident, with a reason; journaled and shown to members",
            post(break_glass::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/audit",
            Admin,
            "Verify the journals you may see and the checkpoint chain",
            get(audit::<S>),
        ),
        route(
            Method::GET,
            "/api/v1/audit/public-key",
            Public,
            "The ed25519 key that verifies checkpoints",
            get(public_key::<S>),
        ),
    ]
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz<S: Store>(State(state): State<AppState<S>>) -> Response {
    match state.store().count_users().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

async fn openapi<S: Store>(State(state): State<AppState<S>>) -> Json<Value> {
    Json(crate::openapi::document(&table::<S>(), &state.config().public_url))
}

/// A JSON body, with a clear 400 for bad JSON instead of axum's plain-text rejection.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupRequest {
    token: String,
    name: String,
    password: String,
}

async fn setup<S: Store>(
    State(state): State<AppState<S>>,
    Body(request): Body<SetupRequest>,
) -> Result<Response, ApiError> {
    let user = first_admin(&state, &request.token, &request.name, request.password).await?;
    Ok((StatusCode::CREATED, Json(dto::user(&user))).into_response())
}

/// Creates the first administrator with the one-time setup token (JSON and HTML setup).
pub(crate) async fn first_admin<S: Store>(
    state: &AppState<S>,
    token: &str,
    name: &str,
    password: String,
) -> Result<User, ApiError> {
    let person = account_name(name)?;
    let password_hash = hash_password(password).await?;
    if !state.take_setup(&secret::digest(token)) {
        return Err(ApiError::forbidden(
            "the setup token is not valid (it works once, and only while there are no users)",
        ));
    }
    let user = new_user(person, GlobalRole::Admin, password_hash);
    if !state.store().create_first_user(&user).await? {
        return Err(ApiError::forbidden("setup is already done"));
    }
    tracing::info!(user = %user.name, "first administrator created");
    Ok(user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    name: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

async fn login<S: Store>(
    State(state): State<AppState<S>>,
    ClientAddr(address): ClientAddr,
    Body(request): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    let session = sign_in(
        &state,
        &address,
        &request.name,
        request.password,
        request.totp.as_deref(),
    )
    .await?;
    let body = json!({
        "user": dto::user(&session.user),
        "csrf_token": cordon_auth::csrf::token(state.csrf_key(), &session.digest),
        "second_factor_pending": !session.second_factor,
    });
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&session_cookie(&state, &session.token)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// A browser session just created by [`sign_in`].
pub(crate) struct NewSession {
    pub user: User,
    pub token: Secret,
    pub digest: String,
    pub second_factor: bool,
}

/// Checks name, password and one-time code under the login throttle and opens a session.
/// The JSON and the HTML sign-in share it, so both have the same throttling and answers.
pub(crate) async fn sign_in<S: Store>(
    state: &AppState<S>,
    address: &str,
    name: &str,
    password: String,
    totp: Option<&str>,
) -> Result<NewSession, ApiError> {
    let now = cordon_app::now();
    let now_seconds = now.unix_millis() / 1000;
    let account_key = format!("user:{}", name.to_lowercase());
    let address_key = format!("addr:{address}");
    let keys = [account_key.as_str(), address_key.as_str()];
    if let Some(Err(wait)) = state.with_throttle(|t| t.check(&keys, now_seconds)) {
        return Err(ApiError::throttled(wait));
    }
    let user = state.store().user(name).await?;
    // Verify against a decoy when the account does not exist, so that timing does not reveal
    // which names exist.
    let stored_hash = user
        .as_ref()
        .map_or_else(cordon_auth::password::decoy, |u| u.password_hash.clone());
    let password_ok = tokio::task::spawn_blocking(move || cordon_auth::password::verify(&stored_hash, &password))
        .await
        .unwrap_or(false);
    let user = match user {
        Some(user) if password_ok && !user.disabled => user,
        _ => {
            state.with_throttle(|t| t.record_failure(&keys, now_seconds));
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong name or password",
            ));
        }
    };
    let second_factor = if user.totp_enabled {
        let Some(code) = totp.filter(|code| !code.trim().is_empty()) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "totp_required",
                "this account needs a one-time code (field totp)",
            ));
        };
        let secret = user.totp_secret.clone().unwrap_or_default();
        let step = cordon_auth::totp::verify(&secret, code, now_seconds, user.totp_last_step);
        match step {
            Some(step) if state.store().use_totp_step(user.name.as_str(), step).await? => true,
            _ => {
                state.with_throttle(|t| t.record_failure(&keys, now_seconds));
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "bad_totp",
                    "the one-time code is wrong or was already used",
                ));
            }
        }
    } else {
        // An account that must use a second factor but has none yet gets a session that can
        // only enrol one.
        !user.totp_required
    };
    state.with_throttle(|t| t.record_success(&account_key));
    let (token, digest) = secret::mint(TokenKind::Session).map_err(|e| ApiError::internal(&e))?;
    let hours = i64::from(state.config().session_hours);
    let session = Session {
        digest: digest.clone(),
        user: user.name.clone(),
        created_at: now,
        expires_at: Timestamp::from_unix_millis(now.unix_millis() + hours * 3_600_000),
        second_factor,
    };
    state.store().create_session(&session).await?;
    tracing::info!(user = %user.name, "signed in");
    Ok(NewSession {
        user,
        token,
        digest,
        second_factor,
    })
}

/// The `Set-Cookie` value for a new session: HttpOnly, SameSite=Strict, Secure behind https.
pub(crate) fn session_cookie<S: Store>(state: &AppState<S>, token: &Secret) -> String {
    let hours = i64::from(state.config().session_hours);
    let secure = if state.config().secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        token.expose(),
        hours * 3600
    )
}

async fn whoami<S: Store>(State(state): State<AppState<S>>, principal: Principal) -> Json<Value> {
    let csrf = match &principal.via {
        Via::Session { digest, .. } => Some(cordon_auth::csrf::token(state.csrf_key(), digest)),
        Via::Token { .. } => None,
    };
    let scope = match &principal.via {
        Via::Token { scope } => Some(scope.as_str()),
        Via::Session { .. } => None,
    };
    Json(json!({"user": dto::user(&principal.user), "csrf_token": csrf, "token_scope": scope}))
}

async fn logout<S: Store>(State(state): State<AppState<S>>, principal: Principal) -> Result<Response, ApiError> {
    if let Via::Session { digest, .. } = &principal.via {
        state.store().delete_session(digest).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

async fn totp_enrol<S: Store>(State(state): State<AppState<S>>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let (secret, uri) = start_totp(&state, &principal.user).await?;
    Ok(Json(json!({"secret": secret, "otpauth_uri": uri})))
}

/// Stores a fresh, unconfirmed TOTP secret and returns it with its otpauth URI.
pub(crate) async fn start_totp<S: Store>(state: &AppState<S>, user: &User) -> Result<(String, String), ApiError> {
    if user.totp_enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            "a second factor is already enrolled",
        ));
    }
    let secret = cordon_auth::totp::generate_secret().map_err(|e| ApiError::internal(&e))?;
    state.store().set_totp(user.name.as_str(), Some(&secret), false).await?;
    let uri = cordon_auth::totp::provisioning_uri(&secret, user.name.as_str(), "Cordon");
    Ok((secret, uri))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRequest {
    code: String,
}

async fn totp_confirm<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Body(request): Body<CodeRequest>,
) -> Result<Json<Value>, ApiError> {
    confirm_totp(&state, &principal.user, &request.code).await?;
    Ok(Json(json!({"totp_enabled": true, "signed_out": true})))
}

/// Turns the pending TOTP secret on once `code` matches it, and ends every session of the
/// user (they all predate the second factor).
pub(crate) async fn confirm_totp<S: Store>(state: &AppState<S>, user: &User, code: &str) -> Result<(), ApiError> {
    let Some(secret) = user.totp_secret.as_deref().filter(|_| !user.totp_enabled) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "refused",
            "start enrolment first (POST /api/v1/totp/enrol)",
        ));
    };
    let now_seconds = cordon_app::now().unix_millis() / 1000;
    let step = cordon_auth::totp::verify(secret, code, now_seconds, user.totp_last_step).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_totp",
            "the code does not match; check the device clock",
        )
    })?;
    state.store().use_totp_step(user.name.as_str(), step).await?;
    state.store().set_totp(user.name.as_str(), Some(secret), true).await?;
    state.store().delete_sessions_of(user.name.as_str()).await?;
    Ok(())
}

async fn list_tokens<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let tokens = state.store().tokens_of(principal.person().as_str()).await?;
    Ok(Json(
        json!({"items": tokens.iter().map(dto::token).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    label: String,
    scope: Scope,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

async fn create_token<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Body(request): Body<TokenRequest>,
) -> Result<Response, ApiError> {
    let (record, token) = mint_token(
        &state,
        &principal,
        &request.label,
        request.scope,
        request.expires_in_days,
    )
    .await?;
    let mut body = dto::token(&record);
    body["token"] = json!(token.expose());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Creates an API token for the signed-in caller, within what their role allows.
pub(crate) async fn mint_token<S: Store>(
    state: &AppState<S>,
    principal: &Principal,
    label: &str,
    scope: Scope,
    expires_in_days: Option<u32>,
) -> Result<(ApiToken, Secret), ApiError> {
    principal.require_read()?;
    if let Via::Token { .. } = principal.via {
        return Err(ApiError::forbidden(
            "API tokens are created from a signed-in session, not with another token",
        ));
    }
    let allowed = match principal.user.role {
        GlobalRole::Admin => true,
        GlobalRole::Responder => scope != Scope::Admin,
        GlobalRole::Viewer => scope == Scope::Read,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!(
            "a {} may not create a {} token",
            principal.user.role, scope
        )));
    }
    if label.trim().is_empty() || label.len() > 100 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "label must be 1 to 100 characters",
        ));
    }
    let now = cordon_app::now();
    let (token, digest) = secret::mint(TokenKind::Api).map_err(|e| ApiError::internal(&e))?;
    let record = ApiToken {
        id: uuid::Uuid::new_v4().to_string(),
        digest,
        user: principal.user.name.clone(),
        label: label.trim().to_owned(),
        scope,
        created_at: now,
        expires_at: expires_in_days
            .map(|days| Timestamp::from_unix_millis(now.unix_millis() + i64::from(days) * 86_400_000)),
        revoked: false,
    };
    state.store().create_token(&record).await?;
    Ok((record, token))
}

async fn revoke_token<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_read()?;
    if state.store().revoke_token(principal.person().as_str(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

async fn list_users<S: Store>(State(state): State<AppState<S>>, principal: Principal) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let users = state.store().users().await?;
    Ok(Json(json!({"items": users.iter().map(dto::user).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateUserRequest {
    name: String,
    role: GlobalRole,
    password: String,
    #[serde(default)]
    totp_required: bool,
}

async fn create_user<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Body(request): Body<CreateUserRequest>,
) -> Result<Response, ApiError> {
    let user = create_account(
        &state,
        &principal,
        &request.name,
        request.role,
        request.password,
        request.totp_required,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(dto::user(&user))).into_response())
}

/// An administrator creates an account.
pub(crate) async fn create_account<S: Store>(
    state: &AppState<S>,
    principal: &Principal,
    name: &str,
    role: GlobalRole,
    password: String,
    totp_required: bool,
) -> Result<User, ApiError> {
    principal.require_admin()?;
    let person = account_name(name)?;
    let mut user = new_user(person, role, hash_password(password).await?);
    user.totp_required = totp_required;
    state.store().create_user(&user).await?;
    tracing::info!(user = %user.name, role = %user.role, by = %principal.person(), "user created");
    Ok(user)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateUserRequest {
    role: Option<GlobalRole>,
    disabled: Option<bool>,
    totp_required: Option<bool>,
    password: Option<String>,
}

async fn update_user<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(name): Path<String>,
    Body(request): Body<UpdateUserRequest>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let password_hash = match request.password {
        Some(password) => Some(hash_password(password).await?),
        None => None,
    };
    let update = UserUpdate {
        role: request.role,
        disabled: request.disabled,
        totp_required: request.totp_required,
        password_hash,
    };
    if !state.store().update_user(&name, &update).await? {
        return Err(ApiError::not_found());
    }
    if update.disabled == Some(true) || update.password_hash.is_some() {
        state.store().delete_sessions_of(&name).await?;
    }
    let user = state.store().user(&name).await?.ok_or_else(ApiError::not_found)?;
    tracing::info!(user = %name, by = %principal.person(), "user updated");
    Ok(Json(dto::user(&user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    kind: Option<Kind>,
    status: Option<Status>,
    severity: Option<Severity>,
    #[serde(default)]
    mine: bool,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// Filters over the incidents a caller may see.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListFilter {
    pub kind: Option<Kind>,
    pub status: Option<Status>,
    pub severity: Option<Severity>,
    pub mine: bool,
}

async fn list_incidents<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let filter = ListFilter {
        kind: query.kind,
        status: query.status,
        severity: query.severity,
        mine: query.mine,
    };
    let rows = visible_incidents(&state, principal.person(), filter).await?;
    let per_page = query.per_page.unwrap_or(50).clamp(1, 200);
    let page = query.page.unwrap_or(1).max(1);
    let items: Vec<Value> = rows
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(dto::incident_row)
        .collect();
    Ok(Json(
        json!({"items": items, "page": page, "per_page": per_page, "total": rows.len()}),
    ))
}

/// The incidents `person` may see, filtered. Filters apply only to what the caller may see,
/// so no filter can reveal a hidden incident.
pub(crate) async fn visible_incidents<S: Store>(
    state: &AppState<S>,
    person: &Person,
    filter: ListFilter,
) -> Result<Vec<cordon_store::IncidentRow>, ApiError> {
    let mine: HashSet<String> = if filter.mine {
        state
            .store()
            .memberships(person.as_str())
            .await?
            .into_iter()
            .map(|id| id.to_string())
            .collect()
    } else {
        HashSet::new()
    };
    Ok(state
        .service()
        .list(person)
        .await?
        .into_iter()
        .filter(|row| filter.kind.is_none_or(|kind| row.kind == kind))
        .filter(|row| filter.status.is_none_or(|status| row.status == status))
        .filter(|row| filter.severity.is_none_or(|severity| row.severity == severity))
        .filter(|row| !filter.mine || row.declared_by == *person || mine.contains(row.id.as_str()))
        .collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeclareBody {
    kind: Kind,
    severity: Severity,
    title: String,
    /// A team's own playbook, as TOML text.
    #[serde(default)]
    playbook: Option<String>,
}

async fn declare<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Body(body): Body<DeclareBody>,
) -> Result<Response, ApiError> {
    principal.require_write()?;
    let playbook = match body.playbook {
        Some(text) => Some(
            Playbook::parse("playbook", &text)
                .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_playbook", err.to_string()))?,
        ),
        None => None,
    };
    let request = DeclareRequest {
        kind: body.kind,
        title: body.title,
        severity: body.severity,
        playbook,
    };
    let incident = state
        .service()
        .declare(principal.person(), request, cordon_app::now())
        .await?;
    Ok((StatusCode::CREATED, Json(dto::incident(&incident))).into_response())
}

async fn show_incident<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let incident = state.service().show(principal.person(), &reference).await?;
    Ok(Json(dto::incident(&incident)))
}

async fn incident_journal<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_read()?;
    let (lines, chain_break) = state.service().journal(principal.person(), &reference).await?;
    let chain_break = chain_break.map(|b| b.to_string());
    Ok(Json(dto::journal(&lines, chain_break.as_deref())))
}

async fn post_event<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
    Body(event): Body<Event>,
) -> Result<Json<Value>, ApiError> {
    // Need-to-know first: a non-member learns nothing, not even that they may not write.
    state.service().resolve(principal.person(), &reference).await?;
    principal.require_write()?;
    if matches!(event, Event::Declared { .. } | Event::BreakGlass { .. }) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "declare with POST /api/v1/incidents; break glass with POST /api/v1/incidents/{incident}/break-glass",
        ));
    }
    let incident = state
        .service()
        .act(principal.person(), &reference, event, cordon_app::now())
        .await?;
    Ok(Json(dto::incident(&incident)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonRequest {
    reason: String,
}

async fn break_glass<S: Store>(
    State(state): State<AppState<S>>,
    principal: Principal,
    Path(reference): Path<String>,
    Body(request): Body<ReasonRequest>,
) -> Result<Json<Value>, ApiError> {
    principal.require_admin()?;
    let incident = state
        .service()
        .break_glass(principal.person(), &reference, &request.reason, cordon_app::now())
        .await?;
    tracing::warn!(incident = %incident.id, by = %principal.person(), "break-glass access");
    Ok(Json(dto::incident(&incident)))
}

async fn audit<S: Store>(State(state): State<AppState<S>>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let view = audit_view(&state, &principal).await?;
    Ok(Json(json!({
        "ok": view.findings.is_empty(),
        "incidents_checked": view.incidents_checked,
        "checkpoints": view.checkpoints,
        "unsigned_entries": view.unsigned_entries,
        "findings": view.findings,
    })))
}

/// The audit as an administrator may see it.
pub struct AuditView {
    pub incidents_checked: usize,
    pub checkpoints: usize,
    pub unsigned_entries: u64,
    pub findings: Vec<String>,
}

/// Verifies every journal and the checkpoint chain; names only incidents the caller may see.
pub(crate) async fn audit_view<S: Store>(state: &AppState<S>, principal: &Principal) -> Result<AuditView, ApiError> {
    principal.require_admin()?;
    let report = state.service().audit(None).await?;
    // Only incidents the caller may see are named; checkpoint and witness findings concern
    // the whole installation and name no incident.
    let visible: HashSet<String> = state
        .service()
        .list(principal.person())
        .await?
        .into_iter()
        .map(|row| row.id.to_string())
        .collect();
    let findings: Vec<String> = report
        .findings
        .iter()
        .filter(|finding| match finding {
            cordon_domain::Finding::Chain(chain_break) => visible.contains(chain_break.incident.as_str()),
            cordon_domain::Finding::Truncated { incident, .. } => visible.contains(incident.as_str()),
            cordon_domain::Finding::Checkpoint { .. } | cordon_domain::Finding::Witness { .. } => true,
        })
        .map(ToString::to_string)
        .collect();
    Ok(AuditView {
        incidents_checked: visible.len(),
        checkpoints: report.checkpoints,
        unsigned_entries: report.unsigned_entries,
        findings,
    })
}

async fn public_key<S: Store>(State(state): State<AppState<S>>) -> Json<Value> {
    Json(json!({"algorithm": "ed25519", "public_key": hex::encode(state.service().public_key().as_bytes())}))
}

pub(crate) fn parse_person(name: &str) -> Result<Person, ApiError> {
    Person::new(name).map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", err.to_string()))
}

/// Hashes on the blocking pool: argon2id takes tens of milliseconds on purpose.
async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || cordon_auth::password::hash(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|err| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", err.to_string()))
}

/// A name for a new account. The name the alert pipeline acts under in journals is taken, so
/// that nobody can sign in as the author of the incidents it declares.
fn account_name(name: &str) -> Result<Person, ApiError> {
    let person = parse_person(name)?;
    if person.as_str() == cordon_app::paging::SYSTEM_ACTOR {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            format!("{name:?} is reserved for Cordon itself"),
        ));
    }
    Ok(person)
}

fn new_user(name: Person, role: GlobalRole, password_hash: String) -> User {
    User {
        name,
        role,
        password_hash,
        totp_secret: None,
        totp_enabled: false,
        totp_last_step: None,
        totp_required: false,
        disabled: false,
        created_at: cordon_app::now(),
    }
}

/// Groups the table by path so each path gets one method router.
pub fn grouped<S: Store>() -> BTreeMap<&'static str, MethodRouter<AppState<S>>> {
    let mut grouped: BTreeMap<&'static str, MethodRouter<AppState<S>>> = BTreeMap::new();
    for route in table::<S>() {
        let merged = match grouped.remove(route.path) {
            Some(existing) => existing.merge(route.handler),
            None => route.handler,
        };
        grouped.insert(route.path, merged);
    }
    grouped
}
