//! Alert intake formats, validated before anything is stored.
//!
//! Senders that already speak PagerDuty's Events API v2 or Alertmanager's webhook should only
//! have to change a URL, so the parsers accept exactly what those senders send, and reject
//! everything else with a list of problems that each name the field, in the style of
//! PagerDuty's own 400 answers (`'payload.summary' is missing or blank`). They never panic on
//! hostile input; a property test feeds them arbitrary bytes.
//!
//! Parsing is separate from acting: every format becomes a [`Signal`] (trigger, acknowledge or
//! resolve one dedup key), which the server stores durably before it answers 202, then routes
//! to an alert and possibly an incident with [`route`] and a service's [`Rule`]s.

pub mod alertmanager;
pub mod pagerduty;
pub mod signal;

pub use signal::{Mapping, Outcome, Rule, Signal, Test, route};

/// Problems found in a payload, each naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub problems: Vec<String>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// Reads a JSON object, or says why the body is not one.
fn object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, Invalid> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(Invalid {
            problems: vec!["the body must be a JSON object".to_owned()],
        }),
        Err(err) => Err(Invalid {
            problems: vec![format!("the body is not valid JSON: {err}")],
        }),
    }
}
