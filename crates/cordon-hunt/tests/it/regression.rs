//! SigmaHQ's regression corpus: every tested rule must fire on its EVTX sample. Known failures
//! are listed with their reason in `tests/regression-expectations.toml`; a rule that fails
//! without being listed, or passes while listed, fails this test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cordon_hunt::hunt::{HuntOptions, hunt};
use cordon_hunt::indicators::IndicatorSet;
use cordon_hunt::sigma::RuleSet;
use cordon_hunt::sigma::mapping::Mapping;

use crate::common::{Collect, shared_data};

#[derive(serde::Deserialize)]
struct Expectations {
    #[serde(default)]
    failure: Vec<KnownFailure>,
}

#[derive(serde::Deserialize)]
struct KnownFailure {
    id: String,
    reason: String,
}

fn files_named(root: &Path, name: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let mut entries: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_named(&path, name, out);
        } else if path
            .file_name()
            .is_some_and(|file| file.to_string_lossy().ends_with(name))
        {
            out.push(path);
        }
    }
}

fn rule_id(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        line.strip_prefix("id: ")
            .map(|id| id.trim().trim_matches('\'').trim_matches('"').to_owned())
    })
}

#[test]
fn sigmahq_regression_corpus() {
    let Some(sigma) = shared_data("sigma") else { return };
    let mut rule_files = Vec::new();
    for folder in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-dfir",
        "rules-compliance",
    ] {
        files_named(&sigma.join(folder), ".yml", &mut rule_files);
    }
    let mut rules_by_id: BTreeMap<String, (PathBuf, String)> = BTreeMap::new();
    for file in rule_files {
        let text = std::fs::read_to_string(&file).unwrap();
        if let Some(id) = rule_id(&text) {
            rules_by_id.insert(id, (file, text));
        }
    }
    let mut infos = Vec::new();
    files_named(&sigma.join("regression_data"), "info.yml", &mut infos);
    let expectations: Expectations = toml::from_str(include_str!("../regression-expectations.toml")).unwrap();
    let expected: BTreeMap<&str, &str> = expectations
        .failure
        .iter()
        .map(|failure| (failure.id.as_str(), failure.reason.as_str()))
        .collect();
    let mapping = Mapping::builtin().unwrap();
    let indicators = IndicatorSet::default();
    let mut passed = 0;
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for info in &infos {
        let info_text = std::fs::read_to_string(info).unwrap();
        let info_yaml: serde_yaml::Value = serde_yaml::from_str(&info_text).unwrap();
        let id = info_yaml["rule_metadata"][0]["id"].as_str().unwrap().to_owned();
        let Some((rule_path, rule_text)) = rules_by_id.get(&id) else {
            failures.insert(id, "rule file not found".to_owned());
            continue;
        };
        let (rules, report) = RuleSet::from_texts(&[(rule_path.display().to_string(), rule_text.clone())], &mapping);
        if let Some(skipped) = report.skipped.first() {
            failures.insert(id, format!("skipped: {}", skipped.reason));
            continue;
        }
        let mut samples = Vec::new();
        files_named(info.parent().unwrap(), ".evtx", &mut samples);
        files_named(info.parent().unwrap(), ".raw", &mut samples);
        let sink = Collect::default();
        hunt(&samples, &rules, &indicators, &HuntOptions::default(), &sink);
        if sink.detections.lock().unwrap().is_empty() {
            failures.insert(id, "no detection".to_owned());
        } else {
            passed += 1;
        }
    }
    let total = infos.len();
    println!(
        "sigma regression: {passed} of {total} rules fire on their samples ({:.1}%)",
        100.0 * passed as f64 / total as f64
    );
    let mut problems = Vec::new();
    for (id, reason) in &failures {
        match expected.get(id.as_str()) {
            Some(_) => println!("  known failure {id}: {reason}"),
            None => problems.push(format!("new failure {id}: {reason}")),
        }
    }
    for id in expected.keys() {
        if !failures.contains_key(*id) {
            problems.push(format!("{id} now passes: remove it from regression-expectations.toml"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
