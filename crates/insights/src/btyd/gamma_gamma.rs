//! Gamma-Gamma model of spend per transaction: Fader, Hardie & Lee (2005),
//! "RFM and CLV: using iso-value curves for customer base analysis", Journal
//! of Marketing Research 42, and Fader & Hardie (2013), "The Gamma-Gamma
//! model of monetary value". A customer's transaction values are Gamma(p, ν)
//! with ν ~ Gamma(q, γ); fitted on repeat buyers (x > 0) from x and their mean
//! repeat spend m:
//!
//! ln L = ln Γ(px+q) - ln Γ(px) - ln Γ(q) + q ln γ + (px-1) ln m + px ln x
//!        - (px+q) ln(γ + m x)
//!
//! E[M | x, m] = p (γ + m x) / (p x + q - 1), which for x = 0 is the
//! population mean p γ / (q - 1).
//!
//! Lifetime value ([`clv`]) is discounted cash flow over whole months, as
//! `lifetimes`' `customer_lifetime_value` (`freq="W"`): with
//! W = [`WEEKS_PER_MONTH`] and monthly discount rate d,
//!
//! CLV = Σ_{k=1}^{months} E[M] (E[Y(kW)] - E[Y((k-1)W)]) / (1 + d)^k.

use serde::{Deserialize, Serialize};

use crate::error::{InsightsError, non_negative, positive};
use crate::optim::minimize;
use crate::special::ln_gamma;

use super::{BgNbd, Observation, exp_params};

/// Weeks per month in the lifetime value sum (as `lifetimes`).
pub const WEEKS_PER_MONTH: f64 = 4.345;

/// Gamma-Gamma parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of each transaction's gamma.
    pub p: f64,
    /// Shape of the gamma over customers' scale.
    pub q: f64,
    /// Scale of the gamma over customers' scale.
    pub gamma: f64,
}

/// A maximum likelihood Gamma-Gamma fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaFit {
    /// The parameters.
    #[serde(flatten)]
    pub params: GammaGamma,
    /// The maximised log-likelihood.
    pub log_likelihood: f64,
}

impl GammaGamma {
    /// Checked parameters (all finite and > 0).
    pub fn new(p: f64, q: f64, gamma: f64) -> Result<GammaGamma, InsightsError> {
        Ok(GammaGamma { p: positive("p", p)?, q: positive("q", q)?, gamma: positive("gamma", gamma)? })
    }

    /// Checks that every parameter is finite and > 0 (the fields are public).
    pub fn validate(&self) -> Result<(), InsightsError> {
        GammaGamma::new(self.p, self.q, self.gamma).map(|_| ())
    }

    /// Fits on (frequency, mean repeat spend) pairs. Pairs with frequency 0
    /// are skipped; repeat buyers need a positive finite spend.
    pub fn fit(data: &[(u32, f64)]) -> Result<GammaGammaFit, InsightsError> {
        let mut repeat: Vec<(f64, f64)> = Vec::new();
        for &(x, m) in data.iter().filter(|(x, _)| *x > 0) {
            positive("monetary value", m)?;
            repeat.push((f64::from(x), m));
        }
        if repeat.is_empty() {
            return Err(InsightsError::Empty { what: "the repeat buyers".into() });
        }
        let mean_m = repeat.iter().map(|(_, m)| m).sum::<f64>() / repeat.len() as f64;
        let objective = |v: &[f64]| match exp_params::<3>(v) {
            Some([p, q, gamma]) => -log_likelihood_of(&GammaGamma { p, q, gamma }, &repeat),
            None => f64::INFINITY,
        };
        let m = minimize(objective, &[0.0, 0.0, mean_m.ln()], 0.5);
        let [p, q, gamma] = exp_params::<3>(&m.x).ok_or(InsightsError::NoConvergence("the Gamma-Gamma fit"))?;
        if !m.converged || !m.f.is_finite() {
            return Err(InsightsError::NoConvergence("the Gamma-Gamma fit"));
        }
        Ok(GammaGammaFit { params: GammaGamma { p, q, gamma }, log_likelihood: -m.f })
    }

    /// Log-likelihood of (frequency, mean repeat spend) pairs, repeat buyers
    /// only.
    pub fn log_likelihood(&self, data: &[(u32, f64)]) -> Result<f64, InsightsError> {
        self.validate()?;
        let mut repeat = Vec::new();
        for &(x, m) in data.iter().filter(|(x, _)| *x > 0) {
            positive("monetary value", m)?;
            repeat.push((f64::from(x), m));
        }
        Ok(log_likelihood_of(self, &repeat))
    }

    /// E[spend per transaction | x repeats averaging m]. Undefined when
    /// p x + q <= 1 (the posterior mean is infinite).
    pub fn conditional_expected_spend(&self, frequency: u32, monetary: f64) -> Result<f64, InsightsError> {
        self.validate()?;
        non_negative("monetary value", monetary)?;
        let x = f64::from(frequency);
        let denominator = self.p * x + self.q - 1.0;
        if denominator <= 0.0 {
            return Err(InsightsError::Undefined("the expected spend with p x + q <= 1"));
        }
        let m = if frequency == 0 { 0.0 } else { monetary };
        Ok(self.p * (self.gamma + m * x) / denominator)
    }
}

fn log_likelihood_of(g: &GammaGamma, repeat: &[(f64, f64)]) -> f64 {
    let GammaGamma { p, q, gamma } = *g;
    let constant = -ln_gamma(q) + q * gamma.ln();
    repeat
        .iter()
        .map(|&(x, m)| {
            let px = p * x;
            ln_gamma(px + q) - ln_gamma(px) + constant + (px - 1.0) * m.ln() + px * x.ln()
                - (px + q) * (gamma + m * x).ln()
        })
        .sum()
}

/// Lifetime value over `months` whole months at monthly discount rate
/// `monthly_discount`, of a customer with history `o` and expected spend per
/// purchase `expected_spend` (from [`GammaGamma::conditional_expected_spend`]).
pub fn clv(
    model: &BgNbd,
    o: &Observation,
    expected_spend: f64,
    months: u32,
    monthly_discount: f64,
) -> Result<f64, InsightsError> {
    non_negative("expected spend", expected_spend)?;
    if !monthly_discount.is_finite() || monthly_discount <= -1.0 {
        return Err(InsightsError::InvalidParameter {
            name: "monthly discount",
            value: monthly_discount,
            expected: "finite and > -1",
        });
    }
    let mut previous = 0.0;
    let mut total = 0.0;
    for k in 1..=months {
        let cumulative = model.conditional_expected_purchases(f64::from(k) * WEEKS_PER_MONTH, o)?;
        total += expected_spend * (cumulative - previous) / (1.0 + monthly_discount).powi(k as i32);
        previous = cumulative;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_and_clv_edge_cases() {
        let g = GammaGamma::new(6.25, 3.74, 15.44).unwrap();
        let population = g.conditional_expected_spend(0, 123.0).unwrap();
        assert!((population - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert!(GammaGamma::new(1.0, 0.5, 1.0).unwrap().conditional_expected_spend(0, 0.0).is_err());
        assert!(GammaGamma::fit(&[(0, 10.0)]).is_err());
        assert!(GammaGamma::fit(&[(2, -1.0)]).is_err());
        let bg = BgNbd::new(0.24, 4.41, 0.79, 2.43).unwrap();
        let o = Observation { frequency: 2, recency: 30.0, t: 38.0 };
        assert_eq!(clv(&bg, &o, 20.0, 0, 0.01).unwrap(), 0.0);
        let undiscounted = clv(&bg, &o, 20.0, 12, 0.0).unwrap();
        let direct = 20.0 * bg.conditional_expected_purchases(12.0 * WEEKS_PER_MONTH, &o).unwrap();
        assert!((undiscounted - direct).abs() < 1e-10);
        assert!(clv(&bg, &o, 20.0, 12, 0.01).unwrap() < undiscounted);
    }
}
