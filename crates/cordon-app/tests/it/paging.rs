//! The paging pipeline across restarts and racing processes, on a real SQLite file opened by
//! several stores, as several processes (or one restarted) would.

use std::path::Path;

use cordon_app::paging::{IntegrationKind, Paging, ServiceSpec};
use cordon_app::{AppError, DataDir, DeclareRequest, Service};
use cordon_domain::{IncidentId, Kind, Person, Severity, Timestamp};
use cordon_store::{JournalStore, NewIntake, PagingStore, SqliteStore};
use serde_json::json;

async fn node(dir: &Path) -> Paging<SqliteStore> {
    let store = SqliteStore::open(&dir.join("cordon.db")).await.unwrap();
    let service = Service::new(store, DataDir::open(&dir.join("data")).unwrap()).unwrap();
    Paging::new(service, "https://cordon.example.com")
}

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

/// A policy of two levels (ana, then ben after 5 minutes), a security-sensitive service on it,
/// and one trigger stored for it.
async fn configure(paging: &Paging<SqliteStore>, now: Timestamp) {
    let policy = serde_json::from_value(json!({
        "name": "sec", "levels": [{"targets": [{"kind": "person", "name": "ana"}], "timeout_minutes": 5},
                                   {"targets": [{"kind": "person", "name": "ben"}]}],
    }))
    .unwrap();
    paging.put_policy(policy, now).await.unwrap();
    let spec = ServiceSpec {
        name: "idp".into(),
        description: "identity provider".into(),
        escalation_policy: Some("sec".into()),
        security: true,
        default_outcome: None,
        rules: vec![],
    };
    paging.put_service(spec, now).await.unwrap();
    let integration = paging
        .add_integration("idp", IntegrationKind::PagerDuty, None, None, now)
        .await
        .unwrap();
    let signal = json!({"action": "trigger", "dedup_key": "mfa-fatigue", "summary": "MFA push storm for cfo",
                        "source": "idp", "severity": "critical"});
    let event = NewIntake {
        received_at: now,
        integration: integration.row.id,
        service: "idp".into(),
        action: "trigger".into(),
        dedup_key: "mfa-fatigue".into(),
        group_key: None,
        signal: signal.to_string(),
    };
    paging.store().insert_intake(&[event]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_resumes_escalation_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let start = cordon_app::now();
    {
        let first = node(dir.path()).await;
        configure(&first, start).await;
        first.process_pending().await.unwrap();
        first.open_incidents().await.unwrap();
        let later = at(start.unix_millis() + 1_000);
        assert_eq!(first.escalate_due(later).await.unwrap(), 1, "level 1 pages at once");
        // The process stops here, before level 2 is due.
    }
    let second = node(dir.path()).await;
    let alert = second.store().alerts(false, 10).await.unwrap().remove(0);
    assert_eq!(second.store().notifications_of_alert(&alert.id).await.unwrap().len(), 1);
    assert_eq!(
        second.escalate_due(at(start.unix_millis() + 60_000)).await.unwrap(),
        0,
        "nothing due yet"
    );
    assert_eq!(
        second
            .escalate_due(at(start.unix_millis() + 5 * 60_000 + 2_000))
            .await
            .unwrap(),
        1
    );
    let pages = second.store().notifications_of_alert(&alert.id).await.unwrap();
    let people: Vec<(&str, u32)> = pages.iter().map(|p| (p.new.person.as_str(), p.new.level)).collect();
    assert_eq!(people, [("ana", 0), ("ben", 1)]);
    // Both were made members of the security incident before they were paged.
    let incident = second
        .incidents()
        .show(&Person::new("ben").unwrap(), alert.incident_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(incident.kind, Kind::Security);
    assert!(incident.codename.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_processes_declare_an_alerts_incident_once() {
    let dir = tempfile::tempdir().unwrap();
    let now = cordon_app::now();
    let first = node(dir.path()).await;
    configure(&first, now).await;
    first.process_pending().await.unwrap();
    let nodes = [first, node(dir.path()).await, node(dir.path()).await];
    let mut racers = Vec::new();
    for paging in &nodes {
        let paging = paging.clone();
        racers.push(tokio::spawn(async move { paging.open_incidents().await.unwrap() }));
    }
    for racer in racers {
        racer.await.unwrap();
    }
    let alert = nodes[0].store().alerts(false, 10).await.unwrap().remove(0);
    assert!(!alert.incident_pending);
    let heads = nodes[0].store().heads().await.unwrap();
    assert_eq!(heads.len(), 1, "one incident, whoever won: {heads:?}");
    // Declaring an id that exists says so, instead of trying other codenames forever.
    let again = nodes[1]
        .incidents()
        .declare_as(
            &Person::new("cordon").unwrap(),
            DeclareRequest {
                kind: Kind::Operational,
                title: "again".into(),
                severity: Severity::Sev3,
                playbook: None,
            },
            IncidentId::new(alert.incident_id.unwrap()),
            now,
        )
        .await;
    assert!(matches!(again, Err(AppError::AlreadyDeclared { .. })), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_added_on_one_node_works_on_another_at_once_and_a_removed_one_stops_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let now = cordon_app::now();
    let (a, b) = (node(dir.path()).await, node(dir.path()).await);
    configure(&a, now).await;
    // b has looked keys up before, so it has a cache to be stale.
    assert!(
        b.integration("0123456789abcdef0123456789abcdef", IntegrationKind::PagerDuty)
            .await
            .is_err()
    );
    let added = a
        .add_integration("idp", IntegrationKind::PagerDuty, None, None, now)
        .await
        .unwrap();
    let found = b
        .integration(added.key.expose(), IntegrationKind::PagerDuty)
        .await
        .unwrap();
    assert_eq!(found.id, added.row.id);
    assert!(
        b.integration(added.key.expose(), IntegrationKind::Alertmanager)
            .await
            .is_err(),
        "kind matters"
    );
    a.remove_integration(&added.row.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert!(
        b.integration(added.key.expose(), IntegrationKind::PagerDuty)
            .await
            .is_err(),
        "a removed key stops working on every node"
    );
}
