//! Power and sample size, as `statsmodels.stats.power`: `NormalIndPower`
//! (`zt_ind_solve_power`) for proportions with Cohen's h as the effect size
//! (Cohen 1988, *Statistical Power Analysis for the Behavioral Sciences*,
//! ch. 6), and `TTestIndPower` for means with Cohen's d, whose power uses the
//! noncentral t distribution. Two-sided tests throughout; `ratio` is
//! n2 / n1. Also the classical pooled/unpooled sample-size formula for two
//! proportions (Fleiss, Levin & Paik 2003, 4.2, without continuity
//! correction).

use serde::Serialize;

use crate::error::{InsightsError, open_unit, positive};
use crate::special::{nct_cdf, norm_cdf, norm_isf, norm_sf, t_ppf};

/// Cohen's h for moving a rate from `p1` to `p2`:
/// 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)).
pub fn cohens_h(p1: f64, p2: f64) -> f64 {
    2.0 * p2.sqrt().asin() - 2.0 * p1.sqrt().asin()
}

fn effective_n(nobs1: f64, ratio: f64) -> f64 {
    1.0 / (1.0 / nobs1 + 1.0 / (nobs1 * ratio))
}

/// Power of the two-sided two-sample z-test for standardized effect `effect`
/// with `nobs1` in group 1 and `ratio * nobs1` in group 2.
pub fn normal_ind_power(effect: f64, nobs1: f64, alpha: f64, ratio: f64) -> Result<f64, InsightsError> {
    positive("nobs1", nobs1)?;
    positive("ratio", ratio)?;
    open_unit("alpha", alpha)?;
    finite("effect", effect)?;
    let crit = norm_isf(alpha / 2.0);
    let shift = effect * effective_n(nobs1, ratio).sqrt();
    Ok(norm_sf(crit - shift) + norm_cdf(-crit - shift))
}

/// Power of the two-sided two-sample t-test (pooled variance) for Cohen's d.
pub fn t_ind_power(effect: f64, nobs1: f64, alpha: f64, ratio: f64) -> Result<f64, InsightsError> {
    positive("nobs1", nobs1)?;
    positive("ratio", ratio)?;
    open_unit("alpha", alpha)?;
    finite("effect", effect)?;
    let df = nobs1 * (1.0 + ratio) - 2.0;
    if df <= 0.0 {
        return Err(InsightsError::InvalidParameter {
            name: "nobs1",
            value: nobs1,
            expected: "large enough for positive degrees of freedom",
        });
    }
    let nc = effect * effective_n(nobs1, ratio).sqrt();
    let crit = t_ppf(1.0 - alpha / 2.0, df);
    Ok((1.0 - nct_cdf(crit, df, nc)) + nct_cdf(-crit, df, nc))
}

/// Group-1 size giving `power` for the z-test (`NormalIndPower.solve_power`).
pub fn normal_ind_sample_size(effect: f64, alpha: f64, power: f64, ratio: f64) -> Result<f64, InsightsError> {
    solve_n(|n| normal_ind_power(effect, n, alpha, ratio), effect, power, 1e-9)
}

/// Group-1 size giving `power` for the t-test (`TTestIndPower.solve_power`).
pub fn t_ind_sample_size(effect: f64, alpha: f64, power: f64, ratio: f64) -> Result<f64, InsightsError> {
    positive("ratio", ratio)?;
    let min_n = 2.0 / (1.0 + ratio) * (1.0 + 1e-9);
    solve_n(|n| t_ind_power(effect, n, alpha, ratio), effect, power, min_n)
}

/// Sample size per group (group 2 has `ratio` times as many) for a
/// two-sided test of `p1` against `p2`, from the normal approximation with
/// the pooled variance under the null and the unpooled one under the
/// alternative:
/// n1 = (z_{1-α/2} sqrt(p̄ q̄ (1 + 1/k)) + z_{power} sqrt(p1 q1 + p2 q2 / k))² / (p2 - p1)².
pub fn sample_size_two_proportions(p1: f64, p2: f64, alpha: f64, power: f64, ratio: f64) -> Result<f64, InsightsError> {
    open_unit("p1", p1)?;
    open_unit("p2", p2)?;
    open_unit("alpha", alpha)?;
    open_unit("power", power)?;
    positive("ratio", ratio)?;
    if p1 == p2 {
        return Err(InsightsError::Undefined("a sample size for a zero effect"));
    }
    let k = ratio;
    let pbar = (p1 + k * p2) / (1.0 + k);
    let za = norm_isf(alpha / 2.0);
    let zb = norm_isf(1.0 - power);
    let a = za * (pbar * (1.0 - pbar) * (1.0 + 1.0 / k)).sqrt();
    let b = zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2) / k).sqrt();
    Ok((a + b).powi(2) / (p2 - p1).powi(2))
}

fn finite(name: &'static str, v: f64) -> Result<f64, InsightsError> {
    if v.is_finite() { Ok(v) } else { Err(InsightsError::InvalidParameter { name, value: v, expected: "finite" }) }
}

/// Bisection on log n for the n where the (increasing) power reaches `target`.
fn solve_n(
    power_at: impl Fn(f64) -> Result<f64, InsightsError>,
    effect: f64,
    target: f64,
    min_n: f64,
) -> Result<f64, InsightsError> {
    open_unit("power", target)?;
    finite("effect", effect)?;
    if effect == 0.0 {
        return Err(InsightsError::Undefined("a sample size for a zero effect"));
    }
    let mut lo = min_n;
    if power_at(lo)? >= target {
        return Ok(lo);
    }
    let mut hi = lo.max(1.0) * 2.0;
    while power_at(hi)? < target {
        hi *= 2.0;
        if hi > 1e15 {
            return Err(InsightsError::NoConvergence("the sample size search"));
        }
    }
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if power_at(mid)? < target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo - 1.0 < 1e-13 {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// A sample-size plan for a conversion-rate experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SampleSizePlan {
    /// Control (baseline) rate.
    pub baseline: f64,
    /// The treatment rate to detect.
    pub target: f64,
    /// Cohen's h between them.
    pub cohens_h: f64,
    /// Significance level (two-sided).
    pub alpha: f64,
    /// Power.
    pub power: f64,
    /// Treatment size / control size.
    pub ratio: f64,
    /// Control size needed, unrounded (`NormalIndPower`).
    pub n_control_exact: f64,
    /// Control size, rounded up.
    pub n_control: u64,
    /// Treatment size, rounded up.
    pub n_treatment: u64,
}

/// How many profiles each arm needs to detect `baseline` → `target` with the
/// two-sided z-test at level `alpha` with probability `power`, treatment
/// arm `ratio` times the control (Cohen's h with `NormalIndPower`).
pub fn plan_two_proportions(
    baseline: f64,
    target: f64,
    alpha: f64,
    power: f64,
    ratio: f64,
) -> Result<SampleSizePlan, InsightsError> {
    open_unit("baseline", baseline)?;
    open_unit("target", target)?;
    let h = cohens_h(baseline, target);
    let n = normal_ind_sample_size(h, alpha, power, ratio)?;
    Ok(SampleSizePlan {
        baseline,
        target,
        cohens_h: h,
        alpha,
        power,
        ratio,
        n_control_exact: n,
        n_control: n.ceil() as u64,
        n_treatment: (n * ratio).ceil() as u64,
    })
}

/// Power to detect `baseline` → `target` with `n_control` profiles in the
/// control and `ratio * n_control` in the treatment.
pub fn power_two_proportions(
    baseline: f64,
    target: f64,
    n_control: f64,
    alpha: f64,
    ratio: f64,
) -> Result<f64, InsightsError> {
    open_unit("baseline", baseline)?;
    open_unit("target", target)?;
    normal_ind_power(cohens_h(baseline, target), n_control, alpha, ratio)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_size_inverts_power() {
        let n = normal_ind_sample_size(0.1, 0.05, 0.8, 1.0).unwrap();
        assert!((normal_ind_power(0.1, n, 0.05, 1.0).unwrap() - 0.8).abs() < 1e-10);
        let n = t_ind_sample_size(-0.5, 0.05, 0.9, 1.5).unwrap();
        assert!((t_ind_power(-0.5, n, 0.05, 1.5).unwrap() - 0.9).abs() < 1e-10);
        assert!(normal_ind_sample_size(0.0, 0.05, 0.8, 1.0).is_err());
        assert!(plan_two_proportions(0.1, 1.2, 0.05, 0.8, 1.0).is_err());
    }
}
