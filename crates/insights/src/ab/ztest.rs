//! Tests on counts: the two-proportion z-test, Pearson's chi-square test of
//! independence on a contingency table, and the sample-ratio-mismatch
//! goodness-of-fit test.
//!
//! - z-test: Fleiss, Levin & Paik, *Statistical Methods for Rates and
//!   Proportions* (3rd ed., 2003), 2.5; as `statsmodels`'
//!   `proportions_ztest` (pooled) and `test_proportions_2indep`
//!   (`method="wald"`, unpooled).
//! - Chi-square: Pearson (1900); Yates' continuity correction (1934) applied
//!   only to 1-degree-of-freedom tables, and shrunk to |O - E| where that is
//!   smaller than 1/2, as `scipy.stats.chi2_contingency`.
//! - SRM: Pearson's goodness of fit against the planned split, as
//!   `scipy.stats.chisquare`; see Fabijan et al. (2019), "Diagnosing Sample
//!   Ratio Mismatch in Online Controlled Experiments", KDD.

use serde::Serialize;

use crate::error::{InsightsError, counts};
use crate::special::{chi2_sf, norm_cdf, norm_sf};

/// How the standard error of a difference of proportions is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variance {
    /// Under the null: one pooled rate for both groups.
    Pooled,
    /// Each group's own rate (the Wald test).
    Unpooled,
}

/// A z statistic with its p-values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ZTest {
    /// (rate 1 - rate 2) / standard error.
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// One-sided p-value for "rate 1 < rate 2".
    pub p_smaller: f64,
    /// One-sided p-value for "rate 1 > rate 2".
    pub p_larger: f64,
}

impl ZTest {
    /// The p-values of a z statistic under the standard normal.
    pub fn from_z(z: f64) -> ZTest {
        ZTest { z, p: (2.0 * norm_sf(z.abs())).min(1.0), p_smaller: norm_cdf(z), p_larger: norm_sf(z) }
    }
}

/// Two-proportion z-test of `c1 / n1` against `c2 / n2`; z is positive when
/// group 1 converts more. When the standard error is zero and the rates are
/// equal (no conversions at all, or all converted) there is no evidence of a
/// difference: z = 0 and p = 1. Zero standard error with different rates
/// (possible only unpooled) is [`InsightsError::Undefined`].
pub fn two_proportion_ztest(c1: u64, n1: u64, c2: u64, n2: u64, variance: Variance) -> Result<ZTest, InsightsError> {
    counts("group 1", c1, n1)?;
    counts("group 2", c2, n2)?;
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (c1 as f64 / n1f, c2 as f64 / n2f);
    let se = match variance {
        Variance::Pooled => {
            let p = (c1 + c2) as f64 / (n1f + n2f);
            (p * (1.0 - p) * (1.0 / n1f + 1.0 / n2f)).sqrt()
        }
        Variance::Unpooled => (p1 * (1.0 - p1) / n1f + p2 * (1.0 - p2) / n2f).sqrt(),
    };
    if se > 0.0 {
        Ok(ZTest::from_z((p1 - p2) / se))
    } else if p1 == p2 {
        Ok(ZTest::from_z(0.0))
    } else {
        Err(InsightsError::Undefined("the unpooled z-test with zero variance"))
    }
}

/// A chi-square statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChiSquare {
    /// The statistic.
    pub chi2: f64,
    /// Degrees of freedom.
    pub dof: u32,
    /// Upper-tail p-value.
    pub p: f64,
}

/// Pearson's chi-square test of independence on an r x c table of counts
/// (rows are groups, e.g. variations; columns outcomes, e.g. converted and
/// not). With `yates`, the continuity correction is applied when the table
/// has one degree of freedom (as scipy does; otherwise it has no effect).
/// Rows or columns that sum to zero are an error: their expected counts are
/// zero.
pub fn chi2_contingency<R: AsRef<[u64]>>(table: &[R], yates: bool) -> Result<ChiSquare, InsightsError> {
    let rows = table.len();
    let cols = table.first().map_or(0, |r| r.as_ref().len());
    if rows < 2 || cols < 2 {
        return Err(InsightsError::LengthMismatch { what: "contingency table", got: rows.min(cols), expected: 2 });
    }
    for row in table {
        if row.as_ref().len() != cols {
            return Err(InsightsError::LengthMismatch {
                what: "contingency table row",
                got: row.as_ref().len(),
                expected: cols,
            });
        }
    }
    let row_sums: Vec<f64> = table.iter().map(|r| r.as_ref().iter().map(|&v| v as f64).sum()).collect();
    let col_sums: Vec<f64> = (0..cols).map(|j| table.iter().map(|r| r.as_ref()[j] as f64).sum()).collect();
    let total: f64 = row_sums.iter().sum();
    if row_sums.iter().chain(&col_sums).any(|&s| s == 0.0) {
        return Err(InsightsError::Empty { what: "a row or column of the contingency table".into() });
    }
    let dof = (rows - 1) * (cols - 1);
    let correct = yates && dof == 1;
    let mut chi2 = 0.0;
    for (i, row) in table.iter().enumerate() {
        for (j, &o) in row.as_ref().iter().enumerate() {
            let e = row_sums[i] * col_sums[j] / total;
            let mut d = (o as f64 - e).abs();
            if correct {
                d -= d.min(0.5);
            }
            chi2 += d * d / e;
        }
    }
    let dof = u32::try_from(dof).unwrap_or(u32::MAX);
    Ok(ChiSquare { chi2, dof, p: chi2_sf(chi2, f64::from(dof)) })
}

/// Sample-ratio-mismatch test: Pearson's chi-square goodness of fit of the
/// observed group sizes against the planned split (weights in any scale;
/// equal when `planned` is empty).
pub fn sample_ratio_mismatch(observed: &[u64], planned: &[f64]) -> Result<ChiSquare, InsightsError> {
    let k = observed.len();
    if k < 2 {
        return Err(InsightsError::LengthMismatch { what: "observed group sizes", got: k, expected: 2 });
    }
    if !planned.is_empty() && planned.len() != k {
        return Err(InsightsError::LengthMismatch { what: "planned split", got: planned.len(), expected: k });
    }
    for &w in planned {
        crate::error::positive("planned split weight", w)?;
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total == 0.0 {
        return Err(InsightsError::Empty { what: "the experiment".into() });
    }
    let weight_sum: f64 = if planned.is_empty() { k as f64 } else { planned.iter().sum() };
    let chi2 = observed
        .iter()
        .enumerate()
        .map(|(i, &o)| {
            let w = planned.get(i).copied().unwrap_or(1.0);
            let e = total * w / weight_sum;
            (o as f64 - e).powi(2) / e
        })
        .sum::<f64>();
    let dof = u32::try_from(k - 1).unwrap_or(u32::MAX);
    Ok(ChiSquare { chi2, dof, p: chi2_sf(chi2, f64::from(dof)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degenerate_and_invalid_inputs() {
        let t = two_proportion_ztest(0, 10, 0, 20, Variance::Pooled).unwrap();
        assert_eq!((t.z, t.p), (0.0, 1.0));
        assert!(two_proportion_ztest(0, 10, 10, 10, Variance::Unpooled).is_err());
        assert!(matches!(two_proportion_ztest(1, 0, 1, 10, Variance::Pooled), Err(InsightsError::Empty { .. })));
        assert!(matches!(
            two_proportion_ztest(11, 10, 1, 10, Variance::Pooled),
            Err(InsightsError::CountExceedsNobs { .. })
        ));
        assert!(chi2_contingency(&[[0u64, 0], [1, 2]], false).is_err());
        assert!(sample_ratio_mismatch(&[1, 2], &[1.0]).is_err());
        assert!(sample_ratio_mismatch(&[0, 0], &[]).is_err());
    }

    #[test]
    fn pooled_chi_square_equals_squared_z() {
        let t = two_proportion_ztest(200, 10_000, 250, 10_000, Variance::Pooled).unwrap();
        let c = chi2_contingency(&[[200u64, 9800], [250, 9750]], false).unwrap();
        assert!((t.z * t.z - c.chi2).abs() < 1e-10);
        assert!((t.p - c.p).abs() < 1e-12);
    }
}
