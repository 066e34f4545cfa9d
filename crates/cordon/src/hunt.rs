//! `cordon hunt`: run Sigma rules and indicator sweeps over log files offline, and print a
//! detection timeline.
//!
//! Exit codes: 0 no detections, 1 detections, 2 error (bad arguments, unreadable rules or
//! indicators, or output that cannot be written). Files that cannot be read and corrupt records
//! are reported on stderr but do not make the hunt fail.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use cordon_hunt::hunt::{Detection, HuntOptions, Progress, Sink, hunt};
use cordon_hunt::indicators::{IndicatorSet, IndicatorSummary, parse_indicator_file};
use cordon_hunt::read::{CorruptRecord, ReadError, ReadOptions, discover_files};
use cordon_hunt::report::{self, TimelineSink};
use cordon_hunt::sigma::mapping::Mapping;
use cordon_hunt::sigma::{RuleSet, collect_rule_files};

/// Output formats of `cordon hunt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HuntFormat {
    /// A readable table.
    Table,
    Csv,
    /// One JSON object per detection.
    Jsonl,
    /// OCSF Detection Finding (class 2004), one JSON object per line.
    Ocsf,
}

/// Hunt through logs with Sigma rules and indicators (offline; exit 0 none found, 1 found, 2 error).
#[derive(Debug, clap::Args)]
pub struct HuntArgs {
    /// Log files or directories (EVTX, CloudTrail/JSON/JSONL, Kubernetes audit, syslog, CSV; gzip ok).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Sigma rule files or directories (repeatable).
    #[arg(short, long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Indicator files: one `type:value` a line, or a STIX 2.1 bundle (repeatable).
    #[arg(short, long = "indicators", value_name = "FILE")]
    pub indicators: Vec<PathBuf>,
    /// Log source mapping to use instead of the built-in one (TOML).
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub format: HuntFormat,
    /// Write detections to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Only report rules of at least this level (informational, low, medium, high, critical).
    #[arg(long, value_name = "LEVEL")]
    pub min_level: Option<String>,
    /// List every skipped rule with its reason, not only the counts per reason.
    #[arg(long)]
    pub list_skipped: bool,
    /// Never show the progress line (it only shows when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Year given to syslog timestamps without one (default: the current year).
    #[arg(long, value_name = "YEAR")]
    pub syslog_year: Option<i16>,
}

/// Runs the hunt; the caller maps an error to exit code 2.
pub fn run(args: HuntArgs) -> anyhow::Result<ExitCode> {
    if let Some(threads) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global()
            .context("cannot start worker threads")?;
    }
    let mapping = match &args.mapping {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read mapping {}", path.display()))?;
            Mapping::parse(&text)?
        }
        None => Mapping::builtin()?,
    };
    let rule_files = collect_rule_files(&args.rules);
    if !args.rules.is_empty() && rule_files.is_empty() {
        anyhow::bail!("no .yml rule files under {}", display_paths(&args.rules));
    }
    let (rules, load_report) = RuleSet::load_files(&rule_files, &mapping);
    let indicators = load_indicators(&args.indicators)?;
    if rules.is_empty() && indicators.is_empty() {
        anyhow::bail!("nothing to hunt with: give --rules and/or --indicators");
    }
    let mut stderr = std::io::stderr().lock();
    if !args.rules.is_empty() {
        writeln!(
            stderr,
            "rules: {} loaded, {} correlation, {} skipped",
            load_report.loaded,
            load_report.correlations,
            load_report.skipped.len()
        )?;
        for (reason, count) in load_report.skipped_by_reason() {
            writeln!(stderr, "  skipped {count:>5}: {reason}")?;
        }
        if args.list_skipped {
            for skipped in &load_report.skipped {
                writeln!(
                    stderr,
                    "  skipped {} ({}): {}",
                    skipped.path, skipped.title, skipped.reason
                )?;
            }
        }
    }
    if !indicators.is_empty() {
        writeln!(stderr, "indicators: {}", indicators.len())?;
    }
    drop(stderr);

    let (files, walk_errors) = discover_files(&args.paths);
    let show_progress = !args.no_progress && std::io::stderr().is_terminal();
    let sink = CliSink {
        timeline: TimelineSink::default(),
        progress: show_progress.then(|| Mutex::new(ProgressLine::new())),
    };
    for error in walk_errors {
        sink.unreadable_file(error);
    }
    let options = HuntOptions {
        read: ReadOptions {
            syslog_year: args.syslog_year.unwrap_or_else(current_year),
            ..ReadOptions::default()
        },
        minimum_level: args.min_level.clone(),
    };
    let started = Instant::now();
    let summary = hunt(&files, &rules, &indicators, &options, &sink);
    let elapsed = started.elapsed();
    if let Some(progress) = &sink.progress
        && let Ok(mut line) = progress.lock()
    {
        line.finish();
    }
    let timeline = sink.timeline.into_timeline();

    let written = write_output(&args, &timeline.detections, &timeline.indicator_summaries);
    if let Err(err) = &written
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(anyhow::anyhow!("cannot write output: {err}"));
    }

    let mut stderr = std::io::stderr().lock();
    for file in &timeline.unreadable_files {
        writeln!(stderr, "unreadable: {file}")?;
    }
    for (shown, record) in timeline.corrupt_records.iter().enumerate() {
        if shown == 20 {
            writeln!(stderr, "corrupt: ... {} more", timeline.corrupt_records.len() - shown)?;
            break;
        }
        writeln!(stderr, "corrupt: {record}")?;
    }
    let seconds = elapsed.as_secs_f64().max(1e-9);
    writeln!(
        stderr,
        "hunted {} files, {:.1} MB, {} events in {:.2}s ({:.1} MB/s, {:.0} events/s): {} detections, {} corrupt records, {} unreadable files",
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.events,
        seconds,
        summary.bytes as f64 / 1e6 / seconds,
        summary.events as f64 / seconds,
        timeline.detections.len(),
        summary.corrupt_records,
        timeline.unreadable_files.len(),
    )?;
    Ok(if timeline.detections.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn current_year() -> i16 {
    jiff::Zoned::now().year()
}

fn load_indicators(paths: &[PathBuf]) -> anyhow::Result<IndicatorSet> {
    let mut all = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read indicators {}", path.display()))?;
        let (indicators, errors) = parse_indicator_file(&path.display().to_string(), &text);
        for error in &errors {
            eprintln!("indicator skipped: {error}");
        }
        all.extend(indicators);
    }
    IndicatorSet::new(all).map_err(|err| anyhow::anyhow!("bad indicators: {err}"))
}

fn write_output(args: &HuntArgs, detections: &[Detection], summaries: &[IndicatorSummary]) -> std::io::Result<()> {
    let format = match args.format {
        HuntFormat::Table => report::Format::Table,
        HuntFormat::Csv => report::Format::Csv,
        HuntFormat::Jsonl => report::Format::JsonLines,
        HuntFormat::Ocsf => report::Format::Ocsf,
    };
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    report::write_detections(&mut out, format, detections)?;
    if !summaries.is_empty() {
        match args.format {
            HuntFormat::Table => {
                writeln!(out, "\nindicator sightings:")?;
                report::write_indicator_summaries(&mut out, false, summaries)?;
            }
            // Machine formats keep one record type per stream: the summaries go to stderr.
            _ => report::write_indicator_summaries(&mut std::io::stderr().lock(), false, summaries)?,
        }
    }
    out.flush()
}

/// Collects the timeline and draws the progress line.
struct CliSink {
    timeline: TimelineSink,
    progress: Option<Mutex<ProgressLine>>,
}

impl Sink for CliSink {
    fn detection(&self, detection: Detection) {
        self.timeline.detection(detection);
    }
    fn corrupt_record(&self, record: CorruptRecord) {
        self.timeline.corrupt_record(record);
    }
    fn unreadable_file(&self, error: ReadError) {
        self.timeline.unreadable_file(error);
    }
    fn indicator_summary(&self, summary: IndicatorSummary) {
        self.timeline.indicator_summary(summary);
    }
    fn progress(&self, progress: &Progress) {
        if let Some(line) = &self.progress
            && let Ok(mut line) = line.try_lock()
        {
            line.draw(progress);
        }
    }
}

/// A one-line progress display on stderr, redrawn at most five times a second.
struct ProgressLine {
    started: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl ProgressLine {
    fn new() -> ProgressLine {
        ProgressLine {
            started: Instant::now(),
            last_draw: None,
            drawn: false,
        }
    }

    fn draw(&mut self, progress: &Progress) {
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|last| now.duration_since(last) < Duration::from_millis(200))
        {
            return;
        }
        self.last_draw = Some(now);
        let seconds = now.duration_since(self.started).as_secs_f64().max(1e-9);
        let events = progress.events.load(Ordering::Relaxed);
        let _ = write!(
            std::io::stderr(),
            "\r\x1b[2Kfiles {}/{}  {:.1} MB  {:.0} events/s  {} detections",
            progress.files_done.load(Ordering::Relaxed),
            progress.files_total.load(Ordering::Relaxed),
            progress.bytes_done.load(Ordering::Relaxed) as f64 / 1e6,
            events as f64 / seconds,
            progress.detections.load(Ordering::Relaxed),
        );
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}
