//! The event model every reader produces and every matcher consumes: a flat list of named
//! values, with a lowercase copy of each string kept beside it so that Sigma's default
//! case-insensitive matching never lowercases the same field twice.

use std::path::Path;
use std::sync::Arc;

/// Which reader produced an event. Rules are indexed by it (a CloudTrail rule never runs on an
/// EVTX record), so it is part of the event rather than guessed again by each matcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    /// A Windows event log record.
    Evtx,
    /// One element of an AWS CloudTrail `Records` array.
    CloudTrail,
    /// A Kubernetes `audit.k8s.io` event.
    KubernetesAudit,
    /// Any other JSON object.
    Json,
    /// A syslog line (RFC 3164, RFC 5424, Linux auth.log).
    Syslog,
    /// A row of a CSV file with a header line.
    Csv,
}

impl LogKind {
    /// The stable lowercase name used in mapping files and output.
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Evtx => "evtx",
            LogKind::CloudTrail => "cloudtrail",
            LogKind::KubernetesAudit => "kubernetes-audit",
            LogKind::Json => "json",
            LogKind::Syslog => "syslog",
            LogKind::Csv => "csv",
        }
    }

    /// The inverse of [`LogKind::name`].
    pub fn from_name(name: &str) -> Option<LogKind> {
        [
            LogKind::Evtx,
            LogKind::CloudTrail,
            LogKind::KubernetesAudit,
            LogKind::Json,
            LogKind::Syslog,
            LogKind::Csv,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// A scalar value of a field. Lists in the source become several fields with the same name.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// The original text and its lowercase form (shared when the text has no uppercase).
    Str(Text),
}

/// A string with its lowercase form computed once.
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    original: Box<str>,
    lowercase: Option<Box<str>>,
}

impl Text {
    pub fn new(original: &str) -> Text {
        let needs_lowercase = original.bytes().any(|byte| byte.is_ascii_uppercase() || byte >= 0x80);
        let lowercase = if needs_lowercase {
            let lower = original.to_lowercase();
            (lower != original).then(|| lower.into_boxed_str())
        } else {
            None
        };
        Text {
            original: original.into(),
            lowercase,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.original
    }

    pub fn lowercase(&self) -> &str {
        self.lowercase.as_deref().unwrap_or(&self.original)
    }
}

impl FieldValue {
    pub fn text(value: &str) -> FieldValue {
        FieldValue::Str(Text::new(value))
    }

    /// The value as Sigma compares it: numbers and booleans by their decimal/`true` spelling.
    pub fn render(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            FieldValue::Null => Cow::Borrowed(""),
            FieldValue::Bool(value) => Cow::Borrowed(if *value { "true" } else { "false" }),
            FieldValue::Int(value) => Cow::Owned(value.to_string()),
            FieldValue::Float(value) => Cow::Owned(value.to_string()),
            FieldValue::Str(text) => Cow::Borrowed(text.as_str()),
        }
    }

    /// The lowercase rendering, borrowed for strings.
    pub fn render_lowercase(&self) -> std::borrow::Cow<'_, str> {
        match self {
            FieldValue::Str(text) => std::borrow::Cow::Borrowed(text.lowercase()),
            other => other.render(),
        }
    }

    /// The value as a number, when it is one or is a string that spells one (decimal or `0x` hex).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Int(value) => Some(*value as f64),
            FieldValue::Float(value) => Some(*value),
            FieldValue::Str(text) => parse_number(text.as_str()),
            FieldValue::Null | FieldValue::Bool(_) => None,
        }
    }
}

/// Parses decimal or `0x`-prefixed hexadecimal numbers, as Windows logs spell both.
pub fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok().map(|value| value as f64);
    }
    text.parse::<f64>().ok().filter(|value| value.is_finite())
}

/// Where an event came from, shared by all events of one file.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The file path as given or found while walking a directory.
    pub path: Box<str>,
}

impl Origin {
    pub fn new(path: &Path) -> Arc<Origin> {
        Arc::new(Origin {
            path: path.display().to_string().into(),
        })
    }
}

/// One log record, flattened.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: LogKind,
    pub origin: Arc<Origin>,
    /// The record id (EVTX `EventRecordID`) or the line / element number for text formats.
    pub record_id: u64,
    /// When the event happened, in milliseconds since the Unix epoch (UTC), when known.
    pub timestamp_ms: Option<i64>,
    fields: Vec<(Box<str>, FieldValue)>,
}

impl Event {
    pub fn new(kind: LogKind, origin: Arc<Origin>, record_id: u64) -> Event {
        Event {
            kind,
            origin,
            record_id,
            timestamp_ms: None,
            fields: Vec::with_capacity(32),
        }
    }

    pub fn push(&mut self, name: &str, value: FieldValue) {
        self.fields.push((name.into(), value));
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &FieldValue)> {
        self.fields.iter().map(|(name, value)| (&**name, value))
    }

    /// All values of a field. Names compare exactly first; when nothing matches exactly they
    /// compare ASCII-case-insensitively, since log producers disagree on capitalisation.
    pub fn values<'event, 'name>(&'event self, name: &'name str) -> FieldValues<'event, 'name> {
        let exact = self.fields.iter().any(|(field, _)| &**field == name);
        FieldValues {
            fields: &self.fields,
            name,
            exact,
            position: 0,
        }
    }

    /// The first value of a field.
    pub fn first(&self, name: &str) -> Option<&FieldValue> {
        self.values(name).next()
    }

    /// The first value of a field rendered as text, or an empty string.
    pub fn text(&self, name: &str) -> String {
        self.first(name)
            .map(|value| value.render().into_owned())
            .unwrap_or_default()
    }

    /// The host that produced the event, from the field each log kind uses for it.
    pub fn host(&self) -> String {
        let field = match self.kind {
            LogKind::Evtx => "Computer",
            LogKind::CloudTrail => "recipientAccountId",
            LogKind::KubernetesAudit => "sourceIPs",
            LogKind::Syslog => "host",
            LogKind::Json | LogKind::Csv => "host",
        };
        self.text(field)
    }
}

/// Iterator over the values of one field name.
pub struct FieldValues<'event, 'name> {
    fields: &'event [(Box<str>, FieldValue)],
    name: &'name str,
    exact: bool,
    position: usize,
}

impl<'event> Iterator for FieldValues<'event, '_> {
    type Item = &'event FieldValue;

    fn next(&mut self) -> Option<&'event FieldValue> {
        while let Some((field, value)) = self.fields.get(self.position) {
            self.position += 1;
            let same = if self.exact {
                &**field == self.name
            } else {
                field.eq_ignore_ascii_case(self.name)
            };
            if same {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_prefers_exact_case_then_falls_back() {
        let mut event = Event::new(LogKind::Json, Origin::new(Path::new("x")), 1);
        event.push("Image", FieldValue::text("C:\\A.exe"));
        event.push("image", FieldValue::text("other"));
        event.push("CommandLine", FieldValue::text("a"));
        assert_eq!(event.values("Image").count(), 1);
        assert_eq!(event.values("commandline").count(), 1);
        assert_eq!(
            event
                .first("Image")
                .map(|v| v.render_lowercase().into_owned())
                .as_deref(),
            Some("c:\\a.exe")
        );
    }

    #[test]
    fn numbers_parse_in_decimal_and_hex() {
        assert_eq!(parse_number("0x10"), Some(16.0));
        assert_eq!(parse_number(" 42 "), Some(42.0));
        assert_eq!(parse_number("abc"), None);
    }
}
