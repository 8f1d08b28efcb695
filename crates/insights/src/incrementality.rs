//! Incrementality: what a journey or campaign added over a randomly held-out
//! group that received nothing.
//!
//! - Difference of rates, treated - holdout, with Newcombe's hybrid score
//!   interval (Newcombe 1998, "Interval estimation for the difference
//!   between independent proportions", Statistics in Medicine 17, method
//!   10), built from the two Wilson intervals: it stays inside [-1, 1] and
//!   behaves with few conversions, where the Wald interval does not.
//! - Ratio of rates (relative lift + 1) with the log-ratio delta-method
//!   interval (Katz, Baptista, Azen & Pike 1978, Biometrics 34):
//!   exp(ln(p_t/p_h) ± z sqrt(1/c_t - 1/n_t + 1/c_h - 1/n_h)); undefined
//!   (`null`) when either group has no conversions.
//! - Incremental conversions = difference × treated profiles.
//! - The pooled two-proportion z-test of the difference.

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::ab::{CiMethod, Variance, proportion_ci, two_proportion_ztest};
use crate::error::{InsightsError, counts, open_unit};
use crate::special::norm_isf;

/// Two rates compared: a treated group (or the profiles with a signal)
/// against its holdout (or the profiles without). [`incrementality`]
/// computes it; outcome reports and signal analyses adjust its p-values.
///
/// Each of the three reports has published its own subset of these fields
/// (and outcome reports their own name for the incremental count), so the
/// serialized form follows the report the comparison was made for; see
/// [`RateComparison::for_outcomes`] and [`RateComparison::for_signals`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateComparison {
    /// Treated conversion rate.
    pub treated_rate: f64,
    /// Holdout conversion rate.
    pub holdout_rate: f64,
    /// treated_rate - holdout_rate.
    pub diff: f64,
    /// Newcombe interval of the difference, low.
    pub diff_ci_low: f64,
    /// Newcombe interval of the difference, high.
    pub diff_ci_high: f64,
    /// treated_rate / holdout_rate (relative lift + 1); null when either
    /// group has no conversions.
    pub ratio: Option<f64>,
    /// Katz log interval, low.
    pub ratio_ci_low: Option<f64>,
    /// Katz log interval, high.
    pub ratio_ci_high: Option<f64>,
    /// diff × treated profiles: conversions the treatment caused.
    pub incremental_conversions: f64,
    /// Pooled z, positive when the treated rate is higher.
    pub z: f64,
    /// Its two-sided p-value.
    pub p: f64,
    /// Holm-adjusted across the comparisons of a report; `p` until adjusted.
    pub p_holm: f64,
    /// Benjamini-Hochberg-adjusted across the comparisons of a report; `p`
    /// until adjusted.
    pub p_bh: f64,
    shown: Shown,
}

/// Which report's fields the serialized form has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shown {
    /// Rates, difference, ratio, incremental conversions, z, p.
    Incrementality,
    /// The method, difference, ratio, z, p, Holm and the incremental count
    /// (as `incremental`).
    Outcomes(&'static str),
    /// Difference, ratio, z, p, Holm and Benjamini-Hochberg.
    Signals,
}

impl RateComparison {
    /// The same comparison as outcome reports show it, made by `method`.
    pub fn for_outcomes(self, method: &'static str) -> RateComparison {
        RateComparison { shown: Shown::Outcomes(method), ..self }
    }

    /// The same comparison as signal analyses show it.
    pub fn for_signals(self) -> RateComparison {
        RateComparison { shown: Shown::Signals, ..self }
    }

    /// How the comparison was made, when its report says so.
    pub fn method(&self) -> Option<&'static str> {
        match self.shown {
            Shown::Outcomes(m) => Some(m),
            Shown::Incrementality | Shown::Signals => None,
        }
    }
}

impl Serialize for RateComparison {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("RateComparison", 11)?;
        match self.shown {
            Shown::Incrementality => {
                s.serialize_field("treated_rate", &self.treated_rate)?;
                s.serialize_field("holdout_rate", &self.holdout_rate)?;
            }
            Shown::Outcomes(method) => s.serialize_field("method", method)?,
            Shown::Signals => {}
        }
        s.serialize_field("diff", &self.diff)?;
        s.serialize_field("diff_ci_low", &self.diff_ci_low)?;
        s.serialize_field("diff_ci_high", &self.diff_ci_high)?;
        s.serialize_field("ratio", &self.ratio)?;
        s.serialize_field("ratio_ci_low", &self.ratio_ci_low)?;
        s.serialize_field("ratio_ci_high", &self.ratio_ci_high)?;
        if self.shown == Shown::Incrementality {
            s.serialize_field("incremental_conversions", &self.incremental_conversions)?;
        }
        s.serialize_field("z", &self.z)?;
        s.serialize_field("p", &self.p)?;
        match self.shown {
            Shown::Incrementality => {}
            Shown::Outcomes(_) => {
                s.serialize_field("p_holm", &self.p_holm)?;
                s.serialize_field("incremental", &self.incremental_conversions)?;
            }
            Shown::Signals => {
                s.serialize_field("p_holm", &self.p_holm)?;
                s.serialize_field("p_bh", &self.p_bh)?;
            }
        }
        s.end()
    }
}

/// Incrementality of `treated_conversions` of `treated` over
/// `holdout_conversions` of `holdout`, with `1 - alpha` intervals.
pub fn incrementality(
    treated_conversions: u64,
    treated: u64,
    holdout_conversions: u64,
    holdout: u64,
    alpha: f64,
) -> Result<RateComparison, InsightsError> {
    counts("treated group", treated_conversions, treated)?;
    counts("holdout group", holdout_conversions, holdout)?;
    open_unit("alpha", alpha)?;
    let (ct, nt) = (treated_conversions as f64, treated as f64);
    let (ch, nh) = (holdout_conversions as f64, holdout as f64);
    let (pt, ph) = (ct / nt, ch / nh);
    let wt = proportion_ci(treated_conversions, treated, alpha, CiMethod::Wilson)?;
    let wh = proportion_ci(holdout_conversions, holdout, alpha, CiMethod::Wilson)?;
    let diff = pt - ph;
    let low = diff - ((pt - wt.low).powi(2) + (wh.high - ph).powi(2)).sqrt();
    let high = diff + ((wt.high - pt).powi(2) + (ph - wh.low).powi(2)).sqrt();
    let (ratio, ratio_ci_low, ratio_ci_high) = if treated_conversions > 0 && holdout_conversions > 0 {
        let ln_ratio = (pt / ph).ln();
        let se = (1.0 / ct - 1.0 / nt + 1.0 / ch - 1.0 / nh).max(0.0).sqrt();
        let z = norm_isf(alpha / 2.0);
        (Some(pt / ph), Some((ln_ratio - z * se).exp()), Some((ln_ratio + z * se).exp()))
    } else {
        (None, None, None)
    };
    let test = two_proportion_ztest(treated_conversions, treated, holdout_conversions, holdout, Variance::Pooled)?;
    Ok(RateComparison {
        treated_rate: pt,
        holdout_rate: ph,
        diff,
        diff_ci_low: low.max(-1.0),
        diff_ci_high: high.min(1.0),
        ratio,
        ratio_ci_low,
        ratio_ci_high,
        incremental_conversions: diff * nt,
        z: test.z,
        p: test.p,
        p_holm: test.p,
        p_bh: test.p,
        shown: Shown::Incrementality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newcombe_example_and_ratio() {
        // Newcombe (1998), table II example (a): 56/70 vs 48/80, method 10
        // gives 0.0524 to 0.3339.
        let r = incrementality(56, 70, 48, 80, 0.05).unwrap();
        assert!((r.diff_ci_low - 0.0524).abs() < 5e-5, "{}", r.diff_ci_low);
        assert!((r.diff_ci_high - 0.3339).abs() < 5e-5, "{}", r.diff_ci_high);
        let ratio = r.ratio.unwrap();
        assert!(r.ratio_ci_low.unwrap() < ratio && ratio < r.ratio_ci_high.unwrap());
        assert!((r.incremental_conversions - 70.0 * (0.8 - 0.6)).abs() < 1e-9);
        let none = incrementality(5, 100, 0, 100, 0.05).unwrap();
        assert!(none.ratio.is_none() && none.diff_ci_low < none.diff);
        assert!(incrementality(1, 0, 0, 10, 0.05).is_err());
    }
}
