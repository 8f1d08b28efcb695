//! Two-sample t-tests on means: Welch (1947), "The generalization of
//! 'Student's' problem when several different population variances are
//! involved", Biometrika 34, with the Welch-Satterthwaite degrees of freedom;
//! and Student's pooled-variance test. As `scipy.stats.ttest_ind` and
//! `ttest_ind_from_stats` (`equal_var` false and true).

use serde::{Deserialize, Serialize};

use crate::error::InsightsError;
use crate::special::t_two_sided;

/// A sample's size, mean and unbiased variance (ddof = 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of observations.
    pub n: f64,
    /// Mean.
    pub mean: f64,
    /// Unbiased sample variance (divisor n - 1).
    pub var: f64,
}

impl Summary {
    /// From n, mean and variance, checked.
    pub fn new(n: f64, mean: f64, var: f64) -> Result<Summary, InsightsError> {
        crate::error::positive("n", n)?;
        if !mean.is_finite() {
            return Err(InsightsError::InvalidParameter { name: "mean", value: mean, expected: "finite" });
        }
        crate::error::non_negative("variance", var)?;
        Ok(Summary { n, mean, var })
    }

    /// From raw values (two-pass, numerically stable).
    pub fn from_values(values: &[f64]) -> Result<Summary, InsightsError> {
        if values.is_empty() {
            return Err(InsightsError::Empty { what: "sample".into() });
        }
        if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(InsightsError::InvalidParameter { name: "value", value: bad, expected: "finite" });
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        let var = if values.len() > 1 { ss / (n - 1.0) } else { 0.0 };
        Ok(Summary { n, mean, var })
    }

    /// From the count, the sum and the sum of squares of the values (what a
    /// store can aggregate). Loses precision when the variance is tiny
    /// relative to the mean squared; prefer [`Summary::from_values`] then.
    pub fn from_sums(n: u64, sum: f64, sum_sq: f64) -> Result<Summary, InsightsError> {
        if n == 0 {
            return Err(InsightsError::Empty { what: "sample".into() });
        }
        let nf = n as f64;
        let mean = sum / nf;
        let var = if n > 1 { ((sum_sq - sum * mean) / (nf - 1.0)).max(0.0) } else { 0.0 };
        Summary::new(nf, mean, var)
    }
}

/// A t statistic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TTest {
    /// (mean 1 - mean 2) / standard error.
    pub t: f64,
    /// Degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// Welch's unequal-variances t-test of sample 1 against sample 2. Both
/// samples need at least 2 observations. Zero variance in both with equal
/// means gives t = 0, p = 1 (df then n1 + n2 - 2); with different means it is
/// [`InsightsError::Undefined`].
pub fn welch_ttest(a: &Summary, b: &Summary) -> Result<TTest, InsightsError> {
    check_pair(a, b)?;
    let (va, vb) = (a.var / a.n, b.var / b.n);
    let se2 = va + vb;
    if se2 == 0.0 {
        return degenerate(a, b);
    }
    let t = (a.mean - b.mean) / se2.sqrt();
    let df = se2 * se2 / (va * va / (a.n - 1.0) + vb * vb / (b.n - 1.0));
    Ok(TTest { t, df, p: t_two_sided(t, df) })
}

/// Student's two-sample t-test with pooled variance.
pub fn student_ttest(a: &Summary, b: &Summary) -> Result<TTest, InsightsError> {
    check_pair(a, b)?;
    let df = a.n + b.n - 2.0;
    let pooled = ((a.n - 1.0) * a.var + (b.n - 1.0) * b.var) / df;
    let se2 = pooled * (1.0 / a.n + 1.0 / b.n);
    if se2 == 0.0 {
        return degenerate(a, b);
    }
    let t = (a.mean - b.mean) / se2.sqrt();
    Ok(TTest { t, df, p: t_two_sided(t, df) })
}

fn check_pair(a: &Summary, b: &Summary) -> Result<(), InsightsError> {
    for (s, name) in [(a, "n of sample 1"), (b, "n of sample 2")] {
        if s.n.is_nan() || s.n < 2.0 || !s.var.is_finite() || s.var < 0.0 || !s.mean.is_finite() {
            return Err(InsightsError::InvalidParameter {
                name,
                value: s.n,
                expected: ">= 2, with a finite mean and a finite non-negative variance",
            });
        }
    }
    Ok(())
}

fn degenerate(a: &Summary, b: &Summary) -> Result<TTest, InsightsError> {
    if a.mean == b.mean {
        Ok(TTest { t: 0.0, df: a.n + b.n - 2.0, p: 1.0 })
    } else {
        Err(InsightsError::Undefined("a t-test between samples with zero variance"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_values_agree() {
        let v = [1.0, 2.0, 4.0, 8.0];
        let a = Summary::from_values(&v).unwrap();
        let b = Summary::from_sums(4, 15.0, 85.0).unwrap();
        assert!((a.mean - b.mean).abs() < 1e-12 && (a.var - b.var).abs() < 1e-12);
    }

    #[test]
    fn degenerate_samples() {
        let zero = Summary::new(10.0, 0.0, 0.0).unwrap();
        let t = welch_ttest(&zero, &zero).unwrap();
        assert_eq!((t.t, t.p), (0.0, 1.0));
        let one = Summary::new(10.0, 1.0, 0.0).unwrap();
        assert!(welch_ttest(&zero, &one).is_err());
        assert!(welch_ttest(&Summary::new(1.0, 0.0, 0.0).unwrap(), &one).is_err());
        assert!(Summary::from_values(&[]).is_err());
        assert!(Summary::from_values(&[f64::NAN]).is_err());
    }
}
