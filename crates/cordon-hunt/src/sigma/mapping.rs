//! The log source mapping: which logs a Sigma `logsource` means and how its field names are
//! spelled there. It is data (`data/logsources.toml`, embedded in the binary), not code, so that
//! supporting a new source is a reviewed edit to a table that tests read too.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::compile::FieldRenamer;
use crate::event::LogKind;

/// The mapping shipped with Cordon.
pub const BUILTIN_LOGSOURCES: &str = include_str!("../../data/logsources.toml");

/// A Sigma rule's `logsource` block (only the keys that select logs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Logsource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl std::fmt::Display for Logsource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.as_ref().map(|value| format!("{key}={value}")))
        .collect();
        write!(formatter, "{}", parts.join(","))
    }
}

/// One concrete source a logsource resolves to.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: LogKind,
    /// Lowercase EVTX channels; empty means any channel.
    pub channels: Vec<String>,
    /// Event IDs; empty means any.
    pub event_ids: Vec<i64>,
    pub renames: BTreeMap<String, String>,
    /// Field equalities (case-insensitive) the event must also satisfy.
    pub conditions: Vec<(String, String)>,
}

impl FieldRenamer for Target {
    fn rename<'name>(&'name self, field: &'name str) -> &'name str {
        self.renames.get(field).map(String::as_str).unwrap_or(field)
    }
}

/// A loaded mapping.
#[derive(Clone, Debug)]
pub struct Mapping {
    entries: Vec<(Vec<Logsource>, Vec<Target>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("invalid log source mapping: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("log source mapping names unknown log kind `{0}`")]
    UnknownKind(String),
}

#[derive(Deserialize)]
struct MappingFile {
    logsource: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    #[serde(rename = "match")]
    matches: Vec<Logsource>,
    source: Vec<SourceFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    kind: String,
    #[serde(default)]
    channels: Vec<String>,
    #[serde(default)]
    event_ids: Vec<i64>,
    #[serde(default)]
    fields: BTreeMap<String, String>,
    #[serde(default)]
    conditions: BTreeMap<String, String>,
}

impl Mapping {
    /// The mapping shipped with Cordon.
    pub fn builtin() -> Result<Mapping, MappingError> {
        Mapping::parse(BUILTIN_LOGSOURCES)
    }

    pub fn parse(text: &str) -> Result<Mapping, MappingError> {
        let file: MappingFile = toml::from_str(text)?;
        let mut entries = Vec::new();
        for entry in file.logsource {
            let mut targets = Vec::new();
            for source in entry.source {
                let kind =
                    LogKind::from_name(&source.kind).ok_or_else(|| MappingError::UnknownKind(source.kind.clone()))?;
                targets.push(Target {
                    kind,
                    channels: source.channels.iter().map(|channel| channel.to_lowercase()).collect(),
                    event_ids: source.event_ids,
                    renames: source.fields,
                    conditions: source
                        .conditions
                        .into_iter()
                        .map(|(field, value)| (field, value.to_lowercase()))
                        .collect(),
                });
            }
            entries.push((entry.matches, targets));
        }
        Ok(Mapping { entries })
    }

    /// The sources a rule's logsource means, or `None` when the mapping does not know it.
    pub fn resolve(&self, logsource: &Logsource) -> Option<&[Target]> {
        let normalise = |value: &Option<String>| value.as_ref().map(|text| text.to_lowercase());
        let wanted = Logsource {
            product: normalise(&logsource.product),
            category: normalise(&logsource.category),
            service: normalise(&logsource.service),
        };
        self.entries
            .iter()
            .find(|(matches, _)| matches.contains(&wanted))
            .map(|(_, targets)| targets.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logsource(product: &str, category: Option<&str>, service: Option<&str>) -> Logsource {
        Logsource {
            product: Some(product.to_owned()),
            category: category.map(str::to_owned),
            service: service.map(str::to_owned),
        }
    }

    #[test]
    fn builtin_mapping_parses_and_resolves_common_sources() {
        let mapping = Mapping::builtin().unwrap();
        let process = mapping
            .resolve(&logsource("windows", Some("process_creation"), None))
            .unwrap();
        assert_eq!(process.len(), 2);
        assert_eq!(process[0].channels, vec!["microsoft-windows-sysmon/operational"]);
        assert_eq!(process[0].event_ids, vec![1]);
        assert_eq!(process[1].rename("Image"), "NewProcessName");
        let security = mapping.resolve(&logsource("windows", None, Some("security"))).unwrap();
        assert_eq!(security[0].channels, vec!["security"]);
        let cloudtrail = mapping.resolve(&logsource("aws", None, Some("cloudtrail"))).unwrap();
        assert_eq!(cloudtrail[0].kind, LogKind::CloudTrail);
        let kubernetes = mapping
            .resolve(&logsource("kubernetes", Some("application"), Some("audit")))
            .unwrap();
        assert_eq!(kubernetes[0].kind, LogKind::KubernetesAudit);
        let sshd = mapping.resolve(&logsource("linux", None, Some("sshd"))).unwrap();
        assert_eq!(sshd[0].conditions, vec![("program".to_owned(), "sshd".to_owned())]);
        assert!(
            mapping
                .resolve(&logsource("macos", Some("process_creation"), None))
                .is_none()
        );
    }

    #[test]
    fn every_sysmon_category_has_event_ids() {
        let mapping = Mapping::builtin().unwrap();
        for (matches, targets) in &mapping.entries {
            for target in targets {
                if target.channels == ["microsoft-windows-sysmon/operational"] && matches[0].category.is_some() {
                    assert!(!target.event_ids.is_empty(), "{:?}", matches[0]);
                }
            }
        }
    }
}
