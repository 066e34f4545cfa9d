//! Paging: services, integrations, escalation policies, schedules, contact methods, the durable
//! intake queue, alerts, escalation timers and the notification outbox, on both backends.
//!
//! The store keeps definitions as JSON text and never interprets them; the application parses
//! and checks them. What the store does guarantee is the concurrency: an intake event is
//! processed once, an escalation step pages once and a notification is claimed by one sender,
//! however many `cordon serve` processes share a PostgreSQL database.
//!
//! - Intake processing runs under a transaction-scoped advisory lock on PostgreSQL (one node
//!   processes at a time, in sequence order, so a resolve never overtakes its trigger).
//! - An escalation step advances with a compare-and-set on its (round, level), in the same
//!   transaction that inserts its notifications: the node that loses inserts nothing.
//! - A notification is claimed by a conditional update that sets a lease; a sender that dies
//!   lets the lease lapse and another node retries it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;

use cordon_domain::Timestamp;
use sqlx::Row;

use crate::StoreError;
use crate::backend::{PgStore, SqliteStore, corrupt, db, is_unique_violation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    pub name: String,
    pub description: String,
    pub escalation_policy: Option<String>,
    /// Security-sensitive: every alert opens (or joins) a security incident.
    pub security: bool,
    /// `alert`, `incident` or `security`: what an alert leads to when no rule matches.
    pub default_outcome: String,
    /// JSON array of routing rules.
    pub rules: String,
    pub created_at: Timestamp,
}

/// An intake endpoint bound to a service. `Debug` leaves out the HMAC secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IntegrationRow {
    pub id: String,
    pub service: String,
    /// `pagerduty`, `alertmanager` or `webhook`.
    pub kind: String,
    /// SHA-256 of the integration key; the key itself is shown once and never stored.
    pub key_digest: String,
    pub secret: Option<String>,
    /// JSON field mapping, for generic webhooks.
    pub mapping: Option<String>,
    pub rate_per_minute: u32,
    pub burst: u32,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for IntegrationRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationRow")
            .field("id", &self.id)
            .field("service", &self.service)
            .field("kind", &self.kind)
            .field("rate_per_minute", &self.rate_per_minute)
            .finish_non_exhaustive()
    }
}

/// A named JSON definition: an escalation policy or a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    pub definition: String,
    pub updated_at: Timestamp,
}

/// One way to reach a person. `Debug` leaves out the channel, which may hold a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub id: String,
    pub person: String,
    /// JSON channel (email address, webhook URL and secret, Slack URL).
    pub channel: String,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for ContactRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContactRow")
            .field("id", &self.id)
            .field("person", &self.person)
            .finish_non_exhaustive()
    }
}

/// An event accepted by an intake endpoint, about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntake {
    pub received_at: Timestamp,
    pub integration: String,
    pub service: String,
    /// `trigger`, `acknowledge` or `resolve`.
    pub action: String,
    pub dedup_key: String,
    /// Alerts of one group join the incident the first of them opened.
    pub group_key: Option<String>,
    /// The normalized event, JSON.
    pub signal: String,
}

/// A stored intake event, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeRow {
    pub seq: i64,
    pub event: NewIntake,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: String,
    pub service: String,
    pub dedup_key: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    /// `alert`, `incident` or `security`.
    pub outcome: String,
    pub severity: String,
    pub summary: String,
    pub source: String,
    /// JSON: everything else the sender said.
    pub details: String,
    pub group_key: Option<String>,
    pub incident_id: Option<String>,
    /// The incident is named but not declared yet.
    pub incident_pending: bool,
    pub event_count: u64,
    pub first_seq: i64,
    /// When the event that opened it was accepted.
    pub received_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// An escalation timer: the next step to page and when it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRow {
    pub alert_id: String,
    pub policy: String,
    pub started_at: Timestamp,
    pub round: u32,
    pub level: u32,
    pub due_at: Timestamp,
}

/// A due escalation timer and the alert it pages about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub timer: EscalationRow,
    pub alert: AlertRow,
}

/// One page for one person, about to be written to the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub alert_id: String,
    pub incident_id: Option<String>,
    pub person: String,
    /// `None` when the person has no contact method: recorded as failed, so the room shows it.
    pub contact_id: Option<String>,
    pub round: u32,
    pub level: u32,
    /// JSON: what the message may say.
    pub page: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub id: i64,
    pub new: NewNotification,
    /// `pending`, `sending`, `sent`, `failed`, `bundled` or `cancelled`.
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The incident an open alert of the same group belongs to, and what that alert led to
/// (`incident` or `security`): an alert joins only an incident of its own kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub incident_id: String,
    pub outcome: String,
}

/// What processing decided for one intake event, given the open alert with its dedup key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing to do (an acknowledge or resolve for no open alert, say).
    Ignore,
    /// A new alert, with its escalation timer when its service has a policy.
    Open {
        alert: Box<AlertRow>,
        escalation: Option<EscalationRow>,
    },
    /// Another trigger of the open alert.
    Repeat,
    Acknowledge,
    Resolve,
}

/// One escalation step to page: the timer as it was read, where it goes next (`None` ends it),
/// and the notifications it writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    pub from: EscalationRow,
    pub next: Option<(u32, u32, Timestamp)>,
    pub notifications: Vec<NewNotification>,
}

/// How one notification attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent {
        at: Timestamp,
    },
    /// Sent as part of another notification's message (a storm bundled into one).
    Bundled {
        at: Timestamp,
        into: i64,
    },
    Retry {
        at: Timestamp,
        error: String,
    },
    Failed {
        error: String,
    },
    /// Not sent now: the person was paged recently; retried at `at`, likely bundled.
    Deferred {
        at: Timestamp,
    },
}

pub trait PagingStore: Send + Sync {
    fn setting(&self, name: &str) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Stores `value` under `name` unless a value is there already; returns the stored value.
    fn setting_or_insert(&self, name: &str, value: &str) -> impl Future<Output = Result<String, StoreError>> + Send;

    /// Creates or replaces a service.
    fn put_service(&self, service: &ServiceRow) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn services(&self) -> impl Future<Output = Result<Vec<ServiceRow>, StoreError>> + Send;

    /// Fails with [`StoreError::Exists`] on a taken id or key.
    fn add_integration(&self, integration: &IntegrationRow) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn integrations(&self) -> impl Future<Output = Result<Vec<IntegrationRow>, StoreError>> + Send;
    fn remove_integration(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Creates or replaces an escalation policy (`table` = policies) or schedule.
    fn put_definition(
        &self,
        kind: DefinitionKind,
        definition: &Definition,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn definitions(&self, kind: DefinitionKind) -> impl Future<Output = Result<Vec<Definition>, StoreError>> + Send;

    fn add_contact(&self, contact: &ContactRow) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn contacts(&self, person: Option<&str>) -> impl Future<Output = Result<Vec<ContactRow>, StoreError>> + Send;
    fn contact(&self, id: &str) -> impl Future<Output = Result<Option<ContactRow>, StoreError>> + Send;
    fn remove_contact(&self, id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Stores a batch of accepted events in one transaction (one disk sync for all of them).
    fn insert_intake(&self, events: &[NewIntake]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Events not processed yet, oldest first.
    fn pending_intake(&self, limit: u32) -> impl Future<Output = Result<Vec<IntakeRow>, StoreError>> + Send;

    /// Processes up to `limit` pending events in order, in one transaction: for each, `decide`
    /// sees the event, the open alert with its dedup key, and the incident of an open alert of
    /// the same group, and returns the effect to apply. Returns how many were processed; 0 also
    /// when another node holds the processing lock.
    fn process_intake<F>(
        &self,
        limit: u32,
        now: Timestamp,
        decide: F,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send
    where
        F: FnMut(&IntakeRow, Option<&AlertRow>, Option<&Joined>) -> Effect + Send;

    fn alert(&self, id: &str) -> impl Future<Output = Result<Option<AlertRow>, StoreError>> + Send;

    /// Alerts, most recent first; `open_only` leaves out resolved ones.
    fn alerts(&self, open_only: bool, limit: u32) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;
    fn alerts_of_incident(&self, incident: &str) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;
    fn alerts_pending_incident(&self, limit: u32) -> impl Future<Output = Result<Vec<AlertRow>, StoreError>> + Send;
    fn incident_opened(&self, alert: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Acknowledges (`acknowledged`) or resolves (`resolved`) an open alert by hand, stops its
    /// escalation and cancels its unsent notifications. `None` when no such open alert exists.
    fn set_alert_status(
        &self,
        id: &str,
        status: &str,
        by: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<Option<AlertRow>, StoreError>> + Send;

    /// Escalation timers due at `now` whose alert's incident (if any) exists already, each
    /// with its alert.
    fn due_escalations(&self, now: Timestamp, limit: u32) -> impl Future<Output = Result<Vec<Due>, StoreError>> + Send;

    /// Pages the steps named, each once, in one transaction: where a timer still stands at its
    /// `from`, writes its notifications and moves it to `next` (or ends it). For each step,
    /// `false` when another node did it.
    fn advance_escalations(
        &self,
        steps: &[Advance],
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<bool>, StoreError>> + Send;

    /// Claims up to `limit` due notifications for `lease_millis`: no other sender gets them
    /// until the lease lapses.
    fn claim_notifications(
        &self,
        now: Timestamp,
        limit: u32,
        lease_millis: i64,
    ) -> impl Future<Output = Result<Vec<NotificationRow>, StoreError>> + Send;

    /// How many messages were sent to `person` through `contact` since `since`.
    fn sent_since(
        &self,
        person: &str,
        contact: Option<&str>,
        since: Timestamp,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records how each attempt ended, in one transaction.
    fn finish_notifications(&self, results: &[(i64, Delivery)]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The outbox rows of an alert or of every alert of an incident, oldest first.
    fn notifications_of_incident(
        &self,
        incident: &str,
    ) -> impl Future<Output = Result<Vec<NotificationRow>, StoreError>> + Send;
    fn notifications_of_alert(
        &self,
        alert: &str,
    ) -> impl Future<Output = Result<Vec<NotificationRow>, StoreError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionKind {
    EscalationPolicy,
    Schedule,
}

fn millis(at: Option<i64>) -> Option<Timestamp> {
    at.map(Timestamp::from_unix_millis)
}

fn count(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(format!("{what} is out of range ({value})")))
}

const ALERT_COLUMNS: &str = "id, service, dedup_key, status, outcome, severity, summary, source, details, group_key, \
     incident_id, incident_pending, event_count, first_seq, received_at, created_at, updated_at, acknowledged_by, \
     acknowledged_at, resolved_by, resolved_at";

const NOTIFICATION_COLUMNS: &str = "id, alert_id, incident_id, person, contact_id, round, level, page, status, \
     attempts, next_attempt_at, created_at, sent_at, last_error";

/// Backend differences the shared SQL needs.
trait Exclusive {
    /// Starts a transaction that will write. SQLite must take its write lock at the start:
    /// a transaction that reads first and writes later fails at once (not after the busy
    /// timeout) when another connection committed in between.
    const BEGIN_WRITE: &'static str;

    /// Takes the cluster-wide intake processing lock for this transaction, if the backend has
    /// several writers; `false` when another node holds it.
    async fn processing_lock(conn: &mut Self) -> Result<bool, StoreError>;
}

impl Exclusive for sqlx::SqliteConnection {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    async fn processing_lock(_: &mut Self) -> Result<bool, StoreError> {
        // One process owns an SQLite file; its write lock already serializes transactions.
        Ok(true)
    }
}

impl Exclusive for sqlx::PgConnection {
    const BEGIN_WRITE: &'static str = "BEGIN";

    async fn processing_lock(conn: &mut Self) -> Result<bool, StoreError> {
        // An arbitrary constant naming "intake processing" among advisory locks.
        let row = sqlx::query("SELECT pg_try_advisory_xact_lock(7402716063) AS locked")
            .fetch_one(conn)
            .await
            .map_err(db("taking the intake processing lock"))?;
        row.try_get("locked").map_err(db("taking the intake processing lock"))
    }
}

/// One processing batch's view of the alerts it touches, so that each event sees the effect
/// of the events before it without a query per event, and its writes, which go out as a few
/// multi-row statements.
#[derive(Default)]
struct Batch {
    /// The open alert of each (service, dedup key) the batch names; `None`: none is open.
    open: HashMap<(String, String), Option<AlertRow>>,
    /// The incident of each (service, group key) the batch names; a missing entry is looked up.
    groups: HashMap<(String, String), Option<Joined>>,
    /// Written at the next flush.
    alerts: Vec<AlertRow>,
    timers: Vec<EscalationRow>,
    /// Repeated triggers per alert id.
    repeats: BTreeMap<String, i64>,
}

impl Batch {
    fn opened(&mut self, alert: AlertRow, escalation: Option<EscalationRow>) {
        if let (Some(group), Some(incident_id)) = (&alert.group_key, &alert.incident_id) {
            let known = self.groups.entry((alert.service.clone(), group.clone())).or_default();
            // The group's incident is its oldest open alert's: an earlier one keeps it.
            if known.is_none() {
                *known = Some(Joined {
                    incident_id: incident_id.clone(),
                    outcome: alert.outcome.clone(),
                });
            }
        }
        self.timers.extend(escalation);
        self.open
            .insert((alert.service.clone(), alert.dedup_key.clone()), Some(alert.clone()));
        self.alerts.push(alert);
    }

    fn repeated(&mut self, key: (String, String), id: &str, now: Timestamp) {
        *self.repeats.entry(id.to_owned()).or_default() += 1;
        if let Some(Some(open)) = self.open.get_mut(&key) {
            open.event_count += 1;
            open.updated_at = now;
        }
    }

    /// Mirrors what `close_alert` did to the stored alert.
    fn closed(&mut self, key: (String, String), mut alert: AlertRow, status: &str, by: String, now: Timestamp) {
        alert.updated_at = now;
        if status == "resolved" {
            if let Some(group) = &alert.group_key {
                self.groups.remove(&(alert.service.clone(), group.clone()));
            }
            self.open.insert(key, None);
        } else {
            alert.status = status.to_owned();
            alert.acknowledged_by = Some(by);
            alert.acknowledged_at = Some(now);
            self.open.insert(key, Some(alert));
        }
    }
}

const INTAKE_COLUMNS: &str = "seq, received_at, integration, service, action, dedup_key, group_key, signal";

fn intake_from<DB: sqlx::Database>(row: &DB::Row) -> Result<IntakeRow, StoreError>
where
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> Option<String>: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'c> &'c str: sqlx::ColumnIndex<DB::Row>,
{
    let read = || db("reading intake events");
    Ok(IntakeRow {
        seq: row.try_get("seq").map_err(read())?,
        event: NewIntake {
            received_at: Timestamp::from_unix_millis(row.try_get("received_at").map_err(read())?),
            integration: row.try_get("integration").map_err(read())?,
            service: row.try_get("service").map_err(read())?,
            action: row.try_get("action").map_err(read())?,
            dedup_key: row.try_get("dedup_key").map_err(read())?,
            group_key: row.try_get("group_key").map_err(read())?,
            signal: row.try_get("signal").map_err(read())?,
        },
    })
}

/// SQLite's intake queue lives in its own file; the main file records how far processing got.
impl SqliteStore {
    async fn processed_through(conn: &mut sqlx::SqliteConnection) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT last_seq FROM intake_progress WHERE id = 1")
            .fetch_one(conn)
            .await
            .map_err(db("reading intake progress"))?;
        row.try_get("last_seq").map_err(db("reading intake progress"))
    }

    async fn queued_after(&self, after: i64, limit: u32) -> Result<Vec<IntakeRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {INTAKE_COLUMNS} FROM intake_events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.intake_reader)
        .await
        .map_err(db("reading intake events"))?;
        rows.iter().map(intake_from::<sqlx::Sqlite>).collect()
    }

    async fn pending(&self, limit: u32) -> Result<Vec<IntakeRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db("reading intake progress"))?;
        let after = Self::processed_through(&mut conn).await?;
        self.queued_after(after, limit).await
    }

    /// The next events to process. The caller's transaction holds the main file's write lock,
    /// so the progress it reads cannot move until it commits.
    async fn pending_batch(&self, tx: &mut sqlx::SqliteConnection, limit: u32) -> Result<Vec<IntakeRow>, StoreError> {
        let after = Self::processed_through(tx).await?;
        self.queued_after(after, limit).await
    }

    async fn mark_processed(&self, tx: &mut sqlx::SqliteConnection, pending: &[IntakeRow]) -> Result<(), StoreError> {
        let Some(last) = pending.iter().map(|intake| intake.seq).max() else {
            return Ok(());
        };
        sqlx::query("UPDATE intake_progress SET last_seq = $1 WHERE id = 1")
            .bind(last)
            .execute(tx)
            .await
            .map_err(db("recording intake progress"))?;
        Ok(())
    }

    /// Makes the queue file agree with the main file when the store opens:
    /// - new events are numbered above what was processed, even if the queue file was lost;
    /// - events an older version queued in the main file and never processed move to the queue
    ///   (a crash in between processes them twice, which dedup keys make harmless; none is lost).
    pub(crate) async fn adopt_intake(&self) -> Result<(), StoreError> {
        let mut main = self.writer.acquire().await.map_err(db("reading intake progress"))?;
        let through = Self::processed_through(&mut main).await?;
        // Read first: a CLI opening the store beside a running server must not take the
        // queue's write lock when there is nothing to change.
        let numbered: Option<i64> = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'intake_events'")
            .fetch_optional(&self.intake_reader)
            .await
            .map_err(db("numbering the intake queue"))?;
        if numbered.unwrap_or(0) < through {
            let mut queue = self
                .intake_writer()
                .begin()
                .await
                .map_err(db("starting a transaction"))?;
            sqlx::query("DELETE FROM sqlite_sequence WHERE name = 'intake_events'")
                .execute(&mut *queue)
                .await
                .map_err(db("numbering the intake queue"))?;
            sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('intake_events', $1)")
                .bind(through)
                .execute(&mut *queue)
                .await
                .map_err(db("numbering the intake queue"))?;
            queue.commit().await.map_err(db("numbering the intake queue"))?;
        }
        let left = sqlx::query(&format!(
            "SELECT {INTAKE_COLUMNS} FROM intake_events WHERE NOT processed ORDER BY seq"
        ))
        .fetch_all(&mut *main)
        .await
        .map_err(db("reading the old intake queue"))?;
        if left.is_empty() {
            return Ok(());
        }
        let events: Vec<NewIntake> = left
            .iter()
            .map(|row| intake_from::<sqlx::Sqlite>(row).map(|intake| intake.event))
            .collect::<Result<_, _>>()?;
        self.insert_intake(&events).await?;
        sqlx::query("UPDATE intake_events SET processed = TRUE WHERE NOT processed")
            .execute(&mut *main)
            .await
            .map_err(db("emptying the old intake queue"))?;
        tracing::info!(
            events = events.len(),
            "moved unprocessed events to the intake queue file"
        );
        Ok(())
    }
}

/// PostgreSQL's intake queue is a table of the shared database, marked as it is processed.
impl PgStore {
    async fn pending(&self, limit: u32) -> Result<Vec<IntakeRow>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db("reading intake events"))?;
        self.pending_batch(&mut conn, limit).await
    }

    async fn pending_batch(&self, conn: &mut sqlx::PgConnection, limit: u32) -> Result<Vec<IntakeRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {INTAKE_COLUMNS} FROM intake_events WHERE NOT processed ORDER BY seq LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(conn)
        .await
        .map_err(db("reading intake events"))?;
        rows.iter().map(intake_from::<sqlx::Postgres>).collect()
    }

    /// The caller holds the processing lock, so no other node is processing these.
    async fn mark_processed(&self, tx: &mut sqlx::PgConnection, pending: &[IntakeRow]) -> Result<(), StoreError> {
        let seqs: Vec<i64> = pending.iter().map(|intake| intake.seq).collect();
        sqlx::query("UPDATE intake_events SET processed = TRUE WHERE seq = ANY($1)")
            .bind(seqs)
            .execute(tx)
            .await
            .map_err(db("marking intake events"))?;
        Ok(())
    }
}

macro_rules! impl_paging_store {
    ($store:ty, $db:ty) => {
        impl $store {
            fn alert_from(row: &<$db as sqlx::Database>::Row) -> Result<AlertRow, StoreError> {
                let read = || db("reading alerts");
                Ok(AlertRow {
                    id: row.try_get("id").map_err(read())?,
                    service: row.try_get("service").map_err(read())?,
                    dedup_key: row.try_get("dedup_key").map_err(read())?,
                    status: row.try_get("status").map_err(read())?,
                    outcome: row.try_get("outcome").map_err(read())?,
                    severity: row.try_get("severity").map_err(read())?,
                    summary: row.try_get("summary").map_err(read())?,
                    source: row.try_get("source").map_err(read())?,
                    details: row.try_get("details").map_err(read())?,
                    group_key: row.try_get("group_key").map_err(read())?,
                    incident_id: row.try_get("incident_id").map_err(read())?,
                    incident_pending: row.try_get("incident_pending").map_err(read())?,
                    event_count: crate::backend::to_u64(row.try_get("event_count").map_err(read())?, "event_count")?,
                    first_seq: row.try_get("first_seq").map_err(read())?,
                    received_at: Timestamp::from_unix_millis(row.try_get("received_at").map_err(read())?),
                    created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read())?),
                    updated_at: Timestamp::from_unix_millis(row.try_get("updated_at").map_err(read())?),
                    acknowledged_by: row.try_get("acknowledged_by").map_err(read())?,
                    acknowledged_at: millis(row.try_get("acknowledged_at").map_err(read())?),
                    resolved_by: row.try_get("resolved_by").map_err(read())?,
                    resolved_at: millis(row.try_get("resolved_at").map_err(read())?),
                })
            }

            fn notification_from(row: &<$db as sqlx::Database>::Row) -> Result<NotificationRow, StoreError> {
                let read = || db("reading notifications");
                Ok(NotificationRow {
                    id: row.try_get("id").map_err(read())?,
                    new: NewNotification {
                        alert_id: row.try_get("alert_id").map_err(read())?,
                        incident_id: row.try_get("incident_id").map_err(read())?,
                        person: row.try_get("person").map_err(read())?,
                        contact_id: row.try_get("contact_id").map_err(read())?,
                        round: count(row.try_get("round").map_err(read())?, "round")?,
                        level: count(row.try_get("level").map_err(read())?, "level")?,
                        page: row.try_get("page").map_err(read())?,
                    },
                    status: row.try_get("status").map_err(read())?,
                    attempts: count(row.try_get("attempts").map_err(read())?, "attempts")?,
                    next_attempt_at: Timestamp::from_unix_millis(row.try_get("next_attempt_at").map_err(read())?),
                    created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read())?),
                    sent_at: millis(row.try_get("sent_at").map_err(read())?),
                    last_error: row.try_get("last_error").map_err(read())?,
                })
            }

            fn contact_from(row: &<$db as sqlx::Database>::Row) -> Result<ContactRow, StoreError> {
                let read = || db("reading contact methods");
                Ok(ContactRow {
                    id: row.try_get("id").map_err(read())?,
                    person: row.try_get("person").map_err(read())?,
                    channel: row.try_get("channel").map_err(read())?,
                    created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read())?),
                })
            }

            fn escalation_from(row: &<$db as sqlx::Database>::Row) -> Result<EscalationRow, StoreError> {
                let read = || db("reading escalations");
                Ok(EscalationRow {
                    alert_id: row.try_get("alert_id").map_err(read())?,
                    policy: row.try_get("policy").map_err(read())?,
                    started_at: Timestamp::from_unix_millis(row.try_get("started_at").map_err(read())?),
                    round: count(row.try_get("round").map_err(read())?, "round")?,
                    level: count(row.try_get("level").map_err(read())?, "level")?,
                    due_at: Timestamp::from_unix_millis(row.try_get("due_at").map_err(read())?),
                })
            }

            /// Moves an open alert to `status`, ends its escalation and cancels what it has
            /// not sent yet. Returns whether the alert changed.
            async fn close_alert(
                tx: &mut <$db as sqlx::Database>::Connection,
                id: &str,
                status: &str,
                by: &str,
                at: Timestamp,
            ) -> Result<bool, StoreError> {
                let changed = if status == "acknowledged" {
                    sqlx::query(
                        "UPDATE alerts SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3, \
                         updated_at = $3 WHERE id = $1 AND status = 'triggered'",
                    )
                } else {
                    sqlx::query(
                        "UPDATE alerts SET status = 'resolved', resolved_by = $2, resolved_at = $3, updated_at = $3 \
                         WHERE id = $1 AND status <> 'resolved'",
                    )
                }
                .bind(id)
                .bind(by)
                .bind(at.unix_millis())
                .execute(&mut *tx)
                .await
                .map_err(db("changing an alert"))?
                .rows_affected()
                    == 1;
                if changed {
                    sqlx::query("UPDATE escalations SET done = TRUE WHERE alert_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db("stopping an escalation"))?;
                    sqlx::query(
                        "UPDATE notifications SET status = 'cancelled', last_error = $2 \
                         WHERE alert_id = $1 AND status = 'pending'",
                    )
                    .bind(id)
                    .bind(format!("alert {status} before this was sent"))
                    .execute(&mut *tx)
                    .await
                    .map_err(db("cancelling notifications"))?;
                }
                Ok(changed)
            }

            /// The open alert of every (service, dedup key) in `pending`; `None` where none is.
            async fn open_alerts(
                tx: &mut <$db as sqlx::Database>::Connection,
                pending: &[IntakeRow],
            ) -> Result<HashMap<(String, String), Option<AlertRow>>, StoreError> {
                let mut open: HashMap<(String, String), Option<AlertRow>> = pending
                    .iter()
                    .map(|intake| ((intake.event.service.clone(), intake.event.dedup_key.clone()), None))
                    .collect();
                // A join with the list, not `IN`: SQLite then searches the index once per pair
                // instead of scanning every open alert.
                let mut select = sqlx::QueryBuilder::<$db>::new(format!("SELECT {ALERT_COLUMNS} FROM ("));
                select.push_values(open.keys(), |mut pair, (service, dedup_key)| {
                    pair.push_bind(service.clone()).push_bind(dedup_key.clone());
                });
                select.push(
                    ") AS k JOIN alerts ON service = k.column1 AND dedup_key = k.column2 WHERE status <> 'resolved'",
                );
                let rows = select.build().fetch_all(&mut *tx).await.map_err(db("finding open alerts"))?;
                for row in &rows {
                    let alert = Self::alert_from(row)?;
                    open.insert((alert.service.clone(), alert.dedup_key.clone()), Some(alert));
                }
                Ok(open)
            }

            /// The incident of every (service, group key) in `pending`: that of the group's
            /// oldest open alert with one; `None` where there is none.
            async fn group_incidents(
                tx: &mut <$db as sqlx::Database>::Connection,
                pending: &[IntakeRow],
            ) -> Result<HashMap<(String, String), Option<Joined>>, StoreError> {
                let mut groups: HashMap<(String, String), Option<Joined>> = pending
                    .iter()
                    .filter_map(|intake| Some(((intake.event.service.clone(), intake.event.group_key.clone()?), None)))
                    .collect();
                if groups.is_empty() {
                    return Ok(groups);
                }
                let mut select = sqlx::QueryBuilder::<$db>::new("SELECT service, group_key, incident_id, outcome FROM (");
                select.push_values(groups.keys(), |mut pair, (service, group)| {
                    pair.push_bind(service.clone()).push_bind(group.clone());
                });
                select.push(
                    ") AS k JOIN alerts ON service = k.column1 AND group_key = k.column2 \
                     WHERE status <> 'resolved' AND incident_id IS NOT NULL ORDER BY created_at DESC",
                );
                let rows = select.build().fetch_all(&mut *tx).await.map_err(db("finding the groups' incidents"))?;
                // Newest first, so that the oldest is written last and stays.
                for row in &rows {
                    let read = || db("finding the groups' incidents");
                    let key = (row.try_get("service").map_err(read())?, row.try_get("group_key").map_err(read())?);
                    let joined = Joined {
                        incident_id: row.try_get("incident_id").map_err(read())?,
                        outcome: row.try_get("outcome").map_err(read())?,
                    };
                    groups.insert(key, Some(joined));
                }
                Ok(groups)
            }

            async fn group_incident(
                tx: &mut <$db as sqlx::Database>::Connection,
                service: &str,
                group: &str,
            ) -> Result<Option<Joined>, StoreError> {
                let read = || db("finding the group's incident");
                let row = sqlx::query(
                    "SELECT incident_id, outcome FROM alerts WHERE service = $1 AND group_key = $2 \
                     AND status <> 'resolved' AND incident_id IS NOT NULL ORDER BY created_at LIMIT 1",
                )
                .bind(service)
                .bind(group)
                .fetch_optional(&mut *tx)
                .await
                .map_err(read())?;
                row.map(|row| {
                    Ok(Joined {
                        incident_id: row.try_get("incident_id").map_err(read())?,
                        outcome: row.try_get("outcome").map_err(read())?,
                    })
                })
                .transpose()
            }

            /// Writes what the batch decided so far: new alerts and their timers, a few rows
            /// per statement, then repeat counts.
            async fn flush(
                tx: &mut <$db as sqlx::Database>::Connection,
                batch: &mut Batch,
                now: Timestamp,
            ) -> Result<(), StoreError> {
                // Each chunk stays far below both backends' limit on bound parameters.
                for chunk in batch.alerts.chunks(200) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO alerts (id, service, dedup_key, status, outcome, severity, summary, source, \
                         details, group_key, incident_id, incident_pending, event_count, first_seq, received_at, \
                         created_at, updated_at) ",
                    );
                    insert.push_values(chunk, |mut row, alert| {
                        row.push_bind(alert.id.clone())
                            .push_bind(alert.service.clone())
                            .push_bind(alert.dedup_key.clone())
                            .push_bind(alert.status.clone())
                            .push_bind(alert.outcome.clone())
                            .push_bind(alert.severity.clone())
                            .push_bind(alert.summary.clone())
                            .push_bind(alert.source.clone())
                            .push_bind(alert.details.clone())
                            .push_bind(alert.group_key.clone())
                            .push_bind(alert.incident_id.clone())
                            .push_bind(alert.incident_pending)
                            .push_bind(i64::try_from(alert.event_count).unwrap_or(i64::MAX))
                            .push_bind(alert.first_seq)
                            .push_bind(alert.received_at.unix_millis())
                            .push_bind(alert.created_at.unix_millis())
                            .push_bind(alert.updated_at.unix_millis());
                    });
                    insert.build().execute(&mut *tx).await.map_err(db("opening alerts"))?;
                }
                batch.alerts.clear();
                for chunk in batch.timers.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO escalations (alert_id, policy, started_at, round, level, due_at) ",
                    );
                    insert.push_values(chunk, |mut row, timer| {
                        row.push_bind(timer.alert_id.clone())
                            .push_bind(timer.policy.clone())
                            .push_bind(timer.started_at.unix_millis())
                            .push_bind(i64::from(timer.round))
                            .push_bind(i64::from(timer.level))
                            .push_bind(timer.due_at.unix_millis());
                    });
                    insert.build().execute(&mut *tx).await.map_err(db("starting escalations"))?;
                }
                batch.timers.clear();
                for (id, repeats) in std::mem::take(&mut batch.repeats) {
                    sqlx::query("UPDATE alerts SET event_count = event_count + $2, updated_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(repeats)
                        .bind(now.unix_millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(db("counting repeated triggers"))?;
                }
                Ok(())
            }

            /// The compare-and-set of [`PagingStore::advance_escalations`], a few hundred steps
            /// per statement: moves each timer that still stands at its step's `from`, and
            /// returns the alert ids of those that moved. On PostgreSQL a row another node
            /// changed first is checked again after its commit and no longer matches.
            async fn advance_timers(
                tx: &mut <$db as sqlx::Database>::Connection,
                steps: &[Advance],
            ) -> Result<HashSet<String>, StoreError> {
                let mut moved = HashSet::with_capacity(steps.len());
                for chunk in steps.chunks(500) {
                    let mut update = sqlx::QueryBuilder::<$db>::new(
                        "UPDATE escalations SET round = s.column5, level = s.column6, due_at = s.column7, \
                         done = s.column8 FROM (",
                    );
                    update.push_values(chunk, |mut row, step| {
                        let from = &step.from;
                        let (round, level, due, done) = match step.next {
                            Some((round, level, due)) => (round, level, due, false),
                            None => (from.round, from.level, from.due_at, true),
                        };
                        row.push_bind(from.alert_id.clone())
                            .push_bind(i64::from(from.round))
                            .push_bind(i64::from(from.level))
                            .push_bind(from.due_at.unix_millis())
                            .push_bind(i64::from(round))
                            .push_bind(i64::from(level))
                            .push_bind(due.unix_millis())
                            .push_bind(done);
                    });
                    update.push(
                        ") AS s WHERE escalations.alert_id = s.column1 AND NOT escalations.done \
                         AND escalations.round = s.column2 AND escalations.level = s.column3 \
                         AND escalations.due_at = s.column4 RETURNING escalations.alert_id",
                    );
                    let rows = update.build().fetch_all(&mut *tx).await.map_err(db("advancing escalations"))?;
                    for row in &rows {
                        moved.insert(row.try_get("alert_id").map_err(db("advancing escalations"))?);
                    }
                }
                Ok(moved)
            }

            /// Writes notifications to the outbox, a few hundred per statement. A page to
            /// nobody's contact method is recorded as failed at once.
            async fn insert_notifications(
                tx: &mut <$db as sqlx::Database>::Connection,
                pages: &[&NewNotification],
                now: Timestamp,
            ) -> Result<(), StoreError> {
                for chunk in pages.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO notifications (alert_id, incident_id, person, contact_id, round, level, page, \
                         status, next_attempt_at, created_at, last_error) ",
                    );
                    insert.push_values(chunk, |mut row, page| {
                        let (status, error) = match page.contact_id {
                            Some(_) => ("pending", None),
                            None => ("failed", Some("no contact method")),
                        };
                        row.push_bind(page.alert_id.clone())
                            .push_bind(page.incident_id.clone())
                            .push_bind(page.person.clone())
                            .push_bind(page.contact_id.clone())
                            .push_bind(i64::from(page.round))
                            .push_bind(i64::from(page.level))
                            .push_bind(page.page.clone())
                            .push_bind(status)
                            .push_bind(now.unix_millis())
                            .push_bind(now.unix_millis())
                            .push_bind(error);
                    });
                    insert.build().execute(&mut *tx).await.map_err(db("writing notifications"))?;
                }
                Ok(())
            }

            async fn definition_rows(&self, sql: &'static str) -> Result<Vec<Definition>, StoreError> {
                let rows = sqlx::query(sql)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading definitions"))?;
                rows.iter()
                    .map(|row| {
                        Ok(Definition {
                            name: row.try_get("name").map_err(db("reading definitions"))?,
                            definition: row.try_get("definition").map_err(db("reading definitions"))?,
                            updated_at: Timestamp::from_unix_millis(
                                row.try_get("updated_at").map_err(db("reading definitions"))?,
                            ),
                        })
                    })
                    .collect()
            }

            async fn notification_rows(&self, sql: String, key: &str) -> Result<Vec<NotificationRow>, StoreError> {
                let rows = sqlx::query(&sql)
                    .bind(key)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("reading notifications"))?;
                rows.iter().map(Self::notification_from).collect()
            }

            async fn alert_rows(&self, sql: String, key: Option<&str>, limit: i64) -> Result<Vec<AlertRow>, StoreError> {
                let query = sqlx::query(&sql);
                let query = match key {
                    Some(key) => query.bind(key.to_owned()),
                    None => query.bind(limit),
                };
                let rows = query.fetch_all(&self.pool).await.map_err(db("reading alerts"))?;
                rows.iter().map(Self::alert_from).collect()
            }
        }

        impl PagingStore for $store {
            async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
                let row = sqlx::query("SELECT value FROM paging_settings WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("reading a setting"))?;
                row.map(|row| row.try_get("value").map_err(db("reading a setting"))).transpose()
            }

            async fn setting_or_insert(&self, name: &str, value: &str) -> Result<String, StoreError> {
                sqlx::query("INSERT INTO paging_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
                    .bind(name)
                    .bind(value)
                    .execute(self.writer())
                    .await
                    .map_err(db("writing a setting"))?;
                self.setting(name)
                    .await?
                    .ok_or_else(|| corrupt(format!("setting {name} vanished after it was written")))
            }

            async fn put_service(&self, service: &ServiceRow) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO paging_services (name, description, escalation_policy, security, default_outcome, \
                     rules, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO UPDATE SET \
                     description = excluded.description, escalation_policy = excluded.escalation_policy, \
                     security = excluded.security, default_outcome = excluded.default_outcome, \
                     rules = excluded.rules",
                )
                .bind(&service.name)
                .bind(&service.description)
                .bind(&service.escalation_policy)
                .bind(service.security)
                .bind(&service.default_outcome)
                .bind(&service.rules)
                .bind(service.created_at.unix_millis())
                .execute(self.writer())
                .await
                .map_err(db("writing a service"))?;
                Ok(())
            }

            async fn services(&self) -> Result<Vec<ServiceRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT name, description, escalation_policy, security, default_outcome, rules, created_at \
                     FROM paging_services ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading services"))?;
                rows.iter()
                    .map(|row| {
                        let read = || db("reading services");
                        Ok(ServiceRow {
                            name: row.try_get("name").map_err(read())?,
                            description: row.try_get("description").map_err(read())?,
                            escalation_policy: row.try_get("escalation_policy").map_err(read())?,
                            security: row.try_get("security").map_err(read())?,
                            default_outcome: row.try_get("default_outcome").map_err(read())?,
                            rules: row.try_get("rules").map_err(read())?,
                            created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read())?),
                        })
                    })
                    .collect()
            }

            async fn add_integration(&self, integration: &IntegrationRow) -> Result<(), StoreError> {
                let result = sqlx::query(
                    "INSERT INTO integrations (id, service, kind, key_digest, secret, mapping, rate_per_minute, \
                     burst, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&integration.id)
                .bind(&integration.service)
                .bind(&integration.kind)
                .bind(&integration.key_digest)
                .bind(&integration.secret)
                .bind(&integration.mapping)
                .bind(i64::from(integration.rate_per_minute))
                .bind(i64::from(integration.burst))
                .bind(integration.created_at.unix_millis())
                .execute(self.writer())
                .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(err) if is_unique_violation(&err) => Err(StoreError::Exists {
                        what: format!("integration {}", integration.id),
                    }),
                    Err(err) => Err(db("adding an integration")(err)),
                }
            }

            async fn integrations(&self) -> Result<Vec<IntegrationRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, service, kind, key_digest, secret, mapping, rate_per_minute, burst, created_at \
                     FROM integrations ORDER BY service, id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading integrations"))?;
                rows.iter()
                    .map(|row| {
                        let read = || db("reading integrations");
                        Ok(IntegrationRow {
                            id: row.try_get("id").map_err(read())?,
                            service: row.try_get("service").map_err(read())?,
                            kind: row.try_get("kind").map_err(read())?,
                            key_digest: row.try_get("key_digest").map_err(read())?,
                            secret: row.try_get("secret").map_err(read())?,
                            mapping: row.try_get("mapping").map_err(read())?,
                            rate_per_minute: count(row.try_get("rate_per_minute").map_err(read())?, "rate")?,
                            burst: count(row.try_get("burst").map_err(read())?, "burst")?,
                            created_at: Timestamp::from_unix_millis(row.try_get("created_at").map_err(read())?),
                        })
                    })
                    .collect()
            }

            async fn remove_integration(&self, id: &str) -> Result<bool, StoreError> {
                let result = sqlx::query("DELETE FROM integrations WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(db("removing an integration"))?;
                Ok(result.rows_affected() == 1)
            }

            async fn put_definition(&self, kind: DefinitionKind, definition: &Definition) -> Result<(), StoreError> {
                let sql = match kind {
                    DefinitionKind::EscalationPolicy => {
                        "INSERT INTO escalation_policies (name, definition, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, \
                         updated_at = excluded.updated_at"
                    }
                    DefinitionKind::Schedule => {
                        "INSERT INTO schedules (name, definition, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, \
                         updated_at = excluded.updated_at"
                    }
                };
                sqlx::query(sql)
                    .bind(&definition.name)
                    .bind(&definition.definition)
                    .bind(definition.updated_at.unix_millis())
                    .execute(self.writer())
                    .await
                    .map_err(db("writing a definition"))?;
                Ok(())
            }

            async fn definitions(&self, kind: DefinitionKind) -> Result<Vec<Definition>, StoreError> {
                match kind {
                    DefinitionKind::EscalationPolicy => {
                        self.definition_rows(
                            "SELECT name, definition, updated_at FROM escalation_policies ORDER BY name",
                        )
                        .await
                    }
                    DefinitionKind::Schedule => {
                        self.definition_rows("SELECT name, definition, updated_at FROM schedules ORDER BY name")
                            .await
                    }
                }
            }

            async fn add_contact(&self, contact: &ContactRow) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO contact_methods (id, person, channel, created_at) VALUES ($1, $2, $3, $4)")
                    .bind(&contact.id)
                    .bind(&contact.person)
                    .bind(&contact.channel)
                    .bind(contact.created_at.unix_millis())
                    .execute(self.writer())
                    .await
                    .map_err(db("adding a contact method"))?;
                Ok(())
            }

            async fn contacts(&self, person: Option<&str>) -> Result<Vec<ContactRow>, StoreError> {
                let rows = sqlx::query(
                    "SELECT id, person, channel, created_at FROM contact_methods \
                     WHERE $1 IS NULL OR person = $1 ORDER BY person, created_at, id",
                )
                .bind(person)
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading contact methods"))?;
                rows.iter().map(Self::contact_from).collect()
            }

            async fn contact(&self, id: &str) -> Result<Option<ContactRow>, StoreError> {
                let row = sqlx::query("SELECT id, person, channel, created_at FROM contact_methods WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("reading a contact method"))?;
                row.as_ref().map(Self::contact_from).transpose()
            }

            async fn remove_contact(&self, id: &str) -> Result<bool, StoreError> {
                let result = sqlx::query("DELETE FROM contact_methods WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await
                    .map_err(db("removing a contact method"))?;
                Ok(result.rows_affected() == 1)
            }

            async fn insert_intake(&self, events: &[NewIntake]) -> Result<(), StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                let mut tx = self.intake_writer().begin().await.map_err(db("starting a transaction"))?;
                // Bounded batches keep each statement under the backends' parameter limits.
                for chunk in events.chunks(500) {
                    let mut insert = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO intake_events (received_at, integration, service, action, dedup_key, group_key, signal) ",
                    );
                    insert.push_values(chunk, |mut row, event| {
                        row.push_bind(event.received_at.unix_millis())
                            .push_bind(event.integration.clone())
                            .push_bind(event.service.clone())
                            .push_bind(event.action.clone())
                            .push_bind(event.dedup_key.clone())
                            .push_bind(event.group_key.clone())
                            .push_bind(event.signal.clone());
                    });
                    insert.build().execute(&mut *tx).await.map_err(db("storing intake events"))?;
                }
                tx.commit().await.map_err(db("committing intake events"))
            }

            async fn pending_intake(&self, limit: u32) -> Result<Vec<IntakeRow>, StoreError> {
                self.pending(limit).await
            }

            async fn process_intake<F>(&self, limit: u32, now: Timestamp, mut decide: F) -> Result<u32, StoreError>
            where
                F: FnMut(&IntakeRow, Option<&AlertRow>, Option<&Joined>) -> Effect + Send,
            {
                let begin = <<$db as sqlx::Database>::Connection as Exclusive>::BEGIN_WRITE;
                let mut tx = self.writer().begin_with(begin).await.map_err(db("starting a transaction"))?;
                if !Exclusive::processing_lock(&mut *tx).await? {
                    return Ok(0);
                }
                let pending = self.pending_batch(&mut *tx, limit).await?;
                if pending.is_empty() {
                    return Ok(0);
                }
                self.mark_processed(&mut *tx, &pending).await?;
                let mut batch = Batch {
                    open: Self::open_alerts(&mut *tx, &pending).await?,
                    groups: Self::group_incidents(&mut *tx, &pending).await?,
                    ..Batch::default()
                };
                for intake in &pending {
                    let event = &intake.event;
                    let key = (event.service.clone(), event.dedup_key.clone());
                    let open = batch.open.get(&key).cloned().flatten();
                    let joined = match (&open, &event.group_key) {
                        (None, Some(group)) => {
                            let group = (event.service.clone(), group.clone());
                            if !batch.groups.contains_key(&group) {
                                // A resolve earlier in this batch ended what was known.
                                Self::flush(&mut *tx, &mut batch, now).await?;
                                let found = Self::group_incident(&mut *tx, &group.0, &group.1).await?;
                                batch.groups.insert(group.clone(), found);
                            }
                            batch.groups.get(&group).cloned().flatten()
                        }
                        _ => None,
                    };
                    match decide(intake, open.as_ref(), joined.as_ref()) {
                        Effect::Ignore => {}
                        Effect::Open { alert, escalation } => batch.opened(*alert, escalation),
                        Effect::Repeat => {
                            if let Some(open) = open {
                                batch.repeated(key, &open.id, now);
                            }
                        }
                        effect @ (Effect::Acknowledge | Effect::Resolve) => {
                            if let Some(open) = open {
                                // Closing touches rows this batch may not have written yet.
                                Self::flush(&mut *tx, &mut batch, now).await?;
                                let status = if effect == Effect::Acknowledge { "acknowledged" } else { "resolved" };
                                let by = format!("integration:{}", event.integration);
                                if Self::close_alert(&mut *tx, &open.id, status, &by, now).await? {
                                    batch.closed(key, open, status, by, now);
                                }
                            }
                        }
                    }
                }
                Self::flush(&mut *tx, &mut batch, now).await?;
                tx.commit().await.map_err(db("committing processed intake"))?;
                Ok(u32::try_from(pending.len()).unwrap_or(u32::MAX))
            }

            async fn alert(&self, id: &str) -> Result<Option<AlertRow>, StoreError> {
                let rows = self
                    .alert_rows(format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"), Some(id), 0)
                    .await?;
                Ok(rows.into_iter().next())
            }

            async fn alerts(&self, open_only: bool, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
                let filter = if open_only { "WHERE status <> 'resolved'" } else { "" };
                self.alert_rows(
                    format!("SELECT {ALERT_COLUMNS} FROM alerts {filter} ORDER BY created_at DESC, id LIMIT $1"),
                    None,
                    i64::from(limit),
                )
                .await
            }

            async fn alerts_of_incident(&self, incident: &str) -> Result<Vec<AlertRow>, StoreError> {
                self.alert_rows(
                    format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE incident_id = $1 ORDER BY created_at, id"),
                    Some(incident),
                    0,
                )
                .await
            }

            async fn alerts_pending_incident(&self, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
                self.alert_rows(
                    format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE incident_pending ORDER BY created_at LIMIT $1"),
                    None,
                    i64::from(limit),
                )
                .await
            }

            async fn incident_opened(&self, alert: &str) -> Result<(), StoreError> {
                sqlx::query("UPDATE alerts SET incident_pending = FALSE WHERE id = $1")
                    .bind(alert)
                    .execute(self.writer())
                    .await
                    .map_err(db("recording an opened incident"))?;
                Ok(())
            }

            async fn set_alert_status(
                &self,
                id: &str,
                status: &str,
                by: &str,
                at: Timestamp,
            ) -> Result<Option<AlertRow>, StoreError> {
                let mut tx = self.writer().begin().await.map_err(db("starting a transaction"))?;
                let changed = Self::close_alert(&mut *tx, id, status, by, at).await?;
                tx.commit().await.map_err(db("committing an alert change"))?;
                if changed { self.alert(id).await } else { Ok(None) }
            }

            async fn due_escalations(&self, now: Timestamp, limit: u32) -> Result<Vec<Due>, StoreError> {
                // Two queries, each of which can only use its index: the due timers in order,
                // then their alerts by id. As one join, PostgreSQL's planner scanned every
                // alert during a storm, when its statistics lagged behind the table. A timer
                // whose incident is still being declared keeps its place in the window until
                // the opener (the stage before) has declared it.
                let timers = sqlx::query(
                    "SELECT alert_id, policy, started_at, round, level, due_at FROM escalations \
                     WHERE NOT done AND due_at <= $1 ORDER BY due_at LIMIT $2",
                )
                .bind(now.unix_millis())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading due escalations"))?;
                if timers.is_empty() {
                    return Ok(Vec::new());
                }
                let timers: Vec<EscalationRow> = timers.iter().map(Self::escalation_from).collect::<Result<_, _>>()?;
                let mut select = sqlx::QueryBuilder::<$db>::new(format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN ("));
                let mut ids = select.separated(", ");
                for timer in &timers {
                    ids.push_bind(timer.alert_id.clone());
                }
                select.push(")");
                let rows = select.build().fetch_all(&self.pool).await.map_err(db("reading due escalations"))?;
                let mut alerts: HashMap<String, AlertRow> = HashMap::with_capacity(rows.len());
                for row in &rows {
                    let alert = Self::alert_from(row)?;
                    alerts.insert(alert.id.clone(), alert);
                }
                Ok(timers
                    .into_iter()
                    .filter_map(|timer| {
                        let alert = alerts.remove(&timer.alert_id)?;
                        (!alert.incident_pending && alert.status == "triggered").then_some(Due { timer, alert })
                    })
                    .collect())
            }

            async fn advance_escalations(&self, steps: &[Advance], now: Timestamp) -> Result<Vec<bool>, StoreError> {
                let mut tx = self.writer().begin().await.map_err(db("starting a transaction"))?;
                let moved = Self::advance_timers(&mut *tx, steps).await?;
                let won: Vec<bool> = steps.iter().map(|step| moved.contains(&step.from.alert_id)).collect();
                let pages: Vec<&NewNotification> = steps
                    .iter()
                    .zip(&won)
                    .filter(|(_, won)| **won)
                    .flat_map(|(step, _)| &step.notifications)
                    .collect();
                Self::insert_notifications(&mut *tx, &pages, now).await?;
                tx.commit().await.map_err(db("committing escalation steps"))?;
                Ok(won)
            }

            async fn claim_notifications(
                &self,
                now: Timestamp,
                limit: u32,
                lease_millis: i64,
            ) -> Result<Vec<NotificationRow>, StoreError> {
                // A claimed row's next attempt is the end of its lease: if its sender dies, it is
                // due again then, and one index finds both kinds of due rows. The outer condition
                // is checked again on each row as it is updated, so two senders racing for the
                // same row cannot both claim it.
                let rows = sqlx::query(&format!(
                    "UPDATE notifications SET status = 'sending', lease_until = $2, next_attempt_at = $2, \
                     attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM notifications WHERE status IN ('pending', 'sending') \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $3) \
                     AND status IN ('pending', 'sending') AND next_attempt_at <= $1 \
                     RETURNING {NOTIFICATION_COLUMNS}"
                ))
                .bind(now.unix_millis())
                .bind(now.unix_millis().saturating_add(lease_millis))
                .bind(i64::from(limit))
                .fetch_all(self.writer())
                .await
                .map_err(db("claiming notifications"))?;
                let mut claimed: Vec<NotificationRow> =
                    rows.iter().map(Self::notification_from).collect::<Result<_, _>>()?;
                claimed.sort_by_key(|row| row.id);
                Ok(claimed)
            }

            async fn sent_since(&self, person: &str, contact: Option<&str>, since: Timestamp) -> Result<u64, StoreError> {
                let row = sqlx::query(
                    "SELECT count(*) AS n FROM notifications WHERE person = $1 AND status = 'sent' AND sent_at >= $2 \
                     AND contact_id IS NOT DISTINCT FROM $3",
                )
                .bind(person)
                .bind(since.unix_millis())
                .bind(contact)
                .fetch_one(&self.pool)
                .await
                .map_err(db("counting sent notifications"))?;
                let n: i64 = row.try_get("n").map_err(db("counting sent notifications"))?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn finish_notifications(&self, results: &[(i64, Delivery)]) -> Result<(), StoreError> {
                // Rows that ended alike (a storm's deferred pages, a bundle) share one statement.
                let mut alike: Vec<(&Delivery, Vec<i64>)> = Vec::new();
                for (id, delivery) in results {
                    match alike.iter_mut().find(|(known, _)| *known == delivery) {
                        Some((_, ids)) => ids.push(*id),
                        None => alike.push((delivery, vec![*id])),
                    }
                }
                let mut tx = self.writer().begin().await.map_err(db("starting a transaction"))?;
                for (delivery, ids) in alike {
                    for chunk in ids.chunks(1000) {
                        let mut update = sqlx::QueryBuilder::<$db>::new("UPDATE notifications SET lease_until = NULL, ");
                        match delivery {
                            Delivery::Sent { at } => {
                                update.push("status = 'sent', sent_at = ").push_bind(at.unix_millis());
                            }
                            Delivery::Bundled { at, into } => {
                                update
                                    .push("status = 'bundled', sent_at = ")
                                    .push_bind(at.unix_millis())
                                    .push(", last_error = ")
                                    .push_bind(format!("sent in notification {into}"));
                            }
                            Delivery::Retry { at, error } => {
                                update
                                    .push("status = 'pending', next_attempt_at = ")
                                    .push_bind(at.unix_millis())
                                    .push(", last_error = ")
                                    .push_bind(error.clone());
                            }
                            Delivery::Failed { error } => {
                                update.push("status = 'failed', last_error = ").push_bind(error.clone());
                            }
                            Delivery::Deferred { at } => {
                                // Waiting out a throttle is not an attempt.
                                update
                                    .push("status = 'pending', attempts = attempts - 1, next_attempt_at = ")
                                    .push_bind(at.unix_millis());
                            }
                        }
                        update.push(" WHERE id IN (");
                        let mut list = update.separated(", ");
                        for id in chunk {
                            list.push_bind(*id);
                        }
                        update.push(")");
                        update.build().execute(&mut *tx).await.map_err(db("recording deliveries"))?;
                    }
                }
                tx.commit().await.map_err(db("committing deliveries"))
            }

            async fn notifications_of_incident(&self, incident: &str) -> Result<Vec<NotificationRow>, StoreError> {
                self.notification_rows(
                    format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE incident_id = $1 ORDER BY id"),
                    incident,
                )
                .await
            }

            async fn notifications_of_alert(&self, alert: &str) -> Result<Vec<NotificationRow>, StoreError> {
                self.notification_rows(
                    format!("SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE alert_id = $1 ORDER BY id"),
                    alert,
                )
                .await
            }
        }
    };
}

impl_paging_store!(SqliteStore, sqlx::Sqlite);
impl_paging_store!(PgStore, sqlx::Postgres);
