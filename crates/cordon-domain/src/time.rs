//! Points in time as the domain sees them: milliseconds since the Unix epoch, always UTC.
//!
//! The domain never reads a clock. Callers pass the current time in, which keeps every
//! decision reproducible in tests and makes the journal's fold a pure function.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A UTC instant with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Parses an RFC 3339 date-time such as `2026-11-28T01:02:03Z` or `...+02:00`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, InvalidTimestamp> {
        let parsed = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| InvalidTimestamp { text: text.to_owned() })?;
        let millis = parsed.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(millis)
            .map(Timestamp)
            .map_err(|_| InvalidTimestamp { text: text.to_owned() })
    }

    /// Parses a date such as `2033-01-31` (the start of that day in UTC), as date fields
    /// and people write them, or an RFC 3339 time.
    pub fn parse_date_or_rfc3339(text: &str) -> Result<Self, InvalidTimestamp> {
        let text = text.trim();
        let is_date = text.len() == 10 && text.bytes().enumerate().all(|(i, b)| matches!(i, 4 | 7) == (b == b'-'));
        if is_date {
            Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z"))
        } else {
            Timestamp::parse_rfc3339(text)
        }
    }

    /// Formats as RFC 3339 in UTC with millisecond precision, e.g. `2026-11-28T01:02:03.000Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(at) => {
                let (year, month, day) = (at.year(), u8::from(at.month()), at.day());
                format!(
                    "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                    at.hour(),
                    at.minute(),
                    at.second(),
                    at.millisecond()
                )
            }
            // Out of the representable range: fall back to the raw number rather than fail.
            Err(_) => format!("@{}ms", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {text:?}: expected RFC 3339, e.g. 2026-11-28T01:02:03Z")]
pub struct InvalidTimestamp {
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let at = Timestamp::parse_rfc3339("2026-11-28T01:02:03.456+01:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-28T00:02:03.456Z");
        assert_eq!(Timestamp::parse_rfc3339(&at.to_rfc3339()).unwrap(), at);
    }

    #[test]
    fn a_date_is_the_start_of_that_day_in_utc() {
        let day = Timestamp::parse_date_or_rfc3339(" 2033-01-31 ").unwrap();
        assert_eq!(day.to_rfc3339(), "2033-01-31T00:00:00.000Z");
        let time = Timestamp::parse_date_or_rfc3339("2033-01-31T12:00:00Z").unwrap();
        assert_eq!(time.to_rfc3339(), "2033-01-31T12:00:00.000Z");
        assert!(Timestamp::parse_date_or_rfc3339("2033-13-31").is_err());
        assert!(Timestamp::parse_date_or_rfc3339("31/01/2033").is_err());
    }

    #[test]
    fn rejects_garbage_with_the_text() {
        let err = Timestamp::parse_rfc3339("yesterday").unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""));
    }
}
