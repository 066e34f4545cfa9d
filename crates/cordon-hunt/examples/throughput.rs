//! Measures the library without the CLI: `cargo run --release --example throughput -- RULES_DIR... -- LOG_PATH...`
//! prints files, bytes, events, detections and elapsed time. The benchmark script uses the
//! `cordon hunt` binary instead; this is for profiling the engine alone.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cordon_hunt::hunt::{Detection, HuntOptions, Sink, hunt};
use cordon_hunt::indicators::IndicatorSet;
use cordon_hunt::read::discover_files;
use cordon_hunt::sigma::mapping::Mapping;
use cordon_hunt::sigma::{RuleSet, collect_rule_files};

struct Count(AtomicU64);

impl Sink for Count {
    fn detection(&self, _detection: Detection) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let split = arguments
        .iter()
        .position(|argument| argument == "--")
        .ok_or("usage: RULES... -- LOGS...")?;
    let rule_paths: Vec<PathBuf> = arguments[..split].iter().map(PathBuf::from).collect();
    let log_paths: Vec<PathBuf> = arguments[split + 1..].iter().map(PathBuf::from).collect();
    let started = Instant::now();
    let (rules, report) = RuleSet::load_files(&collect_rule_files(&rule_paths), &Mapping::builtin()?);
    println!(
        "rules: {} loaded, {} skipped, in {:?}",
        report.loaded,
        report.skipped.len(),
        started.elapsed()
    );
    let (files, _) = discover_files(&log_paths);
    let started = Instant::now();
    let sink = Count(AtomicU64::new(0));
    let summary = hunt(&files, &rules, &IndicatorSet::default(), &HuntOptions::default(), &sink);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "files {} bytes {} events {} detections {} in {seconds:.2}s: {:.1} MB/s, {:.0} events/s",
        summary.files,
        summary.bytes,
        summary.events,
        summary.detections,
        summary.bytes as f64 / 1e6 / seconds,
        summary.events as f64 / seconds
    );
    Ok(())
}
