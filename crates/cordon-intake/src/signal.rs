//! One shape for every sender: a [`Signal`] says trigger, acknowledge or resolve the alert with
//! this dedup key. The server stores signals, not request bodies, so processing does not care
//! whether PagerDuty's format, Alertmanager's or a mapped webhook brought them.

use cordon_domain::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::pagerduty::{self, Action, MAX_DEDUP_KEY, MAX_SUMMARY, Severity};
use crate::{Invalid, alertmanager, object};

/// A validated, normalized intake event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub action: Action,
    pub dedup_key: String,
    /// What a trigger says; empty on acknowledge and resolve.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub source: String,
    pub severity: Severity,
    /// Alerts of one group (Alertmanager's group key, PagerDuty's `payload.group`) join the
    /// incident the first of them opened.
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    /// Everything else the sender said: labels, annotations, custom details, links.
    #[serde(default)]
    pub details: Value,
}

impl Signal {
    /// A PagerDuty event as a signal. A trigger without a dedup key gets `generated`, which the
    /// caller returns to the sender as PagerDuty does.
    pub fn from_pagerduty(event: pagerduty::Event, generated: impl FnOnce() -> String) -> Signal {
        let dedup_key = event.dedup_key.unwrap_or_else(generated);
        match event.trigger {
            Some(trigger) => {
                let mut details = Map::new();
                let mut put = |key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        details.insert(key.to_owned(), value);
                    }
                };
                put("component", trigger.component.map(Value::String));
                put("class", trigger.class.map(Value::String));
                put("custom_details", trigger.custom_details);
                put("client", trigger.client.map(Value::String));
                put("client_url", trigger.client_url.map(Value::String));
                put("links", Some(Value::Array(trigger.links)).filter(|v| v != &json!([])));
                put("images", Some(Value::Array(trigger.images)).filter(|v| v != &json!([])));
                Signal {
                    action: event.action,
                    dedup_key,
                    summary: trigger.summary,
                    source: trigger.source,
                    severity: trigger.severity,
                    group: trigger.group,
                    occurred_at: trigger.timestamp,
                    details: Value::Object(details),
                }
            }
            None => Signal::bare(event.action, dedup_key),
        }
    }

    /// Each alert of an Alertmanager group as a signal: firing triggers, resolved resolves, and
    /// the fingerprint is the dedup key.
    pub fn from_alertmanager(group: &alertmanager::Group) -> Vec<Signal> {
        group
            .alerts
            .iter()
            .map(|alert| {
                let label = |key: &str| alert.labels.get(key).and_then(Value::as_str);
                let action = match alert.status {
                    alertmanager::Status::Firing => Action::Trigger,
                    alertmanager::Status::Resolved => Action::Resolve,
                };
                let source = label("instance")
                    .or_else(|| label("job"))
                    .unwrap_or(group.receiver.as_str())
                    .to_owned();
                Signal {
                    action,
                    dedup_key: alert.fingerprint.clone(),
                    summary: clip(&alert.summary(), MAX_SUMMARY),
                    source,
                    severity: label("severity").map_or(Severity::Error, severity_from_label),
                    group: Some(group.group_key.clone()).filter(|key| !key.is_empty()),
                    occurred_at: alert.starts_at,
                    details: json!({
                        "labels": alert.labels,
                        "annotations": alert.annotations,
                        "generator_url": alert.generator_url,
                    }),
                }
            })
            .collect()
    }

    fn bare(action: Action, dedup_key: String) -> Signal {
        Signal {
            action,
            dedup_key,
            summary: String::new(),
            source: String::new(),
            severity: Severity::Info,
            group: None,
            occurred_at: None,
            details: Value::Null,
        }
    }

    /// The value a routing rule's `field` names: `summary`, `source`, `severity`, `group`, or a
    /// dotted path into the details such as `details.labels.team`.
    pub fn field(&self, name: &str) -> Option<String> {
        match name {
            "summary" => Some(self.summary.clone()),
            "source" => Some(self.source.clone()),
            "severity" => Some(self.severity.as_str().to_owned()),
            "group" => self.group.clone(),
            "dedup_key" => Some(self.dedup_key.clone()),
            _ => {
                let path = name.strip_prefix("details.")?;
                let mut value = &self.details;
                for part in path.split('.') {
                    value = value.get(part)?;
                }
                match value {
                    Value::String(text) => Some(text.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
        }
    }
}

/// Alertmanager has no fixed severities; the common label values map onto PagerDuty's four.
fn severity_from_label(label: &str) -> Severity {
    match label.to_ascii_lowercase().as_str() {
        "critical" | "page" | "emergency" | "alert" | "fatal" => Severity::Critical,
        "warning" | "warn" => Severity::Warning,
        "info" | "informational" | "notice" | "none" => Severity::Info,
        _ => Severity::Error,
    }
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// How a generic JSON webhook's fields become a signal: each is a JSON Pointer (RFC 6901) into
/// the body, such as `/alert/title`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub dedup_key: String,
    pub summary: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    /// Where the action is; its value is read as trigger (`trigger`, `firing`, `open`,
    /// `alert`), acknowledge (`acknowledge`, `ack`) or resolve (`resolve`, `resolved`, `ok`,
    /// `closed`). Without it every event triggers.
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

impl Mapping {
    /// Checks that every pointer is a JSON Pointer, naming the first that is not.
    pub fn validate(&self) -> Result<(), Invalid> {
        let pointers = [
            ("dedup_key", Some(&self.dedup_key)),
            ("summary", Some(&self.summary)),
            ("source", self.source.as_ref()),
            ("severity", self.severity.as_ref()),
            ("action", self.action.as_ref()),
            ("group", self.group.as_ref()),
        ];
        let problems: Vec<String> = pointers
            .into_iter()
            .filter_map(|(field, pointer)| Some((field, pointer?)))
            .filter(|(_, pointer)| !pointer.is_empty() && !pointer.starts_with('/'))
            .map(|(field, pointer)| {
                format!("mapping '{field}': {pointer:?} is not a JSON Pointer (it must start with '/')")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Invalid { problems })
        }
    }

    /// Reads one event from a webhook body with this mapping, naming every field it cannot find.
    pub fn apply(&self, body: &[u8]) -> Result<Signal, Invalid> {
        let value = Value::Object(object(body)?);
        let mut problems = Vec::new();
        let text = |pointer: &str| match value.pointer(pointer) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            Some(Value::Bool(flag)) => Some(flag.to_string()),
            _ => None,
        };
        let required = |field: &str, pointer: &str, max: usize, problems: &mut Vec<String>| match text(pointer) {
            Some(found) if found.trim().is_empty() => {
                problems.push(format!("'{pointer}' ({field}) is blank"));
                None
            }
            Some(found) if found.chars().count() > max => {
                problems.push(format!("'{pointer}' ({field}) is longer than {max} characters"));
                None
            }
            Some(found) => Some(found),
            None => {
                problems.push(format!("'{pointer}' ({field}) is missing or not a string"));
                None
            }
        };
        let dedup_key = required("dedup_key", &self.dedup_key, MAX_DEDUP_KEY, &mut problems);
        let action = match self.action.as_deref() {
            None => Some(Action::Trigger),
            Some(pointer) => match text(pointer).map(|word| word.to_ascii_lowercase()).as_deref() {
                Some("trigger" | "firing" | "open" | "alert" | "problem") => Some(Action::Trigger),
                Some("acknowledge" | "ack" | "acknowledged") => Some(Action::Acknowledge),
                Some("resolve" | "resolved" | "ok" | "closed" | "recovery") => Some(Action::Resolve),
                Some(other) => {
                    problems.push(format!(
                        "'{pointer}' (action) {other:?} is not trigger, acknowledge or resolve"
                    ));
                    None
                }
                None => {
                    problems.push(format!("'{pointer}' (action) is missing or not a string"));
                    None
                }
            },
        };
        let summary = match action {
            Some(Action::Trigger) => required("summary", &self.summary, MAX_SUMMARY, &mut problems),
            _ => Some(String::new()),
        };
        let severity = match self.severity.as_deref().and_then(text) {
            Some(word) => severity_from_label(&word),
            None => Severity::Error,
        };
        match (dedup_key, action, summary) {
            (Some(dedup_key), Some(action), Some(summary)) if problems.is_empty() => Ok(Signal {
                action,
                dedup_key,
                summary,
                source: self.source.as_deref().and_then(text).unwrap_or_default(),
                severity,
                group: self.group.as_deref().and_then(text),
                occurred_at: None,
                details: value,
            }),
            _ => Err(Invalid { problems }),
        }
    }
}

/// What an alert leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An alert that pages the service's on-call, with no incident.
    Alert,
    /// An operational incident, opened or joined.
    Incident,
    /// A security incident: restricted, codenamed; the notification says only the codename,
    /// severity and a link.
    Security,
}

impl Outcome {
    /// The word an outcome is stored and shown as.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Alert => "alert",
            Outcome::Incident => "incident",
            Outcome::Security => "security",
        }
    }

    pub fn from_word(word: &str) -> Option<Outcome> {
        match word {
            "alert" => Some(Outcome::Alert),
            "incident" => Some(Outcome::Incident),
            "security" => Some(Outcome::Security),
            _ => None,
        }
    }
}

/// A routing rule: when the signal's `field` passes the test, the alert leads to `then`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub field: String,
    #[serde(flatten)]
    pub test: Test,
    pub then: Outcome,
}

/// Case-insensitive tests on a field's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Test {
    Equals(String),
    Contains(String),
    /// Any of these words appears in the field.
    ContainsAny(Vec<String>),
}

impl Test {
    fn passes(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        match self {
            Test::Equals(wanted) => text == wanted.to_lowercase(),
            Test::Contains(wanted) => text.contains(&wanted.to_lowercase()),
            Test::ContainsAny(words) => words.iter().any(|word| text.contains(&word.to_lowercase())),
        }
    }
}

/// The outcome of the first rule that matches, else `default`. A security-sensitive service
/// passes [`Outcome::Security`] as its default, and then no rule can route its alerts anywhere
/// less restricted.
pub fn route(rules: &[Rule], default: Outcome, signal: &Signal) -> Outcome {
    if default == Outcome::Security {
        return Outcome::Security;
    }
    rules
        .iter()
        .find(|rule| signal.field(&rule.field).is_some_and(|text| rule.test.passes(&text)))
        .map_or(default, |rule| rule.then)
}
