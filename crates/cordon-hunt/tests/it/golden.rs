//! Golden tests: the committed fixtures (EVTX, CloudTrail plain and gzip, Kubernetes audit,
//! auth.log, CSV, JSON Lines with a corrupt line) hunted with the committed rules and
//! indicators must give exactly the committed JSON Lines timeline. Regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p cordon-hunt --test it golden`.

use std::path::PathBuf;

use cordon_hunt::hunt::{HuntOptions, hunt};
use cordon_hunt::indicators::{IndicatorSet, parse_indicator_file};
use cordon_hunt::read::{ReadOptions, discover_files};
use cordon_hunt::report::{Format, TimelineSink, write_detections};
use cordon_hunt::sigma::mapping::Mapping;
use cordon_hunt::sigma::{RuleSet, collect_rule_files};

use crate::common::fixture;

fn check_golden(name: &str, actual: &str) {
    let path = fixture("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        panic!(
            "golden output {name} differs (rerun with UPDATE_GOLDEN=1 after checking):\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}

/// Paths in output are made relative to the fixtures folder so that golden files do not
/// depend on where the repository is checked out.
fn relative(text: String) -> String {
    let root = fixture("").display().to_string();
    text.replace(&root, "")
}

#[test]
fn golden_timeline_over_all_fixture_formats() {
    let (rules, report) = RuleSet::load_files(&collect_rule_files(&[fixture("rules")]), &Mapping::builtin().unwrap());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.correlations, 1);
    let (indicators, errors) = parse_indicator_file("iocs.txt", &std::fs::read_to_string(fixture("iocs.txt")).unwrap());
    assert!(errors.is_empty());
    let indicators = IndicatorSet::new(indicators).unwrap();
    let (files, _) = discover_files(&[fixture("logs")]);
    let sink = TimelineSink::default();
    let options = HuntOptions {
        read: ReadOptions {
            syslog_year: 2024,
            ..ReadOptions::default()
        },
        minimum_level: None,
    };
    let summary = hunt(&files, &rules, &indicators, &options, &sink);
    let timeline = sink.into_timeline();
    assert_eq!(summary.unreadable_files, 0, "{:?}", timeline.unreadable_files);
    assert_eq!(timeline.corrupt_records.len(), 1);
    assert_eq!(timeline.corrupt_records[0].offset, 2);
    let mut out = Vec::new();
    write_detections(&mut out, Format::JsonLines, &timeline.detections).unwrap();
    check_golden("timeline.jsonl", &relative(String::from_utf8(out).unwrap()));
    let mut out = Vec::new();
    cordon_hunt::report::write_indicator_summaries(&mut out, true, &timeline.indicator_summaries).unwrap();
    check_golden("indicators.jsonl", &relative(String::from_utf8(out).unwrap()));
    // An indicator-only hunt skips undecoded records without a candidate literal: it must find
    // exactly the same sightings as the full decode above.
    let sweep_sink = TimelineSink::default();
    hunt(&files, &RuleSet::default(), &indicators, &options, &sweep_sink);
    let sweep = sweep_sink.into_timeline();
    let from_full: Vec<_> = timeline
        .detections
        .iter()
        .filter(|detection| detection.rule_id.starts_with("indicator:"))
        .collect();
    assert_eq!(sweep.detections.iter().collect::<Vec<_>>(), from_full);
    assert_eq!(sweep.indicator_summaries, timeline.indicator_summaries);
    let mut out = Vec::new();
    write_detections(&mut out, Format::Ocsf, &timeline.detections[..1]).unwrap();
    check_golden("ocsf-first.jsonl", &relative(String::from_utf8(out).unwrap()));
}

#[test]
fn corrupt_evtx_records_are_reported_and_reading_goes_on() {
    let mut bytes = std::fs::read(fixture("logs/sysmon-amsi-registry-tampering.evtx")).unwrap();
    // Damage the middle of the first chunk's records, leaving the file header intact.
    for byte in bytes.iter_mut().skip(4096 + 0x300).take(64) {
        *byte = 0xAA;
    }
    let directory = tempfile::tempdir().unwrap();
    let damaged: PathBuf = directory.path().join("damaged.evtx");
    std::fs::write(&damaged, &bytes).unwrap();
    std::fs::write(directory.path().join("garbage.bin"), [0u8, 1, 2, 3, 255, 254]).unwrap();
    let (rules, _) = RuleSet::load_files(&collect_rule_files(&[fixture("rules")]), &Mapping::builtin().unwrap());
    let sink = TimelineSink::default();
    let (files, _) = discover_files(&[directory.path().to_path_buf()]);
    let summary = hunt(&files, &rules, &IndicatorSet::default(), &HuntOptions::default(), &sink);
    let timeline = sink.into_timeline();
    assert_eq!(summary.files, 2);
    assert_eq!(timeline.unreadable_files.len(), 1, "the garbage file is reported");
    assert!(
        !timeline.corrupt_records.is_empty() || summary.events > 0,
        "damage is either reported or skipped over"
    );
    for record in &timeline.corrupt_records {
        assert!(record.path.ends_with("damaged.evtx"));
        assert!(record.offset >= 4096);
    }
}
