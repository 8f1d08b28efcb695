//! The per-profile journey state machine. [`advance`] takes an instance,
//! what happened (it started, its timer fired, an event arrived) and the
//! time, runs steps until the instance has to wait or is done, and returns
//! the effects for the runner to perform. It never waits early: a timer
//! that fires before its time only re-arms itself.

use crate::definition::{Journey, StepKind};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use tidings_model::{Micros, ProfileId};
use tidings_rules::Condition;

/// Steps one call may run before it stops a journey that loops without waiting.
const MAX_STEPS_PER_ADVANCE: usize = 100;

/// One profile's pass through a journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub journey: String,
    pub profile: ProfileId,
    /// 1 for the profile's first entry into this journey, 2 for the second...
    pub entry: u32,
    /// The trigger property value for keyed journeys (one instance per cart).
    pub entry_key: Option<String>,
    pub entered_at: Micros,
    /// Index of the current step.
    pub step: usize,
    pub state: InstanceState,
    /// How often each step has run in this entry (for loops), by index.
    pub visits: BTreeMap<usize, u32>,
    /// The arm of each split this instance went through, by experiment.
    pub arms: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InstanceState {
    /// About to run its current step.
    Ready,
    /// Waiting for its time (a wait or a wait-until step).
    Sleeping {
        until: Micros,
    },
    /// Waiting for an event until a timeout.
    WaitingFor {
        until: Micros,
    },
    Done {
        outcome: Outcome,
        at: Micros,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Ran to the end or an exit step.
    Completed,
    /// The journey's `exit_when` rule became true.
    ExitRule,
    /// Assigned to a holdout, which gets nothing.
    Holdout,
    /// Looped more than the step limit without waiting.
    Looping,
}

/// What happened to the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    Start,
    Timer,
    Event(&'a str),
}

/// What the runner must do. Every effect that reaches the outside carries an
/// idempotency key unique to (journey, profile, entry, step, visit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    Send {
        template: String,
        step: String,
        key: String,
        /// Send at the profile's best hour within this long, not at once.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        best_hour_within: Option<Micros>,
    },
    SetTrait {
        trait_key: String,
        value: serde_json::Value,
        key: String,
    },
    Webhook {
        url: String,
        step: String,
        key: String,
    },
    /// Emit `Experiment Viewed` (the exposure) for this arm.
    Assigned {
        experiment: String,
        variation: String,
        /// Assigned to a decided experiment's winner, not at random.
        #[serde(default)]
        rollout: bool,
        key: String,
    },
    /// Wake the instance (run [`advance`] with [`Input::Timer`]) at this time.
    Wake {
        at: Micros,
    },
    Done {
        outcome: Outcome,
    },
}

/// What the machine needs to know about the profile.
pub trait World {
    /// Whether `condition` holds for the profile at `now`.
    fn holds(&self, condition: &Condition, now: Micros) -> bool;
    /// The profile's time zone.
    fn time_zone(&self) -> TimeZone;
    /// The variation (a step id) an experiment rolled out after it was
    /// decided, if it was.
    fn winner(&self, _experiment: &str) -> Option<String> {
        None
    }
}

impl Instance {
    pub fn new(journey: &Journey, profile: ProfileId, entry: u32, entry_key: Option<String>, now: Micros) -> Instance {
        Instance {
            journey: journey.key.clone(),
            profile,
            entry,
            entry_key,
            entered_at: now,
            step: 0,
            state: InstanceState::Ready,
            visits: BTreeMap::new(),
            arms: BTreeMap::new(),
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, InstanceState::Done { .. })
    }

    fn key(&self, step_id: &str, visit: u32) -> String {
        let mut k = format!("{}:{}:{}:{}", self.journey, self.profile.0, self.entry, step_id);
        if visit > 1 {
            k.push_str(&format!(":{visit}"));
        }
        k
    }
}

/// The bucket 0..10000 of a profile in an experiment: the same on every run and machine.
pub fn arm_bucket(experiment: &str, profile: ProfileId) -> u32 {
    let d = Sha256::digest(format!("{experiment}:{}", profile.0).as_bytes());
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (n % 10_000) as u32
}

/// The first local time `minute` (after midnight) at or after `now` on one of `days` (Monday = 0; empty = any).
pub fn next_local_time(now: Micros, minute: u32, days: &[u8], tz: &TimeZone) -> Option<Micros> {
    let ts = jiff::Timestamp::from_microsecond(now).ok()?;
    let mut date = ts.to_zoned_datetime(tz.clone()).date();
    for _ in 0..15 {
        let at = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0).to_zoned_datetime(tz.clone()).ok()?;
        date = date.tomorrow().ok()?;
        let weekday = at.weekday().to_monday_zero_offset() as u8;
        let t = at.timestamp().as_microsecond();
        if t >= now && (days.is_empty() || days.contains(&weekday)) {
            return Some(t);
        }
    }
    None
}

/// Runs `inst` as far as it can go at `now`.
pub fn advance(j: &Journey, inst: &mut Instance, input: Input<'_>, now: Micros, world: &dyn World) -> Vec<Effect> {
    let mut fx = Vec::new();
    if inst.is_done() {
        return fx;
    }
    if let Some(c) = &j.exit_when
        && world.holds(c, now)
    {
        return finish(inst, Outcome::ExitRule, now, fx);
    }
    match (&inst.state, input) {
        (InstanceState::Ready, _) => {}
        (InstanceState::Sleeping { until }, Input::Timer) => {
            if now < *until {
                fx.push(Effect::Wake { at: *until });
                return fx;
            }
            match j.steps.get(inst.step) {
                Some(s) => match s.next {
                    Some(n) => inst.step = n,
                    None => return finish(inst, Outcome::Completed, now, fx),
                },
                None => return finish(inst, Outcome::Completed, now, fx),
            }
            inst.state = InstanceState::Ready;
        }
        (InstanceState::WaitingFor { until }, Input::Timer) => {
            if now < *until {
                fx.push(Effect::Wake { at: *until });
                return fx;
            }
            let Some(StepKind::WaitFor { on_timeout, .. }) = j.steps.get(inst.step).map(|s| &s.kind) else {
                return finish(inst, Outcome::Completed, now, fx);
            };
            match on_timeout {
                Some(n) => inst.step = *n,
                None => return finish(inst, Outcome::Completed, now, fx),
            }
            inst.state = InstanceState::Ready;
        }
        (InstanceState::WaitingFor { until }, Input::Event(name)) => {
            let Some(StepKind::WaitFor { event, on_event, .. }) = j.steps.get(inst.step).map(|s| &s.kind) else {
                return fx;
            };
            if event != name || now > *until {
                return fx;
            }
            match on_event {
                Some(n) => inst.step = *n,
                None => return finish(inst, Outcome::Completed, now, fx),
            }
            inst.state = InstanceState::Ready;
        }
        // Events do not move sleeping instances; a start of a running instance is a no-op.
        _ => return fx,
    }
    for _ in 0..MAX_STEPS_PER_ADVANCE {
        let Some(step) = j.steps.get(inst.step) else {
            return finish(inst, Outcome::Completed, now, fx);
        };
        let visit = {
            let v = inst.visits.entry(inst.step).or_insert(0);
            *v += 1;
            *v
        };
        let key = inst.key(&step.id, visit);
        let mut next = step.next;
        match &step.kind {
            StepKind::Send { template, best_hour_within } => {
                fx.push(Effect::Send {
                    template: template.clone(),
                    step: step.id.clone(),
                    key,
                    best_hour_within: *best_hour_within,
                });
            }
            StepKind::Wait(d) => {
                let until = now.saturating_add(*d);
                inst.state = InstanceState::Sleeping { until };
                fx.push(Effect::Wake { at: until });
                return fx;
            }
            StepKind::WaitUntil { minute, days } => match next_local_time(now, *minute, days, &world.time_zone()) {
                Some(until) if until > now => {
                    inst.state = InstanceState::Sleeping { until };
                    fx.push(Effect::Wake { at: until });
                    return fx;
                }
                _ => {}
            },
            StepKind::WaitFor { timeout, .. } => {
                let until = now.saturating_add(*timeout);
                inst.state = InstanceState::WaitingFor { until };
                fx.push(Effect::Wake { at: until });
                return fx;
            }
            StepKind::Branch { condition, then, otherwise } => {
                next = if world.holds(condition, now) { *then } else { *otherwise };
            }
            StepKind::Split { experiment, arms, .. } => {
                let bucket = arm_bucket(experiment, inst.profile);
                let mut upper = 0;
                let mut chosen = arms.last().copied().unwrap_or((None, 100));
                for &(to, percent) in arms {
                    upper += percent * 100;
                    if bucket < upper {
                        chosen = (to, percent);
                        break;
                    }
                }
                let id = |i: usize| j.steps.get(i).map_or_else(|| "exit".to_string(), |s| s.id.clone());
                // Decided: everyone outside the holdout gets the winner.
                let winner = world.winner(experiment);
                let rollout = chosen.0.is_some()
                    && winner.as_ref().is_some_and(|w| match arms.iter().find(|a| a.0.is_some_and(|i| id(i) == *w)) {
                        Some(&a) => {
                            chosen = a;
                            true
                        }
                        None => false,
                    });
                let variation = match chosen.0 {
                    Some(i) => id(i),
                    None => "holdout".to_string(),
                };
                inst.arms.insert(experiment.clone(), variation.clone());
                fx.push(Effect::Assigned { experiment: experiment.clone(), variation, rollout, key });
                match chosen.0 {
                    Some(i) => next = Some(i),
                    None => return finish(inst, Outcome::Holdout, now, fx),
                }
            }
            StepKind::SetTrait { key: trait_key, value } => {
                fx.push(Effect::SetTrait { trait_key: trait_key.clone(), value: value.clone(), key });
            }
            StepKind::Webhook { url } => {
                fx.push(Effect::Webhook { url: url.clone(), step: step.id.clone(), key });
            }
            StepKind::Exit => return finish(inst, Outcome::Completed, now, fx),
        }
        match next {
            Some(n) => inst.step = n,
            None => return finish(inst, Outcome::Completed, now, fx),
        }
    }
    finish(inst, Outcome::Looping, now, fx)
}

fn finish(inst: &mut Instance, outcome: Outcome, now: Micros, mut fx: Vec<Effect>) -> Vec<Effect> {
    inst.state = InstanceState::Done { outcome, at: now };
    fx.push(Effect::Done { outcome });
    fx
}
