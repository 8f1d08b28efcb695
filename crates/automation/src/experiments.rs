//! Experiments inside journeys: a split with `rollout = true` is watched as
//! the log is read (exposures from `Experiment Viewed`, conversions from
//! its metric within the window after exposure), reviewed once an hour of
//! the clock with the always-valid sequential test (mSPRT, so looking every
//! hour does not inflate false positives), and when the test declares a
//! winner, everyone who reaches the split later (except the holdout's
//! share, which keeps measuring what the email adds) gets the winner. Each
//! decision goes into the learnings log ([`tidings_store::learnings`]),
//! where a manual decision (`POST /api/learnings` with a winner) rolls
//! out too.
//!
//! Decision rule, at level [`ALPHA`], among the arms that are not the
//! holdout, the first arm of the split being the control: the best
//! challenger whose sequential p-value against the control is below ALPHA
//! with a positive lift wins; if every challenger is below ALPHA with a
//! negative lift, the control wins; otherwise the test goes on. Only
//! exposures whose window has passed are counted, and nothing is decided
//! while the arms' sizes disagree with the planned split (sample-ratio
//! mismatch, p < 0.001).

use std::collections::HashMap;

use serde_json::json;
use tidings_insights::exposure::Exposures;
use tidings_insights::report::{ReportOptions, VariationInput, analyze_experiment};
use tidings_journeys::Journey;
use tidings_journeys::definition::{ExperimentPlan, StepKind, Trigger};
use tidings_model::time::{HOUR, format_time};
use tidings_model::{Micros, StoredEvent};
use tidings_store::learnings::Learning;

/// The sequential test's level.
pub const ALPHA: f64 = 0.05;
/// How often (clock time) the running experiments are reviewed.
pub const REVIEW_EVERY: Micros = HOUR;

/// An experiment under way.
#[derive(Debug)]
struct Trial {
    journey: String,
    segment: Option<String>,
    plan: ExperimentPlan,
    /// Arm names (step ids) with their planned percent; the control first.
    arms: Vec<(String, u32)>,
    /// First exposure per profile (arm index), in log order; profiles seen
    /// in more than one arm are left out.
    exposures: Exposures<usize>,
}

/// The experiments of the journeys, and the winners decided so far.
#[derive(Debug, Default)]
pub struct Trials {
    running: HashMap<String, Trial>,
    /// Experiment -> the variation rolled out.
    pub winners: HashMap<String, String>,
    last_review: Option<Micros>,
}

fn who(j: &Journey) -> String {
    match &j.trigger {
        Trigger::SegmentEntered(s) => format!("entered segment {s}"),
        Trigger::StageChanged { set, stage } => {
            format!("entered stage {set}.{}", stage.as_deref().unwrap_or("*"))
        }
        Trigger::Event { name, .. } => format!("did {name:?}"),
        Trigger::Schedule { .. } => "everyone on the journey's schedule".into(),
        Trigger::Api => "entered through the API".into(),
    }
}

impl Trials {
    /// The splits with `rollout` of `journeys`, less those already decided
    /// in `learnings`.
    pub fn new(journeys: &[Journey], learnings: &[Learning]) -> Trials {
        let mut t = Trials::default();
        t.decided(learnings);
        for j in journeys {
            for s in &j.steps {
                let StepKind::Split { experiment, arms, plan } = &s.kind else { continue };
                if !plan.rollout || t.winners.contains_key(experiment) {
                    continue;
                }
                let arms: Vec<(String, u32)> =
                    arms.iter().filter_map(|&(to, pct)| Some((j.steps.get(to?)?.id.clone(), pct))).collect();
                t.running.insert(
                    experiment.clone(),
                    Trial {
                        journey: j.key.clone(),
                        segment: Some(who(j)),
                        plan: plan.clone(),
                        arms,
                        exposures: Exposures::new(plan.window),
                    },
                );
            }
        }
        t
    }

    /// Takes the winners of the learnings log (decided here or by hand).
    pub fn decided(&mut self, learnings: &[Learning]) {
        for l in learnings {
            if let Some(w) = &l.winner {
                self.winners.insert(l.experiment.clone(), w.clone());
                self.running.remove(&l.experiment);
            }
        }
    }

    /// Takes one log entry (in log order).
    pub fn learn(&mut self, e: &StoredEvent) {
        if self.running.is_empty() || e.kind != tidings_model::MessageType::Track {
            return;
        }
        let Some(name) = e.event.as_deref() else { return };
        if name == tidings_model::event::EXPERIMENT_VIEWED {
            let props = &e.body.parts().properties;
            let Some(trial) = props["experiment_id"].as_str().and_then(|x| self.running.get_mut(x)) else { return };
            if props["phase"] == "rollout" {
                return;
            }
            let Some(arm) = props["variation_id"].as_str().and_then(|v| trial.arms.iter().position(|a| a.0 == v))
            else {
                return; // the holdout, or an arm no longer in the journey
            };
            trial.exposures.expose(e.profile, e.timestamp, arm);
            return;
        }
        for t in self.running.values_mut() {
            if t.plan.metric == name {
                t.exposures.convert(e.profile, e.timestamp, 0.0);
            }
        }
    }

    /// Whether a review is due: an hour of the clock since the last one.
    pub fn due(&self, now: Micros) -> bool {
        self.last_review.is_none_or(|t| now >= t.saturating_add(REVIEW_EVERY))
    }

    /// Reviews the running experiments; the learnings of those decided now.
    pub fn review(&mut self, now: Micros) -> Vec<Learning> {
        self.last_review = Some(now);
        let mut out = Vec::new();
        for (key, t) in &self.running {
            if let Some(l) = decide(key, t, now) {
                out.push(l);
            }
        }
        for l in &out {
            self.running.remove(&l.experiment);
            if let Some(w) = &l.winner {
                self.winners.insert(l.experiment.clone(), w.clone());
            }
        }
        out
    }
}

/// The decision on one experiment at `now`, if the test has reached one.
fn decide(key: &str, t: &Trial, now: Micros) -> Option<Learning> {
    let mut counts = vec![(0u64, 0u64); t.arms.len()];
    for x in t.exposures.settled(now) {
        counts[x.arm].0 += 1;
        counts[x.arm].1 += u64::from(x.converted);
    }
    if counts.iter().any(|c| c.0 == 0) {
        return None;
    }
    let inputs: Vec<VariationInput> = t
        .arms
        .iter()
        .zip(&counts)
        .map(|((name, pct), &(exposed, conversions))| VariationInput {
            name: name.clone(),
            exposed,
            conversions,
            value: None,
            planned_weight: Some(f64::from(*pct)),
        })
        .collect();
    let control = &t.arms[0].0;
    let a = analyze_experiment(control, &inputs, &ReportOptions::default()).ok()?;
    if a.srm.p < 0.001 {
        return None;
    }
    let challengers = &a.variations[1..];
    let significant = |v: &&tidings_insights::report::VariationReport| v.p_sequential.is_some_and(|p| p < ALPHA);
    let better = challengers
        .iter()
        .filter(significant)
        .filter(|v| v.lift_rel.is_some_and(|l| l > 0.0))
        .max_by(|x, y| x.rate.total_cmp(&y.rate));
    let winner = match better {
        Some(v) => v,
        None if challengers.iter().all(|v| significant(&v) && v.lift_rel.is_some_and(|l| l < 0.0)) => &a.variations[0],
        None => return None,
    };
    let describe = |v: &tidings_insights::report::VariationReport| {
        format!(
            "{} {:.2}% ({}/{}, 95% CI {:.2}-{:.2}%)",
            v.name,
            100.0 * v.rate,
            v.conversions,
            v.exposed,
            100.0 * v.ci_low,
            100.0 * v.ci_high
        )
    };
    let arms: Vec<String> = a.variations.iter().map(describe).collect();
    let result = match winner.lift_rel {
        Some(l) if winner.name != *control => format!(
            "{} beat {control} by {:+.1}% (mSPRT always-valid p = {:.4} < {ALPHA}); {}",
            winner.name,
            100.0 * l,
            winner.p_sequential.unwrap_or(1.0),
            arms.join("; ")
        ),
        _ => format!("{control} beat every challenger (mSPRT always-valid p < {ALPHA} for each); {}", arms.join("; ")),
    };
    Some(Learning {
        experiment: key.to_string(),
        journey: Some(t.journey.clone()),
        hypothesis: t.plan.hypothesis.clone(),
        segment: t.segment.clone(),
        metric: format!("{} within {} h of exposure", t.plan.metric, t.plan.window / HOUR),
        result,
        decision: format!("rolled out {} to everyone outside the holdout from {}", winner.name, format_time(now)),
        winner: Some(winner.name.clone()),
        concluded_at: now,
        source: "automatic".into(),
        details: json!({"control": control, "variations": a.variations, "srm": a.srm}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_model::ProfileId;

    /// A trial whose arms had `counts` (exposed, converted), all matured by day 10.
    fn trial(counts: &[(u64, u64)], percents: &[u32]) -> Trial {
        let names = ["a", "b", "c"];
        let mut exposures = Exposures::new(HOUR);
        let mut p = 0i64;
        for (arm, &(n, k)) in counts.iter().enumerate() {
            for i in 0..n {
                exposures.expose(ProfileId(p), 0, arm);
                if i < k {
                    exposures.convert(ProfileId(p), 0, 0.0);
                }
                p += 1;
            }
        }
        Trial {
            journey: "j".into(),
            segment: None,
            plan: ExperimentPlan { rollout: true, window: HOUR, ..ExperimentPlan::default() },
            arms: names.iter().zip(percents).map(|(n, &pct)| (n.to_string(), pct)).collect(),
            exposures,
        }
    }

    const LATER: Micros = 10 * 24 * HOUR;

    #[test]
    fn the_best_significant_challenger_wins() {
        let l = decide("x", &trial(&[(1000, 100), (1000, 200), (1000, 150)], &[34, 33, 33]), LATER).unwrap();
        assert_eq!(l.winner.as_deref(), Some("b"));
    }

    #[test]
    fn the_control_wins_only_when_every_challenger_is_surely_worse() {
        let l = decide("x", &trial(&[(1000, 300), (1000, 100), (1000, 120)], &[34, 33, 33]), LATER).unwrap();
        assert_eq!(l.winner.as_deref(), Some("a"));
        assert!(l.result.starts_with("a beat every challenger"), "{}", l.result);
        assert!(decide("x", &trial(&[(1000, 300), (1000, 100), (1000, 290)], &[34, 33, 33]), LATER).is_none());
    }

    #[test]
    fn nothing_is_decided_early_inconclusive_or_with_a_broken_split() {
        let t = trial(&[(1000, 100), (1000, 200)], &[50, 50]);
        assert!(decide("x", &t, HOUR - 1).is_none(), "windows not over yet");
        assert!(decide("x", &trial(&[(1000, 100), (1000, 110)], &[50, 50]), LATER).is_none(), "inconclusive");
        // A large difference, but 1,000 against 1,500 on a planned 50/50 split: assignment is broken.
        assert!(decide("x", &trial(&[(1000, 100), (1500, 300)], &[50, 50]), LATER).is_none());
    }
}
