//! Readers: find files under the given paths, recognise each file's format by its content (never
//! its extension), undo gzip, and turn records into [`Event`]s.
//!
//! **Architecture Invariant:** a reader never fails a whole file because of one bad record. It
//! hands the record to [`ReadObserver::corrupt_record`] with the file and offset and goes on; only
//! a file that cannot be opened or recognised at all ends in a [`ReadError`].

mod evtx;
mod json;
mod lines;
mod syslog;
mod table;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::event::{Event, Origin};

/// The formats a file can be recognised as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Evtx,
    /// One JSON document: a CloudTrail `{"Records": [...]}` file, an array, or a single object.
    JsonDocument,
    /// One JSON object per line.
    JsonLines,
    Syslog,
    Csv,
}

/// A file that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("cannot recognise the format of {path}")]
    UnknownFormat { path: String },
    #[error("{path} is not a readable evtx file: {reason}")]
    Evtx { path: String, reason: String },
    #[error("{path} is larger than {limit} bytes once decompressed, which must be held whole")]
    TooLarge { path: String, limit: u64 },
    #[error("{path} is not valid json: {reason}")]
    Json { path: String, reason: String },
}

/// One record that could not be decoded; the file's other records are still read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    pub path: String,
    /// Byte offset in the (decompressed) file, or the line number for line formats.
    pub offset: u64,
    pub unit: OffsetUnit,
    pub reason: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetUnit {
    Byte,
    Line,
}

impl std::fmt::Display for CorruptRecord {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.unit {
            OffsetUnit::Byte => "offset",
            OffsetUnit::Line => "line",
        };
        write!(formatter, "{} {unit} {}: {}", self.path, self.offset, self.reason)
    }
}

/// What a reader reports to while it reads.
pub trait ReadObserver {
    fn event(&mut self, event: Event);
    fn corrupt_record(&mut self, record: CorruptRecord);
    /// A look at a JSON record's undecoded text before it is decoded: returning false skips
    /// decoding it (the observer accounts for it). Indicator-only sweeps use this to decode only
    /// records whose raw text holds a candidate literal.
    fn wants_record(&mut self, _raw_json: &[u8]) -> bool {
        true
    }
}

/// How to read: limits that keep hostile input from taking unbounded memory, and what the
/// formats themselves leave out.
#[derive(Clone, Copy, Debug)]
pub struct ReadOptions {
    /// Largest decompressed size accepted for formats that must be held whole (one JSON
    /// document, gzip-compressed EVTX).
    pub max_document_bytes: u64,
    /// Longest line accepted in line formats; longer lines are reported and skipped.
    pub max_line_bytes: usize,
    /// The year given to RFC 3164 timestamps, which carry none. The caller chooses it (the CLI
    /// uses the current year) so that the library never reads the wall clock.
    pub syslog_year: i16,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            max_document_bytes: 1 << 30,
            max_line_bytes: 16 << 20,
            syslog_year: 1970,
        }
    }
}

/// Expands directories into the regular files under them, sorted so that runs are repeatable.
pub fn discover_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<ReadError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        walk(path, &mut files, &mut errors);
    }
    (files, errors)
}

fn walk(path: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<ReadError>) {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(source) => {
            errors.push(ReadError::Open {
                path: path.display().to_string(),
                source,
            });
            return;
        }
    };
    if metadata.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    if !metadata.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(ReadError::Open {
                path: path.display().to_string(),
                source,
            });
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    children.sort();
    for child in children {
        walk(&child, files, errors);
    }
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const EVTX_MAGIC: &[u8] = b"ElfFile\0";

/// Reads one file of any supported format, gzip-compressed or not.
pub fn read_file(path: &Path, options: ReadOptions, observer: &mut dyn ReadObserver) -> Result<Format, ReadError> {
    let display = || path.display().to_string();
    let mut file = File::open(path).map_err(|source| ReadError::Open {
        path: display(),
        source,
    })?;
    let mut magic = [0u8; 8];
    let magic_len = read_prefix(&mut file, &mut magic).map_err(|source| ReadError::Io {
        path: display(),
        source,
    })?;
    let origin = Origin::new(path);
    if magic[..magic_len].starts_with(&GZIP_MAGIC) {
        let file = File::open(path).map_err(|source| ReadError::Open {
            path: display(),
            source,
        })?;
        let decoder = flate2::read::MultiGzDecoder::new(BufReader::new(file));
        return read_stream(BufReader::with_capacity(1 << 16, decoder), origin, options, observer);
    }
    if magic[..magic_len] == *EVTX_MAGIC {
        let file = File::open(path).map_err(|source| ReadError::Open {
            path: display(),
            source,
        })?;
        evtx::read_evtx(evtx::EvtxInput::File(file), &origin, observer)?;
        return Ok(Format::Evtx);
    }
    let file = File::open(path).map_err(|source| ReadError::Open {
        path: display(),
        source,
    })?;
    read_stream(BufReader::with_capacity(1 << 16, file), origin, options, observer)
}

/// Reads any supported format from a byte slice, as fuzz targets and tests do.
pub fn read_bytes(
    name: &str,
    bytes: &[u8],
    options: ReadOptions,
    observer: &mut dyn ReadObserver,
) -> Result<Format, ReadError> {
    let origin = Arc::new(Origin { path: name.into() });
    if bytes.starts_with(&GZIP_MAGIC) {
        let decoder = flate2::read::MultiGzDecoder::new(bytes);
        return read_stream(BufReader::new(decoder), origin, options, observer);
    }
    read_stream(BufReader::new(bytes), origin, options, observer)
}

fn read_prefix(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let read = reader.read(&mut buffer[filled..])?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

/// Recognises the format from the first bytes of a (decompressed) stream and reads it.
fn read_stream(
    mut reader: impl BufRead,
    origin: Arc<Origin>,
    options: ReadOptions,
    observer: &mut dyn ReadObserver,
) -> Result<Format, ReadError> {
    let mut head = vec![0u8; 4096];
    let head_len = read_prefix(&mut reader, &mut head).map_err(|source| ReadError::Io {
        path: origin.path.to_string(),
        source,
    })?;
    head.truncate(head_len);
    let sniffed = head.clone();
    let chained = BufReader::with_capacity(1 << 16, std::io::Cursor::new(head).chain(reader));
    dispatch(&sniffed, chained, origin, options, observer)
}

fn dispatch(
    head: &[u8],
    reader: impl BufRead,
    origin: Arc<Origin>,
    options: ReadOptions,
    observer: &mut dyn ReadObserver,
) -> Result<Format, ReadError> {
    let format = sniff(head).ok_or_else(|| ReadError::UnknownFormat {
        path: origin.path.to_string(),
    })?;
    match format {
        Format::Evtx => {
            let buffer = read_whole(reader, &origin, options)?;
            evtx::read_evtx(evtx::EvtxInput::Buffer(buffer), &origin, observer)?;
        }
        Format::JsonDocument => json::read_json_document(reader, &origin, options, observer)?,
        Format::JsonLines => json::read_json_lines(reader, &origin, options, observer)?,
        Format::Syslog => syslog::read_syslog(reader, &origin, options, observer)?,
        Format::Csv => table::read_csv(reader, &origin, observer)?,
    }
    Ok(format)
}

/// Reads a whole (decompressed) stream, refusing more than the document limit rather than
/// truncating it silently.
fn read_whole(reader: impl Read, origin: &Origin, options: ReadOptions) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(options.max_document_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ReadError::Io {
            path: origin.path.to_string(),
            source,
        })?;
    if bytes.len() as u64 > options.max_document_bytes {
        return Err(ReadError::TooLarge {
            path: origin.path.to_string(),
            limit: options.max_document_bytes,
        });
    }
    Ok(bytes)
}

/// Recognises a format from the first bytes of a decompressed file.
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(EVTX_MAGIC) {
        return Some(Format::Evtx);
    }
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        return Some(Format::JsonDocument);
    }
    if trimmed.starts_with('{') {
        // JSON Lines when the first line is a complete object and another object follows.
        let first_line = trimmed.lines().next().unwrap_or_default();
        let first_is_complete = serde_json::from_str::<serde_json::Value>(first_line).is_ok();
        let rest = trimmed[first_line.len()..].trim_start();
        if first_is_complete {
            return Some(if rest.is_empty() {
                Format::JsonDocument
            } else {
                Format::JsonLines
            });
        }
        return Some(Format::JsonDocument);
    }
    let first_line = trimmed.lines().next().unwrap_or_default();
    if syslog::looks_like_syslog(first_line) {
        return Some(Format::Syslog);
    }
    if table::looks_like_csv_header(first_line) {
        return Some(Format::Csv);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_over_the_limit_are_refused_not_truncated() {
        struct Nothing;
        impl ReadObserver for Nothing {
            fn event(&mut self, _event: Event) {}
            fn corrupt_record(&mut self, _record: CorruptRecord) {}
        }
        let options = ReadOptions {
            max_document_bytes: 64,
            ..ReadOptions::default()
        };
        let document = format!("{{\"Records\": [{}]}}", vec!["{\"a\": 1}"; 20].join(","));
        let result = read_bytes("big.json", document.as_bytes(), options, &mut Nothing);
        assert!(
            matches!(result, Err(ReadError::TooLarge { limit: 64, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn sniffs_formats_by_content() {
        assert_eq!(sniff(b"ElfFile\0rest"), Some(Format::Evtx));
        assert_eq!(sniff(b"{\"Records\": [\n{\"a\":1}]}"), Some(Format::JsonDocument));
        assert_eq!(sniff(b"{\"a\":1}\n{\"a\":2}\n"), Some(Format::JsonLines));
        assert_eq!(sniff(b"{\"a\":1}\n"), Some(Format::JsonDocument));
        assert_eq!(
            sniff(b"<34>1 2003-10-11T22:14:15.003Z mymachine su - ID47 - msg"),
            Some(Format::Syslog)
        );
        assert_eq!(
            sniff(b"Mar  3 10:00:01 host sshd[12]: Accepted password for root"),
            Some(Format::Syslog)
        );
        assert_eq!(sniff(b"time,user,action\n1,2,3\n"), Some(Format::Csv));
        assert_eq!(sniff(b"\x00\x01\x02garbage"), None);
    }
}
