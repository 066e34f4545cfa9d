//! Compiling one Sigma `detection` block into selections of field tests and a condition tree
//! over selection indexes. Compilation does all the string work once: field names are renamed
//! for the target log, values are expanded by their modifiers and turned into matchers.

use serde_yaml::Value as Yaml;

use super::condition::{Condition, Quantity, name_matches, parse_condition};
use super::pattern::{
    Comparison, Piece, Position, StringMatcher, Utf16, ValueMatcher, apply_position, base64_offsets, base64_whole,
    encode_utf16, parse_wildcards, windash,
};
use crate::event::{Event, FieldValue};

/// A field-name translation for one log source (`Image` → `NewProcessName` on Security 4688).
pub trait FieldRenamer {
    fn rename<'name>(&'name self, field: &'name str) -> &'name str;
}

/// The test of one field inside a selection.
#[derive(Clone, Debug)]
pub struct FieldTest {
    pub field: Box<str>,
    pub kind: FieldTestKind,
}

#[derive(Clone, Debug)]
pub enum FieldTestKind {
    /// Each entry is one value of the rule with the variants its modifiers expanded it to; the
    /// test passes when any (or, with `all`, every) entry matches some value of the field.
    Values {
        values: Vec<Vec<ValueMatcher>>,
        all: bool,
        null_allowed: bool,
    },
    Exists(bool),
    /// `fieldref`: the field compared with another field of the same event.
    FieldReference {
        other: Box<str>,
        position: Position,
        cased: bool,
    },
}

/// One map of a selection (all its field tests must pass) or a keyword list.
#[derive(Clone, Debug)]
pub enum Alternative {
    AllOf(Vec<FieldTest>),
    Keywords { values: Vec<Vec<ValueMatcher>>, all: bool },
}

/// A named selection: any one of its alternatives must pass.
#[derive(Clone, Debug)]
pub struct Selection {
    pub name: String,
    pub alternatives: Vec<Alternative>,
}

/// A condition over selection indexes.
#[derive(Clone, Debug)]
pub enum Node {
    Selection(usize),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    AtLeast(usize, Vec<usize>),
    Constant(bool),
}

/// A compiled detection.
#[derive(Clone, Debug)]
pub struct Detection {
    pub selections: Vec<Selection>,
    pub condition: Node,
    /// Every field a selection reads, to show in output which fields matched.
    pub fields: Vec<Box<str>>,
}

impl Detection {
    pub fn is_match(&self, event: &Event) -> bool {
        self.evaluate(&self.condition, event)
    }

    fn evaluate(&self, node: &Node, event: &Event) -> bool {
        match node {
            Node::Selection(index) => self
                .selections
                .get(*index)
                .is_some_and(|selection| selection_matches(selection, event)),
            Node::Not(inner) => !self.evaluate(inner, event),
            Node::And(children) => children.iter().all(|child| self.evaluate(child, event)),
            Node::Or(children) => children.iter().any(|child| self.evaluate(child, event)),
            Node::AtLeast(quantity, indexes) => {
                let mut count = 0;
                for index in indexes {
                    if self
                        .selections
                        .get(*index)
                        .is_some_and(|selection| selection_matches(selection, event))
                    {
                        count += 1;
                        if count >= *quantity {
                            return true;
                        }
                    }
                }
                false
            }
            Node::Constant(value) => *value,
        }
    }

    /// The EventIDs an event must have to possibly match, when the condition demands one.
    pub fn required_event_ids(&self) -> Option<Vec<i64>> {
        self.required_ids(&self.condition)
    }

    fn required_ids(&self, node: &Node) -> Option<Vec<i64>> {
        match node {
            Node::Selection(index) => self.selections.get(*index).and_then(selection_event_ids),
            Node::And(children) => {
                let mut required: Option<Vec<i64>> = None;
                for child in children {
                    if let Some(ids) = self.required_ids(child) {
                        required = Some(match required {
                            None => ids,
                            Some(previous) => previous.into_iter().filter(|id| ids.contains(id)).collect(),
                        });
                    }
                }
                required
            }
            Node::Or(children) => union_all(children.iter().map(|child| self.required_ids(child))),
            Node::AtLeast(quantity, indexes) => {
                if *quantity == indexes.len() {
                    self.required_ids(&Node::And(
                        indexes.iter().map(|index| Node::Selection(*index)).collect(),
                    ))
                } else {
                    union_all(indexes.iter().map(|index| self.required_ids(&Node::Selection(*index))))
                }
            }
            Node::Not(_) | Node::Constant(_) => None,
        }
    }
}

fn union_all(parts: impl Iterator<Item = Option<Vec<i64>>>) -> Option<Vec<i64>> {
    let mut union = Vec::new();
    for part in parts {
        for id in part? {
            if !union.contains(&id) {
                union.push(id);
            }
        }
    }
    Some(union)
}

fn selection_event_ids(selection: &Selection) -> Option<Vec<i64>> {
    union_all(selection.alternatives.iter().map(|alternative| match alternative {
        Alternative::AllOf(tests) => tests.iter().find_map(|test| {
            if &*test.field != "EventID" {
                return None;
            }
            match &test.kind {
                FieldTestKind::Values {
                    values,
                    all: false,
                    null_allowed: false,
                } => {
                    let mut ids = Vec::new();
                    for variants in values {
                        for matcher in variants {
                            match matcher {
                                ValueMatcher::String { integer: Some(id), .. } => ids.push(*id),
                                _ => return None,
                            }
                        }
                    }
                    Some(ids)
                }
                _ => None,
            }
        }),
        Alternative::Keywords { .. } => None,
    }))
}

fn selection_matches(selection: &Selection, event: &Event) -> bool {
    selection.alternatives.iter().any(|alternative| match alternative {
        Alternative::AllOf(tests) => tests.iter().all(|test| field_test_matches(test, event)),
        Alternative::Keywords { values, all } => {
            let value_found = |variants: &Vec<ValueMatcher>| {
                event
                    .fields()
                    .any(|(_, value)| variants.iter().any(|matcher| matcher.is_match(value)))
            };
            if *all {
                values.iter().all(value_found)
            } else {
                values.iter().any(value_found)
            }
        }
    })
}

fn field_test_matches(test: &FieldTest, event: &Event) -> bool {
    match &test.kind {
        FieldTestKind::Values {
            values,
            all,
            null_allowed,
        } => {
            let check = |variants: &Vec<ValueMatcher>| {
                event
                    .values(&test.field)
                    .any(|value| variants.iter().any(|matcher| matcher.is_match(value)))
            };
            let matched = if *all {
                values.iter().all(check)
            } else {
                values.iter().any(check)
            };
            if matched {
                return true;
            }
            // `field: null` holds for a field that is absent, null or empty.
            *null_allowed
                && (event.values(&test.field).next().is_none()
                    || event.values(&test.field).any(|value| match value {
                        FieldValue::Null => true,
                        FieldValue::Str(text) => text.as_str().is_empty(),
                        _ => false,
                    }))
        }
        FieldTestKind::Exists(expected) => event.values(&test.field).next().is_some() == *expected,
        FieldTestKind::FieldReference { other, position, cased } => {
            let render = |value: &FieldValue| {
                if *cased {
                    value.render().into_owned()
                } else {
                    value.render_lowercase().into_owned()
                }
            };
            event.values(&test.field).any(|value| {
                let haystack = render(value);
                event.values(other).any(|reference| {
                    let needle = render(reference);
                    match position {
                        Position::Whole => haystack == needle,
                        Position::Contains => haystack.contains(&needle),
                        Position::StartsWith => haystack.starts_with(&needle),
                        Position::EndsWith => haystack.ends_with(&needle),
                    }
                })
            })
        }
    }
}

/// Compiles a `detection` mapping.
pub fn compile_detection(detection: &serde_yaml::Mapping, renamer: &dyn FieldRenamer) -> Result<Detection, String> {
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    let mut fields: Vec<Box<str>> = Vec::new();
    for (key, value) in detection {
        let Some(name) = key.as_str() else {
            return Err("detection has a non-string key".to_owned());
        };
        match name {
            "condition" => match value {
                Yaml::String(text) => conditions.push(text.clone()),
                Yaml::Sequence(items) => {
                    for item in items {
                        conditions.push(item.as_str().ok_or("condition list holds a non-string")?.to_owned());
                    }
                }
                _ => return Err("condition is not a string".to_owned()),
            },
            "timeframe" => {
                return Err("`timeframe` aggregation rules are not supported (use correlation rules)".to_owned());
            }
            _ => {
                let selection = compile_selection(name, value, renamer)?;
                for alternative in &selection.alternatives {
                    if let Alternative::AllOf(tests) = alternative {
                        for test in tests {
                            if !fields.contains(&test.field) {
                                fields.push(test.field.clone());
                            }
                        }
                    }
                }
                selections.push(selection);
            }
        }
    }
    if conditions.is_empty() {
        return Err("detection has no condition".to_owned());
    }
    let names: Vec<&str> = selections.iter().map(|selection| selection.name.as_str()).collect();
    let mut nodes = Vec::new();
    for text in &conditions {
        nodes.push(resolve(&parse_condition(text)?, &names)?);
    }
    let condition = if nodes.len() == 1 {
        nodes.remove(0)
    } else {
        Node::Or(nodes)
    };
    Ok(Detection {
        selections,
        condition,
        fields,
    })
}

fn resolve(condition: &Condition, names: &[&str]) -> Result<Node, String> {
    Ok(match condition {
        Condition::Selection(name) => {
            if name.contains('*') {
                // A bare pattern reads as `1 of pattern` in some rules.
                return resolve(
                    &Condition::Of {
                        quantity: Quantity::AtLeast(1),
                        pattern: name.clone(),
                    },
                    names,
                );
            }
            let index = names
                .iter()
                .position(|candidate| candidate == name)
                .ok_or_else(|| format!("condition names unknown selection `{name}`"))?;
            Node::Selection(index)
        }
        Condition::Not(inner) => Node::Not(Box::new(resolve(inner, names)?)),
        Condition::And(children) => Node::And(
            children
                .iter()
                .map(|child| resolve(child, names))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Or(children) => Node::Or(
            children
                .iter()
                .map(|child| resolve(child, names))
                .collect::<Result<_, _>>()?,
        ),
        Condition::Of { quantity, pattern } => {
            let indexes: Vec<usize> = names
                .iter()
                .enumerate()
                .filter(|(_, name)| name_matches(pattern, name))
                .map(|(index, _)| index)
                .collect();
            if indexes.is_empty() {
                return Err(format!("`of {pattern}` matches no selection"));
            }
            match quantity {
                Quantity::All => Node::AtLeast(indexes.len(), indexes),
                Quantity::AtLeast(count) => Node::AtLeast(*count, indexes),
            }
        }
    })
}

fn compile_selection(name: &str, value: &Yaml, renamer: &dyn FieldRenamer) -> Result<Selection, String> {
    let mut alternatives = Vec::new();
    match value {
        Yaml::Mapping(map) => alternatives.push(compile_map(map, renamer)?),
        Yaml::Sequence(items) => {
            let mut keywords = Vec::new();
            for item in items {
                match item {
                    Yaml::Mapping(map) => alternatives.push(compile_map(map, renamer)?),
                    scalar => keywords.push(compile_value(scalar, &Modifiers::keyword())?),
                }
            }
            if !keywords.is_empty() {
                alternatives.push(Alternative::Keywords {
                    values: keywords,
                    all: false,
                });
            }
        }
        Yaml::Null => return Err(format!("selection `{name}` is empty")),
        scalar => alternatives.push(Alternative::Keywords {
            values: vec![compile_value(scalar, &Modifiers::keyword())?],
            all: false,
        }),
    }
    Ok(Selection {
        name: name.to_owned(),
        alternatives,
    })
}

fn compile_map(map: &serde_yaml::Mapping, renamer: &dyn FieldRenamer) -> Result<Alternative, String> {
    let mut tests = Vec::new();
    for (key, value) in map {
        let key = match key {
            Yaml::String(text) => text.clone(),
            Yaml::Number(number) => number.to_string(),
            _ => return Err("selection has a non-string field name".to_owned()),
        };
        let mut parts = key.split('|');
        let field = parts.next().unwrap_or_default();
        let modifiers = Modifiers::parse(parts)?;
        let values: Vec<&Yaml> = match value {
            Yaml::Sequence(items) => items.iter().collect(),
            other => vec![other],
        };
        if field.is_empty() {
            // `|contains: [...]` without a field is a keyword search with modifiers.
            let compiled = values
                .iter()
                .map(|value| compile_value(value, &modifiers))
                .collect::<Result<_, _>>()?;
            return Ok(Alternative::Keywords {
                values: compiled,
                all: modifiers.all,
            });
        }
        let field: Box<str> = renamer.rename(field).into();
        let kind = if modifiers.exists {
            let wanted = match values.as_slice() {
                [Yaml::Bool(wanted)] => *wanted,
                [Yaml::String(text)] if text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false") => {
                    text.eq_ignore_ascii_case("true")
                }
                _ => return Err("`exists` needs a single true or false".to_owned()),
            };
            FieldTestKind::Exists(wanted)
        } else if modifiers.field_reference {
            match values.as_slice() {
                [Yaml::String(other)] => FieldTestKind::FieldReference {
                    other: renamer.rename(other).into(),
                    position: modifiers.position,
                    cased: modifiers.cased,
                },
                _ => return Err("`fieldref` with several fields is not supported".to_owned()),
            }
        } else {
            let null_allowed = values.iter().any(|value| value.is_null());
            let mut compiled = Vec::new();
            for value in values.iter().filter(|value| !value.is_null()) {
                compiled.push(compile_value(value, &modifiers)?);
            }
            FieldTestKind::Values {
                values: compiled,
                all: modifiers.all,
                null_allowed,
            }
        };
        tests.push(FieldTest { field, kind });
    }
    Ok(Alternative::AllOf(tests))
}

/// The modifiers of one field.
#[derive(Clone, Debug)]
struct Modifiers {
    position: Position,
    all: bool,
    cased: bool,
    regex: Option<String>,
    transforms: Vec<Transform>,
    cidr: bool,
    exists: bool,
    field_reference: bool,
    comparison: Option<Comparison>,
}

#[derive(Clone, Copy, Debug)]
enum Transform {
    Windash,
    Utf16(Utf16),
    Base64,
    Base64Offset,
}

impl Modifiers {
    fn keyword() -> Modifiers {
        Modifiers {
            position: Position::Contains,
            all: false,
            cased: false,
            regex: None,
            transforms: Vec::new(),
            cidr: false,
            exists: false,
            field_reference: false,
            comparison: None,
        }
    }

    fn parse<'text>(names: impl Iterator<Item = &'text str>) -> Result<Modifiers, String> {
        let mut modifiers = Modifiers {
            position: Position::Whole,
            ..Modifiers::keyword()
        };
        for name in names {
            match name {
                "contains" => modifiers.position = Position::Contains,
                "startswith" => modifiers.position = Position::StartsWith,
                "endswith" => modifiers.position = Position::EndsWith,
                "all" => modifiers.all = true,
                "cased" => modifiers.cased = true,
                "re" => modifiers.regex = Some(String::new()),
                "i" | "ignorecase" => push_regex_flag(&mut modifiers, 'i')?,
                "m" | "multiline" => push_regex_flag(&mut modifiers, 'm')?,
                "s" | "dotall" => push_regex_flag(&mut modifiers, 's')?,
                "windash" => modifiers.transforms.push(Transform::Windash),
                "wide" | "utf16le" => modifiers.transforms.push(Transform::Utf16(Utf16::LittleEndian)),
                "utf16be" => modifiers.transforms.push(Transform::Utf16(Utf16::BigEndian)),
                "utf16" => modifiers.transforms.push(Transform::Utf16(Utf16::WithBom)),
                "base64" => modifiers.transforms.push(Transform::Base64),
                "base64offset" => modifiers.transforms.push(Transform::Base64Offset),
                "cidr" => modifiers.cidr = true,
                "exists" => modifiers.exists = true,
                "fieldref" => modifiers.field_reference = true,
                "lt" => modifiers.comparison = Some(Comparison::Less),
                "lte" => modifiers.comparison = Some(Comparison::LessOrEqual),
                "gt" => modifiers.comparison = Some(Comparison::Greater),
                "gte" => modifiers.comparison = Some(Comparison::GreaterOrEqual),
                "expand" => {
                    return Err(
                        "the `expand` modifier needs placeholder values, which Cordon does not have".to_owned(),
                    );
                }
                other => return Err(format!("unknown modifier `{other}`")),
            }
        }
        Ok(modifiers)
    }
}

fn push_regex_flag(modifiers: &mut Modifiers, flag: char) -> Result<(), String> {
    match &mut modifiers.regex {
        Some(flags) => {
            flags.push(flag);
            Ok(())
        }
        None => Err(format!("regex flag `{flag}` without `re`")),
    }
}

fn scalar_text(value: &Yaml) -> Result<String, String> {
    match value {
        Yaml::String(text) => Ok(text.clone()),
        Yaml::Number(number) => Ok(number.to_string()),
        Yaml::Bool(flag) => Ok(flag.to_string()),
        _ => Err("a value is not a scalar".to_owned()),
    }
}

/// Compiles one value into the matchers of its variants.
fn compile_value(value: &Yaml, modifiers: &Modifiers) -> Result<Vec<ValueMatcher>, String> {
    if let Some(comparison) = modifiers.comparison {
        let bound = match value {
            Yaml::Number(number) => number.as_f64(),
            Yaml::String(text) => crate::event::parse_number(text),
            _ => None,
        }
        .ok_or("a numeric comparison needs a number")?;
        return Ok(vec![ValueMatcher::Compare(comparison, bound)]);
    }
    if let Some(flags) = &modifiers.regex {
        let pattern = scalar_text(value)?;
        let regex = regex::RegexBuilder::new(&pattern)
            .case_insensitive(flags.contains('i'))
            .multi_line(flags.contains('m'))
            .dot_matches_new_line(flags.contains('s'))
            .size_limit(1 << 23)
            .build()
            .map_err(|err| format!("invalid regex: {err}"))?;
        return Ok(vec![ValueMatcher::Regex(regex)]);
    }
    if modifiers.cidr {
        let text = scalar_text(value)?;
        let network = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|err| format!("invalid cidr `{text}`: {err}"))?;
        return Ok(vec![ValueMatcher::Cidr(network)]);
    }
    if let Yaml::Bool(flag) = value
        && modifiers.transforms.is_empty()
        && modifiers.position == Position::Whole
    {
        return Ok(vec![ValueMatcher::Bool(*flag)]);
    }
    let (pieces, integer) = match value {
        Yaml::String(text) => (parse_wildcards(text), None),
        Yaml::Number(number) => (vec![Piece::Literal(number.to_string().into_bytes())], number.as_i64()),
        Yaml::Bool(flag) => (vec![Piece::Literal(flag.to_string().into_bytes())], None),
        _ => return Err("a value is not a scalar".to_owned()),
    };
    let mut variants = vec![pieces];
    for transform in &modifiers.transforms {
        let mut next = Vec::new();
        for variant in &variants {
            match transform {
                Transform::Windash => next.extend(windash(variant)),
                Transform::Utf16(encoding) => next.push(encode_utf16(variant, *encoding)),
                Transform::Base64 => next.push(base64_whole(variant).ok_or("`base64` cannot encode wildcards")?),
                Transform::Base64Offset => {
                    next.extend(base64_offsets(variant).ok_or("`base64offset` cannot encode wildcards")?)
                }
            }
        }
        variants = next;
    }
    let integer_fast_path = if modifiers.position == Position::Whole && modifiers.transforms.is_empty() {
        integer.or_else(|| match value {
            Yaml::String(text) => text.parse::<i64>().ok().filter(|number| number.to_string() == *text),
            _ => None,
        })
    } else {
        None
    };
    variants
        .into_iter()
        .map(|variant| {
            let positioned = apply_position(variant, modifiers.position);
            Ok(ValueMatcher::String {
                matcher: StringMatcher::compile(&positioned, !modifiers.cased)?,
                cased: modifiers.cased,
                integer: integer_fast_path,
            })
        })
        .collect()
}
