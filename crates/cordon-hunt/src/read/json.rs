//! JSON documents and JSON Lines: CloudTrail `{"Records": [...]}` files, Kubernetes audit
//! events, and any other object. Nested objects flatten to dotted names (`userIdentity.arn`);
//! list elements repeat their parent's name.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::evtx::scalar_value;
use super::lines::for_each_line;
use super::{CorruptRecord, OffsetUnit, ReadError, ReadObserver, ReadOptions};
use crate::event::{Event, LogKind, Origin};

/// A CloudTrail file: only the `Records` array is needed, each element kept as raw text.
#[derive(serde::Deserialize)]
struct RecordsDocument<'text> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'text serde_json::value::RawValue>,
}

pub(super) fn read_json_document(
    reader: impl BufRead,
    origin: &Arc<Origin>,
    options: ReadOptions,
    observer: &mut dyn ReadObserver,
) -> Result<(), ReadError> {
    let bytes = super::read_whole(reader, origin, options)?;
    // CloudTrail files are decoded record by record from their raw text, so that an observer
    // can skip records cheaply and the whole file never exists as one tree of values.
    if let Ok(document) = serde_json::from_slice::<RecordsDocument<'_>>(&bytes) {
        for (index, raw) in document.records.iter().enumerate() {
            let text = raw.get();
            if !observer.wants_record(text.as_bytes()) {
                continue;
            }
            match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => emit(map, index as u64 + 1, origin, observer),
                _ => observer.corrupt_record(CorruptRecord {
                    path: origin.path.to_string(),
                    offset: index as u64,
                    unit: OffsetUnit::Byte,
                    reason: format!("element {index} is not an object"),
                }),
            }
        }
        return Ok(());
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|err| ReadError::Json {
        path: origin.path.to_string(),
        reason: err.to_string(),
    })?;
    match value {
        Value::Object(mut map) => match map.remove("Records") {
            Some(Value::Array(records)) => emit_all(records, origin, observer),
            Some(other) => {
                map.insert("Records".to_owned(), other);
                emit(map, 1, origin, observer);
            }
            None => emit(map, 1, origin, observer),
        },
        Value::Array(items) => emit_all(items, origin, observer),
        _ => {
            return Err(ReadError::Json {
                path: origin.path.to_string(),
                reason: "top level is not an object or array".to_owned(),
            });
        }
    }
    Ok(())
}

fn emit_all(items: Vec<Value>, origin: &Arc<Origin>, observer: &mut dyn ReadObserver) {
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(map) => emit(map, index as u64 + 1, origin, observer),
            _ => observer.corrupt_record(CorruptRecord {
                path: origin.path.to_string(),
                offset: index as u64,
                unit: OffsetUnit::Byte,
                reason: format!("element {index} is not an object"),
            }),
        }
    }
}

pub(super) fn read_json_lines(
    reader: impl BufRead,
    origin: &Arc<Origin>,
    options: ReadOptions,
    observer: &mut dyn ReadObserver,
) -> Result<(), ReadError> {
    for_each_line(
        reader,
        origin,
        options.max_line_bytes,
        observer,
        |line_number, line, observer| {
            if line.iter().all(u8::is_ascii_whitespace) || !observer.wants_record(line) {
                return;
            }
            let corrupt = |reason: String| CorruptRecord {
                path: origin.path.to_string(),
                offset: line_number,
                unit: OffsetUnit::Line,
                reason,
            };
            match serde_json::from_slice::<Value>(line) {
                Ok(Value::Object(mut map)) => match map.remove("Records") {
                    // A CloudTrail file written as one line among others.
                    Some(Value::Array(records)) => emit_all(records, origin, observer),
                    Some(other) => {
                        map.insert("Records".to_owned(), other);
                        emit(map, line_number, origin, observer);
                    }
                    None => emit(map, line_number, origin, observer),
                },
                Ok(_) => observer.corrupt_record(corrupt("line is not a json object".to_owned())),
                Err(err) => observer.corrupt_record(corrupt(err.to_string())),
            }
        },
    )
}

/// Recognises the log kind of one JSON object.
pub fn classify(map: &Map<String, Value>) -> LogKind {
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    if api_version.starts_with("audit.k8s.io") || (map.contains_key("auditID") && map.contains_key("verb")) {
        return LogKind::KubernetesAudit;
    }
    if map.contains_key("eventSource") && map.contains_key("eventName") && map.contains_key("eventTime") {
        return LogKind::CloudTrail;
    }
    LogKind::Json
}

fn emit(map: Map<String, Value>, record_id: u64, origin: &Arc<Origin>, observer: &mut dyn ReadObserver) {
    observer.event(event_from_object(&map, record_id, origin));
}

/// Builds an event from one JSON object.
pub fn event_from_object(map: &Map<String, Value>, record_id: u64, origin: &Arc<Origin>) -> Event {
    let kind = classify(map);
    let mut event = Event::new(kind, origin.clone(), record_id);
    let mut path = String::new();
    for (key, value) in map {
        flatten(&mut event, &mut path, key, value);
    }
    let time_fields: &[&str] = match kind {
        LogKind::CloudTrail => &["eventTime"],
        LogKind::KubernetesAudit => &[
            "requestReceivedTimestamp",
            "stageTimestamp",
            "metadata.creationTimestamp",
        ],
        _ => &[
            "@timestamp",
            "timestamp",
            "time",
            "eventTime",
            "published",
            "date",
            "ts",
        ],
    };
    event.timestamp_ms = time_fields.iter().find_map(|field| {
        let value = event.first(field)?;
        crate::time::parse_timestamp_ms(&value.render())
    });
    event
}

fn flatten(event: &mut Event, path: &mut String, key: &str, value: &Value) {
    let restore = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
    match value {
        Value::Object(map) => {
            if map.is_empty() {
                event.push(path, crate::event::FieldValue::Null);
            }
            for (child_key, child) in map {
                flatten(event, path, child_key, child);
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(map) => {
                        for (child_key, child) in map {
                            flatten(event, path, child_key, child);
                        }
                    }
                    Value::Array(_) => event.push(path, scalar_value(item)),
                    scalar => event.push(path, scalar_value(scalar)),
                }
            }
        }
        scalar => event.push(path, scalar_value(scalar)),
    }
    path.truncate(restore);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_records_flatten_with_dots() {
        let json = serde_json::json!({"eventTime": "2023-07-10T12:00:00Z", "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/a"}, "resources": [{"ARN": "x"}, {"ARN": "y"}]});
        let Value::Object(map) = json else { unreachable!() };
        let event = event_from_object(&map, 1, &Arc::new(Origin { path: "t".into() }));
        assert_eq!(event.kind, LogKind::CloudTrail);
        assert_eq!(event.text("userIdentity.type"), "IAMUser");
        assert_eq!(event.values("resources.ARN").count(), 2);
        assert_eq!(event.timestamp_ms, Some(1_688_990_400_000));
    }
}
