//! Prometheus Alertmanager webhooks (`webhook_configs`, payload version 4): one request carries
//! a group of alerts, each firing or resolved, with its fingerprint as a natural dedup key.

use cordon_domain::Timestamp;
use serde_json::{Map, Value};

use crate::{Invalid, object};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Firing,
    Resolved,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub status: Status,
    pub receiver: String,
    pub group_key: String,
    pub common_labels: Map<String, Value>,
    pub alerts: Vec<Alert>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub status: Status,
    pub fingerprint: String,
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
    pub starts_at: Option<Timestamp>,
    /// Alertmanager sends `0001-01-01T00:00:00Z` for alerts still firing; that is `None`.
    pub ends_at: Option<Timestamp>,
    pub generator_url: Option<String>,
}

impl Alert {
    /// A one-line summary: the `summary` annotation, else the alert name.
    pub fn summary(&self) -> String {
        let text = |map: &Map<String, Value>, key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        text(&self.annotations, "summary")
            .or_else(|| text(&self.labels, "alertname"))
            .unwrap_or_else(|| format!("alert {}", self.fingerprint))
    }
}

/// Parses and validates a webhook body.
pub fn parse(body: &[u8]) -> Result<Group, Invalid> {
    let map = object(body)?;
    let mut problems = Vec::new();
    match map.get("version").and_then(Value::as_str) {
        Some("4") => {}
        Some(other) => problems.push(format!("'version' {other:?} is not supported (expected \"4\")")),
        None => problems.push("'version' is missing".to_owned()),
    }
    let status = status(map.get("status"), "status", &mut problems);
    let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let alerts = match map.get("alerts").and_then(Value::as_array) {
        Some(alerts) if !alerts.is_empty() => alerts
            .iter()
            .enumerate()
            .filter_map(|(index, alert)| parse_alert(alert, index, &mut problems))
            .collect(),
        Some(_) => {
            problems.push("'alerts' is empty".to_owned());
            Vec::new()
        }
        None => {
            problems.push("'alerts' is missing or not an array".to_owned());
            Vec::new()
        }
    };
    match status {
        Some(status) if problems.is_empty() => Ok(Group {
            status,
            receiver: text("receiver"),
            group_key: text("groupKey"),
            common_labels: map
                .get("commonLabels")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            alerts,
        }),
        _ => Err(Invalid { problems }),
    }
}

fn status(value: Option<&Value>, field: &str, problems: &mut Vec<String>) -> Option<Status> {
    match value.and_then(Value::as_str) {
        Some("firing") => Some(Status::Firing),
        Some("resolved") => Some(Status::Resolved),
        _ => {
            problems.push(format!("'{field}' must be \"firing\" or \"resolved\""));
            None
        }
    }
}

fn parse_alert(value: &Value, index: usize, problems: &mut Vec<String>) -> Option<Alert> {
    let Some(alert) = value.as_object() else {
        problems.push(format!("'alerts[{index}]' is not an object"));
        return None;
    };
    let status = status(alert.get("status"), &format!("alerts[{index}].status"), problems);
    let fingerprint = match alert.get("fingerprint").and_then(Value::as_str) {
        Some(fingerprint) if !fingerprint.is_empty() => Some(fingerprint.to_owned()),
        _ => {
            problems.push(format!("'alerts[{index}].fingerprint' is missing or blank"));
            None
        }
    };
    let labels = match alert.get("labels") {
        Some(Value::Object(labels)) => labels.clone(),
        _ => {
            problems.push(format!("'alerts[{index}].labels' is missing or not an object"));
            Map::new()
        }
    };
    let time = |key: &str, problems: &mut Vec<String>| match alert.get(key).and_then(Value::as_str) {
        None => None,
        Some(text) if text.starts_with("0001-01-01") => None,
        Some(text) => match Timestamp::parse_rfc3339(text) {
            Ok(at) => Some(at),
            Err(_) => {
                problems.push(format!("'alerts[{index}].{key}' {text:?} is not an RFC 3339 date-time"));
                None
            }
        },
    };
    let starts_at = time("startsAt", problems);
    let ends_at = time("endsAt", problems);
    Some(Alert {
        status: status?,
        fingerprint: fingerprint?,
        labels,
        annotations: alert
            .get("annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        starts_at,
        ends_at,
        generator_url: alert.get("generatorURL").and_then(Value::as_str).map(str::to_owned),
    })
}
