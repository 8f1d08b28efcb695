//! The one source of "now". Serving uses the wall clock; the demo, tests and
//! backtests use a simulated clock and run through exactly the same code.

use crate::time::Micros;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Micros;
}

/// The system's real-time clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct WallClock;

impl Clock for WallClock {
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    fn now(&self) -> Micros {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_micros() as Micros,
            Err(e) => -(e.duration().as_micros() as Micros),
        }
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct SimClock(Arc<AtomicI64>);

impl SimClock {
    pub fn new(start: Micros) -> Self {
        SimClock(Arc::new(AtomicI64::new(start)))
    }
    /// Moves time forward; never backward, so readers see a monotonic clock.
    pub fn advance_to(&self, t: Micros) {
        self.0.fetch_max(t, Ordering::SeqCst);
    }
    pub fn advance_by(&self, d: Micros) {
        self.0.fetch_add(d, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now(&self) -> Micros {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_clock_is_monotonic_and_shared() {
        let c = SimClock::new(100);
        let d = c.clone();
        c.advance_to(50);
        assert_eq!(d.now(), 100);
        c.advance_by(10);
        assert_eq!(d.now(), 110);
        assert!(WallClock.now() > 1_600_000_000_000_000);
    }
}
