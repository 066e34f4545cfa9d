//! Intake parsers: what real senders send is accepted; anything else gets every problem named.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cordon_intake::{Mapping, Outcome, Rule, Signal, Test, alertmanager, pagerduty, route};
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

#[test]
fn a_trigger_without_a_dedup_key_gets_the_generated_one_and_keeps_its_details() {
    let body = json!({
        "routing_key": KEY, "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-3", "severity": "warning", "group": "db",
                    "custom_details": {"free": "0 B"}},
    });
    let signal = Signal::from_pagerduty(pagerduty::parse(body.to_string().as_bytes()).unwrap(), || {
        "gen-1".into()
    });
    assert_eq!(signal.dedup_key, "gen-1");
    assert_eq!(signal.group.as_deref(), Some("db"));
    assert_eq!(signal.field("details.custom_details.free").as_deref(), Some("0 B"));
    assert_eq!(signal.field("severity").as_deref(), Some("warning"));
}

#[test]
fn each_alert_of_an_alertmanager_group_is_one_signal_keyed_by_fingerprint() {
    let mut body = alertmanager_body("firing");
    body["alerts"][0]["labels"]["severity"] = json!("page");
    let group = alertmanager::parse(body.to_string().as_bytes()).unwrap();
    let signals = Signal::from_alertmanager(&group);
    assert_eq!(signals.len(), group.alerts.len());
    assert_eq!(signals[0].dedup_key, group.alerts[0].fingerprint);
    assert_eq!(signals[0].action, pagerduty::Action::Trigger);
    assert_eq!(signals[0].severity, pagerduty::Severity::Critical);
    let resolved = alertmanager::parse(alertmanager_body("resolved").to_string().as_bytes()).unwrap();
    assert!(
        Signal::from_alertmanager(&resolved)
            .iter()
            .all(|s| s.action == pagerduty::Action::Resolve)
    );
}

#[test]
fn a_mapping_reads_a_webhook_and_names_the_pointers_it_cannot_find() {
    let mapping = Mapping {
        dedup_key: "/id".into(),
        summary: "/title".into(),
        source: Some("/host".into()),
        severity: Some("/level".into()),
        action: Some("/state".into()),
        group: None,
    };
    mapping.validate().unwrap();
    let ok =
        json!({"id": 42, "title": "WAF blocked 10k requests", "host": "edge-1", "level": "critical", "state": "open"});
    let signal = mapping.apply(ok.to_string().as_bytes()).unwrap();
    assert_eq!(
        (signal.dedup_key.as_str(), signal.severity),
        ("42", pagerduty::Severity::Critical)
    );
    let resolved = mapping
        .apply(json!({"id": "42", "state": "closed"}).to_string().as_bytes())
        .unwrap();
    assert_eq!(resolved.action, pagerduty::Action::Resolve);
    let err = mapping
        .apply(json!({"title": "", "state": "maybe"}).to_string().as_bytes())
        .unwrap_err();
    assert_eq!(
        err.problems,
        [
            "'/id' (dedup_key) is missing or not a string",
            "'/state' (action) \"maybe\" is not trigger, acknowledge or resolve",
        ]
    );
    let bad = Mapping {
        summary: "title".into(),
        ..mapping
    };
    assert!(bad.validate().unwrap_err().problems[0].contains("'summary'"));
}

#[test]
fn routing_takes_the_first_matching_rule_and_never_lowers_a_security_service() {
    let signal = Signal::from_pagerduty(
        pagerduty::parse(
            json!({"routing_key": KEY, "event_action": "trigger",
                   "payload": {"summary": "Possible credential stuffing on /login", "source": "waf", "severity": "error"}})
            .to_string()
            .as_bytes(),
        )
        .unwrap(),
        || "k".into(),
    );
    let rules = vec![
        Rule {
            field: "summary".into(),
            test: Test::ContainsAny(vec!["credential".into(), "exfil".into()]),
            then: Outcome::Security,
        },
        Rule {
            field: "severity".into(),
            test: Test::Equals("error".into()),
            then: Outcome::Incident,
        },
    ];
    assert_eq!(route(&rules, Outcome::Alert, &signal), Outcome::Security);
    assert_eq!(route(&rules[1..], Outcome::Alert, &signal), Outcome::Incident);
    assert_eq!(route(&[], Outcome::Alert, &signal), Outcome::Alert);
    let lower = [Rule {
        field: "source".into(),
        test: Test::Equals("WAF".into()),
        then: Outcome::Alert,
    }];
    assert_eq!(route(&lower, Outcome::Security, &signal), Outcome::Security);
    assert_eq!(route(&lower, Outcome::Incident, &signal), Outcome::Alert);
    let parsed: Rule =
        serde_json::from_value(json!({"field": "details.labels.team", "equals": "sec", "then": "security"})).unwrap();
    assert_eq!(parsed.test, Test::Equals("sec".into()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn a_mapping_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mapping = Mapping { dedup_key: "/a".into(), summary: "/b/0".into(), source: None, severity: Some("/c".into()), action: Some("/d".into()), group: None };
        let _ = mapping.apply(&bytes);
    }

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
