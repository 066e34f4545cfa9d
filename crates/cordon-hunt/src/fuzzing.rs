//! Entry points for fuzz targets and robustness tests: each takes arbitrary bytes, must not
//! panic, and must stay within bounded memory (the limits below are deliberately small).

use std::sync::Arc;

use crate::event::{Event, FieldValue, LogKind, Origin};
use crate::indicators::{IndicatorSet, IndicatorStats, parse_indicator_file};
use crate::read::{CorruptRecord, ReadObserver, ReadOptions, read_bytes};
use crate::sigma::RuleSet;
use crate::sigma::mapping::Mapping;
use crate::sigma::prefilter::Scratch;

const LIMITS: ReadOptions = ReadOptions {
    max_document_bytes: 4 << 20,
    max_line_bytes: 1 << 20,
    syslog_year: 2024,
};

/// Counts what a reader yields and drops it.
#[derive(Default)]
struct Discard {
    events: usize,
}

impl ReadObserver for Discard {
    fn event(&mut self, _event: Event) {
        self.events += 1;
    }
    fn corrupt_record(&mut self, _record: CorruptRecord) {}
}

/// Format recognition and every reader.
pub fn read_any(data: &[u8]) {
    let _ = read_bytes("fuzz", data, LIMITS, &mut Discard::default());
}

/// The EVTX reader, behind a valid signature.
pub fn read_evtx(data: &[u8]) {
    let mut bytes = b"ElfFile\0".to_vec();
    bytes.extend_from_slice(data);
    let _ = read_bytes("fuzz.evtx", &bytes, LIMITS, &mut Discard::default());
}

fn sample_event() -> Event {
    let mut event = Event::new(LogKind::Evtx, Arc::new(Origin { path: "fuzz".into() }), 1);
    for (name, value) in [
        ("Channel", "Microsoft-Windows-Sysmon/Operational"),
        ("Image", "C:\\Windows\\System32\\cmd.exe"),
        ("CommandLine", "cmd.exe /c whoami -all"),
        ("User", "NT AUTHORITY\\SYSTEM"),
    ] {
        event.push(name, FieldValue::text(value));
    }
    event.push("EventID", FieldValue::Int(1));
    event
}

/// Sigma parsing, compilation and matching.
pub fn sigma_rule(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mapping) = Mapping::builtin() else { return };
    let (rules, _) = RuleSet::from_texts(&[("fuzz.yml".to_owned(), text.to_owned())], &mapping);
    let mut matches = Vec::new();
    rules.match_event(&sample_event(), &mut Scratch::default(), &mut matches);
}

/// Indicator parsing and sweeping.
pub fn indicators(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (indicators, _) = parse_indicator_file("fuzz", &text);
    if let Ok(set) = IndicatorSet::new(indicators) {
        let _ = set.sweep(&sample_event(), &mut IndicatorStats::default());
    }
}
