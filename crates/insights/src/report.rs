//! The experiment report of `tidings experiments report`, in the shape of the
//! spec's JSON contract (`spec/insights.md`, Experiments): for each variation
//! its exposed, conversions, rate with a 95% Wilson interval and, against the
//! control, absolute and relative lift, the pooled two-sided z-test,
//! Holm-adjusted p across the non-control variations, P(beats control) with
//! Beta(1, 1) priors, and for value metrics the mean per exposed profile and
//! Welch's t-test; a sample-ratio-mismatch chi-square against the planned
//! split; and the mSPRT always-valid p-value of the current look.
//!
//! Comparison fields are `null` for the control itself, and wherever the
//! statistic is undefined (relative lift over a zero control rate, a t-test
//! between two zero-variance groups with different means).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ab::{
    Adjustment, Look, Summary, Variance, adjust_p_values, msprt_p_value, prob_b_beats_a, sample_ratio_mismatch,
    two_proportion_ztest, welch_ttest, wilson_95,
};
use crate::error::{InsightsError, positive};

/// One variation's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariationInput {
    /// The variation's name.
    pub name: String,
    /// Profiles exposed (first exposure, single-variation profiles only).
    pub exposed: u64,
    /// Exposed profiles that converted.
    pub conversions: u64,
    /// For value metrics: the per-exposed-profile values (zero for those who
    /// didn't convert), summarised; its `n` should equal `exposed`.
    pub value: Option<Summary>,
    /// Planned share of traffic (any scale); give it for all variations or
    /// none (equal split).
    pub planned_weight: Option<f64>,
}

/// Options of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ReportOptions {
    /// mSPRT mixing variance; by default (10% of the pooled rate)².
    pub tau2: Option<f64>,
}

/// The sample-ratio-mismatch test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Srm {
    /// Chi-square statistic.
    pub chi2: f64,
    /// Its p-value; a small one means assignment is broken.
    pub p: f64,
}

/// Value-metric fields of a variation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ValueReport {
    /// Mean value per exposed profile.
    pub value_mean: f64,
    /// Welch's t against the control.
    pub welch_t: Option<f64>,
    /// Welch-Satterthwaite degrees of freedom.
    pub welch_df: Option<f64>,
    /// Two-sided p-value.
    pub welch_p: Option<f64>,
}

/// One variation's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariationReport {
    /// Name.
    pub name: String,
    /// Exposed profiles.
    pub exposed: u64,
    /// Converted profiles.
    pub conversions: u64,
    /// conversions / exposed.
    pub rate: f64,
    /// 95% Wilson interval, low.
    pub ci_low: f64,
    /// 95% Wilson interval, high.
    pub ci_high: f64,
    /// rate - control rate.
    pub lift_abs: Option<f64>,
    /// rate / control rate - 1.
    pub lift_rel: Option<f64>,
    /// Pooled z against the control (positive when this variation converts more).
    pub z: Option<f64>,
    /// Two-sided p-value of z.
    pub p: Option<f64>,
    /// Holm-adjusted p across the non-control variations.
    pub p_holm: Option<f64>,
    /// P(this rate > control rate), Beta(1, 1) priors.
    pub p_beat_control: Option<f64>,
    /// mSPRT always-valid p-value at this look.
    pub p_sequential: Option<f64>,
    /// Value metric fields, present for value metrics.
    #[serde(flatten)]
    pub value: Option<ValueReport>,
}

/// The analysis of one population (the whole experiment, or one breakdown
/// group).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentAnalysis {
    /// Sample-ratio mismatch.
    pub srm: Srm,
    /// The variations, in input order.
    pub variations: Vec<VariationReport>,
}

/// The report: the analysis plus the experiment's identity and, with
/// `--by`, one analysis per trait value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentReport {
    /// Experiment id.
    pub experiment: String,
    /// Control variation name.
    pub control: String,
    /// Whole-experiment analysis.
    #[serde(flatten)]
    pub analysis: ExperimentAnalysis,
    /// Per-trait-value analyses, when broken down.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub breakdown: BTreeMap<String, ExperimentAnalysis>,
}

/// The full report for `experiment` with control `control`.
pub fn experiment_report(
    experiment: &str,
    control: &str,
    variations: &[VariationInput],
    options: &ReportOptions,
) -> Result<ExperimentReport, InsightsError> {
    Ok(ExperimentReport {
        experiment: experiment.to_string(),
        control: control.to_string(),
        analysis: analyze_experiment(control, variations, options)?,
        breakdown: BTreeMap::new(),
    })
}

/// Analyses one population's variations against `control`.
pub fn analyze_experiment(
    control: &str,
    variations: &[VariationInput],
    options: &ReportOptions,
) -> Result<ExperimentAnalysis, InsightsError> {
    if variations.len() < 2 {
        return Err(InsightsError::LengthMismatch { what: "variations", got: variations.len(), expected: 2 });
    }
    let mut names = BTreeSet::new();
    for v in variations {
        if !names.insert(v.name.as_str()) {
            return Err(InsightsError::DuplicateVariation(v.name.clone()));
        }
        crate::error::counts(&format!("variation {:?}", v.name), v.conversions, v.exposed)?;
        if let Some(s) = v.value {
            Summary::new(s.n, s.mean, s.var)?;
        }
    }
    let c = variations
        .iter()
        .find(|v| v.name == control)
        .ok_or_else(|| InsightsError::UnknownControl(control.to_string()))?;

    let srm = srm(variations)?;
    let total_exposed: u64 = variations.iter().map(|v| v.exposed).sum();
    let total_conversions: u64 = variations.iter().map(|v| v.conversions).sum();
    let pooled = total_conversions as f64 / total_exposed as f64;
    let tau2 = match options.tau2 {
        Some(t) => Some(positive("tau2", t)?),
        None => (pooled > 0.0).then(|| (0.1 * pooled).powi(2)),
    };

    let mut rows = Vec::with_capacity(variations.len());
    for v in variations {
        rows.push(row(v, c, tau2)?);
    }
    let treated: Vec<usize> = (0..rows.len()).filter(|&i| variations[i].name != control).collect();
    let raw: Vec<f64> = treated.iter().filter_map(|&i| rows[i].p).collect();
    let holm = adjust_p_values(&raw, Adjustment::Holm)?;
    for (&i, h) in treated.iter().zip(holm) {
        rows[i].p_holm = Some(h);
    }
    Ok(ExperimentAnalysis { srm, variations: rows })
}

fn srm(variations: &[VariationInput]) -> Result<Srm, InsightsError> {
    let given = variations.iter().filter(|v| v.planned_weight.is_some()).count();
    let planned: Vec<f64> = match given {
        0 => Vec::new(),
        n if n == variations.len() => variations.iter().filter_map(|v| v.planned_weight).collect(),
        _ => return Err(InsightsError::PartialSplit),
    };
    let observed: Vec<u64> = variations.iter().map(|v| v.exposed).collect();
    let t = sample_ratio_mismatch(&observed, &planned)?;
    Ok(Srm { chi2: t.chi2, p: t.p })
}

fn row(v: &VariationInput, c: &VariationInput, tau2: Option<f64>) -> Result<VariationReport, InsightsError> {
    let rate = v.conversions as f64 / v.exposed as f64;
    let ci = wilson_95(v.conversions, v.exposed)?;
    let is_control = v.name == c.name;
    let control_rate = c.conversions as f64 / c.exposed as f64;
    let value = v.value.map(|s| value_report(&s, c.value.as_ref(), is_control));
    let mut out = VariationReport {
        name: v.name.clone(),
        exposed: v.exposed,
        conversions: v.conversions,
        rate,
        ci_low: ci.low,
        ci_high: ci.high,
        lift_abs: None,
        lift_rel: None,
        z: None,
        p: None,
        p_holm: None,
        p_beat_control: None,
        p_sequential: None,
        value,
    };
    if is_control {
        return Ok(out);
    }
    let z = two_proportion_ztest(v.conversions, v.exposed, c.conversions, c.exposed, Variance::Pooled)?;
    out.lift_abs = Some(rate - control_rate);
    out.lift_rel = (control_rate > 0.0).then(|| rate / control_rate - 1.0);
    out.z = Some(z.z);
    out.p = Some(z.p);
    out.p_beat_control = Some(prob_b_beats_a(c.conversions, c.exposed, v.conversions, v.exposed)?);
    let look = Look { c_a: c.conversions, n_a: c.exposed, c_b: v.conversions, n_b: v.exposed };
    out.p_sequential = Some(match tau2 {
        Some(t) => msprt_p_value(&look, t)?,
        None => 1.0,
    });
    Ok(out)
}

fn value_report(s: &Summary, control: Option<&Summary>, is_control: bool) -> ValueReport {
    let test = match (is_control, control) {
        (false, Some(c)) => welch_ttest(s, c).ok(),
        _ => None,
    };
    ValueReport {
        value_mean: s.mean,
        welch_t: test.map(|t| t.t),
        welch_df: test.map(|t| t.df),
        welch_p: test.map(|t| t.p),
    }
}
