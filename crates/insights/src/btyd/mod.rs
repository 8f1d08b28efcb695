//! "Buy 'til you die" models of repeat purchasing in non-contractual
//! settings, fitted by maximum likelihood on each customer's (x, t_x, T):
//!
//! - [`BgNbdFit`]: BG/NBD, Fader, Hardie & Lee (2005), "'Counting your
//!   customers' the easy way: an alternative to the Pareto/NBD model",
//!   Marketing Science 24(2), 275-284. Probability alive, expected purchases.
//! - [`ParetoNbdFit`]: Pareto/NBD, Schmittlein, Morrison & Colombo (1987),
//!   Management Science 33; likelihood and predictions as in Fader & Hardie
//!   (2005), "A note on deriving the Pareto/NBD model and related
//!   expressions".
//! - [`GammaGammaFit`]: Gamma-Gamma spend model, Fader, Hardie & Lee (2005),
//!   "RFM and CLV: using iso-value curves for customer base analysis", JMR 42
//!   (and Fader & Hardie's note "The Gamma-Gamma model of monetary value").
//! - [`clv`]: expected purchases × expected spend, discounted monthly.
//! - [`summarize`]: the input preparation from transactions, and
//!   [`PurchaseLog`]: the purchase histories from the log.
//!
//! Time is in weeks. The fits maximise the log-likelihood over the
//! log-parameters with Nelder-Mead and restarts (`optim`), on customers
//! grouped by identical (x, t_x, T).

mod bgnbd;
mod gamma_gamma;
mod pareto;
mod prepare;
mod purchases;

use serde::{Deserialize, Serialize};

use crate::error::InsightsError;

pub use bgnbd::{BgNbd, BgNbdFit};
pub use gamma_gamma::{GammaGamma, GammaGammaFit, WEEKS_PER_MONTH, clv};
pub use pareto::{ParetoNbd, ParetoNbdFit};
pub use prepare::{CustomerSummary, HoldoutRow, Transaction, calibration_and_holdout, day_number, summarize};
pub use purchases::{PurchaseHistory, PurchaseLog};

/// One customer's repeat-purchase history at the calibration end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// x: repeat purchases (purchase days after the first).
    pub frequency: u32,
    /// t_x: time of the last purchase, from the first, in weeks.
    pub recency: f64,
    /// T: time from the first purchase to the calibration end, in weeks.
    #[serde(rename = "T")]
    pub t: f64,
}

impl Observation {
    /// Checks 0 <= t_x <= T, both finite.
    pub fn validate(&self) -> Result<(), InsightsError> {
        crate::error::non_negative("recency", self.recency)?;
        crate::error::non_negative("T", self.t)?;
        if self.recency > self.t {
            return Err(InsightsError::InvalidParameter {
                name: "recency",
                value: self.recency,
                expected: "at most T",
            });
        }
        Ok(())
    }
}

/// Validates and groups identical observations, sorted by frequency, as
/// (observation, count).
pub(crate) fn group(data: &[Observation]) -> Result<Vec<(Observation, f64)>, InsightsError> {
    if data.is_empty() {
        return Err(InsightsError::Empty { what: "the customer data".into() });
    }
    let mut sorted = data.to_vec();
    for o in &sorted {
        o.validate()?;
    }
    sorted
        .sort_by(|a, b| a.frequency.cmp(&b.frequency).then(a.recency.total_cmp(&b.recency)).then(a.t.total_cmp(&b.t)));
    let mut out: Vec<(Observation, f64)> = Vec::new();
    for o in sorted {
        match out.last_mut() {
            Some((last, n)) if *last == o => *n += 1.0,
            _ => out.push((o, 1.0)),
        }
    }
    Ok(out)
}

/// Maps unconstrained log-parameters to parameters, refusing overflow.
pub(crate) fn exp_params<const N: usize>(x: &[f64]) -> Option<[f64; N]> {
    let mut out = [0.0; N];
    for (o, v) in out.iter_mut().zip(x) {
        if !(-40.0..=40.0).contains(v) {
            return None;
        }
        *o = v.exp();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_data_neither_panics_nor_hangs() {
        let none = Observation { frequency: 0, recency: 0.0, t: 10.0 };
        let busy = Observation { frequency: 50, recency: 10.0, t: 10.0 };
        for data in [vec![none; 5], vec![busy; 3], vec![none, busy]] {
            // Boundary maxima may be reported as no convergence; either way
            // the results are finite.
            if let Ok(fit) = BgNbd::fit(&data) {
                assert!(fit.log_likelihood.is_finite());
                let e = fit.params.conditional_expected_purchases(13.0, &data[0]);
                assert!(e.is_err() || e.is_ok_and(f64::is_finite));
            }
            if let Ok(fit) = ParetoNbd::fit(&data) {
                assert!(fit.log_likelihood.is_finite());
            }
        }
        let _ = GammaGamma::fit(&[(1, 10.0)]);
        let bad = BgNbd { r: -1.0, alpha: 1.0, a: 1.0, b: 1.0 };
        assert!(bad.p_alive(&none).is_err());
    }
}
