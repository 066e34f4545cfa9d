//! The chain of custody: every collection, transfer, access, verification, hand-over and share of
//! an evidence item, each with who, when, from where and why.
//!
//! This crate only defines the records; the caller appends them to the incident's journal,
//! whose hash chain makes them tamper-evident, and hands them to the exporter.

use cordon_domain::{IncidentId, Person, Timestamp};
use serde::{Deserialize, Serialize};

use crate::digest::Sha256Digest;

/// One entry in an item's chain of custody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustodyEntry {
    pub incident: IncidentId,
    /// The evidence object the entry is about.
    pub item: Sha256Digest,
    /// When it happened.
    #[serde(with = "crate::serde_time")]
    pub at: Timestamp,
    /// Who did it.
    pub actor: Actor,
    /// From where: a host, an address, a site, e.g. `203.0.113.7` or `cordon server`.
    pub location: String,
    /// Why, in the actor's words.
    pub reason: String,
    /// What happened.
    pub event: CustodyEvent,
}

/// Who acted on evidence: a Cordon account, or the holder of a share link (who has no account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Actor {
    Member(Person),
    /// The outside recipient a share link was issued to, as named when it was created.
    LinkHolder {
        recipient: String,
    },
}

/// What happened to an item. Serialized with a `kind` tag in kebab-case, e.g.
/// `{"kind": "handed-over", ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CustodyEvent {
    /// Taken from its source and stored in Cordon.
    Collected { source: String },
    /// Physical or logical custody moved from one custodian to another, e.g. a disk handed from
    /// the on-site responder to the evidence officer.
    Transferred { from: String, to: String },
    /// Downloaded or opened. `verified` says whether the content re-hashed to its address on the
    /// way out; a download that saw a mismatch is recorded with `Mismatch` and raised as an alarm.
    Accessed { verified: VerificationOutcome },
    /// Re-hashed for an audit.
    Verified { outcome: VerificationOutcome },
    /// Given to a third party outside Cordon, e.g. a forensics firm or law enforcement.
    HandedOver { recipient: String, organization: String },
    /// A share link was issued. `grant` is the SHA-256 of the token, never the token itself.
    SharedLinkCreated {
        grant: Sha256Digest,
        recipient: String,
        #[serde(with = "crate::serde_time")]
        expires_at: Timestamp,
        single_use: bool,
    },
    /// A share link was used to download the item.
    SharedLinkUsed {
        grant: Sha256Digest,
        verified: VerificationOutcome,
    },
}

/// The result of re-hashing stored content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum VerificationOutcome {
    Intact,
    Mismatch {
        actual: Sha256Digest,
    },
    /// The reader stopped before the end of the content, so nothing could be checked.
    Incomplete,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::sha256_of;

    #[test]
    fn custody_entries_serialize_with_readable_tags_and_times() {
        let entry = CustodyEntry {
            incident: IncidentId::new("inc-1"),
            item: sha256_of(b"disk"),
            at: Timestamp::parse_rfc3339("2026-11-28T01:02:03Z").unwrap(),
            actor: Actor::Member(Person::new("alice").unwrap()),
            location: "203.0.113.7".to_owned(),
            reason: "hand to outside forensics".to_owned(),
            event: CustodyEvent::HandedOver {
                recipient: "Dana Analyst".to_owned(),
                organization: "Example Forensics".to_owned(),
            },
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["at"], "2026-11-28T01:02:03.000Z");
        assert_eq!(json["actor"]["member"], "alice");
        assert_eq!(json["event"]["kind"], "handed-over");
        let back: CustodyEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }

    #[test]
    fn every_event_kind_round_trips() {
        let grant = sha256_of(b"token");
        let at = Timestamp::from_unix_millis(0);
        let events = [
            CustodyEvent::Collected {
                source: "host db-3, /dev/xvda1".to_owned(),
            },
            CustodyEvent::Transferred {
                from: "alice".to_owned(),
                to: "evidence safe 2".to_owned(),
            },
            CustodyEvent::Accessed {
                verified: VerificationOutcome::Intact,
            },
            CustodyEvent::Verified {
                outcome: VerificationOutcome::Mismatch {
                    actual: sha256_of(b"x"),
                },
            },
            CustodyEvent::HandedOver {
                recipient: "r".to_owned(),
                organization: "o".to_owned(),
            },
            CustodyEvent::SharedLinkCreated {
                grant,
                recipient: "r".to_owned(),
                expires_at: at,
                single_use: true,
            },
            CustodyEvent::SharedLinkUsed {
                grant,
                verified: VerificationOutcome::Incomplete,
            },
        ];
        let kinds: Vec<String> = events
            .iter()
            .map(|event| {
                let json = serde_json::to_value(event).unwrap();
                assert_eq!(&serde_json::from_value::<CustodyEvent>(json.clone()).unwrap(), event);
                json["kind"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "collected",
                "transferred",
                "accessed",
                "verified",
                "handed-over",
                "shared-link-created",
                "shared-link-used"
            ]
        );
    }
}
