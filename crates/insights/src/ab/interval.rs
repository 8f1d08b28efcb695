//! Confidence intervals for a binomial proportion, as `statsmodels`'
//! `proportion_confint`. Brown, Cai & DasGupta (2001), "Interval estimation
//! for a binomial proportion", Statistical Science 16, compare them; Tidings
//! shows Wilson's.
//!
//! - Wilson (1927), "Probable inference, the law of succession, and
//!   statistical inference", JASA 22: the score interval.
//! - Normal (Wald): p ± z sqrt(p(1-p)/n), clipped to [0, 1].
//! - Agresti & Coull (1998), "Approximate is better than 'exact'", The
//!   American Statistician 52: Wald around (x + z²/2)/(n + z²), clipped.
//! - Clopper & Pearson (1934), Biometrika 26: beta quantiles, the "exact"
//!   interval (0 and 1 at the boundaries).
//! - Jeffreys: equal-tailed interval of the Beta(x + 1/2, n - x + 1/2)
//!   posterior, not clipped at the boundaries (as statsmodels).

use serde::{Deserialize, Serialize};

use crate::error::{InsightsError, counts, open_unit};
use crate::special::{beta_ppf, norm_isf};

/// Which interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiMethod {
    /// Wilson score interval.
    Wilson,
    /// Normal approximation (Wald).
    Normal,
    /// Agresti-Coull.
    AgrestiCoull,
    /// Clopper-Pearson ("beta" in statsmodels).
    ClopperPearson,
    /// Jeffreys.
    Jeffreys,
}

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The `1 - alpha` two-sided confidence interval for `count / nobs`.
pub fn proportion_ci(count: u64, nobs: u64, alpha: f64, method: CiMethod) -> Result<Interval, InsightsError> {
    counts("proportion", count, nobs)?;
    open_unit("alpha", alpha)?;
    let (x, n) = (count as f64, nobs as f64);
    let p = x / n;
    let z = norm_isf(alpha / 2.0);
    let clip = |low: f64, high: f64| Interval { low: low.clamp(0.0, 1.0), high: high.clamp(0.0, 1.0) };
    Ok(match method {
        CiMethod::Wilson => {
            let z2 = z * z;
            let denom = 1.0 + z2 / n;
            let center = (p + z2 / (2.0 * n)) / denom;
            let dist = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
            clip(center - dist, center + dist)
        }
        CiMethod::Normal => {
            let d = z * (p * (1.0 - p) / n).sqrt();
            clip(p - d, p + d)
        }
        CiMethod::AgrestiCoull => {
            let nc = n + z * z;
            let pc = (x + z * z / 2.0) / nc;
            let d = z * (pc * (1.0 - pc) / nc).sqrt();
            clip(pc - d, pc + d)
        }
        CiMethod::ClopperPearson => Interval {
            low: if count == 0 { 0.0 } else { beta_ppf(x, n - x + 1.0, alpha / 2.0) },
            high: if count == nobs { 1.0 } else { beta_ppf(x + 1.0, n - x, 1.0 - alpha / 2.0) },
        },
        CiMethod::Jeffreys => Interval {
            low: beta_ppf(x + 0.5, n - x + 0.5, alpha / 2.0),
            high: beta_ppf(x + 0.5, n - x + 0.5, 1.0 - alpha / 2.0),
        },
    })
}

/// The 95% Wilson score interval, the one Tidings shows beside every rate.
pub fn wilson_95(count: u64, nobs: u64) -> Result<Interval, InsightsError> {
    proportion_ci(count, nobs, 0.05, CiMethod::Wilson)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_contain_the_estimate() {
        for method in
            [CiMethod::Wilson, CiMethod::Normal, CiMethod::AgrestiCoull, CiMethod::ClopperPearson, CiMethod::Jeffreys]
        {
            for (x, n) in [(0, 5), (3, 7), (7, 7), (500, 100_000)] {
                let i = proportion_ci(x, n, 0.05, method).unwrap();
                let p = x as f64 / n as f64;
                if method == CiMethod::Jeffreys && (x == 0 || x == n) {
                    // not clipped: the posterior interval excludes the boundary
                    assert!(i.low > 0.0 || i.high < 1.0);
                    continue;
                }
                assert!(i.low <= p + 1e-12 && p <= i.high + 1e-12, "{method:?} {x}/{n}");
            }
        }
        assert!(proportion_ci(1, 0, 0.05, CiMethod::Wilson).is_err());
        assert!(proportion_ci(1, 2, 1.5, CiMethod::Wilson).is_err());
    }
}
