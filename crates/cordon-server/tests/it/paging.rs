//! Paging through the router: PagerDuty-compatible intake with its answers and dedup,
//! Alertmanager groups, signed webhooks, throttling, escalation by the clock, need-to-know on
//! security alerts, and the signed links in a real webhook notification.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use cordon_domain::Timestamp;
use serde_json::{Value, json};

use crate::fixture::{Backend, Fixture, Reply, Who};

async fn post_raw(fixture: &Fixture, uri: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    fixture.send(request.body(Body::from(body.to_owned())).unwrap()).await
}

async fn enqueue(fixture: &Fixture, body: Value) -> Reply {
    post_raw(fixture, "/v2/enqueue", &[], &body.to_string()).await
}

fn trigger(key: &str, dedup: Option<&str>, summary: &str) -> Value {
    let mut event = json!({
        "routing_key": key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "db-7", "severity": "error"},
    });
    if let Some(dedup) = dedup {
        event["dedup_key"] = json!(dedup);
    }
    event
}

async fn alert_by_key(fixture: &Fixture, dedup: &str) -> Vec<Value> {
    let reply = fixture
        .call(Who::Member, Method::GET, "/api/v1/alerts?limit=1000", None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["dedup_key"] == dedup)
        .cloned()
        .collect()
}

fn now() -> Timestamp {
    cordon_app::now()
}

/// Runs the pipeline once, a second from now, so that whatever processing schedules for "now"
/// is due.
async fn settle(fixture: &Fixture) {
    (fixture.pump)(Timestamp::from_unix_millis(now().unix_millis() + 1_000)).await;
}

pub async fn pagerduty_events_are_answered_as_pagerduty_does_and_deduplicated(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let key = fixture.paging.db_key.clone();

    let first = enqueue(&fixture, trigger(&key, None, "disk 95% on db-7")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    assert_eq!(first.json["status"], "success");
    assert_eq!(first.json["message"], "Event processed");
    let generated = first.json["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "a generated dedup key: {generated}");

    for _ in 0..3 {
        let again = enqueue(&fixture, trigger(&key, Some("disk-db-7"), "disk 95% on db-7")).await;
        assert_eq!(
            (again.status, again.json["dedup_key"].clone()),
            (StatusCode::ACCEPTED, json!("disk-db-7"))
        );
    }
    settle(&fixture).await;
    let alerts = alert_by_key(&fixture, "disk-db-7").await;
    assert_eq!(alerts.len(), 1, "repeated triggers are one alert: {alerts:#?}");
    assert_eq!(
        (alerts[0]["events"].clone(), alerts[0]["status"].clone()),
        (json!(3), json!("triggered"))
    );
    assert_eq!(alerts[0]["service"], "db");
    assert_eq!(alert_by_key(&fixture, &generated).await.len(), 1);

    let ack = json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": "disk-db-7"});
    assert_eq!(enqueue(&fixture, ack).await.status, StatusCode::ACCEPTED);
    settle(&fixture).await;
    assert_eq!(alert_by_key(&fixture, "disk-db-7").await[0]["status"], "acknowledged");
    let resolve = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "disk-db-7"});
    assert_eq!(enqueue(&fixture, resolve).await.status, StatusCode::ACCEPTED);
    settle(&fixture).await;
    assert_eq!(alert_by_key(&fixture, "disk-db-7").await[0]["status"], "resolved");
    // A trigger after the resolve is a new alert.
    enqueue(&fixture, trigger(&key, Some("disk-db-7"), "disk 95% on db-7 again")).await;
    settle(&fixture).await;
    let both = alert_by_key(&fixture, "disk-db-7").await;
    assert_eq!(both.len(), 2, "{both:#?}");

    // Bad events: 400 with every problem named, nothing stored.
    let bad = enqueue(
        &fixture,
        json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": "", "severity": "loud"}}),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["status"], "invalid event");
    let errors: Vec<&str> = bad.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(errors.iter().any(|e| e.contains("'payload.summary'")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("'payload.source'")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("'payload.severity'")), "{errors:?}");
    let unknown = enqueue(&fixture, trigger("0123456789abcdef0123456789abcdef", None, "x")).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);
    let not_json = post_raw(&fixture, "/v2/enqueue", &[], "{not json").await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    // An Alertmanager key does not open the PagerDuty endpoint.
    let wrong_kind = enqueue(&fixture, trigger(&fixture.paging.alertmanager_key, None, "x")).await;
    assert_eq!(wrong_kind.status, StatusCode::BAD_REQUEST);
}

pub async fn a_key_over_its_rate_gets_429_with_retry_after(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let created = fixture
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/services/db/integrations",
            Some(json!({"kind": "pagerduty", "rate_per_minute": 6})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["burst"], 1);
    let key = created.json["key"].as_str().unwrap().to_owned();
    assert!(created.json["url"].as_str().unwrap().ends_with("/v2/enqueue"));
    let accepted = enqueue(&fixture, trigger(&key, Some("a"), "first")).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let throttled = enqueue(&fixture, trigger(&key, Some("b"), "second")).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{}", throttled.text);
    let retry: u64 = throttled.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry), "retry after {retry} s");
    // The other key of the same service is not throttled.
    let other = enqueue(&fixture, trigger(&fixture.paging.db_key, Some("c"), "third")).await;
    assert_eq!(other.status, StatusCode::ACCEPTED);
    settle(&fixture).await;
    assert_eq!(alert_by_key(&fixture, "a").await.len(), 1);
    assert!(
        alert_by_key(&fixture, "b").await.is_empty(),
        "a throttled event is not stored"
    );
}

pub async fn alertmanager_groups_fire_and_resolve_by_fingerprint(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let group = |status: &str| {
        json!({
            "version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "status": status, "receiver": "cordon",
            "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
            "alerts": [
                {"status": status, "labels": {"alertname": "HighLatency", "instance": "api-1", "severity": "critical"},
                 "annotations": {"summary": "p99 latency 4s on api-1"}, "startsAt": "2026-11-28T03:00:00Z",
                 "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "f00d0001"},
                {"status": status, "labels": {"alertname": "HighLatency", "instance": "api-2", "severity": "warning"},
                 "annotations": {}, "startsAt": "2026-11-28T03:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "http://prom/graph", "fingerprint": "f00d0002"},
            ],
        })
        .to_string()
    };
    let bearer = format!("Bearer {}", fixture.paging.alertmanager_key);
    let fire = post_raw(
        &fixture,
        "/api/v1/intake/alertmanager",
        &[("authorization", &bearer)],
        &group("firing"),
    )
    .await;
    assert_eq!(fire.status, StatusCode::ACCEPTED, "{}", fire.text);
    assert_eq!(fire.json["alerts"], 2);
    // Alertmanager repeats a group until it resolves: still two alerts.
    post_raw(
        &fixture,
        "/api/v1/intake/alertmanager",
        &[("authorization", &bearer)],
        &group("firing"),
    )
    .await;
    settle(&fixture).await;
    let first = alert_by_key(&fixture, "f00d0001").await;
    assert_eq!(first.len(), 1);
    assert_eq!(
        (
            &first[0]["summary"],
            &first[0]["severity"],
            &first[0]["source"],
            &first[0]["events"]
        ),
        (
            &json!("p99 latency 4s on api-1"),
            &json!("critical"),
            &json!("api-1"),
            &json!(2)
        )
    );
    assert_eq!(alert_by_key(&fixture, "f00d0002").await[0]["summary"], "HighLatency");
    let resolve = post_raw(
        &fixture,
        "/api/v1/intake/alertmanager",
        &[("authorization", &bearer)],
        &group("resolved"),
    )
    .await;
    assert_eq!(resolve.status, StatusCode::ACCEPTED);
    settle(&fixture).await;
    assert_eq!(alert_by_key(&fixture, "f00d0001").await[0]["status"], "resolved");
    assert_eq!(alert_by_key(&fixture, "f00d0002").await[0]["status"], "resolved");

    let no_key = post_raw(&fixture, "/api/v1/intake/alertmanager", &[], &group("firing")).await;
    assert_eq!(no_key.status, StatusCode::BAD_REQUEST);
    assert!(no_key.text.contains("Authorization: Bearer"), "{}", no_key.text);
    let broken = post_raw(
        &fixture,
        "/api/v1/intake/alertmanager",
        &[("authorization", &bearer)],
        r#"{"version":"3"}"#,
    )
    .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(broken.text.contains("'version'"), "{}", broken.text);
}

pub async fn generic_webhooks_need_a_valid_signature_and_their_mapping(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let bearer = format!("Bearer {}", fixture.paging.webhook_key);
    let secret = cordon_notify::Secret::new(fixture.paging.webhook_secret.clone());
    let body = json!({"id": "waf-17", "title": "WAF blocked 10k requests from one ASN"}).to_string();
    let signed = cordon_notify::webhook_signature(&secret, now().unix_millis() / 1000, body.as_bytes());
    let unsigned = post_raw(&fixture, "/api/v1/intake/webhook", &[("authorization", &bearer)], &body).await;
    assert_eq!(unsigned.status, StatusCode::UNAUTHORIZED);
    let forged = cordon_notify::webhook_signature(
        &cordon_notify::Secret::new("guess"),
        now().unix_millis() / 1000,
        body.as_bytes(),
    );
    let wrong = post_raw(
        &fixture,
        "/api/v1/intake/webhook",
        &[("authorization", &bearer), ("x-cordon-signature", &forged)],
        &body,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let stale = cordon_notify::webhook_signature(&secret, now().unix_millis() / 1000 - 3_600, body.as_bytes());
    let replayed = post_raw(
        &fixture,
        "/api/v1/intake/webhook",
        &[("authorization", &bearer), ("x-cordon-signature", &stale)],
        &body,
    )
    .await;
    assert_eq!(
        replayed.status,
        StatusCode::UNAUTHORIZED,
        "an hour-old signature is a replay"
    );
    let ok = post_raw(
        &fixture,
        "/api/v1/intake/webhook",
        &[("authorization", &bearer), ("x-cordon-signature", &signed)],
        &body,
    )
    .await;
    assert_eq!(
        (ok.status, ok.json["dedup_key"].clone()),
        (StatusCode::ACCEPTED, json!("waf-17"))
    );
    let unmapped = json!({"title": "no id"}).to_string();
    let signature = cordon_notify::webhook_signature(&secret, now().unix_millis() / 1000, unmapped.as_bytes());
    let bad = post_raw(
        &fixture,
        "/api/v1/intake/webhook",
        &[("authorization", &bearer), ("x-cordon-signature", &signature)],
        &unmapped,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text.contains("'/id' (dedup_key)"), "{}", bad.text);
    settle(&fixture).await;
    assert_eq!(
        alert_by_key(&fixture, "waf-17").await[0]["summary"],
        "WAF blocked 10k requests from one ASN"
    );
}

pub async fn security_alerts_exist_only_for_their_incidents_members(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let id = fixture.paging.security_alert.clone();
    let path = format!("/api/v1/alerts/{id}");
    let missing = "/api/v1/alerts/00000000-0000-4000-8000-000000000000";
    for who in [Who::NonMember, Who::Admin, Who::Responder, Who::Excluded] {
        let hidden = fixture.call(who, Method::GET, &path, None).await;
        let absent = fixture.call(who, Method::GET, missing, None).await;
        assert_eq!((hidden.status, &hidden.text), (absent.status, &absent.text), "{who:?}");
        let ack = fixture
            .call(who, Method::POST, &format!("{path}/acknowledge"), None)
            .await;
        assert_eq!(ack.status, StatusCode::NOT_FOUND, "{who:?}");
        let list = fixture.call(who, Method::GET, "/api/v1/alerts", None).await;
        assert!(!list.text.contains(&id), "{who:?} sees the security alert in the list");
        assert!(
            !list.text.contains("203.0.113.9"),
            "{who:?} sees the security alert's text"
        );
    }
    // alice was paged, so the pipeline made her a member: she sees it, with the page.
    let seen = fixture.call(Who::Member, Method::GET, &path, None).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    assert_eq!(seen.json["summary"], "beacon to 203.0.113.9");
    assert_eq!(seen.json["outcome"], "security");
    let pages = seen.json["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert_eq!((&pages[0]["person"], &pages[0]["level"]), (&json!("alice"), &json!(1)));
    // No mail relay is configured here: the page is recorded as failed, with why.
    assert_eq!(pages[0]["status"], "failed");
    assert!(pages[0]["error"].as_str().unwrap().contains("smtp"), "{pages:#?}");
    let incident = format!("/api/v1/incidents/{}", fixture.paging.security_incident);
    let room = fixture.call(Who::Member, Method::GET, &incident, None).await;
    assert_eq!(room.json["kind"], "security");
    assert_eq!(room.json["declared_by"], "cordon");
    let alerts = fixture
        .call(Who::Member, Method::GET, &format!("{incident}/alerts"), None)
        .await;
    assert_eq!(alerts.json["items"][0]["id"], json!(id));
    let web_room = fixture
        .call(
            Who::Member,
            Method::GET,
            &format!("/incidents/{}", fixture.paging.security_incident),
            None,
        )
        .await;
    assert!(web_room.text.contains("Alerts and pages") && web_room.text.contains("beacon to 203.0.113.9"));
    // Nobody can become the author of the incidents the pipeline declares.
    let impostor = fixture
        .call(
            Who::Admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "cordon", "role": "admin", "password": "a long password indeed"})),
        )
        .await;
    assert_eq!(impostor.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", impostor.text);
}

pub async fn escalation_follows_the_clock_and_stops_when_acknowledged(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let path = format!("/api/v1/alerts/{}", fixture.paging.alert);
    let pages = |reply: &Reply| -> Vec<(String, i64)> {
        reply.json["pages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["person"].as_str().unwrap().to_owned(), p["level"].as_i64().unwrap()))
            .collect()
    };
    let before = fixture.call(Who::Member, Method::GET, &path, None).await;
    assert_eq!(pages(&before), [("alice".to_owned(), 1)]);
    let started = Timestamp::parse_rfc3339(before.json["created_at"].as_str().unwrap()).unwrap();
    let at = |minutes: i64, seconds: i64| {
        Timestamp::from_unix_millis(started.unix_millis() + (minutes * 60 + seconds) * 1000)
    };
    (fixture.pump)(at(4, 59)).await;
    assert_eq!(
        pages(&fixture.call(Who::Member, Method::GET, &path, None).await).len(),
        1
    );
    (fixture.pump)(at(5, 1)).await;
    let after = fixture.call(Who::Member, Method::GET, &path, None).await;
    assert_eq!(
        pages(&after),
        [("alice".to_owned(), 1), ("bob".to_owned(), 2)],
        "level 2 after 5 minutes"
    );
    // The policy has no repeats: nothing more, however long.
    (fixture.pump)(at(60, 0)).await;
    assert_eq!(
        pages(&fixture.call(Who::Member, Method::GET, &path, None).await).len(),
        2
    );

    // A fresh alert acknowledged at once never reaches level 2.
    enqueue(
        &fixture,
        trigger(&fixture.paging.db_key, Some("ack-me"), "queue depth 10k"),
    )
    .await;
    settle(&fixture).await;
    let id = alert_by_key(&fixture, "ack-me").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer = fixture
        .call(
            Who::Viewer,
            Method::POST,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    let ack = fixture
        .call(
            Who::Member,
            Method::POST,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(
        (ack.status, ack.json["acknowledged_by"].clone()),
        (StatusCode::OK, json!("alice"))
    );
    let twice = fixture
        .call(
            Who::Member,
            Method::POST,
            &format!("/api/v1/alerts/{id}/acknowledge"),
            None,
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    (fixture.pump)(Timestamp::from_unix_millis(now().unix_millis() + 3_600_000)).await;
    let acked = fixture
        .call(Who::Member, Method::GET, &format!("/api/v1/alerts/{id}"), None)
        .await;
    assert_eq!(pages(&acked), [("alice".to_owned(), 1)]);
}

/// A webhook receiver on a real socket that keeps every body it gets.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let received: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = Arc::clone(&sink);
            async move {
                let signature = headers
                    .get("x-cordon-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                sink.lock().unwrap().push((signature, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/hook"), received)
}

pub async fn a_webhook_page_carries_signed_links_that_act_only_after_confirmation(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let (url, received) = receiver().await;
    let contact = fixture
        .call(
            Who::Member,
            Method::POST,
            "/api/v1/contacts",
            Some(json!({"channel": {"kind": "webhook", "url": url, "secret": "receiver-secret"}})),
        )
        .await;
    assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.text);
    assert!(
        !contact.text.contains("receiver-secret"),
        "a contact's secret is never shown"
    );
    let others = fixture
        .call(Who::NonMember, Method::GET, "/api/v1/contacts?person=alice", None)
        .await;
    assert_eq!(others.status, StatusCode::FORBIDDEN);

    enqueue(
        &fixture,
        trigger(&fixture.paging.db_key, Some("link-test"), "cert expires in 2 days"),
    )
    .await;
    settle(&fixture).await;
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    let (signature, body) = &deliveries[0];
    cordon_notify::verify_webhook_signature(
        &cordon_notify::Secret::new("receiver-secret"),
        signature,
        body.as_bytes(),
        now().unix_millis() / 1000,
        std::time::Duration::from_secs(300),
    )
    .unwrap();
    let message: Value = serde_json::from_str(body).unwrap();
    assert!(message["subject"].as_str().unwrap().contains("cert expires in 2 days"));
    let ack_url = message["actions"][0]["url"].as_str().unwrap();
    assert_eq!(message["actions"][0]["action"], "acknowledge");
    let ack_path = &ack_url[ack_url.find("/page/").unwrap()..];

    // Opening the link does nothing but show a form (mail scanners open links).
    let get = fixture
        .send(Request::builder().uri(ack_path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(get.status, StatusCode::OK, "{}", get.text);
    assert!(get.text.contains("sent to <strong>alice</strong>"), "{}", get.text);
    assert_eq!(alert_by_key(&fixture, "link-test").await[0]["status"], "triggered");
    let cookie = get.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = get
        .text
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let post = |with_cookie: bool| {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(ack_path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if with_cookie {
            request = request.header(header::COOKIE, cookie.clone());
        }
        request.body(Body::from(format!("csrf_token={csrf}"))).unwrap()
    };
    assert_eq!(
        fixture.send(post(false)).await.status,
        StatusCode::FORBIDDEN,
        "no form cookie, no action"
    );
    let done = fixture.send(post(true)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("Acknowledged 1 alert"), "{}", done.text);
    let alert = &alert_by_key(&fixture, "link-test").await[0];
    assert_eq!(
        (&alert["status"], &alert["acknowledged_by"]),
        (&json!("acknowledged"), &json!("alice"))
    );

    // A link whose token was altered is refused and acts on nothing.
    let mut forged = ack_path.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let refused = fixture
        .send(Request::builder().uri(forged.as_str()).body(Body::empty()).unwrap())
        .await;
    assert_eq!(refused.status, StatusCode::GONE);
}

pub async fn a_storm_reaches_a_person_as_a_few_bundles(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let (url, received) = receiver().await;
    let body = json!({"person": "alice", "channel": {"kind": "webhook", "url": url, "secret": "s"}});
    assert_eq!(
        fixture
            .call(Who::Admin, Method::POST, "/api/v1/contacts", Some(body))
            .await
            .status,
        StatusCode::CREATED
    );

    // Twelve alerts at once: one message that lists them, and one acknowledge link for all
    // that it lists.
    // Alert `n` of the storm: its dedup key is `storm-n`.
    let storm = |n: usize| {
        enqueue(
            &fixture,
            trigger(
                &fixture.paging.db_key,
                Some(&format!("storm-{n}")),
                &format!("node {n} down"),
            ),
        )
    };
    for n in 0..12 {
        assert_eq!(storm(n).await.status, StatusCode::ACCEPTED);
    }
    settle(&fixture).await;
    let messages = received.lock().unwrap().clone();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let message: Value = serde_json::from_str(&messages[0].1).unwrap();
    assert!(
        message["subject"].as_str().unwrap().contains("12 alerts for you"),
        "{message:#}"
    );
    assert!(message["text"].as_str().unwrap().contains("and 2 more"), "{message:#}");
    let mut all = Vec::new();
    for n in 0..12 {
        all.extend(page_statuses(&fixture, &format!("storm-{n}")).await);
    }
    all.sort();
    assert_eq!(all.iter().filter(|s| *s == "sent").count(), 1, "{all:?}");
    assert_eq!(all.iter().filter(|s| *s == "bundled").count(), 11, "{all:?}");

    // Two more single alerts go out at once; the next waits, because three messages reached
    // this destination within the minute.
    for n in 12..15 {
        storm(n).await;
        settle(&fixture).await;
    }
    assert_eq!(received.lock().unwrap().len(), 3);
    assert_eq!(page_statuses(&fixture, "storm-14").await, ["pending"]);
    // A minute later it goes out.
    (fixture.pump)(Timestamp::from_unix_millis(now().unix_millis() + 61_000)).await;
    assert_eq!(received.lock().unwrap().len(), 4);
    assert_eq!(page_statuses(&fixture, "storm-14").await, ["sent"]);
}

/// The statuses of an alert's webhook pages (leaving out the email pages, which fail here for
/// want of a mail relay).
async fn page_statuses(fixture: &Fixture, dedup: &str) -> Vec<String> {
    let alert = &alert_by_key(fixture, dedup).await[0];
    let path = format!("/api/v1/alerts/{}", alert["id"].as_str().unwrap());
    let view = fixture.call(Who::Member, Method::GET, &path, None).await;
    view.json["pages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["error"] != "cannot send email: no smtp relay is configured")
        .map(|p| p["status"].as_str().unwrap().to_owned())
        .collect()
}

pub async fn the_on_call_page_and_api_name_who_is_on_call(backend: Backend) {
    let fixture = Fixture::new(&backend, true).await;
    let page = fixture.call(Who::Viewer, Method::GET, "/oncall", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<strong>alice</strong>"), "{}", page.text);
    assert!(
        page.text.contains("secops") && page.text.contains("security"),
        "{}",
        page.text
    );
    // Across the spring-forward night in Berlin, the weekly 09:00 hand-off stays at 09:00 local.
    let at = "/api/v1/schedules/primary/on-call?at=2026-03-29T01:30:00Z";
    let answer = fixture.call(Who::Viewer, Method::GET, at, None).await;
    assert_eq!(answer.json["person"], "alice");
    assert_eq!(answer.json["shift_start"], "2026-03-23T08:00:00.000Z");
    assert_eq!(answer.json["shift_end"], "2026-03-30T07:00:00.000Z");
    let bad = fixture
        .call(
            Who::Viewer,
            Method::GET,
            "/api/v1/schedules/primary/on-call?at=tomorrow",
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text.contains("RFC 3339"), "{}", bad.text);
    let unknown = fixture
        .call(Who::Viewer, Method::GET, "/api/v1/schedules/nope/on-call", None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // A policy naming a schedule that does not exist is refused, naming it.
    let policy = json!({"levels": [{"targets": [{"kind": "schedule", "name": "ghost"}]}]});
    let refused = fixture
        .call(Who::Admin, Method::PUT, "/api/v1/escalation-policies/p2", Some(policy))
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains("ghost"), "{}", refused.text);
    let zone = json!({"time_zone": "Mars/Olympus", "layers": [], "overrides": []});
    let refused = fixture
        .call(Who::Admin, Method::PUT, "/api/v1/schedules/mars", Some(zone))
        .await;
    assert!(refused.text.contains("Mars/Olympus"), "{}", refused.text);
}

pub async fn a_security_rule_turns_an_ordinary_alert_into_a_security_incident_for_the_security_on_call(
    backend: Backend,
) {
    let fixture = Fixture::new(&backend, true).await;
    let policy = json!({"levels": [{"targets": [{"kind": "person", "name": "rita"}]}]});
    let saved = fixture
        .call(
            Who::Admin,
            Method::PUT,
            "/api/v1/escalation-policies/security",
            Some(policy),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    let service = json!({"escalation_policy": "dba", "rules": [{"field": "summary", "contains_any": ["exfil", "credential"], "then": "security"}]});
    let saved = fixture
        .call(Who::Admin, Method::PUT, "/api/v1/services/db", Some(service))
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    enqueue(
        &fixture,
        trigger(
            &fixture.paging.db_key,
            Some("exfil-1"),
            "possible exfil of payroll to 198.51.100.7",
        ),
    )
    .await;
    enqueue(
        &fixture,
        trigger(&fixture.paging.db_key, Some("cpu-1"), "cpu 97% on db-7"),
    )
    .await;
    settle(&fixture).await;

    // The security on-call (rita) was paged and made a member; the service's own on-call
    // (alice) was not, and does not see it.
    let rita = fixture.call(Who::Responder, Method::GET, "/api/v1/alerts", None).await;
    let security: Vec<&Value> = rita.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["dedup_key"] == "exfil-1")
        .collect();
    assert_eq!(security.len(), 1, "{}", rita.text);
    assert_eq!(security[0]["outcome"], "security");
    let id = security[0]["id"].as_str().unwrap();
    let view = fixture
        .call(Who::Responder, Method::GET, &format!("/api/v1/alerts/{id}"), None)
        .await;
    assert_eq!(view.json["pages"][0]["person"], "rita");
    let incident = fixture
        .call(
            Who::Responder,
            Method::GET,
            &format!("/api/v1/incidents/{}", security[0]["incident"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(
        (incident.json["kind"].clone(), incident.status),
        (json!("security"), StatusCode::OK)
    );
    let alice = fixture
        .call(Who::Member, Method::GET, &format!("/api/v1/alerts/{id}"), None)
        .await;
    assert_eq!(alice.status, StatusCode::NOT_FOUND);
    // The ordinary alert stays ordinary and pages the service's own policy.
    let cpu = &alert_by_key(&fixture, "cpu-1").await[0];
    assert_eq!((&cpu["outcome"], &cpu["incident"]), (&json!("alert"), &Value::Null));
}
