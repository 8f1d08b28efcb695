//! Time as microseconds since the Unix epoch (UTC), and its text forms.

use jiff::Timestamp;

/// Microseconds since 1970-01-01T00:00:00Z. Event times, windows and timers all
/// use this one unit so comparisons are integer comparisons.
pub type Micros = i64;

pub const SECOND: Micros = 1_000_000;
pub const MINUTE: Micros = 60 * SECOND;
pub const HOUR: Micros = 60 * MINUTE;
pub const DAY: Micros = 24 * HOUR;

/// Parses an ISO 8601 / RFC 3339 time. A time without an offset is taken as UTC,
/// as Segment's libraries do.
pub fn parse_time(text: &str) -> Option<Micros> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts.as_microsecond());
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return jiff::tz::TimeZone::UTC.to_timestamp(dt).ok().map(|t| t.as_microsecond());
    }
    None
}

/// Formats as RFC 3339 in UTC with the precision the value needs.
pub fn format_time(micros: Micros) -> String {
    match Timestamp::from_microsecond(micros) {
        Ok(ts) => ts.to_string(),
        Err(_) => micros.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        let z = parse_time("2026-01-01T10:00:00Z").unwrap();
        assert_eq!(parse_time("2026-01-01T11:00:00+01:00"), Some(z));
        assert_eq!(parse_time("2026-01-01T10:00:00"), Some(z));
        assert_eq!(parse_time("2026-01-01T10:00:00.000Z"), Some(z));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(format_time(z), "2026-01-01T10:00:00Z");
        assert_eq!(parse_time(&format_time(z + 1234)), Some(z + 1234));
    }
}
