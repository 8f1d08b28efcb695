//! Always-valid p-values for watching a two-proportion experiment while it
//! runs: the mixture sequential probability ratio test (mSPRT) of Johari,
//! Koomen, Pekelis & Walsh, "Always valid inference: continuous monitoring of
//! A/B tests", Operations Research 70 (2022) (the method behind Optimizely's
//! Stats Engine; Robbins 1970 for the mixture martingale).
//!
//! With θ̂ = p̂_B - p̂_A the observed difference, its variance
//! V = p̂_A(1 - p̂_A)/n_A + p̂_B(1 - p̂_B)/n_B, and a normal mixing distribution
//! N(0, τ²) over the true difference, the mixture likelihood ratio is
//!
//! Λ = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²)))
//!
//! and the always-valid p-value after looks 1..n is min(1, min_k 1/Λ_k): under
//! the null, P(it ever falls below α) ≤ α however often it is looked at
//! (asymptotically, as the normal approximation of the rates takes hold).
//! A single look's 1/Λ is also a valid p-value, only less sharp than the
//! running minimum. When V = 0 (no conversions yet, or all converted) there
//! is no information and Λ = 1.
//!
//! τ² is fixed before the experiment: the variance of the differences one
//! expects to see. [`tau2_for_lift`] derives it from a baseline rate and a
//! typical relative lift (by default Tidings uses 10% of the baseline).

use serde::Serialize;

use crate::error::{InsightsError, counts, positive};

/// Cumulative counts at one look. A is the control, B the treatment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Look {
    /// Conversions in A.
    pub c_a: u64,
    /// Exposed in A.
    pub n_a: u64,
    /// Conversions in B.
    pub c_b: u64,
    /// Exposed in B.
    pub n_b: u64,
}

/// τ² for a normal mixing distribution whose standard deviation is
/// `relative_lift` times the `baseline` rate.
pub fn tau2_for_lift(baseline: f64, relative_lift: f64) -> Result<f64, InsightsError> {
    positive("baseline", baseline)?;
    positive("relative lift", relative_lift)?;
    Ok((baseline * relative_lift).powi(2))
}

/// ln Λ, the log mixture likelihood ratio at one look.
pub fn msprt_log_likelihood_ratio(look: &Look, tau2: f64) -> Result<f64, InsightsError> {
    counts("group A", look.c_a, look.n_a)?;
    counts("group B", look.c_b, look.n_b)?;
    positive("tau2", tau2)?;
    let (na, nb) = (look.n_a as f64, look.n_b as f64);
    let (pa, pb) = (look.c_a as f64 / na, look.c_b as f64 / nb);
    let v = pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb;
    if v <= 0.0 {
        return Ok(0.0);
    }
    let theta = pb - pa;
    Ok(0.5 * (v / (v + tau2)).ln() + theta * theta * tau2 / (2.0 * v * (v + tau2)))
}

/// The p-value of one look on its own: min(1, 1/Λ).
pub fn msprt_p_value(look: &Look, tau2: f64) -> Result<f64, InsightsError> {
    Ok((-msprt_log_likelihood_ratio(look, tau2)?).exp().min(1.0))
}

/// The always-valid p-value after each of a sequence of looks (cumulative
/// counts): the running minimum of [`msprt_p_value`].
pub fn msprt_p_values(looks: &[Look], tau2: f64) -> Result<Vec<f64>, InsightsError> {
    let mut state = Msprt::new(tau2)?;
    looks.iter().map(|look| state.update(look)).collect()
}

/// A running mSPRT: feed it each look as it happens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Msprt {
    /// Mixing variance.
    pub tau2: f64,
    /// The always-valid p-value so far (1 before any look).
    pub p: f64,
}

impl Msprt {
    /// A test with mixing variance `tau2` and no looks yet.
    pub fn new(tau2: f64) -> Result<Msprt, InsightsError> {
        positive("tau2", tau2)?;
        Ok(Msprt { tau2, p: 1.0 })
    }

    /// Takes a look at the cumulative counts and returns the always-valid
    /// p-value so far.
    pub fn update(&mut self, look: &Look) -> Result<f64, InsightsError> {
        self.p = self.p.min(msprt_p_value(look, self.tau2)?);
        Ok(self.p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_minimum_and_degenerate_looks() {
        let looks = [
            Look { c_a: 0, n_a: 10, c_b: 0, n_b: 10 },
            Look { c_a: 10, n_a: 1000, c_b: 40, n_b: 1000 },
            Look { c_a: 20, n_a: 2000, c_b: 21, n_b: 2000 },
        ];
        let p = msprt_p_values(&looks, 1e-4).unwrap();
        assert_eq!(p[0], 1.0);
        assert!(p[1] < 0.01);
        assert_eq!(p[2], p[1]);
        assert!(msprt_p_value(&looks[2], 1e-4).unwrap() > p[1]);
        assert!(Msprt::new(0.0).is_err());
    }
}
