//! Paging conformance: dedup, escalation steps and outbox claims hold on both backends, also
//! when several writers race.

use std::sync::Arc;

use cordon_domain::Timestamp;
use cordon_store::{
    Advance, AlertRow, Delivery, Effect, EscalationRow, IntakeRow, Joined, NewIntake, NewNotification, ServiceRow,
    Store, StoreError,
};

fn at(millis: i64) -> Timestamp {
    Timestamp::from_unix_millis(millis)
}

async fn service<S: Store>(store: &S) {
    let row = ServiceRow {
        name: "db".into(),
        description: "databases".into(),
        escalation_policy: Some("dba".into()),
        security: false,
        default_outcome: "alert".into(),
        rules: "[]".into(),
        created_at: at(1),
    };
    store.put_service(&row).await.unwrap();
}

fn intake(action: &str, dedup: &str, group: Option<&str>) -> NewIntake {
    NewIntake {
        received_at: at(10),
        integration: "i1".into(),
        service: "db".into(),
        action: action.into(),
        dedup_key: dedup.into(),
        group_key: group.map(str::to_owned),
        signal: serde_json::json!({"group": group}).to_string(),
    }
}

/// The decision processing makes in the application, reduced to what the store must honour.
fn decide(intake: &IntakeRow, open: Option<&AlertRow>, joined: Option<&Joined>) -> Effect {
    match (intake.event.action.as_str(), open) {
        ("trigger", Some(_)) => Effect::Repeat,
        ("trigger", None) => {
            let id = format!("a{}", intake.seq);
            Effect::Open {
                alert: Box::new(AlertRow {
                    id: id.clone(),
                    service: intake.event.service.clone(),
                    dedup_key: intake.event.dedup_key.clone(),
                    status: "triggered".into(),
                    outcome: "alert".into(),
                    severity: "error".into(),
                    summary: "s".into(),
                    source: "x".into(),
                    details: "{}".into(),
                    group_key: Some("g".into()),
                    incident_id: Some(joined.map_or_else(|| format!("inc-{id}"), |j| j.incident_id.clone())),
                    incident_pending: false,
                    event_count: 1,
                    first_seq: intake.seq,
                    received_at: intake.event.received_at,
                    created_at: at(11),
                    updated_at: at(11),
                    acknowledged_by: None,
                    acknowledged_at: None,
                    resolved_by: None,
                    resolved_at: None,
                }),
                escalation: Some(EscalationRow {
                    alert_id: id,
                    policy: "dba".into(),
                    started_at: at(11),
                    round: 0,
                    level: 0,
                    due_at: at(11),
                }),
            }
        }
        ("acknowledge", Some(_)) => Effect::Acknowledge,
        ("resolve", Some(_)) => Effect::Resolve,
        _ => Effect::Ignore,
    }
}

pub async fn repeated_triggers_are_one_alert_until_resolved<S: Store>(store: S) {
    service(&store).await;
    let events = [
        intake("trigger", "k", None),
        intake("trigger", "k", None),
        intake("acknowledge", "k", None),
        intake("resolve", "nothing-open", None),
        intake("resolve", "k", None),
        intake("trigger", "k", None),
    ];
    store.insert_intake(&events).await.unwrap();
    assert_eq!(store.pending_intake(100).await.unwrap().len(), 6);
    assert_eq!(store.process_intake(100, at(20), decide).await.unwrap(), 6);
    assert_eq!(
        store.process_intake(100, at(20), decide).await.unwrap(),
        0,
        "each event is processed once"
    );
    let alerts = store.alerts(false, 10).await.unwrap();
    assert_eq!(alerts.len(), 2, "{alerts:#?}");
    let first = alerts.iter().find(|a| a.status == "resolved").unwrap();
    assert_eq!(first.event_count, 2);
    assert_eq!(first.acknowledged_by.as_deref(), Some("integration:i1"));
    let reopened = alerts.iter().find(|a| a.status == "triggered").unwrap();
    assert_eq!(store.alerts(true, 10).await.unwrap(), vec![reopened.clone()]);
    // A resolved alert's timer is done: only the reopened alert is due.
    let due = store.due_escalations(at(100), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.timer.alert_id.as_str()).collect::<Vec<_>>(),
        [reopened.id.as_str()]
    );
    assert_eq!(&due[0].alert, reopened, "a due timer comes with its alert");
}

pub async fn alerts_of_one_group_join_the_first_ones_incident<S: Store>(store: S) {
    service(&store).await;
    store
        .insert_intake(&[intake("trigger", "k1", Some("g")), intake("trigger", "k2", Some("g"))])
        .await
        .unwrap();
    store.process_intake(10, at(20), decide).await.unwrap();
    let alerts = store.alerts(true, 10).await.unwrap();
    let incidents: Vec<_> = alerts.iter().map(|a| a.incident_id.clone().unwrap()).collect();
    assert_eq!(incidents[0], incidents[1], "{alerts:#?}");
    assert_eq!(store.alerts_of_incident(&incidents[0]).await.unwrap().len(), 2);

    // A later batch finds the group's incident in the database.
    store
        .insert_intake(&[intake("trigger", "k3", Some("g"))])
        .await
        .unwrap();
    store.process_intake(10, at(30), decide).await.unwrap();
    assert_eq!(store.alerts_of_incident(&incidents[0]).await.unwrap().len(), 3);

    // Once every alert of the group is resolved, the next one opens a new incident, also
    // within one batch.
    let closing = [
        intake("resolve", "k1", Some("g")),
        intake("resolve", "k2", Some("g")),
        intake("resolve", "k3", Some("g")),
        intake("trigger", "k4", Some("g")),
        intake("trigger", "k5", Some("g")),
    ];
    store.insert_intake(&closing).await.unwrap();
    assert_eq!(store.process_intake(10, at(40), decide).await.unwrap(), 5);
    let open = store.alerts(true, 10).await.unwrap();
    assert_eq!(open.len(), 2, "{open:#?}");
    assert_eq!(open[0].incident_id, open[1].incident_id, "{open:#?}");
    assert_ne!(open[0].incident_id.as_deref(), Some(incidents[0].as_str()), "{open:#?}");
}

/// One escalation step, as the engine pages it.
async fn advance<S: Store>(
    store: &S,
    from: &EscalationRow,
    next: Option<(u32, u32, Timestamp)>,
    pages: &[NewNotification],
    now: Timestamp,
) -> Result<bool, StoreError> {
    let step = Advance {
        from: from.clone(),
        next,
        notifications: pages.to_vec(),
    };
    Ok(store.advance_escalations(&[step], now).await?[0])
}

async fn finish<S: Store>(store: &S, id: i64, delivery: &Delivery) -> Result<(), StoreError> {
    store.finish_notifications(&[(id, delivery.clone())]).await
}

fn page(alert: &str, person: &str, contact: Option<&str>) -> NewNotification {
    NewNotification {
        alert_id: alert.into(),
        incident_id: None,
        person: person.into(),
        contact_id: contact.map(str::to_owned),
        round: 0,
        level: 0,
        page: "{}".into(),
    }
}

pub async fn an_escalation_step_pages_once_however_many_nodes_race<S: Store>(store: S) {
    service(&store).await;
    store.insert_intake(&[intake("trigger", "k", None)]).await.unwrap();
    store.process_intake(10, at(20), decide).await.unwrap();
    let due = store.due_escalations(at(100), 10).await.unwrap();
    let step = Arc::new(due[0].timer.clone());
    let mut racers = Vec::new();
    for node in 0..6 {
        let store = store.clone();
        let step = step.clone();
        racers.push(tokio::spawn(async move {
            let pages = [page(&step.alert_id, &format!("p{node}"), Some("c1"))];
            advance(&store, &step, Some((0, 1, at(400))), &pages, at(100))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for racer in racers {
        winners += usize::from(racer.await.unwrap());
    }
    assert_eq!(winners, 1);
    let sent = store.notifications_of_alert(&step.alert_id).await.unwrap();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(store.due_escalations(at(399), 10).await.unwrap().is_empty());
    assert_eq!(store.due_escalations(at(400), 10).await.unwrap()[0].timer.level, 1);
}

pub async fn a_notification_is_claimed_by_one_sender_until_its_lease_lapses<S: Store>(store: S) {
    service(&store).await;
    store.insert_intake(&[intake("trigger", "k", None)]).await.unwrap();
    store.process_intake(10, at(20), decide).await.unwrap();
    let step = store.due_escalations(at(100), 10).await.unwrap().remove(0).timer;
    let pages: Vec<_> = (0..20)
        .map(|n| page(&step.alert_id, &format!("p{n}"), Some("c")))
        .collect();
    let mut with_missing = pages.clone();
    with_missing.push(page(&step.alert_id, "nobody", None));
    assert!(advance(&store, &step, None, &with_missing, at(100)).await.unwrap());
    let mut claims = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        claims.push(tokio::spawn(async move {
            store.claim_notifications(at(200), 100, 60_000).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for claim in claims {
        ids.extend(claim.await.unwrap().into_iter().map(|row| row.id));
    }
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (20, 20), "every pending row claimed exactly once");
    assert!(
        store
            .claim_notifications(at(1_000), 100, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease lapses: a dead sender's rows go to the next one, with the attempt counted.
    let again = store.claim_notifications(at(60_201), 100, 60_000).await.unwrap();
    assert_eq!(again.len(), 20);
    assert!(again.iter().all(|row| row.attempts == 2));
    finish(&store, again[0].id, &Delivery::Sent { at: at(60_300) })
        .await
        .unwrap();
    finish(
        &store,
        again[1].id,
        &Delivery::Retry {
            at: at(70_000),
            error: "connection refused".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        store
            .sent_since(&again[0].new.person, Some("c"), at(60_000))
            .await
            .unwrap(),
        1
    );
    let rows = store.notifications_of_alert(&step.alert_id).await.unwrap();
    let missing = rows.iter().find(|row| row.new.person == "nobody").unwrap();
    assert_eq!(
        (missing.status.as_str(), missing.last_error.as_deref()),
        ("failed", Some("no contact method"))
    );
    let retry = rows.iter().find(|row| row.id == again[1].id).unwrap();
    assert_eq!((retry.status.as_str(), retry.next_attempt_at), ("pending", at(70_000)));
}

pub async fn acknowledging_stops_escalation_and_cancels_unsent_pages<S: Store>(store: S) {
    service(&store).await;
    store.insert_intake(&[intake("trigger", "k", None)]).await.unwrap();
    store.process_intake(10, at(20), decide).await.unwrap();
    let step = store.due_escalations(at(100), 10).await.unwrap().remove(0).timer;
    advance(
        &store,
        &step,
        Some((0, 1, at(400))),
        &[page(&step.alert_id, "p", Some("c"))],
        at(100),
    )
    .await
    .unwrap();
    let acked = store
        .set_alert_status(&step.alert_id, "acknowledged", "alice", at(150))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (acked.status.as_str(), acked.acknowledged_by.as_deref()),
        ("acknowledged", Some("alice"))
    );
    assert!(
        store
            .set_alert_status(&step.alert_id, "acknowledged", "bob", at(160))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.due_escalations(at(10_000), 10).await.unwrap().is_empty());
    assert!(
        store
            .claim_notifications(at(10_000), 10, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.notifications_of_alert(&step.alert_id).await.unwrap()[0].status,
        "cancelled"
    );
}

pub async fn settings_keep_their_first_value<S: Store>(store: S) {
    assert_eq!(store.setting("link-key").await.unwrap(), None);
    assert_eq!(store.setting_or_insert("link-key", "a").await.unwrap(), "a");
    assert_eq!(store.setting_or_insert("link-key", "b").await.unwrap(), "a");
}
