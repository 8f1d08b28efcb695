//! Outcome analysis of a randomized email test from per-recipient records:
//! each recipient's arm (an email, or the holdout that got nothing), a few
//! attributes (traits as of assignment), whether they visited, whether they
//! converted and the revenue they brought. For the whole test and within
//! each value of each requested attribute:
//!
//! - per arm: recipients; visit and conversion rates with Wilson score
//!   intervals ([`proportion_ci`]); revenue per recipient (the mean over all
//!   recipients, zero for those who bought nothing) with the Student t
//!   interval, mean ± t(1 - α/2, n - 1) · s / √n;
//! - each treatment arm against the control, per rate: the difference with
//!   Newcombe's hybrid score interval, the ratio with the Katz log interval
//!   and the pooled two-proportion z-test, as [`incrementality`]; per
//!   revenue per recipient: the difference with the Welch t interval,
//!   diff ± t(1 - α/2, ν) · se, ν the Welch-Satterthwaite degrees of freedom,
//!   the ratio with the delta-method log interval,
//!   exp(ln r ± z(1 - α/2) · √(s_t²/(n_t m_t²) + s_c²/(n_c m_c²))),
//!   and Welch's t-test ([`welch_ttest`]);
//! - p-values Holm-adjusted across the treatment arms, per metric, within
//!   each population (the whole test, or one breakdown group);
//! - a sample-ratio-mismatch chi-square of the arm sizes against the planned
//!   split (equal when none is given): a small p means assignment is broken,
//!   or, within a breakdown group, that the attribute is not independent of
//!   assignment;
//! - a Pearson chi-square of arms × (did, didn't), without continuity
//!   correction, per rate: does any arm differ.
//!
//! The text of each method is in the output beside the numbers (`methods`,
//! and `method` in every comparison). Statistics that are undefined for the
//! data are `null`: a ratio over a zero control, a t interval of a single
//! recipient. A breakdown group in which some arm has no recipients is
//! listed under `skipped` with the reason.
//!
//! Records accumulate into an [`OutcomeTally`] (per arm and per attribute
//! value: counts, and revenue's running mean and sum of squared deviations,
//! Welford 1962), so a caller can stream them; [`analyze_outcomes`] does it
//! for a slice.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use crate::ab::{
    Adjustment, ChiSquare, CiMethod, Summary, adjust_p_values, chi2_contingency, proportion_ci, sample_ratio_mismatch,
    welch_ttest,
};
use crate::error::{InsightsError, open_unit, positive};
pub use crate::incrementality::RateComparison;
use crate::incrementality::incrementality;
use crate::special::{norm_isf, t_ppf};

/// Wilson score interval of a rate.
pub const RATE_INTERVAL: &str = "Wilson score interval";
/// Student t interval of a mean.
pub const MEAN_INTERVAL: &str = "Student t interval, n - 1 df";
/// How two rates are compared.
pub const RATE_METHOD: &str = "two-proportion z-test (pooled variance, two-sided); difference: Newcombe hybrid score \
                               interval; ratio: Katz log interval";
/// How two means are compared.
pub const MEAN_METHOD: &str = "Welch's t-test (Welch-Satterthwaite df, two-sided); difference: Welch t interval; \
                               ratio: delta-method log interval";
/// The multiple-comparison adjustment.
pub const ADJUSTMENT_METHOD: &str = "Holm, across the treatment arms, per metric and population";
/// The assignment check.
pub const SRM_METHOD: &str = "Pearson chi-square goodness of fit of arm sizes against the planned split";
/// The test of any difference among all arms.
pub const OMNIBUS_METHOD: &str = "Pearson chi-square of arms x (did, did not), no continuity correction";

/// One recipient's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The arm they were assigned to (the control is named in the options).
    pub arm: String,
    /// Attributes to break the analysis down by, name → value.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Visited (e.g. the site) within the window.
    pub visited: bool,
    /// Converted within the window.
    pub converted: bool,
    /// Revenue within the window (zero for non-buyers); finite.
    pub revenue: f64,
}

/// What to analyse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeOptions {
    /// The experiment's name, echoed in the report.
    pub experiment: String,
    /// The control (holdout) arm.
    pub control: String,
    /// Attributes to break down by, in this order.
    #[serde(default)]
    pub by: Vec<String>,
    /// Planned share of each arm (any scale); empty for an equal split,
    /// otherwise one weight for each arm in the data.
    #[serde(default)]
    pub planned_split: BTreeMap<String, f64>,
    /// 1 - confidence of the intervals.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

fn default_alpha() -> f64 {
    0.05
}

impl OutcomeOptions {
    /// 95% intervals, an equal split, no breakdown.
    pub fn new(experiment: &str, control: &str) -> OutcomeOptions {
        OutcomeOptions {
            experiment: experiment.to_string(),
            control: control.to_string(),
            by: Vec::new(),
            planned_split: BTreeMap::new(),
            alpha: default_alpha(),
        }
    }

    /// The same, broken down by `attributes`.
    pub fn by<S: AsRef<str>>(mut self, attributes: &[S]) -> OutcomeOptions {
        self.by = attributes.iter().map(|a| a.as_ref().to_string()).collect();
        self
    }
}

/// Sufficient statistics of one arm in one population.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Cell {
    n: u64,
    visits: u64,
    conversions: u64,
    revenue_total: f64,
    revenue_mean: f64,
    /// Sum of squared deviations from the mean (Welford).
    revenue_m2: f64,
}

impl Cell {
    fn add(&mut self, o: &Outcome) {
        self.n += 1;
        self.visits += u64::from(o.visited);
        self.conversions += u64::from(o.converted);
        self.revenue_total += o.revenue;
        let delta = o.revenue - self.revenue_mean;
        self.revenue_mean += delta / self.n as f64;
        self.revenue_m2 += delta * (o.revenue - self.revenue_mean);
    }

    fn summary(&self) -> Summary {
        let n = self.n as f64;
        let var = if self.n > 1 { (self.revenue_m2 / (n - 1.0)).max(0.0) } else { 0.0 };
        Summary { n, mean: self.revenue_mean, var }
    }
}

type Cells = BTreeMap<String, Cell>;

/// Accumulates outcomes; [`OutcomeTally::report`] analyses them.
#[derive(Debug, Clone)]
pub struct OutcomeTally {
    options: OutcomeOptions,
    overall: Cells,
    /// Per requested attribute: value → arm → cell.
    groups: Vec<BTreeMap<String, Cells>>,
    /// Per requested attribute: records without it.
    missing: Vec<u64>,
}

impl OutcomeTally {
    /// An empty tally; checks `alpha` and the planned split's weights.
    pub fn new(options: OutcomeOptions) -> Result<OutcomeTally, InsightsError> {
        open_unit("alpha", options.alpha)?;
        for &w in options.planned_split.values() {
            positive("planned split weight", w)?;
        }
        let k = options.by.len();
        Ok(OutcomeTally { options, overall: BTreeMap::new(), groups: vec![BTreeMap::new(); k], missing: vec![0; k] })
    }

    /// Adds one recipient. A non-finite revenue is an error (and the record
    /// is not counted).
    pub fn add(&mut self, outcome: &Outcome) -> Result<(), InsightsError> {
        if !outcome.revenue.is_finite() {
            return Err(InsightsError::InvalidParameter {
                name: "revenue",
                value: outcome.revenue,
                expected: "finite",
            });
        }
        slot(&mut self.overall, &outcome.arm).add(outcome);
        for (i, attribute) in self.options.by.iter().enumerate() {
            match outcome.attributes.get(attribute) {
                Some(value) => slot(slot(&mut self.groups[i], value), &outcome.arm).add(outcome),
                None => self.missing[i] += 1,
            }
        }
        Ok(())
    }

    /// The analysis of everything added so far. Errors when the control is
    /// not among the arms, when there is only one arm, or when a planned
    /// split is given that does not name exactly the arms in the data.
    pub fn report(&self) -> Result<OutcomeReport, InsightsError> {
        let o = &self.options;
        if !self.overall.contains_key(&o.control) {
            return Err(InsightsError::UnknownControl(o.control.clone()));
        }
        if self.overall.len() < 2 {
            return Err(InsightsError::LengthMismatch { what: "arms", got: self.overall.len(), expected: 2 });
        }
        // the control first, then the others by name
        let arms: Vec<&str> = std::iter::once(o.control.as_str())
            .chain(self.overall.keys().map(String::as_str).filter(|a| *a != o.control))
            .collect();
        let planned: Vec<f64> = if o.planned_split.is_empty() {
            Vec::new()
        } else if o.planned_split.len() == arms.len() && arms.iter().all(|a| o.planned_split.contains_key(*a)) {
            arms.iter().map(|a| o.planned_split[*a]).collect()
        } else {
            return Err(InsightsError::PartialSplit);
        };
        let ctx = Context { arms: &arms, planned: &planned, alpha: o.alpha };
        let overall = ctx.population(&self.overall)?;
        let mut breakdowns = Vec::with_capacity(o.by.len());
        for (i, attribute) in o.by.iter().enumerate() {
            let mut values: Vec<&String> = self.groups[i].keys().collect();
            if values.iter().all(|v| numeric(v).is_some()) {
                values.sort_by(|a, b| {
                    numeric(a).zip(numeric(b)).map_or(Ordering::Equal, |(x, y)| x.total_cmp(&y)).then(a.cmp(b))
                });
            }
            let mut groups = Vec::new();
            let mut skipped = Vec::new();
            for value in values {
                let cells = &self.groups[i][value];
                match ctx.population(cells) {
                    Ok(analysis) => groups.push(Group { value: value.clone(), analysis }),
                    Err(e) => skipped.push(SkippedGroup {
                        value: value.clone(),
                        n: cells.values().map(|c| c.n).sum(),
                        reason: e.to_string(),
                    }),
                }
            }
            breakdowns.push(Breakdown { attribute: attribute.clone(), missing: self.missing[i], groups, skipped });
        }
        Ok(OutcomeReport {
            experiment: o.experiment.clone(),
            control: o.control.clone(),
            confidence: 1.0 - o.alpha,
            methods: Methods::default(),
            overall,
            breakdowns,
        })
    }
}

/// The entry at `key`, inserted empty when missing, allocating the key only then.
fn slot<'a, V: Default>(map: &'a mut BTreeMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).unwrap_or_else(|| unreachable!("inserted above"))
}

fn numeric(value: &str) -> Option<f64> {
    value.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Analyses `outcomes` (see the module documentation).
pub fn analyze_outcomes(outcomes: &[Outcome], options: &OutcomeOptions) -> Result<OutcomeReport, InsightsError> {
    let mut tally = OutcomeTally::new(options.clone())?;
    for o in outcomes {
        tally.add(o)?;
    }
    tally.report()
}

/// The methods behind the numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Methods {
    /// Interval of each arm's rates.
    pub rate_interval: &'static str,
    /// Interval of each arm's revenue per recipient.
    pub mean_interval: &'static str,
    /// Comparison of rates with the control.
    pub rates: &'static str,
    /// Comparison of revenue per recipient with the control.
    pub revenue: &'static str,
    /// Multiple-comparison adjustment (`p_holm`).
    pub adjustment: &'static str,
    /// The sample-ratio-mismatch check (`srm`).
    pub srm: &'static str,
    /// The test of any difference among the arms (`omnibus`).
    pub omnibus: &'static str,
}

impl Default for Methods {
    fn default() -> Methods {
        Methods {
            rate_interval: RATE_INTERVAL,
            mean_interval: MEAN_INTERVAL,
            rates: RATE_METHOD,
            revenue: MEAN_METHOD,
            adjustment: ADJUSTMENT_METHOD,
            srm: SRM_METHOD,
            omnibus: OMNIBUS_METHOD,
        }
    }
}

/// The analysis of a test's outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeReport {
    /// Experiment name.
    pub experiment: String,
    /// Control arm.
    pub control: String,
    /// Confidence level of every interval, 1 - alpha.
    pub confidence: f64,
    /// The methods, in words.
    pub methods: Methods,
    /// All recipients.
    pub overall: Population,
    /// One per requested attribute, in the requested order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breakdowns: Vec<Breakdown>,
}

/// The analysis of one population: all recipients, or one breakdown group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Population {
    /// Recipients.
    pub n: u64,
    /// Sample-ratio mismatch of the arm sizes.
    pub srm: ChiSquare,
    /// Per arm, the control first.
    pub arms: Vec<ArmSummary>,
    /// Any difference among all arms, per rate.
    pub omnibus: Omnibus,
    /// Each treatment arm against the control, in the order of `arms`.
    pub comparisons: Vec<Comparison>,
}

/// One arm's outcomes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmSummary {
    /// Arm name.
    pub arm: String,
    /// Recipients.
    pub n: u64,
    /// Visitors and visit rate.
    pub visit: RateEstimate,
    /// Converters and conversion rate.
    pub conversion: RateEstimate,
    /// Revenue per recipient.
    pub revenue: MeanEstimate,
}

/// A rate with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RateEstimate {
    /// Recipients who did it.
    pub count: u64,
    /// count / n.
    pub rate: f64,
    /// Wilson interval, low.
    pub ci_low: f64,
    /// Wilson interval, high.
    pub ci_high: f64,
}

/// A mean per recipient with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanEstimate {
    /// Sum over recipients.
    pub total: f64,
    /// Mean per recipient.
    pub mean: f64,
    /// Sample standard deviation (n - 1); null for one recipient.
    pub sd: Option<f64>,
    /// Student t interval, low; null for one recipient.
    pub ci_low: Option<f64>,
    /// Student t interval, high.
    pub ci_high: Option<f64>,
}

/// Chi-square tests of all arms, per rate; null when nobody (or everybody)
/// did it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Omnibus {
    /// Visits.
    pub visit: Option<ChiSquare>,
    /// Conversions.
    pub conversion: Option<ChiSquare>,
}

/// A treatment arm against the control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The treatment arm.
    pub arm: String,
    /// Visit rate.
    pub visit: RateComparison,
    /// Conversion rate.
    pub conversion: RateComparison,
    /// Revenue per recipient.
    pub revenue: MeanComparison,
}

/// Two means per recipient compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanComparison {
    /// How.
    pub method: &'static str,
    /// Treatment mean - control mean.
    pub diff: f64,
    /// Welch t interval, low; null when either arm has one recipient.
    pub diff_ci_low: Option<f64>,
    /// Welch t interval, high.
    pub diff_ci_high: Option<f64>,
    /// Treatment mean / control mean; null unless the control mean is positive.
    pub ratio: Option<f64>,
    /// Delta-method log interval, low; null unless both means are positive.
    pub ratio_ci_low: Option<f64>,
    /// Delta-method log interval, high.
    pub ratio_ci_high: Option<f64>,
    /// Welch's t, positive when the treatment mean is higher.
    pub t: Option<f64>,
    /// Welch-Satterthwaite degrees of freedom.
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p: Option<f64>,
    /// Holm-adjusted across the treatment arms.
    pub p_holm: Option<f64>,
    /// diff × treatment recipients: revenue the treatment added.
    pub incremental: f64,
}

/// The analysis within each value of one attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    /// The attribute.
    pub attribute: String,
    /// Recipients without the attribute (left out).
    pub missing: u64,
    /// One per value: numeric order when every value is a number, else
    /// lexicographic.
    pub groups: Vec<Group>,
    /// Values that could not be analysed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedGroup>,
}

/// One attribute value's analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// The attribute's value.
    pub value: String,
    /// Its analysis.
    #[serde(flatten)]
    pub analysis: Population,
}

/// A value that could not be analysed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SkippedGroup {
    /// The attribute's value.
    pub value: String,
    /// Its recipients.
    pub n: u64,
    /// Why.
    pub reason: String,
}

struct Context<'a> {
    /// All arms, the control first.
    arms: &'a [&'a str],
    planned: &'a [f64],
    alpha: f64,
}

impl Context<'_> {
    fn population(&self, cells: &Cells) -> Result<Population, InsightsError> {
        let empty = Cell::default();
        let cells: Vec<&Cell> = self.arms.iter().map(|a| cells.get(*a).unwrap_or(&empty)).collect();
        if let Some(i) = cells.iter().position(|c| c.n == 0) {
            return Err(InsightsError::Empty { what: format!("arm {:?}", self.arms[i]) });
        }
        let sizes: Vec<u64> = cells.iter().map(|c| c.n).collect();
        let srm = sample_ratio_mismatch(&sizes, self.planned)?;
        let mut arms = Vec::with_capacity(cells.len());
        for (name, c) in self.arms.iter().zip(&cells) {
            arms.push(ArmSummary {
                arm: (*name).to_string(),
                n: c.n,
                visit: self.rate(c.visits, c.n)?,
                conversion: self.rate(c.conversions, c.n)?,
                revenue: self.mean(c),
            });
        }
        let omnibus = Omnibus {
            visit: chi2_contingency(&cells.iter().map(|c| [c.visits, c.n - c.visits]).collect::<Vec<_>>(), false).ok(),
            conversion: chi2_contingency(
                &cells.iter().map(|c| [c.conversions, c.n - c.conversions]).collect::<Vec<_>>(),
                false,
            )
            .ok(),
        };
        let control = cells[0];
        let mut comparisons = Vec::with_capacity(cells.len() - 1);
        for (name, t) in self.arms.iter().zip(&cells).skip(1) {
            comparisons.push(Comparison {
                arm: (*name).to_string(),
                visit: self.rates(t.visits, t.n, control.visits, control.n)?,
                conversion: self.rates(t.conversions, t.n, control.conversions, control.n)?,
                revenue: self.means(t, control),
            });
        }
        let visit = holm(&comparisons.iter().map(|c| Some(c.visit.p)).collect::<Vec<_>>())?;
        let conversion = holm(&comparisons.iter().map(|c| Some(c.conversion.p)).collect::<Vec<_>>())?;
        let revenue = holm(&comparisons.iter().map(|c| c.revenue.p).collect::<Vec<_>>())?;
        for (i, c) in comparisons.iter_mut().enumerate() {
            c.visit.p_holm = visit[i].unwrap_or(1.0);
            c.conversion.p_holm = conversion[i].unwrap_or(1.0);
            c.revenue.p_holm = revenue[i];
        }
        Ok(Population { n: sizes.iter().sum(), srm, arms, omnibus, comparisons })
    }

    fn rate(&self, count: u64, n: u64) -> Result<RateEstimate, InsightsError> {
        let ci = proportion_ci(count, n, self.alpha, CiMethod::Wilson)?;
        Ok(RateEstimate { count, rate: count as f64 / n as f64, ci_low: ci.low, ci_high: ci.high })
    }

    fn mean(&self, c: &Cell) -> MeanEstimate {
        let s = c.summary();
        let (sd, ci_low, ci_high) = if c.n > 1 {
            let half = t_ppf(1.0 - self.alpha / 2.0, s.n - 1.0) * (s.var / s.n).sqrt();
            (Some(s.var.sqrt()), finite(s.mean - half), finite(s.mean + half))
        } else {
            (None, None, None)
        };
        MeanEstimate { total: c.revenue_total, mean: s.mean, sd, ci_low, ci_high }
    }

    fn rates(&self, ct: u64, nt: u64, cc: u64, nc: u64) -> Result<RateComparison, InsightsError> {
        Ok(incrementality(ct, nt, cc, nc, self.alpha)?.for_outcomes(RATE_METHOD))
    }

    fn means(&self, t: &Cell, c: &Cell) -> MeanComparison {
        let (st, sc) = (t.summary(), c.summary());
        let diff = st.mean - sc.mean;
        let test = welch_ttest(&st, &sc).ok();
        let (diff_ci_low, diff_ci_high) = match test {
            Some(w) => {
                let half = t_ppf(1.0 - self.alpha / 2.0, w.df) * (st.var / st.n + sc.var / sc.n).sqrt();
                (finite(diff - half), finite(diff + half))
            }
            None => (None, None),
        };
        let ratio = (sc.mean > 0.0).then(|| st.mean / sc.mean);
        let (ratio_ci_low, ratio_ci_high) = if sc.mean > 0.0 && st.mean > 0.0 && st.n > 1.0 && sc.n > 1.0 {
            let se = (st.var / (st.n * st.mean * st.mean) + sc.var / (sc.n * sc.mean * sc.mean)).sqrt();
            let (ln, z) = ((st.mean / sc.mean).ln(), norm_isf(self.alpha / 2.0));
            (finite((ln - z * se).exp()), finite((ln + z * se).exp()))
        } else {
            (None, None)
        };
        MeanComparison {
            method: MEAN_METHOD,
            diff,
            diff_ci_low,
            diff_ci_high,
            ratio,
            ratio_ci_low,
            ratio_ci_high,
            t: test.map(|w| w.t),
            df: test.map(|w| w.df),
            p: test.map(|w| w.p),
            p_holm: test.map(|w| w.p),
            incremental: diff * st.n,
        }
    }
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Holm over the p-values that are defined; the others stay undefined.
fn holm(p: &[Option<f64>]) -> Result<Vec<Option<f64>>, InsightsError> {
    let defined: Vec<f64> = p.iter().flatten().copied().collect();
    let mut adjusted = adjust_p_values(&defined, Adjustment::Holm)?.into_iter();
    Ok(p.iter().map(|x| x.and_then(|_| adjusted.next())).collect())
}

// ---------------------------------------------------------------------------
// The terminal rendering.

impl fmt::Display for OutcomeReport {
    /// The overall tables (arms; lifts over the control), then one table per
    /// breakdown attribute.
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.render(&mut text)?;
        for line in text.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

impl OutcomeReport {
    fn render(&self, f: &mut String) -> fmt::Result {
        let level = fmt_level(self.confidence);
        let o = &self.overall;
        writeln!(
            f,
            "Experiment {}: {} recipients, control {:?}, {level} intervals",
            self.experiment,
            thousands(o.n),
            self.control
        )?;
        writeln!(
            f,
            "Assignment (sample ratio): chi-square {:.3}, {} df, p = {}",
            o.srm.chi2,
            o.srm.dof,
            fmt_p(o.srm.p)
        )?;
        writeln!(f)?;
        let arm_width = o.arms.iter().map(|a| a.arm.chars().count()).max().unwrap_or(3).max(12);
        writeln!(
            f,
            "{:<arm_width$} {:>9}  {:<25} {:<25} {:<26}",
            "arm",
            "n",
            format!("visit rate [{level} CI]"),
            format!("conversion rate [{level} CI]"),
            format!("revenue/recipient [{level} CI]"),
        )?;
        for a in &o.arms {
            writeln!(
                f,
                "{:<arm_width$} {:>9}  {:<25} {:<25} {:<26}",
                a.arm,
                thousands(a.n),
                rate_cell(&a.visit),
                rate_cell(&a.conversion),
                mean_cell(&a.revenue),
            )?;
        }
        if let (Some(v), Some(c)) = (o.omnibus.visit, o.omnibus.conversion) {
            writeln!(f, "any difference among arms: visit p = {}, conversion p = {}", fmt_p(v.p), fmt_p(c.p))?;
        }
        writeln!(f)?;
        let head = format!("lift over {}", self.control);
        let lift_width = arm_width.max(head.chars().count());
        writeln!(
            f,
            "{:<lift_width$}  {:<10} {:<30} {:<24} {:>9} {:>9}",
            head,
            "metric",
            format!("difference [{level} CI]"),
            format!("ratio [{level} CI]"),
            "p",
            "p (Holm)"
        )?;
        for c in &o.comparisons {
            let rows = [
                ("visit", pp_cell(&c.visit), ratio_cell(c.visit.ratio, c.visit.ratio_ci_low, c.visit.ratio_ci_high)),
                (
                    "conversion",
                    pp_cell(&c.conversion),
                    ratio_cell(c.conversion.ratio, c.conversion.ratio_ci_low, c.conversion.ratio_ci_high),
                ),
                (
                    "revenue",
                    money_diff_cell(&c.revenue),
                    ratio_cell(c.revenue.ratio, c.revenue.ratio_ci_low, c.revenue.ratio_ci_high),
                ),
            ];
            let ps = [
                (Some(c.visit.p), Some(c.visit.p_holm)),
                (Some(c.conversion.p), Some(c.conversion.p_holm)),
                (c.revenue.p, c.revenue.p_holm),
            ];
            for (i, ((metric, diff, ratio), (p, holm))) in rows.into_iter().zip(ps).enumerate() {
                let name = if i == 0 { c.arm.as_str() } else { "" };
                writeln!(
                    f,
                    "{name:<lift_width$}  {metric:<10} {diff:<30} {ratio:<24} {:>9} {:>9}",
                    opt_p(p),
                    opt_p(holm)
                )?;
            }
        }
        writeln!(f, "rates: {}", RATE_METHOD)?;
        writeln!(f, "revenue per recipient: {}", MEAN_METHOD)?;
        writeln!(f, "p (Holm): {}", ADJUSTMENT_METHOD)?;
        for b in &self.breakdowns {
            writeln!(f)?;
            breakdown(f, b, &self.control, &level)?;
        }
        Ok(())
    }
}

fn breakdown(f: &mut String, b: &Breakdown, control: &str, level: &str) -> fmt::Result {
    let mut title = format!("By {}", b.attribute);
    if b.missing > 0 {
        title.push_str(&format!(" ({} recipients without it left out)", thousands(b.missing)));
    }
    writeln!(f, "{title}: rates and revenue per recipient per arm; differences from {control} [{level} CI], p Holm")?;
    let value_width = b.groups.iter().map(|g| g.value.chars().count()).max().unwrap_or(5).max(b.attribute.len());
    let arm_width =
        b.groups.iter().flat_map(|g| g.analysis.arms.iter().map(|a| a.arm.chars().count())).max().unwrap_or(3);
    writeln!(
        f,
        "{:<value_width$}  {:<arm_width$} {:>7} {:>7} {:>7} {:>8}  {:<26} {:>7}  {:<26} {:>7}  {:<26} {:>7}  {:>7}",
        b.attribute,
        "arm",
        "n",
        "visit",
        "conv.",
        "rev/rcp",
        "visit diff (pp)",
        "p Holm",
        "conversion diff (pp)",
        "p Holm",
        "revenue/recipient diff",
        "p Holm",
        "SRM p",
    )?;
    for g in &b.groups {
        let a = &g.analysis;
        for (i, arm) in a.arms.iter().enumerate() {
            let value = if i == 0 { g.value.as_str() } else { "" };
            let srm = if i == 0 { fmt_p(a.srm.p) } else { String::new() };
            let (vd, vp, cd, cp, rd, rp) = match i.checked_sub(1).and_then(|j| a.comparisons.get(j)) {
                Some(c) => (
                    pp_cell(&c.visit),
                    fmt_p(c.visit.p_holm),
                    pp_cell(&c.conversion),
                    fmt_p(c.conversion.p_holm),
                    money_diff_cell(&c.revenue),
                    opt_p(c.revenue.p_holm),
                ),
                None => Default::default(),
            };
            writeln!(
                f,
                "{value:<value_width$}  {:<arm_width$} {:>7} {:>7} {:>7} {:>8.3}  {vd:<26} {vp:>7}  {cd:<26} {cp:>7}  {rd:<26} \
                 {rp:>7}  {srm:>7}",
                arm.arm,
                thousands(arm.n),
                pct(arm.visit.rate),
                pct(arm.conversion.rate),
                arm.revenue.mean,
            )?;
        }
    }
    for s in &b.skipped {
        writeln!(f, "{:<value_width$}  skipped ({} recipients): {}", s.value, thousands(s.n), s.reason)?;
    }
    Ok(())
}

fn fmt_level(confidence: f64) -> String {
    let pct = confidence * 100.0;
    if (pct - pct.round()).abs() < 1e-9 { format!("{pct:.0}%") } else { format!("{pct}%") }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn rate_cell(r: &RateEstimate) -> String {
    format!("{:.2}% [{:.2}, {:.2}]", 100.0 * r.rate, 100.0 * r.ci_low, 100.0 * r.ci_high)
}

fn mean_cell(m: &MeanEstimate) -> String {
    match (m.ci_low, m.ci_high) {
        (Some(l), Some(h)) => format!("{:.3} [{l:.3}, {h:.3}]", m.mean),
        _ => format!("{:.3}", m.mean),
    }
}

fn pp_cell(r: &RateComparison) -> String {
    format!("{:+.2} pp [{:+.2}, {:+.2}]", 100.0 * r.diff, 100.0 * r.diff_ci_low, 100.0 * r.diff_ci_high)
}

fn money_diff_cell(m: &MeanComparison) -> String {
    match (m.diff_ci_low, m.diff_ci_high) {
        (Some(l), Some(h)) => format!("{:+.3} [{l:+.3}, {h:+.3}]", m.diff),
        _ => format!("{:+.3}", m.diff),
    }
}

fn ratio_cell(ratio: Option<f64>, low: Option<f64>, high: Option<f64>) -> String {
    match (ratio, low, high) {
        (Some(r), Some(l), Some(h)) => format!("{r:.3} [{l:.3}, {h:.3}]"),
        (Some(r), _, _) => format!("{r:.3}"),
        _ => "-".to_string(),
    }
}

fn fmt_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else if p > 0.0 {
        format!("{p:.1e}")
    } else {
        "<1e-300".to_string()
    }
}

fn opt_p(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_string(), fmt_p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(arm: &str, tier: &str, visited: bool, converted: bool, revenue: f64) -> Outcome {
        Outcome {
            arm: arm.to_string(),
            attributes: BTreeMap::from([("tier".to_string(), tier.to_string())]),
            visited,
            converted,
            revenue,
        }
    }

    fn sample() -> Vec<Outcome> {
        let mut v = Vec::new();
        for i in 0..200 {
            let tier = if i % 2 == 0 { "10" } else { "9" };
            v.push(outcome("hold", tier, i % 10 == 0, i % 40 == 0, if i % 40 == 0 { 20.0 } else { 0.0 }));
            v.push(outcome("mail", tier, i % 5 == 0, i % 20 == 0, if i % 20 == 0 { 25.0 + i as f64 } else { 0.0 }));
        }
        v.push(outcome("mail", "solo", true, true, 5.0));
        v
    }

    #[test]
    fn tally_matches_two_pass_summaries_and_reuses_the_ab_functions() {
        let data = sample();
        let opts = OutcomeOptions::new("t", "hold").by(&["tier", "absent"]);
        let r = analyze_outcomes(&data, &opts).unwrap();
        assert_eq!(r.overall.n, 401);
        assert_eq!(r.overall.arms[0].arm, "hold");
        let mail: Vec<f64> = data.iter().filter(|o| o.arm == "mail").map(|o| o.revenue).collect();
        let s = Summary::from_values(&mail).unwrap();
        let m = &r.overall.arms[1].revenue;
        assert!((m.mean - s.mean).abs() < 1e-12 && (m.sd.unwrap() - s.var.sqrt()).abs() < 1e-12);
        let c = &r.overall.comparisons[0];
        let inc = incrementality(11, 201, 5, 200, 0.05).unwrap();
        assert_eq!((c.conversion.diff, c.conversion.p, c.conversion.p_holm), (inc.diff, inc.p, inc.p));
        assert!(c.revenue.diff_ci_low.unwrap() < c.revenue.diff && c.revenue.diff < c.revenue.diff_ci_high.unwrap());
        // numeric order of the values; "solo" has no holdout: skipped
        let tier = &r.breakdowns[0];
        assert_eq!(tier.groups.iter().map(|g| g.value.as_str()).collect::<Vec<_>>(), ["10", "9"]);
        assert_eq!(tier.skipped.len(), 1);
        assert_eq!(tier.skipped[0].reason, "arm \"hold\" has no observations");
        assert_eq!(r.breakdowns[1].missing, 401);
        let text = r.to_string();
        assert!(text.contains("By tier") && text.contains("lift over hold"), "{text}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["overall"]["comparisons"][0]["visit"]["method"], RATE_METHOD);
        assert!(json["breakdowns"][0]["groups"][0]["srm"]["p"].is_number());
    }

    #[test]
    fn invalid_input_is_an_error() {
        let data = sample();
        let bad = OutcomeOptions::new("t", "nobody");
        assert!(matches!(analyze_outcomes(&data, &bad), Err(InsightsError::UnknownControl(_))));
        let one: Vec<Outcome> = data.iter().filter(|o| o.arm == "hold").cloned().collect();
        assert!(analyze_outcomes(&one, &OutcomeOptions::new("t", "hold")).is_err());
        let mut partial = OutcomeOptions::new("t", "hold");
        partial.planned_split.insert("hold".into(), 1.0);
        assert_eq!(analyze_outcomes(&data, &partial), Err(InsightsError::PartialSplit));
        partial.planned_split.insert("mail".into(), 1.0);
        assert!(analyze_outcomes(&data, &partial).is_ok());
        let mut nan = data.clone();
        nan[0].revenue = f64::NAN;
        assert!(analyze_outcomes(&nan, &OutcomeOptions::new("t", "hold")).is_err());
        let mut alpha = OutcomeOptions::new("t", "hold");
        alpha.alpha = 1.0;
        assert!(OutcomeTally::new(alpha).is_err());
    }

    #[test]
    fn degenerate_groups_give_nulls_not_nans() {
        let data = [
            outcome("a", "x", false, false, 0.0),
            outcome("a", "x", false, false, 0.0),
            outcome("b", "x", false, false, 0.0),
        ];
        let r = analyze_outcomes(&data, &OutcomeOptions::new("t", "a")).unwrap();
        let c = &r.overall.comparisons[0];
        assert_eq!((c.conversion.z, c.conversion.p, c.conversion.ratio), (0.0, 1.0, None));
        assert_eq!((c.revenue.t, c.revenue.ratio, c.revenue.diff_ci_low), (None, None, None));
        assert_eq!(r.overall.arms[1].revenue.ci_low, None);
        assert!(r.overall.omnibus.visit.is_none());
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("NaN"));
    }
}
