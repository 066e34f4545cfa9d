//! Helpers shared by the integration tests: locating shared data and collecting sinks.

use std::path::PathBuf;
use std::sync::Mutex;

use cordon_hunt::hunt::{Detection, Sink};
use cordon_hunt::indicators::IndicatorSummary;
use cordon_hunt::read::{CorruptRecord, ReadError};

/// The shared data folder: `CORDON_SHARED_DATA`, else `../shared/data` beside the workspace.
/// `None` (with a printed notice) when absent, unless CI is set, where absence fails the test.
pub fn shared_data(what: &str) -> Option<PathBuf> {
    let root = std::env::var_os("CORDON_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let path = root.join(what);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|value| value == "true") {
        panic!("shared data {} is missing under CI", path.display());
    }
    eprintln!(
        "notice: skipping, shared data {} not found (set CORDON_SHARED_DATA)",
        path.display()
    );
    None
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A sink that keeps everything.
#[derive(Default)]
pub struct Collect {
    pub detections: Mutex<Vec<Detection>>,
    pub corrupt: Mutex<Vec<CorruptRecord>>,
    pub unreadable: Mutex<Vec<String>>,
    pub summaries: Mutex<Vec<IndicatorSummary>>,
}

impl Sink for Collect {
    fn detection(&self, detection: Detection) {
        self.detections.lock().unwrap().push(detection);
    }
    fn corrupt_record(&self, record: CorruptRecord) {
        self.corrupt.lock().unwrap().push(record);
    }
    fn unreadable_file(&self, error: ReadError) {
        self.unreadable.lock().unwrap().push(error.to_string());
    }
    fn indicator_summary(&self, summary: IndicatorSummary) {
        self.summaries.lock().unwrap().push(summary);
    }
}
