//! Simulated time: microseconds since the Unix epoch, RFC 3339 text, and
//! the local calendar of each simulated person's time zone.
//!
//! Offsets come from the IANA database through `jiff`, the same library the
//! engine uses for local-time rules, so "on weekends" means the same thing to
//! the simulator and to the engine. When the system has no time zone database
//! a zone falls back to its standard offset (no daylight saving time).

use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

pub const SECOND: i64 = 1_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;
pub(crate) const MILLI: i64 = 1_000;

/// Formats microseconds as RFC 3339 UTC with milliseconds:
/// `2026-03-02T09:15:04.250Z`. Sub-millisecond digits are truncated.
pub fn format_rfc3339(micros: i64) -> String {
    let buf = rfc3339_bytes(micros);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The 24 ASCII bytes of [`format_rfc3339`], without allocating.
pub(crate) fn rfc3339_bytes(micros: i64) -> [u8; 24] {
    let millis = micros.div_euclid(MILLI);
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (hh, rest) = (ms_of_day / 3_600_000, ms_of_day % 3_600_000);
    let (mm, rest) = (rest / 60_000, rest % 60_000);
    let (ss, ms) = (rest / 1000, rest % 1000);
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let put = |b: &mut [u8; 24], at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            b[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(&mut b, 0, 4, y.clamp(0, 9999));
    put(&mut b, 5, 2, m);
    put(&mut b, 8, 2, d);
    put(&mut b, 11, 2, hh);
    put(&mut b, 14, 2, mm);
    put(&mut b, 17, 2, ss);
    put(&mut b, 20, 3, ms);
    b
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar; days beyond the years `jiff` knows (-9999 to 9999) clamp to
/// its first or last date.
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let epoch = jiff::civil::Date::constant(1970, 1, 1);
    let date = jiff::Span::new().try_days(z).and_then(|span| epoch.checked_add(span)).unwrap_or(if z < 0 {
        jiff::civil::Date::MIN
    } else {
        jiff::civil::Date::MAX
    });
    (i64::from(date.year()), i64::from(date.month()), i64::from(date.day()))
}

/// Day of the week of a day number, Monday = 0 ... Sunday = 6.
pub fn weekday(day: i64) -> u8 {
    // 1970-01-01 was a Thursday.
    (day + 3).rem_euclid(7) as u8
}

pub fn is_weekend_day(day: i64) -> bool {
    weekday(day) >= 5
}

/// A moment seen on a local wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    /// Local calendar day, counted from 1970-01-01.
    pub day: i64,
    /// Microseconds since local midnight.
    pub of_day: i64,
}

impl Local {
    pub fn is_weekend(self) -> bool {
        is_weekend_day(self.day)
    }

    /// Hour of day as a real number, e.g. 19.5 for half past seven.
    pub fn hour_f(self) -> f64 {
        self.of_day as f64 / HOUR as f64
    }
}

/// IANA zones of the shop's visitors: (name, country, weight, standard offset
/// in minutes for the no-database fallback). A European shop with some
/// overseas customers.
pub(crate) const ZONES: &[(&str, &str, u32, i32)] = &[
    ("Europe/London", "GB", 16, 0),
    ("Europe/Dublin", "IE", 3, 0),
    ("Europe/Paris", "FR", 12, 60),
    ("Europe/Berlin", "DE", 14, 60),
    ("Europe/Amsterdam", "NL", 5, 60),
    ("Europe/Madrid", "ES", 6, 60),
    ("Europe/Rome", "IT", 6, 60),
    ("Europe/Stockholm", "SE", 3, 60),
    ("Europe/Warsaw", "PL", 3, 60),
    ("Europe/Lisbon", "PT", 2, 0),
    ("Europe/Athens", "GR", 2, 120),
    ("America/New_York", "US", 8, -300),
    ("America/Chicago", "US", 4, -360),
    ("America/Denver", "US", 2, -420),
    ("America/Los_Angeles", "US", 5, -480),
    ("America/Toronto", "CA", 3, -300),
    ("America/Mexico_City", "MX", 1, -360),
    ("America/Sao_Paulo", "BR", 1, -180),
    ("Asia/Tokyo", "JP", 1, 540),
    ("Asia/Singapore", "SG", 1, 480),
    ("Asia/Kolkata", "IN", 1, 330),
    ("Asia/Dubai", "AE", 1, 240),
    ("Australia/Sydney", "AU", 2, 600),
    ("Pacific/Auckland", "NZ", 1, 720),
    ("Africa/Johannesburg", "ZA", 1, 120),
];

/// One of [`ZONES`], resolved.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    pub name: &'static str,
    pub country: &'static str,
    tz: TimeZone,
}

impl Zone {
    pub fn all() -> Vec<Zone> {
        ZONES
            .iter()
            .map(|&(name, country, _, std_minutes)| Zone {
                name,
                country,
                tz: TimeZone::get(name)
                    .unwrap_or_else(|_| TimeZone::fixed(Offset::from_seconds(std_minutes * 60).unwrap_or(Offset::UTC))),
            })
            .collect()
    }

    pub fn weights() -> Vec<f64> {
        ZONES.iter().map(|z| f64::from(z.2)).collect()
    }

    /// Offset from UTC at the instant `utc`, in microseconds.
    pub fn offset(&self, utc: i64) -> i64 {
        let ts = Timestamp::from_microsecond(utc).unwrap_or(Timestamp::UNIX_EPOCH);
        i64::from(self.tz.to_offset(ts).seconds()) * SECOND
    }

    pub fn local(&self, utc: i64) -> Local {
        let l = utc + self.offset(utc);
        Local { day: l.div_euclid(DAY), of_day: l.rem_euclid(DAY) }
    }

    /// The UTC instant that shows `of_day` on local `day`. A wall time skipped
    /// by a daylight-saving jump lands an hour off, which is fine here.
    pub fn to_utc(&self, day: i64, of_day: i64) -> i64 {
        let wall = day * DAY + of_day;
        let guess = wall - self.offset(wall);
        wall - self.offset(guess)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_jiff() {
        for &t in &[0i64, 1_767_225_600_000_000, 1_772_442_904_250_999, 951_782_400_000_000, 4_102_444_799_999_000] {
            let ours = format_rfc3339(t);
            let ts = Timestamp::from_microsecond(t - t.rem_euclid(1000)).unwrap();
            let theirs = ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(ours, theirs);
            assert_eq!(ours.parse::<Timestamp>().unwrap().as_microsecond(), t - t % 1000);
        }
    }

    #[test]
    fn local_calendar_matches_jiff() {
        let zones = Zone::all();
        let berlin = zones.iter().find(|z| z.name == "Europe/Berlin").unwrap();
        // 2026-03-29 is the spring-forward Sunday in the EU.
        let t = "2026-03-29T09:30:00Z".parse::<Timestamp>().unwrap();
        let l = berlin.local(t.as_microsecond());
        let z = t.to_zoned_datetime(TimeZone::get("Europe/Berlin").unwrap());
        assert_eq!(l.hour_f() as i8, z.hour());
        assert_eq!(weekday(l.day), z.weekday().to_monday_zero_offset() as u8);
        assert!(l.is_weekend());
        assert_eq!(berlin.to_utc(l.day, l.of_day), t.as_microsecond());
        for z in &zones {
            for h in 0..200 {
                let utc = t.as_microsecond() + h * 7 * HOUR;
                let l = z.local(utc);
                assert_eq!(z.to_utc(l.day, l.of_day), utc, "{}", z.name);
            }
        }
    }
}
