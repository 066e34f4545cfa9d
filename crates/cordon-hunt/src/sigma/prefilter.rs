//! Shared literal search across rules.
//!
//! Most rules can only match when some field holds one of a few literals (`Image` ends with
//! `\rundll32.exe`, `CommandLine` contains `-enc`). For each compiled detection we derive such a
//! *requirement* from its condition: a set of (field, literal) pairs, at least one of which must
//! occur for the rule to possibly match. All literals of all rules for one field go into one
//! Aho-Corasick automaton. For an event, each field's automaton runs at most once, over the
//! field's lowercase value, and a rule is evaluated only if one of its literals was found.
//! Thousands of `process_creation` rules thus cost one scan of `Image` and `CommandLine` plus the
//! few rules whose literals occur.
//!
//! Requirements are sound by construction: a selection yields one only when every alternative
//! of it has a test that cannot pass without its literals, `or` needs one from each side, `and`
//! takes the best of its sides, and `not` yields none.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use rustc_hash::FxHashMap;

use super::compile::{Alternative, Detection, FieldTestKind, Node, Selection};
use super::pattern::{ValueMatcher, lowercase_bytes};
use crate::event::{Event, FieldValue};

/// A disjunction of (field, lowercase literal) pairs.
pub type Requirement = Vec<(Box<str>, Vec<u8>)>;

/// Literals shorter than this are not worth a prefilter (they occur everywhere).
const MIN_LITERAL_BYTES: usize = 3;

/// Derives the requirement of a detection, if it has a useful one.
pub fn requirement(detection: &Detection) -> Option<Requirement> {
    node_requirement(detection, &detection.condition)
}

fn node_requirement(detection: &Detection, node: &Node) -> Option<Requirement> {
    match node {
        Node::Selection(index) => detection.selections.get(*index).and_then(selection_requirement),
        Node::And(children) => children
            .iter()
            .filter_map(|child| node_requirement(detection, child))
            .max_by_key(quality),
        Node::Or(children) => union(children.iter().map(|child| node_requirement(detection, child))),
        Node::AtLeast(quantity, indexes) => {
            let children = indexes.iter().map(|index| Node::Selection(*index));
            if *quantity >= indexes.len() {
                children
                    .filter_map(|child| node_requirement(detection, &child))
                    .max_by_key(quality)
            } else {
                union(children.map(|child| node_requirement(detection, &child)))
            }
        }
        Node::Not(_) | Node::Constant(_) => None,
    }
}

/// Prefers requirements whose shortest literal is long (rarer hits), then fewer literals.
fn quality(requirement: &Requirement) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = requirement.iter().map(|(_, literal)| literal.len()).min().unwrap_or(0);
    (shortest.min(12), std::cmp::Reverse(requirement.len()))
}

fn union(parts: impl Iterator<Item = Option<Requirement>>) -> Option<Requirement> {
    let mut all = Vec::new();
    for part in parts {
        all.extend(part?);
    }
    Some(all)
}

fn selection_requirement(selection: &Selection) -> Option<Requirement> {
    union(selection.alternatives.iter().map(|alternative| {
        match alternative {
            Alternative::AllOf(tests) => tests
                .iter()
                .filter_map(|test| match &test.kind {
                    FieldTestKind::Values {
                        values,
                        null_allowed: false,
                        all,
                    } => {
                        // With `all`, any single value is necessary; otherwise one of them is.
                        let chosen: Vec<&Vec<ValueMatcher>> = if *all {
                            values.iter().take(1).collect()
                        } else {
                            values.iter().collect()
                        };
                        let mut literals = Vec::new();
                        for variants in chosen {
                            for matcher in variants {
                                let ValueMatcher::String {
                                    matcher, integer: None, ..
                                } = matcher
                                else {
                                    return None;
                                };
                                let literal = matcher.required_literal()?;
                                if literal.len() < MIN_LITERAL_BYTES {
                                    return None;
                                }
                                literals.push((test.field.clone(), lowercase_bytes(literal)));
                            }
                        }
                        (!literals.is_empty()).then_some(literals)
                    }
                    _ => None,
                })
                .max_by_key(quality),
            Alternative::Keywords { .. } => None,
        }
    }))
}

/// The automata of all rules' literals, one per field.
#[derive(Debug, Default)]
pub struct LiteralIndex {
    groups: Vec<FieldGroup>,
    /// For each literal (global id), nothing more is needed: variants list their literal ids.
    literal_count: usize,
}

#[derive(Debug)]
struct FieldGroup {
    field: Box<str>,
    automaton: AhoCorasick,
    /// Global id of this group's first literal.
    first_literal: usize,
}

/// Per-thread scratch space for [`LiteralIndex`], stamped with an event counter so that nothing
/// needs clearing between events.
#[derive(Debug, Default)]
pub struct Scratch {
    epoch: u32,
    group_done: Vec<u32>,
    literal_hit: Vec<u32>,
}

/// A variant's requirement as groups and global literal ids.
#[derive(Clone, Debug, Default)]
pub struct CompiledRequirement {
    groups: Vec<u32>,
    literals: Vec<u32>,
}

/// A field's literals in order, and each literal's position.
type PendingField = (Box<str>, Vec<Vec<u8>>, FxHashMap<Vec<u8>, usize>);

/// Collects requirements, then builds the automata.
#[derive(Debug, Default)]
pub struct LiteralIndexBuilder {
    fields: Vec<PendingField>,
    field_index: FxHashMap<Box<str>, usize>,
}

impl LiteralIndexBuilder {
    /// Registers a requirement and returns it as (group, local literal) pairs.
    pub fn add(&mut self, requirement: &Requirement) -> Vec<(usize, usize)> {
        let mut ids = Vec::new();
        for (field, literal) in requirement {
            let group = *self.field_index.entry(field.clone()).or_insert_with(|| {
                self.fields.push((field.clone(), Vec::new(), FxHashMap::default()));
                self.fields.len() - 1
            });
            let Some((_, literals, positions)) = self.fields.get_mut(group) else {
                continue;
            };
            let local = *positions.entry(literal.clone()).or_insert_with(|| {
                literals.push(literal.clone());
                literals.len() - 1
            });
            ids.push((group, local));
        }
        ids
    }

    /// Builds the automata; `pending` are the ids [`Self::add`] returned, turned into global ids.
    pub fn build(self, pending: Vec<Vec<(usize, usize)>>) -> Result<(LiteralIndex, Vec<CompiledRequirement>), String> {
        let mut groups = Vec::new();
        let mut first_literal = 0;
        let mut offsets = Vec::new();
        for (field, literals, _) in self.fields {
            let automaton = AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(&literals)
                .map_err(|err| format!("literal index: {err}"))?;
            offsets.push(first_literal);
            groups.push(FieldGroup {
                field,
                automaton,
                first_literal,
            });
            first_literal += literals.len();
        }
        let compiled = pending
            .into_iter()
            .map(|ids| {
                let mut requirement = CompiledRequirement::default();
                for (group, local) in ids {
                    if !requirement.groups.contains(&(group as u32)) {
                        requirement.groups.push(group as u32);
                    }
                    requirement
                        .literals
                        .push((offsets.get(group).copied().unwrap_or(0) + local) as u32);
                }
                requirement
            })
            .collect();
        Ok((
            LiteralIndex {
                groups,
                literal_count: first_literal,
            },
            compiled,
        ))
    }
}

impl LiteralIndex {
    /// Starts a new event in the scratch space.
    pub fn begin(&self, scratch: &mut Scratch) {
        if scratch.group_done.len() != self.groups.len() {
            scratch.group_done = vec![0; self.groups.len()];
            scratch.literal_hit = vec![0; self.literal_count];
            scratch.epoch = 0;
        }
        scratch.epoch = scratch.epoch.wrapping_add(1);
        if scratch.epoch == 0 {
            scratch.group_done.iter_mut().for_each(|stamp| *stamp = 0);
            scratch.literal_hit.iter_mut().for_each(|stamp| *stamp = 0);
            scratch.epoch = 1;
        }
    }

    /// Whether one of the requirement's literals occurs in the event, scanning each field at
    /// most once per event.
    pub fn satisfied(&self, requirement: &CompiledRequirement, event: &Event, scratch: &mut Scratch) -> bool {
        let epoch = scratch.epoch;
        for group in &requirement.groups {
            let group = *group as usize;
            if scratch.group_done.get(group) == Some(&epoch) {
                continue;
            }
            if let Some(stamp) = scratch.group_done.get_mut(group) {
                *stamp = epoch;
            }
            let Some(field_group) = self.groups.get(group) else {
                continue;
            };
            for value in event.values(&field_group.field) {
                let lowered;
                let haystack: &[u8] = match value {
                    FieldValue::Str(text) => text.lowercase().as_bytes(),
                    FieldValue::Null => continue,
                    other => {
                        lowered = other.render_lowercase().into_owned();
                        lowered.as_bytes()
                    }
                };
                for hit in field_group.automaton.find_overlapping_iter(haystack) {
                    if let Some(stamp) = scratch
                        .literal_hit
                        .get_mut(field_group.first_literal + hit.pattern().as_usize())
                    {
                        *stamp = epoch;
                    }
                }
            }
        }
        requirement
            .literals
            .iter()
            .any(|literal| scratch.literal_hit.get(*literal as usize) == Some(&epoch))
    }
}
