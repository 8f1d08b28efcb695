//! The runner: what turns behaviour into delivered email. It reads the
//! workspace's event log (the engine's `Segment Entered` / `Stage Changed`
//! events included), starts journey instances on their triggers, moves them
//! with durable timers and awaited events, decides every send against the
//! policies, records it in the outbox, renders and hands it to a transport,
//! and writes what happened back into the log (`Email Sent`, `Email
//! Delivered`, `Email Bounced`, `Experiment Viewed`, trait updates).
//!
//! [`Automation::step`] does one round of all of it at a given time, so the
//! same code runs in `tidings serve` (a thread calling it with the wall
//! clock) and in the demo and tests (calling it with a simulated clock).
//!
//! Architecture invariants:
//! - The log is the only input. The runner keeps a cursor (saved as the
//!   store snapshot `automation`) and can re-read anything after it: every
//!   instance records the log position that started it, so a replay after a
//!   crash starts nothing twice.
//! - Anything that leaves the process carries an idempotency key derived
//!   from (journey, profile, entry, step): outbox rows are unique by it and
//!   their Message-ID derives from it, so a retry after a crash resends the
//!   same message with the same Message-ID and never a second one.
//! - Policies are checked twice: when a step asks for a send (to record
//!   skips and deferrals where they arise) and again just before the
//!   transport (so an unsubscribe or bounce in between is honoured; no
//!   marketing send bypasses suppression).
//! - Every decision that is not "send now" is recorded with its reason.

pub mod experiments;
mod journey;
mod segments;
mod send;
pub mod sendtime;
mod view;
pub mod webhook;

pub use segments::{Partitions, Segments};
pub use send::Sent;
pub use tidings_journeys::policy::Policy as SendPolicy;
pub use tidings_journeys::{BroadcastOptions, BroadcastPlan};
pub use view::{Followed, ProfileView};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use tidings_delivery::{DkimSigner, RetryPolicy, Transport};
use tidings_journeys::Journey;
use tidings_journeys::policy::Policy;
use tidings_model::{Internal, Message, Micros, ProfileId, WorkspaceId};
use tidings_render::{BoughtTogether, Mailbox, SigningKeys, Template};
use tidings_store::{Snapshot, Store, StoreError};

/// The snapshot that holds the runner's cursor.
pub const SNAPSHOT: &str = "automation";

/// The snapshot that holds how far partition `p`'s log entries are handled (several nodes).
fn partition_cursor(p: u32) -> String {
    format!("{SNAPSHOT}/p{p:02}")
}

/// Runner failures: only storage. A journey or template problem is recorded
/// on the message or instance it concerns and does not stop the runner.
#[derive(Debug, thiserror::Error)]
pub enum AutomationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not record events")]
    Emit(#[source] EmitError),
}

/// Why the runner's events could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The store refused the append.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Whatever records them has stopped (the server is shutting down).
    #[error("the event writer has stopped")]
    Stopped,
}

pub type Result<T, E = AutomationError> = std::result::Result<T, E>;

/// What a workspace automates: its rules, journeys, templates and policy.
#[derive(Clone)]
pub struct Assets {
    pub rules: Arc<tidings_rules::Workspace>,
    pub journeys: Vec<Journey>,
    pub templates: HashMap<String, Arc<Template>>,
    pub policy: Policy,
    /// For profiles without a valid `timezone` trait.
    pub default_tz: TimeZone,
    /// When set, only profiles for which this rule holds enter journeys (a
    /// workspace-wide audience, e.g. the treated arm of a global holdout).
    pub audience: Option<tidings_rules::Condition>,
}

impl Assets {
    /// Every condition the runner asks the engine about: the journeys'
    /// `exit_when` and branches, the audience (unless it reads only traits,
    /// which the stored profile answers), `subscribed`, and `subscribed to
    /// TOPIC` for each template's topic. The engine compiles them beside the
    /// segments ([`Segments`]).
    pub fn conditions(&self) -> Vec<tidings_rules::Condition> {
        let mut out = vec![subscribed_rule()];
        for j in &self.journeys {
            out.extend(j.exit_when.iter().cloned());
            for s in &j.steps {
                if let tidings_journeys::StepKind::Branch { condition, .. } = &s.kind {
                    out.push(condition.clone());
                }
            }
        }
        out.extend(self.audience.iter().filter(|a| !journey::traits_only(a)).cloned());
        let mut topics: Vec<&str> = self.templates.values().filter_map(|t| t.topic()).collect();
        topics.sort_unstable();
        topics.dedup();
        out.extend(topics.into_iter().map(view::topic_rule));
        out
    }
}

/// `subscribed`, as the rule language defines it.
fn subscribed_rule() -> tidings_rules::Condition {
    tidings_rules::Condition::Subscribed(tidings_rules::Subscribed { topic: None, span: Default::default() })
}

/// Who mail comes from and how it is tracked.
pub struct Sender {
    pub from: Mailbox,
    /// `MAIL FROM`, where bounces go; the From address when `None`.
    pub envelope_from: Option<String>,
    /// The public base URL of the tracking endpoints (`/t/...`, `/u/...`).
    pub tracking_base: String,
    pub keys: Arc<SigningKeys>,
    pub dkim: Option<DkimSigner>,
    /// The domain of generated Message-IDs.
    pub message_id_domain: String,
}

/// Where the runner's own events go: through the same path as ingest, so
/// that the segment engine sees them.
pub trait Emitter: Send + Sync {
    /// Appends durably; returns once they are stored.
    fn emit(&self, workspace: WorkspaceId, messages: Vec<Message>) -> Result<(), EmitError>;
}

/// What one [`Automation::step`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    /// Log entries read.
    pub events: usize,
    /// Journey instances started.
    pub entered: usize,
    /// Timers that fired.
    pub timers: usize,
    /// Messages added to the outbox.
    pub enqueued: usize,
    /// Sends skipped by a policy (recorded with their reasons).
    pub skipped: usize,
    /// Sends deferred by a policy.
    pub deferred: usize,
    /// Messages accepted by the transport.
    #[serde(skip)]
    pub sent: Vec<Sent>,
    /// Why sends were skipped or deferred: (decision, source, reason).
    pub reasons: Vec<(String, String, String)>,
    /// Transient failures scheduled for a retry.
    pub retried: usize,
    /// Permanent failures: bounced or undeliverable.
    pub failed: usize,
}

#[derive(Serialize, Deserialize, Default)]
struct Cursor {
    seq: i64,
}

/// The runner of one workspace.
pub struct Automation {
    store: Arc<dyn Store>,
    workspace: WorkspaceId,
    assets: Arc<Assets>,
    sender: Sender,
    transport: Arc<dyn Transport>,
    emitter: Arc<dyn Emitter>,
    /// The live engine: segments, stages and every condition.
    segments: Arc<dyn Segments>,
    retry: RetryPolicy,
    cursor: i64,
    /// Co-purchases learned from the log, for "bought together".
    bought_together: BoughtTogether,
    /// When the workspace's people engage, by hour of week, from the log.
    pattern: sendtime::Pattern,
    rng: rand_chacha::ChaCha8Rng,
    /// How long a claimed timer or message is leased to this runner.
    lease: Micros,
    /// Profiles whose scheduled journeys have their next occurrence set.
    scheduled: HashSet<ProfileId>,
    /// `subscribed`, as the rule language defines it.
    subscribed_rule: tidings_rules::Condition,
    /// Profiles read so far, kept up to date with the log entries read
    /// after them (or dropped, when an entry changes who they are).
    views: HashMap<ProfileId, Arc<ProfileView>>,
    /// The identities of the profiles in `views`, user ids then anonymous
    /// ids: an entry naming one under another profile drops that view (a merge).
    view_ids: [HashMap<String, ProfileId>; 2],
    /// The runner's own events of this round, recorded together at its end.
    outgoing: Vec<Message>,
    /// The event names journeys start on or wait for.
    names: journey::Names,
    /// For webhook steps.
    http: ureq::Agent,
    /// Where webhook calls are made, when not in the round (the wall clock).
    webhooks: Option<webhook::Pool>,
    /// Experiments with automatic rollout, and the winners decided.
    trials: experiments::Trials,
    /// Time spent reading the log, firing timers, delivering and recording, for profiles.
    pub timing: [std::time::Duration; 4],
    /// With several nodes: the partitions this runner acts for, and how far
    /// in the log each has been handled (by this node or the last owner).
    partitions: Option<Arc<dyn Partitions>>,
    cursors: BTreeMap<u32, i64>,
    /// The log position up to which co-purchases, send times and trials
    /// have learned (the cursor may step back for a gained partition).
    learned: i64,
}

/// Log entries read per page.
const PAGE: usize = 2_000;
/// Timers and messages claimed per round.
const BATCH: usize = 500;
/// Log pages read once for both passes of `read_log`.
const KEPT_PAGES: usize = 8;
/// Views kept between rounds (each holds a profile's facts, not its
/// history: a few hundred bytes to a few KB) before all are dropped and
/// read again.
const MAX_VIEWS: usize = 200_000;

impl Automation {
    /// A runner continuing from its saved cursor. Co-purchases are learned
    /// from the whole log once, here.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        workspace: WorkspaceId,
        assets: Arc<Assets>,
        sender: Sender,
        transport: Arc<dyn Transport>,
        emitter: Arc<dyn Emitter>,
        segments: Arc<dyn Segments>,
    ) -> Result<Automation> {
        use rand::SeedableRng;
        let cursor = match store.load_snapshot(workspace, SNAPSHOT)? {
            Some(s) => serde_json::from_slice::<Cursor>(&s.data).map(|c| c.seq).unwrap_or(s.seq),
            None => 0,
        };
        let names = journey::Names::of(&assets.journeys);
        let mut trials =
            experiments::Trials::new(&assets.journeys, &tidings_store::learnings::load(store.as_ref(), workspace)?);
        let mut bought_together = BoughtTogether::new();
        let mut pattern = sendtime::Pattern::new(assets.default_tz.clone());
        let mut after = 0;
        loop {
            let page = store.scan(workspace, after, 10_000)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page.iter().filter(|e| e.seq <= cursor) {
                if e.event.as_deref() == Some("Order Completed") {
                    view::learn_order(&mut bought_together, e);
                }
                pattern.learn(e);
                trials.learn(e);
            }
            if after >= cursor {
                break;
            }
        }
        Ok(Automation {
            store,
            workspace,
            assets,
            sender,
            transport,
            emitter,
            segments,
            retry: RetryPolicy::default(),
            cursor,
            bought_together,
            pattern,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(workspace.0 as u64),
            lease: 5 * tidings_model::time::MINUTE,
            scheduled: HashSet::new(),
            subscribed_rule: subscribed_rule(),
            views: HashMap::new(),
            view_ids: Default::default(),
            outgoing: Vec::new(),
            timing: Default::default(),
            names,
            http: webhook::agent(Arc::new(webhook::Guard::default())),
            webhooks: None,
            trials,
            partitions: None,
            cursors: BTreeMap::new(),
            learned: cursor,
        })
    }

    /// Acts only for the people of the partitions `partitions` holds (several
    /// nodes share the database): log entries, timers and messages of other
    /// partitions are left to their owners, and each partition's place in
    /// the log is kept in the store (snapshot `automation/pNN`), so the
    /// next owner of a partition goes on where the last one stopped.
    pub fn with_partitions(mut self, partitions: Arc<dyn Partitions>) -> Automation {
        self.partitions = Some(partitions);
        self
    }

    /// The partitions held now as a claim mask, when several nodes share the work.
    fn claim_mask(&self) -> Option<i64> {
        self.partitions.as_ref().map(|p| tidings_store::partition_mask(p.held(self.workspace)))
    }

    /// Whether this runner acts for `profile` (always, for a node alone).
    pub(crate) fn acts_for(&self, profile: ProfileId) -> bool {
        self.partitions.as_ref().is_none_or(|p| p.owns(self.workspace, profile))
    }

    /// With several nodes: takes on the place in the log of each partition
    /// gained since the last round (stepping the cursor back when one is
    /// behind), and forgets those lost.
    fn follow_partitions(&mut self) -> Result<()> {
        let Some(partitions) = &self.partitions else { return Ok(()) };
        let held = partitions.held(self.workspace);
        self.cursors.retain(|p, _| held.contains(p));
        let mut back = self.cursor;
        for p in held {
            if self.cursors.contains_key(&p) {
                continue;
            }
            // A partition no node has handled yet goes on from the cursor of
            // the node alone that ran before (an upgraded database), else from the start.
            let at = match self.store.load_snapshot(self.workspace, &partition_cursor(p))? {
                Some(s) => s.seq,
                None => self.store.load_snapshot(self.workspace, SNAPSHOT)?.map_or(0, |s| s.seq),
            };
            self.cursors.insert(p, at);
            back = back.min(at);
        }
        if back < self.cursor {
            tracing::info!(
                workspace = self.workspace.0,
                from = back,
                to = self.cursor,
                "reading the log again for partitions taken on"
            );
            // Views followed the log past `back`; reading it again must not apply entries twice.
            self.forget_views();
            self.cursor = back;
        }
        Ok(())
    }

    /// Whether the entry at `seq` of `profile` is this runner's to handle.
    fn handles(&self, seq: i64, profile: ProfileId) -> bool {
        if self.partitions.is_none() {
            return true;
        }
        self.cursors.get(&tidings_store::partition_of(profile)).is_some_and(|&at| seq > at)
    }

    /// New rule definitions (checked against the journeys by the caller,
    /// and already live in the engine) for the rounds from now on.
    pub fn replace_rules(&mut self, rules: Arc<tidings_rules::Workspace>) {
        self.assets = Arc::new(Assets { rules, ..(*self.assets).clone() });
    }

    /// Lets webhook steps call the internal receivers `guard` allows (by
    /// default none: only addresses outside the server's own network).
    pub fn with_webhook_guard(mut self, guard: webhook::Guard) -> Automation {
        self.http = webhook::agent(Arc::new(guard));
        self
    }

    /// What this runner automates.
    pub fn assets(&self) -> &Arc<Assets> {
        &self.assets
    }

    /// One round at `now`: new log entries (triggers, awaited events), due
    /// timers, then due messages. Call it again until it reports nothing to
    /// catch up after downtime.
    pub fn step(&mut self, now: Micros) -> Result<StepReport> {
        let mut report = StepReport::default();
        let t0 = std::time::Instant::now();
        let result = self.follow_partitions().and_then(|()| self.read_log(now, &mut report));
        let t1 = std::time::Instant::now();
        let result = result.and_then(|()| self.fire_timers(now, &mut report));
        let t2 = std::time::Instant::now();
        let result = result.and_then(|()| self.deliver_due(now, &mut report));
        let t3 = std::time::Instant::now();
        let result = result.and_then(|()| self.review_experiments(now));
        let flushed = self.flush();
        let t4 = std::time::Instant::now();
        for (i, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].into_iter().enumerate() {
            self.timing[i] += d;
        }
        result.and(flushed).map(|()| report)
    }

    /// A profile as this round sees it at `now`: read once, then kept and
    /// brought up to date with the log (see [`ProfileView::follow`]).
    pub(crate) fn view(&mut self, id: ProfileId, now: Micros) -> Result<Option<Arc<ProfileView>>> {
        if let Some(v) = self.views.get_mut(&id) {
            if v.behind(now) {
                Arc::make_mut(v).advance(now);
            }
            return Ok(Some(v.clone()));
        }
        let Some(v) = ProfileView::load(self.store.as_ref(), self.workspace, id, now)? else {
            return Ok(None);
        };
        let v = Arc::new(v);
        if self.views.len() >= MAX_VIEWS {
            self.forget_views();
        }
        for (ids, known) in self.view_ids.iter_mut().zip([&v.profile.user_ids, &v.profile.anonymous_ids]) {
            ids.extend(known.iter().map(|ext| (ext.clone(), id)));
        }
        self.views.insert(id, v.clone());
        Ok(Some(v))
    }

    fn forget_views(&mut self) {
        self.views.clear();
        self.view_ids = Default::default();
    }

    /// Brings the kept views up to a log entry just read.
    fn follow(&mut self, e: &tidings_model::StoredEvent) -> Result<()> {
        if let Some(v) = self.views.get_mut(&e.profile) {
            match Arc::make_mut(v).follow(e) {
                Followed::Taken => {}
                Followed::Traits => match self.store.profile(self.workspace, e.profile)? {
                    Some(p) => Arc::make_mut(v).set_profile(p),
                    None => {
                        self.views.remove(&e.profile);
                    }
                },
                Followed::Stale => {
                    self.views.remove(&e.profile);
                }
            }
        }
        for (ids, ext) in self.view_ids.iter_mut().zip([&e.user_id, &e.anonymous_id]) {
            if let Some(ext) = ext
                && let Some(&other) = ids.get(ext.as_str())
                && other != e.profile
            {
                self.views.remove(&other);
                ids.remove(ext.as_str());
            }
        }
        Ok(())
    }

    /// Handles the log after the cursor.
    fn read_log(&mut self, now: Micros, report: &mut StepReport) -> Result<()> {
        // First the kept views follow the whole log as it is now, so that
        // every decision below sees all of it, whatever order concurrent
        // writers (the ingest path, the engine's changes) committed in.
        // The first pages are kept for the second pass (a round's new log
        // usually fits in one); a longer catch-up reads the rest again.
        let mut end = self.cursor;
        let mut kept = std::collections::VecDeque::new();
        loop {
            let page = self.store.scan(self.workspace, end, PAGE)?;
            let Some(last) = page.last().map(|e| e.seq) else { break };
            for e in &page {
                self.follow(e)?;
            }
            end = last;
            if kept.len() < KEPT_PAGES {
                kept.push_back(page);
            }
        }
        // Decisions ask the engine, which must have taken in as much.
        if end > self.cursor {
            self.segments.caught_up(end);
        }
        // Then each entry up to there is handled; later ones wait for the next round.
        while self.cursor < end {
            let mut page = match kept.pop_front() {
                Some(p) => p,
                None => self.store.scan(self.workspace, self.cursor, PAGE)?,
            };
            page.retain(|e| e.seq <= end);
            let Some(last) = page.last().map(|e| e.seq) else { break };
            for e in &page {
                if e.seq > self.learned {
                    if e.event.as_deref() == Some("Order Completed") {
                        view::learn_order(&mut self.bought_together, e);
                    }
                    self.pattern.learn(e);
                    self.trials.learn(e);
                }
                if self.handles(e.seq, e.profile) {
                    self.on_event(e, now, report)?;
                }
            }
            report.events += page.len();
            self.cursor = last;
            self.learned = self.learned.max(last);
            self.save_cursor(now)?;
        }
        Ok(())
    }

    /// Once an hour of the clock: takes decisions made by hand, reviews the
    /// running experiments, and logs those decided now (see [`experiments`]).
    fn review_experiments(&mut self, now: Micros) -> Result<()> {
        if !self.trials.due(now) {
            return Ok(());
        }
        self.trials.decided(&tidings_store::learnings::load(self.store.as_ref(), self.workspace)?);
        for l in self.trials.review(now) {
            tracing::info!(experiment = %l.experiment, winner = ?l.winner, result = %l.result, "experiment decided");
            tidings_store::learnings::append(self.store.as_ref(), self.workspace, l)?;
        }
        Ok(())
    }

    fn save_cursor(&mut self, now: Micros) -> Result<()> {
        if self.partitions.is_some() {
            let seq = self.cursor;
            for (&p, at) in self.cursors.iter_mut().filter(|(_, at)| **at < seq) {
                *at = seq;
                let data = serde_json::to_vec(&Cursor { seq }).expect("a cursor encodes");
                self.store.save_snapshot(
                    self.workspace,
                    &partition_cursor(p),
                    &Snapshot { seq, taken_at: now, data },
                )?;
            }
            return Ok(());
        }
        let data = serde_json::to_vec(&Cursor { seq: self.cursor }).expect("a cursor encodes");
        self.store.save_snapshot(self.workspace, SNAPSHOT, &Snapshot { seq: self.cursor, taken_at: now, data })?;
        Ok(())
    }

    /// Sends `template` once to every profile for which `audience` holds at
    /// `now` (a broadcast), each through the policies, at once or at each
    /// person's best hour, throttled per hour ([`BroadcastOptions`]); `name`
    /// keys it, so a broadcast repeated after a crash sends nobody a second copy.
    #[allow(clippy::too_many_arguments)]
    pub fn broadcast(
        &mut self,
        name: &str,
        template: &str,
        audience: &tidings_rules::Condition,
        options: &BroadcastOptions,
        now: Micros,
        report: &mut StepReport,
    ) -> Result<usize> {
        let mut after = ProfileId(0);
        let mut asked = 0;
        let assets = self.assets.clone();
        let mut throttle = sendtime::Throttle::new(options.per_hour);
        let check = journey::Audience::of(&assets, audience, self.segments.as_ref());
        loop {
            let ids = self.store.profile_ids(self.workspace, after, PAGE)?;
            let Some(&last) = ids.last() else { break };
            after = last;
            for id in ids {
                if !check.admits(self, id, now)? {
                    continue;
                }
                let Some(view) = self.view(id, now)? else { continue };
                asked += 1;
                let key = format!("broadcast:{name}:{}", id.0);
                let mut payload = serde_json::json!({"broadcast": name});
                // A test: the variant by a hash of the name and the profile, the exposure recorded.
                let mut template = template;
                if !options.variants.is_empty() {
                    let bucket = tidings_journeys::machine::arm_bucket(name, id);
                    let variant = options.variant_for(bucket);
                    let arm = variant.map_or("holdout", |v| v.name.as_str());
                    let exposure = Internal::ExperimentViewed {
                        experiment_id: name.to_string(),
                        variation_id: arm.to_string(),
                        journey: None,
                        broadcast: Some(name.to_string()),
                        phase: None,
                    };
                    let exposure = self.message(&view, exposure, &key, now);
                    self.emit(exposure.into_iter().collect())?;
                    let Some(v) = variant else { continue };
                    template = v.template.as_str();
                    payload["variant"] = serde_json::json!(v.name);
                }
                let (wanted, why) = match options.best_hour_within {
                    Some(within) => self.best_hour(&view, within, now),
                    None => (now, String::new()),
                };
                let at = throttle.slot(wanted);
                let later = if at > wanted {
                    let hours = options.per_hour.unwrap_or(0);
                    Some((at, format!("{why}{}throttled to {hours} an hour", if why.is_empty() { "" } else { "; " })))
                } else {
                    (at > now).then_some((at, why))
                };
                self.request_send(&view, template, &key, &format!("broadcast:{name}"), payload, later, now, report)?;
            }
        }
        Ok(asked)
    }

    /// The profile's best hour in `[now, now + within)` and the reason to record.
    pub(crate) fn best_hour(&self, view: &ProfileView, within: Micros, now: Micros) -> (Micros, String) {
        let tz = view.time_zone(&self.assets.default_tz);
        let own = view.engagements(now);
        let (at, learned) = sendtime::best_time(&own, &self.pattern, now, within, &tz, &self.assets.policy);
        let local = jiff::Timestamp::from_microsecond(at)
            .map(|t| t.to_zoned_datetime(tz.clone()).strftime("%a %H:%M %Z").to_string())
            .unwrap_or_default();
        (
            at,
            format!(
                "at {local}, their best hour (from {learned} own opens, clicks and orders and the workspace's pattern)"
            ),
        )
    }

    /// Queues the runner's own events; [`Automation::step`] records them at the
    /// end of the round, in one append.
    fn emit(&mut self, messages: Vec<Message>) -> Result<()> {
        self.outgoing.extend(messages);
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.outgoing.is_empty() {
            return Ok(());
        }
        let messages = std::mem::take(&mut self.outgoing);
        self.emitter.emit(self.workspace, messages).map_err(AutomationError::Emit)
    }

    /// A message from the runner about `view`'s profile (see [`runner_message`]).
    pub(crate) fn message(&self, view: &ProfileView, event: Internal, key: &str, now: Micros) -> Option<Message> {
        let p = &view.profile;
        let who = tidings_model::Subject::profile(p.user_id.as_deref(), p.anonymous_ids.first().map(String::as_str));
        runner_message(who, event, key, now)
    }

    /// Makes webhook calls on a pool of threads keeping time with `clock`,
    /// off the runner's path (for the wall clock; see [`webhook::Pool`]).
    pub fn with_webhook_pool(mut self, clock: Arc<dyn tidings_model::Clock>) -> std::io::Result<Automation> {
        self.webhooks = Some(webhook::Pool::start(webhook::PoolParts {
            store: self.store.clone(),
            emitter: self.emitter.clone(),
            clock,
            keys: self.sender.keys.clone(),
            agent: self.http.clone(),
            workspace: self.workspace,
        })?);
        Ok(self)
    }
}

/// A message from the runner about a profile recorded under `who`, with an
/// id derived from `key` (so a replay records nothing twice); `None` for a
/// profile with no identity to record it under.
pub(crate) fn runner_message(
    who: tidings_model::Subject<'_>,
    event: Internal,
    key: &str,
    now: Micros,
) -> Option<Message> {
    let kind = if event.name().is_some() { "track" } else { "identify" };
    let id = format!("tidings-{}", digest(&format!("{kind}:{}:{key}", event.name().unwrap_or(""))));
    match event.into_message(who, id, now, now, "tidings-automation") {
        Ok(m) => Some(m),
        Err(tidings_model::MessageError::MissingId) => None,
        Err(e) => {
            tracing::error!(error = %e, "the runner formed a message it cannot record");
            None
        }
    }
}

/// A stable token from text: the first 24 hex digits of its SHA-256.
pub(crate) fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}
