-- Paging: services and their integrations, escalation policies, schedules, contact methods,
-- the durable intake queue, alerts, escalation timers and the notification outbox.
--
-- Definitions (policies, schedules, routing rules, field mappings, channels) are JSON checked
-- by the application before they are stored. Integration keys are stored as SHA-256 digests;
-- a generic webhook's HMAC secret must stay readable to check signatures.

CREATE TABLE paging_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE paging_services (
    name              TEXT PRIMARY KEY,
    description       TEXT NOT NULL,
    escalation_policy TEXT,
    security          BOOLEAN NOT NULL,
    default_outcome   TEXT NOT NULL,
    rules             TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE TABLE integrations (
    id              TEXT PRIMARY KEY,
    service         TEXT NOT NULL REFERENCES paging_services (name),
    kind            TEXT NOT NULL,
    key_digest      TEXT NOT NULL UNIQUE,
    secret          TEXT,
    mapping         TEXT,
    rate_per_minute INTEGER NOT NULL,
    burst           INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);

CREATE TABLE escalation_policies (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE schedules (
    name       TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE contact_methods (
    id         TEXT PRIMARY KEY,
    person     TEXT NOT NULL,
    channel    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX contact_methods_person ON contact_methods (person);

-- Every accepted event, stored before the sender is told 202.
CREATE TABLE intake_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    integration TEXT NOT NULL,
    service     TEXT NOT NULL,
    action      TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    signal      TEXT NOT NULL,
    processed   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX intake_events_pending ON intake_events (seq) WHERE NOT processed;

CREATE TABLE alerts (
    id               TEXT PRIMARY KEY,
    service          TEXT NOT NULL,
    dedup_key        TEXT NOT NULL,
    status           TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    severity         TEXT NOT NULL,
    summary          TEXT NOT NULL,
    source           TEXT NOT NULL,
    details          TEXT NOT NULL,
    group_key        TEXT,
    incident_id      TEXT,
    incident_pending BOOLEAN NOT NULL,
    event_count      INTEGER NOT NULL,
    first_seq        INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    acknowledged_by  TEXT,
    acknowledged_at  INTEGER,
    resolved_by      TEXT,
    resolved_at      INTEGER
);
-- Repeated triggers of an open alert are one alert.
CREATE UNIQUE INDEX alerts_open_dedup ON alerts (service, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_group ON alerts (service, group_key) WHERE status <> 'resolved';
CREATE INDEX alerts_incident ON alerts (incident_id);
CREATE INDEX alerts_pending_incident ON alerts (created_at) WHERE incident_pending;

-- One durable timer per alert: the next escalation step and when it is due.
CREATE TABLE escalations (
    alert_id   TEXT PRIMARY KEY REFERENCES alerts (id),
    policy     TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    round      INTEGER NOT NULL,
    level      INTEGER NOT NULL,
    due_at     INTEGER NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX escalations_due ON escalations (due_at) WHERE NOT done;

-- The outbox: one row per person paged per step; sent, retried with back-off, or bundled.
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        TEXT NOT NULL REFERENCES alerts (id),
    incident_id     TEXT,
    person          TEXT NOT NULL,
    contact_id      TEXT,
    round           INTEGER NOT NULL,
    level           INTEGER NOT NULL,
    page            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX notifications_alert ON notifications (alert_id);
CREATE INDEX notifications_person_sent ON notifications (person, sent_at);
