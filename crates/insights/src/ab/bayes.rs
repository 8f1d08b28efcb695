//! Bayesian probability that one conversion rate beats another: with
//! Beta(1, 1) priors the posteriors are Beta(1 + c, 1 + n - c), and for
//! integer α_B
//!
//! P(p_B > p_A) = Σ_{i=0}^{α_B-1} B(α_A + i, β_A + β_B) / ((β_B + i) B(1 + i, β_B) B(α_A, β_A))
//!
//! (Evan Miller, "Formulas for Bayesian A/B testing", 2015; Cook 2005,
//! "Exact calculation of beta inequalities"). The sum is evaluated in log
//! space with the term ratio
//! (α_A + i)(β_B + i) / ((α_A + β_A + β_B + i)(1 + i)),
//! over whichever arm has fewer conversions (using
//! P(p_B > p_A) = 1 - P(p_A > p_B)), so it costs min(c_A, c_B) + 1 terms. Past
//! ten million terms the posteriors are normal to well within display
//! precision and their normal approximation is used.

use crate::error::{InsightsError, counts};
use crate::special::{ln_beta, log_add_exp, norm_cdf};

const MAX_TERMS: u64 = 10_000_000;

/// P(rate B > rate A) under independent Beta(1, 1) priors, given `c_a`
/// conversions of `n_a` in A and `c_b` of `n_b` in B.
pub fn prob_b_beats_a(c_a: u64, n_a: u64, c_b: u64, n_b: u64) -> Result<f64, InsightsError> {
    counts("group A", c_a, n_a)?;
    counts("group B", c_b, n_b)?;
    let (aa, ba) = (1.0 + c_a as f64, 1.0 + (n_a - c_a) as f64);
    let (ab, bb) = (1.0 + c_b as f64, 1.0 + (n_b - c_b) as f64);
    let p = if c_a.min(c_b) >= MAX_TERMS {
        normal_approximation(aa, ba, ab, bb)
    } else if c_b <= c_a {
        miller_sum(aa, ba, c_b + 1, bb)
    } else {
        1.0 - miller_sum(ab, bb, c_a + 1, ba)
    };
    Ok(p.clamp(0.0, 1.0))
}

/// Σ_{i < terms} of the closed form for P(X_B > X_A), X_A ~ Beta(aa, ba),
/// X_B ~ Beta(terms, bb).
fn miller_sum(aa: f64, ba: f64, terms: u64, bb: f64) -> f64 {
    let mut ln_term = ln_beta(aa, ba + bb) - ln_beta(aa, ba);
    let mut ln_total = ln_term;
    for i in 1..terms {
        let k = (i - 1) as f64;
        ln_term += ((aa + k) * (bb + k) / ((aa + ba + bb + k) * (1.0 + k))).ln();
        ln_total = log_add_exp(ln_total, ln_term);
    }
    ln_total.exp()
}

fn normal_approximation(aa: f64, ba: f64, ab: f64, bb: f64) -> f64 {
    let moments = |a: f64, b: f64| {
        let m = a / (a + b);
        (m, m * (1.0 - m) / (a + b + 1.0))
    };
    let (ma, va) = moments(aa, ba);
    let (mb, vb) = moments(ab, bb);
    norm_cdf((mb - ma) / (va + vb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_complementary() {
        let p = prob_b_beats_a(3, 10, 3, 10).unwrap();
        assert!((p - 0.5).abs() < 1e-12);
        let ab = prob_b_beats_a(12, 40, 20, 45).unwrap();
        let ba = prob_b_beats_a(20, 45, 12, 40).unwrap();
        assert!((ab + ba - 1.0).abs() < 1e-12);
        // both empty: Beta(1,1) against Beta(1,1)
        assert!((prob_b_beats_a(0, 1, 0, 1).unwrap() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn large_counts_agree_with_the_normal_approximation() {
        let exact = prob_b_beats_a(50_000, 1_000_000, 50_400, 1_000_000).unwrap();
        let approx = normal_approximation(50_001.0, 950_001.0, 50_401.0, 949_601.0);
        assert!((exact - approx).abs() < 1e-3, "{exact} {approx}");
    }
}
