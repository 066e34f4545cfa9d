//! The page layout and every page except the incident room (`room.rs`), as maud templates.
//! Views take plain data and return markup; they never reach the store.

use axum::http::StatusCode;
use cordon_domain::{GlobalRole, Kind, Scope, Severity, Status, Timestamp};
use cordon_store::{ApiToken, IncidentRow, User};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::routes::{AuditView, ListFilter};
use crate::web::extract::WebUser;

/// Who the page is for: a signed-in person (navigation and sign-out) or nobody yet.
pub enum Viewer<'a> {
    Anonymous,
    Signed(&'a WebUser),
}

/// The frame of every page: skip link, navigation, a main landmark and the stylesheet.
pub fn layout(title: &str, viewer: &Viewer<'_>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Cordon" }
                link rel="stylesheet" href="/static/cordon.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/incidents" { "Cordon" }
                    @if let Viewer::Signed(user) = viewer {
                        nav aria-label="Main" {
                            ul {
                                li { a href="/incidents" { "Incidents" } }
                                li { a href="/alerts" { "Alerts" } }
                                li { a href="/oncall" { "On call" } }
                                @if user.may_write() {
                                    li { a href="/incidents/new" { "Declare" } }
                                }
                                li { a href="/account/totp" { "Second factor" } }
                                li { a href="/account/tokens" { "API tokens" } }
                                @if user.is_admin() {
                                    li { a href="/admin/users" { "Users" } }
                                    li { a href="/audit" { "Audit" } }
                                    li { a href="/break-glass" { "Break glass" } }
                                }
                            }
                        }
                        form.signout method="post" action="/sign-out" {
                            (csrf(user))
                            span.who { "Signed in as " strong { (user.name()) } }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

/// The hidden CSRF field every form of a signed-in page carries.
pub fn csrf(user: &WebUser) -> Markup {
    html! { input type="hidden" name="csrf_token" value=(user.csrf); }
}

/// A message at the top of a page, announced by screen readers.
pub fn alert(message: &str) -> Markup {
    html! { div.alert role="alert" { p { (message) } } }
}

pub fn notice(message: &str) -> Markup {
    html! { div.notice role="status" { p { (message) } } }
}

/// A time as people read it, with the exact instant in the `datetime` attribute.
pub fn time(at: Timestamp) -> Markup {
    let exact = at.to_rfc3339();
    let shown = exact
        .get(..19)
        .map_or(exact.clone(), |s| format!("{} UTC", s.replace('T', " ")));
    html! { time datetime=(exact) { (shown) } }
}

pub fn error_page(status: StatusCode, message: &str) -> Markup {
    let heading = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::CONFLICT => "Refused",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        s if s.is_server_error() => "Something went wrong",
        _ => "That did not work",
    };
    layout(
        heading,
        &Viewer::Anonymous,
        html! {
            h1 { (heading) }
            (alert(message))
            p { a href="/incidents" { "Back to the incidents" } }
        },
    )
}

/// Deliberately says nothing about why: missing and hidden look the same.
pub fn not_found_page() -> Markup {
    layout(
        "Not found",
        &Viewer::Anonymous,
        html! {
            h1 { "Not found" }
            p { "There is nothing here, or nothing you may see." }
            p { a href="/incidents" { "Back to the incidents" } }
        },
    )
}

pub fn sign_in(csrf_token: &str, error: Option<&str>, notice_text: Option<&str>, name: &str) -> Markup {
    layout(
        "Sign in",
        &Viewer::Anonymous,
        html! {
            h1 { "Sign in" }
            @if let Some(text) = notice_text { (notice(text)) }
            @if let Some(message) = error { (alert(message)) }
            form.card method="post" action="/sign-in" {
                input type="hidden" name="csrf_token" value=(csrf_token);
                div.field {
                    label for="name" { "Name" }
                    input #name type="text" name="name" value=(name) autocomplete="username" required autofocus;
                }
                div.field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                }
                div.field {
                    label for="totp" { "One-time code" }
                    input #totp type="text" name="totp" inputmode="numeric" autocomplete="one-time-code"
                        pattern="[0-9 ]*" aria-describedby="totp-hint";
                    p.hint #totp-hint { "From your authenticator app, if your account has a second factor." }
                }
                button.primary type="submit" { "Sign in" }
            }
        },
    )
}

pub fn setup(csrf_token: &str, token: &str, error: Option<&str>) -> Markup {
    layout(
        "First administrator",
        &Viewer::Anonymous,
        html! {
            h1 { "Create the first administrator" }
            p { "This link works once, while Cordon has no users. The account you create here administers the installation." }
            @if let Some(message) = error { (alert(message)) }
            form.card method="post" action="/setup" {
                input type="hidden" name="csrf_token" value=(csrf_token);
                input type="hidden" name="token" value=(token);
                div.field {
                    label for="name" { "Name" }
                    input #name type="text" name="name" autocomplete="username" required autofocus;
                }
                div.field {
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="new-password" minlength="12"
                        required aria-describedby="password-hint";
                    p.hint #password-hint { "At least 12 characters." }
                }
                button.primary type="submit" { "Create administrator" }
            }
        },
    )
}

/// The TOTP page: on, pending confirmation (secret shown), or off.
pub fn totp(user: &WebUser, error: Option<&str>, pending: Option<(&str, &str)>) -> Markup {
    let account = &user.principal.user;
    layout(
        "Second factor",
        &Viewer::Signed(user),
        html! {
            h1 { "Second factor (TOTP)" }
            @if !user.second_factor {
                (notice("Your account needs a second factor before you can see incidents. Set it up below."))
            }
            @if let Some(message) = error { (alert(message)) }
            @if account.totp_enabled {
                p { "A second factor is on for " strong { (account.name.as_str()) } ". Every sign-in asks for a one-time code." }
            } @else if let Some((secret, uri)) = pending {
                ol.steps-howto {
                    li {
                        "Add this key to your authenticator app (time-based, 6 digits, 30 seconds): "
                        code.secret { (group(secret)) }
                    }
                    li {
                        "Or scan this code with the app, or open "
                        a href=(uri) { "the otpauth link" } " on the device that holds it:"
                        @if let Some(svg) = crate::web::qr_svg(uri) {
                            div.qr role="img" aria-label="QR code of the key for your authenticator app" { (PreEscaped(svg)) }
                        }
                    }
                    li { "Enter the code the app shows. Confirming signs you out everywhere; sign in again with a code." }
                }
                form.card method="post" action="/account/totp/confirm" {
                    (csrf(user))
                    div.field {
                        label for="code" { "Code from the app" }
                        input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                            pattern="[0-9 ]*" required;
                    }
                    button.primary type="submit" { "Confirm and turn on" }
                }
            } @else {
                p { "Protect your account with a one-time code from an authenticator app." }
                form method="post" action="/account/totp/enrol" {
                    (csrf(user))
                    button.primary type="submit" { "Set up a second factor" }
                }
            }
        },
    )
}

fn group(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn tokens(user: &WebUser, tokens: &[ApiToken], created: Option<(&ApiToken, &str)>, error: Option<&str>) -> Markup {
    let scopes: Vec<Scope> = match user.principal.user.role {
        GlobalRole::Admin => vec![Scope::Read, Scope::Write, Scope::Admin],
        GlobalRole::Responder => vec![Scope::Read, Scope::Write],
        GlobalRole::Viewer => vec![Scope::Read],
    };
    layout(
        "API tokens",
        &Viewer::Signed(user),
        html! {
            h1 { "API tokens" }
            p { "Tokens let programs use the API as you (" code { "Authorization: Bearer …" } "). Cordon keeps only a hash: a token is shown once." }
            @if let Some(message) = error { (alert(message)) }
            @if let Some((record, token)) = created {
                div.notice role="status" {
                    p { "New token " strong { (record.label) } " (" (record.scope.as_str()) "). Copy it now; it will not be shown again:" }
                    p { code.secret #new-token { (token) } }
                }
            }
            h2 { "Your tokens" }
            @if tokens.is_empty() {
                p { "You have no API tokens." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "Label" } th scope="col" { "Scope" } th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "State" } } }
                        tbody {
                            @for token in tokens {
                                tr {
                                    td { (token.label) }
                                    td { (token.scope.as_str()) }
                                    td { (time(token.created_at)) }
                                    td { @if let Some(at) = token.expires_at { (time(at)) } @else { "never" } }
                                    td {
                                        @if token.revoked { "revoked" } @else {
                                            form.inline method="post" action={ "/account/tokens/" (token.id) "/revoke" } {
                                                (csrf(user))
                                                button.danger type="submit" aria-label={ "Revoke token " (token.label) } { "Revoke" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "New token" }
            form.card method="post" action="/account/tokens" {
                (csrf(user))
                div.field {
                    label for="label" { "Label" }
                    input #label type="text" name="label" maxlength="100" required;
                }
                div.field {
                    label for="scope" { "Scope" }
                    select #scope name="scope" {
                        @for scope in &scopes { option value=(scope.as_str()) { (scope.as_str()) } }
                    }
                }
                div.field {
                    label for="expires" { "Expires after (days, empty for never)" }
                    input #expires type="number" name="expires_in_days" min="1" max="3650";
                }
                button.primary type="submit" { "Create token" }
            }
        },
    )
}

pub fn incident_list(user: &WebUser, rows: &[IncidentRow], filter: ListFilter) -> Markup {
    layout(
        "Incidents",
        &Viewer::Signed(user),
        html! {
            div.heading-row {
                h1 { "Incidents" }
                @if user.may_write() { a.button.primary href="/incidents/new" { "Declare an incident" } }
            }
            form.filters method="get" action="/incidents" aria-label="Filter incidents" {
                div.field {
                    label for="f-kind" { "Kind" }
                    select #f-kind name="kind" {
                        option value="" { "any" }
                        @for kind in Kind::ALL { option value=(kind.as_str()) selected[filter.kind == Some(*kind)] { (kind.as_str()) } }
                    }
                }
                div.field {
                    label for="f-severity" { "Severity" }
                    select #f-severity name="severity" {
                        option value="" { "any" }
                        @for severity in Severity::ALL { option value=(severity.as_str()) selected[filter.severity == Some(*severity)] { (severity.as_str()) } }
                    }
                }
                div.field {
                    label for="f-status" { "Status" }
                    select #f-status name="status" {
                        option value="" { "any" }
                        @for status in Status::ALL { option value=(status.as_str()) selected[filter.status == Some(*status)] { (status.as_str()) } }
                    }
                }
                div.field.check {
                    input #f-mine type="checkbox" name="mine" value="true" checked[filter.mine];
                    label for="f-mine" { "Only incidents I am on" }
                }
                button type="submit" { "Filter" }
            }
            @if rows.is_empty() {
                p #no-incidents { "No incidents you can see match." }
            } @else {
                div.table-wrap {
                    table #incidents {
                        caption.visually-hidden { "Incidents you can see" }
                        thead { tr {
                            th scope="col" { "Incident" } th scope="col" { "Kind" } th scope="col" { "Severity" }
                            th scope="col" { "Status" } th scope="col" { "Declared by" } th scope="col" { "Last change" }
                        } }
                        tbody {
                            @for row in rows {
                                tr {
                                    th scope="row" {
                                        a href={ "/incidents/" (row.id.as_str()) } { (display_name(row.kind, row.codename.as_ref().map(|c| c.as_str()), &row.title)) }
                                        @if row.kind == Kind::Security { " " span.tag.confidential { "Confidential" } }
                                    }
                                    td { (row.kind.as_str()) }
                                    td { span class={ "sev sev-" (row.severity.as_str()) } { (row.severity.as_str()) } }
                                    td { (row.status.as_str()) }
                                    td { (row.declared_by.as_str()) }
                                    td { (time(row.updated_at)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Security incidents go by their codename everywhere outside the room; operational ones by
/// their title.
pub fn display_name<'a>(kind: Kind, codename: Option<&'a str>, title: &'a str) -> &'a str {
    match (kind, codename) {
        (Kind::Security, Some(codename)) => codename,
        (Kind::Security, None) => "unnamed security incident",
        (Kind::Operational, _) => title,
    }
}

pub fn declare(user: &WebUser, error: Option<&str>) -> Markup {
    layout(
        "Declare an incident",
        &Viewer::Signed(user),
        html! {
            h1 { "Declare an incident" }
            @if let Some(message) = error { (alert(message)) }
            form.card method="post" action="/incidents" {
                (csrf(user))
                fieldset {
                    legend { "Kind" }
                    p.hint #kind-hint { strong { "Not sure it is a security incident? Declare it as one; the Incident Commander decides." } }
                    div.field.check {
                        input #kind-security type="radio" name="kind" value="security" checked aria-describedby="kind-hint";
                        label for="kind-security" { "Security: contain first, need-to-know, a codename instead of the title" }
                    }
                    div.field.check {
                        input #kind-operational type="radio" name="kind" value="operational";
                        label for="kind-operational" { "Operational: an outage or degradation, open to every responder" }
                    }
                }
                div.field {
                    label for="severity" { "Severity" }
                    select #severity name="severity" aria-describedby="severity-hint" {
                        @for severity in Severity::ALL { option value=(severity.as_str()) selected[*severity == Severity::Sev2] { (severity_label(*severity)) } }
                    }
                    p.hint #severity-hint { "When unsure, pick the higher one." }
                }
                div.field {
                    label for="title" { "Title" }
                    input #title type="text" name="title" required maxlength="200" aria-describedby="title-hint";
                    p.hint #title-hint { "A security incident keeps its title inside the incident; everywhere else it goes by a random codename." }
                }
                button.primary type="submit" { "Declare" }
            }
        },
    )
}

pub fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "sev-1 (critical)",
        Severity::Sev2 => "sev-2 (major)",
        Severity::Sev3 => "sev-3 (minor)",
        Severity::Sev4 => "sev-4 (low)",
        Severity::Sev5 => "sev-5 (cosmetic)",
    }
}

pub fn audit(user: &WebUser, view: &AuditView) -> Markup {
    layout(
        "Audit",
        &Viewer::Signed(user),
        html! {
            h1 { "Audit" }
            @if view.findings.is_empty() {
                div.verdict.ok #audit-verdict role="status" {
                    p { strong { "Verified." } " Every journal you may see, the checkpoint chain and its signatures, and the witness copy check out." }
                }
            } @else {
                div.verdict.failed #audit-verdict role="alert" {
                    p { strong { "FAILED" } " with " (view.findings.len()) " finding(s)." }
                }
                ul.findings { @for finding in &view.findings { li { (finding) } } }
            }
            dl.facts {
                dt { "Incidents checked" } dd { (view.incidents_checked) }
                dt { "Signed checkpoints" } dd { (view.checkpoints) }
                dt { "Entries not yet under a checkpoint" } dd { (view.unsigned_entries) }
            }
            p.hint { "Security incidents you are not on are checked too, but not named here. Break the glass to see one." }
        },
    )
}

pub fn users(user: &WebUser, users: &[User], error: Option<&str>, created: Option<&str>) -> Markup {
    layout(
        "Users",
        &Viewer::Signed(user),
        html! {
            h1 { "Users" }
            @if let Some(message) = error { (alert(message)) }
            @if let Some(name) = created { (notice(&format!("Created {name}."))) }
            div.table-wrap {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Second factor" } th scope="col" { "State" } } }
                    tbody {
                        @for account in users {
                            tr {
                                th scope="row" { (account.name.as_str()) }
                                td { (account.role.as_str()) }
                                td { @if account.totp_enabled { "on" } @else if account.totp_required { "required, not set up" } @else { "off" } }
                                td { @if account.disabled { "disabled" } @else { "active" } }
                            }
                        }
                    }
                }
            }
            h2 { "New user" }
            form.card method="post" action="/admin/users" {
                (csrf(user))
                div.field {
                    label for="name" { "Name" }
                    input #name type="text" name="name" required;
                }
                div.field {
                    label for="role" { "Role" }
                    select #role name="role" {
                        @for role in GlobalRole::ALL { option value=(role.as_str()) selected[*role == GlobalRole::Responder] { (role.as_str()) } }
                    }
                }
                div.field {
                    label for="password" { "Initial password" }
                    input #password type="password" name="password" autocomplete="new-password" minlength="12" required;
                }
                div.field.check {
                    input #totp-required type="checkbox" name="totp_required" value="true";
                    label for="totp-required" { "Must set up a second factor at first sign-in" }
                }
                button.primary type="submit" { "Create user" }
            }
        },
    )
}

pub fn break_glass(user: &WebUser, error: Option<&str>) -> Markup {
    layout(
        "Break glass",
        &Viewer::Signed(user),
        html! {
            h1 { "Break glass" }
            p { "An administrator who is not on a security incident can let themselves in, with a reason. The entry goes into the incident's journal and every member sees a banner. People excluded from an incident cannot do this." }
            @if let Some(message) = error { (alert(message)) }
            form.card method="post" action="/break-glass" {
                (csrf(user))
                div.field {
                    label for="incident" { "Incident (codename or id)" }
                    input #incident type="text" name="incident" required;
                }
                div.field {
                    label for="reason" { "Reason" }
                    textarea #reason name="reason" rows="3" required {}
                }
                button.danger type="submit" { "Break the glass" }
            }
        },
    )
}
