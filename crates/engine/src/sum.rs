//! Exact sums of floating-point numbers, so that a total does not depend on
//! the order its values were added and removed in.
//!
//! The sum is kept as a short list of non-overlapping partials whose exact
//! sum is the exact sum of the values (J. R. Shewchuk, "Adaptive Precision
//! Floating-Point Arithmetic and Fast Robust Geometric Predicates", 1997; the
//! algorithm of Python's `math.fsum`). Removing a value adds its negation,
//! which is just as exact. [`ExactSum::value`] rounds the exact sum to the
//! nearest `f64` (ties to even), so the live engine, which adds and removes
//! values as windows slide, and the reference evaluator, which adds them up
//! in time order, get the same total bit for bit.
//!
//! Values larger in magnitude than [`MAX_SUMMAND`] are left out of totals and
//! averages: the partials must not overflow.

use serde::{Deserialize, Serialize};

/// The largest magnitude a total or an average takes into account.
pub const MAX_SUMMAND: f64 = 1e300;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    /// Non-zero, non-overlapping, in increasing magnitude.
    partials: Vec<f64>,
}

impl ExactSum {
    pub fn add(&mut self, value: f64) {
        if !summable(value) {
            return;
        }
        let mut x = value;
        let mut i = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        self.partials.truncate(i);
        if x != 0.0 {
            self.partials.push(x);
        }
    }

    pub fn remove(&mut self, value: f64) {
        if summable(value) {
            self.add(-value);
        }
    }

    /// The exact sum rounded to the nearest `f64`, ties to even.
    pub fn value(&self) -> f64 {
        let p = &self.partials;
        let mut n = p.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Half-way cases: the partials below decide which way to round.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

/// Whether a value takes part in totals and averages.
pub fn summable(value: f64) -> bool {
    value.is_finite() && value.abs() <= MAX_SUMMAND
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum(values: &[f64]) -> f64 {
        let mut s = ExactSum::default();
        for &v in values {
            s.add(v);
        }
        s.value()
    }

    #[test]
    fn exact_where_naive_sums_are_not() {
        assert_eq!(sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(sum(&[0.1; 10]), 1.0);
        assert_eq!(sum(&[]), 0.0);
        assert_eq!(sum(&[1e308, 1e308]), 0.0, "values beyond MAX_SUMMAND are left out");
        let mut s = ExactSum::default();
        for v in [99.99, 2.5, 0.1, -3.0] {
            s.add(v);
        }
        for v in [0.1, 99.99, -3.0] {
            s.remove(v);
        }
        assert_eq!(s.value(), 2.5);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn order_does_not_matter(
            values in proptest::collection::vec(prop_oneof![-1e6..1e6f64, -1e-3..1e-3f64, Just(0.1), Just(99.99)], 0..40),
            seed in any::<u64>(),
        ) {
            let mut shuffled = values.clone();
            // A cheap deterministic shuffle.
            let mut r = seed | 1;
            for i in (1..shuffled.len()).rev() {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                shuffled.swap(i, (r % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(sum(&values).to_bits(), sum(&shuffled).to_bits());
            // Adding extra values and removing them again changes nothing.
            let mut s = ExactSum::default();
            for &v in &values { s.add(v); }
            for &v in &shuffled { s.add(v * 3.0); }
            for &v in shuffled.iter().rev() { s.remove(v * 3.0); }
            prop_assert_eq!(s.value().to_bits(), sum(&values).to_bits());
        }
    }
}
