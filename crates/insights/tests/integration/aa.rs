//! A/A simulation of continuous monitoring, shared by the `sequential` test
//! and `examples/aa_simulation.rs`: both arms convert at the same rate, the
//! experimenter looks every day and stops at the first p < alpha. The naive
//! repeated z-test's false-positive rate grows with the number of looks; the
//! mSPRT's always-valid p-value keeps it at or below alpha.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tidings_insights::ab::{Look, Msprt, Variance, two_proportion_ztest};

/// Simulation sizes.
#[derive(Debug, Clone, Copy)]
pub struct AaConfig {
    /// RNG seed.
    pub seed: u64,
    /// Number of A/A experiments.
    pub experiments: usize,
    /// Looks per experiment, one per day.
    pub days: usize,
    /// New profiles per arm per day.
    pub daily_per_arm: u64,
    /// The common conversion rate.
    pub rate: f64,
    /// mSPRT mixing variance.
    pub tau2: f64,
    /// Significance level.
    pub alpha: f64,
}

/// False-positive rates of the two monitoring rules.
#[derive(Debug, Clone, Copy)]
pub struct AaResult {
    /// Share of experiments where the naive z-test ever had p < alpha.
    pub naive: f64,
    /// Share where the mSPRT p-value ever fell below alpha.
    pub msprt: f64,
}

/// Binomial(n, p) by geometric waiting times: exact, and costs about
/// n p + 1 uniform draws instead of n.
fn binomial(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    let ln_q = (-p).ln_1p();
    let mut count = 0;
    let mut position = 0.0_f64;
    loop {
        let u: f64 = rng.random();
        position += ((1.0 - u).ln() / ln_q).floor() + 1.0;
        if position > n as f64 {
            return count;
        }
        count += 1;
    }
}

/// Runs the simulation.
pub fn simulate(c: &AaConfig) -> AaResult {
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed);
    let (mut naive_hits, mut msprt_hits) = (0_usize, 0_usize);
    for _ in 0..c.experiments {
        let mut look = Look { c_a: 0, n_a: 0, c_b: 0, n_b: 0 };
        let mut msprt = Msprt::new(c.tau2).expect("tau2 > 0");
        let (mut naive_rejected, mut msprt_rejected) = (false, false);
        for _ in 0..c.days {
            look.c_a += binomial(&mut rng, c.daily_per_arm, c.rate);
            look.c_b += binomial(&mut rng, c.daily_per_arm, c.rate);
            look.n_a += c.daily_per_arm;
            look.n_b += c.daily_per_arm;
            let z =
                two_proportion_ztest(look.c_a, look.n_a, look.c_b, look.n_b, Variance::Pooled).expect("valid counts");
            naive_rejected |= z.p < c.alpha;
            msprt_rejected |= msprt.update(&look).expect("valid counts") < c.alpha;
        }
        naive_hits += usize::from(naive_rejected);
        msprt_hits += usize::from(msprt_rejected);
    }
    AaResult { naive: naive_hits as f64 / c.experiments as f64, msprt: msprt_hits as f64 / c.experiments as f64 }
}
