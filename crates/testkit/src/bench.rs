//! Benchmark data: a given number of events over a given number of people.

use crate::message::SimMessage;
use crate::sim::{SimConfig, Simulation};
use crate::time::DAY;

/// Exactly `events` messages (identify, track, page) of `profiles` simulated
/// people, in time order, starting at `start` (microseconds) and spread over
/// about `span` (microseconds). It is the full simulation, streamed: memory
/// grows with `profiles`, not with `events`.
///
/// The session rate is calibrated on a pilot run of the first 2,000 people
/// so that the events fill the span with 8% to spare; should the
/// window run out early, fewer messages come out.
pub fn bench_events(seed: u64, profiles: u32, events: u64, start: i64, span: i64) -> impl Iterator<Item = SimMessage> {
    let days = u32::try_from((span + DAY - 1) / DAY).unwrap_or(u32::MAX).max(1);
    let mut cfg = SimConfig::new(seed, profiles, start, days);
    cfg.activity_scale = calibrate(&cfg, 1.08 * events as f64 / f64::from(profiles.max(1)));
    Simulation::new(cfg).take(usize::try_from(events).unwrap_or(usize::MAX))
}

/// The activity scale that gives `per_profile` messages per person, found
/// on pilot runs of the first people. Counts grow sublinearly with the scale
/// (sessions keep to habitual hours; imports and sign-ups are fixed), so the
/// search fits a local power law and iterates.
fn calibrate(cfg: &SimConfig, per_profile: f64) -> f64 {
    let n = cfg.profiles.clamp(1, 2_000);
    let count = |scale: f64| {
        let mut pilot = cfg.clone();
        pilot.profiles = n;
        pilot.activity_scale = scale;
        (Simulation::new(pilot).count() as f64 / f64::from(n)).max(1e-3)
    };
    let (mut s, mut f) = (1.0, count(1.0));
    let mut exponent: f64 = 0.7;
    for _ in 0..6 {
        if (f / per_profile - 1.0).abs() < 0.01 {
            break;
        }
        let next = (s * (per_profile / f).powf(1.0 / exponent)).clamp(1e-3, 1e4);
        let g = count(next);
        if (next / s).ln().abs() > 1e-6 && g != f {
            exponent = ((g / f).ln() / (next / s).ln()).clamp(0.1, 2.0);
        }
        (s, f) = (next, g);
    }
    s
}
