//! Times in evidence records serialize as RFC 3339 text (`2026-11-28T01:02:03.000Z`), not as
//! epoch milliseconds: a manifest is read by people, in court, long after the fact.

use cordon_domain::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339())
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
    let text = String::deserialize(deserializer)?;
    Timestamp::parse_rfc3339(&text).map_err(serde::de::Error::custom)
}
