//! PagerDuty Events API v2 (`POST /v2/enqueue`): trigger, acknowledge and resolve.

use cordon_domain::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Invalid, object};

pub const MAX_DEDUP_KEY: usize = 255;
pub const MAX_SUMMARY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Trigger,
    Acknowledge,
    Resolve,
}

/// Ordered from most to least urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Acknowledge => "acknowledge",
            Action::Resolve => "resolve",
        }
    }
}

impl Severity {
    pub fn from_word(word: &str) -> Option<Severity> {
        match word {
            "critical" => Some(Severity::Critical),
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A valid Events API v2 event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub routing_key: String,
    pub action: Action,
    /// Present on every acknowledge and resolve; optional on a trigger (the server generates
    /// one and returns it).
    pub dedup_key: Option<String>,
    /// Present on triggers only.
    pub trigger: Option<Trigger>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    pub timestamp: Option<Timestamp>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub custom_details: Option<Value>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub links: Vec<Value>,
    pub images: Vec<Value>,
}

/// Parses and validates an event. Every problem is reported, not just the first.
pub fn parse(body: &[u8]) -> Result<Event, Invalid> {
    let map = object(body)?;
    let mut problems = Vec::new();
    let routing_key = required_text(&map, "routing_key", "", &mut problems);
    if let Some(key) = &routing_key {
        if key.chars().count() != 32 {
            problems.push("'routing_key' must be 32 characters (an integration key)".to_owned());
        }
    }
    let action = match map.get("event_action").and_then(Value::as_str) {
        Some("trigger") => Some(Action::Trigger),
        Some("acknowledge") => Some(Action::Acknowledge),
        Some("resolve") => Some(Action::Resolve),
        Some(other) => {
            problems.push(format!(
                "'event_action' must be trigger, acknowledge or resolve, not {other:?}"
            ));
            None
        }
        None => {
            problems.push("'event_action' is missing or not a string".to_owned());
            None
        }
    };
    let dedup_key = match map.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(key)) if key.trim().is_empty() => {
            problems.push("'dedup_key' is blank".to_owned());
            None
        }
        Some(Value::String(key)) if key.chars().count() > MAX_DEDUP_KEY => {
            problems.push(format!("'dedup_key' is longer than {MAX_DEDUP_KEY} characters"));
            None
        }
        Some(Value::String(key)) => Some(key.clone()),
        Some(_) => {
            problems.push("'dedup_key' must be a string".to_owned());
            None
        }
    };
    if matches!(action, Some(Action::Acknowledge | Action::Resolve))
        && dedup_key.is_none()
        && map.get("dedup_key").is_none()
    {
        problems.push("'dedup_key' is required to acknowledge or resolve".to_owned());
    }
    let trigger = match action {
        Some(Action::Trigger) => parse_trigger(&map, &mut problems),
        _ => None,
    };
    match (routing_key, action, problems.is_empty()) {
        (Some(routing_key), Some(action), true) => Ok(Event {
            routing_key,
            action,
            dedup_key,
            trigger,
        }),
        _ => Err(Invalid { problems }),
    }
}

fn parse_trigger(map: &Map<String, Value>, problems: &mut Vec<String>) -> Option<Trigger> {
    let Some(payload) = map.get("payload").and_then(Value::as_object) else {
        problems.push("'payload' is missing or not an object (required to trigger)".to_owned());
        return None;
    };
    let summary = required_text(payload, "summary", "payload.", problems);
    if summary.as_ref().is_some_and(|s| s.chars().count() > MAX_SUMMARY) {
        problems.push(format!("'payload.summary' is longer than {MAX_SUMMARY} characters"));
    }
    let source = required_text(payload, "source", "payload.", problems);
    let severity = match payload.get("severity").and_then(Value::as_str) {
        Some(word) if Severity::from_word(word).is_some() => Severity::from_word(word),
        Some(other) => {
            problems.push(format!(
                "'payload.severity' must be critical, error, warning or info, not {other:?}"
            ));
            None
        }
        None => {
            problems.push("'payload.severity' is missing or not a string".to_owned());
            None
        }
    };
    let timestamp = match payload.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match Timestamp::parse_rfc3339(text) {
            Ok(at) => Some(at),
            Err(_) => {
                problems.push(format!("'payload.timestamp' {text:?} is not an ISO 8601 date-time"));
                None
            }
        },
        Some(_) => {
            problems.push("'payload.timestamp' must be a string".to_owned());
            None
        }
    };
    let optional =
        |field: &str, problems: &mut Vec<String>, prefix: &str, from: &Map<String, Value>| match from.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                problems.push(format!("'{prefix}{field}' must be a string"));
                None
            }
        };
    let component = optional("component", problems, "payload.", payload);
    let group = optional("group", problems, "payload.", payload);
    let class = optional("class", problems, "payload.", payload);
    let client = optional("client", problems, "", map);
    let client_url = optional("client_url", problems, "", map);
    let list = |field: &str, problems: &mut Vec<String>| match map.get(field) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            problems.push(format!("'{field}' must be an array"));
            Vec::new()
        }
    };
    let links = list("links", problems);
    let images = list("images", problems);
    Some(Trigger {
        summary: summary?,
        source: source?,
        severity: severity?,
        timestamp,
        component,
        group,
        class,
        custom_details: payload.get("custom_details").filter(|v| !v.is_null()).cloned(),
        client,
        client_url,
        links,
        images,
    })
}

fn required_text(map: &Map<String, Value>, field: &str, prefix: &str, problems: &mut Vec<String>) -> Option<String> {
    match map.get(field).and_then(Value::as_str) {
        Some(text) if !text.trim().is_empty() => Some(text.to_owned()),
        _ => {
            problems.push(format!("'{prefix}{field}' is missing or blank"));
            None
        }
    }
}
