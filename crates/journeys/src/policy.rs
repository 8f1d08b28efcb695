//! Send policies, decided before a message enters the outbox: consent and
//! suppression, frequency caps (global and per journey, transactional mail
//! exempt), quiet hours in the profile's time zone (defer, never drop), the
//! profile's best send time, and tolerance (a profile whose engagement falls
//! gets fewer emails). Every decision carries its reason, so "why was this
//! not sent?" has an answer.

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tidings_model::Micros;
use tidings_model::time::{DAY, HOUR};

/// Marketing mail is subject to every policy; transactional mail (receipts,
/// password resets) only to suppression of hard bounces and complaints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Marketing,
    Transactional,
}

/// A workspace's policy settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// At most this many marketing emails per profile in `cap_window`.
    pub cap: u32,
    pub cap_window: Micros,
    /// At least this long between two marketing emails to one profile.
    pub min_gap: Micros,
    /// Quiet hours, local: no marketing mail from `quiet_start` to `quiet_end` (hours, may wrap midnight).
    pub quiet_start: u8,
    pub quiet_end: u8,
    /// Below this engagement (opens and clicks per email over the last 30 days,
    /// once at least `tolerance_min_sends` were sent), the cap is scaled down.
    pub tolerance_floor: f64,
    pub tolerance_min_sends: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            cap: 3,
            cap_window: 7 * DAY,
            min_gap: 16 * HOUR,
            quiet_start: 21,
            quiet_end: 8,
            tolerance_floor: 0.1,
            tolerance_min_sends: 5,
        }
    }
}

/// What the policies know about one profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recipient {
    /// May receive marketing email (consent given, not unsubscribed).
    pub subscribed: bool,
    /// Why the address is suppressed, if it is: unsubscribed and complaints stop marketing mail, a hard bounce stops all mail.
    pub suppressed: Option<Suppression>,
    /// Times of marketing emails sent, any order.
    pub marketing_sent: Vec<Micros>,
    /// Of those in the last 30 days, how many were opened (by a human) or clicked.
    pub engaged_30d: u32,
    pub sent_30d: u32,
    /// The message's topic, when the person opted out of that topic alone
    /// (`subscribed to "TOPIC"` is false while `subscribed` is true).
    pub unsubscribed_topic: Option<String>,
    /// How often the person asked to hear from us (preference center).
    pub frequency: Frequency,
}

/// A person's own limit on marketing email, from the `email_frequency`
/// trait the preference center sets. It narrows the workspace's caps, never
/// widens them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// As the workspace's policies allow.
    #[default]
    Usual,
    /// At most one marketing email in 7 days.
    Weekly,
    /// At most one marketing email in 30 days.
    Monthly,
}

impl Frequency {
    /// The trait that holds it.
    pub const TRAIT: &'static str = "email_frequency";

    /// From the trait's value; anything unknown is `Usual`.
    pub fn from_trait(v: Option<&serde_json::Value>) -> Frequency {
        v.and_then(serde_json::Value::as_str).map_or(Frequency::Usual, Frequency::parse)
    }

    /// `weekly`, `monthly`; anything else is `Usual`.
    pub fn parse(s: &str) -> Frequency {
        match s {
            "weekly" => Frequency::Weekly,
            "monthly" => Frequency::Monthly,
            _ => Frequency::Usual,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Usual => "usual",
            Frequency::Weekly => "weekly",
            Frequency::Monthly => "monthly",
        }
    }

    /// At most one message in this window, if the person set a limit.
    pub fn window(self) -> Option<Micros> {
        match self {
            Frequency::Usual => None,
            Frequency::Weekly => Some(7 * DAY),
            Frequency::Monthly => Some(30 * DAY),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suppression {
    Unsubscribed,
    HardBounce,
    Complaint,
}

/// The decision for one send, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Send,
    /// Not now; try again at `until`.
    Defer {
        until: Micros,
        reason: String,
    },
    /// Never, for this message.
    Skip {
        reason: String,
    },
}

/// The cap after tolerance: a profile that ignores mail gets fewer.
pub fn effective_cap(p: &Policy, r: &Recipient) -> u32 {
    if r.sent_30d < p.tolerance_min_sends {
        return p.cap;
    }
    let engagement = f64::from(r.engaged_30d) / f64::from(r.sent_30d);
    if engagement >= p.tolerance_floor * 3.0 {
        p.cap
    } else if engagement >= p.tolerance_floor {
        p.cap.div_ceil(2).max(1)
    } else {
        1
    }
}

/// Whether a message of `kind` may go to `r` at `now` (in time zone `tz`).
pub fn decide(p: &Policy, r: &Recipient, kind: Kind, now: Micros, tz: &TimeZone) -> Decision {
    match (r.suppressed, kind) {
        (Some(Suppression::HardBounce), _) => {
            return Decision::Skip { reason: "the address hard-bounced; it is suppressed for all mail".into() };
        }
        (Some(Suppression::Complaint), Kind::Marketing) => {
            return Decision::Skip { reason: "the recipient marked mail as spam; suppressed for marketing".into() };
        }
        (Some(Suppression::Unsubscribed), Kind::Marketing) => {
            return Decision::Skip { reason: "unsubscribed".into() };
        }
        _ => {}
    }
    if kind == Kind::Transactional {
        return Decision::Send;
    }
    if !r.subscribed {
        return Decision::Skip { reason: "no marketing consent".into() };
    }
    if let Some(topic) = &r.unsubscribed_topic {
        return Decision::Skip { reason: format!("unsubscribed from the topic {topic:?}") };
    }
    if let Some(window) = r.frequency.window()
        && let Some(&last) = r.marketing_sent.iter().filter(|&&t| t <= now && t > now - window).max()
    {
        return Decision::Defer {
            until: last + window + 1,
            reason: format!(
                "the recipient asked for at most one email a {}",
                r.frequency.as_str().trim_end_matches("ly")
            ),
        };
    }
    let cap = effective_cap(p, r);
    let mut recent: Vec<Micros> =
        r.marketing_sent.iter().copied().filter(|&t| t > now - p.cap_window && t <= now).collect();
    recent.sort_unstable();
    if recent.len() >= cap as usize {
        // The window frees a slot when the oldest counted send leaves it.
        let until = recent[recent.len() - cap as usize] + p.cap_window;
        let why = if cap < p.cap {
            format!("frequency cap: {cap} in {} (lowered from {} because engagement fell)", days(p.cap_window), p.cap)
        } else {
            format!("frequency cap: {cap} in {}", days(p.cap_window))
        };
        return Decision::Defer { until: until + 1, reason: why };
    }
    if let Some(&last) = r.marketing_sent.iter().filter(|&&t| t <= now).max()
        && now - last < p.min_gap
    {
        return Decision::Defer {
            until: last + p.min_gap,
            reason: format!("at least {}h between marketing emails", p.min_gap / HOUR),
        };
    }
    if let Some(until) = quiet_until(p, now, tz) {
        return Decision::Defer {
            until,
            reason: format!("quiet hours {:02}:00-{:02}:00 in {}", p.quiet_start, p.quiet_end, tz_name(tz)),
        };
    }
    Decision::Send
}

fn days(d: Micros) -> String {
    if d % DAY == 0 { format!("{} days", d / DAY) } else { format!("{} hours", d / HOUR) }
}

fn tz_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("UTC").to_string()
}

/// If `now` falls in quiet hours, when they end.
pub fn quiet_until(p: &Policy, now: Micros, tz: &TimeZone) -> Option<Micros> {
    if p.quiet_start == p.quiet_end {
        return None;
    }
    let z = jiff::Timestamp::from_microsecond(now).ok()?.to_zoned_datetime(tz.clone());
    let h = z.hour() as u8;
    let quiet = if p.quiet_start < p.quiet_end {
        h >= p.quiet_start && h < p.quiet_end
    } else {
        h >= p.quiet_start || h < p.quiet_end
    };
    if !quiet {
        return None;
    }
    let mut date = z.date();
    if h >= p.quiet_end {
        date = date.tomorrow().ok()?;
    }
    let end = date.at(p.quiet_end as i8, 0, 0, 0).to_zoned_datetime(tz.clone()).ok()?;
    Some(end.timestamp().as_microsecond())
}

/// Hours of the week, Monday 00:00 local = 0.
pub const WEEK_HOURS: usize = 168;

/// A profile's engagement pattern by local hour of the week, learned from
/// its human opens, clicks and purchases, shrunk toward the workspace's
/// pattern (a Dirichlet prior worth `prior_weight` observations), so that a
/// person with little history gets the workspace's best time and a person
/// with a clear habit (a weekend buyer) gets theirs.
#[derive(Debug, Clone, PartialEq)]
pub struct SendTime {
    pub weights: [f64; WEEK_HOURS],
}

/// Counts of engagement by local hour of week.
pub fn hour_of_week_counts(times: &[Micros], tz: &TimeZone) -> [f64; WEEK_HOURS] {
    let mut c = [0.0; WEEK_HOURS];
    for &t in times {
        if let Ok(ts) = jiff::Timestamp::from_microsecond(t) {
            let z = ts.to_zoned_datetime(tz.clone());
            let how = z.weekday().to_monday_zero_offset() as usize * 24 + z.hour() as usize;
            c[how] += 1.0;
        }
    }
    c
}

impl SendTime {
    /// `own`: this profile's counts; `workspace`: everyone's counts.
    pub fn learn(own: &[f64; WEEK_HOURS], workspace: &[f64; WEEK_HOURS], prior_weight: f64) -> SendTime {
        let total: f64 = workspace.iter().sum();
        let mut weights = [0.0; WEEK_HOURS];
        for h in 0..WEEK_HOURS {
            // Smooth the workspace pattern a little so no hour is impossible.
            let base = if total > 0.0 {
                (workspace[h] + 0.1) / (total + 0.1 * WEEK_HOURS as f64)
            } else {
                1.0 / WEEK_HOURS as f64
            };
            // Neighbouring hours count half: habits are not to the minute.
            let own_h = own[h] + 0.5 * (own[(h + 1) % WEEK_HOURS] + own[(h + WEEK_HOURS - 1) % WEEK_HOURS]);
            weights[h] = own_h + prior_weight * base;
        }
        SendTime { weights }
    }

    /// The best start of an hour in [from, from + within), outside quiet hours.
    pub fn best_time(&self, from: Micros, within: Micros, tz: &TimeZone, policy: &Policy) -> Micros {
        let Ok(ts) = jiff::Timestamp::from_microsecond(from) else { return from };
        let z = ts.to_zoned_datetime(tz.clone());
        // The first whole hour at or after `from`.
        let first = from
            + (HOUR
                - (z.minute() as i64 * 60 + z.second() as i64) * 1_000_000
                - i64::from(z.subsec_nanosecond()) / 1000)
                % HOUR;
        let mut best = (f64::MIN, from);
        let mut t = first;
        while t < from + within {
            if quiet_until(policy, t, tz).is_none()
                && let Ok(ts) = jiff::Timestamp::from_microsecond(t)
            {
                let z = ts.to_zoned_datetime(tz.clone());
                let how = z.weekday().to_monday_zero_offset() as usize * 24 + z.hour() as usize;
                if self.weights[how] > best.0 {
                    best = (self.weights[how], t);
                }
            }
            t += HOUR;
        }
        best.1
    }
}
