//! The incident room: the step board with gates in plain words, roles and members, decisions,
//! status, and the journal as a timeline with its hash-chain state. Every action is a plain
//! form posting one event to `/incidents/{incident}/events`, so the room works without script.

use cordon_app::JournalLine;
use cordon_app::paging::AlertView;
use cordon_domain::journal::ChainBreak;
use cordon_domain::{EvidenceState, Incident, Kind, Person, Role, Severity, Status, StepStatus, Timestamp};
use cordon_evidence::Tlp;
use maud::{Markup, html};

use crate::web::extract::WebUser;
use crate::web::view::{self, Viewer, csrf, time};

/// What the room shows, besides the incident itself.
pub struct Room<'a> {
    pub user: &'a WebUser,
    pub incident: &'a Incident,
    /// The alerts that opened or joined the incident, with who they paged when.
    pub alerts: &'a [AlertView],
    pub journal: &'a [JournalLine],
    pub chain_break: Option<&'a ChainBreak>,
    /// A refusal from the last action, shown at the top.
    pub refusal: Option<&'a str>,
    /// A share link the last action issued: shown on this page only, never again.
    pub issued_share: Option<&'a IssuedLink>,
    /// When the page is rendered, for whether a retention period still runs.
    pub now: Timestamp,
}

/// A share link just issued, for the one page that shows it.
pub struct IssuedLink {
    pub url: String,
    pub recipient: String,
    pub expires_at: Timestamp,
}

pub fn page(room: &Room<'_>) -> Markup {
    let incident = room.incident;
    let me = &room.user.principal.user.name;
    let codename = incident.codename.as_ref().map(|c| c.as_str());
    // The tab shows the codename of a security incident, never its title.
    let tab_title = view::display_name(incident.kind, codename, &incident.title);
    // Retention and legal holds outlive the incident: litigation often starts after closure.
    let keeps = room.user.may_write()
        && !incident.is_excluded(me)
        && !incident
            .roles
            .get(me)
            .is_some_and(|roles| roles.iter().all(|role| *role == Role::Observer));
    let acts = keeps && incident.status != Status::Closed;
    let commands = acts && incident.commander().is_none_or(|commander| commander == me);
    let ctx = Ctx {
        room,
        keeps,
        acts,
        commands,
        action: format!("/incidents/{}/events", incident.id.as_str()),
    };
    view::layout(
        tab_title,
        &Viewer::Signed(room.user),
        html! {
            @if incident.kind == Kind::Security {
                p.marking #marking role="note" { "Confidential — need to know" }
            }
            @for glass in &incident.break_glass {
                div.alert.glass role="alert" {
                    p {
                        strong { "Break-glass access. " }
                        (glass.by.as_str()) ", an administrator who was not on this incident, let themselves in on "
                        (time(glass.at)) ". Reason: “" (glass.reason) "”"
                    }
                }
            }
            header.room-head {
                h1 #room-title { (tab_title) }
                @if incident.kind == Kind::Security {
                    p.real-title { "Title: " (incident.title) }
                }
                dl.facts {
                    dt { "Kind" } dd { (incident.kind.as_str()) }
                    dt { "Severity" } dd { span class={ "sev sev-" (incident.severity.as_str()) } { (incident.severity.as_str()) } }
                    dt { "Status" } dd #status { (incident.status.as_str()) }
                    dt { "Incident Commander" } dd #commander { @if let Some(c) = incident.commander() { (c.as_str()) } @else { "none yet" } }
                    dt { "Declared" } dd { "by " (incident.declared_by.as_str()) ", " (time(incident.declared_at)) }
                }
            }
            @if let Some(message) = room.refusal {
                div.alert #refusal role="alert" tabindex="-1" {
                    p { strong { "Refused: " } (message) }
                }
            }
            nav.toc aria-label="Sections of this incident" {
                a href="#board" { "Steps" } " · " a href="#people" { "People" } " · "
                a href="#decisions" { "Decisions and status" } " · " a href="#evidence" { "Evidence" } " · "
                a href="#alerts" { "Alerts and pages" } " · " a href="#journal" { "Journal" }
            }
            @if acts && incident.commander().is_none() {
                div.notice role="status" {
                    p { "No Incident Commander yet. Overriding gates needs one." }
                    form.inline method="post" action=(ctx.action) {
                        (csrf(room.user))
                        input type="hidden" name="type" value="role_assigned";
                        input type="hidden" name="person" value=(me.as_str());
                        input type="hidden" name="role" value="incident-commander";
                        button.primary type="submit" { "Take the Incident Commander role" }
                    }
                }
            }
            (board(&ctx))
            (people(&ctx))
            (decisions(&ctx))
            (evidence(&ctx))
            (alerts(room.alerts))
            (journal(&ctx))
        },
    )
}

struct Ctx<'a> {
    room: &'a Room<'a>,
    /// The viewer may take retention decisions at all (closed or not).
    keeps: bool,
    /// The viewer may change this incident at all.
    acts: bool,
    /// The viewer may take commander-only actions (is the commander, or none is assigned).
    commands: bool,
    action: String,
}

impl Ctx<'_> {
    /// A one-button form posting `event_type` for a step, plus optional visible fields.
    fn event_form(&self, event_type: &str, step: u32, fields: Markup, button: Markup) -> Markup {
        html! {
            form.action method="post" action=(self.action) {
                (csrf(self.room.user))
                input type="hidden" name="type" value=(event_type);
                input type="hidden" name="step" value=(step);
                (fields)
                (button)
            }
        }
    }
}

fn board(ctx: &Ctx<'_>) -> Markup {
    let incident = ctx.room.incident;
    html! {
        section #board aria-labelledby="board-title" {
            h2 #board-title { "Steps" }
            p.hint { (incident.playbook.title) ". Steps run in parallel unless a gate says otherwise." }
            ol.board {
                @for step in &incident.playbook.steps {
                    @let state = incident.steps.get(&step.id);
                    @let status = state.map_or(StepStatus::Pending, |s| s.status);
                    @let validated = state.is_some_and(|s| s.validated);
                    @let blocks = incident.blocking_gates(step.id);
                    @let n = step.id.0;
                    li class={ "step state-" (status.as_str().replace(' ', "-")) } id={ "step-" (n) } aria-labelledby={ "step-" (n) "-title" } {
                        div.step-head {
                            h3 id={ "step-" (n) "-title" } { span.num { (n) } " " (step.title) }
                            span.badge data-status=(status.as_str()) { (status.as_str()) @if validated { ", validated" } }
                            @if step.conditional { span.tag { "only if necessary" } }
                            @if let Some(who) = &step.delegated_to { span.tag { "delegated to " (who) } }
                        }
                        p.desc { (step.description) }
                        @if let Some(change) = state.and_then(|s| s.last_change.as_ref()) {
                            p.last { "Last change by " strong { (change.by.as_str()) } ", " (time(change.at))
                                @if !change.reason.is_empty() { ": “" (change.reason) "”" } }
                        }
                        @for block in &blocks {
                            div.gate role="note" {
                                p { strong { "Waits for: " } (block.missing.join(", ")) }
                                p.hint { "Gate “" (block.gate_title) "”."
                                    @if let Some(decision) = &block.waived_by {
                                        @let title = incident.playbook.decision(decision).map_or(decision.as_str(), |d| d.title.as_str());
                                        " Recording the decision “" (title) "” lifts it."
                                    }
                                }
                                @if ctx.acts {
                                    @match incident.commander() {
                                        Some(commander) if commander == &ctx.room.user.principal.user.name => {
                                            (override_form(ctx, n, &block.gate, &block.gate_title))
                                        }
                                        Some(commander) => p.hint { "The Incident Commander (" (commander.as_str()) ") may override this gate with a reason." },
                                        None => p.hint { "Once an Incident Commander is assigned, they may override this gate with a reason." },
                                    }
                                }
                            }
                        }
                        @if ctx.acts {
                            div.actions {
                                @if status == StepStatus::Pending {
                                    (ctx.event_form("step_started", n, html! {}, html! { button type="submit" { "Start step " (n) } }))
                                }
                                @if matches!(status, StepStatus::Pending | StepStatus::InProgress) {
                                    (ctx.event_form("step_completed", n, html! {
                                        label for={ "note-" (n) } { "Note (optional)" }
                                        input id={ "note-" (n) } type="text" name="note";
                                    }, html! { button.primary type="submit" { "Mark step " (n) " done" } }))
                                }
                                @if status == StepStatus::Done && !validated && ctx.commands {
                                    (ctx.event_form("step_validated", n, html! {
                                        label for={ "validate-note-" (n) } { "Validation note (optional)" }
                                        input id={ "validate-note-" (n) } type="text" name="note";
                                    }, html! { button type="submit" { "Validate the findings of step " (n) } }))
                                }
                                @if step.conditional && !status.is_settled() {
                                    (ctx.event_form("step_skipped", n, html! {
                                        label for={ "skip-" (n) } { "Why it is not needed" }
                                        input id={ "skip-" (n) } type="text" name="reason" required;
                                    }, html! { button type="submit" { "Not needed: skip step " (n) } }))
                                }
                            }
                            details.more {
                                summary { "More for step " (n) }
                                @if !status.is_settled() {
                                    (ctx.event_form("step_not_applicable", n, html! {
                                        label for={ "na-" (n) } { "Why it does not apply" }
                                        input id={ "na-" (n) } type="text" name="reason" required;
                                    }, html! { button type="submit" { "Mark step " (n) " not applicable" } }))
                                }
                                @if status.is_settled() && ctx.commands {
                                    (ctx.event_form("step_reopened", n, html! {
                                        label for={ "reopen-" (n) } { "Why it must be reopened" }
                                        input id={ "reopen-" (n) } type="text" name="reason" required;
                                    }, html! { button type="submit" { "Reopen step " (n) } }))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn override_form(ctx: &Ctx<'_>, step: u32, gate: &str, gate_title: &str) -> Markup {
    let id = format!("override-{step}-{gate}");
    html! {
        form.action.override method="post" action=(ctx.action) {
            (csrf(ctx.room.user))
            input type="hidden" name="type" value="gate_overridden";
            input type="hidden" name="step" value=(step);
            input type="hidden" name="gate" value=(gate);
            label for=(id) { "Reason to override “" (gate_title) "”" }
            textarea id=(id) name="reason" rows="2" required {}
            button.danger type="submit" { "Override the gate on step " (step) }
        }
    }
}

fn people(ctx: &Ctx<'_>) -> Markup {
    let incident = ctx.room.incident;
    let action = &ctx.action;
    let user = ctx.room.user;
    let roles_of = |person: &Person| -> String {
        incident.roles.get(person).map_or_else(String::new, |roles| {
            roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
        })
    };
    html! {
        section #people aria-labelledby="people-title" {
            h2 #people-title { "People" }
            div.table-wrap {
                table {
                    caption.visually-hidden { "Members and their roles" }
                    thead { tr { th scope="col" { "Person" } th scope="col" { "Roles" } th scope="col" { "State" } } }
                    tbody {
                        @for person in &incident.members {
                            tr {
                                th scope="row" { (person.as_str()) }
                                td { (roles_of(person)) }
                                td { @if let Some(why) = incident.excluded.get(person) {
                                    "excluded by " (why.by.as_str()) ": “" (why.reason) "”"
                                } @else { "member" } }
                            }
                        }
                        @for (person, why) in incident.excluded.iter().filter(|(p, _)| !incident.members.contains(*p)) {
                            tr {
                                th scope="row" { (person.as_str()) }
                                td {}
                                td { "excluded by " (why.by.as_str()) ": “" (why.reason) "”" }
                            }
                        }
                    }
                }
            }
            @if ctx.commands {
                div.forms {
                    form.card method="post" action=(action) {
                        (csrf(user))
                        input type="hidden" name="type" value="member_added";
                        div.field {
                            label for="add-person" { "Add a member" }
                            input #add-person type="text" name="person" required;
                        }
                        button type="submit" { "Add member" }
                    }
                    form.card method="post" action=(action) {
                        (csrf(user))
                        input type="hidden" name="type" value="role_assigned";
                        div.field {
                            label for="role-person" { "Person" }
                            input #role-person type="text" name="person" required;
                        }
                        div.field {
                            label for="role-role" { "Role" }
                            select #role-role name="role" {
                                @for role in Role::ALL { option value=(role.as_str()) { (role.as_str()) } }
                            }
                        }
                        p.hint { "Assigning a role also makes the person a member." }
                        button type="submit" { "Assign role" }
                    }
                    form.card method="post" action=(action) {
                        (csrf(user))
                        input type="hidden" name="type" value="member_excluded";
                        div.field {
                            label for="exclude-person" { "Exclude a person (suspected insider)" }
                            input #exclude-person type="text" name="person" required;
                        }
                        div.field {
                            label for="exclude-reason" { "Reason" }
                            input #exclude-reason type="text" name="reason" required;
                        }
                        button.danger type="submit" { "Exclude" }
                    }
                    @if !incident.roles.is_empty() {
                        form.card method="post" action=(action) {
                            (csrf(user))
                            input type="hidden" name="type" value="role_revoked";
                            div.field {
                                label for="revoke-holding" { "Revoke a role" }
                                select #revoke-holding name="holding" {
                                    @for (person, roles) in &incident.roles {
                                        @for role in roles {
                                            option value={ (person.as_str()) " " (role.as_str()) } { (person.as_str()) ": " (role.as_str()) }
                                        }
                                    }
                                }
                            }
                            button type="submit" { "Revoke role" }
                        }
                    }
                    @if !incident.members.is_empty() {
                        form.card method="post" action=(action) {
                            (csrf(user))
                            input type="hidden" name="type" value="member_removed";
                            div.field {
                                label for="remove-person" { "Remove a member" }
                                select #remove-person name="person" {
                                    @for person in &incident.members { option value=(person.as_str()) { (person.as_str()) } }
                                }
                            }
                            div.field {
                                label for="remove-reason" { "Reason" }
                                input #remove-reason type="text" name="reason" required;
                            }
                            button type="submit" { "Remove member" }
                        }
                    }
                    @if !incident.excluded.is_empty() {
                        form.card method="post" action=(action) {
                            (csrf(user))
                            input type="hidden" name="type" value="member_reinstated";
                            div.field {
                                label for="reinstate-person" { "Reinstate" }
                                select #reinstate-person name="person" {
                                    @for person in incident.excluded.keys() { option value=(person.as_str()) { (person.as_str()) } }
                                }
                            }
                            div.field {
                                label for="reinstate-reason" { "Reason" }
                                input #reinstate-reason type="text" name="reason" required;
                            }
                            button type="submit" { "Reinstate" }
                        }
                    }
                }
            }
        }
    }
}

fn decisions(ctx: &Ctx<'_>) -> Markup {
    let incident = ctx.room.incident;
    let user = ctx.room.user;
    let open: Vec<_> = incident
        .playbook
        .decisions
        .iter()
        .filter(|d| !incident.decisions.contains_key(&d.id))
        .collect();
    html! {
        section #decisions aria-labelledby="decisions-title" {
            h2 #decisions-title { "Decisions and status" }
            @if incident.decisions.is_empty() && incident.overrides.is_empty() {
                p { "No decisions or gate overrides recorded." }
            }
            ul.records {
                @for (id, why) in &incident.decisions {
                    @let title = incident.playbook.decision(id).map_or(id.as_str(), |d| d.title.as_str());
                    li { "Decision “" (title) "” by " strong { (why.by.as_str()) } ", " (time(why.at)) ": “" (why.reason) "”" }
                }
                @for o in &incident.overrides {
                    li { "Gate " code { (o.gate) } " on step " (o.step.0) " overridden by " strong { (o.by.as_str()) } ", " (time(o.at)) ": “" (o.reason) "”" }
                }
            }
            @if ctx.commands {
                div.forms {
                    @if !open.is_empty() {
                        form.card method="post" action=(ctx.action) {
                            (csrf(user))
                            input type="hidden" name="type" value="decision_recorded";
                            div.field {
                                label for="decision" { "Record a decision" }
                                select #decision name="decision" {
                                    @for d in &open { option value=(d.id) { (d.title) } }
                                }
                            }
                            div.field {
                                label for="decision-reason" { "Reason" }
                                input #decision-reason type="text" name="reason" required;
                            }
                            button type="submit" { "Record decision" }
                        }
                    }
                    form.card method="post" action=(ctx.action) {
                        (csrf(user))
                        input type="hidden" name="type" value="status_changed";
                        div.field {
                            label for="status-new" { "Move status forward" }
                            select #status-new name="status" {
                                @for s in Status::ALL.iter().filter(|s| **s > incident.status) { option value=(s.as_str()) { (s.as_str()) } }
                            }
                        }
                        div.field {
                            label for="status-reason" { "Reason" }
                            input #status-reason type="text" name="reason" required;
                        }
                        button type="submit" { "Change status" }
                    }
                    form.card method="post" action=(ctx.action) {
                        (csrf(user))
                        input type="hidden" name="type" value="severity_changed";
                        div.field {
                            label for="severity-new" { "Severity" }
                            select #severity-new name="severity" {
                                @for s in Severity::ALL { option value=(s.as_str()) selected[*s == incident.severity] { (view::severity_label(*s)) } }
                            }
                        }
                        div.field {
                            label for="severity-reason" { "Reason" }
                            input #severity-reason type="text" name="reason" required;
                        }
                        button type="submit" { "Change severity" }
                    }
                }
            }
        }
    }
}

fn evidence(ctx: &Ctx<'_>) -> Markup {
    let incident = ctx.room.incident;
    let id = incident.id.as_str();
    html! {
        section #evidence aria-labelledby="evidence-title" {
            h2 #evidence-title { "Evidence" }
            @for alarm in &incident.integrity_alarms {
                div.alert role="alert" {
                    p { strong { "Integrity alarm: " } (alarm.reason) " (" (alarm.by.as_str()) ", " (time(alarm.at)) ")" }
                }
            }
            @if let Some(link) = ctx.room.issued_share {
                div.notice #issued-share role="status" {
                    p { strong { "Share link for " (link.recipient) ", shown only this once: " } }
                    p { code.share-link { (link.url) } }
                    p { "It works once and expires " (time(link.expires_at)) ". Copy it now and send it over a channel you trust." }
                }
            }
            @if incident.evidence.is_empty() {
                p { "No evidence collected yet." }
            } @else {
                table.evidence {
                    caption { "Items, stored read-only under their SHA-256; every download is re-verified and journaled. Cordon deletes nothing; retention and legal holds tell a disposal process what it must keep." }
                    thead { tr { th scope="col" { "Name" } th scope="col" { "TLP" } th scope="col" { "Size" } th scope="col" { "Source" } th scope="col" { "Collected" } th scope="col" { "Retention" } th scope="col" { "SHA-256" } } }
                    tbody {
                        @for item in &incident.evidence {
                            @let record = &item.record;
                            tr {
                                td { a href={ "/api/v1/incidents/" (id) "/evidence/" (record.sha256) "?purpose=web%20download" } { (record.name) } }
                                td { (record.tlp) }
                                td { (record.size) " bytes" }
                                td { (record.source) }
                                td { (record.collected_by.as_str()) ", " (time(record.collected_at)) }
                                td.retention { (retention(item, ctx.room.now)) }
                                td { code title=(record.sha256) { (record.sha256.get(..16).unwrap_or(&record.sha256)) "…" } }
                            }
                        }
                    }
                }
                @if ctx.keeps {
                    @for item in &incident.evidence {
                        (item_forms(ctx, item))
                    }
                }
            }
            @if ctx.acts {
                form.stack method="post" action={ "/incidents/" (id) "/evidence" } enctype="multipart/form-data" {
                    // The token comes first: the server checks it before it stores a byte.
                    (csrf(ctx.room.user))
                    label for="evidence-source" { "Where was it taken from?" }
                    input #evidence-source type="text" name="source" required placeholder="host db-3, /dev/xvda1";
                    label for="evidence-tlp" { "TLP marking" }
                    select #evidence-tlp name="tlp" {
                        @for label in cordon_domain::TLP_LABELS {
                            option value=(label) selected[*label == "TLP:AMBER+STRICT"] { (label) }
                        }
                    }
                    label for="evidence-file" { "File (disk or memory image, logs, screenshot)" }
                    input #evidence-file type="file" name="file" required;
                    button.primary type="submit" { "Upload evidence" }
                }
            }
        }
    }
}

/// The alerts behind the incident and every page they caused: who, which level, when.
fn alerts(alerts: &[AlertView]) -> Markup {
    html! {
        section #alerts aria-labelledby="alerts-title" {
            h2 #alerts-title { "Alerts and pages" }
            @if alerts.is_empty() {
                p { "Declared by hand: no alert opened this incident." }
            }
            @for view in alerts {
                article.alert-item {
                    h3 { a href={ "/alerts/" (view.alert.id) } { (view.alert.summary) } }
                    p {
                        (view.alert.service) " · " (view.alert.severity) " · " (view.alert.status)
                        " · received " (time(view.alert.received_at))
                        @if view.alert.event_count > 1 { " · " (view.alert.event_count) " events" }
                    }
                    (crate::web::alerts::pages_table(&view.pages))
                }
            }
        }
    }
}

/// An item's retention in words: a legal hold outranks a retention period.
fn retention(item: &EvidenceState, now: Timestamp) -> Markup {
    html! {
        @if let Some(hold) = &item.legal_hold {
            strong { "Legal hold" } " since " (time(hold.at)) " by " (hold.by.as_str()) ": “" (hold.reason) "”"
            @if let Some(period) = &item.retention { br; "Then kept until " (time(period.until)) }
        } @else if let Some(period) = item.retention.as_ref().filter(|period| now < period.until) {
            "Kept until " (time(period.until)) ": “" (period.reason) "”"
        } @else {
            "Standard"
        }
    }
}

/// Per item: the share form (never for TLP:RED) and, for the commander or legal counsel, the
/// retention and legal-hold forms. The domain decides again when the form arrives.
fn item_forms(ctx: &Ctx<'_>, item: &EvidenceState) -> Markup {
    let incident = ctx.room.incident;
    let record = &item.record;
    let me = &ctx.room.user.principal.user.name;
    let roles = incident.roles.get(me);
    let holds = |role: Role| roles.is_some_and(|roles| roles.contains(&role));
    let decides = holds(Role::IncidentCommander) || holds(Role::LegalCounsel);
    let shareable = ctx.acts && record.tlp.parse::<Tlp>().is_ok_and(Tlp::may_share_outside_members);
    let protects = decides || incident.commander().is_none();
    let key = record.sha256.get(..12).unwrap_or(&record.sha256);
    let user = ctx.room.user;
    html! {
        details.item-actions id={ "evidence-" (key) } {
            summary { "Share or retain " (record.name) }
            div.forms {
                @if shareable {
                    form.card method="post" action={ "/incidents/" (incident.id.as_str()) "/evidence/" (record.sha256) "/share" } {
                        (csrf(user))
                        div.field {
                            label for={ "share-recipient-" (key) } { "Share with (recipient)" }
                            input id={ "share-recipient-" (key) } type="text" name="recipient" required placeholder="J. Doe, Outside Forensics Ltd";
                        }
                        div.field {
                            label for={ "share-purpose-" (key) } { "Purpose" }
                            input id={ "share-purpose-" (key) } type="text" name="purpose" required;
                        }
                        div.field {
                            label for={ "share-hours-" (key) } { "Valid for (hours)" }
                            input id={ "share-hours-" (key) } type="number" name="valid_for_hours" min="1" max="720" value="72";
                        }
                        button type="submit" { "Create a one-time share link" }
                    }
                } @else if ctx.acts {
                    p.hint { (record.tlp) " items are never shared outside the incident's members." }
                }
                @if protects {
                    form.card method="post" action=(ctx.action) {
                        (csrf(user))
                        input type="hidden" name="type" value="evidence_retention_set";
                        input type="hidden" name="sha256" value=(record.sha256);
                        div.field {
                            label for={ "retain-until-" (key) } { "Keep at least until" }
                            input id={ "retain-until-" (key) } type="date" name="until" required;
                        }
                        div.field {
                            label for={ "retain-reason-" (key) } { "Reason" }
                            input id={ "retain-reason-" (key) } type="text" name="reason" required;
                        }
                        button type="submit" { "Set retention" }
                    }
                    @if item.legal_hold.is_none() {
                        (reason_form(ctx, "evidence_legal_hold_placed", &record.sha256, &format!("hold-reason-{key}"), "Matter (case number, order)", "Place legal hold"))
                    }
                }
                @if decides && item.legal_hold.is_some() {
                    (reason_form(ctx, "evidence_legal_hold_released", &record.sha256, &format!("release-reason-{key}"), "Why release the hold", "Release legal hold"))
                }
            }
        }
    }
}

/// A form that records one event about an evidence item whose only field is a reason.
fn reason_form(ctx: &Ctx<'_>, event: &str, sha256: &str, field: &str, label: &str, button: &str) -> Markup {
    html! {
        form.card method="post" action=(ctx.action) {
            (csrf(ctx.room.user))
            input type="hidden" name="type" value=(event);
            input type="hidden" name="sha256" value=(sha256);
            div.field {
                label for=(field) { (label) }
                input id=(field) type="text" name="reason" required;
            }
            button type="submit" { (button) }
        }
    }
}

fn journal(ctx: &Ctx<'_>) -> Markup {
    let room = ctx.room;
    html! {
        section #journal aria-labelledby="journal-title" {
            h2 #journal-title { "Journal" }
            @match room.chain_break {
                None => p.verdict.ok #chain-state role="status" {
                    strong { "Hash chain verified." } " All " (room.journal.len()) " entries are linked and unchanged."
                },
                Some(chain_break) => div.verdict.failed #chain-state role="alert" {
                    p { strong { "Hash chain broken: " } (chain_break.to_string()) }
                },
            }
            ol.timeline reversed {
                @for line in room.journal.iter().rev() {
                    @let recorded = &line.recorded;
                    li {
                        (time(recorded.at)) " "
                        strong { (recorded.actor.as_str()) } " " (recorded.event.summary())
                        @if let Some(reason) = recorded.event.reason() { span.reason { ": “" (reason) "”" } }
                        " " span.seq title={ "entry " (recorded.seq) ", hash " (line.hash.to_hex()) } { "#" (recorded.seq) }
                    }
                }
            }
        }
    }
}
