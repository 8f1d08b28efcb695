//! The journey file format. One journey per file, `journeys/KEY.toml`:
//!
//! ```toml
//! key = "cart_abandonment"
//! name = "Cart abandonment"
//!
//! [trigger]                       # exactly one of:
//! segment_entered = "cart_abandoners"
//! # event = "Product Added"  (with optional where = 'price > 20')
//! # stage_changed = "lifecycle.customer"   (entering that stage)
//! # schedule = { every = "7d", at = "09:00" }   (each profile's local time)
//! # api = true                              (POST /api/journeys/KEY/enter)
//!
//! [settings]
//! exit_when = 'did "Order Completed" in last 1d'   # any rule; checked at each step
//! goal = { event = "Order Completed", within = "5d" }
//! reentry = "after 7d"          # "never" (default), "always", "after D"
//! entry_key = "cart_id"         # one instance per value of this trigger property
//!
//! [[step]]
//! id = "wait"
//! wait = "1h"
//!
//! [[step]]
//! id = "remind"
//! send = "cart_reminder"        # a template in templates/
//! # best_hour = "24h"           # queue it for the person's best hour in the next 24h
//!
//! [[step]]
//! id = "bought"
//! wait_for = { event = "Order Completed", timeout = "1d", on_event = "thanks", on_timeout = "offer" }
//!
//! [[step]]
//! id = "offer"
//! if = 'in segment loyal'       # any rule
//! then = "vip"
//! else = "plain"
//! ```
//!
//! Steps run in order; `next = "ID"` jumps; the end of the list exits.
//! Other steps: `wait_until = { time = "09:00", days = ["saturday"] }` (the
//! profile's local time), `split = [{ to = "a", percent = 45 }, { to = "b",
//! percent = 45 }, { holdout = true, percent = 10 }]` with `experiment =
//! "NAME"` (and optionally `hypothesis = "..."`, `metric = "Order
//! Completed"`, `window = "7d"`, and `rollout = true` to send everyone
//! outside the holdout to the winner once the runner's sequential test
//! declares one), `set_trait = { key = "nudged", value = true }`, `webhook = { url
//! = "https://..." }`, `exit = true`. Conditions are the rule language of
//! `spec/segments.md`; write them in single quotes (TOML literal strings)
//! so that diagnostics point at the right column.

use serde::Deserialize;
use std::collections::BTreeMap;
use tidings_model::Micros;
use tidings_rules::{Code, Condition, Diagnostic, Span};
use toml::Spanned;

/// Builder methods on a diagnostic already pushed.
trait Amend {
    fn help(&mut self, help: &str) -> &mut Self;
    fn one_of(&mut self, expected: Vec<String>) -> &mut Self;
}

impl Amend for Diagnostic {
    fn help(&mut self, help: &str) -> &mut Self {
        self.help = Some(help.to_string());
        self
    }
    fn one_of(&mut self, expected: Vec<String>) -> &mut Self {
        self.expected = expected;
        self
    }
}

/// What a split tests and what happens when it is decided.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentPlan {
    /// What the marketer expects, for the learnings log.
    pub hypothesis: Option<String>,
    /// The conversion event, counted within `window` of exposure.
    pub metric: String,
    pub window: Micros,
    /// When the always-valid sequential test declares a winner, every later
    /// entry (except the holdout's share) goes to it.
    pub rollout: bool,
}

impl Default for ExperimentPlan {
    fn default() -> ExperimentPlan {
        ExperimentPlan {
            hypothesis: None,
            metric: "Order Completed".into(),
            window: 7 * tidings_model::time::DAY,
            rollout: false,
        }
    }
}

/// A checked journey.
#[derive(Debug, Clone, PartialEq)]
pub struct Journey {
    pub key: String,
    pub name: String,
    pub trigger: Trigger,
    pub exit_when: Option<Condition>,
    pub goal: Option<Goal>,
    pub reentry: Reentry,
    pub entry_key: Option<String>,
    pub steps: Vec<Step>,
    /// The file it came from, for diagnostics.
    pub file: String,
    /// Every condition with the byte offset of its text in the file, for checks.
    pub conditions: Vec<(Condition, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Event {
        name: String,
        filter: Option<Condition>,
    },
    SegmentEntered(String),
    /// Entering `stage` of `set`, or any change of `set` when `stage` is `None`.
    StageChanged {
        set: String,
        stage: Option<String>,
    },
    Schedule {
        every: Micros,
        at_minute: u32,
    },
    Api,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub event: String,
    pub within: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    Never,
    Always,
    After(Micros),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Index of the step that follows, `None` to exit.
    pub next: Option<usize>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Send {
        template: String,
        /// Queue it for the profile's best hour within this long (the journey moves on at once).
        best_hour_within: Option<Micros>,
    },
    Wait(Micros),
    /// Until the next local time of day (minutes after midnight) on one of `days` (0 = Monday; empty = any).
    WaitUntil {
        minute: u32,
        days: Vec<u8>,
    },
    WaitFor {
        event: String,
        timeout: Micros,
        on_event: Option<usize>,
        on_timeout: Option<usize>,
    },
    Branch {
        condition: Condition,
        then: Option<usize>,
        otherwise: Option<usize>,
    },
    /// Arms: (target step or None for holdout, percent).
    Split {
        experiment: String,
        arms: Vec<(Option<usize>, u32)>,
        plan: ExperimentPlan,
    },
    SetTrait {
        key: String,
        value: serde_json::Value,
    },
    Webhook {
        url: String,
    },
    Exit,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJourney {
    key: Spanned<String>,
    name: Option<String>,
    trigger: Spanned<RawTrigger>,
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    segment_entered: Option<Spanned<String>>,
    event: Option<Spanned<String>>,
    #[serde(rename = "where")]
    filter: Option<Spanned<String>>,
    stage_changed: Option<Spanned<String>>,
    schedule: Option<Spanned<RawSchedule>>,
    api: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    every: Spanned<String>,
    at: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    exit_when: Option<Spanned<String>>,
    goal: Option<RawGoal>,
    reentry: Option<Spanned<String>>,
    entry_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGoal {
    event: String,
    within: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: Option<Spanned<String>>,
    next: Option<Spanned<String>>,
    send: Option<Spanned<String>>,
    best_hour: Option<Spanned<String>>,
    wait: Option<Spanned<String>>,
    wait_until: Option<RawWaitUntil>,
    wait_for: Option<RawWaitFor>,
    #[serde(rename = "if")]
    condition: Option<Spanned<String>>,
    then: Option<Spanned<String>>,
    #[serde(rename = "else")]
    otherwise: Option<Spanned<String>>,
    split: Option<Vec<RawArm>>,
    experiment: Option<String>,
    hypothesis: Option<String>,
    metric: Option<String>,
    window: Option<Spanned<String>>,
    rollout: Option<Spanned<bool>>,
    set_trait: Option<RawSetTrait>,
    webhook: Option<RawWebhook>,
    exit: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitUntil {
    time: Spanned<String>,
    #[serde(default)]
    days: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitFor {
    event: String,
    timeout: Spanned<String>,
    on_event: Option<Spanned<String>>,
    on_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArm {
    to: Option<Spanned<String>>,
    #[serde(default)]
    holdout: bool,
    percent: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetTrait {
    key: String,
    value: toml::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Spanned<String>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    diags: Vec<Diagnostic>,
    conditions: Vec<(Condition, usize)>,
}

impl Ctx<'_> {
    fn err(&mut self, code: Code, span: std::ops::Range<usize>, msg: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::new(code, self.file, Span::new(span.start, span.end), msg));
        self.diags.last_mut().expect("just pushed")
    }

    fn duration(&mut self, s: &Spanned<String>, what: &str) -> Micros {
        match parse_duration(s.get_ref()) {
            Some(d) if d > 0 => d,
            _ => {
                self.err(Code::JourneyField, s.span(), format!("{what} {:?} is not a duration", s.get_ref()))
                    .help("write a number and a unit: 30m, 1h, 2d, 1w");
                0
            }
        }
    }

    /// A rule-language condition inside a TOML string, with its diagnostics moved into the file.
    fn condition(&mut self, s: &Spanned<String>) -> Option<Condition> {
        let quote = self.text.get(s.span().start..).map_or(1, |t| if t.starts_with("'''") { 3 } else { 1 });
        let base = s.span().start + quote;
        match tidings_rules::parse_condition(s.get_ref()) {
            Ok(c) => {
                self.conditions.push((c.clone(), base));
                Some(c)
            }
            Err(e) => {
                for mut d in e.diagnostics {
                    d.file = self.file.to_string();
                    d.span = Span::new(d.span.start + base, d.span.end + base);
                    if let Some(f) = &mut d.fix {
                        f.span = Span::new(f.span.start + base, f.span.end + base);
                    }
                    self.diags.push(d);
                }
                None
            }
        }
    }
}

/// Parses `HH:MM` into minutes after midnight.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.len() == 5).then_some(h * 60 + m)
}

/// Monday = 0.
pub fn parse_weekday(s: &str) -> Option<u8> {
    const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let s = s.trim_end_matches('s').to_ascii_lowercase();
    DAYS.iter().position(|d| *d == s).map(|i| i as u8)
}

/// `30m`, `1h`, `2d`, `1w`, `45s`.
pub fn parse_duration(s: &str) -> Option<Micros> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().ok()?;
    let unit = match unit {
        "s" => tidings_model::time::SECOND,
        "m" => tidings_model::time::MINUTE,
        "h" => tidings_model::time::HOUR,
        "d" => tidings_model::time::DAY,
        "w" => 7 * tidings_model::time::DAY,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// Parses one journey file; the journey is `None` when there are errors.
pub fn parse_journey(file: &str, text: &str) -> (Option<Journey>, Vec<Diagnostic>) {
    let mut cx = Ctx { file, text, diags: Vec::new(), conditions: Vec::new() };
    let raw: RawJourney = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let code = if e.message().contains("unknown field") || e.message().contains("missing field") {
                Code::JourneyField
            } else {
                Code::JourneySyntax
            };
            cx.err(code, span, e.message().trim().to_string());
            return (None, cx.diags);
        }
    };
    if !tidings_rules::is_valid_key(raw.key.get_ref()) {
        cx.err(
            Code::InvalidKey,
            raw.key.span(),
            format!("journey key {:?} must be [a-z][a-z0-9_]*", raw.key.get_ref()),
        );
    }
    let trigger = trigger(&mut cx, &raw.trigger);
    let s = &raw.settings;
    let exit_when = s.exit_when.as_ref().and_then(|c| cx.condition(c));
    let goal = s.goal.as_ref().map(|g| Goal { event: g.event.clone(), within: cx.duration(&g.within, "goal.within") });
    let reentry = match s.reentry.as_ref() {
        None => Reentry::Never,
        Some(r) => match r.get_ref().as_str() {
            "never" => Reentry::Never,
            "always" => Reentry::Always,
            other => match other.strip_prefix("after ").and_then(parse_duration) {
                Some(d) if d > 0 => Reentry::After(d),
                _ => {
                    cx.err(Code::JourneyField, r.span(), format!("reentry {other:?}")).one_of(vec![
                        "`never`".into(),
                        "`always`".into(),
                        "`after D` (e.g. `after 7d`)".into(),
                    ]);
                    Reentry::Never
                }
            },
        },
    };
    let steps = steps(&mut cx, &raw.step);
    let journey = Journey {
        key: raw.key.into_inner(),
        name: raw.name.unwrap_or_default(),
        trigger: trigger.unwrap_or(Trigger::Api),
        exit_when,
        goal,
        reentry,
        entry_key: s.entry_key.clone(),
        steps,
        file: file.to_string(),
        conditions: std::mem::take(&mut cx.conditions),
    };
    let ok = !cx.diags.iter().any(Diagnostic::is_error);
    (ok.then_some(journey), cx.diags)
}

fn trigger(cx: &mut Ctx<'_>, t: &Spanned<RawTrigger>) -> Option<Trigger> {
    let r = t.get_ref();
    let mut found = Vec::new();
    if let Some(s) = &r.segment_entered {
        found.push(Trigger::SegmentEntered(s.get_ref().clone()));
    }
    if let Some(e) = &r.event {
        let filter = r.filter.as_ref().and_then(|f| cx.condition(f));
        found.push(Trigger::Event { name: e.get_ref().clone(), filter });
    } else if let Some(f) = &r.filter {
        cx.err(Code::BadTrigger, f.span(), "`where` filters an event trigger; add `event = \"...\"`");
    }
    if let Some(s) = &r.stage_changed {
        let (set, stage) = match s.get_ref().split_once('.') {
            Some((a, b)) => (a.to_string(), Some(b.to_string())),
            None => (s.get_ref().clone(), None),
        };
        found.push(Trigger::StageChanged { set, stage });
    }
    if let Some(s) = &r.schedule {
        let every = cx.duration(&s.get_ref().every, "schedule.every");
        let at_minute = match &s.get_ref().at {
            None => 9 * 60,
            Some(at) => parse_time_of_day(at.get_ref()).unwrap_or_else(|| {
                cx.err(Code::BadLocalTime, at.span(), format!("{:?} is not a time of day", at.get_ref()))
                    .help("write HH:MM in 24-hour time, e.g. 09:00");
                0
            }),
        };
        found.push(Trigger::Schedule { every, at_minute });
    }
    if r.api == Some(true) {
        found.push(Trigger::Api);
    }
    match found.len() {
        1 => found.pop(),
        0 => {
            cx.err(
                Code::BadTrigger,
                t.span(),
                "a trigger needs one of segment_entered, event, stage_changed, schedule, api",
            );
            None
        }
        _ => {
            cx.err(
                Code::BadTrigger,
                t.span(),
                "a trigger has exactly one of segment_entered, event, stage_changed, schedule, api",
            );
            None
        }
    }
}

fn steps(cx: &mut Ctx<'_>, raw: &[Spanned<RawStep>]) -> Vec<Step> {
    // Ids first, so that jumps can point forward.
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let names: Vec<String> = raw
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.get_ref().id {
            Some(id) => {
                if ids.insert(id.get_ref().clone(), i).is_some() {
                    cx.err(Code::DuplicateStepId, id.span(), format!("step id {:?} is used twice", id.get_ref()));
                }
                id.get_ref().clone()
            }
            None => format!("step{}", i + 1),
        })
        .collect();
    for (i, n) in names.iter().enumerate() {
        ids.entry(n.clone()).or_insert(i);
    }
    let target = |cx: &mut Ctx<'_>, s: &Spanned<String>| -> Option<usize> {
        if s.get_ref() == "exit" {
            return None;
        }
        match ids.get(s.get_ref()) {
            Some(&i) => Some(i),
            None => {
                let known: Vec<String> = ids.keys().map(|k| format!("`{k}`")).collect();
                cx.err(Code::UnknownStep, s.span(), format!("no step with id {:?}", s.get_ref()))
                    .one_of(known)
                    .help("`exit` ends the journey");
                None
            }
        }
    };
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.iter().enumerate() {
        let r = s.get_ref();
        let span = s.span();
        let mut kinds: Vec<StepKind> = Vec::new();
        if let Some(t) = &r.send {
            let best_hour_within = r.best_hour.as_ref().map(|b| cx.duration(b, "best_hour"));
            kinds.push(StepKind::Send { template: t.get_ref().clone(), best_hour_within });
        } else if let Some(b) = &r.best_hour {
            cx.err(Code::JourneyField, b.span(), "`best_hour` belongs to a `send` step").help(
                "write it next to `send = \"TEMPLATE\"`: the message waits for the person's best hour in that window",
            );
        }
        if let Some(w) = &r.wait {
            kinds.push(StepKind::Wait(cx.duration(w, "wait")));
        }
        if let Some(w) = &r.wait_until {
            let minute = parse_time_of_day(w.time.get_ref()).unwrap_or_else(|| {
                cx.err(Code::BadLocalTime, w.time.span(), format!("{:?} is not a time of day", w.time.get_ref()))
                    .help("write HH:MM in 24-hour time, e.g. 09:00");
                0
            });
            let mut days = Vec::new();
            for d in &w.days {
                match parse_weekday(d.get_ref()) {
                    Some(x) => days.push(x),
                    None => {
                        cx.err(Code::BadLocalTime, d.span(), format!("{:?} is not a weekday", d.get_ref()))
                            .help("write monday ... sunday");
                    }
                }
            }
            kinds.push(StepKind::WaitUntil { minute, days });
        }
        if let Some(w) = &r.wait_for {
            let timeout = cx.duration(&w.timeout, "wait_for.timeout");
            let next_default = (i + 1 < raw.len()).then_some(i + 1);
            let on_event = w.on_event.as_ref().map_or(next_default, |t| target(cx, t));
            let on_timeout = w.on_timeout.as_ref().map_or(next_default, |t| target(cx, t));
            kinds.push(StepKind::WaitFor { event: w.event.clone(), timeout, on_event, on_timeout });
        }
        if let Some(c) = &r.condition {
            let next_default = (i + 1 < raw.len()).then_some(i + 1);
            let then = r.then.as_ref().map_or(next_default, |t| target(cx, t));
            let otherwise = r.otherwise.as_ref().map_or(next_default, |t| target(cx, t));
            if let Some(condition) = cx.condition(c) {
                kinds.push(StepKind::Branch { condition, then, otherwise });
            } else {
                kinds.push(StepKind::Exit);
            }
        } else if let Some(t) = r.then.as_ref().or(r.otherwise.as_ref()) {
            cx.err(Code::JourneyField, t.span(), "`then` and `else` belong to an `if` step");
        }
        if let Some(arms) = &r.split {
            let mut out_arms = Vec::new();
            let mut total = 0u32;
            for a in arms {
                total += *a.percent.get_ref();
                let to = match (&a.to, a.holdout) {
                    (Some(t), false) => target(cx, t),
                    (None, true) => None,
                    _ => {
                        cx.err(
                            Code::JourneyField,
                            a.percent.span(),
                            "an arm has either `to = \"STEP\"` or `holdout = true`",
                        );
                        None
                    }
                };
                out_arms.push((to, *a.percent.get_ref()));
            }
            if total != 100 {
                let at = arms.first().map_or(span.clone(), |a| a.percent.span());
                cx.err(Code::SplitPercent, at, format!("the arms' percentages add up to {total}, not 100"));
            }
            let experiment = r.experiment.clone().unwrap_or_else(|| format!("{}:{}", "split", names[i]));
            let mut plan = ExperimentPlan { hypothesis: r.hypothesis.clone(), ..ExperimentPlan::default() };
            if let Some(m) = &r.metric {
                plan.metric = m.clone();
            }
            if let Some(w) = &r.window {
                plan.window = cx.duration(w, "window");
            }
            if let Some(ro) = &r.rollout {
                plan.rollout = *ro.get_ref();
                if plan.rollout && out_arms.iter().filter(|a| a.0.is_some()).count() < 2 {
                    cx.err(Code::JourneyField, ro.span(), "`rollout` needs at least two arms to choose between");
                }
            }
            kinds.push(StepKind::Split { experiment, arms: out_arms, plan });
        } else if let Some(at) = r.rollout.as_ref().map(|x| x.span()).or(r.window.as_ref().map(|x| x.span())) {
            cx.err(Code::JourneyField, at, "`rollout` and `window` belong to a `split` step");
        } else if r.hypothesis.is_some() || r.metric.is_some() || r.experiment.is_some() {
            cx.err(
                Code::JourneyField,
                span.clone(),
                "`experiment`, `hypothesis` and `metric` belong to a `split` step",
            );
        }
        if let Some(t) = &r.set_trait {
            let value = serde_json::to_value(&t.value).unwrap_or(serde_json::Value::Null);
            kinds.push(StepKind::SetTrait { key: t.key.clone(), value });
        }
        if let Some(w) = &r.webhook {
            let u = w.url.get_ref();
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                cx.err(
                    Code::JourneyField,
                    w.url.span(),
                    format!("webhook url {u:?} must start with https:// or http://"),
                );
            }
            kinds.push(StepKind::Webhook { url: u.clone() });
        }
        if r.exit == Some(true) {
            kinds.push(StepKind::Exit);
        }
        let kind = match kinds.len() {
            1 => kinds.pop().expect("one"),
            0 => {
                cx.err(Code::JourneyField, span.clone(), "a step needs one action").one_of(
                    ["send", "wait", "wait_until", "wait_for", "if", "split", "set_trait", "webhook", "exit"]
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect(),
                );
                StepKind::Exit
            }
            _ => {
                cx.err(Code::JourneyField, span.clone(), "a step has exactly one action; split it into several steps");
                StepKind::Exit
            }
        };
        let next = match &r.next {
            Some(n) => target(cx, n),
            None => (i + 1 < raw.len()).then_some(i + 1),
        };
        out.push(Step { id: names[i].clone(), kind, next, span: Span::new(span.start, span.end) });
    }
    out
}
