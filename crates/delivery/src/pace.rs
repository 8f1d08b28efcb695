//! Pacing: a rate limit on sends and exponential backoff with jitter for
//! retries. Time is read from an injected [`Clock`] and waited out through
//! an injected [`Sleeper`], so tests and simulations run on simulated time.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::RngCore;
use tidings_model::{Clock, Micros};

/// Waits. The real one blocks the thread; a simulated one moves a clock.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, duration: Duration);
}

/// Blocks the calling thread.
#[derive(Debug, Default, Clone, Copy)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Sleeping on a simulated clock: advances it instead of waiting.
impl Sleeper for tidings_model::SimClock {
    fn sleep(&self, duration: Duration) {
        self.advance_by(duration.as_micros() as Micros);
    }
}

/// A limit of `rate` messages per second, shared by all threads, allowing
/// a burst of one second's worth (GCRA: each send reserves the next slot,
/// so waiting callers are served in order and never exceed the rate).
pub struct RateLimiter {
    interval: f64,
    burst: f64,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    /// The theoretical arrival time of the next send, in microseconds.
    next: Mutex<f64>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("per_second", &(1e6 / self.interval)).finish()
    }
}

impl RateLimiter {
    pub fn new(rate_per_second: f64, clock: Arc<dyn Clock>, sleeper: Arc<dyn Sleeper>) -> RateLimiter {
        let interval = 1e6 / rate_per_second;
        let burst = (rate_per_second.floor() - 1.0).max(0.0) * interval;
        RateLimiter { interval, burst, clock, sleeper, next: Mutex::new(f64::MIN) }
    }

    /// Waits until a send is allowed, and takes the slot.
    pub fn acquire(&self) {
        let wait = {
            let mut next = self.next.lock();
            let now = self.clock.now() as f64;
            let base = next.max(now);
            *next = base + self.interval;
            base - self.burst - now
        };
        if wait >= 1.0 {
            self.sleeper.sleep(Duration::from_micros(wait as u64));
        }
    }
}

/// When to retry a transient failure: exponential backoff with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The delay before the first retry, before jitter.
    pub base_delay: Duration,
    /// No delay is longer.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Seven attempts over about a day: 1 min, 4 min, 16 min, ~1 h, ~4 h, 6 h.
    fn default() -> Self {
        RetryPolicy { max_attempts: 7, base_delay: Duration::from_secs(60), max_delay: Duration::from_secs(6 * 3600) }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based): the
    /// backoff `base * 4^(attempt-1)`, capped, of which the second half is
    /// random ("equal jitter"), so retries spread out but never come sooner
    /// than half the backoff.
    pub fn delay(&self, attempt: u32, rng: &mut dyn RngCore) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        let backoff = self.base_delay.saturating_mul(4u32.saturating_pow(exp)).min(self.max_delay);
        let half = backoff.as_micros() as u64 / 2;
        let jitter = if half == 0 { 0 } else { rng.next_u64() % (half + 1) };
        Duration::from_micros(half + jitter)
    }

    /// When to try again after `attempts` failed attempts, or `None` when
    /// they are used up. For scheduling retries in an outbox.
    pub fn next_attempt_at(&self, attempts: u32, now: Micros, rng: &mut dyn RngCore) -> Option<Micros> {
        (attempts < self.max_attempts).then(|| now + self.delay(attempts, rng).as_micros() as Micros)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use tidings_model::SimClock;

    #[test]
    fn backoff_grows_with_jitter_within_bounds() {
        let policy = RetryPolicy::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut last_max = Duration::ZERO;
        for attempt in 1..=8 {
            let d = policy.delay(attempt, &mut rng);
            let backoff = (policy.base_delay * 4u32.pow(attempt - 1)).min(policy.max_delay);
            assert!(d >= backoff / 2 && d <= backoff, "attempt {attempt}: {d:?} vs {backoff:?}");
            assert!(backoff >= last_max);
            last_max = backoff;
        }
        let delays: Vec<Duration> = (0..20).map(|_| policy.delay(3, &mut rng)).collect();
        assert!(delays.windows(2).any(|w| w[0] != w[1]), "jitter varies");
        assert_eq!(policy.next_attempt_at(7, 0, &mut rng), None);
        assert!(policy.next_attempt_at(1, 1_000, &mut rng).unwrap() >= 1_000 + 30_000_000);
    }

    #[test]
    fn rate_limit_paces_on_simulated_time() {
        let clock = SimClock::new(1_000_000_000);
        let limiter = RateLimiter::new(5.0, Arc::new(clock.clone()), Arc::new(clock.clone()));
        let start = clock.now();
        for _ in 0..25 {
            limiter.acquire();
        }
        // 5 go at once (the burst), the other 20 at 5 per second.
        let elapsed = clock.now() - start;
        assert!((3_900_000..=4_100_000).contains(&elapsed), "{elapsed}");
        // A pause refills the burst but never beyond it.
        clock.advance_by(10_000_000);
        let before = clock.now();
        for _ in 0..5 {
            limiter.acquire();
        }
        assert_eq!(clock.now(), before);
        limiter.acquire();
        assert!(clock.now() > before);
    }
}
