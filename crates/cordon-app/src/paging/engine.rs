//! The background pipeline: process intake, open incidents, escalate, dispatch. Every stage
//! reads its work from the store and writes its result back before the next stage sees it, so
//! a process killed at any point resumes where it stopped, and several processes sharing a
//! PostgreSQL database never do the same step twice (see `cordon_store::PagingStore`).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cordon_domain::{Event, IncidentId, Kind, Person, Severity, Timestamp};
use cordon_intake::pagerduty::{Action, Severity as AlertSeverity};
use cordon_intake::{Outcome, Signal, route};
use cordon_notify::{Channel, Disclosure, LinkAction, LinkClaim, LinkSigner, Notifier, Page, SendError};
use cordon_oncall::escalation::Step;
use cordon_store::{
    Advance, AlertRow, ContactRow, Delivery, Due, Effect, EscalationRow, IntakeRow, Joined, NewNotification,
    NotificationRow, Store,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::{Directory, Paging, PagingError, PagingService, SECURITY_POLICY, SYSTEM_ACTOR};
use crate::{AppError, DeclareRequest, now};

/// How often each stage looks for work it was not woken for (another node's, or after a
/// restart). Within one process stages wake each other at once.
const POLL: Duration = Duration::from_millis(500);

/// Events processed per transaction: small enough that other writers of the same database
/// (escalation, dispatch, people acting in the API) never wait long behind one.
const PROCESS_BATCH: u32 = 250;

/// Escalation steps paged per transaction.
const ESCALATION_BATCH: u32 = 500;

/// How long a sender holds a claimed notification before another may retry it.
const LEASE_MILLIS: i64 = 60_000;

/// Per-person throttle: at most this many messages in [`THROTTLE_WINDOW_MILLIS`]; pages beyond
/// it wait and go out together as one bundled message.
const THROTTLE_MESSAGES: u64 = 3;
const THROTTLE_WINDOW_MILLIS: i64 = 60_000;

/// Attempts before a notification is given up as failed.
const MAX_ATTEMPTS: u32 = 12;

/// How long acknowledge and resolve links in a notification work.
const LINK_LIFETIME_MILLIS: i64 = 24 * 3_600_000;

/// The running pipeline: four tasks and the writer.
pub struct Engine {
    tasks: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Stops every stage. Work in flight is either committed or left for the next start.
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Runs `work` whenever `woken_by` fires, and every [`POLL`] regardless; when it did something,
/// wakes the next stage and runs again at once, since a full batch usually means more is
/// queued. A failure is logged and the work tried again at the next turn: every stage's input
/// is still in the database.
fn stage<F, Fut>(name: &'static str, woken_by: Arc<Notify>, next: Option<Arc<Notify>>, mut work: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<u32, PagingError>> + Send,
{
    tokio::spawn(async move {
        let mut more = false;
        loop {
            if more {
                tokio::task::yield_now().await;
            } else {
                tokio::select! {
                    () = woken_by.notified() => {}
                    () = tokio::time::sleep(POLL) => {}
                }
            }
            more = match work().await {
                Ok(0) => false,
                Ok(_) => {
                    if let Some(next) = &next {
                        next.notify_one();
                    }
                    true
                }
                Err(err) => {
                    tracing::error!(error = %err, stage = name, "paging stage failed; it runs again shortly");
                    false
                }
            };
        }
    })
}

impl<S: Store> Paging<S> {
    /// The key that signs acknowledge and resolve links, shared by every node through the
    /// database. Read (or created) on first use, then kept: the key never changes.
    pub async fn link_signer(&self) -> Result<LinkSigner, PagingError> {
        let signer = self
            .signer
            .get_or_try_init(|| async {
                let fresh = super::random_hex(32)?;
                let stored = self.store().setting_or_insert("link-key", &fresh).await?;
                let mut key = [0u8; 32];
                hex::decode_to_slice(&stored, &mut key)
                    .map_err(|_| PagingError::Stored("the link key is not 32 bytes of hex".into()))?;
                Ok::<_, PagingError>(LinkSigner::new(key))
            })
            .await?;
        Ok(signer.clone())
    }

    /// Starts the writer and the stages: processing (with incident opening), escalation and
    /// dispatch, each woken by the one before it.
    pub async fn start(&self, notifier: Notifier) -> Result<Engine, PagingError> {
        let signer = self.link_signer().await?;
        let escalate = Arc::new(Notify::new());
        let dispatch = Arc::new(Notify::new());
        let paging = self.clone();
        let processing = stage(
            "processing",
            Arc::clone(&self.intake.stored),
            Some(Arc::clone(&escalate)),
            move || {
                let paging = paging.clone();
                async move { Ok(paging.process_pending().await? + paging.open_incidents().await?) }
            },
        );
        let paging = self.clone();
        let escalation = stage("escalation", escalate, Some(Arc::clone(&dispatch)), move || {
            let paging = paging.clone();
            async move { paging.escalate_due(now()).await }
        });
        let paging = self.clone();
        let sending = stage("dispatch", dispatch, None, move || {
            let (paging, notifier, signer) = (paging.clone(), notifier.clone(), signer.clone());
            async move { paging.dispatch_due(&notifier, &signer, now()).await }
        });
        Ok(Engine {
            tasks: vec![self.start_writer(), processing, escalation, sending],
        })
    }

    async fn directory(&self) -> Result<Directory, PagingError> {
        Ok(Directory {
            policies: self
                .policies()
                .await?
                .into_iter()
                .map(|p| (p.name.clone(), p))
                .collect(),
            schedules: self.schedules().await?,
        })
    }

    /// Applies every pending intake event; returns how many.
    pub async fn process_pending(&self) -> Result<u32, PagingError> {
        // The stage polls; an idle poll costs one indexed query, not the routing set-up.
        if self.store().pending_intake(1).await?.is_empty() {
            return Ok(0);
        }
        let services: BTreeMap<String, PagingService> = self
            .services()
            .await?
            .into_iter()
            .map(|s| (s.spec.name.clone(), s))
            .collect();
        let policies: BTreeSet<String> = self.policies().await?.into_iter().map(|p| p.name).collect();
        let mut total = 0;
        loop {
            let now = now();
            let decide = |intake: &IntakeRow, open: Option<&AlertRow>, joined: Option<&Joined>| {
                decide(intake, open, joined, &services, &policies, now)
            };
            let processed = self.store().process_intake(PROCESS_BATCH, now, decide).await?;
            total += processed;
            if processed < PROCESS_BATCH {
                return Ok(total);
            }
        }
    }

    /// Declares the incidents new alerts asked for, under the ids processing chose, so that a
    /// crash between the two never declares one twice.
    pub async fn open_incidents(&self) -> Result<u32, PagingError> {
        let system = system_actor()?;
        let mut opened = 0;
        for alert in self.store().alerts_pending_incident(100).await? {
            let Some(id) = alert.incident_id.clone() else { continue };
            let id = IncidentId::new(id);
            if self.store().journal(&id).await?.is_empty() {
                let kind = if alert.outcome == "security" {
                    Kind::Security
                } else {
                    Kind::Operational
                };
                let title = if alert.summary.trim().is_empty() {
                    format!("alert from {}", alert.service)
                } else {
                    alert.summary.clone()
                };
                let request = DeclareRequest {
                    kind,
                    title,
                    severity: alert_severity(&alert.severity),
                    playbook: None,
                };
                match self.incidents().declare_as(&system, request, id.clone(), now()).await {
                    // Another node was quicker: the incident exists, which is all we need.
                    Ok(_) | Err(AppError::AlreadyDeclared { .. }) => {}
                    Err(AppError::Store(err)) => return Err(err.into()),
                    Err(err) => return Err(PagingError::Invalid(format!("cannot declare incident {id}: {err}"))),
                }
                tracing::info!(alert = %alert.id, incident = %id, kind = %kind, "alert opened an incident");
            }
            self.store().incident_opened(&alert.id).await?;
            opened += 1;
        }
        Ok(opened)
    }

    /// Pages every escalation step that is due; returns how many steps this process paged.
    pub async fn escalate_due(&self, now: Timestamp) -> Result<u32, PagingError> {
        let due = self.store().due_escalations(now, ESCALATION_BATCH).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let directory = self.directory().await?;
        let mut contacts = BTreeMap::new();
        let mut steps = Vec::with_capacity(due.len());
        for Due { timer, alert } in due {
            steps.push(
                self.escalation_step(timer, alert, &directory, &mut contacts, now)
                    .await?,
            );
        }
        // One transaction for every step of this turn: on SQLite each commit is a disk sync.
        let won = self.store().advance_escalations(&steps, now).await?;
        let mut paged = 0;
        for (step, won) in steps.iter().zip(won) {
            if won && !step.notifications.is_empty() {
                paged += 1;
                tracing::debug!(
                    alert = %step.from.alert_id,
                    level = step.from.level + 1,
                    round = step.from.round,
                    pages = step.notifications.len(),
                    "paged"
                );
            }
        }
        // Whom each step paged is in the outbox, shown on the alert and in the room; a storm
        // must not turn into a log line per alert.
        if paged > 0 {
            tracing::info!(steps = paged, "paged escalation steps");
        }
        Ok(paged)
    }

    /// The step a due timer pages: whom, saying what, and where the timer goes next.
    async fn escalation_step(
        &self,
        timer: EscalationRow,
        alert: AlertRow,
        directory: &Directory,
        contacts: &mut BTreeMap<String, Vec<ContactRow>>,
        now: Timestamp,
    ) -> Result<Advance, PagingError> {
        let Some(policy) = directory.policies.get(&timer.policy) else {
            tracing::warn!(alert = %alert.id, policy = %timer.policy, "escalation policy is gone; escalation ends");
            return Ok(Advance {
                from: timer,
                next: None,
                notifications: Vec::new(),
            });
        };
        let level = usize::try_from(timer.level).unwrap_or(usize::MAX);
        let people = policy
            .recipients(level, now, &directory.schedules)
            .map_err(|err| PagingError::Stored(err.to_string()))?;
        if people.is_empty() {
            tracing::warn!(alert = %alert.id, policy = %timer.policy, level = timer.level + 1, "nobody to page at this level");
        }
        let disclosure = self.disclosure(&alert, &people).await?;
        let page = serde_json::to_string(&disclosure).map_err(|err| PagingError::Stored(err.to_string()))?;
        let mut notifications = Vec::new();
        for person in &people {
            // Read once per person and turn: a storm pages the same people many times.
            let contacts = match contacts.entry(person.as_str().to_owned()) {
                std::collections::btree_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(self.store().contacts(Some(person.as_str())).await?)
                }
            };
            let new = |contact_id: Option<String>| NewNotification {
                alert_id: alert.id.clone(),
                incident_id: alert.incident_id.clone(),
                person: person.as_str().to_owned(),
                contact_id,
                round: timer.round,
                level: timer.level,
                page: page.clone(),
            };
            if contacts.is_empty() {
                notifications.push(new(None));
            }
            for contact in contacts.iter() {
                notifications.push(new(Some(contact.id.clone())));
            }
        }
        let last = Step {
            round: timer.round,
            level,
            due: timer.due_at,
        };
        let next = policy
            .next_step(timer.started_at, Some(last))
            .map(|step| (step.round, u32::try_from(step.level).unwrap_or(u32::MAX), step.due));
        Ok(Advance {
            from: timer,
            next,
            notifications,
        })
    }

    /// What the page about `alert` may say. For a security incident that is the codename,
    /// severity and a link, and the people paged are first made members, so that the link
    /// opens the incident for them and for nobody else.
    async fn disclosure(&self, alert: &AlertRow, people: &[Person]) -> Result<Disclosure, PagingError> {
        let base = self.public_url();
        let Some(incident_id) = &alert.incident_id else {
            return Ok(Disclosure::Operational {
                title: alert.summary.clone(),
                summary: alert.summary.clone(),
                service: Some(alert.service.clone()),
                severity: alert_severity(&alert.severity),
                source: Some(alert.source.clone()).filter(|s| !s.is_empty()),
                link: format!("{base}/alerts/{}", alert.id),
            });
        };
        let system = system_actor()?;
        let incident = self
            .incidents()
            .show(&system, incident_id)
            .await
            .map_err(|err| PagingError::Invalid(format!("incident {incident_id}: {err}")))?;
        match (incident.kind, incident.codename.clone()) {
            (Kind::Security, Some(codename)) => {
                for person in people.iter().filter(|p| !incident.is_member(p)) {
                    let added = self
                        .incidents()
                        .act(
                            &system,
                            incident_id,
                            Event::MemberAdded { person: person.clone() },
                            now(),
                        )
                        .await;
                    if let Err(err) = added {
                        // Paged anyway: the commander can let them in; the page says nothing.
                        tracing::warn!(incident = %incident_id, person = %person, error = %err, "could not add a paged person");
                    }
                }
                Ok(Disclosure::Security {
                    link: format!("{base}/incidents/{}", codename.as_str()),
                    codename,
                    severity: incident.severity,
                })
            }
            _ => Ok(Disclosure::Operational {
                title: incident.title.clone(),
                summary: alert.summary.clone(),
                service: Some(alert.service.clone()),
                severity: incident.severity,
                source: Some(alert.source.clone()).filter(|s| !s.is_empty()),
                link: format!("{base}/incidents/{incident_id}"),
            }),
        }
    }

    /// Sends what is due, one message per person and contact method: several pages for the
    /// same destination go out as one bundle, and a destination that got too many messages in
    /// the last minute waits, so that a storm arrives as a few bundles instead of hundreds of
    /// messages. Destinations are served concurrently, so one slow mail relay delays nobody
    /// else's webhook.
    pub async fn dispatch_due(
        &self,
        notifier: &Notifier,
        signer: &LinkSigner,
        now: Timestamp,
    ) -> Result<u32, PagingError> {
        let claimed = self.store().claim_notifications(now, 500, LEASE_MILLIS).await?;
        let mut groups: BTreeMap<(String, Option<String>), Vec<NotificationRow>> = BTreeMap::new();
        for row in claimed {
            groups
                .entry((row.new.person.clone(), row.new.contact_id.clone()))
                .or_default()
                .push(row);
        }
        let mut sends = tokio::task::JoinSet::new();
        for ((person, contact), rows) in groups {
            let (paging, notifier, signer) = (self.clone(), notifier.clone(), signer.clone());
            sends.spawn(async move {
                paging
                    .dispatch_group(&notifier, &signer, &person, contact.as_deref(), &rows, now)
                    .await
            });
        }
        let mut results = Vec::new();
        let mut sent = 0;
        while let Some(joined) = sends.join_next().await {
            let group = joined.map_err(|err| PagingError::Stored(format!("a sender task failed: {err}")))??;
            if group
                .iter()
                .any(|(_, delivery)| matches!(delivery, Delivery::Sent { .. }))
            {
                sent += 1;
            }
            results.extend(group);
        }
        // One transaction for every outcome of this turn: on SQLite each commit is a disk sync.
        self.store().finish_notifications(&results).await?;
        Ok(sent)
    }

    /// Sends one destination's pages as one message, or defers them, and says how each row
    /// ended.
    async fn dispatch_group(
        &self,
        notifier: &Notifier,
        signer: &LinkSigner,
        person: &str,
        contact: Option<&str>,
        rows: &[NotificationRow],
        now: Timestamp,
    ) -> Result<Vec<(i64, Delivery)>, PagingError> {
        let since = Timestamp::from_unix_millis(now.unix_millis() - THROTTLE_WINDOW_MILLIS);
        if self.store().sent_since(person, contact, since).await? >= THROTTLE_MESSAGES {
            let at = Timestamp::from_unix_millis(now.unix_millis() + THROTTLE_WINDOW_MILLIS / 3);
            return Ok(rows.iter().map(|row| (row.id, Delivery::Deferred { at })).collect());
        }
        let outcome = self.send_group(notifier, signer, person, contact, rows, now).await;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(index, row)| {
                let delivery = match (&outcome, index) {
                    (Ok(()), 0) => Delivery::Sent { at: now },
                    (Ok(()), _) => Delivery::Bundled {
                        at: now,
                        into: rows[0].id,
                    },
                    (Err(err), _) => failure(err, row.attempts, now),
                };
                (row.id, delivery)
            })
            .collect())
    }

    async fn send_group(
        &self,
        notifier: &Notifier,
        signer: &LinkSigner,
        person: &str,
        contact: Option<&str>,
        rows: &[NotificationRow],
        now: Timestamp,
    ) -> Result<(), SendError> {
        let permanent = |reason: &str| SendError::Permanent {
            reason: reason.to_owned(),
        };
        let contact = match contact {
            Some(id) => self.store().contact(id).await.map_err(|err| SendError::Transient {
                reason: err.to_string(),
                retry_after: None,
            })?,
            None => None,
        };
        let contact = contact.ok_or_else(|| permanent("the contact method was removed"))?;
        let channel: Channel =
            serde_json::from_str(&contact.channel).map_err(|_| permanent("the stored contact method is not valid"))?;
        let mut disclosures = Vec::new();
        for row in rows {
            let disclosure: Disclosure =
                serde_json::from_str(&row.new.page).map_err(|_| permanent("the stored page is not valid"))?;
            disclosures.push(disclosure);
        }
        let (first, bundled) = disclosures.split_first().ok_or_else(|| permanent("nothing to send"))?;
        // The links act on every alert listed; a bundle's tail beyond the listed ones is acted
        // on in Cordon.
        let alerts: Vec<&str> = rows
            .iter()
            .take(cordon_notify::page::MAX_LISTED)
            .map(|row| row.new.alert_id.as_str())
            .collect();
        let link = |action: LinkAction| {
            let claim = LinkClaim {
                action,
                alert: alerts.join(","),
                person: person.to_owned(),
                expires_at: Timestamp::from_unix_millis(now.unix_millis() + LINK_LIFETIME_MILLIS),
            };
            format!("{}/page/{}", self.public_url(), signer.sign(&claim))
        };
        let page = Page {
            disclosure: first.clone(),
            acknowledge_url: Some(link(LinkAction::Acknowledge)),
            resolve_url: Some(link(LinkAction::Resolve)),
            bundled: bundled.to_vec(),
        };
        let rendered = cordon_notify::render(&page);
        notifier.send(&channel, &rendered).await.map(|_| ())
    }

    /// Acknowledges or resolves the alerts a signed link names, as the person it was sent to.
    pub async fn follow_link(&self, claim: &LinkClaim, now: Timestamp) -> Result<Vec<AlertRow>, PagingError> {
        let status = match claim.action {
            LinkAction::Acknowledge => "acknowledged",
            LinkAction::Resolve => "resolved",
        };
        let mut changed = Vec::new();
        for alert in claim.alert.split(',').filter(|id| !id.is_empty()) {
            if let Some(row) = self.store().set_alert_status(alert, status, &claim.person, now).await? {
                changed.push(row);
            }
        }
        Ok(changed)
    }
}

/// What processing does with one intake event.
fn decide(
    intake: &IntakeRow,
    open: Option<&AlertRow>,
    joined: Option<&Joined>,
    services: &BTreeMap<String, PagingService>,
    policies: &BTreeSet<String>,
    now: Timestamp,
) -> Effect {
    let Ok(signal) = serde_json::from_str::<Signal>(&intake.event.signal) else {
        tracing::error!(seq = intake.seq, "stored intake event is not a signal; skipped");
        return Effect::Ignore;
    };
    match (signal.action, open) {
        (Action::Trigger, Some(_)) => Effect::Repeat,
        (Action::Acknowledge, Some(alert)) if alert.status == "triggered" => Effect::Acknowledge,
        (Action::Resolve, Some(_)) => Effect::Resolve,
        (Action::Trigger, None) => open_alert(intake, signal, joined, services, policies, now),
        _ => Effect::Ignore,
    }
}

fn open_alert(
    intake: &IntakeRow,
    signal: Signal,
    joined: Option<&Joined>,
    services: &BTreeMap<String, PagingService>,
    policies: &BTreeSet<String>,
    now: Timestamp,
) -> Effect {
    let service = services.get(&intake.event.service);
    let outcome = match service {
        Some(service) => route(&service.spec.rules, service.default_outcome(), &signal),
        None => Outcome::Alert,
    };
    let joined = joined.filter(|j| outcome != Outcome::Alert && j.outcome == outcome.as_str());
    let id = uuid::Uuid::new_v4().to_string();
    let (incident_id, pending) = match (outcome, joined) {
        (Outcome::Alert, _) => (None, false),
        (_, Some(joined)) => (Some(joined.incident_id.clone()), false),
        (_, None) => (Some(uuid::Uuid::new_v4().to_string()), true),
    };
    // A security outcome from an ordinary service pages the security on-call.
    let policy = match (outcome, service) {
        (Outcome::Security, Some(service)) if !service.spec.security && policies.contains(SECURITY_POLICY) => {
            Some(SECURITY_POLICY.to_owned())
        }
        (_, Some(service)) => service.spec.escalation_policy.clone(),
        (_, None) => None,
    };
    // An alert that joins an incident does not page again: the incident's first alert did.
    let escalation = policy.filter(|_| joined.is_none()).map(|policy| EscalationRow {
        alert_id: id.clone(),
        policy,
        started_at: now,
        round: 0,
        level: 0,
        due_at: now,
    });
    Effect::Open {
        alert: Box::new(AlertRow {
            id,
            service: intake.event.service.clone(),
            dedup_key: signal.dedup_key,
            status: "triggered".into(),
            outcome: outcome.as_str().into(),
            severity: signal.severity.as_str().into(),
            summary: signal.summary,
            source: signal.source,
            details: signal.details.to_string(),
            group_key: signal.group,
            incident_id,
            incident_pending: pending,
            event_count: 1,
            first_seq: intake.seq,
            received_at: intake.event.received_at,
            created_at: now,
            updated_at: now,
            acknowledged_by: None,
            acknowledged_at: None,
            resolved_by: None,
            resolved_at: None,
        }),
        escalation,
    }
}

fn alert_severity(word: &str) -> Severity {
    AlertSeverity::from_word(word).map_or(Severity::Sev3, super::incident_severity)
}

fn system_actor() -> Result<Person, PagingError> {
    Person::new(SYSTEM_ACTOR).map_err(|err| PagingError::Invalid(err.to_string()))
}

/// How a failed attempt is recorded: retried with back-off while it may still succeed.
fn failure(err: &SendError, attempts: u32, now: Timestamp) -> Delivery {
    if err.is_transient() && attempts < MAX_ATTEMPTS {
        let wait = err.retry_after().unwrap_or_else(|| cordon_notify::backoff(attempts));
        let millis = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        Delivery::Retry {
            at: Timestamp::from_unix_millis(now.unix_millis().saturating_add(millis)),
            error: err.to_string(),
        }
    } else {
        Delivery::Failed { error: err.to_string() }
    }
}
