//! Pareto/NBD: Schmittlein, Morrison & Colombo (1987), "Counting your
//! customers: who are they and what will they do next?", Management Science
//! 33. Purchases at Poisson rate λ ~ Gamma(r, α) until an exponential
//! lifetime with rate μ ~ Gamma(s, β). Formulas from Fader & Hardie (2005),
//! "A note on deriving the Pareto/NBD model and related expressions".
//!
//! Likelihood (their eq. 19, with k = r + s + x):
//!
//! L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s/k · A0 ],
//!
//! A0 = 2F1(k, s+1; k+1; (α-β)/(α+t_x)) / (α+t_x)^k - (same at T) when α >= β,
//! and with (r+x, β) in place of (s+1, α) when α < β. The second term equals
//! s ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ (integrate the individual-level
//! dropout density against the gamma mixtures). The series is used when the
//! hypergeometric argument is at most 0.8; beyond, that integral is computed
//! by tanh-sinh quadrature in u = ln(min(α, β) + τ), so the fit never meets a
//! slowly converging 2F1. Everything is in log space.
//!
//! P(alive) = 1 / (1 + s/k · A0 · (α+T)^(r+x) (β+T)^s) and
//! E[Y(t) | x, t_x, T] = (r+x)(β+T) / ((α+T)(s-1)) · [1 - ((β+T)/(β+T+t))^(s-1)] · P(alive)
//! (its s -> 1 limit is taken without cancellation).

use serde::{Deserialize, Serialize};

use crate::error::{InsightsError, non_negative, positive};
use crate::optim::minimize;
use crate::special::{hyp2f1_series, ln_gamma, log_add_exp, tanh_sinh_ln};

use super::{Observation, exp_params, group};

/// Pareto/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale of the purchase-rate gamma (weeks).
    pub alpha: f64,
    /// Shape of the dropout-rate gamma.
    pub s: f64,
    /// Scale of the dropout-rate gamma (weeks).
    pub beta: f64,
}

/// A maximum likelihood Pareto/NBD fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdFit {
    /// The parameters.
    #[serde(flatten)]
    pub params: ParetoNbd,
    /// The maximised log-likelihood.
    pub log_likelihood: f64,
}

const SERIES_MAX_Z: f64 = 0.8;

impl ParetoNbd {
    /// Checked parameters (all finite and > 0).
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<ParetoNbd, InsightsError> {
        Ok(ParetoNbd {
            r: positive("r", r)?,
            alpha: positive("alpha", alpha)?,
            s: positive("s", s)?,
            beta: positive("beta", beta)?,
        })
    }

    /// Checks that every parameter is finite and > 0 (the fields are public).
    pub fn validate(&self) -> Result<(), InsightsError> {
        ParetoNbd::new(self.r, self.alpha, self.s, self.beta).map(|_| ())
    }

    /// Fits by maximum likelihood.
    pub fn fit(data: &[Observation]) -> Result<ParetoNbdFit, InsightsError> {
        let groups = group(data)?;
        let mean_t = groups.iter().map(|(o, n)| o.t * n).sum::<f64>() / data.len() as f64;
        let ln_t = mean_t.max(1e-3).ln();
        let objective = |x: &[f64]| match exp_params::<4>(x) {
            Some([r, alpha, s, beta]) => -log_likelihood_grouped(&ParetoNbd { r, alpha, s, beta }, &groups),
            None => f64::INFINITY,
        };
        let m = minimize(objective, &[0.0, ln_t, 0.0, ln_t], 0.5);
        let [r, alpha, s, beta] = exp_params::<4>(&m.x).ok_or(InsightsError::NoConvergence("the Pareto/NBD fit"))?;
        if !m.converged || !m.f.is_finite() {
            return Err(InsightsError::NoConvergence("the Pareto/NBD fit"));
        }
        Ok(ParetoNbdFit { params: ParetoNbd { r, alpha, s, beta }, log_likelihood: -m.f })
    }

    /// The log-likelihood of `data` (summed over customers).
    pub fn log_likelihood(&self, data: &[Observation]) -> Result<f64, InsightsError> {
        self.validate()?;
        Ok(log_likelihood_grouped(self, &group(data)?))
    }

    /// Probability the customer is still alive at T.
    pub fn p_alive(&self, o: &Observation) -> Result<f64, InsightsError> {
        self.validate()?;
        o.validate()?;
        let x = f64::from(o.frequency);
        let l1 = -(self.r + x) * (self.alpha + o.t).ln() - self.s * (self.beta + o.t).ln();
        let odds = (self.ln_dropout_term(o) - l1).exp();
        Ok(1.0 / (1.0 + odds))
    }

    /// Expected purchases in the next `t` weeks given the history `o`.
    pub fn conditional_expected_purchases(&self, t: f64, o: &Observation) -> Result<f64, InsightsError> {
        non_negative("t", t)?;
        let x = f64::from(o.frequency);
        let alive = self.p_alive(o)?;
        Ok((self.r + x) / (self.alpha + o.t) * self.lifetime_weeks(t, o.t) * alive)
    }

    /// Expected purchases in `t` weeks by a new customer.
    pub fn expected_purchases(&self, t: f64) -> Result<f64, InsightsError> {
        non_negative("t", t)?;
        self.validate()?;
        Ok(self.r / self.alpha * self.lifetime_weeks(t, 0.0))
    }

    /// (β+T)/(s-1) · [1 - ((β+T)/(β+T+t))^(s-1)]: expected alive time in the
    /// next t weeks given alive at T.
    fn lifetime_weeks(&self, t: f64, age: f64) -> f64 {
        let l = (t / (self.beta + age)).ln_1p();
        let sm1 = self.s - 1.0;
        let g = if sm1.abs() < 1e-12 { l } else { -(-sm1 * l).exp_m1() / sm1 };
        (self.beta + age) * g
    }

    /// ln of s ∫_{t_x}^T (α+τ)^-(r+x) (β+τ)^-(s+1) dτ.
    fn ln_dropout_term(&self, o: &Observation) -> f64 {
        if o.t <= o.recency {
            return f64::NEG_INFINITY;
        }
        self.s.ln() + self.ln_integral(f64::from(o.frequency), o.recency, o.t)
    }

    fn ln_integral(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let k = r + s + x;
        let (big, b2) = if alpha >= beta { (alpha, s + 1.0) } else { (beta, r + x) };
        let delta = (alpha - beta).abs();
        let z_tx = delta / (big + t_x);
        if z_tx <= SERIES_MAX_Z {
            let ln_f = |tau: f64| {
                hyp2f1_series(k, b2, k + 1.0, delta / (big + tau), 10_000).map(|f| f.ln() - k * (big + tau).ln())
            };
            if let (Some(f_tx), Some(f_t)) = (ln_f(t_x), ln_f(t)) {
                // A0 = F(t_x) - F(T); the integral is A0 / k
                return f_tx + (-(f_t - f_tx).exp_m1()).ln() - k.ln();
            }
        }
        self.ln_integral_quadrature(x, t_x, t)
    }

    fn ln_integral_quadrature(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *self;
        let m = alpha.min(beta);
        let (u0, u1) = ((m + t_x).ln(), (m + t).ln());
        let width = u1 - u0;
        let ln_width = width.ln();
        tanh_sinh_ln(|ln_p, ln_q| {
            let u = if ln_p < ln_q { u0 + ln_p.exp() * width } else { u1 - ln_q.exp() * width };
            let ln_a = u + ((alpha - m) * (-u).exp()).ln_1p();
            let ln_b = u + ((beta - m) * (-u).exp()).ln_1p();
            -(r + x) * ln_a - (s + 1.0) * ln_b + u + ln_width
        })
    }

    #[cfg(test)]
    pub(crate) fn integral_both_ways(&self, x: f64, t_x: f64, t: f64) -> (f64, f64) {
        (self.ln_integral(x, t_x, t), self.ln_integral_quadrature(x, t_x, t))
    }
}

/// Σ count · ln L over grouped observations (sorted by frequency).
fn log_likelihood_grouped(p: &ParetoNbd, groups: &[(Observation, f64)]) -> f64 {
    let ParetoNbd { r, alpha, s, beta } = *p;
    let base = -ln_gamma(r) + r * alpha.ln() + s * beta.ln();
    let mut current: Option<(u32, f64)> = None;
    let mut total = 0.0;
    for (o, count) in groups {
        let x = f64::from(o.frequency);
        let constant = match current {
            Some((f, c)) if f == o.frequency => c,
            _ => {
                let c = ln_gamma(r + x) + base;
                current = Some((o.frequency, c));
                c
            }
        };
        let l1 = -(r + x) * (alpha + o.t).ln() - s * (beta + o.t).ln();
        total += count * (constant + log_add_exp(l1, p.ln_dropout_term(o)));
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_and_quadrature_agree() {
        for p in [
            ParetoNbd::new(0.5533, 10.578, 0.6063, 11.669).unwrap(),
            ParetoNbd::new(2.0, 30.0, 0.4, 1.5).unwrap(),
            ParetoNbd::new(0.3, 0.8, 1.7, 9.0).unwrap(),
        ] {
            for &(x, t_x, t) in &[(0.0, 0.0, 38.86), (2.0, 30.43, 38.86), (26.0, 30.86, 31.0), (1.0, 0.5, 12.0)] {
                let (series, quad) = p.integral_both_ways(x, t_x, t);
                assert!((series - quad).abs() < 1e-10, "{p:?} {x} {t_x} {t}: {series} {quad}");
            }
        }
    }

    #[test]
    fn predictions_are_sane() {
        let p = ParetoNbd::new(0.5533, 10.578, 0.6063, 11.669).unwrap();
        let new = Observation { frequency: 0, recency: 0.0, t: 0.0 };
        assert_eq!(p.p_alive(&new).unwrap(), 1.0);
        let e0 = p.conditional_expected_purchases(39.0, &new).unwrap();
        assert!((e0 - p.expected_purchases(39.0).unwrap()).abs() < 1e-12);
        let gone = Observation { frequency: 3, recency: 2.0, t: 38.0 };
        let a = p.p_alive(&gone).unwrap();
        assert!(a > 0.0 && a < 0.5, "{a}");
        let s1 = ParetoNbd::new(0.5, 10.0, 1.0, 10.0).unwrap();
        let near = ParetoNbd::new(0.5, 10.0, 1.0 + 1e-9, 10.0).unwrap();
        let d = s1.expected_purchases(20.0).unwrap() - near.expected_purchases(20.0).unwrap();
        assert!(d.abs() < 1e-8);
    }
}
