//! Sigma correlation rules (`event_count`, `value_count`, `temporal`, `temporal_ordered`) over
//! the matches of the rules they reference, grouped by `group-by` fields within a `timespan`.
//!
//! The hunt records, for each match of a referenced rule, its time, group key and (for
//! `value_count`) the counted field; correlation runs once all events are read, because
//! files are read in parallel and not in time order.

use serde_yaml::Value as Yaml;

use super::RuleMeta;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Operator {
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
}

/// A correlation rule before the rules it references are resolved.
#[derive(Clone, Debug)]
pub struct RawCorrelation {
    pub meta: RuleMeta,
    kind: CorrelationKind,
    references: Vec<String>,
    group_by: Vec<String>,
    timespan_ms: i64,
    condition: Vec<(Operator, f64)>,
    field: Option<String>,
    generate: bool,
}

/// A compiled correlation rule.
#[derive(Clone, Debug)]
pub struct CorrelationRule {
    pub meta: RuleMeta,
    pub kind: CorrelationKind,
    /// Indexes of the referenced rules, in the order given.
    pub rules: Vec<usize>,
    pub group_by: Vec<String>,
    pub timespan_ms: i64,
    condition: Vec<(Operator, f64)>,
    pub field: Option<String>,
    pub generate: bool,
}

/// Parses a timespan such as `5m`, `1h`, `30s`, `2d`.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|character: char| !character.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return None,
    };
    number.checked_mul(unit_ms)
}

impl RawCorrelation {
    pub fn parse(map: &serde_yaml::Mapping, meta: RuleMeta) -> Result<RawCorrelation, String> {
        let correlation = map
            .get("correlation")
            .and_then(Yaml::as_mapping)
            .ok_or("correlation is not a mapping")?;
        let kind = match correlation.get("type").and_then(Yaml::as_str) {
            Some("event_count") => CorrelationKind::EventCount,
            Some("value_count") => CorrelationKind::ValueCount,
            Some("temporal") => CorrelationKind::Temporal,
            Some("temporal_ordered") => CorrelationKind::TemporalOrdered,
            Some(other) => return Err(format!("unknown correlation type `{other}`")),
            None => return Err("correlation has no type".to_owned()),
        };
        let strings = |value: Option<&Yaml>| -> Vec<String> {
            match value {
                Some(Yaml::String(text)) => vec![text.clone()],
                Some(Yaml::Sequence(items)) => items.iter().filter_map(Yaml::as_str).map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        let references = strings(correlation.get("rules"));
        if references.is_empty() {
            return Err("correlation references no rules".to_owned());
        }
        let group_by = strings(correlation.get("group-by"));
        let timespan_ms = correlation
            .get("timespan")
            .or_else(|| correlation.get("timeframe"))
            .and_then(Yaml::as_str)
            .and_then(parse_timespan)
            .ok_or("correlation needs a timespan such as `5m`")?;
        let mut condition = Vec::new();
        let mut field = None;
        match correlation.get("condition") {
            Some(Yaml::Mapping(conditions)) => {
                for (key, value) in conditions {
                    let key = key.as_str().unwrap_or_default();
                    if key == "field" {
                        field = value.as_str().map(str::to_owned);
                        continue;
                    }
                    let operator = match key {
                        "gt" => Operator::Greater,
                        "gte" => Operator::GreaterOrEqual,
                        "lt" => Operator::Less,
                        "lte" => Operator::LessOrEqual,
                        "eq" => Operator::Equal,
                        other => return Err(format!("unknown correlation condition `{other}`")),
                    };
                    let bound = value.as_f64().ok_or("correlation condition needs a number")?;
                    condition.push((operator, bound));
                }
            }
            None if matches!(kind, CorrelationKind::Temporal | CorrelationKind::TemporalOrdered) => {}
            _ => return Err("correlation condition must be a mapping".to_owned()),
        }
        if kind == CorrelationKind::ValueCount && field.is_none() {
            return Err("value_count correlation needs `condition.field`".to_owned());
        }
        if condition.is_empty() && matches!(kind, CorrelationKind::EventCount | CorrelationKind::ValueCount) {
            return Err("count correlation needs a condition".to_owned());
        }
        let generate = correlation.get("generate").and_then(Yaml::as_bool).unwrap_or(false);
        Ok(RawCorrelation {
            meta,
            kind,
            references,
            group_by,
            timespan_ms,
            condition,
            field,
            generate,
        })
    }

    /// Resolves rule references (by `name` or `id`).
    pub fn compile(self, rules: &[RuleMeta]) -> Result<CorrelationRule, String> {
        let mut indexes = Vec::new();
        for reference in &self.references {
            let index = rules
                .iter()
                .position(|rule| rule.name.as_deref() == Some(reference.as_str()) || rule.id == *reference)
                .ok_or_else(|| format!("correlation references unknown or skipped rule `{reference}`"))?;
            indexes.push(index);
        }
        Ok(CorrelationRule {
            meta: self.meta,
            kind: self.kind,
            rules: indexes,
            group_by: self.group_by,
            timespan_ms: self.timespan_ms,
            condition: self.condition,
            field: self.field,
            generate: self.generate,
        })
    }
}

/// One match of a rule that a correlation references.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationInput {
    pub rule: usize,
    pub timestamp_ms: i64,
    pub group: Vec<String>,
    pub value: Option<String>,
}

/// A correlation that fired for one group.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationHit {
    pub first_ms: i64,
    pub last_ms: i64,
    pub group: Vec<String>,
    pub count: usize,
}

impl CorrelationRule {
    fn holds(&self, count: usize) -> bool {
        let count = count as f64;
        self.condition.iter().all(|(operator, bound)| match operator {
            Operator::Greater => count > *bound,
            Operator::GreaterOrEqual => count >= *bound,
            Operator::Less => count < *bound,
            Operator::LessOrEqual => count <= *bound,
            Operator::Equal => (count - bound).abs() < f64::EPSILON,
        })
    }

    /// Evaluates the correlation over the inputs recorded for it. At most one hit per group:
    /// the first window in time that satisfies the condition.
    pub fn evaluate(&self, inputs: &[CorrelationInput]) -> Vec<CorrelationHit> {
        let mut groups: std::collections::BTreeMap<&[String], Vec<&CorrelationInput>> =
            std::collections::BTreeMap::new();
        for input in inputs.iter().filter(|input| self.rules.contains(&input.rule)) {
            groups.entry(&input.group).or_default().push(input);
        }
        let mut hits = Vec::new();
        for (group, mut members) in groups {
            members.sort_by_key(|input| input.timestamp_ms);
            for (start, first) in members.iter().enumerate() {
                let window: Vec<&CorrelationInput> = members[start..]
                    .iter()
                    .take_while(|input| input.timestamp_ms - first.timestamp_ms <= self.timespan_ms)
                    .copied()
                    .collect();
                let (fired, count) = match self.kind {
                    CorrelationKind::EventCount => (self.holds(window.len()), window.len()),
                    CorrelationKind::ValueCount => {
                        let mut values: Vec<&str> = window.iter().filter_map(|input| input.value.as_deref()).collect();
                        values.sort_unstable();
                        values.dedup();
                        (self.holds(values.len()), values.len())
                    }
                    CorrelationKind::Temporal => {
                        let present = self
                            .rules
                            .iter()
                            .filter(|rule| window.iter().any(|input| input.rule == **rule))
                            .count();
                        let fired = if self.condition.is_empty() {
                            present == self.rules.len()
                        } else {
                            self.holds(present)
                        };
                        (fired, window.len())
                    }
                    CorrelationKind::TemporalOrdered => {
                        let mut next = 0;
                        for input in &window {
                            if self.rules.get(next) == Some(&input.rule) {
                                next += 1;
                            }
                        }
                        (next == self.rules.len(), window.len())
                    }
                };
                if fired {
                    let last = window
                        .last()
                        .map(|input| input.timestamp_ms)
                        .unwrap_or(first.timestamp_ms);
                    hits.push(CorrelationHit {
                        first_ms: first.timestamp_ms,
                        last_ms: last,
                        group: group.to_vec(),
                        count,
                    });
                    break;
                }
            }
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(rule: usize, seconds: i64, group: &str, value: &str) -> CorrelationInput {
        CorrelationInput {
            rule,
            timestamp_ms: seconds * 1000,
            group: vec![group.to_owned()],
            value: Some(value.to_owned()),
        }
    }

    fn rule(yaml: &str, rules: &[RuleMeta]) -> CorrelationRule {
        let map: serde_yaml::Mapping = serde_yaml::from_str(yaml).unwrap();
        RawCorrelation::parse(&map, RuleMeta::default())
            .unwrap()
            .compile(rules)
            .unwrap()
    }

    fn metas() -> Vec<RuleMeta> {
        vec![
            RuleMeta {
                name: Some("failed_logon".to_owned()),
                id: "a".to_owned(),
                ..RuleMeta::default()
            },
            RuleMeta {
                name: Some("success_logon".to_owned()),
                id: "b".to_owned(),
                ..RuleMeta::default()
            },
        ]
    }

    #[test]
    fn event_count_fires_per_group_within_timespan() {
        let correlation = rule(
            "correlation: {type: event_count, rules: [failed_logon], group-by: [User], timespan: 1m, condition: {gte: 3}}",
            &metas(),
        );
        let inputs = vec![
            input(0, 0, "bob", ""),
            input(0, 10, "bob", ""),
            input(0, 50, "bob", ""),
            input(0, 0, "eve", ""),
            input(0, 200, "eve", ""),
        ];
        let hits = correlation.evaluate(&inputs);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].group, vec!["bob"]);
        assert_eq!(hits[0].count, 3);
    }

    #[test]
    fn value_count_and_temporal_ordered() {
        let distinct = rule(
            "correlation: {type: value_count, rules: [failed_logon], group-by: [Ip], timespan: 5m, condition: {field: User, gt: 1}}",
            &metas(),
        );
        assert_eq!(
            distinct
                .evaluate(&[input(0, 0, "ip", "a"), input(0, 1, "ip", "a")])
                .len(),
            0
        );
        assert_eq!(
            distinct
                .evaluate(&[input(0, 0, "ip", "a"), input(0, 1, "ip", "b")])
                .len(),
            1
        );
        let ordered = rule(
            "correlation: {type: temporal_ordered, rules: [failed_logon, success_logon], group-by: [User], timespan: 5m}",
            &metas(),
        );
        assert_eq!(ordered.evaluate(&[input(1, 0, "u", ""), input(0, 1, "u", "")]).len(), 0);
        assert_eq!(ordered.evaluate(&[input(0, 0, "u", ""), input(1, 1, "u", "")]).len(), 1);
        assert_eq!(parse_timespan("2h"), Some(7_200_000));
    }
}
