//! The hunt: files are read in parallel (one rayon task per file), every event goes through the
//! rule index and the indicator sweep as it is read (no event is kept), and results are pushed
//! into a [`Sink`]. Correlation rules and indicator summaries need every match first, so they
//! are computed after the last file and pushed at the end.
//!
//! **Architecture Invariant:** the hunt never prints and never exits; only the sink decides
//! what to do with results, and only the binary knows about terminals and exit codes.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::event::Event;
use crate::indicators::{IndicatorSet, IndicatorStats, IndicatorSummary};
use crate::read::{CorruptRecord, ReadError, ReadObserver, ReadOptions, read_file};
use crate::sigma::correlation::CorrelationInput;
use crate::sigma::prefilter::Scratch;
use crate::sigma::{RuleMatch, RuleSet};

/// What produced a detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetectionKind {
    Rule,
    Correlation,
    Indicator,
}

/// One row of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub kind: DetectionKind,
    /// Milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: Option<i64>,
    /// Rule title, or the indicator's value.
    pub name: String,
    /// Rule id, or the indicator's type.
    pub rule_id: String,
    pub level: String,
    pub tags: Vec<String>,
    pub host: String,
    pub source: String,
    pub record_id: u64,
    /// The fields that matched (or, for a rule, that the rule reads), with their values.
    pub fields: Vec<(String, String)>,
}

/// Counters a progress display reads.
#[derive(Debug, Default)]
pub struct Progress {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_done: AtomicU64,
    pub events: AtomicU64,
    pub detections: AtomicU64,
    pub corrupt_records: AtomicU64,
}

/// Where results go. Called from worker threads, hence `Sync`.
pub trait Sink: Sync {
    fn detection(&self, detection: Detection);
    fn corrupt_record(&self, _record: CorruptRecord) {}
    fn unreadable_file(&self, _error: ReadError) {}
    fn indicator_summary(&self, _summary: IndicatorSummary) {}
    /// Called after each file with the shared counters.
    fn progress(&self, _progress: &Progress) {}
}

/// Options of a hunt.
#[derive(Clone, Debug, Default)]
pub struct HuntOptions {
    pub read: ReadOptions,
    /// Lowest rule level reported (`informational`, `low`, `medium`, `high`, `critical`).
    pub minimum_level: Option<String>,
}

/// Totals of a finished hunt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HuntSummary {
    pub files: u64,
    pub unreadable_files: u64,
    pub bytes: u64,
    pub events: u64,
    pub detections: u64,
    pub corrupt_records: u64,
}

/// Ranks Sigma levels so that a minimum can be applied.
pub fn level_rank(level: &str) -> u8 {
    match level.to_ascii_lowercase().as_str() {
        "informational" => 0,
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 2,
    }
}

/// Runs rules and indicators over files.
pub fn hunt(
    files: &[PathBuf],
    rules: &RuleSet,
    indicators: &IndicatorSet,
    options: &HuntOptions,
    sink: &dyn Sink,
) -> HuntSummary {
    let progress = Progress::default();
    progress.files_total.store(files.len() as u64, Ordering::Relaxed);
    let unreadable = AtomicU64::new(0);
    let correlation_inputs = Mutex::new(Vec::new());
    let minimum_rank = options.minimum_level.as_deref().map(level_rank).unwrap_or(0);
    let raw_prefilter = rules.is_empty() && indicators.raw_prefilter_usable();
    let correlated_rules: Vec<usize> = rules
        .correlations()
        .iter()
        .flat_map(|correlation| correlation.rules.iter().copied())
        .collect();
    let stats = files
        .par_iter()
        .map(|path| {
            let mut worker = Worker {
                rules,
                indicators,
                sink,
                progress: &progress,
                minimum_rank,
                correlated_rules: &correlated_rules,
                matches: Vec::new(),
                scratch: Scratch::default(),
                correlation_inputs: Vec::new(),
                indicator_stats: indicators.new_stats(),
                raw_prefilter,
            };
            if let Err(error) = read_file(path, options.read, &mut worker) {
                unreadable.fetch_add(1, Ordering::Relaxed);
                sink.unreadable_file(error);
            }
            let size = std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0);
            progress.bytes_done.fetch_add(size, Ordering::Relaxed);
            progress.files_done.fetch_add(1, Ordering::Relaxed);
            sink.progress(&progress);
            if !worker.correlation_inputs.is_empty()
                && let Ok(mut inputs) = correlation_inputs.lock()
            {
                inputs.append(&mut worker.correlation_inputs);
            }
            worker.indicator_stats
        })
        .reduce(|| indicators.new_stats(), IndicatorStats::merge);

    let inputs = correlation_inputs.into_inner().unwrap_or_default();
    for correlation in rules.correlations() {
        if level_rank(&correlation.meta.level) < minimum_rank {
            continue;
        }
        for hit in correlation.evaluate(&inputs) {
            progress.detections.fetch_add(1, Ordering::Relaxed);
            sink.detection(Detection {
                kind: DetectionKind::Correlation,
                timestamp_ms: Some(hit.last_ms),
                name: correlation.meta.title.clone(),
                rule_id: correlation.meta.id.clone(),
                level: correlation.meta.level.clone(),
                tags: correlation.meta.tags.clone(),
                host: String::new(),
                source: String::new(),
                record_id: 0,
                fields: correlation
                    .group_by
                    .iter()
                    .cloned()
                    .zip(hit.group.iter().cloned())
                    .chain([
                        ("count".to_owned(), hit.count.to_string()),
                        ("first_seen".to_owned(), crate::time::format_timestamp_ms(hit.first_ms)),
                    ])
                    .collect(),
            });
        }
    }
    for summary in stats.summaries(indicators) {
        sink.indicator_summary(summary);
    }
    HuntSummary {
        files: files.len() as u64,
        unreadable_files: unreadable.load(Ordering::Relaxed),
        bytes: progress.bytes_done.load(Ordering::Relaxed),
        events: progress.events.load(Ordering::Relaxed),
        detections: progress.detections.load(Ordering::Relaxed),
        corrupt_records: progress.corrupt_records.load(Ordering::Relaxed),
    }
}

struct Worker<'hunt> {
    rules: &'hunt RuleSet,
    indicators: &'hunt IndicatorSet,
    sink: &'hunt dyn Sink,
    progress: &'hunt Progress,
    minimum_rank: u8,
    correlated_rules: &'hunt [usize],
    matches: Vec<RuleMatch>,
    scratch: Scratch,
    correlation_inputs: Vec<CorrelationInput>,
    indicator_stats: IndicatorStats,
    /// Skip decoding JSON records whose raw text holds no indicator literal.
    raw_prefilter: bool,
}

impl ReadObserver for Worker<'_> {
    fn event(&mut self, event: Event) {
        self.progress.events.fetch_add(1, Ordering::Relaxed);
        self.matches.clear();
        self.rules.match_event(&event, &mut self.scratch, &mut self.matches);
        for found in self.matches.drain(..) {
            let Some(meta) = self.rules.rule(found.rule) else {
                continue;
            };
            if self.correlated_rules.contains(&found.rule)
                && let Some(timestamp_ms) = event.timestamp_ms
            {
                for correlation in self
                    .rules
                    .correlations()
                    .iter()
                    .filter(|correlation| correlation.rules.contains(&found.rule))
                {
                    self.correlation_inputs.push(CorrelationInput {
                        rule: found.rule,
                        timestamp_ms,
                        group: correlation.group_by.iter().map(|field| event.text(field)).collect(),
                        value: correlation.field.as_ref().map(|field| event.text(field)),
                    });
                }
            }
            if !self.rules.is_reported(found.rule) || level_rank(&meta.level) < self.minimum_rank {
                continue;
            }
            self.progress.detections.fetch_add(1, Ordering::Relaxed);
            self.sink.detection(Detection {
                kind: DetectionKind::Rule,
                timestamp_ms: event.timestamp_ms,
                name: meta.title.clone(),
                rule_id: meta.id.clone(),
                level: meta.level.clone(),
                tags: meta.tags.clone(),
                host: event.host(),
                source: event.origin.path.to_string(),
                record_id: event.record_id,
                fields: found.fields,
            });
        }
        if !self.indicators.is_empty() {
            for hit in self.indicators.sweep(&event, &mut self.indicator_stats) {
                self.progress.detections.fetch_add(1, Ordering::Relaxed);
                self.sink.detection(hit);
            }
        }
    }

    fn corrupt_record(&mut self, record: CorruptRecord) {
        self.progress.corrupt_records.fetch_add(1, Ordering::Relaxed);
        self.sink.corrupt_record(record);
    }

    fn wants_record(&mut self, raw_json: &[u8]) -> bool {
        if !self.raw_prefilter || self.indicators.raw_may_match(raw_json) {
            return true;
        }
        // The record holds no indicator: it counts as read without being decoded.
        self.progress.events.fetch_add(1, Ordering::Relaxed);
        false
    }
}
