//! Line-oriented reading shared by the JSON Lines and syslog readers: numbered lines with a
//! length limit, where an overlong line is one corrupt record (skipped to its end) and never
//! a reason to stop or to read its tail as further lines.

use std::io::{BufRead, Read};

use super::{CorruptRecord, OffsetUnit, ReadError, ReadObserver};
use crate::event::Origin;

/// Calls `each(line_number, line, observer)` for every line (1-based, newline included) of at
/// most `max_line_bytes`; longer lines are reported to `observer` as corrupt records.
pub(super) fn for_each_line(
    mut reader: impl BufRead,
    origin: &Origin,
    max_line_bytes: usize,
    observer: &mut dyn ReadObserver,
    mut each: impl FnMut(u64, &[u8], &mut dyn ReadObserver),
) -> Result<(), ReadError> {
    let io_error = |source| ReadError::Io {
        path: origin.path.to_string(),
        source,
    };
    let mut line = Vec::new();
    let mut line_number = 0u64;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(max_line_bytes as u64 + 1)
            .read_until(b'\n', &mut line)
            .map_err(io_error)?;
        if read == 0 {
            return Ok(());
        }
        line_number += 1;
        if line.len() > max_line_bytes {
            observer.corrupt_record(CorruptRecord {
                path: origin.path.to_string(),
                offset: line_number,
                unit: OffsetUnit::Line,
                reason: "line too long".to_owned(),
            });
            skip_rest_of_line(&mut reader).map_err(io_error)?;
            continue;
        }
        each(line_number, &line, observer);
    }
}

fn skip_rest_of_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(newline) = memchr::memchr(b'\n', buffer) {
            reader.consume(newline + 1);
            return Ok(());
        }
        let length = buffer.len();
        reader.consume(length);
    }
}
