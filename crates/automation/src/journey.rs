//! Journeys from the log: triggers start instances, awaited events and
//! timers move them, and their effects become sends, events and timers.

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tidings_journeys::machine::{Input, next_local_time};
use tidings_journeys::{Effect, Instance, InstanceState, Journey, StepKind, Trigger, World, advance};
use tidings_model::event::{ENTRY_REQUESTED, SEGMENT_ENTERED, STAGE_CHANGED};
use tidings_model::time::{DAY, format_time};
use tidings_model::{Internal, MessageType, Micros, ProfileId, StoredEvent};
use tidings_render::EventContext;
use tidings_rules::Condition;
use tidings_store::{InstanceRecord, NewTimer};

use crate::segments::Segments;
use crate::view::{ProfileView, event_context};
use crate::{Assets, Automation, Result, StepReport};

/// The event names the runner reacts to, worked out once from the journeys.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// Events that can start a journey.
    pub triggers: std::collections::HashSet<String>,
    /// Events a goal or a `wait_for` step waits for.
    pub awaited: std::collections::HashSet<String>,
    /// Whether any journey runs on a schedule.
    pub schedules: bool,
}

impl Names {
    pub fn of(journeys: &[Journey]) -> Names {
        let mut n = Names::default();
        for j in journeys {
            match &j.trigger {
                Trigger::Event { name, .. } => {
                    n.triggers.insert(name.clone());
                }
                Trigger::SegmentEntered(_) => {
                    n.triggers.insert(SEGMENT_ENTERED.into());
                }
                Trigger::StageChanged { .. } => {
                    n.triggers.insert(STAGE_CHANGED.into());
                }
                Trigger::Api => {
                    n.triggers.insert(ENTRY_REQUESTED.into());
                }
                Trigger::Schedule { .. } => n.schedules = true,
            }
            n.awaited.extend(j.goal.as_ref().map(|g| g.event.clone()));
            for s in &j.steps {
                if let StepKind::WaitFor { event, .. } = &s.kind {
                    n.awaited.insert(event.clone());
                }
            }
        }
        n
    }
}

/// An instance as stored: the machine's state plus what the runner needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Saved {
    pub instance: Instance,
    /// The log position that started it (negative: a schedule's time), so
    /// that re-reading the log after a crash starts nothing twice.
    pub trigger_seq: i64,
    /// The triggering event, for templates.
    #[serde(default)]
    pub event: Option<SavedEvent>,
    /// When the journey's goal was reached in this entry.
    #[serde(default)]
    pub converted_at: Option<Micros>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedEvent {
    pub name: String,
    pub timestamp: Micros,
    pub properties: Map<String, Value>,
}

impl SavedEvent {
    pub fn context(&self) -> EventContext {
        EventContext { name: self.name.clone(), timestamp: self.timestamp, properties: self.properties.clone() }
    }
}

/// What a timer is for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub(crate) enum Wake {
    /// Wake an instance.
    Instance { journey: String, profile: i64, entry: u32 },
    /// A scheduled journey's next occurrence for one profile.
    Schedule { journey: String, profile: i64 },
    /// A broadcast planned through the API (see [`tidings_journeys::broadcast`]).
    Broadcast(tidings_journeys::BroadcastPlan),
    /// A webhook step's call (see [`crate::webhook`]).
    Webhook(crate::webhook::Call),
}

/// A profile as a journey's machine sees it: conditions are the engine's,
/// answered as of its time (the round's).
struct ProfileWorld<'a> {
    profile: ProfileId,
    segments: &'a dyn Segments,
    tz: TimeZone,
    winners: &'a std::collections::HashMap<String, String>,
}

impl World for ProfileWorld<'_> {
    fn holds(&self, condition: &Condition, _now: Micros) -> bool {
        ask(self.segments, self.profile, condition)
    }
    fn time_zone(&self) -> TimeZone {
        self.tz.clone()
    }
    fn winner(&self, experiment: &str) -> Option<String> {
        self.winners.get(experiment).cloned()
    }
}

fn instance_timer_key(i: &Instance) -> String {
    format!("journey:{}:{}:{}", i.journey, i.profile.0, i.entry)
}

/// The next occurrence of a schedule (`every`, at a local minute) at or
/// after `now` in `tz`: days counted from the Unix epoch's date, so that the
/// occurrences are the same whenever they are computed.
fn next_occurrence(every: Micros, minute: u32, now: Micros, tz: &TimeZone) -> Option<Micros> {
    let period_days = (every / DAY).max(1);
    let mut t = now;
    for _ in 0..=period_days + 1 {
        let at = next_local_time(t, minute, &[], tz)?;
        let date = jiff::Timestamp::from_microsecond(at).ok()?.to_zoned_datetime(tz.clone()).date();
        let day = date.since(jiff::civil::date(1970, 1, 1)).ok()?.get_days() as i64;
        if day.rem_euclid(period_days) == 0 {
            return Some(at);
        }
        t = at + 1;
    }
    None
}

/// The engine's answer for a condition it was given; a condition it does not
/// keep (which the assets' [`Assets::conditions`] rule out) is false.
fn ask(segments: &dyn Segments, profile: ProfileId, condition: &Condition) -> bool {
    segments.holds(profile, condition).unwrap_or_else(|| {
        tracing::error!(condition = %condition, "the engine does not keep this condition; taken as false");
        false
    })
}

/// How a broadcast decides who is in its audience, chosen once per broadcast.
pub(crate) enum Audience {
    /// Only traits: the stored profile answers.
    Traits(tidings_rules::Condition),
    /// A segment, or a condition the engine keeps.
    Engine(tidings_rules::Condition),
    /// Anything else (an audience written for this broadcast): built once
    /// per profile from its history by the engine's own build, as a
    /// backfill of a new segment would be.
    Built(Arc<tidings_engine::Compiled>, String),
    /// An audience that names what the rules do not define.
    Nobody,
}

impl Audience {
    pub(crate) fn of(assets: &Assets, audience: &Condition, segments: &dyn Segments) -> Audience {
        if traits_only(audience) {
            return Audience::Traits(audience.clone());
        }
        // Kept by the engine when it answers for anyone (profile 0 is never a real one).
        if segments.holds(ProfileId(0), audience).is_some() {
            return Audience::Engine(audience.clone());
        }
        match tidings_engine::Compiled::with_conditions(&assets.rules, std::slice::from_ref(audience)) {
            Ok(c) => Audience::Built(Arc::new(c), audience.to_string()),
            Err(e) => {
                tracing::warn!(audience = %audience, error = %e, "a broadcast's audience names what the rules do not define; nobody is in it");
                Audience::Nobody
            }
        }
    }

    /// Whether profile `id` is in the audience at `now`.
    pub(crate) fn admits(&self, a: &Automation, id: ProfileId, now: Micros) -> Result<bool> {
        Ok(match self {
            Audience::Traits(c) => match a.store.profile(a.workspace, id)? {
                Some(p) => traits_hold(&a.assets.rules, c, &p, now),
                None => false,
            },
            Audience::Engine(c) => ask(a.segments.as_ref(), id, c),
            Audience::Built(compiled, text) => {
                let history = a.store.profile_history(a.workspace, id)?;
                let input = tidings_engine::ProfileInput::from_stored(&history);
                let mut engine = tidings_engine::Engine::with_compiled(compiled.clone(), a.assets.default_tz.clone());
                engine
                    .backfill(id, &input, now)
                    .map_err(|e| crate::AutomationError::Store(tidings_store::StoreError::Database(e.to_string())))?;
                engine.holds(id, text).unwrap_or(false)
            }
            Audience::Nobody => false,
        })
    }
}

/// Whether `c` reads only traits (no events, segments or consent), so the
/// stored profile answers it without its history.
pub(crate) fn traits_only(c: &Condition) -> bool {
    let mut only = true;
    c.walk(&mut |n| {
        if !matches!(n, Condition::And { .. } | Condition::Or { .. } | Condition::Not { .. } | Condition::Trait(_)) {
            only = false;
        }
    });
    only
}

/// A trait-only condition on the stored profile's current traits.
pub(crate) fn traits_hold(
    rules: &tidings_rules::Workspace,
    c: &Condition,
    p: &tidings_store::Profile,
    now: Micros,
) -> bool {
    properties_hold(rules, c, &p.traits.values, now)
}

/// The event properties as the traits of a one-message profile, so that a
/// trigger's `where` (rule language) reads them: `where = 'price > 20'`.
fn properties_hold(rules: &tidings_rules::Workspace, c: &Condition, props: &Map<String, Value>, at: Micros) -> bool {
    let m = tidings_engine::Observed::identify(0, at, Value::Object(props.clone()));
    let input = tidings_engine::ProfileInput::new(vec![m]);
    tidings_engine::reference::holds(rules, &input, c, at, &TimeZone::UTC)
}

impl Automation {
    /// Triggers and awaited events of one log entry.
    pub(crate) fn on_event(&mut self, e: &StoredEvent, now: Micros, report: &mut StepReport) -> Result<()> {
        if self.names.schedules && e.is_activity() && !self.scheduled.contains(&e.profile) {
            self.ensure_schedules(e.profile, now)?;
        }
        if e.kind != MessageType::Track {
            return Ok(());
        }
        let Some(name) = e.event.as_deref() else { return Ok(()) };
        // Most log entries concern no journey: they are not parsed.
        if !self.names.triggers.contains(name) && !self.names.awaited.contains(name) {
            return Ok(());
        }
        let assets = self.assets.clone();
        if self.names.triggers.contains(name) {
            let Some(ctx) = event_context(e) else { return Ok(()) };
            let props = &ctx.properties;
            let text = |k: &str| props.get(k).and_then(Value::as_str);
            for j in &assets.journeys {
                let starts = match &j.trigger {
                    Trigger::Event { name: n, filter } => {
                        n == name
                            && filter.as_ref().is_none_or(|f| properties_hold(&assets.rules, f, props, e.timestamp))
                    }
                    Trigger::SegmentEntered(s) => name == SEGMENT_ENTERED && text("segment") == Some(s),
                    Trigger::StageChanged { set, stage } => {
                        name == STAGE_CHANGED
                            && text("stage_set") == Some(set)
                            && stage.as_deref().is_none_or(|s| text("to") == Some(s))
                    }
                    Trigger::Api => name == ENTRY_REQUESTED && text("journey") == Some(&j.key),
                    Trigger::Schedule { .. } => false,
                };
                if starts {
                    let key = j.entry_key.as_deref().and_then(|k| match props.get(k) {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    });
                    let event =
                        SavedEvent { name: ctx.name.clone(), timestamp: ctx.timestamp, properties: props.clone() };
                    self.enter(j, e.profile, e.seq, Some(event), key, now, report)?;
                }
            }
        }
        if self.names.awaited.contains(name) {
            self.on_awaited(e, name, now, report)?;
        }
        Ok(())
    }

    /// Goals reached and `wait_for` steps answered by an event.
    fn on_awaited(&mut self, e: &StoredEvent, name: &str, now: Micros, report: &mut StepReport) -> Result<()> {
        let assets = self.assets.clone();
        let records = self.store.instances_for_profile(self.workspace, e.profile)?;
        let mut view: Option<std::sync::Arc<ProfileView>> = None;
        for r in records {
            let Some(j) = assets.journeys.iter().find(|j| j.key == r.journey) else { continue };
            let Ok(mut saved) = serde_json::from_str::<Saved>(&r.state) else { continue };
            let mut changed = false;
            if let Some(g) = &j.goal
                && g.event == name
                && saved.converted_at.is_none()
                && e.timestamp >= saved.instance.entered_at
                && e.timestamp <= saved.instance.entered_at + g.within
            {
                saved.converted_at = Some(e.timestamp);
                changed = true;
            }
            let waiting = matches!(saved.instance.state, InstanceState::WaitingFor { .. })
                && matches!(j.steps.get(saved.instance.step).map(|s| &s.kind),
                    Some(StepKind::WaitFor { event, .. }) if event == name)
                && e.timestamp >= saved.instance.entered_at;
            if waiting {
                if view.is_none() {
                    view = self.view(e.profile, now)?;
                }
                let Some(v) = view.as_ref() else { return Ok(()) };
                let at = e.timestamp.min(now);
                let fx = {
                    let world = ProfileWorld {
                        profile: v.profile.id,
                        segments: self.segments.as_ref(),
                        tz: v.time_zone(&assets.default_tz),
                        winners: &self.trials.winners,
                    };
                    advance(j, &mut saved.instance, Input::Event(name), at, &world)
                };
                let follow = self.perform(j, &saved, fx, v, now, report)?;
                self.store.schedule_timers(&follow)?;
                changed = true;
            }
            if changed {
                self.save(&saved, now)?;
            }
        }
        Ok(())
    }

    /// Starts `j` for `profile` if its entry rules allow, with its timers scheduled.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enter(
        &mut self,
        j: &Journey,
        profile: ProfileId,
        trigger_seq: i64,
        event: Option<SavedEvent>,
        entry_key: Option<String>,
        now: Micros,
        report: &mut StepReport,
    ) -> Result<()> {
        let existing: Vec<Saved> = self
            .store
            .instances_for_profile(self.workspace, profile)?
            .into_iter()
            .filter(|r| r.journey == j.key)
            .filter_map(|r| serde_json::from_str::<Saved>(&r.state).ok())
            .collect();
        if existing.iter().any(|s| s.trigger_seq == trigger_seq) {
            return Ok(());
        }
        let same_key: Vec<&Saved> = existing.iter().filter(|s| s.instance.entry_key == entry_key).collect();
        if same_key.iter().any(|s| !s.instance.is_done()) {
            return Ok(());
        }
        let last_entered = same_key.iter().map(|s| s.instance.entered_at).max();
        let allowed = match j.reentry {
            tidings_journeys::Reentry::Always => true,
            tidings_journeys::Reentry::Never => last_entered.is_none(),
            tidings_journeys::Reentry::After(d) => last_entered.is_none_or(|t| now >= t + d),
        };
        if !allowed {
            return Ok(());
        }
        if let Some(a) = &self.assets.audience
            && traits_only(a)
        {
            let outside = match self.store.profile(self.workspace, profile)? {
                Some(p) => !traits_hold(&self.assets.rules, a, &p, now),
                None => true,
            };
            if outside {
                return Ok(());
            }
        }
        let Some(view) = self.view(profile, now)? else {
            return Ok(());
        };
        if let Some(a) = &self.assets.audience
            && !traits_only(a)
            && !ask(self.segments.as_ref(), profile, a)
        {
            return Ok(());
        }
        let entry = existing.iter().map(|s| s.instance.entry).max().unwrap_or(0) + 1;
        let mut saved = Saved {
            instance: Instance::new(j, profile, entry, entry_key, now),
            trigger_seq,
            event,
            converted_at: None,
        };
        let fx = {
            let world = ProfileWorld {
                profile: view.profile.id,
                segments: self.segments.as_ref(),
                tz: view.time_zone(&self.assets.default_tz),
                winners: &self.trials.winners,
            };
            advance(j, &mut saved.instance, Input::Start, now, &world)
        };
        report.entered += 1;
        let follow = self.perform(j, &saved, fx, &view, now, report)?;
        // Its timers before the instance: an instance saved without its wake-up
        // would sleep forever after a crash (a replay of the log skips it).
        self.store.schedule_timers(&follow)?;
        self.save(&saved, now)?;
        Ok(())
    }

    /// Fires due timers, in batches, until none is due at `now`.
    pub(crate) fn fire_timers(&mut self, now: Micros, report: &mut StepReport) -> Result<()> {
        loop {
            let mask = self.claim_mask();
            let mine = self.store.claim_due_timers(Some(self.workspace), now, now + self.lease, crate::BATCH, mask)?;
            if mine.is_empty() {
                return Ok(());
            }
            let mut follow = Vec::new();
            let mut done = Vec::with_capacity(mine.len());
            for t in mine {
                report.timers += 1;
                match serde_json::from_str::<Wake>(&t.payload) {
                    // A worker completes it once the call is made.
                    Ok(Wake::Webhook(call)) if self.webhooks.is_some() => {
                        if let Some(pool) = &self.webhooks {
                            pool.submit(t, call);
                        }
                        continue;
                    }
                    Ok(w) => follow.extend(self.on_timer(w, t.due_at, now, report)?),
                    Err(e) => {
                        tracing::warn!(key = %t.key, error = %e, "a timer with an unreadable payload was dropped")
                    }
                }
                done.push(t);
            }
            self.store.complete_timers(&done, &follow)?;
        }
    }

    fn on_timer(&mut self, w: Wake, due_at: Micros, now: Micros, report: &mut StepReport) -> Result<Vec<NewTimer>> {
        let assets = self.assets.clone();
        match w {
            Wake::Instance { journey, profile, entry } => {
                let Some(j) = assets.journeys.iter().find(|j| j.key == journey) else { return Ok(Vec::new()) };
                let record = self
                    .store
                    .instances_for_profile(self.workspace, ProfileId(profile))?
                    .into_iter()
                    .find(|r| r.journey == journey && r.entry == i64::from(entry));
                let Some(mut saved) = record.and_then(|r| serde_json::from_str::<Saved>(&r.state).ok()) else {
                    return Ok(Vec::new());
                };
                if saved.instance.is_done() {
                    return Ok(Vec::new());
                }
                let Some(view) = self.view(ProfileId(profile), now)? else {
                    return Ok(Vec::new());
                };
                let fx = {
                    let world = ProfileWorld {
                        profile: view.profile.id,
                        segments: self.segments.as_ref(),
                        tz: view.time_zone(&assets.default_tz),
                        winners: &self.trials.winners,
                    };
                    advance(j, &mut saved.instance, Input::Timer, now, &world)
                };
                let follow = self.perform(j, &saved, fx, &view, now, report)?;
                self.save(&saved, now)?;
                Ok(follow)
            }
            Wake::Broadcast(plan) => {
                match tidings_rules::parse_condition(&plan.audience) {
                    Ok(audience) => {
                        let n = self.broadcast(&plan.name, &plan.template, &audience, &plan.options, now, report)?;
                        tracing::info!(broadcast = %plan.name, recipients = n, "broadcast queued");
                    }
                    Err(e) => {
                        tracing::warn!(broadcast = %plan.name, error = %e, "a broadcast's audience does not parse; nothing sent")
                    }
                }
                Ok(Vec::new())
            }
            Wake::Webhook(call) => self.call_webhook(call, now),
            Wake::Schedule { journey, profile } => {
                let Some(j) = assets.journeys.iter().find(|j| j.key == journey) else { return Ok(Vec::new()) };
                self.enter(j, ProfileId(profile), -due_at, None, None, now, report)?;
                let mut follow = Vec::new();
                if let Some(t) = self.schedule_timer(j, ProfileId(profile), due_at + 1)? {
                    follow.push(t);
                }
                Ok(follow)
            }
        }
    }

    /// Schedules every scheduled journey's next occurrence for a profile it has not seen yet.
    fn ensure_schedules(&mut self, profile: ProfileId, now: Micros) -> Result<()> {
        self.scheduled.insert(profile);
        let assets = self.assets.clone();
        let mut timers = Vec::new();
        for j in &assets.journeys {
            if let Some(t) = self.schedule_timer(j, profile, now)? {
                timers.push(t);
            }
        }
        if !timers.is_empty() {
            self.store.schedule_timers(&timers)?;
        }
        Ok(())
    }

    fn schedule_timer(&self, j: &Journey, profile: ProfileId, from: Micros) -> Result<Option<NewTimer>> {
        let Trigger::Schedule { every, at_minute } = j.trigger else { return Ok(None) };
        let tz = match self.store.profile(self.workspace, profile)? {
            Some(p) => p
                .traits
                .values
                .get("timezone")
                .and_then(Value::as_str)
                .and_then(|z| TimeZone::get(z).ok())
                .unwrap_or_else(|| self.assets.default_tz.clone()),
            None => return Ok(None),
        };
        let Some(at) = next_occurrence(every, at_minute, from, &tz) else { return Ok(None) };
        let payload = serde_json::to_string(&Wake::Schedule { journey: j.key.clone(), profile: profile.0 })
            .expect("a wake encodes");
        Ok(Some(NewTimer {
            workspace: self.workspace,
            key: format!("schedule:{}:{}", j.key, profile.0),
            due_at: at,
            payload,
            profile: Some(profile),
        }))
    }

    /// Carries out the machine's effects; returns the timers to schedule.
    fn perform(
        &mut self,
        j: &Journey,
        saved: &Saved,
        effects: Vec<Effect>,
        view: &ProfileView,
        now: Micros,
        report: &mut StepReport,
    ) -> Result<Vec<NewTimer>> {
        let mut timers = Vec::new();
        let mut emitted = Vec::new();
        let inst = &saved.instance;
        for fx in effects {
            match fx {
                Effect::Send { template, step, key, best_hour_within } => {
                    let later = best_hour_within.map(|within| self.best_hour(view, within, now));
                    let payload = json!({
                        "journey": j.key,
                        "step": step,
                        "entry": inst.entry,
                        "arms": inst.arms,
                        "event": saved.event,
                    });
                    self.request_send(
                        view,
                        &template,
                        &key,
                        &format!("journey:{}:{step}", j.key),
                        payload,
                        later,
                        now,
                        report,
                    )?;
                }
                Effect::SetTrait { trait_key, value, key } => {
                    let mut traits = Map::new();
                    traits.insert(trait_key, value);
                    emitted.extend(self.message(view, Internal::Traits(traits), &key, now));
                }
                Effect::Assigned { experiment, variation, rollout, key } => {
                    let exposure = Internal::ExperimentViewed {
                        experiment_id: experiment,
                        variation_id: variation,
                        journey: Some(j.key.clone()),
                        broadcast: None,
                        phase: rollout.then(|| "rollout".to_string()),
                    };
                    emitted.extend(self.message(view, exposure, &key, now));
                }
                Effect::Webhook { url, step, key } => {
                    let p = &view.profile;
                    let body = json!({
                        "journey": j.key,
                        "step": step,
                        "entry": inst.entry,
                        "key": key,
                        "at": format_time(now),
                        "profile": {"user_id": p.user_id, "anonymous_id": p.anonymous_ids.first(), "traits": p.traits.values},
                        "event": saved.event,
                    });
                    let call = crate::webhook::Call {
                        url,
                        key: key.clone(),
                        profile: inst.profile.0,
                        journey: j.key.clone(),
                        step,
                        body: body.to_string(),
                        attempt: 0,
                    };
                    timers.push(NewTimer {
                        workspace: self.workspace,
                        key: format!("w:{key}"),
                        due_at: now,
                        payload: serde_json::to_string(&Wake::Webhook(call)).expect("a call encodes"),
                        profile: Some(inst.profile),
                    });
                }
                Effect::Wake { at } => {
                    let payload = serde_json::to_string(&Wake::Instance {
                        journey: j.key.clone(),
                        profile: inst.profile.0,
                        entry: inst.entry,
                    })
                    .expect("a wake encodes");
                    timers.push(NewTimer {
                        workspace: self.workspace,
                        key: instance_timer_key(inst),
                        due_at: at,
                        payload,
                        profile: Some(inst.profile),
                    });
                }
                Effect::Done { .. } => {}
            }
        }
        self.emit(emitted)?;
        Ok(timers)
    }

    /// Makes a webhook call on this thread (under a simulated clock; with the
    /// wall clock calls go to the webhook pool); records how it went, or
    /// returns the retry's timer.
    fn call_webhook(&mut self, call: crate::webhook::Call, now: Micros) -> Result<Vec<NewTimer>> {
        let outcome = crate::webhook::post(&self.http, &call, &crate::webhook::signature(&self.sender.keys, &call));
        match crate::webhook::conclude(self.workspace, call, outcome, now) {
            crate::webhook::Concluded::Retry(t) => Ok(vec![t]),
            crate::webhook::Concluded::Done { profile, key, event } => {
                let Some(view) = self.view(profile, now)? else { return Ok(Vec::new()) };
                let message = self.message(&view, event, &key, now);
                self.emit(message.into_iter().collect())?;
                Ok(Vec::new())
            }
        }
    }

    pub(crate) fn save(&self, saved: &Saved, now: Micros) -> Result<()> {
        let i = &saved.instance;
        self.store.save_instance(&InstanceRecord {
            workspace: self.workspace,
            journey: i.journey.clone(),
            profile: i.profile,
            entry: i64::from(i.entry),
            entry_key: i.entry_key.clone(),
            entered_at: i.entered_at,
            done: i.is_done(),
            state: serde_json::to_string(saved).expect("an instance encodes"),
            updated_at: now,
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod broadcast_payload {
    use super::Wake;
    use tidings_journeys::{BroadcastOptions, BroadcastPlan};

    #[test]
    fn a_planned_broadcast_is_read_back_as_a_wake() {
        let plan = BroadcastPlan {
            name: "spring".into(),
            template: "newsletter".into(),
            audience: "in segment \"engaged\"".into(),
            options: BroadcastOptions {
                best_hour_within: Some(86_400_000_000),
                per_hour: Some(500),
                ..Default::default()
            },
        };
        match serde_json::from_str::<Wake>(&plan.timer_payload()).unwrap() {
            Wake::Broadcast(p) => assert_eq!(p, plan),
            other => panic!("{other:?}"),
        }
    }
}
