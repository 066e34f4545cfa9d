//! Windows EVTX through the `evtx` crate: each record is rendered to JSON and flattened the way
//! Sigma names Windows fields (`EventID`, `Channel`, `Provider_Name`, `Image`, ...).

use std::fs::File;
use std::sync::Arc;

use evtx::{EvtxParser, ParserSettings};
use serde_json::Value;

use super::{CorruptRecord, OffsetUnit, ReadError, ReadObserver};
use crate::event::{Event, FieldValue, LogKind, Origin};

pub(super) enum EvtxInput {
    File(File),
    Buffer(Vec<u8>),
}

const FILE_HEADER_BYTES: u64 = 4096;
const CHUNK_BYTES: u64 = 65536;

pub(super) fn read_evtx(
    input: EvtxInput,
    origin: &Arc<Origin>,
    observer: &mut dyn ReadObserver,
) -> Result<(), ReadError> {
    let invalid = |reason: String| ReadError::Evtx {
        path: origin.path.to_string(),
        reason,
    };
    match input {
        EvtxInput::File(file) => {
            let parser = EvtxParser::from_read_seek(file).map_err(|err| invalid(err.to_string()))?;
            read_chunks(parser, origin, observer);
        }
        EvtxInput::Buffer(buffer) => {
            let parser = EvtxParser::from_buffer(buffer).map_err(|err| invalid(err.to_string()))?;
            read_chunks(parser, origin, observer);
        }
    }
    Ok(())
}

fn read_chunks<T: std::io::Read + std::io::Seek>(
    mut parser: EvtxParser<T>,
    origin: &Arc<Origin>,
    observer: &mut dyn ReadObserver,
) {
    let settings = Arc::new(ParserSettings::new().num_threads(1));
    let corrupt = |offset: u64, reason: String| CorruptRecord {
        path: origin.path.to_string(),
        offset,
        unit: OffsetUnit::Byte,
        reason,
    };
    for (chunk_number, chunk) in parser.chunks().enumerate() {
        let chunk_offset = FILE_HEADER_BYTES + chunk_number as u64 * CHUNK_BYTES;
        let mut chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                observer.corrupt_record(corrupt(chunk_offset, format!("unreadable chunk: {err}")));
                continue;
            }
        };
        let mut chunk = match chunk.parse(settings.clone()) {
            Ok(chunk) => chunk,
            Err(err) => {
                observer.corrupt_record(corrupt(chunk_offset, format!("unparsable chunk: {err}")));
                continue;
            }
        };
        for record in chunk.iter() {
            let record = match record {
                Ok(record) => record,
                Err(err) => {
                    observer.corrupt_record(corrupt(chunk_offset, format!("unparsable record: {err}")));
                    continue;
                }
            };
            let record_offset = chunk_offset + record.binxml_offset.saturating_sub(24);
            let record_id = record.event_record_id;
            let timestamp_ms = record.timestamp.as_millisecond();
            let rendered = match record.into_json_bytes() {
                Ok(rendered) => rendered,
                Err(err) => {
                    observer.corrupt_record(corrupt(record_offset, format!("record {record_id}: {err}")));
                    continue;
                }
            };
            match event_from_json(&rendered.data, origin) {
                Ok(mut event) => {
                    event.record_id = record_id;
                    // The record header's time is zero in some exported logs; the event's own
                    // `TimeCreated` is what Windows shows, so it wins when present.
                    let created = event
                        .first("TimeCreated_SystemTime")
                        .and_then(|value| crate::time::parse_timestamp_ms(&value.render()));
                    event.timestamp_ms = created.or((timestamp_ms > 0).then_some(timestamp_ms));
                    observer.event(event);
                }
                Err(reason) => observer.corrupt_record(corrupt(record_offset, format!("record {record_id}: {reason}"))),
            }
        }
    }
}

/// Flattens the `evtx` crate's JSON rendering of one record.
pub(crate) fn event_from_json(json: &[u8], origin: &Arc<Origin>) -> Result<Event, String> {
    let value: Value = serde_json::from_slice(json).map_err(|err| err.to_string())?;
    let mut event = Event::new(LogKind::Evtx, origin.clone(), 0);
    let Some(root) = value.get("Event").and_then(Value::as_object) else {
        return Err("record has no Event element".to_owned());
    };
    for (section, content) in root {
        match section.as_str() {
            "#attributes" | "RenderingInfo" => {}
            "System" | "EventData" | "UserData" => flatten_windows(&mut event, section, content),
            _ => flatten_windows(&mut event, section, content),
        }
    }
    if let Some(record_id) = event.first("EventRecordID").and_then(FieldValue::as_f64) {
        event.record_id = record_id as u64;
    }
    Ok(event)
}

/// Names leaves by their own element name; attributes become `<element>_<attribute>`
/// (`Provider_Name`), and an element's text takes the element's name (`EventID`).
fn flatten_windows(event: &mut Event, name: &str, value: &Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match key.as_str() {
                    "#attributes" => {
                        if let Value::Object(attributes) = child {
                            for (attribute, attribute_value) in attributes {
                                if attribute != "xmlns" {
                                    flatten_windows(event, &format!("{name}_{attribute}"), attribute_value);
                                }
                            }
                        }
                    }
                    "#text" => flatten_windows(event, name, child),
                    _ => flatten_windows(event, key, child),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten_windows(event, name, item);
            }
        }
        scalar => {
            let value = scalar_value(scalar);
            // Some providers name data with spaces (`Threat Name`); Sigma rules spell them
            // without (`ThreatName`), so both spellings are kept.
            if name.contains(' ') {
                event.push(&name.replace(' ', ""), value.clone());
            }
            event.push(name, value);
        }
    }
}

pub(crate) fn scalar_value(value: &Value) -> FieldValue {
    match value {
        Value::Null => FieldValue::Null,
        Value::Bool(value) => FieldValue::Bool(*value),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => FieldValue::Int(integer),
            None => FieldValue::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => FieldValue::text(text),
        Value::Array(_) | Value::Object(_) => FieldValue::text(&value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_system_attributes_and_event_data() {
        let json = br##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},
            "EventID":{"#attributes":{"Qualifiers":16384},"#text":1},"Channel":"Microsoft-Windows-Sysmon/Operational","EventRecordID":7,
            "Computer":"pc"},"EventData":{"Image":"C:\\a.exe","Data":["x","y"]}}}"##;
        let origin = Arc::new(Origin { path: "t".into() });
        let event = event_from_json(json, &origin).unwrap();
        assert_eq!(event.text("Provider_Name"), "Microsoft-Windows-Sysmon");
        assert_eq!(event.text("EventID"), "1");
        assert_eq!(event.text("EventID_Qualifiers"), "16384");
        assert_eq!(event.text("Image"), "C:\\a.exe");
        assert_eq!(event.values("Data").count(), 2);
        assert_eq!(event.record_id, 7);
        assert_eq!(event.host(), "pc");
    }
}
