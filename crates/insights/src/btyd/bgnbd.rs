//! BG/NBD: Fader, Hardie & Lee (2005), "'Counting your customers' the easy
//! way", Marketing Science 24(2). While alive a customer buys at Poisson rate
//! λ ~ Gamma(r, α); after each purchase they drop out with probability
//! p ~ Beta(a, b). Equation numbers are the paper's.
//!
//! - Log-likelihood (eq. 6), per customer, in log space:
//!   ln Γ(r+x) - ln Γ(r) + r ln α + ln B(a, b+x) - ln B(a, b)
//!   + ln[(α+T)^-(r+x) + 1{x>0} a/(b+x-1) (α+t_x)^-(r+x)].
//! - P(alive | x, t_x, T) = 1 / (1 + 1{x>0} a/(b+x-1) ((α+T)/(α+t_x))^(r+x))
//!   (Fader, Hardie & Lee 2008 note "Computing P(alive) using the BG/NBD
//!   model"; 1 when x = 0, as in `lifetimes`).
//! - E[Y(t) | x, t_x, T] (eq. 10) =
//!   (a+b+x-1)/(a-1) [1 - ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)] · P(alive),
//!   z = t/(α+T+t). Here Euler's transformation rewrites the bracket over
//!   (a-1) as [1-(1-z)^(a-1)]/(a-1) - (1-z)^(a-1) S(z), with S a series
//!   whose terms do not grow, which also removes the removable singularity
//!   at a = 1. For z > 0.8 the same quantity is computed as the integral
//!   E[(1 - (1 + p t/(α+T))^-(r+x)) / p] over p ~ Beta(a, b+x) by tanh-sinh
//!   quadrature (the expectation of (1 - e^(-λpt))/p over the posterior of
//!   λ and p given alive).
//! - E[X(t)] (eq. 9) is the same with x = 0, T = 0; P(X(t) = n) is eq. 8.

use serde::{Deserialize, Serialize};

use crate::error::InsightsError;
use crate::optim::minimize;
use crate::special::{ln_beta, ln_gamma, log_add_exp, tanh_sinh_ln};

use super::{Observation, exp_params, group};

/// BG/NBD parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale of the purchase-rate gamma (weeks).
    pub alpha: f64,
    /// Dropout beta a.
    pub a: f64,
    /// Dropout beta b.
    pub b: f64,
}

/// A maximum likelihood BG/NBD fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdFit {
    /// The parameters.
    #[serde(flatten)]
    pub params: BgNbd,
    /// The maximised log-likelihood.
    pub log_likelihood: f64,
}

/// Above this z the conditional expectation uses quadrature.
const SERIES_MAX_Z: f64 = 0.8;
/// When both Beta parameters (a, b + x) reach this, the dropout distribution
/// is bell-shaped and narrow enough for the general quadrature's nodes to
/// miss (1e-4 relative error at a = 15, 13% at a = 49): it is integrated
/// around its peak instead (1e-14 against the series).
const CONCENTRATED: f64 = 6.0;

impl BgNbd {
    /// Checked parameters (all finite and > 0).
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<BgNbd, InsightsError> {
        use crate::error::positive;
        Ok(BgNbd { r: positive("r", r)?, alpha: positive("alpha", alpha)?, a: positive("a", a)?, b: positive("b", b)? })
    }

    /// Checks that every parameter is finite and > 0 (the fields are public).
    pub fn validate(&self) -> Result<(), InsightsError> {
        BgNbd::new(self.r, self.alpha, self.a, self.b).map(|_| ())
    }

    /// Fits by maximum likelihood.
    pub fn fit(data: &[Observation]) -> Result<BgNbdFit, InsightsError> {
        let groups = group(data)?;
        let mean_t = groups.iter().map(|(o, n)| o.t * n).sum::<f64>() / data.len() as f64;
        let start = [0.0, mean_t.max(1e-3).ln(), 0.0, 0.0];
        let objective = |x: &[f64]| match exp_params::<4>(x) {
            Some([r, alpha, a, b]) => -log_likelihood_grouped(&BgNbd { r, alpha, a, b }, &groups),
            None => f64::INFINITY,
        };
        let m = minimize(objective, &start, 0.5);
        let [r, alpha, a, b] = exp_params::<4>(&m.x).ok_or(InsightsError::NoConvergence("the BG/NBD fit"))?;
        if !m.converged || !m.f.is_finite() {
            return Err(InsightsError::NoConvergence("the BG/NBD fit"));
        }
        Ok(BgNbdFit { params: BgNbd { r, alpha, a, b }, log_likelihood: -m.f })
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
        Ok(1.0 / (1.0 + self.dead_odds(o).exp()))
    }

    /// ln of the odds of having dropped out (−∞ when x = 0).
    fn dead_odds(&self, o: &Observation) -> f64 {
        if o.frequency == 0 {
            return f64::NEG_INFINITY;
        }
        let x = f64::from(o.frequency);
        self.a.ln() - (self.b + x - 1.0).ln() + (self.r + x) * ((self.alpha + o.t).ln() - (self.alpha + o.recency).ln())
    }

    /// Expected purchases in the next `t` weeks given the history `o`
    /// (eq. 10).
    pub fn conditional_expected_purchases(&self, t: f64, o: &Observation) -> Result<f64, InsightsError> {
        crate::error::non_negative("t", t)?;
        let alive = self.p_alive(o)?;
        Ok(self.expected_while_alive(t, f64::from(o.frequency), o.t) * alive)
    }

    /// Expected purchases in `t` weeks by a new customer (eq. 9).
    pub fn expected_purchases(&self, t: f64) -> Result<f64, InsightsError> {
        crate::error::non_negative("t", t)?;
        self.validate()?;
        Ok(self.expected_while_alive(t, 0.0, 0.0))
    }

    /// P(X(t) = n): probability a new customer makes n purchases in `t`
    /// weeks (eq. 8).
    pub fn probability_of_purchases(&self, n: u32, t: f64) -> Result<f64, InsightsError> {
        crate::error::non_negative("t", t)?;
        self.validate()?;
        let BgNbd { r, alpha, a, b } = *self;
        let nf = f64::from(n);
        let ln_q = (alpha / (alpha + t)).ln();
        let ln_w = (t / (alpha + t)).ln();
        let ln_first = ln_beta(a, b + nf) - ln_beta(a, b) + ln_gamma(r + nf) - ln_gamma(r) - ln_gamma(nf + 1.0)
            + r * ln_q
            + if n > 0 { nf * ln_w } else { 0.0 };
        let mut p = ln_first.exp();
        if n > 0 {
            // 1 - (α/(α+t))^r Σ_{j<n} Γ(r+j)/(Γ(r) j!) (t/(α+t))^j
            let mut ln_term = 0.0_f64;
            let mut sum = 1.0_f64;
            for j in 1..n {
                let jf = f64::from(j);
                ln_term += (r + jf - 1.0).ln() - jf.ln() + ln_w;
                sum += ln_term.exp();
            }
            let rest = 1.0 - (r * ln_q).exp() * sum;
            p += (ln_beta(a + 1.0, b + nf - 1.0) - ln_beta(a, b)).exp() * rest;
        }
        Ok(p.clamp(0.0, 1.0))
    }

    /// E[purchases in the next t weeks | alive at age `age`, x repeats].
    fn expected_while_alive(&self, t: f64, x: f64, age: f64) -> f64 {
        if t == 0.0 {
            return 0.0;
        }
        // A Beta(a, b + x) this narrow is a near point mass that neither the
        // series (too many terms) nor the quadrature's nodes (which miss the
        // peak) handle: integrate around it instead.
        if self.a.min(self.b + x) >= CONCENTRATED {
            return self.expected_concentrated(t, x, age);
        }
        let z = t / (self.alpha + age + t);
        if z <= SERIES_MAX_Z
            && let Some(v) = self.expected_series(t, x, age)
        {
            return v;
        }
        self.expected_quadrature(t, x, age)
    }

    /// The same expectation, E_p[(1 - ((α+age)/(α+age+p t))^(r+x)) / p] over
    /// p ~ Beta(a, b + x), by Simpson's rule on ±12 standard deviations
    /// around the mean, the density normalised on the same grid.
    fn expected_concentrated(&self, t: f64, x: f64, age: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let (pa, pb) = (a, b + x);
        let mean = pa / (pa + pb);
        let sd = (mean * (1.0 - mean) / (pa + pb + 1.0)).sqrt();
        let lo = (mean - 12.0 * sd).max(f64::MIN_POSITIVE);
        let hi = (mean + 12.0 * sd).min(1.0 - f64::EPSILON);
        const STEPS: usize = 2_000;
        let step = (hi - lo) / STEPS as f64;
        let ln_density = |p: f64| (pa - 1.0) * p.ln() + (pb - 1.0) * (-p).ln_1p();
        let peak = ln_density(mean.clamp(lo, hi));
        let n = r + x;
        let (mut mass, mut total) = (0.0, 0.0);
        for i in 0..=STEPS {
            let p = lo + step * i as f64;
            let simpson = if i == 0 || i == STEPS {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            let w = simpson * (ln_density(p) - peak).exp();
            let g = -(-n * (p * t / (alpha + age)).ln_1p()).exp_m1() / p;
            mass += w;
            total += w * g;
        }
        let v = total / mass;
        if v.is_finite() { v } else { 0.0 }
    }

    fn expected_series(&self, t: f64, x: f64, age: f64) -> Option<f64> {
        let BgNbd { r, alpha, a, b } = *self;
        let c = a + b + x - 1.0;
        let z = t / (alpha + age + t);
        let l = (alpha + age).ln() - (alpha + age + t).ln();
        let am1 = a - 1.0;
        let first = if am1.abs() < 1e-12 { -l } else { -(am1 * l).exp_m1() / am1 };
        let scale = (am1 * l).exp();
        let e = a + b - 1.0 - r;
        let mut term = e * z / c;
        let mut s = term;
        for n in 1..100_000 {
            let nf = f64::from(n);
            let ratio = (e + nf) * (a + nf - 1.0) * z / ((c + nf) * (nf + 1.0));
            term *= ratio;
            s += term;
            let q = ratio.abs().max(z);
            if q < 1.0 && (term * q / (1.0 - q)).abs() <= 1e-16 * (s.abs() + first / scale) {
                let v = c * (first - scale * s);
                return v.is_finite().then_some(v.max(0.0));
            }
        }
        None
    }

    fn expected_quadrature(&self, t: f64, x: f64, age: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let n = r + x;
        let ln_k = (t / (alpha + age)).ln();
        let norm = ln_beta(a, b + x);
        let ln_e = tanh_sinh_ln(|ln_p, ln_q| {
            let ln_pk = ln_p + ln_k;
            let ln_h = if ln_pk < -40.0 { n.ln() + ln_pk } else { (-(-n * ln_pk.exp().ln_1p()).exp_m1()).ln() };
            (a - 2.0) * ln_p + (b + x - 1.0) * ln_q + ln_h - norm
        });
        let v = ln_e.exp();
        if v.is_finite() { v } else { 0.0 }
    }

    #[cfg(test)]
    pub(crate) fn expected_both_ways(&self, t: f64, x: f64, age: f64) -> (Option<f64>, f64) {
        (self.expected_series(t, x, age), self.expected_quadrature(t, x, age))
    }
}

/// Σ count · ln L over grouped observations (sorted by frequency).
fn log_likelihood_grouped(p: &BgNbd, groups: &[(Observation, f64)]) -> f64 {
    let BgNbd { r, alpha, a, b } = *p;
    let ln_alpha = alpha.ln();
    let ln_a = a.ln();
    let base = ln_gamma(r) - r * ln_alpha + ln_beta(a, b);
    let mut current: Option<(u32, f64)> = None;
    let mut total = 0.0;
    for (o, count) in groups {
        let x = f64::from(o.frequency);
        let constant = match current {
            Some((f, c)) if f == o.frequency => c,
            _ => {
                let c = ln_gamma(r + x) + ln_beta(a, b + x) - base;
                current = Some((o.frequency, c));
                c
            }
        };
        let a3 = -(r + x) * (alpha + o.t).ln();
        let ll = if o.frequency > 0 {
            let a4 = ln_a - (b + x - 1.0).ln() - (r + x) * (alpha + o.recency).ln();
            log_add_exp(a3, a4)
        } else {
            a3
        };
        total += count * (constant + ll);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_and_quadrature_agree() {
        for p in [
            BgNbd::new(0.2425929, 4.413532, 0.792886, 2.425752).unwrap(),
            BgNbd::new(1.5, 0.3, 1.0, 0.4).unwrap(),
            BgNbd::new(0.05, 20.0, 3.0, 0.7).unwrap(),
        ] {
            for &(t, x, age) in &[(39.0, 2.0, 38.86), (5.0, 0.0, 0.0), (1.0, 26.0, 31.0), (20.0, 1.0, 10.0)] {
                let z = t / (p.alpha + age + t);
                let (series, quad) = p.expected_both_ways(t, x, age);
                if z <= 0.95 {
                    let s = series.unwrap();
                    assert!((s - quad).abs() <= 1e-10 * s.abs().max(1e-12), "{p:?} {t} {x} {age}: {s} {quad}");
                }
            }
        }
    }

    #[test]
    fn a_fit_without_dropout_spread_still_predicts_purchases() {
        // A narrow Beta (regular buyers, fitted a and b in the millions): the
        // answer tends to the fixed-p formula (1 - ((α+T)/(α+T+p t))^(r+x)) / p.
        let p = BgNbd::new(4.9823, 45.6008, 1_464_821.9, 8_481_223.9).unwrap();
        let (t, x, age) = (30.0 / 7.0, 5.0, 38.14);
        let p0 = p.a / (p.a + p.b + x);
        let fixed = (1.0 - ((p.alpha + age) / (p.alpha + age + p0 * t)).powf(p.r + x)) / p0;
        let v = p.expected_while_alive(t, x, age);
        assert!((v - fixed).abs() < 1e-4 * fixed, "{v} vs {fixed}");
        assert!(v > 0.3, "{v}");
        // Where the series converges, the peak integration agrees with it (the
        // general quadrature's 121 nodes miss so narrow a peak).
        for q in [
            BgNbd::new(0.8, 6.0, 300.0, 1_200.0).unwrap(),
            BgNbd::new(0.8, 6.0, 6.0, 20.0).unwrap(),
            BgNbd::new(2.0, 20.0, 49.0, 200.0).unwrap(),
        ] {
            for &(t, x, age) in &[(4.0, 2.0, 30.0), (39.0, 0.0, 10.0), (1.0, 12.0, 50.0)] {
                let c = q.expected_concentrated(t, x, age);
                let series = q.expected_series(t, x, age).unwrap();
                assert!((c - series).abs() < 1e-8 * series, "{q:?} {t} {x} {age}: {c} vs {series}");
            }
        }
    }

    #[test]
    fn purchase_probabilities_sum_to_one() {
        let p = BgNbd::new(0.24, 4.41, 0.79, 2.43).unwrap();
        let total: f64 = (0..400).map(|n| p.probability_of_purchases(n, 39.0).unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let mean: f64 = (0..400).map(|n| f64::from(n) * p.probability_of_purchases(n, 39.0).unwrap()).sum();
        assert!((mean - p.expected_purchases(39.0).unwrap()).abs() < 1e-8);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(BgNbd::new(0.0, 1.0, 1.0, 1.0).is_err());
        assert!(BgNbd::fit(&[]).is_err());
        let bad = Observation { frequency: 1, recency: 5.0, t: 4.0 };
        assert!(BgNbd::fit(&[bad]).is_err());
    }
}
