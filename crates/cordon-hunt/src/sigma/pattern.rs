//! Sigma values and modifiers, compiled into [`ValueMatcher`]s.
//!
//! A string value is first split into literal bytes and wildcards (`*`, `?`, with `\` escaping
//! them), then the transformation modifiers (`windash`, `utf16*`/`wide`, `base64`,
//! `base64offset`) rewrite the literals, then the position modifiers (`contains`, `startswith`,
//! `endswith`) add wildcards, and finally the piece list is compiled into the cheapest matcher
//! that does the job: exact compare, prefix, suffix, substring search (`memchr::memmem`) or, for
//! wildcards in the middle, a byte regex. Case-insensitive matchers hold lowercase literals and
//! read each field's lowercase copy, which the event computed once.

use std::net::IpAddr;

use base64::Engine as _;
use memchr::memmem;

use crate::event::FieldValue;

/// One piece of a Sigma string value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(Vec<u8>),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyOne,
}

/// Splits a Sigma string into literals and wildcards. `\*`, `\?` and `\\` are escapes; a
/// backslash before any other character is itself a literal backslash, as the specification
/// says, so Windows paths need no doubling.
pub fn parse_wildcards(value: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = Vec::new();
    let mut chars = value.chars().peekable();
    let flush = |literal: &mut Vec<u8>, pieces: &mut Vec<Piece>| {
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(literal)));
        }
    };
    while let Some(character) = chars.next() {
        match character {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    let mut buffer = [0u8; 4];
                    literal.extend_from_slice(next.encode_utf8(&mut buffer).as_bytes());
                }
                _ => literal.push(b'\\'),
            },
            '*' => {
                flush(&mut literal, &mut pieces);
                if pieces.last() != Some(&Piece::AnyRun) {
                    pieces.push(Piece::AnyRun);
                }
            }
            '?' => {
                flush(&mut literal, &mut pieces);
                pieces.push(Piece::AnyOne);
            }
            other => {
                let mut buffer = [0u8; 4];
                literal.extend_from_slice(other.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    flush(&mut literal, &mut pieces);
    pieces
}

/// Where a value must sit in the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    Whole,
    Contains,
    StartsWith,
    EndsWith,
}

/// Wraps a piece list in wildcards for a position modifier.
pub fn apply_position(mut pieces: Vec<Piece>, position: Position) -> Vec<Piece> {
    let leading = matches!(position, Position::Contains | Position::EndsWith);
    let trailing = matches!(position, Position::Contains | Position::StartsWith);
    if leading && pieces.first() != Some(&Piece::AnyRun) {
        pieces.insert(0, Piece::AnyRun);
    }
    if trailing && pieces.last() != Some(&Piece::AnyRun) {
        pieces.push(Piece::AnyRun);
    }
    pieces
}

/// The characters `windash` substitutes for a leading `-` or `/` of a command line switch.
pub const WINDASH_CHARACTERS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// `windash`: every variant where each switch dash (a `-` or `/` at the start of a word) is
/// replaced by the same one of [`WINDASH_CHARACTERS`].
pub fn windash(pieces: &[Piece]) -> Vec<Vec<Piece>> {
    let mut variants = Vec::new();
    for replacement in WINDASH_CHARACTERS {
        let mut previous_is_word = false;
        let variant = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Literal(bytes) => {
                    let text = String::from_utf8_lossy(bytes);
                    let characters: Vec<char> = text.chars().collect();
                    let mut out = String::with_capacity(text.len());
                    for (index, character) in characters.iter().enumerate() {
                        let next_is_word = characters
                            .get(index + 1)
                            .is_some_and(|next| next.is_alphanumeric() || *next == '_');
                        if (*character == '-' || *character == '/') && !previous_is_word && next_is_word {
                            out.push(replacement);
                        } else {
                            out.push(*character);
                        }
                        previous_is_word = character.is_alphanumeric() || *character == '_';
                    }
                    Piece::Literal(out.into_bytes())
                }
                other => {
                    previous_is_word = false;
                    other.clone()
                }
            })
            .collect::<Vec<_>>();
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    variants
}

/// The UTF-16 encodings of the `utf16le`, `utf16be`, `utf16` (with byte order mark) and `wide`
/// (little endian) modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Utf16 {
    LittleEndian,
    BigEndian,
    WithBom,
}

pub fn encode_utf16(pieces: &[Piece], encoding: Utf16) -> Vec<Piece> {
    let mut out: Vec<Piece> = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Literal(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                let mut encoded = Vec::with_capacity(bytes.len() * 2);
                for unit in text.encode_utf16() {
                    let pair = if encoding == Utf16::BigEndian {
                        unit.to_be_bytes()
                    } else {
                        unit.to_le_bytes()
                    };
                    encoded.extend_from_slice(&pair);
                }
                Piece::Literal(encoded)
            }
            other => other.clone(),
        })
        .collect();
    if encoding == Utf16::WithBom {
        match out.first_mut() {
            Some(Piece::Literal(bytes)) => bytes.splice(0..0, [0xff, 0xfe]).for_each(drop),
            _ => out.insert(0, Piece::Literal(vec![0xff, 0xfe])),
        }
    }
    out
}

/// Joins a piece list that must hold only literals (what `base64` needs) into bytes.
fn only_literal(pieces: &[Piece]) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Literal(literal) => bytes.extend_from_slice(literal),
            Piece::AnyRun | Piece::AnyOne => return None,
        }
    }
    Some(bytes)
}

/// `base64`: the standard encoding of the whole value. Wildcards cannot be encoded.
pub fn base64_whole(pieces: &[Piece]) -> Option<Vec<Piece>> {
    let bytes = only_literal(pieces)?;
    Some(vec![Piece::Literal(
        base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes(),
    )])
}

/// `base64offset`: the three encodings of the value at byte offsets 0, 1 and 2 of a longer
/// encoded text, with the characters that depend on neighbouring bytes cut off.
pub fn base64_offsets(pieces: &[Piece]) -> Option<Vec<Vec<Piece>>> {
    let bytes = only_literal(pieces)?;
    const START_CUT: [usize; 3] = [0, 2, 3];
    let mut variants = Vec::new();
    for (shift, start_cut) in START_CUT.into_iter().enumerate() {
        let mut shifted = vec![b' '; shift];
        shifted.extend_from_slice(&bytes);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&shifted).into_bytes();
        let end_cut = match (bytes.len() + shift) % 3 {
            0 => 0,
            1 => 3,
            _ => 2,
        };
        let end = encoded.len().saturating_sub(end_cut);
        let start = start_cut.min(end);
        variants.push(vec![Piece::Literal(encoded[start..end].to_vec())]);
    }
    Some(variants)
}

/// Lowercases literal bytes the way field values are lowercased (Unicode when the bytes are
/// UTF-8, ASCII otherwise).
pub fn lowercase_bytes(bytes: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_lowercase().into_bytes(),
        Err(_) => bytes.to_ascii_lowercase(),
    }
}

/// A compiled string matcher over one field value's bytes.
#[derive(Clone, Debug)]
pub enum StringMatcher {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    Contains(Box<memmem::Finder<'static>>),
    /// `*` alone: any value at all.
    Any,
    Regex(regex::bytes::Regex),
}

impl StringMatcher {
    /// Compiles a piece list. `lowercase` lowers the literals for case-insensitive matching.
    pub fn compile(pieces: &[Piece], lowercase: bool) -> Result<StringMatcher, String> {
        let pieces: Vec<Piece> = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Literal(bytes) if lowercase => Piece::Literal(lowercase_bytes(bytes)),
                other => other.clone(),
            })
            .collect();
        Ok(match pieces.as_slice() {
            [] => StringMatcher::Exact(Vec::new()),
            [Piece::Literal(literal)] => StringMatcher::Exact(literal.clone()),
            [Piece::AnyRun] => StringMatcher::Any,
            [Piece::Literal(literal), Piece::AnyRun] => StringMatcher::Prefix(literal.clone()),
            [Piece::AnyRun, Piece::Literal(literal)] => StringMatcher::Suffix(literal.clone()),
            [Piece::AnyRun, Piece::Literal(literal), Piece::AnyRun] => {
                StringMatcher::Contains(Box::new(memmem::Finder::new(literal).into_owned()))
            }
            _ => StringMatcher::Regex(glob_regex(&pieces)?),
        })
    }

    pub fn is_match(&self, haystack: &[u8]) -> bool {
        match self {
            StringMatcher::Exact(literal) => haystack == literal.as_slice(),
            StringMatcher::Prefix(literal) => haystack.starts_with(literal),
            StringMatcher::Suffix(literal) => haystack.ends_with(literal),
            StringMatcher::Contains(finder) => finder.find(haystack).is_some(),
            StringMatcher::Any => true,
            StringMatcher::Regex(regex) => regex.is_match(haystack),
        }
    }

    /// The literal a matching value must contain, for prefilters.
    pub fn required_literal(&self) -> Option<&[u8]> {
        match self {
            StringMatcher::Exact(literal) | StringMatcher::Prefix(literal) | StringMatcher::Suffix(literal) => {
                Some(literal)
            }
            StringMatcher::Contains(finder) => Some(finder.needle()),
            StringMatcher::Any | StringMatcher::Regex(_) => None,
        }
    }
}

fn glob_regex(pieces: &[Piece]) -> Result<regex::bytes::Regex, String> {
    let mut pattern = String::from("(?s-u)^");
    for piece in pieces {
        match piece {
            Piece::Literal(bytes) => {
                for byte in bytes {
                    if byte.is_ascii_alphanumeric() {
                        pattern.push(*byte as char);
                    } else {
                        pattern.push_str(&format!("\\x{byte:02x}"));
                    }
                }
            }
            Piece::AnyRun => pattern.push_str(".*"),
            Piece::AnyOne => pattern.push_str("(?u:.)"),
        }
    }
    pattern.push('$');
    regex::bytes::RegexBuilder::new(&pattern)
        .size_limit(1 << 22)
        .build()
        .map_err(|err| format!("wildcard pattern too complex: {err}"))
}

/// Numeric comparison operators of `lt`, `lte`, `gt`, `gte`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// A compiled test of one field value.
#[derive(Clone, Debug)]
pub enum ValueMatcher {
    /// A string test; `cased` picks the original text instead of the lowercase copy.
    /// `integer` lets a whole-value integer match compare integers without rendering them.
    String {
        matcher: StringMatcher,
        cased: bool,
        integer: Option<i64>,
    },
    /// `re`: evaluated on the original text (flags are part of the regex).
    Regex(regex::Regex),
    Cidr(ipnet::IpNet),
    Compare(Comparison, f64),
    /// A boolean value (`true`/`false`), matching booleans and their spelling.
    Bool(bool),
}

impl ValueMatcher {
    pub fn is_match(&self, value: &FieldValue) -> bool {
        match self {
            ValueMatcher::String {
                matcher,
                cased,
                integer,
            } => {
                if let (Some(expected), FieldValue::Int(actual)) = (integer, value) {
                    return expected == actual;
                }
                match value {
                    FieldValue::Str(text) => {
                        let haystack = if *cased { text.as_str() } else { text.lowercase() };
                        matcher.is_match(haystack.as_bytes())
                    }
                    FieldValue::Null => false,
                    other => matcher.is_match(other.render_lowercase().as_bytes()),
                }
            }
            ValueMatcher::Regex(regex) => match value {
                FieldValue::Str(text) => regex.is_match(text.as_str()),
                FieldValue::Null => false,
                other => regex.is_match(&other.render()),
            },
            ValueMatcher::Cidr(network) => {
                let rendered = value.render();
                rendered
                    .trim()
                    .trim_start_matches("::ffff:")
                    .parse::<IpAddr>()
                    .is_ok_and(|address| network.contains(&address))
            }
            ValueMatcher::Compare(comparison, bound) => value.as_f64().is_some_and(|actual| match comparison {
                Comparison::Less => actual < *bound,
                Comparison::LessOrEqual => actual <= *bound,
                Comparison::Greater => actual > *bound,
                Comparison::GreaterOrEqual => actual >= *bound,
            }),
            ValueMatcher::Bool(expected) => match value {
                FieldValue::Bool(actual) => actual == expected,
                FieldValue::Str(text) => text.lowercase() == if *expected { "true" } else { "false" },
                _ => false,
            },
        }
    }
}

/// The naive reference the property tests compare compiled matchers against: a direct
/// recursive interpretation of the piece list over characters.
pub fn reference_match(pieces: &[Piece], haystack: &str, case_insensitive: bool) -> bool {
    fn text_of(pieces: &[Piece], lower: bool) -> Vec<Token> {
        let mut tokens = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Literal(bytes) => {
                    let text = String::from_utf8_lossy(bytes);
                    let text = if lower { text.to_lowercase() } else { text.into_owned() };
                    tokens.extend(text.chars().map(Token::Char));
                }
                Piece::AnyRun => tokens.push(Token::Run),
                Piece::AnyOne => tokens.push(Token::One),
            }
        }
        tokens
    }
    #[derive(Clone, Copy)]
    enum Token {
        Char(char),
        Run,
        One,
    }
    fn go(tokens: &[Token], text: &[char]) -> bool {
        match tokens.first() {
            None => text.is_empty(),
            Some(Token::Char(expected)) => text.first() == Some(expected) && go(&tokens[1..], &text[1..]),
            Some(Token::One) => !text.is_empty() && go(&tokens[1..], &text[1..]),
            Some(Token::Run) => (0..=text.len()).any(|skip| go(&tokens[1..], &text[skip..])),
        }
    }
    let tokens = text_of(pieces, case_insensitive);
    let haystack = if case_insensitive {
        haystack.to_lowercase()
    } else {
        haystack.to_owned()
    };
    let characters: Vec<char> = haystack.chars().collect();
    go(&tokens, &characters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(text: &str) -> Piece {
        Piece::Literal(text.as_bytes().to_vec())
    }

    #[test]
    fn escapes_follow_the_specification() {
        assert_eq!(
            parse_wildcards(r"C:\Windows\\*.exe"),
            vec![literal(r"C:\Windows\"), Piece::AnyRun, literal(".exe")]
        );
        assert_eq!(parse_wildcards(r"C:\Windows\*.exe"), vec![literal(r"C:\Windows*.exe")]);
        assert_eq!(parse_wildcards(r"C:\Users\"), vec![literal(r"C:\Users\")]);
        assert_eq!(parse_wildcards(r"a\*b"), vec![literal("a*b")]);
        assert_eq!(parse_wildcards(r"a\\*"), vec![literal(r"a\"), Piece::AnyRun]);
        assert_eq!(parse_wildcards(r"what\?"), vec![literal("what?")]);
        assert_eq!(parse_wildcards("a?c"), vec![literal("a"), Piece::AnyOne, literal("c")]);
    }

    #[test]
    fn base64offset_matches_known_encodings() {
        let variants = base64_offsets(&[literal("/c ping")]).unwrap();
        let texts: Vec<String> = variants
            .iter()
            .map(|variant| match &variant[0] {
                Piece::Literal(bytes) => String::from_utf8(bytes.clone()).unwrap(),
                _ => unreachable!(),
            })
            .collect();
        // Each variant must occur in the encoding of the value at that offset in a longer text.
        for (shift, text) in texts.iter().enumerate() {
            let mut data = b"xyz".to_vec();
            data.truncate(shift);
            data.extend_from_slice(b"/c ping -n 1");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
            assert!(encoded.contains(text.as_str()), "{shift}: {text} not in {encoded}");
        }
    }

    #[test]
    fn windash_replaces_switch_dashes_only() {
        let variants = windash(&[literal("net user -add a-b")]);
        assert_eq!(variants.len(), 5);
        assert!(variants.contains(&vec![literal("net user /add a-b")]));
        assert!(variants.contains(&vec![literal("net user \u{2013}add a-b")]));
    }

    #[test]
    fn matchers_pick_fast_paths() {
        let compiled =
            StringMatcher::compile(&apply_position(vec![literal("Mimikatz")], Position::Contains), true).unwrap();
        assert!(matches!(compiled, StringMatcher::Contains(_)));
        assert!(compiled.is_match(b"run mimikatz now"));
        let glob = StringMatcher::compile(&parse_wildcards("a*b?d"), true).unwrap();
        assert!(glob.is_match(b"axxbcd"));
        assert!(!glob.is_match(b"axxbd"));
    }
}
