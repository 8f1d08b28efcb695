//! Helpers: workspaces from text, times, and scenarios that check the
//! reference evaluator and the live engine against each other on every
//! question a hand-written test asks.

use jiff::tz::TimeZone;
use serde_json::Value;
use tidings_engine::{Engine, Evaluation, Observed, ProfileInput, evaluate};
use tidings_model::time::parse_time;
use tidings_model::{Micros, ProfileId};
use tidings_rules::{SourceFile, Workspace, check_workspace, has_errors, render_diagnostics};

/// A checked workspace; panics on errors (warnings are fine).
pub fn workspace(text: &str) -> Workspace {
    let files = [SourceFile::new("test.tidings", text)];
    let (ws, diags) = check_workspace(&files, None);
    assert!(!has_errors(&diags), "{}", render_diagnostics(&diags, &files));
    ws
}

/// An RFC 3339 time.
pub fn t(text: &str) -> Micros {
    parse_time(text).unwrap_or_else(|| panic!("bad time {text}"))
}

/// One profile's messages, each with the time it reaches the engine, and
/// the answers of both evaluators at any time.
pub struct Scenario {
    pub ws: Workspace,
    pub tz: TimeZone,
    /// (arrival, message), in the order they were added.
    pub messages: Vec<(Micros, Observed)>,
    seq: i64,
}

impl Scenario {
    pub fn new(rules: &str) -> Scenario {
        Scenario { ws: workspace(rules), tz: TimeZone::UTC, messages: Vec::new(), seq: 0 }
    }

    pub fn default_tz(mut self, name: &str) -> Scenario {
        self.tz = TimeZone::get(name).unwrap();
        self
    }

    fn next_seq(&mut self) -> i64 {
        self.seq += 1;
        self.seq
    }

    /// A `track` event stamped `at`, arriving then.
    pub fn track(&mut self, name: &str, at: Micros, props: Value) -> &mut Scenario {
        self.track_late(name, at, at, props)
    }

    /// A `track` event stamped `at`, arriving at `arrival`.
    pub fn track_late(&mut self, name: &str, at: Micros, arrival: Micros, props: Value) -> &mut Scenario {
        let seq = self.next_seq();
        self.messages.push((arrival, Observed::track(seq, name, at, props)));
        self
    }

    pub fn page(&mut self, at: Micros) -> &mut Scenario {
        let seq = self.next_seq();
        self.messages.push((at, Observed::page(seq, Some("Home"), at)));
        self
    }

    pub fn identify(&mut self, at: Micros, traits: Value) -> &mut Scenario {
        self.identify_late(at, at, traits)
    }

    pub fn identify_late(&mut self, at: Micros, arrival: Micros, traits: Value) -> &mut Scenario {
        let seq = self.next_seq();
        self.messages.push((arrival, Observed::identify(seq, at, traits)));
        self
    }

    /// The messages that have arrived by `now`.
    pub fn input(&self, now: Micros) -> ProfileInput {
        ProfileInput::new(self.messages.iter().filter(|(a, _)| *a <= now).map(|(_, m)| m.clone()).collect())
    }

    /// The reference answer at `now`, after checking that the live engine
    /// (fed every message at its arrival, then advanced to `now`) agrees.
    pub fn eval(&self, now: Micros) -> Evaluation {
        let expected = evaluate(&self.ws, &self.input(now), now, &self.tz);
        let mut engine = Engine::new(&self.ws, self.tz.clone()).unwrap();
        let mut arrivals: Vec<&(Micros, Observed)> = self.messages.iter().filter(|(a, _)| *a <= now).collect();
        arrivals.sort_by_key(|(a, m)| (*a, m.seq));
        let p = ProfileId(1);
        for (arrival, m) in arrivals {
            engine.apply(p, m.clone(), *arrival).unwrap();
        }
        engine.advance(now);
        for (key, &member) in &expected.segments {
            assert_eq!(engine.is_member(p, key), member, "segment {key} at {now}: live vs reference");
        }
        for (key, stage) in &expected.stages {
            assert_eq!(engine.stage_of(p, key), stage.as_deref(), "stage set {key} at {now}: live vs reference");
        }
        expected
    }

    pub fn member(&self, segment: &str, now: Micros) -> bool {
        self.eval(now).is_member(segment)
    }

    pub fn stage(&self, set: &str, now: Micros) -> Option<String> {
        self.eval(now).stage(set).map(str::to_string)
    }
}
