//! Intake parsers: what real senders send is accepted; anything else gets every problem named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cordon_intake::{alertmanager, pagerduty};
use proptest::prelude::*;
use serde_json::json;

const KEY: &str = "R0123456789abcdefghijklmnopqrstu";

#[test]
fn a_trigger_as_the_pagerduty_client_sends_it_is_accepted() {
    let body = json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {
            "summary": "DB CPU at 99%",
            "source": "db-3",
            "severity": "critical",
            "timestamp": "2026-11-28T01:02:03.456+00:00",
            "component": "postgres",
            "custom_details": {"load": 9.7}
        },
        "links": [{"href": "https://grafana.example/d/1", "text": "dashboard"}],
        "client": "Monitoring"
    });
    let event = pagerduty::parse(body.to_string().as_bytes()).unwrap();
    assert_eq!(event.action, pagerduty::Action::Trigger);
    assert_eq!(event.dedup_key, None, "the server generates one");
    let trigger = event.trigger.unwrap();
    assert_eq!(
        (trigger.summary.as_str(), trigger.severity),
        ("DB CPU at 99%", pagerduty::Severity::Critical)
    );
    assert_eq!(trigger.links.len(), 1);
}

#[test]
fn acknowledge_and_resolve_need_a_dedup_key_and_no_payload() {
    let resolve = json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "db-3/cpu"});
    let event = pagerduty::parse(resolve.to_string().as_bytes()).unwrap();
    assert_eq!(
        (event.action, event.dedup_key.as_deref()),
        (pagerduty::Action::Resolve, Some("db-3/cpu"))
    );
    let missing = json!({"routing_key": KEY, "event_action": "acknowledge"});
    let err = pagerduty::parse(missing.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.problems, ["'dedup_key' is required to acknowledge or resolve"]);
}

#[test]
fn every_problem_is_named_at_once() {
    let body = json!({"routing_key": "short", "event_action": "trigger", "dedup_key": "x".repeat(300), "payload": {"severity": "fatal"}});
    let err = pagerduty::parse(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err.problems,
        [
            "'routing_key' must be 32 characters (an integration key)",
            "'dedup_key' is longer than 255 characters",
            "'payload.summary' is missing or blank",
            "'payload.source' is missing or blank",
            "'payload.severity' must be critical, error, warning or info, not \"fatal\"",
        ]
    );
    assert_eq!(
        pagerduty::parse(b"[1,2]").unwrap_err().problems,
        ["the body must be a JSON object"]
    );
    assert!(pagerduty::parse(b"{nope").unwrap_err().problems[0].starts_with("the body is not valid JSON"));
}

fn alertmanager_body(status: &str) -> serde_json::Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "cordon",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": "checkout"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "HighErrorRate", "instance": "web-1"},
            "annotations": {"summary": "5xx above 5% on web-1"},
            "startsAt": "2026-11-28T01:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "c6e5e3f1a2b4d6e8"
        }]
    })
}

#[test]
fn an_alertmanager_group_is_accepted_with_fingerprints_as_dedup_keys() {
    let group = alertmanager::parse(alertmanager_body("firing").to_string().as_bytes()).unwrap();
    assert_eq!(group.status, alertmanager::Status::Firing);
    let alert = &group.alerts[0];
    assert_eq!(
        (alert.fingerprint.as_str(), alert.summary()),
        ("c6e5e3f1a2b4d6e8", "5xx above 5% on web-1".to_owned())
    );
    assert_eq!(alert.ends_at, None, "the zero time means still firing");
    let resolved = alertmanager::parse(alertmanager_body("resolved").to_string().as_bytes()).unwrap();
    assert_eq!(resolved.alerts[0].status, alertmanager::Status::Resolved);
}

#[test]
fn a_broken_alertmanager_body_names_each_alert_problem() {
    let mut body = alertmanager_body("firing");
    body["version"] = json!("3");
    body["alerts"][0]["fingerprint"] = json!("");
    body["alerts"][0]["startsAt"] = json!("yesterday");
    let err = alertmanager::parse(body.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        err.problems,
        [
            "'version' \"3\" is not supported (expected \"4\")",
            "'alerts[0].fingerprint' is missing or blank",
            "'alerts[0].startsAt' \"yesterday\" is not an RFC 3339 date-time",
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = pagerduty::parse(&bytes);
        let _ = alertmanager::parse(&bytes);
    }

    #[test]
    fn json_shaped_garbage_never_panics(
        action in prop_oneof![Just(json!("trigger")), Just(json!("resolve")), Just(json!(3)), Just(json!(null))],
        summary in prop_oneof![Just(json!("s")), Just(json!("")), Just(json!([1])), Just(json!(null))],
        status in prop_oneof![Just(json!("firing")), Just(json!("x")), Just(json!({}))],
    ) {
        let pd = json!({"routing_key": KEY, "event_action": action, "payload": {"summary": summary, "source": "s", "severity": "info"}});
        let _ = pagerduty::parse(pd.to_string().as_bytes());
        let am = json!({"version": "4", "status": status, "alerts": [{"status": status, "fingerprint": "f", "labels": {}}]});
        let _ = alertmanager::parse(am.to_string().as_bytes());
    }
}
