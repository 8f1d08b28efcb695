//! Local time: the profile's time zone and where an instant falls in it.
//!
//! A profile's zone is its `timezone` trait when that is a string naming an
//! IANA zone, else the workspace default (which is UTC unless configured).
//! Zones are looked up with [`jiff::tz::TimeZone::get`], jiff's database.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tidings_model::Micros;
use tidings_model::time::SECOND;
use tidings_rules::Weekday;

/// The trait naming a profile's time zone.
pub const TIMEZONE_TRAIT: &str = "timezone";

/// The zone name a `timezone` trait value selects, if it is a valid one.
pub(crate) fn zone_name(trait_value: Option<&Value>) -> Option<&str> {
    let name = trait_value?.as_str()?;
    TimeZone::get(name).is_ok().then_some(name)
}

/// Zones by name, looked up once.
#[derive(Debug, Clone)]
pub(crate) struct Zones {
    default: TimeZone,
    by_name: HashMap<String, Option<TimeZone>>,
}

impl Zones {
    pub(crate) fn new(default: TimeZone) -> Zones {
        Zones { default, by_name: HashMap::new() }
    }

    /// The zone for a `timezone` trait value: the named one, or the default.
    pub(crate) fn get(&mut self, name: Option<&str>) -> TimeZone {
        let Some(name) = name else {
            return self.default.clone();
        };
        if let Some(z) = self.by_name.get(name) {
            return z.clone().unwrap_or_else(|| self.default.clone());
        }
        let z = TimeZone::get(name).ok();
        self.by_name.insert(name.to_string(), z.clone());
        z.unwrap_or_else(|| self.default.clone())
    }

    pub(crate) fn default_zone(&self) -> &TimeZone {
        &self.default
    }
}

/// Where an instant falls in a zone: its local calendar day (days since
/// 1970-01-01, local), weekday and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Local {
    pub day: i64,
    pub weekday: Weekday,
    pub hour: u8,
}

/// The live engine's fast path: the zone's UTC offset at `t`, then integer
/// arithmetic. (The reference evaluator goes through `jiff`'s zoned
/// date-times instead, so the two check each other.)
pub(crate) fn local(t: Micros, tz: &TimeZone) -> Local {
    let offset = Timestamp::from_microsecond(t).map(|ts| tz.to_offset(ts).seconds()).unwrap_or(0);
    let secs = t.div_euclid(SECOND) + i64::from(offset);
    let day = secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday: index 3 counting from Monday.
    let weekday = Weekday::ALL[(day + 3).rem_euclid(7) as usize];
    let hour = (secs.rem_euclid(86_400) / 3_600) as u8;
    Local { day, weekday, hour }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_model::time::parse_time;

    #[test]
    fn local_time_in_a_zone() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // Saturday 23:30 UTC is Sunday 00:30 in Berlin (winter, +1).
        let t = parse_time("2026-01-03T23:30:00Z").unwrap();
        let l = local(t, &berlin);
        assert_eq!((l.weekday, l.hour), (Weekday::Sunday, 0));
        let u = local(t, &TimeZone::UTC);
        assert_eq!((u.weekday, u.hour), (Weekday::Saturday, 23));
        assert_eq!(l.day, u.day + 1);
        // Before the epoch.
        let e = local(-1, &TimeZone::UTC);
        assert_eq!((e.day, e.weekday, e.hour), (-1, Weekday::Wednesday, 23));
        let mut zones = Zones::new(TimeZone::UTC);
        assert_eq!(zones.get(Some("Nowhere/Else")), TimeZone::UTC);
        assert_eq!(zones.get(Some("Europe/Berlin")), berlin);
        assert_eq!(zone_name(Some(&Value::from("Asia/Kolkata"))), Some("Asia/Kolkata"));
        assert_eq!(zone_name(Some(&Value::from(5))), None);
    }
}
