//! Indicator sweeps: typed indicators (addresses, networks, domains, URLs, hashes, e-mail
//! addresses, user names, AWS access key ids, user agents, regular expressions) searched in every
//! field of every event.
//!
//! All literal indicators go into one Aho-Corasick automaton (ASCII case-insensitive), so a
//! field is scanned once however many indicators there are; each raw hit is then checked
//! against its type's boundary rule (an address must not be part of a longer address, a domain
//! matches itself and its subdomains, a user name must be the whole field). Networks are tested
//! only on fields that parse as an address, and regular expressions run as one `RegexSet`.

use std::collections::BTreeSet;
use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::event::{Event, FieldValue};
use crate::hunt::{Detection, DetectionKind};

/// The kinds of indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndicatorType {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
    User,
    AwsAccessKey,
    UserAgent,
    Regex,
}

impl IndicatorType {
    pub const ALL: [IndicatorType; 13] = [
        IndicatorType::Ipv4,
        IndicatorType::Ipv6,
        IndicatorType::Cidr,
        IndicatorType::Domain,
        IndicatorType::Url,
        IndicatorType::Md5,
        IndicatorType::Sha1,
        IndicatorType::Sha256,
        IndicatorType::Email,
        IndicatorType::User,
        IndicatorType::AwsAccessKey,
        IndicatorType::UserAgent,
        IndicatorType::Regex,
    ];

    /// The name used in indicator files.
    pub fn name(self) -> &'static str {
        match self {
            IndicatorType::Ipv4 => "ipv4",
            IndicatorType::Ipv6 => "ipv6",
            IndicatorType::Cidr => "cidr",
            IndicatorType::Domain => "domain",
            IndicatorType::Url => "url",
            IndicatorType::Md5 => "md5",
            IndicatorType::Sha1 => "sha1",
            IndicatorType::Sha256 => "sha256",
            IndicatorType::Email => "email",
            IndicatorType::User => "user",
            IndicatorType::AwsAccessKey => "aws-access-key",
            IndicatorType::UserAgent => "user-agent",
            IndicatorType::Regex => "regex",
        }
    }

    pub fn from_name(name: &str) -> Option<IndicatorType> {
        let name = name.trim().to_ascii_lowercase();
        let alias = match name.as_str() {
            "ip" | "ipv4-addr" => "ipv4",
            "ipv6-addr" => "ipv6",
            "domain-name" | "hostname" | "fqdn" => "domain",
            "sha-1" => "sha1",
            "sha-256" => "sha256",
            "email-addr" | "e-mail" => "email",
            "username" | "user-account" => "user",
            "aws-key" | "aws-access-key-id" | "access-key" => "aws-access-key",
            "useragent" | "ua" => "user-agent",
            "re" | "regexp" => "regex",
            other => other,
        };
        IndicatorType::ALL.into_iter().find(|kind| kind.name() == alias)
    }

    /// Guesses the type of an untyped indicator line.
    pub fn guess(value: &str) -> Option<IndicatorType> {
        let is_hex = |text: &str| text.bytes().all(|byte| byte.is_ascii_hexdigit());
        if value.parse::<std::net::Ipv4Addr>().is_ok() {
            return Some(IndicatorType::Ipv4);
        }
        if value.parse::<std::net::Ipv6Addr>().is_ok() {
            return Some(IndicatorType::Ipv6);
        }
        if value.parse::<ipnet::IpNet>().is_ok() {
            return Some(IndicatorType::Cidr);
        }
        if value.contains("://") {
            return Some(IndicatorType::Url);
        }
        if is_hex(value) {
            return match value.len() {
                32 => Some(IndicatorType::Md5),
                40 => Some(IndicatorType::Sha1),
                64 => Some(IndicatorType::Sha256),
                _ => None,
            };
        }
        if (value.starts_with("AKIA") || value.starts_with("ASIA")) && value.len() == 20 {
            return Some(IndicatorType::AwsAccessKey);
        }
        if value.contains('@') && !value.contains(' ') {
            return Some(IndicatorType::Email);
        }
        if value.contains('.') && !value.contains(' ') && !value.contains('/') {
            return Some(IndicatorType::Domain);
        }
        None
    }
}

/// One indicator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indicator {
    pub kind: IndicatorType,
    pub value: String,
    /// Where it came from (file and line, or STIX id).
    pub origin: String,
}

/// An indicator that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {reason}")]
pub struct IndicatorError {
    pub origin: String,
    pub reason: String,
}

/// Reads an indicator file: one indicator a line as `type:value` (also `type<TAB>value` or
/// `type,value`), or a bare value whose type is guessed; `#` starts a comment. A STIX 2.1
/// bundle (a JSON object with `"type": "bundle"`) is recognised by content.
pub fn parse_indicator_file(name: &str, text: &str) -> (Vec<Indicator>, Vec<IndicatorError>) {
    if text.trim_start().starts_with('{') {
        return parse_stix_bundle(name, text);
    }
    let mut indicators = Vec::new();
    let mut errors = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let origin = format!("{name}:{}", number + 1);
        let typed = line
            .find([':', '\t', ','])
            .and_then(|split| IndicatorType::from_name(&line[..split]).map(|kind| (kind, line[split + 1..].trim())));
        let (kind, value) = match typed {
            Some((kind, value)) => (kind, value),
            None => match IndicatorType::guess(line) {
                Some(kind) => (kind, line),
                None => {
                    errors.push(IndicatorError {
                        origin,
                        reason: format!("cannot tell the type of `{line}`; write it as type:value"),
                    });
                    continue;
                }
            },
        };
        match validate(kind, value) {
            Ok(()) => indicators.push(Indicator {
                kind,
                value: value.to_owned(),
                origin,
            }),
            Err(reason) => errors.push(IndicatorError { origin, reason }),
        }
    }
    (indicators, errors)
}

fn validate(kind: IndicatorType, value: &str) -> Result<(), String> {
    let bad = |what: &str| Err(format!("`{value}` is not a valid {what}"));
    match kind {
        IndicatorType::Ipv4 if value.parse::<std::net::Ipv4Addr>().is_err() => bad("IPv4 address"),
        IndicatorType::Ipv6 if value.parse::<std::net::Ipv6Addr>().is_err() => bad("IPv6 address"),
        IndicatorType::Cidr if value.parse::<ipnet::IpNet>().is_err() => bad("network"),
        IndicatorType::Md5 if value.len() != 32 || !value.bytes().all(|byte| byte.is_ascii_hexdigit()) => bad("MD5"),
        IndicatorType::Sha1 if value.len() != 40 || !value.bytes().all(|byte| byte.is_ascii_hexdigit()) => bad("SHA-1"),
        IndicatorType::Sha256 if value.len() != 64 || !value.bytes().all(|byte| byte.is_ascii_hexdigit()) => {
            bad("SHA-256")
        }
        IndicatorType::Regex => regex::Regex::new(value)
            .map(drop)
            .map_err(|err| format!("invalid regex: {err}")),
        _ if value.is_empty() => Err("empty indicator".to_owned()),
        _ => Ok(()),
    }
}

/// Reads the indicators of a STIX 2.1 bundle from their patterns. Comparisons Cordon cannot
/// sweep for (other object paths, other operators) are reported.
pub fn parse_stix_bundle(name: &str, text: &str) -> (Vec<Indicator>, Vec<IndicatorError>) {
    let mut indicators = Vec::new();
    let mut errors = Vec::new();
    let bundle: Value = match serde_json::from_str(text) {
        Ok(bundle) => bundle,
        Err(err) => {
            errors.push(IndicatorError {
                origin: name.to_owned(),
                reason: format!("invalid json: {err}"),
            });
            return (indicators, errors);
        }
    };
    let objects = bundle
        .get("objects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let comparison =
        regex::Regex::new(r"([a-z0-9-]+):([A-Za-z0-9_.'\-]+)\s*(=|MATCHES|LIKE)\s*'((?:[^'\\]|\\.)*)'").ok();
    for object in &objects {
        if object.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let id = object.get("id").and_then(Value::as_str).unwrap_or(name);
        if object
            .get("pattern_type")
            .and_then(Value::as_str)
            .is_some_and(|pattern_type| pattern_type != "stix")
        {
            errors.push(IndicatorError {
                origin: id.to_owned(),
                reason: "only STIX patterns are supported".to_owned(),
            });
            continue;
        }
        let Some(pattern) = object.get("pattern").and_then(Value::as_str) else {
            continue;
        };
        let Some(comparison) = &comparison else { continue };
        let mut found = false;
        for capture in comparison.captures_iter(pattern) {
            let object_type = &capture[1];
            let path = capture[2].replace('\'', "");
            let operator = &capture[3];
            let value = capture[4].replace("\\'", "'").replace("\\\\", "\\");
            let kind = match (object_type, path.as_str(), operator) {
                (_, _, "MATCHES") => Some(IndicatorType::Regex),
                ("ipv4-addr", "value", _) if value.contains('/') => Some(IndicatorType::Cidr),
                ("ipv4-addr", "value", _) => Some(IndicatorType::Ipv4),
                ("ipv6-addr", "value", _) if value.contains('/') => Some(IndicatorType::Cidr),
                ("ipv6-addr", "value", _) => Some(IndicatorType::Ipv6),
                ("domain-name", "value", _) => Some(IndicatorType::Domain),
                ("url", "value", _) => Some(IndicatorType::Url),
                ("email-addr", "value", _) => Some(IndicatorType::Email),
                ("file", "hashes.MD5", _) => Some(IndicatorType::Md5),
                ("file", "hashes.SHA-1", _) => Some(IndicatorType::Sha1),
                ("file", "hashes.SHA-256", _) => Some(IndicatorType::Sha256),
                ("user-account", "user_id" | "account_login", _) => Some(IndicatorType::User),
                ("network-traffic", _, _) | ("http-request-ext", _, _) if path.ends_with("User-Agent") => {
                    Some(IndicatorType::UserAgent)
                }
                _ => None,
            };
            match kind {
                Some(kind) if operator != "LIKE" => match validate(kind, &value) {
                    Ok(()) => {
                        found = true;
                        indicators.push(Indicator {
                            kind,
                            value,
                            origin: id.to_owned(),
                        });
                    }
                    Err(reason) => errors.push(IndicatorError {
                        origin: id.to_owned(),
                        reason,
                    }),
                },
                _ => errors.push(IndicatorError {
                    origin: id.to_owned(),
                    reason: format!("unsupported comparison `{object_type}:{path} {operator}`"),
                }),
            }
        }
        if !found && !errors.iter().any(|error| error.origin == id) {
            errors.push(IndicatorError {
                origin: id.to_owned(),
                reason: "pattern has no comparison Cordon can sweep for".to_owned(),
            });
        }
    }
    (indicators, errors)
}

/// Indicators compiled for sweeping.
#[derive(Debug, Default)]
pub struct IndicatorSet {
    indicators: Vec<Indicator>,
    literals: Option<AhoCorasick>,
    /// For each automaton pattern, the indicator it stands for.
    literal_owner: Vec<usize>,
    networks: Vec<(ipnet::IpNet, usize)>,
    regexes: Option<(regex::RegexSet, Vec<usize>)>,
}

/// Per-indicator sightings, merged across worker threads.
#[derive(Debug, Default)]
pub struct IndicatorStats {
    sightings: FxHashMap<usize, Sighting>,
}

#[derive(Debug, Default)]
struct Sighting {
    count: u64,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    hosts: BTreeSet<String>,
    sources: BTreeSet<String>,
}

/// How many hosts and sources a summary keeps per indicator.
const SUMMARY_LIST_LIMIT: usize = 100;

/// The sightings of one indicator over a whole hunt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndicatorSummary {
    pub kind: IndicatorType,
    pub value: String,
    pub count: u64,
    pub first_seen_ms: Option<i64>,
    pub last_seen_ms: Option<i64>,
    pub hosts: Vec<String>,
    pub sources: Vec<String>,
}

impl IndicatorStats {
    pub fn merge(mut self, other: IndicatorStats) -> IndicatorStats {
        for (indicator, sighting) in other.sightings {
            let mine = self.sightings.entry(indicator).or_default();
            mine.count += sighting.count;
            mine.first_ms = min_option(mine.first_ms, sighting.first_ms);
            mine.last_ms = max_option(mine.last_ms, sighting.last_ms);
            for host in sighting.hosts {
                if mine.hosts.len() < SUMMARY_LIST_LIMIT {
                    mine.hosts.insert(host);
                }
            }
            for source in sighting.sources {
                if mine.sources.len() < SUMMARY_LIST_LIMIT {
                    mine.sources.insert(source);
                }
            }
        }
        self
    }

    fn record(&mut self, indicator: usize, event: &Event, host: &str) {
        let sighting = self.sightings.entry(indicator).or_default();
        sighting.count += 1;
        sighting.first_ms = min_option(sighting.first_ms, event.timestamp_ms);
        sighting.last_ms = max_option(sighting.last_ms, event.timestamp_ms);
        if !host.is_empty() && sighting.hosts.len() < SUMMARY_LIST_LIMIT {
            sighting.hosts.insert(host.to_owned());
        }
        if sighting.sources.len() < SUMMARY_LIST_LIMIT && !sighting.sources.contains(&*event.origin.path) {
            sighting.sources.insert(event.origin.path.to_string());
        }
    }

    /// Summaries of every indicator that was seen, in indicator order.
    pub fn summaries(&self, set: &IndicatorSet) -> Vec<IndicatorSummary> {
        let mut seen: Vec<(&usize, &Sighting)> = self.sightings.iter().collect();
        seen.sort_by_key(|(indicator, _)| **indicator);
        seen.into_iter()
            .filter_map(|(indicator, sighting)| {
                let definition = set.indicators.get(*indicator)?;
                Some(IndicatorSummary {
                    kind: definition.kind,
                    value: definition.value.clone(),
                    count: sighting.count,
                    first_seen_ms: sighting.first_ms,
                    last_seen_ms: sighting.last_ms,
                    hosts: sighting.hosts.iter().cloned().collect(),
                    sources: sighting.sources.iter().cloned().collect(),
                })
            })
            .collect()
    }
}

fn min_option(left: Option<i64>, right: Option<i64>) -> Option<i64> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.min(right)),
        (left, right) => left.or(right),
    }
}

fn max_option(left: Option<i64>, right: Option<i64>) -> Option<i64> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.max(right)),
        (left, right) => left.or(right),
    }
}

impl IndicatorSet {
    pub fn new(indicators: Vec<Indicator>) -> Result<IndicatorSet, IndicatorError> {
        let mut literal_patterns = Vec::new();
        let mut literal_owner = Vec::new();
        let mut networks = Vec::new();
        let mut regex_patterns = Vec::new();
        let mut regex_owner = Vec::new();
        for (index, indicator) in indicators.iter().enumerate() {
            match indicator.kind {
                IndicatorType::Cidr => {
                    let network = indicator.value.parse::<ipnet::IpNet>().map_err(|err| IndicatorError {
                        origin: indicator.origin.clone(),
                        reason: err.to_string(),
                    })?;
                    networks.push((network, index));
                }
                IndicatorType::Regex => {
                    regex_patterns.push(indicator.value.clone());
                    regex_owner.push(index);
                }
                _ => {
                    literal_patterns.push(indicator.value.to_ascii_lowercase());
                    literal_owner.push(index);
                }
            }
        }
        let literals = if literal_patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    // A full DFA scans at memory speed; with many indicators the NFA the
                    // builder would otherwise pick is several times slower. Its size is
                    // bounded by the indicator text (byte classes keep rows short).
                    .kind(Some(AhoCorasickKind::DFA))
                    .byte_classes(true)
                    // With thousands of patterns nearly every byte starts one, so a prefilter
                    // only adds restarts.
                    .prefilter(true)
                    .build(&literal_patterns)
                    .map_err(|err| IndicatorError {
                        origin: "indicators".to_owned(),
                        reason: err.to_string(),
                    })?,
            )
        };
        let regexes = if regex_patterns.is_empty() {
            None
        } else {
            let set = regex::RegexSet::new(&regex_patterns).map_err(|err| IndicatorError {
                origin: "indicators".to_owned(),
                reason: err.to_string(),
            })?;
            Some((set, regex_owner))
        };
        Ok(IndicatorSet {
            indicators,
            literals,
            literal_owner,
            networks,
            regexes,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    /// Whether [`IndicatorSet::raw_may_match`] can decide on undecoded JSON: no regular
    /// expressions, only IPv4 networks, and no literal containing characters JSON escapes.
    pub fn raw_prefilter_usable(&self) -> bool {
        self.regexes.is_none()
            && self
                .networks
                .iter()
                .all(|(network, _)| matches!(network, ipnet::IpNet::V4(_)))
            && self
                .indicators
                .iter()
                .all(|indicator| !indicator.value.chars().any(|c| c == '"' || c == '\\' || c.is_control()))
    }

    /// Whether a record's undecoded JSON text may hold an indicator. False only when certain:
    /// text with `\u` or `\/` escapes (which decode to other characters) always may. Networks
    /// are checked against every IPv4-shaped run of digits and dots in the text, a superset of
    /// the fields that parse as addresses.
    pub fn raw_may_match(&self, raw_json: &[u8]) -> bool {
        if memchr::memmem::find(raw_json, b"\\u").is_some() || memchr::memmem::find(raw_json, b"\\/").is_some() {
            return true;
        }
        if let Some(automaton) = &self.literals
            && automaton.is_match(raw_json)
        {
            return true;
        }
        !self.networks.is_empty() && self.raw_network_hit(raw_json)
    }

    fn raw_network_hit(&self, raw_json: &[u8]) -> bool {
        let mut position = 0;
        while position < raw_json.len() {
            let Some(offset) = raw_json[position..].iter().position(u8::is_ascii_digit) else {
                return false;
            };
            let start = position + offset;
            let length = raw_json[start..]
                .iter()
                .take_while(|byte| byte.is_ascii_digit() || **byte == b'.')
                .count();
            let run = &raw_json[start..start + length];
            if (7..=15).contains(&length)
                && let Ok(address) = std::str::from_utf8(run)
                    .unwrap_or_default()
                    .parse::<std::net::Ipv4Addr>()
                && self
                    .networks
                    .iter()
                    .any(|(network, _)| network.contains(&IpAddr::V4(address)))
            {
                return true;
            }
            position = start + length.max(1);
        }
        false
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn new_stats(&self) -> IndicatorStats {
        IndicatorStats::default()
    }

    /// Searches every field of an event; returns one detection per indicator found.
    pub fn sweep(&self, event: &Event, stats: &mut IndicatorStats) -> Vec<Detection> {
        let mut found: Vec<(usize, String, String)> = Vec::new();
        for (field, value) in event.fields() {
            let FieldValue::Str(text) = value else { continue };
            let haystack = text.as_str();
            if let Some(automaton) = &self.literals {
                for hit in automaton.find_overlapping_iter(haystack) {
                    let Some(&indicator) = self.literal_owner.get(hit.pattern().as_usize()) else {
                        continue;
                    };
                    let Some(definition) = self.indicators.get(indicator) else {
                        continue;
                    };
                    if boundary_holds(definition.kind, haystack, hit.start(), hit.end()) {
                        found.push((indicator, field.to_owned(), haystack.to_owned()));
                    }
                }
            }
            if !self.networks.is_empty()
                && haystack.len() <= 45
                && let Ok(address) = haystack.trim().parse::<IpAddr>()
            {
                for (network, indicator) in &self.networks {
                    if network.contains(&address) {
                        found.push((*indicator, field.to_owned(), haystack.to_owned()));
                    }
                }
            }
            if let Some((set, owners)) = &self.regexes {
                for matched in set.matches(haystack).iter() {
                    if let Some(indicator) = owners.get(matched) {
                        found.push((*indicator, field.to_owned(), haystack.to_owned()));
                    }
                }
            }
        }
        if found.is_empty() {
            return Vec::new();
        }
        found.sort_by_key(|(indicator, _, _)| *indicator);
        let host = event.host();
        let mut detections: Vec<Detection> = Vec::new();
        let mut previous = None;
        for (indicator, field, value) in found {
            if previous == Some(indicator) {
                if let Some(last) = detections.last_mut()
                    && !last.fields.iter().any(|(name, _)| *name == field)
                {
                    last.fields.push((field, value));
                }
                continue;
            }
            previous = Some(indicator);
            let Some(definition) = self.indicators.get(indicator) else {
                continue;
            };
            stats.record(indicator, event, &host);
            detections.push(Detection {
                kind: DetectionKind::Indicator,
                timestamp_ms: event.timestamp_ms,
                name: definition.value.clone(),
                rule_id: format!("indicator:{}", definition.kind.name()),
                level: "high".to_owned(),
                tags: Vec::new(),
                host: host.clone(),
                source: event.origin.path.to_string(),
                record_id: event.record_id,
                fields: vec![(field, value)],
            });
        }
        detections
    }
}

/// Whether a literal hit at `start..end` stands on its own as an indicator of its type.
fn boundary_holds(kind: IndicatorType, haystack: &str, start: usize, end: usize) -> bool {
    let bytes = haystack.as_bytes();
    let before = start.checked_sub(1).and_then(|index| bytes.get(index)).copied();
    let after = bytes.get(end).copied();
    let word = |byte: Option<u8>| byte.is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    match kind {
        IndicatorType::Ipv4 => {
            let address_byte = |byte: Option<u8>| byte.is_some_and(|byte| byte.is_ascii_digit() || byte == b'.');
            // A trailing dot ends a sentence; a dot followed by a digit continues the address.
            let continues = match after {
                Some(b'.') => bytes.get(end + 1).is_some_and(u8::is_ascii_digit),
                Some(byte) => byte.is_ascii_digit(),
                None => false,
            };
            !address_byte(before) && !continues
        }
        IndicatorType::Ipv6 => {
            let address_byte = |byte: Option<u8>| byte.is_some_and(|byte| byte.is_ascii_hexdigit() || byte == b':');
            !address_byte(before) && !address_byte(after)
        }
        IndicatorType::Domain => {
            let label_byte = |byte: Option<u8>| {
                byte.is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            };
            let continues = after == Some(b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_alphanumeric);
            !label_byte(before) && !label_byte(after) && !continues
        }
        IndicatorType::Md5 | IndicatorType::Sha1 | IndicatorType::Sha256 => {
            let hex = |byte: Option<u8>| byte.is_some_and(|byte| byte.is_ascii_hexdigit());
            !hex(before) && !hex(after)
        }
        IndicatorType::Email | IndicatorType::AwsAccessKey => {
            let part =
                |byte: Option<u8>| word(byte) || byte.is_some_and(|byte| byte == b'.' || byte == b'-' || byte == b'@');
            !part(before) && !word(after)
        }
        IndicatorType::User => start == 0 && end == bytes.len(),
        IndicatorType::Url | IndicatorType::UserAgent => true,
        IndicatorType::Cidr | IndicatorType::Regex => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{LogKind, Origin};
    use std::sync::Arc;

    fn event(fields: &[(&str, &str)]) -> Event {
        let mut event = Event::new(LogKind::Json, Arc::new(Origin { path: "f".into() }), 1);
        for (name, value) in fields {
            event.push(name, FieldValue::text(value));
        }
        event
    }

    #[test]
    fn parses_typed_and_untyped_lines() {
        let (indicators, errors) = parse_indicator_file(
            "iocs.txt",
            "# c\nipv4:10.0.0.1\ndomain\tevil.com\n10.1.0.0/16\nd41d8cd98f00b204e9800998ecf8427e\nuser:alice\nnonsense value\nmd5:xyz\n",
        );
        let kinds: Vec<IndicatorType> = indicators.iter().map(|indicator| indicator.kind).collect();
        assert_eq!(
            kinds,
            vec![
                IndicatorType::Ipv4,
                IndicatorType::Domain,
                IndicatorType::Cidr,
                IndicatorType::Md5,
                IndicatorType::User
            ]
        );
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn boundaries_keep_false_hits_out() {
        let (indicators, _) = parse_indicator_file(
            "i",
            "ipv4:10.0.0.1\ndomain:evil.com\nuser:root\ncidr:192.168.0.0/16\nregex:^curl/7\\.\n",
        );
        let set = IndicatorSet::new(indicators).unwrap();
        let mut stats = IndicatorStats::default();
        let hits = |fields: &[(&str, &str)], stats: &mut IndicatorStats| set.sweep(&event(fields), stats).len();
        assert_eq!(hits(&[("ip", "10.0.0.1")], &mut stats), 1);
        assert_eq!(hits(&[("ip", "10.0.0.12")], &mut stats), 0);
        assert_eq!(hits(&[("ip", "110.0.0.1")], &mut stats), 0);
        assert_eq!(hits(&[("host", "a.EVIL.com")], &mut stats), 1);
        assert_eq!(hits(&[("host", "notevil.com")], &mut stats), 0);
        assert_eq!(hits(&[("host", "evil.com.au")], &mut stats), 0);
        assert_eq!(hits(&[("user", "root")], &mut stats), 1);
        assert_eq!(hits(&[("user", "rootkit")], &mut stats), 0);
        assert_eq!(hits(&[("src", "192.168.4.4")], &mut stats), 1);
        assert_eq!(hits(&[("ua", "curl/7.1")], &mut stats), 1);
        let summaries = stats.summaries(&set);
        assert_eq!(summaries.iter().map(|summary| summary.count).sum::<u64>(), 5);
    }

    #[test]
    fn raw_prefilter_is_a_superset_of_the_sweep() {
        let (indicators, _) = parse_indicator_file("i", "domain:evil.com\ncidr:10.1.0.0/16\n");
        let set = IndicatorSet::new(indicators).unwrap();
        assert!(set.raw_prefilter_usable());
        assert!(set.raw_may_match(br#"{"host":"A.EVIL.COM"}"#));
        assert!(set.raw_may_match(br#"{"ip":"10.1.2.3","t":"2024-01-01"}"#));
        assert!(
            set.raw_may_match(br#"{"url":"http:\/\/x"}"#),
            "escapes decode to other text"
        );
        assert!(!set.raw_may_match(br#"{"ip":"10.2.2.3","n":12345678,"v":"1.2.3.4.5"}"#));
        let (regex, _) = parse_indicator_file("i", "regex:^a\n");
        assert!(!IndicatorSet::new(regex).unwrap().raw_prefilter_usable());
    }

    #[test]
    fn stix_bundle_patterns_become_indicators() {
        let bundle = r#"{"type":"bundle","id":"bundle--1","objects":[
            {"type":"indicator","id":"indicator--1","pattern_type":"stix","pattern":"[ipv4-addr:value = '198.51.100.1' OR domain-name:value = 'bad.example']"},
            {"type":"indicator","id":"indicator--2","pattern_type":"stix","pattern":"[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']"},
            {"type":"indicator","id":"indicator--3","pattern_type":"stix","pattern":"[process:pid = '4']"}]}"#;
        let (indicators, errors) = parse_indicator_file("b.json", bundle);
        assert_eq!(indicators.len(), 3);
        assert_eq!(indicators[2].kind, IndicatorType::Sha256);
        assert_eq!(errors.len(), 1);
    }
}
