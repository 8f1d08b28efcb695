//! Seeded randomness for the simulator.
//!
//! Every simulated person carries two tiny generators of their own (one for
//! what they do on the site, one for how they react to email), seeded from
//! the simulation seed and their number. A person's organic behaviour thus
//! does not depend on what happens to anyone else, and the email stream does
//! not disturb the organic one: two arms of an experiment see the same people
//! doing the same things until an email changes something.
//!
//! The generator is SplitMix64 (Steele, Lea, Flood, "Fast splittable
//! pseudorandom number generators", OOPSLA 2014): 8 bytes of state, good
//! enough statistics for a simulation, and stable forever because it is
//! written here rather than borrowed from a crate whose algorithms may change.

use rand::RngCore;

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 output function: a strong 64-bit mix.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes a seed and a few numbers into one well-mixed value.
pub(crate) fn derive(seed: u64, parts: &[u64]) -> u64 {
    let mut h = mix64(seed ^ GOLDEN);
    for &p in parts {
        h = mix64(h.wrapping_add(GOLDEN) ^ p.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    }
    h
}

/// A small, fast, seeded random number generator (SplitMix64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng(u64);

impl SimRng {
    pub fn new(seed: u64) -> SimRng {
        SimRng(mix64(seed))
    }

    #[inline]
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.bits() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n); 0 when n is 0. Multiply-shift, bias below 2^-32.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.bits()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in [lo, hi] (inclusive).
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform real in [lo, hi).
    #[inline]
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }

    /// Standard normal (Box-Muller; one value per call, the twin discarded).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.f64();
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Log-normal with the given median and log-scale spread.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Gamma with the given shape and mean (Marsaglia and Tsang, 2000).
    pub fn gamma(&mut self, shape: f64, mean: f64) -> f64 {
        let scale = mean / shape;
        if shape < 1.0 {
            // Boost: G(a) = G(a + 1) * U^(1/a).
            let u = 1.0 - self.f64();
            return self.gamma(shape + 1.0, (shape + 1.0) * scale) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - self.f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v * scale;
            }
        }
    }

    /// Index drawn with probability proportional to `weights`.
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }

    /// Index into a non-decreasing cumulative weight table.
    pub fn cumulative(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cumulative.partition_point(|&c| c <= x).min(cumulative.len().saturating_sub(1))
    }
}

impl RngCore for SimRng {
    fn next_u32(&mut self) -> u32 {
        (self.bits() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.bits()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::rand_core::impls::fill_bytes_via_next(self, dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_have_the_right_means() {
        let mut r = SimRng::new(1);
        let n = 200_000;
        let mean = |r: &mut SimRng, f: &dyn Fn(&mut SimRng) -> f64| (0..n).map(|_| f(r)).sum::<f64>() / n as f64;
        assert!((mean(&mut r, &|r| r.f64()) - 0.5).abs() < 0.01);
        assert!((mean(&mut r, &|r| r.exp(3.0)) - 3.0).abs() < 0.05);
        assert!(mean(&mut r, &|r| r.normal()).abs() < 0.01);
        assert!((mean(&mut r, &|r| r.gamma(2.0, 9.0)) - 9.0).abs() < 0.1);
        assert!((mean(&mut r, &|r| r.gamma(0.5, 2.0)) - 2.0).abs() < 0.05);
        let c = [1.0, 1.0, 4.0];
        let hits = (0..n).filter(|_| r.cumulative(&c) == 2).count();
        assert!((hits as f64 / n as f64 - 0.75).abs() < 0.01);
        assert!((0..1000).all(|_| r.range(3, 5) >= 3 && r.range(3, 5) <= 5));
    }

    #[test]
    fn same_seed_same_stream() {
        let a: Vec<u64> = (0..5).scan(SimRng::new(9), |r, _| Some(r.bits())).collect();
        let b: Vec<u64> = (0..5).scan(SimRng::new(9), |r, _| Some(r.bits())).collect();
        assert_eq!(a, b);
        assert_ne!(derive(1, &[2, 3]), derive(1, &[3, 2]));
    }
}
