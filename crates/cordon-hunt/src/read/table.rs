//! CSV with a header line: each row becomes an event whose fields are named by the header.

use std::io::BufRead;
use std::sync::Arc;

use super::{CorruptRecord, OffsetUnit, ReadError, ReadObserver};
use crate::event::{Event, FieldValue, LogKind, Origin};

const TIME_COLUMNS: [&str; 6] = ["@timestamp", "timestamp", "time", "date", "eventtime", "datetime"];

pub(super) fn looks_like_csv_header(line: &str) -> bool {
    let delimiter = delimiter_of(line);
    let columns: Vec<&str> = line.split(delimiter as char).collect();
    columns.len() >= 2
        && columns
            .iter()
            .all(|column| !column.trim().is_empty() && column.len() < 128)
}

fn delimiter_of(line: &str) -> u8 {
    if line.matches('\t').count() > line.matches(',').count() {
        b'\t'
    } else {
        b','
    }
}

pub(super) fn read_csv(
    mut reader: impl BufRead,
    origin: &Arc<Origin>,
    observer: &mut dyn ReadObserver,
) -> Result<(), ReadError> {
    let first_line = {
        let buffer = reader.fill_buf().map_err(|source| ReadError::Io {
            path: origin.path.to_string(),
            source,
        })?;
        let end = memchr::memchr(b'\n', buffer).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    };
    let mut csv_reader = csv::ReaderBuilder::new()
        .delimiter(delimiter_of(&first_line))
        .flexible(true)
        .from_reader(reader);
    let headers = csv_reader
        .headers()
        .map_err(|err| ReadError::Json {
            path: origin.path.to_string(),
            reason: format!("csv header: {err}"),
        })?
        .clone();
    let time_column = headers
        .iter()
        .position(|header| TIME_COLUMNS.contains(&header.to_ascii_lowercase().as_str()));
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        row += 1;
        match csv_reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let mut event = Event::new(LogKind::Csv, origin.clone(), row);
                for (header, value) in headers.iter().zip(record.iter()) {
                    event.push(header, FieldValue::text(value));
                }
                event.timestamp_ms = time_column
                    .and_then(|column| record.get(column))
                    .and_then(crate::time::parse_timestamp_ms);
                observer.event(event);
            }
            Err(err) => {
                let line = err.position().map(|position| position.line()).unwrap_or(row + 1);
                observer.corrupt_record(CorruptRecord {
                    path: origin.path.to_string(),
                    offset: line,
                    unit: OffsetUnit::Line,
                    reason: err.to_string(),
                });
                if matches!(err.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
            }
        }
    }
    Ok(())
}
