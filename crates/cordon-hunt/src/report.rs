//! Timelines and their export formats: a sink that collects detections and sorts them by time
//! (UTC), and writers for a readable table, CSV, JSON Lines and OCSF Detection Finding (class
//! 2004) JSON Lines. Writers take any `io::Write`; the caller decides where output goes.

use std::io::Write;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::hunt::{Detection, DetectionKind, Sink};
use crate::indicators::IndicatorSummary;
use crate::read::{CorruptRecord, ReadError};
use crate::time::format_timestamp_ms;

/// A sink that keeps everything for a report.
#[derive(Debug, Default)]
pub struct TimelineSink {
    detections: Mutex<Vec<Detection>>,
    corrupt_records: Mutex<Vec<CorruptRecord>>,
    unreadable_files: Mutex<Vec<String>>,
    summaries: Mutex<Vec<IndicatorSummary>>,
}

/// What a hunt produced, with detections in time order.
#[derive(Debug, Default)]
pub struct Timeline {
    pub detections: Vec<Detection>,
    pub corrupt_records: Vec<CorruptRecord>,
    pub unreadable_files: Vec<String>,
    pub indicator_summaries: Vec<IndicatorSummary>,
}

impl Sink for TimelineSink {
    fn detection(&self, detection: Detection) {
        if let Ok(mut detections) = self.detections.lock() {
            detections.push(detection);
        }
    }

    fn corrupt_record(&self, record: CorruptRecord) {
        if let Ok(mut records) = self.corrupt_records.lock() {
            records.push(record);
        }
    }

    fn unreadable_file(&self, error: ReadError) {
        if let Ok(mut files) = self.unreadable_files.lock() {
            files.push(error.to_string());
        }
    }

    fn indicator_summary(&self, summary: IndicatorSummary) {
        if let Ok(mut summaries) = self.summaries.lock() {
            summaries.push(summary);
        }
    }
}

impl TimelineSink {
    /// Sorts detections by time (events without a time last), then source and record, so that
    /// the same input always gives the same output whatever the thread interleaving.
    pub fn into_timeline(self) -> Timeline {
        let mut detections = self.detections.into_inner().unwrap_or_default();
        sort_timeline(&mut detections);
        let mut corrupt_records = self.corrupt_records.into_inner().unwrap_or_default();
        corrupt_records.sort_by(|left, right| left.path.cmp(&right.path).then(left.offset.cmp(&right.offset)));
        let mut unreadable_files = self.unreadable_files.into_inner().unwrap_or_default();
        unreadable_files.sort();
        let mut indicator_summaries = self.summaries.into_inner().unwrap_or_default();
        indicator_summaries
            .sort_by(|left, right| left.kind.cmp(&right.kind).then_with(|| left.value.cmp(&right.value)));
        Timeline {
            detections,
            corrupt_records,
            unreadable_files,
            indicator_summaries,
        }
    }
}

/// The timeline order: UTC time, then source file, record id, and name.
pub fn sort_timeline(detections: &mut [Detection]) {
    detections.sort_by(|left, right| {
        let time = |detection: &Detection| detection.timestamp_ms.unwrap_or(i64::MAX);
        time(left)
            .cmp(&time(right))
            .then_with(|| left.source.cmp(&right.source))
            .then_with(|| left.record_id.cmp(&right.record_id))
            .then_with(|| left.name.cmp(&right.name))
    });
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    JsonLines,
    Ocsf,
}

/// Writes detections in a format.
pub fn write_detections(out: &mut dyn Write, format: Format, detections: &[Detection]) -> std::io::Result<()> {
    match format {
        Format::Table => write_table(out, detections),
        Format::Csv => write_csv(out, detections),
        Format::JsonLines => {
            for detection in detections {
                serde_json::to_writer(&mut *out, &detection_json(detection))?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Format::Ocsf => {
            for detection in detections {
                serde_json::to_writer(&mut *out, &ocsf_detection_finding(detection))?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
    }
}

fn kind_name(kind: &DetectionKind) -> &'static str {
    match kind {
        DetectionKind::Rule => "sigma",
        DetectionKind::Correlation => "correlation",
        DetectionKind::Indicator => "indicator",
    }
}

fn time_text(detection: &Detection) -> String {
    detection.timestamp_ms.map(format_timestamp_ms).unwrap_or_default()
}

/// ATT&CK technique ids and tactic names from Sigma tags (`attack.t1059.001`, `attack.execution`).
pub fn attack_tags(tags: &[String]) -> (Vec<String>, Vec<String>) {
    let mut techniques = Vec::new();
    let mut tactics = Vec::new();
    for tag in tags {
        let Some(rest) = tag.strip_prefix("attack.") else {
            continue;
        };
        let is_technique =
            rest.len() > 1 && rest.starts_with(['t', 'T']) && rest[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
        if is_technique {
            techniques.push(rest.to_ascii_uppercase());
        } else if !rest.starts_with(['g', 's']) || !rest[1..].chars().all(|c| c.is_ascii_digit()) {
            tactics.push(rest.to_owned());
        }
    }
    (techniques, tactics)
}

fn fields_text(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn shorten(text: &str, limit: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= limit {
        return flat;
    }
    let mut cut: String = flat.chars().take(limit.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn write_table(out: &mut dyn Write, detections: &[Detection]) -> std::io::Result<()> {
    let rows: Vec<[String; 6]> = detections
        .iter()
        .map(|detection| {
            let (techniques, _) = attack_tags(&detection.tags);
            [
                time_text(detection),
                detection.level.clone(),
                shorten(&detection.name, 60),
                shorten(&techniques.join(","), 24),
                shorten(&detection.host, 24),
                shorten(
                    &format!(
                        "{}#{} {}",
                        short_path(&detection.source),
                        detection.record_id,
                        fields_text(&detection.fields)
                    ),
                    100,
                ),
            ]
        })
        .collect();
    let headers = [
        "time (UTC)",
        "level",
        "detection",
        "att&ck",
        "host",
        "source#record fields",
    ];
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &[&str]| -> std::io::Result<()> {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(width - cell.chars().count() + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &headers)?;
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &cells)?;
    }
    Ok(())
}

fn short_path(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn write_csv(out: &mut dyn Write, detections: &[Detection]) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let to_io = |err: csv::Error| std::io::Error::other(err.to_string());
    writer
        .write_record([
            "time",
            "kind",
            "detection",
            "rule_id",
            "level",
            "attack_techniques",
            "attack_tactics",
            "host",
            "source",
            "record_id",
            "fields",
        ])
        .map_err(to_io)?;
    for detection in detections {
        let (techniques, tactics) = attack_tags(&detection.tags);
        writer
            .write_record([
                time_text(detection),
                kind_name(&detection.kind).to_owned(),
                detection.name.clone(),
                detection.rule_id.clone(),
                detection.level.clone(),
                techniques.join(","),
                tactics.join(","),
                detection.host.clone(),
                detection.source.clone(),
                detection.record_id.to_string(),
                fields_text(&detection.fields),
            ])
            .map_err(to_io)?;
    }
    writer.flush()
}

/// The JSON Lines form of a detection.
pub fn detection_json(detection: &Detection) -> Value {
    let (techniques, tactics) = attack_tags(&detection.tags);
    let fields: serde_json::Map<String, Value> = detection
        .fields
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    json!({
        "time": detection.timestamp_ms.map(format_timestamp_ms),
        "kind": kind_name(&detection.kind),
        "detection": detection.name,
        "rule_id": detection.rule_id,
        "level": detection.level,
        "tags": detection.tags,
        "attack": {"techniques": techniques, "tactics": tactics},
        "host": detection.host,
        "source": detection.source,
        "record_id": detection.record_id,
        "fields": fields,
    })
}

fn severity(level: &str) -> (u8, &'static str) {
    match level.to_ascii_lowercase().as_str() {
        "informational" => (1, "Informational"),
        "low" => (2, "Low"),
        "medium" => (3, "Medium"),
        "high" => (4, "High"),
        "critical" => (5, "Critical"),
        _ => (0, "Unknown"),
    }
}

/// An OCSF 1.x Detection Finding (class 2004) for a detection.
pub fn ocsf_detection_finding(detection: &Detection) -> Value {
    let (severity_id, severity_name) = severity(&detection.level);
    let (techniques, tactics) = attack_tags(&detection.tags);
    let attacks: Vec<Value> = techniques
        .iter()
        .map(|technique| json!({"technique": {"uid": technique}, "tactics": tactics.iter().map(|tactic| json!({"name": tactic})).collect::<Vec<_>>()}))
        .collect();
    let analytic_type = match detection.kind {
        DetectionKind::Rule | DetectionKind::Correlation => json!({"type_id": 1, "type": "Rule"}),
        DetectionKind::Indicator => json!({"type_id": 99, "type": "Indicator"}),
    };
    let mut analytic = json!({"uid": detection.rule_id, "name": detection.name});
    if let (Some(analytic), Value::Object(kind)) = (analytic.as_object_mut(), analytic_type) {
        analytic.extend(kind);
    }
    let uid = format!("{}:{}:{}", detection.source, detection.record_id, detection.rule_id);
    json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200401,
        "time": detection.timestamp_ms,
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": 1,
        "status": "New",
        "message": detection.name,
        "finding_info": {
            "uid": uid,
            "title": detection.name,
            "analytic": analytic,
            "attacks": attacks,
            "types": [kind_name(&detection.kind)],
        },
        "device": {"hostname": detection.host},
        "metadata": {
            "version": "1.3.0",
            "product": {"name": "Cordon", "vendor_name": "Cordon"},
            "log_name": detection.source,
        },
        "unmapped": {"record_id": detection.record_id, "fields": detection.fields.iter().map(|(name, value)| json!({"name": name, "value": value})).collect::<Vec<_>>()},
    })
}

/// Writes indicator summaries as a table or JSON Lines.
pub fn write_indicator_summaries(
    out: &mut dyn Write,
    json_lines: bool,
    summaries: &[IndicatorSummary],
) -> std::io::Result<()> {
    for summary in summaries {
        if json_lines {
            let value = json!({
                "indicator": summary.value,
                "type": summary.kind.name(),
                "count": summary.count,
                "first_seen": summary.first_seen_ms.map(format_timestamp_ms),
                "last_seen": summary.last_seen_ms.map(format_timestamp_ms),
                "hosts": summary.hosts,
                "sources": summary.sources,
            });
            serde_json::to_writer(&mut *out, &value)?;
            out.write_all(b"\n")?;
        } else {
            writeln!(
                out,
                "{} {} seen {} times, first {} last {}, hosts: {}",
                summary.kind.name(),
                summary.value,
                summary.count,
                summary
                    .first_seen_ms
                    .map(format_timestamp_ms)
                    .unwrap_or_else(|| "-".to_owned()),
                summary
                    .last_seen_ms
                    .map(format_timestamp_ms)
                    .unwrap_or_else(|| "-".to_owned()),
                if summary.hosts.is_empty() {
                    "-".to_owned()
                } else {
                    summary.hosts.join(", ")
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(time: Option<i64>, name: &str) -> Detection {
        Detection {
            kind: DetectionKind::Rule,
            timestamp_ms: time,
            name: name.to_owned(),
            rule_id: "id".to_owned(),
            level: "high".to_owned(),
            tags: vec!["attack.execution".to_owned(), "attack.t1059.001".to_owned()],
            host: "pc".to_owned(),
            source: "a.evtx".to_owned(),
            record_id: 1,
            fields: vec![("Image".to_owned(), "C:\\x.exe".to_owned())],
        }
    }

    #[test]
    fn timeline_sorts_by_time_with_unknown_times_last() {
        let mut detections = vec![detection(None, "c"), detection(Some(2), "b"), detection(Some(1), "a")];
        sort_timeline(&mut detections);
        let names: Vec<&str> = detections.iter().map(|detection| detection.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn ocsf_finding_carries_class_severity_and_attack() {
        let finding = ocsf_detection_finding(&detection(Some(0), "x"));
        assert_eq!(finding["class_uid"], 2004);
        assert_eq!(finding["severity_id"], 4);
        assert_eq!(finding["finding_info"]["attacks"][0]["technique"]["uid"], "T1059.001");
        assert_eq!(finding["finding_info"]["attacks"][0]["tactics"][0]["name"], "execution");
    }

    #[test]
    fn csv_has_header_and_row() {
        let mut out = Vec::new();
        write_detections(&mut out, Format::Csv, &[detection(Some(0), "x")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("time,kind,detection"));
        assert!(
            text.contains("1970-01-01T00:00:00.000Z,sigma,x,id,high,T1059.001,execution,pc,a.evtx,1,Image=C:\\x.exe")
        );
    }
}
