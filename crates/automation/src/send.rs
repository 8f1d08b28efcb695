//! From "send this template to this person" to a delivered message: the
//! policies, the outbox, rendering, the transport, and the events that
//! report each outcome.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use tidings_delivery::{ComposeOptions, FailureClass, compose};
use tidings_journeys::policy::{Decision, Kind, decide};
use tidings_model::internal::EmailFacts;
use tidings_model::time::DAY;
use tidings_model::{Internal, Micros, ProfileId};
use tidings_render::{Email, Envelope, Mailbox, MessageKind, personalize};
use tidings_store::{Delivery, NewOutbox, OutboxRow, SendDecision};

use crate::journey::SavedEvent;
use crate::view::ProfileView;
use crate::{Automation, AutomationError, Result, StepReport};

/// A message the transport accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    pub profile: ProfileId,
    pub user_id: Option<String>,
    pub template: String,
    /// What asked for it: `journey:KEY:STEP` or `broadcast:NAME`.
    pub source: String,
    /// The Message-ID without angle brackets; tracking events carry it as `message_id`.
    pub message_id: String,
    pub at: Micros,
    pub email: Email,
}

fn policy_kind(k: MessageKind) -> Kind {
    match k {
        MessageKind::Marketing => Kind::Marketing,
        MessageKind::Transactional => Kind::Transactional,
    }
}

impl Automation {
    fn decision(&self, profile: ProfileId, key: &str, decision: &str, reason: String, now: Micros) -> Result<()> {
        self.store.record_decision(
            self.workspace,
            profile,
            &SendDecision { key: key.to_string(), at: now, decision: decision.into(), reason },
        )?;
        Ok(())
    }

    /// The policies' answer for sending `kind` to `view` at `now`.
    fn policy_decision(&self, view: &ProfileView, kind: Kind, topic: Option<&str>, now: Micros) -> Result<Decision> {
        let a = &self.assets;
        if view.email().is_none() {
            return Ok(Decision::Skip { reason: "the profile has no email address".into() });
        }
        let tz = view.time_zone(&a.default_tz);
        let since = now - a.policy.cap_window.max(30 * DAY);
        let sent = self.store.marketing_sent_since(self.workspace, view.profile.id, since)?;
        let recipient = view.recipient(self.segments.as_ref(), now, sent, &self.subscribed_rule, topic);
        Ok(decide(&a.policy, &recipient, kind, now, &tz))
    }

    /// A step or broadcast asks to send `template`: decide, record, enqueue.
    /// `later`: not before this time, and why (a best hour, a throttle slot).
    #[allow(clippy::too_many_arguments)]
    pub fn request_send(
        &mut self,
        view: &ProfileView,
        template: &str,
        key: &str,
        source: &str,
        payload: Value,
        later: Option<(Micros, String)>,
        now: Micros,
        report: &mut StepReport,
    ) -> Result<()> {
        let profile = view.profile.id;
        let Some(t) = self.assets.templates.get(template) else {
            report.skipped += 1;
            return self.decision(profile, key, "skip", format!("there is no template {template:?}"), now);
        };
        let kind = t.kind();
        let not_before = match self.policy_decision(view, policy_kind(kind), t.topic(), now)? {
            Decision::Skip { reason } => {
                report.skipped += 1;
                report.reasons.push(("skip".into(), source.into(), reason.clone()));
                return self.decision(profile, key, "skip", reason, now);
            }
            Decision::Defer { until, reason } => {
                report.deferred += 1;
                report.reasons.push(("defer".into(), source.into(), reason.clone()));
                self.decision(profile, key, "defer", reason, now)?;
                later.as_ref().map_or(until, |(t, _)| until.max(*t))
            }
            Decision::Send => match &later {
                Some((t, why)) if *t > now => {
                    self.decision(profile, key, "send", format!("every policy allows it; {why}"), now)?;
                    *t
                }
                _ => {
                    self.decision(profile, key, "send", "every policy allows it".into(), now)?;
                    now
                }
            },
        };
        let message_id =
            format!("{}@{}", crate::digest(&format!("{}:{key}", self.workspace.0)), self.sender.message_id_domain);
        let item = NewOutbox {
            workspace: self.workspace,
            key: key.to_string(),
            profile,
            message_id,
            kind: kind.as_str().to_string(),
            template: template.to_string(),
            source: source.to_string(),
            payload: payload.to_string(),
            not_before,
        };
        if self.store.enqueue(&[item], now)?.first() == Some(&true) {
            report.enqueued += 1;
        }
        Ok(())
    }

    /// Delivers what is due, in batches, until nothing is due at `now`.
    ///
    /// Each batch is attempted in parallel (reading the profile, the last
    /// policy check, rendering, the transport), at most one message per
    /// profile at a time, so that a profile's second message is decided
    /// after its first is recorded (caps and gaps see it). Outcomes are
    /// then recorded in order, on this thread.
    pub(crate) fn deliver_due(&mut self, now: Micros, report: &mut StepReport) -> Result<()> {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
        loop {
            let mine = self.store.claim_outbox(
                Some(self.workspace),
                now,
                now + self.lease,
                crate::BATCH,
                self.claim_mask(),
            )?;
            if mine.is_empty() {
                return Ok(());
            }
            let mut rounds: Vec<Vec<OutboxRow>> = Vec::new();
            let mut seen: HashMap<ProfileId, usize> = HashMap::new();
            for row in mine {
                let n = seen.entry(row.profile).or_insert(0);
                if rounds.len() <= *n {
                    rounds.push(Vec::new());
                }
                rounds[*n].push(row);
                *n += 1;
            }
            for round in rounds {
                let attempts: Vec<Result<Attempt>> = if workers > 1 && round.len() > 1 {
                    let chunk = round.len().div_ceil(workers);
                    let this = &*self;
                    std::thread::scope(|scope| {
                        let handles: Vec<_> = round
                            .chunks(chunk)
                            .map(|rows| {
                                scope.spawn(move || rows.iter().map(|r| this.attempt(r, now)).collect::<Vec<_>>())
                            })
                            .collect();
                        handles.into_iter().flat_map(|h| h.join().expect("a delivery worker panicked")).collect()
                    })
                } else {
                    round.iter().map(|r| self.attempt(r, now)).collect()
                };
                for (row, attempt) in round.iter().zip(attempts) {
                    self.apply(row, attempt?, now, report)?;
                }
            }
        }
    }

    fn fail(&self, row: &OutboxRow, reason: String, now: Micros, report: &mut StepReport) -> Result<()> {
        report.failed += 1;
        report.reasons.push(("skip".into(), row.source.clone(), reason.clone()));
        self.decision(row.profile, &row.key, "skip", reason.clone(), now)?;
        self.store.finish_outbox(row.id, &Delivery::Failed { detail: reason })?;
        Ok(())
    }

    /// Everything about one message that needs no writing: the profile, the
    /// last policy check, rendering, and the hand-over to the transport.
    fn attempt(&self, row: &OutboxRow, now: Micros) -> Result<Attempt> {
        let view = match self.views.get(&row.profile) {
            Some(v) => v.clone(),
            None => match ProfileView::load(self.store.as_ref(), self.workspace, row.profile, now)? {
                Some(v) => Arc::new(v),
                None => return Ok(Attempt::Fail("the profile no longer exists".into())),
            },
        };
        let Some(template) = self.assets.templates.get(&row.template).cloned() else {
            return Ok(Attempt::Fail(format!("there is no template {:?}", row.template)));
        };
        // Checked again at the last moment: an unsubscribe or bounce since the request wins.
        match self.policy_decision(&view, policy_kind(template.kind()), template.topic(), now)? {
            Decision::Skip { reason } => return Ok(Attempt::Fail(reason)),
            Decision::Defer { until, reason } => return Ok(Attempt::Defer(until, reason)),
            Decision::Send => {}
        }
        let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
        let event = serde_json::from_value::<Option<SavedEvent>>(payload["event"].clone()).ok().flatten();
        let src = template.source();
        let mentions = |w: &str| {
            src.subject.contains(w)
                || src.body.contains(w)
                || src.preheader.as_deref().is_some_and(|p| p.contains(w))
                || src.text.as_deref().is_some_and(|t| t.contains(w))
        };
        let with_segments = mentions("segments") || mentions("stage");
        let mut ctx =
            view.context(self.segments.as_ref(), now, event.map(|e| e.context()), &self.bought_together, with_segments);
        ctx.values.insert("journey".into(), payload["journey"].clone());
        let Some(address) = view.email() else {
            return Ok(Attempt::Fail("the profile has no email address".into()));
        };
        let name = {
            let t = &view.profile.traits.values;
            let first = t.get("first_name").and_then(Value::as_str).unwrap_or("");
            let last = t.get("last_name").and_then(Value::as_str).unwrap_or("");
            let full = format!("{first} {last}");
            let full = full.trim();
            (!full.is_empty()).then(|| full.to_string())
        };
        let to = match Mailbox::new(name.as_deref(), address) {
            Ok(m) => m,
            Err(e) => return Ok(Attempt::Fail(format!("the address {address:?} is not usable: {e}"))),
        };
        let envelope = Envelope {
            workspace: self.workspace,
            profile: row.profile,
            from: &self.sender.from,
            to: &to,
            reply_to: None,
            message_id: &row.message_id,
            message_key: &row.message_id,
            date: now,
            tracking_base: &self.sender.tracking_base,
            keys: &self.sender.keys,
            unsubscribe_mailto: None,
            track: true,
        };
        let email = match personalize(&template, ctx, &envelope) {
            Ok(e) => e,
            Err(e) => return Ok(Attempt::Fail(format!("not sent: template {}: {e}", row.template))),
        };
        let options = ComposeOptions {
            envelope_from: self.sender.envelope_from.as_deref(),
            dkim: self.sender.dkim.as_ref(),
            signed_at: Some(now),
        };
        let outgoing = match compose(&email, &options) {
            Ok(o) => o,
            Err(e) => return Ok(Attempt::Fail(format!("not sent: {e}"))),
        };
        // The last moment to find that another node took the person's partition over.
        if !self.acts_for(row.profile) {
            return Ok(Attempt::NotMine);
        }
        let result = self.transport.send(&outgoing);
        // Recorded at once, event first (its message id is fixed by the outbox
        // key, so a repeat is a duplicate the log drops), then the outbox row:
        // a crash at any point resends at most this one message, with the same
        // Message-ID, and never loses or doubles its events.
        let text = |v: &Value| v.as_str().map(str::to_string);
        let facts = EmailFacts {
            message_id: row.message_id.clone(),
            template: row.template.clone(),
            source: row.source.clone(),
            journey: text(&payload["journey"]),
            step: text(&payload["step"]),
            subject: email.headers.subject.clone(),
            kind: row.kind.clone(),
            topic: email.topic.clone(),
            attempt: row.attempts,
        };
        let mut events = Vec::new();
        let delivery = match &result {
            Ok(receipt) => {
                events.extend(self.message(&view, Internal::EmailSent(facts.clone()), &row.key, now));
                // Delivered only when a mail server took it; a file written is just sent.
                if receipt.delivered {
                    let delivered = Internal::EmailDelivered { email: facts, response: receipt.detail.clone() };
                    events.extend(self.message(&view, delivered, &row.key, now));
                }
                Some(Delivery::Sent { at: now, detail: receipt.detail.clone() })
            }
            Err(e) if e.class() == FailureClass::Bounce => {
                let bounced = Internal::EmailBounced { email: facts, permanent: true, reason: e.to_string() };
                events.extend(self.message(&view, bounced, &row.key, now));
                Some(Delivery::Failed { detail: format!("bounced: {e}") })
            }
            Err(e) if e.class() == FailureClass::Failed => Some(Delivery::Failed { detail: e.to_string() }),
            // Transient: the retry time needs the runner's random source; recorded in `apply`.
            Err(_) => None,
        };
        if !events.is_empty() {
            self.emitter.emit(self.workspace, events).map_err(AutomationError::Emit)?;
        }
        if let Some(d) = &delivery {
            self.store.finish_outbox(row.id, d)?;
        }
        Ok(Attempt::Handed { view, email: Box::new(email), result })
    }

    /// Counts and reports how an attempt ended; records what [`Automation::attempt`] left.
    fn apply(&mut self, row: &OutboxRow, attempt: Attempt, now: Micros, report: &mut StepReport) -> Result<()> {
        let (view, email, result) = match attempt {
            Attempt::Fail(reason) => return self.fail(row, reason, now, report),
            // Left as claimed: its partition's new owner sends it once the claim runs out.
            Attempt::NotMine => return Ok(()),
            Attempt::Defer(until, reason) => {
                report.deferred += 1;
                report.reasons.push(("defer".into(), row.source.clone(), reason.clone()));
                self.decision(row.profile, &row.key, "defer", reason.clone(), now)?;
                self.store
                    .finish_outbox(row.id, &Delivery::Retry { at: until, detail: format!("deferred: {reason}") })?;
                return Ok(());
            }
            Attempt::Handed { view, email, result } => (view, *email, result),
        };
        match result {
            Ok(_) => {
                report.sent.push(Sent {
                    profile: row.profile,
                    user_id: view.profile.user_id.clone(),
                    template: row.template.clone(),
                    source: row.source.clone(),
                    message_id: row.message_id.clone(),
                    at: now,
                    email,
                });
            }
            Err(e) => match e.class() {
                FailureClass::Transient => {
                    match self.retry.next_attempt_at(row.attempts.max(1) as u32, now, &mut self.rng) {
                        Some(at) => {
                            report.retried += 1;
                            self.store.finish_outbox(row.id, &Delivery::Retry { at, detail: e.to_string() })?;
                        }
                        None => {
                            report.failed += 1;
                            let detail = format!("gave up after {} attempts: {e}", row.attempts);
                            self.store.finish_outbox(row.id, &Delivery::Failed { detail })?;
                        }
                    }
                }
                FailureClass::Bounce | FailureClass::Failed => report.failed += 1,
            },
        }
        Ok(())
    }
}

/// How one delivery attempt went, before it is recorded.
enum Attempt {
    /// Not sent, for this reason (recorded as a skip).
    Fail(String),
    /// Not yet: a policy defers it.
    Defer(Micros, String),
    /// Not this node's any more: another took the person's partition over.
    NotMine,
    /// Handed to the transport, with its answer (already recorded unless transient).
    Handed {
        view: Arc<ProfileView>,
        email: Box<Email>,
        result: std::result::Result<tidings_delivery::Receipt, tidings_delivery::DeliveryError>,
    },
}
