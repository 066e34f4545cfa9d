//! Timestamps: parsing the spellings logs use into milliseconds since the Unix epoch (UTC), and
//! rendering them back as RFC 3339.

/// Parses RFC 3339 (with or without offset; no offset means UTC), `YYYY-MM-DD HH:MM:SS[.f]`, and
/// epoch seconds or milliseconds.
pub fn parse_timestamp_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_millisecond());
    }
    if let Ok(civil) = text.parse::<jiff::civil::DateTime>() {
        return civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|zoned| zoned.timestamp().as_millisecond());
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) && (9..=13).contains(&text.len()) {
        let number: i64 = text.parse().ok()?;
        return Some(if text.len() >= 12 { number } else { number * 1000 });
    }
    None
}

/// Renders milliseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn format_timestamp_ms(milliseconds: i64) -> String {
    match jiff::Timestamp::from_millisecond(milliseconds) {
        Ok(timestamp) => format!("{timestamp:.3}"),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_spellings() {
        assert_eq!(parse_timestamp_ms("2023-07-10T12:00:00Z"), Some(1_688_990_400_000));
        assert_eq!(parse_timestamp_ms("2023-07-10T14:00:00+02:00"), Some(1_688_990_400_000));
        assert_eq!(parse_timestamp_ms("2023-07-10 12:00:00.5"), Some(1_688_990_400_500));
        assert_eq!(parse_timestamp_ms("1688990400"), Some(1_688_990_400_000));
        assert_eq!(parse_timestamp_ms("yesterday"), None);
        assert_eq!(format_timestamp_ms(1_688_990_400_500), "2023-07-10T12:00:00.500Z");
    }
}
