//! `tidings experiments report`: an experiment's result from stored events,
//! as `spec/insights.md` defines it. Exposure is a profile's first
//! `Experiment Viewed` for the experiment; profiles exposed to more than one
//! variation are excluded and counted; the metric is an event within a
//! window after exposure (a rate), optionally with a value property (a mean
//! per exposed profile, zero for those who did not convert). The exposures
//! come from one read of the log ([`tidings_insights_log::experiment_exposures`],
//! counted by [`tidings_insights::exposure`], as the runner counts them).

use crate::config::Config;
use crate::history::{log_bar, parse_duration};
use crate::open::{open_store, workspace};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use tidings_insights::ab::Summary;
use tidings_insights::exposure::{ExperimentQuery, ExposureOutcome};
use tidings_insights::report::{ExperimentAnalysis, ExperimentReport, ReportOptions, VariationInput};
use tidings_insights::report::{analyze_experiment, experiment_report};
use tidings_model::Micros;
use tidings_store_sqlite::Mode;

#[derive(clap::Args, Debug)]
pub struct ExperimentsArgs {
    #[command(subcommand)]
    pub command: ExperimentsCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ExperimentsCommand {
    /// Analyse an experiment: rates with Wilson intervals, lift, z-test with Holm,
    /// probability to beat control, Welch's t for values, sample-ratio check.
    Report(ReportArgs),
    /// The learnings log: concluded experiments with hypothesis, who took
    /// part, result and decision, newest first (searchable).
    Learnings(LearningsArgs),
    /// The power and sample-size calculator: how many people each arm needs
    /// to detect a lift (and how long that takes), or the power of a given size.
    Plan(PlanArgs),
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The control's conversion rate, e.g. 0.05 or 5%.
    #[arg(long)]
    pub baseline: String,
    /// The smallest relative lift worth detecting, e.g. 0.1 or 10%.
    #[arg(long, default_value = "10%")]
    pub lift: String,
    /// Significance level (two-sided).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Power: the chance to detect the lift when it is real.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// Variations besides the control (the level is Holm/Bonferroni-split across them).
    #[arg(long, default_value_t = 1)]
    pub challengers: u32,
    /// People entering the experiment per day, to say how long it must run.
    #[arg(long)]
    pub per_day: Option<f64>,
    /// Share held out (gets nothing), e.g. 10%; it adds people, not arms.
    #[arg(long, default_value = "0")]
    pub holdout: String,
    /// Instead of sizing: the power with this many people per arm.
    #[arg(long)]
    pub per_arm: Option<u64>,
}
#[derive(clap::Args, Debug)]
pub struct LearningsArgs {
    /// Only entries with every one of these words somewhere in their text.
    #[arg(long)]
    pub search: Option<String>,
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// The experiment id (`experiment_id` or `experiment_name` of its `Experiment Viewed` events).
    pub experiment: String,
    /// The data folder.
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// The workspace [default: the configured default workspace].
    #[arg(long)]
    pub workspace: Option<String>,
    /// The control variation [default: one named `control` or `holdout`].
    #[arg(long)]
    pub control: Option<String>,
    /// The metric event.
    #[arg(long, default_value = "Order Completed")]
    pub metric: String,
    /// The window after exposure in which the metric counts (e.g. 14d, 72h).
    #[arg(long, default_value = "14d")]
    pub window: String,
    /// A numeric property of the metric event to total per profile (e.g. revenue).
    #[arg(long)]
    pub value: Option<String>,
    /// Break the analysis down by a trait (its value as of exposure); repeatable.
    #[arg(long)]
    pub by: Vec<String>,
    /// Break the analysis down by the segments each person was in at exposure:
    /// with a holdout as the control, the lift of email per segment.
    #[arg(long)]
    pub by_segment: bool,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Running count, mean and sum of squared deviations (Welford).
#[derive(Default, Clone)]
struct Acc {
    exposed: u64,
    conversions: u64,
    mean: f64,
    m2: f64,
}

impl Acc {
    fn add(&mut self, converted: bool, value: f64) {
        self.exposed += 1;
        self.conversions += u64::from(converted);
        let d = value - self.mean;
        self.mean += d / self.exposed as f64;
        self.m2 += d * (value - self.mean);
    }
    fn input(&self, name: &str, with_value: bool) -> VariationInput {
        let value = (with_value && self.exposed > 1).then(|| Summary {
            n: self.exposed as f64,
            mean: self.mean,
            var: self.m2 / (self.exposed as f64 - 1.0),
        });
        VariationInput {
            name: name.to_string(),
            exposed: self.exposed,
            conversions: self.conversions,
            value,
            planned_weight: None,
        }
    }
}

pub fn run(args: ExperimentsArgs) -> Result<()> {
    match args.command {
        ExperimentsCommand::Report(a) => report(a),
        ExperimentsCommand::Learnings(a) => learnings(a),
        ExperimentsCommand::Plan(a) => plan(a),
    }
}

/// A share written as 0.05 or 5%.
fn share(flag: &str, text: &str) -> Result<f64> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => t.parse::<f64>(),
    };
    v.ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .with_context(|| format!("--{flag} {text:?}: give a share like 0.05 or 5%"))
}

fn plan(a: PlanArgs) -> Result<()> {
    let baseline = share("baseline", &a.baseline)?;
    let lift = share("lift", &a.lift)?;
    let holdout = share("holdout", &a.holdout)?;
    if !(0.0..1.0).contains(&holdout) {
        bail!("--holdout {:?}: give a share below 100%, like 10%", a.holdout);
    }
    if a.challengers == 0 {
        bail!("--challengers: at least 1 variation besides the control");
    }
    let target = baseline * (1.0 + lift);
    if !(baseline > 0.0 && target < 1.0 && lift > 0.0) {
        bail!(
            "a control rate of {:.3}% with a lift of {:+.1}% is not a test of two rates between 0 and 100%; \
             give --baseline above 0 and a --lift above 0 that keeps the target below 100%",
            100.0 * baseline,
            100.0 * lift
        );
    }
    // Holm's first step: the smallest p-value is compared with alpha / m.
    let alpha = a.alpha / f64::from(a.challengers);
    let arms = 1 + a.challengers;
    println!(
        "Control {:.3}% -> {:.3}% ({:+.1}%): two-sided z-test at alpha {}{}, power {}.",
        100.0 * baseline,
        100.0 * target,
        100.0 * lift,
        a.alpha,
        if a.challengers > 1 {
            format!(" (/{} for {} challengers, Holm)", a.challengers, a.challengers)
        } else {
            String::new()
        },
        a.power
    );
    if let Some(n) = a.per_arm {
        let p = tidings_insights::ab::power_two_proportions(baseline, target, n as f64, alpha, 1.0)
            .map_err(|e| anyhow::anyhow!("{e}; give --baseline and --lift so that both rates lie between 0 and 1"))?;
        println!("With {n} people per arm the power is {:.1}%.", 100.0 * p);
        return Ok(());
    }
    let plan = tidings_insights::ab::plan_two_proportions(baseline, target, alpha, a.power, 1.0)
        .map_err(|e| anyhow::anyhow!("{e}; give --baseline and --lift so that both rates lie between 0 and 1"))?;
    let per_arm = plan.n_control;
    let tested = per_arm * u64::from(arms);
    let total = (tested as f64 / (1.0 - holdout)).ceil() as u64;
    println!("Each of the {arms} arms needs {per_arm} people (Cohen's h {:.4}).", plan.cohens_h);
    if holdout > 0.0 {
        println!("With {:.0}% held out: {total} people in all.", 100.0 * holdout);
    } else {
        println!("{total} people in all.");
    }
    if let Some(d) = a.per_day.filter(|d| *d > 0.0) {
        println!("At {d} people a day that takes {:.0} days.", (total as f64 / d).ceil());
    }
    println!(
        "Method: normal approximation with Cohen's h (as statsmodels NormalIndPower); a sequential (mSPRT) \
         review needs more people than this fixed-horizon size in exchange for looking as often as you like."
    );
    Ok(())
}

fn learnings(a: LearningsArgs) -> Result<()> {
    let config = Config::load(&a.data)?;
    let store = open_store(&a.data, &config, Mode::ReadOnly)?;
    let ws = workspace(store.as_ref(), config.workspace_name())?;
    let mut all = tidings_store::learnings::load(store.as_ref(), ws)?;
    if let Some(q) = &a.search {
        all.retain(|l| l.matches(q));
    }
    all.reverse();
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    if all.is_empty() {
        println!(
            "No learnings{}. Experiments enter the log when a split with `rollout = true` is decided, \
             or by hand with POST /api/learnings.",
            a.search.as_ref().map(|q| format!(" matching {q:?}")).unwrap_or_default()
        );
    }
    for l in &all {
        println!("{}  {} ({})", tidings_model::time::format_time(l.concluded_at), l.experiment, l.source);
        let line = |k: &str, v: Option<&str>| {
            if let Some(v) = v {
                println!("  {k:<11} {v}");
            }
        };
        line("journey", l.journey.as_deref());
        line("hypothesis", l.hypothesis.as_deref());
        line("who", l.segment.as_deref());
        line("metric", Some(&l.metric));
        line("result", Some(&l.result));
        line("decision", Some(&l.decision));
        println!();
    }
    Ok(())
}

fn report(a: ReportArgs) -> Result<()> {
    let window: Micros = parse_duration(&a.window)
        .with_context(|| format!("--window {:?}: give a number and a unit, like 14d, 72h or 2w", a.window))?;
    let config = Config::load(&a.data)?;
    let store = open_store(&a.data, &config, Mode::ReadOnly)?;
    let ws = workspace(store.as_ref(), a.workspace.as_deref().unwrap_or(config.workspace_name()))?;
    let query = ExperimentQuery {
        experiment: a.experiment.clone(),
        metric: a.metric.clone(),
        window,
        value: a.value.clone(),
        traits: a.by.clone(),
        segments: a.by_segment,
    };
    let bar = log_bar(store.as_ref(), ws, a.quiet)?;
    let seen = tidings_insights_log::experiment_exposures(store.as_ref(), ws, query, &mut |seq| {
        bar.set_position(seq.max(0) as u64)
    })?;
    bar.finish_and_clear();

    let mut overall: BTreeMap<String, Acc> = BTreeMap::new();
    let mut by: BTreeMap<String, BTreeMap<String, Acc>> = BTreeMap::new();
    let excluded = seen.mixed;
    for x in &seen.exposed {
        overall.entry(x.variation.clone()).or_default().add(x.converted, x.value);
        for g in groups(&a, x) {
            by.entry(g).or_default().entry(x.variation.clone()).or_default().add(x.converted, x.value);
        }
    }
    if overall.is_empty() {
        bail!(
            "no profile has an `Experiment Viewed` event with experiment_id {:?}; check the id (it is case-sensitive)",
            a.experiment
        );
    }
    let control = match &a.control {
        Some(c) if overall.contains_key(c) => c.clone(),
        Some(c) => bail!("no variation named {c:?}; the variations are {:?}", overall.keys().collect::<Vec<_>>()),
        None => {
            overall.keys().find(|k| ["control", "holdout"].contains(&k.to_lowercase().as_str())).cloned().with_context(
                || {
                    format!(
                        "say which variation is the control with --control; the variations are {:?}",
                        overall.keys().collect::<Vec<_>>()
                    )
                },
            )?
        }
    };
    let with_value = a.value.is_some();
    let inputs = |accs: &BTreeMap<String, Acc>| -> Vec<VariationInput> {
        // The control first, then the others by name.
        let mut v: Vec<VariationInput> = accs.iter().map(|(n, acc)| acc.input(n, with_value)).collect();
        v.sort_by_key(|x| x.name != control);
        v
    };
    let options = ReportOptions::default();
    let mut report = experiment_report(&a.experiment, &control, &inputs(&overall), &options)?;
    let mut skipped = Vec::new();
    for (key, accs) in &by {
        let key = key.clone();
        if accs.len() < overall.len() || accs.values().any(|x| x.exposed == 0) {
            skipped.push(format!("{key}: not every variation has profiles here"));
            continue;
        }
        match analyze_experiment(&control, &inputs(accs), &options) {
            Ok(analysis) => {
                report.breakdown.insert(key, analysis);
            }
            Err(e) => skipped.push(format!("{key}: {e}")),
        }
    }
    match a.format.as_str() {
        "json" => {
            let mut v = serde_json::to_value(&report)?;
            v["excluded_mixed"] = excluded.into();
            v["metric"] = a.metric.clone().into();
            v["window"] = a.window.clone().into();
            if !skipped.is_empty() {
                v["skipped"] = skipped.into();
            }
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        _ => print!("{}", text(&report, &a, excluded, &skipped)),
    }
    Ok(())
}

/// The breakdown groups of an exposed profile: each `--by` trait's value
/// at exposure, then each segment it was in (`--by-segment`).
fn groups(a: &ReportArgs, x: &ExposureOutcome) -> Vec<String> {
    let traits = a.by.iter().zip(&x.traits).map(|(t, v)| {
        let v = match v {
            None | Some(Value::Null) => "(none)".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if a.by.len() == 1 { v } else { format!("{t}={v}") }
    });
    traits.chain(x.segments.iter().map(|s| format!("in segment {s}"))).collect()
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_string(), f)
}

fn p(x: f64) -> String {
    if x < 1e-4 { format!("{x:.1e}") } else { format!("{x:.4}") }
}

fn analysis_table(out: &mut String, a: &ExperimentAnalysis, with_value: bool) {
    let _ = writeln!(
        out,
        "{:<20} {:>9} {:>9} {:>8} {:>17} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "variation", "exposed", "converted", "rate", "95% CI (Wilson)", "lift", "p", "p (Holm)", "P(beat)", "p (seq)"
    );
    for v in &a.variations {
        let _ = writeln!(
            out,
            "{:<20} {:>9} {:>9} {:>8} {:>17} {:>10} {:>9} {:>9} {:>9} {:>8}",
            v.name,
            v.exposed,
            v.conversions,
            pct(v.rate),
            format!("[{}, {}]", pct(v.ci_low), pct(v.ci_high)),
            opt(v.lift_rel, |x| format!("{:+.1}%", 100.0 * x)),
            opt(v.p, p),
            opt(v.p_holm, p),
            opt(v.p_beat_control, |x| format!("{x:.3}")),
            opt(v.p_sequential, p),
        );
    }
    if with_value {
        let _ = writeln!(out, "{:<20} {:>12} {:>9} {:>9} {:>9}", "", "value/exposed", "Welch t", "df", "p");
        for v in &a.variations {
            if let Some(val) = &v.value {
                let _ = writeln!(
                    out,
                    "{:<20} {:>12.3} {:>9} {:>9} {:>9}",
                    v.name,
                    val.value_mean,
                    opt(val.welch_t, |x| format!("{x:.3}")),
                    opt(val.welch_df, |x| format!("{x:.0}")),
                    opt(val.welch_p, p)
                );
            }
        }
    }
    // The lift over the control as a difference and a ratio, each with its interval.
    if let Some(c) = a.variations.first() {
        for v in &a.variations[1..] {
            if let Ok(i) = tidings_insights::incrementality::incrementality(
                v.conversions,
                v.exposed,
                c.conversions,
                c.exposed,
                0.05,
            ) {
                let ratio = match (i.ratio, i.ratio_ci_low, i.ratio_ci_high) {
                    (Some(r), Some(lo), Some(hi)) => format!("ratio {r:.3} [{lo:.3}, {hi:.3}]"),
                    _ => "ratio undefined (no conversions on one side)".to_string(),
                };
                let _ = writeln!(
                    out,
                    "{} over {}: difference {:+.2} points [{:+.2}, {:+.2}], {ratio}",
                    v.name,
                    c.name,
                    100.0 * i.diff,
                    100.0 * i.diff_ci_low,
                    100.0 * i.diff_ci_high
                );
            }
        }
    }
    let warn = if a.srm.p < 0.001 { "  <- assignment looks broken" } else { "" };
    let _ = writeln!(out, "sample ratio: chi-square {:.3}, p = {}{warn}", a.srm.chi2, p(a.srm.p));
}

fn text(r: &ExperimentReport, a: &ReportArgs, excluded: u64, skipped: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Experiment {:?}: metric {:?} within {} of exposure{}; control {:?}",
        r.experiment,
        a.metric,
        a.window,
        a.value.as_ref().map(|v| format!(", value {v:?}")).unwrap_or_default(),
        r.control
    );
    if excluded > 0 {
        let _ = writeln!(out, "{excluded} profiles saw more than one variation and are excluded");
    }
    let _ = writeln!(out);
    analysis_table(&mut out, &r.analysis, a.value.is_some());
    for (k, analysis) in &r.breakdown {
        if k.starts_with("in segment ") {
            let _ = writeln!(out, "\n{k}");
        } else {
            let _ = writeln!(out, "\n{}: {k}", a.by.join(", "));
        }
        analysis_table(&mut out, analysis, a.value.is_some());
    }
    for s in skipped {
        let _ = writeln!(out, "skipped {s}");
    }
    let _ = writeln!(
        out,
        "\nmethods: rate = converted/exposed with a 95% Wilson interval; lift relative to the control; \
         two-proportion z-test (pooled, two-sided), Holm-adjusted across variations; P(beat) with Beta(1,1) \
         priors; p (seq): mSPRT always-valid p-value; difference: Newcombe hybrid score interval, ratio: Katz \
         log interval (95%); values: Welch's t-test; sample ratio: chi-square against an equal split."
    );
    out
}
