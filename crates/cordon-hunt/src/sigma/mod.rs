//! Sigma rules: loading, compiling against the log source mapping, and matching events.
//!
//! Rules are compiled once into a [`RuleSet`]. Each rule becomes one compiled variant per
//! concrete source its `logsource` maps to (Sysmon event 1 and Security event 4688 for
//! `process_creation`, with fields renamed for the latter), and every variant is filed in an
//! index under (log kind, EVTX channel, Event ID). For each event the engine looks up at most
//! four index slots and evaluates only the variants found there, so most rules never run on
//! most events. The Event IDs come from the mapping and from the rule's own condition, when the
//! condition demands an `EventID` value.
//!
//! **Architecture Invariant:** a rule Cordon cannot evaluate faithfully is never half-loaded: it
//! is skipped and reported with the reason.

pub mod compile;
pub mod condition;
pub mod correlation;
pub mod mapping;
pub mod pattern;
pub mod prefilter;

use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde_yaml::Value as Yaml;

use crate::event::{Event, FieldValue, LogKind};
use compile::{Detection, compile_detection};
use correlation::{CorrelationRule, RawCorrelation};
use mapping::{Logsource, Mapping, Target};
use prefilter::{CompiledRequirement, LiteralIndex, LiteralIndexBuilder, Scratch};

/// What a rule says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMeta {
    pub title: String,
    pub id: String,
    /// The rule's `name`, which correlation rules may reference instead of the id.
    pub name: Option<String>,
    pub level: String,
    pub tags: Vec<String>,
    pub path: String,
    pub logsource: String,
}

/// A rule that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRule {
    pub path: String,
    pub title: String,
    pub reason: String,
}

/// How loading went.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    pub files: usize,
    pub loaded: usize,
    pub correlations: usize,
    pub skipped: Vec<SkippedRule>,
}

impl LoadReport {
    /// Skipped rules counted by reason, most frequent first. Reasons that name a specific
    /// logsource or modifier are kept as they are: they are what a user acts on.
    pub fn skipped_by_reason(&self) -> Vec<(String, usize)> {
        let mut counts: FxHashMap<&str, usize> = FxHashMap::default();
        for skipped in &self.skipped {
            *counts.entry(skipped.reason.as_str()).or_default() += 1;
        }
        let mut sorted: Vec<(String, usize)> = counts
            .into_iter()
            .map(|(reason, count)| (reason.to_owned(), count))
            .collect();
        sorted.sort_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(&right.0)));
        sorted
    }
}

/// One compiled rule for one concrete source.
#[derive(Debug)]
struct Variant {
    rule: usize,
    conditions: Vec<(String, String)>,
    detection: Detection,
    /// Literals one of which must occur for the detection to possibly match.
    requirement: Option<CompiledRequirement>,
}

/// (log kind, channel number, Event ID); channel 0 is "any channel". Channels are numbered at
/// compile time so that looking an event up allocates nothing.
type IndexKey = (LogKind, u32, Option<i64>);

/// A rule that matched an event.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleMatch {
    pub rule: usize,
    /// The values of the fields the rule reads, as found in the event.
    pub fields: Vec<(String, String)>,
}

/// Compiled rules, indexed.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<RuleMeta>,
    /// Whether a rule's own matches are reported (false for correlation inputs that do not
    /// `generate`).
    reported: Vec<bool>,
    variants: Vec<Variant>,
    index: FxHashMap<IndexKey, Vec<u32>>,
    /// Lowercase channel names to their numbers (from 1).
    channel_numbers: FxHashMap<Box<str>, u32>,
    literals: LiteralIndex,
    correlations: Vec<CorrelationRule>,
}

/// Reads every `.yml`/`.yaml` file under the given paths.
pub fn collect_rule_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let (files, _) = crate::read::discover_files(paths);
    files
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yml" || extension == "yaml")
        })
        .collect()
}

impl RuleSet {
    /// Loads rule files (each may hold several YAML documents).
    pub fn load_files(files: &[PathBuf], mapping: &Mapping) -> (RuleSet, LoadReport) {
        let mut documents = Vec::new();
        let mut report = LoadReport::default();
        for file in files {
            match std::fs::read_to_string(file) {
                Ok(text) => documents.push((file.display().to_string(), text)),
                Err(err) => report.skipped.push(SkippedRule {
                    path: file.display().to_string(),
                    title: String::new(),
                    reason: format!("unreadable file: {err}"),
                }),
            }
        }
        let (rules, mut loaded_report) = RuleSet::from_texts(&documents, mapping);
        loaded_report.skipped.extend(report.skipped);
        (rules, loaded_report)
    }

    /// Compiles rules from `(path, yaml text)` pairs.
    pub fn from_texts(texts: &[(String, String)], mapping: &Mapping) -> (RuleSet, LoadReport) {
        let mut set = RuleSet::default();
        let mut report = LoadReport {
            files: texts.len(),
            ..LoadReport::default()
        };
        let mut raw_correlations = Vec::new();
        for (path, text) in texts {
            for document in serde_yaml::Deserializer::from_str(text) {
                let value = match <Yaml as serde::Deserialize>::deserialize(document) {
                    Ok(value) => value,
                    Err(err) => {
                        report.skipped.push(SkippedRule {
                            path: path.clone(),
                            title: String::new(),
                            reason: format!("invalid yaml: {err}"),
                        });
                        break;
                    }
                };
                let Yaml::Mapping(map) = value else { continue };
                let meta = rule_meta(&map, path);
                if map.contains_key("correlation") {
                    match RawCorrelation::parse(&map, meta.clone()) {
                        Ok(raw) => raw_correlations.push(raw),
                        Err(reason) => report.skipped.push(SkippedRule {
                            path: path.clone(),
                            title: meta.title,
                            reason,
                        }),
                    }
                    continue;
                }
                let Some(Yaml::Mapping(detection)) = map.get("detection") else {
                    if map.get("action").is_some() {
                        report.skipped.push(SkippedRule {
                            path: path.clone(),
                            title: meta.title,
                            reason: "multi-document `action` rules are not supported".to_owned(),
                        });
                    }
                    continue;
                };
                let logsource: Logsource = map
                    .get("logsource")
                    .and_then(|value| serde_yaml::from_value(value.clone()).ok())
                    .unwrap_or_default();
                match set.add_rule(meta.clone(), &logsource, detection, mapping) {
                    Ok(()) => report.loaded += 1,
                    Err(reason) => report.skipped.push(SkippedRule {
                        path: path.clone(),
                        title: meta.title,
                        reason,
                    }),
                }
            }
        }
        if let Err(reason) = set.build_literal_index() {
            report.skipped.push(SkippedRule {
                path: String::new(),
                title: String::new(),
                reason,
            });
        }
        for raw in raw_correlations {
            let title = raw.meta.title.clone();
            let path = raw.meta.path.clone();
            match raw.compile(&set.rules) {
                Ok(compiled) => {
                    if !compiled.generate {
                        for rule in &compiled.rules {
                            if let Some(reported) = set.reported.get_mut(*rule) {
                                *reported = false;
                            }
                        }
                    }
                    set.correlations.push(compiled);
                    report.correlations += 1;
                }
                Err(reason) => report.skipped.push(SkippedRule { path, title, reason }),
            }
        }
        (set, report)
    }

    fn add_rule(
        &mut self,
        meta: RuleMeta,
        logsource: &Logsource,
        detection: &serde_yaml::Mapping,
        mapping: &Mapping,
    ) -> Result<(), String> {
        let targets = mapping
            .resolve(logsource)
            .ok_or_else(|| format!("no mapping for logsource {logsource}"))?;
        let rule = self.rules.len();
        let mut compiled: Vec<(Variant, &Target, Option<Vec<i64>>)> = Vec::new();
        let mut last_error = None;
        for target in targets {
            let detection = match compile_detection(detection, target) {
                Ok(detection) => detection,
                Err(reason) => {
                    last_error = Some(reason);
                    continue;
                }
            };
            let rule_ids = detection.required_event_ids();
            let event_ids = match (target.event_ids.is_empty(), rule_ids) {
                (true, ids) => ids,
                (false, None) => Some(target.event_ids.clone()),
                (false, Some(ids)) => {
                    let both: Vec<i64> = ids.into_iter().filter(|id| target.event_ids.contains(id)).collect();
                    if both.is_empty() {
                        // The rule asks for Event IDs this source never has.
                        continue;
                    }
                    Some(both)
                }
            };
            compiled.push((
                Variant {
                    rule,
                    conditions: target.conditions.clone(),
                    detection,
                    requirement: None,
                },
                target,
                event_ids,
            ));
        }
        if compiled.is_empty() {
            return Err(
                last_error.unwrap_or_else(|| format!("the rule's EventIDs never occur in logsource {logsource}"))
            );
        }
        self.rules.push(meta);
        self.reported.push(true);
        for (variant, target, event_ids) in compiled {
            let variant_index = self.variants.len() as u32;
            self.variants.push(variant);
            let channels: Vec<u32> = if target.channels.is_empty() {
                vec![0]
            } else {
                target
                    .channels
                    .iter()
                    .map(|channel| {
                        let next = self.channel_numbers.len() as u32 + 1;
                        *self.channel_numbers.entry(channel.as_str().into()).or_insert(next)
                    })
                    .collect()
            };
            let ids: Vec<Option<i64>> = match event_ids {
                Some(ids) => ids.into_iter().map(Some).collect(),
                None => vec![None],
            };
            for channel in &channels {
                for id in &ids {
                    self.index
                        .entry((target.kind, *channel, *id))
                        .or_default()
                        .push(variant_index);
                }
            }
        }
        Ok(())
    }

    /// Derives each variant's literal requirement and builds the shared automata.
    fn build_literal_index(&mut self) -> Result<(), String> {
        let mut builder = LiteralIndexBuilder::default();
        let mut pending = Vec::new();
        let mut owners = Vec::new();
        for (index, variant) in self.variants.iter().enumerate() {
            if let Some(requirement) = prefilter::requirement(&variant.detection) {
                pending.push(builder.add(&requirement));
                owners.push(index);
            }
        }
        let (literals, compiled) = builder.build(pending)?;
        for (index, requirement) in owners.into_iter().zip(compiled) {
            if let Some(variant) = self.variants.get_mut(index) {
                variant.requirement = Some(requirement);
            }
        }
        self.literals = literals;
        Ok(())
    }

    pub fn rules(&self) -> &[RuleMeta] {
        &self.rules
    }

    pub fn rule(&self, index: usize) -> Option<&RuleMeta> {
        self.rules.get(index)
    }

    pub fn is_reported(&self, rule: usize) -> bool {
        self.reported.get(rule).copied().unwrap_or(false)
    }

    pub fn correlations(&self) -> &[CorrelationRule] {
        &self.correlations
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Finds the rules matching an event, appending to `matches`.
    /// `scratch` is per-thread working memory of the literal prefilter.
    pub fn match_event(&self, event: &Event, scratch: &mut Scratch, matches: &mut Vec<RuleMatch>) {
        let start = matches.len();
        self.literals.begin(scratch);
        let (channel, event_id) = if event.kind == LogKind::Evtx {
            let channel = match event.first("Channel") {
                Some(FieldValue::Str(text)) => text.lowercase(),
                _ => "",
            };
            let event_id = event.first("EventID").and_then(|value| match value {
                FieldValue::Int(id) => Some(*id),
                other => other.as_f64().map(|id| id as i64),
            });
            (channel, event_id)
        } else {
            ("", None)
        };
        let channel = if channel.is_empty() {
            0
        } else {
            // A channel no rule names still gets the any-channel rules.
            self.channel_numbers.get(channel).copied().unwrap_or(u32::MAX)
        };
        let mut key: IndexKey = (event.kind, channel, event_id);
        let mut slots: [Option<&Vec<u32>>; 4] = [None; 4];
        slots[0] = self.index.get(&key);
        key.2 = None;
        slots[1] = if event_id.is_some() { self.index.get(&key) } else { None };
        if channel != 0 {
            key.1 = 0;
            slots[3] = self.index.get(&key);
            key.2 = event_id;
            slots[2] = if event_id.is_some() { self.index.get(&key) } else { None };
        }
        for slot in slots.into_iter().flatten() {
            for variant_index in slot {
                let Some(variant) = self.variants.get(*variant_index as usize) else {
                    continue;
                };
                if matches[start..].iter().any(|found| found.rule == variant.rule) {
                    continue;
                }
                let conditions_hold = variant.conditions.iter().all(|(field, value)| {
                    event
                        .values(field)
                        .any(|actual| actual.render_lowercase() == value.as_str())
                });
                if !conditions_hold {
                    continue;
                }
                if let Some(requirement) = &variant.requirement
                    && !self.literals.satisfied(requirement, event, scratch)
                {
                    continue;
                }
                if variant.detection.is_match(event) {
                    let fields = variant
                        .detection
                        .fields
                        .iter()
                        .filter_map(|field| {
                            event
                                .first(field)
                                .map(|value| (field.to_string(), value.render().into_owned()))
                        })
                        .collect();
                    matches.push(RuleMatch {
                        rule: variant.rule,
                        fields,
                    });
                }
            }
        }
    }
}

fn rule_meta(map: &serde_yaml::Mapping, path: &str) -> RuleMeta {
    let text = |key: &str| map.get(key).and_then(Yaml::as_str).map(str::to_owned);
    let logsource = map
        .get("logsource")
        .and_then(|value| serde_yaml::from_value::<Logsource>(value.clone()).ok())
        .map(|logsource| logsource.to_string())
        .unwrap_or_default();
    RuleMeta {
        title: text("title").unwrap_or_default(),
        id: text("id").unwrap_or_default(),
        name: text("name"),
        level: text("level").unwrap_or_else(|| "medium".to_owned()),
        tags: map
            .get("tags")
            .and_then(Yaml::as_sequence)
            .map(|tags| tags.iter().filter_map(Yaml::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
        path: Path::new(path).display().to_string(),
        logsource,
    }
}
