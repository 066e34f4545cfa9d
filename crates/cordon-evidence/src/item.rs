//! What Cordon records about one piece of evidence: whose incident it belongs to, its digests,
//! where it came from, who collected it and when, its TLP marking and its retention state.

use std::fmt;
use std::str::FromStr;

use cordon_domain::{IncidentId, Person, Timestamp};
use serde::{Deserialize, Serialize};

use crate::digest::{Digests, Md5Digest, Sha1Digest, Sha256Digest};
use crate::error::EvidenceError;

/// One evidence item of an incident. The content lives in the store under `sha256`; this record
/// is what the caller keeps (in the journal) and what an export bundle's manifest lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub incident: IncidentId,
    pub sha256: Sha256Digest,
    pub sha1: Sha1Digest,
    pub md5: Md5Digest,
    /// Length of the content in bytes.
    pub size: u64,
    /// The file name as uploaded, for people; never used as a path.
    pub original_name: String,
    /// Where the evidence was taken from, e.g. `host db-3, /dev/xvda1`.
    pub source: String,
    pub collected_by: Person,
    #[serde(with = "crate::serde_time")]
    pub collected_at: Timestamp,
    #[serde(with = "crate::serde_time")]
    pub stored_at: Timestamp,
    pub tlp: Tlp,
    #[serde(default)]
    pub retention: RetentionState,
}

impl EvidenceItem {
    /// The digests this item records.
    pub fn digests(&self) -> Digests {
        Digests {
            sha256: self.sha256,
            sha1: self.sha1,
            md5: self.md5,
            size: self.size,
        }
    }

    /// Checks digests computed from the stored content against this record: a different
    /// SHA-256 is [`EvidenceError::HashMismatch`], a different SHA-1, MD5 or size is
    /// [`EvidenceError::RecordMismatch`].
    pub fn check_digests(&self, actual: &Digests) -> Result<(), EvidenceError> {
        if actual.sha256 != self.sha256 {
            return Err(EvidenceError::HashMismatch {
                expected: self.sha256,
                actual: actual.sha256,
            });
        }
        let fields = [
            ("sha1", self.sha1.to_hex(), actual.sha1.to_hex()),
            ("md5", self.md5.to_hex(), actual.md5.to_hex()),
            ("size", self.size.to_string(), actual.size.to_string()),
        ];
        for (field, recorded, found) in fields {
            if recorded != found {
                return Err(EvidenceError::RecordMismatch {
                    sha256: self.sha256,
                    field,
                    recorded,
                    actual: found,
                });
            }
        }
        Ok(())
    }
}

/// A Traffic Light Protocol 2.0 marking. Serialized exactly as TLP 2.0 writes it
/// (`TLP:AMBER+STRICT`). The order runs from the most to the least restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tlp {
    /// For the eyes and ears of individual recipients only, no further disclosure.
    #[serde(rename = "TLP:RED")]
    Red,
    /// Limited disclosure, recipients can only spread this within their organization.
    #[serde(rename = "TLP:AMBER+STRICT")]
    AmberStrict,
    /// Limited disclosure, within the recipient's organization and its clients.
    #[serde(rename = "TLP:AMBER")]
    Amber,
    /// Limited disclosure, within the recipient's community.
    #[serde(rename = "TLP:GREEN")]
    Green,
    /// Disclosure is not limited.
    #[serde(rename = "TLP:CLEAR")]
    Clear,
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [Tlp::Red, Tlp::AmberStrict, Tlp::Amber, Tlp::Green, Tlp::Clear];

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Red => "TLP:RED",
            Tlp::AmberStrict => "TLP:AMBER+STRICT",
            Tlp::Amber => "TLP:AMBER",
            Tlp::Green => "TLP:GREEN",
            Tlp::Clear => "TLP:CLEAR",
        }
    }

    /// Whether an item with this marking may be handed to someone who is not a member of the
    /// incident, such as an outside forensics firm through a share link. TLP:RED never may.
    /// The other markings may; the share grant records the recipient and purpose so the
    /// recipient's obligations under the marking are on the record.
    pub fn may_share_outside_members(self) -> bool {
        !matches!(self, Tlp::Red)
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = EvidenceError;

    /// Accepts the TLP 2.0 spelling in any case, with or without the `TLP:` prefix
    /// (`TLP:AMBER+STRICT`, `amber+strict`). TLP 1.0's `WHITE` is read as `CLEAR`, which
    /// replaced it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let upper = text.trim().to_ascii_uppercase();
        let word = upper.strip_prefix("TLP:").unwrap_or(&upper);
        match word {
            "RED" => Ok(Tlp::Red),
            "AMBER+STRICT" => Ok(Tlp::AmberStrict),
            "AMBER" => Ok(Tlp::Amber),
            "GREEN" => Ok(Tlp::Green),
            "CLEAR" | "WHITE" => Ok(Tlp::Clear),
            _ => Err(EvidenceError::InvalidTlp {
                text: text.chars().take(40).collect(),
            }),
        }
    }
}

/// How long evidence must be kept, as an export bundle's manifest records it. Cordon never
/// deletes evidence: the incident's journal holds the retention periods and legal holds, and
/// this is their effect at export time. A legal hold outranks any retention period.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RetentionState {
    /// Kept under the installation's standard retention policy.
    #[default]
    Standard,
    /// Kept at least until the given time, e.g. for a regulator's retention period.
    RetainUntil {
        #[serde(with = "crate::serde_time")]
        until: Timestamp,
        reason: String,
    },
    /// Kept until the hold is released, whatever any retention period says.
    LegalHold {
        placed_by: Person,
        #[serde(with = "crate::serde_time")]
        since: Timestamp,
        /// The matter or order, e.g. a case number.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlp_serializes_as_tlp_2_0_writes_it_and_parses_leniently() {
        for tlp in Tlp::ALL {
            let json = serde_json::to_string(&tlp).unwrap();
            assert_eq!(json, format!("\"{tlp}\""));
            assert_eq!(serde_json::from_str::<Tlp>(&json).unwrap(), tlp);
            assert_eq!(tlp.as_str().parse::<Tlp>().unwrap(), tlp);
        }
        assert_eq!("amber+strict".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert_eq!("TLP:WHITE".parse::<Tlp>().unwrap(), Tlp::Clear);
        assert!("TLP:PURPLE".parse::<Tlp>().is_err());
    }

    #[test]
    fn only_red_stays_inside_the_incident() {
        let shareable: Vec<Tlp> = Tlp::ALL
            .into_iter()
            .filter(|tlp| tlp.may_share_outside_members())
            .collect();
        assert_eq!(shareable, vec![Tlp::AmberStrict, Tlp::Amber, Tlp::Green, Tlp::Clear]);
    }

    #[test]
    fn an_item_round_trips_through_json_with_every_retention_state() {
        let digests = Digests::of(b"disk");
        let at = Timestamp::parse_rfc3339("2026-11-28T01:02:03.456Z").unwrap();
        let mut item = EvidenceItem {
            incident: IncidentId::new("inc-1"),
            sha256: digests.sha256,
            sha1: digests.sha1,
            md5: digests.md5,
            size: digests.size,
            original_name: "xvda1.img".to_owned(),
            source: "host db-3, /dev/xvda1".to_owned(),
            collected_by: Person::new("alice").unwrap(),
            collected_at: at,
            stored_at: at,
            tlp: Tlp::AmberStrict,
            retention: RetentionState::Standard,
        };
        for retention in [
            RetentionState::Standard,
            RetentionState::RetainUntil {
                until: at,
                reason: "regulator".to_owned(),
            },
            RetentionState::LegalHold {
                placed_by: Person::new("counsel").unwrap(),
                since: at,
                reason: "case 42".to_owned(),
            },
        ] {
            item.retention = retention;
            let json = serde_json::to_string(&item).unwrap();
            assert_eq!(serde_json::from_str::<EvidenceItem>(&json).unwrap(), item);
        }
        assert_eq!(item.digests(), digests);
        item.check_digests(&digests).unwrap();
    }
}
