//! Property tests: every Sigma value modifier, compiled through the real rule compiler, against a
//! naive reference written directly from the specification.

use std::net::Ipv4Addr;
use std::sync::Arc;

use base64::Engine as _;
use cordon_hunt::event::{Event, FieldValue, LogKind, Origin};
use cordon_hunt::sigma::compile::{Detection, FieldRenamer, compile_detection};
use cordon_hunt::sigma::pattern::{
    Position, StringMatcher, Utf16, apply_position, encode_utf16, parse_wildcards, reference_match,
};
use proptest::prelude::*;

struct SameNames;

impl FieldRenamer for SameNames {
    fn rename<'name>(&'name self, field: &'name str) -> &'name str {
        field
    }
}

fn compile(field_with_modifiers: &str, values: &[String]) -> Detection {
    let mut selection = serde_yaml::Mapping::new();
    let list = values
        .iter()
        .map(|value| serde_yaml::Value::String(value.clone()))
        .collect();
    selection.insert(field_with_modifiers.into(), serde_yaml::Value::Sequence(list));
    let mut detection = serde_yaml::Mapping::new();
    detection.insert("selection".into(), serde_yaml::Value::Mapping(selection));
    detection.insert("condition".into(), "selection".into());
    compile_detection(&detection, &SameNames).unwrap()
}

fn event(field: &str, value: &str) -> Event {
    let mut event = Event::new(LogKind::Json, Arc::new(Origin { path: "p".into() }), 1);
    event.push(field, FieldValue::text(value));
    event
}

/// Text from a small alphabet so that random values and haystacks overlap often, including
/// case differences, wildcard characters, backslashes and a non-ASCII letter.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just('B'),
            Just('c'),
            Just('-'),
            Just('/'),
            Just(' '),
            Just('É'),
            Just('é')
        ],
        0..8,
    )
    .prop_map(|characters| characters.into_iter().collect())
}

fn pattern() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("B"),
            Just("c"),
            Just("*"),
            Just("?"),
            Just("\\*"),
            Just("\\\\"),
            Just("-"),
            Just("é")
        ],
        0..6,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn plain_values_with_wildcards_match_like_the_reference(value in pattern(), haystack in text()) {
        let compiled = compile("Field", std::slice::from_ref(&value));
        let expected = reference_match(&parse_wildcards(&value), &haystack, true);
        prop_assert_eq!(compiled.is_match(&event("Field", &haystack)), expected);
    }

    #[test]
    fn position_modifiers_match_like_string_operations(value in text(), haystack in text()) {
        let lower_value = value.to_lowercase();
        let lower_haystack = haystack.to_lowercase();
        for (modifier, expected) in [
            ("contains", lower_haystack.contains(&lower_value)),
            ("startswith", lower_haystack.starts_with(&lower_value)),
            ("endswith", lower_haystack.ends_with(&lower_value)),
        ] {
            let compiled = compile(&format!("Field|{modifier}"), std::slice::from_ref(&value));
            prop_assert_eq!(compiled.is_match(&event("Field", &haystack)), expected, "{}", modifier);
        }
    }

    #[test]
    fn cased_is_exact(value in text(), haystack in text()) {
        let compiled = compile("Field|cased", std::slice::from_ref(&value));
        prop_assert_eq!(compiled.is_match(&event("Field", &haystack)), value == haystack);
        let compiled = compile("Field|contains|cased", std::slice::from_ref(&value));
        prop_assert_eq!(compiled.is_match(&event("Field", &haystack)), haystack.contains(&value));
    }

    #[test]
    fn all_needs_every_value(values in proptest::collection::vec(text(), 1..4), haystack in text()) {
        let compiled = compile("Field|contains|all", &values);
        let lower = haystack.to_lowercase();
        let expected = values.iter().all(|value| lower.contains(&value.to_lowercase()));
        prop_assert_eq!(compiled.is_match(&event("Field", &haystack)), expected);
        let any = compile("Field|contains", &values);
        let expected_any = values.iter().any(|value| lower.contains(&value.to_lowercase()));
        prop_assert_eq!(any.is_match(&event("Field", &haystack)), expected_any);
    }

    #[test]
    fn windash_accepts_every_dash_spelling(word in "[a-z]{1,5}", dash_index in 0usize..5) {
        let value = format!("cmd -{word}");
        let compiled = compile("Field|windash|contains", std::slice::from_ref(&value));
        let dash = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'][dash_index];
        let haystack = format!("x.exe cmd {dash}{word} y");
        prop_assert!(compiled.is_match(&event("Field", &haystack)));
        let other = format!("x.exe cmd +{word}");
        prop_assert!(!compiled.is_match(&event("Field", &other)));
    }

    #[test]
    fn base64offset_finds_value_at_any_offset(prefix in "[ -~]{0,6}", value in "[a-zA-Z0-9 ./:=-]{3,12}", suffix in "[ -~]{0,6}") {
        let compiled = compile("Field|base64offset|contains", std::slice::from_ref(&value));
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{value}{suffix}"));
        prop_assert!(compiled.is_match(&event("Field", &encoded)), "{} in {}", value, encoded);
    }

    #[test]
    fn base64_is_the_whole_encoding(value in "[a-zA-Z0-9 ./:=-]{1,12}") {
        let compiled = compile("Field|base64", std::slice::from_ref(&value));
        let encoded = base64::engine::general_purpose::STANDARD.encode(&value);
        prop_assert!(compiled.is_match(&event("Field", &encoded)));
        let longer = format!("{encoded}x");
        prop_assert!(!compiled.is_match(&event("Field", &longer)));
    }

    #[test]
    fn wide_base64offset_finds_utf16_powershell(prefix in "[a-z ]{0,6}", value in "[a-zA-Z -]{3,10}") {
        let compiled = compile("Field|wide|base64offset|contains", std::slice::from_ref(&value));
        let wide: Vec<u8> = format!("{prefix}{value}").encode_utf16().flat_map(u16::to_le_bytes).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(wide);
        prop_assert!(compiled.is_match(&event("Field", &encoded)));
    }

    #[test]
    fn utf16_encodings_match_their_bytes(value in "[a-zA-Z]{1,8}") {
        for (encoding, bytes) in [
            (Utf16::LittleEndian, value.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()),
            (Utf16::BigEndian, value.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<u8>>()),
        ] {
            let pieces = apply_position(encode_utf16(&parse_wildcards(&value), encoding), Position::Contains);
            let matcher = StringMatcher::compile(&pieces, false).unwrap();
            let mut haystack = b"xx".to_vec();
            haystack.extend_from_slice(&bytes);
            prop_assert!(matcher.is_match(&haystack));
        }
    }

    #[test]
    fn cidr_matches_like_a_bit_mask(network in any::<u32>(), prefix in 0u8..=32, address in any::<u32>()) {
        let base = Ipv4Addr::from(network);
        let compiled = compile("Ip|cidr", &[format!("{base}/{prefix}")]);
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        let expected = (address & mask) == (network & mask);
        prop_assert_eq!(compiled.is_match(&event("Ip", &Ipv4Addr::from(address).to_string())), expected);
    }

    #[test]
    fn numeric_comparisons_match_like_the_operators(bound in -1000i64..1000, actual in -1000i64..1000) {
        for (modifier, expected) in [("lt", actual < bound), ("lte", actual <= bound), ("gt", actual > bound), ("gte", actual >= bound)] {
            let compiled = compile(&format!("Count|{modifier}"), &[bound.to_string()]);
            let mut numeric = Event::new(LogKind::Json, Arc::new(Origin { path: "p".into() }), 1);
            numeric.push("Count", FieldValue::Int(actual));
            prop_assert_eq!(compiled.is_match(&numeric), expected, "{}", modifier);
            prop_assert_eq!(compiled.is_match(&event("Count", &actual.to_string())), expected, "{} as text", modifier);
        }
    }

    #[test]
    fn regex_with_flags_matches_like_the_regex_crate(haystack in text()) {
        let compiled = compile("Field|re|i", &["^a.?b".to_owned()]);
        let expected = regex::RegexBuilder::new("^a.?b").case_insensitive(true).build().unwrap().is_match(&haystack);
        prop_assert_eq!(compiled.is_match(&event("Field", &haystack)), expected);
        let cased = compile("Field|re", &["^a.?b".to_owned()]);
        prop_assert_eq!(cased.is_match(&event("Field", &haystack)), regex::Regex::new("^a.?b").unwrap().is_match(&haystack));
    }

    #[test]
    fn fieldref_compares_two_fields(left in text(), right in text()) {
        let compiled = compile("A|fieldref", &["B".to_owned()]);
        let mut pair = event("A", &left);
        pair.push("B", FieldValue::text(&right));
        prop_assert_eq!(compiled.is_match(&pair), left.to_lowercase() == right.to_lowercase());
    }
}

#[test]
fn exists_and_null_follow_the_specification() {
    let yaml = |text: &str| -> serde_yaml::Mapping { serde_yaml::from_str(text).unwrap() };
    let exists = compile_detection(&yaml("sel: {A|exists: true}\ncondition: sel"), &SameNames).unwrap();
    let absent = compile_detection(&yaml("sel: {A|exists: false}\ncondition: sel"), &SameNames).unwrap();
    let null = compile_detection(&yaml("sel: {A: null}\ncondition: sel"), &SameNames).unwrap();
    let with_a = event("A", "x");
    let with_empty_a = event("A", "");
    let without_a = event("B", "x");
    assert!(exists.is_match(&with_a) && !exists.is_match(&without_a));
    assert!(!absent.is_match(&with_a) && absent.is_match(&without_a));
    assert!(null.is_match(&without_a) && null.is_match(&with_empty_a) && !null.is_match(&with_a));
}

#[test]
fn keywords_and_condition_grammar() {
    let yaml: serde_yaml::Mapping = serde_yaml::from_str(
        "keywords: ['mimikatz', 'sekurlsa']\nsel_a: {A: x}\nsel_b: {B|startswith: y}\nfilter: {C: z}\ncondition: (keywords or all of sel_*) and not filter",
    )
    .unwrap();
    let detection = compile_detection(&yaml, &SameNames).unwrap();
    let mut both = event("A", "X");
    both.push("B", FieldValue::text("Yes"));
    assert!(detection.is_match(&both));
    assert!(detection.is_match(&event("Other", "run MIMIKATZ now")));
    both.push("C", FieldValue::text("z"));
    assert!(!detection.is_match(&both));
    assert!(!detection.is_match(&event("A", "x")));
}
