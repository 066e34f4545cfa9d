//! Alerts in the browser: the list, one alert with who it paged when, acknowledge and resolve
//! forms, and the pages behind the signed links in notifications.
//!
//! A link in a notification is a capability for one action by one person, so following it
//! needs no sign-in. It still never acts on a GET: mail scanners and chat unfurlers open links,
//! so the link shows a confirmation form, and only posting that form acts.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cordon_app::paging::{AlertView, PagingError};
use cordon_notify::{LinkAction, LinkClaim};
use cordon_store::{AlertRow, Store};
use maud::{Markup, html};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::web::extract::{PublicForm, WebError, WebForm, WebUser, public_csrf};
use crate::web::view::{self, Viewer, csrf, time};
use crate::web::{ok, see_other};

impl From<PagingError> for WebError {
    fn from(err: PagingError) -> WebError {
        WebError::Api(err.into())
    }
}

pub async fn list<S: Store>(State(state): State<AppState<S>>, user: WebUser) -> Result<Response, WebError> {
    user.require_read()?;
    let alerts = state
        .paging()
        .visible_alerts(user.principal.person(), false, 200)
        .await?;
    Ok(ok(view::layout(
        "Alerts",
        &Viewer::Signed(&user),
        html! {
            h1 { "Alerts" }
            @if alerts.is_empty() {
                p { "No alerts you may see." }
            } @else {
                table.list {
                    thead { tr { th { "Alert" } th { "Service" } th { "Severity" } th { "Status" } th { "Events" } th { "Received" } } }
                    tbody {
                        @for alert in &alerts {
                            tr {
                                td { a href={ "/alerts/" (alert.id) } { (headline(alert)) } }
                                td { (alert.service) }
                                td { (alert.severity) }
                                td { (alert.status) }
                                td { (alert.event_count) }
                                td { (time(alert.received_at)) }
                            }
                        }
                    }
                }
            }
        },
    )))
}

/// An alert's one-line name. The list only shows alerts the viewer may see in full.
fn headline(alert: &AlertRow) -> &str {
    if alert.summary.is_empty() {
        &alert.dedup_key
    } else {
        &alert.summary
    }
}

pub async fn show<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    user: WebUser,
) -> Result<Response, WebError> {
    let view = state.paging().alert_view(user.principal.person(), &id).await?;
    user.require_read()?;
    Ok(ok(alert_page(&user, &view, None)))
}

fn alert_page(user: &WebUser, view: &AlertView, message: Option<&str>) -> Markup {
    let alert = &view.alert;
    view::layout(
        headline(alert),
        &Viewer::Signed(user),
        html! {
            h1 { (headline(alert)) }
            @if let Some(message) = message { (view::notice(message)) }
            dl.facts {
                dt { "Service" } dd { (alert.service) }
                dt { "Severity" } dd { (alert.severity) }
                dt { "Status" } dd #alert-status { (alert.status) }
                dt { "Source" } dd { (alert.source) }
                dt { "Dedup key" } dd { code { (alert.dedup_key) } }
                dt { "Events" } dd { (alert.event_count) }
                dt { "Received" } dd { (time(alert.received_at)) }
                @if let Some(incident) = &alert.incident_id {
                    dt { "Incident" } dd { a href={ "/incidents/" (incident) } { "open the incident" } }
                }
                @if let (Some(by), Some(at)) = (&alert.acknowledged_by, alert.acknowledged_at) {
                    dt { "Acknowledged" } dd { "by " (by) ", " (time(at)) }
                }
                @if let (Some(by), Some(at)) = (&alert.resolved_by, alert.resolved_at) {
                    dt { "Resolved" } dd { "by " (by) ", " (time(at)) }
                }
            }
            @if user.may_write() && alert.status != "resolved" {
                form.inline method="post" action={ "/alerts/" (alert.id) "/status" } {
                    (csrf(user))
                    @if alert.status == "triggered" {
                        button.primary type="submit" name="action" value="acknowledge" { "Acknowledge" }
                    }
                    button type="submit" name="action" value="resolve" { "Resolve" }
                }
            }
            (pages_table(&view.pages))
        },
    )
}

/// Who was paged when, and how each page went.
pub fn pages_table(pages: &[cordon_store::NotificationRow]) -> Markup {
    html! {
        h2 { "Pages" }
        @if pages.is_empty() {
            p { "Nobody was paged." }
        } @else {
            table.list {
                thead { tr { th { "Person" } th { "Level" } th { "Queued" } th { "Sent" } th { "Status" } } }
                tbody {
                    @for page in pages {
                        tr {
                            td { (page.new.person) }
                            td { (page.new.level + 1) @if page.new.round > 0 { " (repeat " (page.new.round) ")" } }
                            td { (time(page.created_at)) }
                            td { @if let Some(at) = page.sent_at { (time(at)) } @else { "—" } }
                            td { (page.status) @if let Some(error) = &page.last_error { ": " (error) } }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    action: String,
}

pub async fn set_status<S: Store>(
    State(state): State<AppState<S>>,
    Path(id): Path<String>,
    WebForm { user, form }: WebForm<StatusForm>,
) -> Result<Response, WebError> {
    // Need-to-know first: a hidden alert is not found, whoever asks.
    state.paging().visible_alert(user.principal.person(), &id).await?;
    user.require_write()?;
    let status = match form.action.as_str() {
        "acknowledge" => "acknowledged",
        "resolve" => "resolved",
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                format!("action {other:?} is neither acknowledge nor resolve"),
            )
            .into());
        }
    };
    match state
        .paging()
        .set_alert_status(user.principal.person(), &id, status, cordon_app::now())
        .await
    {
        Ok(_) => Ok(see_other(&format!("/alerts/{id}"))),
        Err(PagingError::Invalid(message)) => {
            let view = state.paging().alert_view(user.principal.person(), &id).await?;
            Ok(ok(alert_page(&user, &view, Some(&message))))
        }
        Err(err) => Err(err.into()),
    }
}

/// The claim a link token makes, or the page that says why it cannot be used.
async fn claim<S: Store>(state: &AppState<S>, token: &str) -> Result<LinkClaim, WebError> {
    let signer = state.paging().link_signer().await?;
    signer.verify(token, cordon_app::now()).map_err(|err| {
        let message = match err {
            cordon_notify::LinkError::Expired { .. } => {
                "This link has expired. Sign in to Cordon to act on the alert.".to_owned()
            }
            _ => "This link is not valid.".to_owned(),
        };
        WebError::Page(
            StatusCode::GONE,
            link_page("Link not usable", html! { (view::alert(&message)) }),
        )
    })
}

fn link_page(title: &str, body: Markup) -> Markup {
    view::layout(
        title,
        &Viewer::Anonymous,
        html! {
            h1 { (title) }
            (body)
            p { a href="/sign-in" { "Sign in to Cordon" } }
        },
    )
}

fn verb(action: LinkAction) -> &'static str {
    match action {
        LinkAction::Acknowledge => "Acknowledge",
        LinkAction::Resolve => "Resolve",
    }
}

/// What a page link shows before it acts. It names no alert: a forwarded link must not tell
/// its reader more than the notification said.
pub async fn link_confirm<S: Store>(
    State(state): State<AppState<S>>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let claim = claim(&state, &token).await?;
    let (csrf_token, cookie) = public_csrf(&state, &headers)?;
    let count = claim.alert.split(',').filter(|id| !id.is_empty()).count();
    let what = if count == 1 {
        "the alert".to_owned()
    } else {
        format!("{count} alerts")
    };
    let mut response = ok(link_page(
        &format!("{} {what}", verb(claim.action)),
        html! {
            p { "This link was sent to " strong { (claim.person) } ". It expires " (time(claim.expires_at)) "." }
            form method="post" action={ "/page/" (token) } {
                input type="hidden" name="csrf_token" value=(csrf_token);
                button.primary type="submit" { (verb(claim.action)) " " (what) }
            }
        },
    ));
    if let Some(cookie) = cookie {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct LinkForm {}

pub async fn link_act<S: Store>(
    State(state): State<AppState<S>>,
    Path(token): Path<String>,
    PublicForm { form: LinkForm {}, .. }: PublicForm<LinkForm>,
) -> Result<Response, WebError> {
    let claim = claim(&state, &token).await?;
    let changed = state.paging().follow_link(&claim, cordon_app::now()).await?;
    tracing::info!(person = %claim.person, action = ?claim.action, alerts = changed.len(), "page link followed");
    let done = match (claim.action, changed.len()) {
        (_, 0) => "Nothing to do: the alert was already handled.".to_owned(),
        (LinkAction::Acknowledge, n) => format!("Acknowledged {n} alert(s). Escalation stopped."),
        (LinkAction::Resolve, n) => format!("Resolved {n} alert(s)."),
    };
    Ok(ok(link_page("Done", html! { (view::notice(&done)) })).into_response())
}

/// Who is on call now for every schedule, and which policy pages for which service.
pub async fn on_call<S: Store>(State(state): State<AppState<S>>, user: WebUser) -> Result<Response, WebError> {
    user.require_read()?;
    let paging = state.paging();
    let now = cordon_app::now();
    let mut schedules = Vec::new();
    for schedule in paging.schedules().await? {
        let shift = schedule.on_call(now).ok().flatten();
        schedules.push((schedule.name, shift));
    }
    let services = paging.services().await?;
    Ok(ok(view::layout(
        "On call",
        &Viewer::Signed(&user),
        html! {
            h1 { "On call" }
            h2 { "Now" }
            @if schedules.is_empty() {
                p { "No schedules yet. An administrator defines them with " code { "cordon schedule put" } "." }
            } @else {
                table.list {
                    thead { tr { th { "Schedule" } th { "On call" } th { "Until" } th { "Layer" } } }
                    tbody {
                        @for (name, shift) in &schedules {
                            tr {
                                td { (name) }
                                @if let Some(shift) = shift {
                                    td { strong { (shift.person.as_str()) } }
                                    td { (time(shift.end)) }
                                    td { @if let Some(layer) = &shift.layer { (layer) } @else { "override" } }
                                } @else {
                                    td colspan="3" { "nobody" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Services" }
            @if services.is_empty() {
                p { "No services yet." }
            } @else {
                table.list {
                    thead { tr { th { "Service" } th { "Escalation policy" } th { "Alerts lead to" } } }
                    tbody {
                        @for service in &services {
                            tr {
                                td { (service.spec.name) }
                                td { @if let Some(policy) = &service.spec.escalation_policy { (policy) } @else { "none: nobody is paged" } }
                                td { (service.default_outcome().as_str())
                                     @if !service.spec.rules.is_empty() { " (" (service.spec.rules.len()) " routing rules)" } }
                            }
                        }
                    }
                }
            }
        },
    )))
}
