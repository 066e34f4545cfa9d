//! A server state with users, sessions and incidents, on either backend, driven in-process
//! through the router (no sockets).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cordon_app::{DataDir, DeclareRequest, Service};
use cordon_auth::secret::{self, TokenKind};
use cordon_domain::{Event, GlobalRole, Kind, Person, Role, Scope, Severity, Timestamp};
use cordon_server::{AppState, Overrides, ServerConfig};
use cordon_store::{ApiToken, PgStore, Session, SqliteStore, Store, User};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;

pub const PASSWORD: &str = "correct horse battery";

/// Every kind of caller the matrix tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    /// An administrator who is not on the security incident.
    Admin,
    /// A responder on the security incident as its legal counsel.
    Responder,
    /// A viewer who is a member of the security incident.
    Viewer,
    /// The security incident's commander (a responder).
    Member,
    /// A responder who is not on the security incident.
    NonMember,
    /// A responder excluded from the security incident.
    Excluded,
    Anonymous,
    /// The commander's API token, expired.
    ExpiredToken,
}

pub const EVERYONE: [Who; 8] = [
    Who::Admin,
    Who::Responder,
    Who::Viewer,
    Who::Member,
    Who::NonMember,
    Who::Excluded,
    Who::Anonymous,
    Who::ExpiredToken,
];

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn postgres() -> Option<Backend> {
        match std::env::var("CORDON_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("CI=true but CORDON_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run in CI")
            }
            _ => {
                eprintln!("notice: CORDON_TEST_POSTGRES_URL is not set; skipping the PostgreSQL server tests");
                None
            }
        }
    }
}

/// One argon2id hash, computed once per test binary (it is deliberately slow).
pub fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| cordon_auth::password::hash(PASSWORD).unwrap())
        .clone()
}

pub struct Caller {
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
    pub own_token_id: Option<String>,
    /// A contact method of the caller's own.
    pub own_contact_id: Option<String>,
}

/// Runs the paging pipeline once, as the background engine would at `now`: process intake,
/// open incidents, escalate what is due, send what is due.
pub type Pump = Arc<dyn Fn(Timestamp) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What the fixture sets up for paging.
#[derive(Default)]
pub struct PagingFixture {
    /// An operational alert of service `db` (triggered; pages alice).
    pub alert: String,
    /// An alert of the security-sensitive service `secops`, in a security incident whose only
    /// members are the system and alice (paged).
    pub security_alert: String,
    pub security_incident: String,
    /// The PagerDuty integration key of `db`, and its integration id.
    pub db_key: String,
    pub integration: String,
    /// The Alertmanager and webhook integration keys of `db`, and the webhook's secret.
    pub alertmanager_key: String,
    pub webhook_key: String,
    pub webhook_secret: String,
}

pub struct Fixture {
    pub app: Router,
    pub incident: String,
    /// The SHA-256 of one evidence item (TLP:AMBER) in the security incident.
    pub evidence: String,
    /// An unfinished resumable upload to the security incident.
    pub upload: String,
    pub codename: String,
    pub operational: String,
    pub callers: HashMap<Who, Caller>,
    pub setup_token: Option<String>,
    pub paging: PagingFixture,
    pub pump: Pump,
    _dir: tempfile::TempDir,
}

pub fn person(name: &str) -> Person {
    Person::new(name).unwrap()
}

fn user(name: &str, role: GlobalRole) -> User {
    User {
        name: person(name),
        role,
        password_hash: password_hash(),
        totp_secret: None,
        totp_enabled: false,
        totp_last_step: None,
        totp_required: false,
        disabled: false,
        created_at: Timestamp::from_unix_millis(0),
    }
}

impl Fixture {
    /// A fresh installation with users and incidents. `with_users` false leaves it empty,
    /// with the setup token armed.
    pub async fn new(backend: &Backend, with_users: bool) -> Fixture {
        Fixture::with(backend, with_users, true).await
    }

    /// The same installation without services, integrations, contacts or alerts: cheaper, for
    /// the many fresh installations of the access matrix whose route has nothing to do with
    /// paging.
    pub async fn without_paging(backend: &Backend) -> Fixture {
        Fixture::with(backend, true, false).await
    }

    async fn with(backend: &Backend, with_users: bool, with_paging: bool) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let store = SqliteStore::open(&dir.path().join("cordon.db")).await.unwrap();
                Fixture::build(store, dir, with_users, with_paging).await
            }
            Backend::Postgres(url) => {
                let name = format!("cordon_srv_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
                let store = PgStore::connect(&format!("{base}/{name}")).await.unwrap();
                Fixture::build(store, dir, with_users, with_paging).await
            }
        }
    }

    async fn build<S: Store>(store: S, dir: tempfile::TempDir, with_users: bool, with_paging: bool) -> Fixture {
        let data_dir = DataDir::open(&dir.path().join("data")).unwrap();
        let seed = data_dir.signing_key().unwrap().to_bytes();
        let service = Service::new(store.clone(), data_dir).unwrap();
        let config = ServerConfig::load(None, |_| None, Overrides::default()).unwrap();
        let state = AppState::new(service.clone(), store.clone(), config, &seed);
        // Intake answers only once the writer stores; the rest of the pipeline is pumped by hand.
        state.paging().start_writer();
        let mut callers = HashMap::new();
        let mut fixture_incident = String::new();
        let mut evidence = String::new();
        let mut upload = String::new();
        let mut codename = String::new();
        let mut operational = String::new();
        let mut setup_token = None;
        let mut paging = PagingFixture::default();
        if with_users {
            let accounts = [
                (Who::Admin, "root", GlobalRole::Admin),
                (Who::Responder, "rita", GlobalRole::Responder),
                (Who::Viewer, "vera", GlobalRole::Viewer),
                (Who::Member, "alice", GlobalRole::Responder),
                (Who::NonMember, "bob", GlobalRole::Responder),
                (Who::Excluded, "mallory", GlobalRole::Responder),
            ];
            for (who, name, role) in accounts {
                store.create_user(&user(name, role)).await.unwrap();
                callers.insert(who, session_for(&store, &state, name).await);
            }
            let now = Timestamp::from_unix_millis(1_800_000_000_000);
            let declare = |kind| DeclareRequest {
                kind,
                title: "Deploy key leaked".into(),
                severity: Severity::Sev1,
                playbook: None,
            };
            let incident = service
                .declare(&person("alice"), declare(Kind::Security), now)
                .await
                .unwrap();
            let events = [
                Event::RoleAssigned {
                    person: person("alice"),
                    role: Role::IncidentCommander,
                },
                Event::RoleAssigned {
                    person: person("rita"),
                    role: Role::LegalCounsel,
                },
                Event::MemberAdded { person: person("vera") },
                Event::MemberAdded {
                    person: person("mallory"),
                },
                Event::MemberExcluded {
                    person: person("mallory"),
                    reason: "suspected insider".into(),
                },
            ];
            for event in events {
                service
                    .act(&person("alice"), incident.id.as_str(), event, now)
                    .await
                    .unwrap();
            }
            fixture_incident = incident.id.to_string();
            let meta = cordon_app::EvidenceMeta {
                name: "db-3.img".into(),
                source: "host db-3".into(),
                collected_by: person("alice"),
                collected_at: now,
                tlp: cordon_evidence::Tlp::Amber,
            };
            let content = std::io::Cursor::new(b"fixture evidence".to_vec());
            let (_, record) = service
                .add_evidence(&person("alice"), incident.id.as_str(), content, meta, "fixture", now)
                .await
                .unwrap();
            evidence = record.sha256;
            let started = service
                .begin_upload(&person("alice"), incident.id.as_str())
                .await
                .unwrap();
            service
                .append_upload(
                    &person("alice"),
                    incident.id.as_str(),
                    started.as_str(),
                    0,
                    std::io::Cursor::new(b"first piece of an upload".to_vec()),
                )
                .await
                .unwrap();
            upload = started.to_string();
            codename = incident.codename.unwrap().to_string();
            operational = service
                .declare(&person("alice"), declare(Kind::Operational), now)
                .await
                .unwrap()
                .id
                .to_string();

            let (expired, digest) = secret::mint(TokenKind::Api).unwrap();
            let token = ApiToken {
                id: "expired-token".into(),
                digest,
                user: person("alice"),
                label: "old".into(),
                scope: Scope::Write,
                created_at: Timestamp::from_unix_millis(0),
                expires_at: Some(Timestamp::from_unix_millis(1)),
                revoked: false,
            };
            store.create_token(&token).await.unwrap();
            callers.insert(
                Who::ExpiredToken,
                Caller {
                    cookie: None,
                    csrf: None,
                    bearer: Some(expired.expose().to_owned()),
                    own_token_id: None,
                    own_contact_id: None,
                },
            );
            if with_paging {
                paging = paging_fixture(&state, &mut callers, now).await;
            }
        } else {
            let (token, digest) = secret::mint(TokenKind::Setup).unwrap();
            state.set_setup_digest(Some(digest));
            setup_token = Some(token.expose().to_owned());
        }
        callers.insert(
            Who::Anonymous,
            Caller {
                cookie: None,
                csrf: None,
                bearer: None,
                own_token_id: None,
                own_contact_id: None,
            },
        );
        let pumped = state.clone();
        let pump: Pump = Arc::new(move |now| {
            let state = pumped.clone();
            Box::pin(async move { pump_once(&state, now).await })
        });
        Fixture {
            app: cordon_server::router(state),
            incident: fixture_incident,
            evidence,
            upload,
            codename,
            operational,
            callers,
            setup_token,
            paging,
            pump,
            _dir: dir,
        }
    }

    /// Sends a request as `who` and returns status, headers and parsed body.
    pub async fn call(&self, who: Who, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let request = self.request(who, method, uri);
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        self.send(request).await
    }

    /// A request as `who`: their session cookie (with the CSRF header on anything but a GET)
    /// or their bearer token.
    pub fn request(&self, who: Who, method: Method, uri: &str) -> axum::http::request::Builder {
        let caller = &self.callers[&who];
        let mut request = Request::builder().method(method.clone()).uri(uri);
        if let Some(cookie) = &caller.cookie {
            request = request.header(header::COOKIE, format!("cordon_session={cookie}"));
            if method != Method::GET {
                request = request.header("x-csrf-token", caller.csrf.clone().unwrap_or_default());
            }
        }
        if let Some(bearer) = &caller.bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        request
    }

    /// Posts an HTML form as `who`, with the session's CSRF token in the `csrf_token` field
    /// unless `with_csrf` is false.
    pub async fn form(&self, who: Who, uri: &str, fields: &[(&str, &str)], with_csrf: bool) -> Reply {
        let caller = &self.callers[&who];
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        let csrf = caller.csrf.clone().unwrap_or_default();
        if with_csrf && caller.cookie.is_some() {
            pairs.push(("csrf_token", &csrf));
        }
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = &caller.cookie {
            request = request.header(header::COOKIE, format!("cordon_session={cookie}"));
        }
        if let Some(bearer) = &caller.bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {bearer}"));
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }
}

async fn session_for<S: Store>(store: &S, state: &AppState<S>, name: &str) -> Caller {
    let (token, digest) = secret::mint(TokenKind::Session).unwrap();
    let session = Session {
        digest: digest.clone(),
        user: person(name),
        created_at: Timestamp::from_unix_millis(0),
        expires_at: Timestamp::from_unix_millis(i64::MAX / 2),
        second_factor: true,
    };
    store.create_session(&session).await.unwrap();
    let (_, token_digest) = secret::mint(TokenKind::Api).unwrap();
    let own = ApiToken {
        id: format!("token-of-{name}"),
        digest: token_digest,
        user: person(name),
        label: "own".into(),
        scope: Scope::Read,
        created_at: Timestamp::from_unix_millis(0),
        expires_at: None,
        revoked: false,
    };
    store.create_token(&own).await.unwrap();
    Caller {
        cookie: Some(token.expose().to_owned()),
        csrf: Some(cordon_auth::csrf::token(state.csrf_key(), &digest)),
        bearer: None,
        own_token_id: Some(own.id),
        own_contact_id: None,
    }
}

async fn pump_once<S: Store>(state: &AppState<S>, now: Timestamp) {
    let paging = state.paging();
    paging.process_pending().await.unwrap();
    paging.open_incidents().await.unwrap();
    paging.escalate_due(now).await.unwrap();
    let notifier = cordon_notify::Notifier::new(cordon_notify::NotifierConfig::default()).unwrap();
    let signer = paging.link_signer().await.unwrap();
    paging.dispatch_due(&notifier, &signer, now).await.unwrap();
}

/// Services `db` (operational, pages alice through policy `dba` and schedule `primary`) and
/// `secops` (security-sensitive, same policy), their integrations, a contact method per
/// caller, and one alert of each service, processed and paged.
async fn paging_fixture<S: Store>(
    state: &AppState<S>,
    callers: &mut HashMap<Who, Caller>,
    now: Timestamp,
) -> PagingFixture {
    use cordon_app::paging::{IntegrationKind, ServiceSpec};
    use serde_json::json;
    let paging = state.paging();
    let schedule = serde_json::from_value(json!({
        "name": "primary", "time_zone": "Europe/Berlin",
        "layers": [{"name": "week", "participants": ["alice"], "start_date": "2026-01-05", "handoff": "09:00",
                    "shift": {"unit": "weeks", "count": 1}}],
        "overrides": [],
    }))
    .unwrap();
    paging.put_schedule(schedule, now).await.unwrap();
    let policy = serde_json::from_value(json!({
        "name": "dba",
        "levels": [{"targets": [{"kind": "schedule", "name": "primary"}], "timeout_minutes": 5},
                   {"targets": [{"kind": "person", "name": "bob"}]}],
    }))
    .unwrap();
    paging.put_policy(policy, now).await.unwrap();
    for (name, security) in [("db", false), ("secops", true)] {
        let spec = ServiceSpec {
            name: name.into(),
            description: String::new(),
            escalation_policy: Some("dba".into()),
            security,
            default_outcome: None,
            rules: vec![],
        };
        paging.put_service(spec, now).await.unwrap();
    }
    for (who, caller) in callers.iter_mut() {
        let name = match who {
            Who::Admin => "root",
            Who::Responder => "rita",
            Who::Viewer => "vera",
            Who::Member => "alice",
            Who::NonMember => "bob",
            Who::Excluded => "mallory",
            _ => continue,
        };
        let channel =
            serde_json::from_value(json!({"kind": "email", "address": format!("{name}@example.com")})).unwrap();
        let contact = paging.add_contact(&person(name), channel, now).await.unwrap();
        caller.own_contact_id = Some(contact.id);
    }
    let db = paging
        .add_integration("db", IntegrationKind::PagerDuty, None, None, now)
        .await
        .unwrap();
    let am = paging
        .add_integration("db", IntegrationKind::Alertmanager, None, None, now)
        .await
        .unwrap();
    let mapping = serde_json::from_value(json!({"dedup_key": "/id", "summary": "/title"})).unwrap();
    let hook = paging
        .add_integration("db", IntegrationKind::Webhook, Some(mapping), None, now)
        .await
        .unwrap();
    let sec = paging
        .add_integration("secops", IntegrationKind::PagerDuty, None, None, now)
        .await
        .unwrap();
    let signal = |summary: &str| cordon_intake::Signal {
        action: cordon_intake::pagerduty::Action::Trigger,
        dedup_key: format!("fixture-{summary}"),
        summary: summary.into(),
        source: "db-3".into(),
        severity: cordon_intake::pagerduty::Severity::Critical,
        group: None,
        occurred_at: None,
        details: json!({}),
    };
    let intake = |integration: &cordon_store::IntegrationRow, summary: &str| cordon_store::NewIntake {
        received_at: now,
        integration: integration.id.clone(),
        service: integration.service.clone(),
        action: "trigger".into(),
        dedup_key: format!("fixture-{summary}"),
        group_key: None,
        signal: serde_json::to_string(&signal(summary)).unwrap(),
    };
    state
        .store()
        .insert_intake(&[
            intake(&db.row, "replica lag 30s"),
            intake(&sec.row, "beacon to 203.0.113.9"),
        ])
        .await
        .unwrap();
    pump_once(state, now).await;
    let alerts = state.store().alerts(false, 10).await.unwrap();
    let find = |service: &str| alerts.iter().find(|a| a.service == service).unwrap().clone();
    let security = find("secops");
    PagingFixture {
        alert: find("db").id,
        security_alert: security.id,
        security_incident: security.incident_id.unwrap(),
        db_key: db.key.expose().to_owned(),
        integration: db.row.id,
        alertmanager_key: am.key.expose().to_owned(),
        webhook_key: hook.key.expose().to_owned(),
        webhook_secret: hook.secret.unwrap().expose().to_owned(),
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
    pub json: Value,
}
