//! One profile as the runner sees it: the stored profile (its identities
//! and current traits) and the facts about it that no segment holds:
//! suppressions, recent sends and engagement, product interest, its own
//! engagement times. Segments, stages and every journey condition are the
//! engine's (see [`crate::Segments`]); nothing here evaluates a rule.
//!
//! Facts are folded from the profile's history once, when it is first
//! needed, and then kept up to date with each log entry the runner reads
//! ([`ProfileView::follow`]): the work of a decision does not grow with the
//! length of a person's history. Each fact is order-independent (a flag, a
//! newest or oldest time, a newest detail), so a late event folds in as if
//! it had arrived in time. Events stamped after the time the facts are at
//! wait and fold in when the clock passes them.

use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use std::collections::HashMap;
use tidings_journeys::policy::{Frequency, Recipient, Suppression};
use tidings_model::event::{EMAIL_BOUNCED, EMAIL_CLICKED, EMAIL_COMPLAINED, EMAIL_OPENED, EMAIL_SENT, UNSUBSCRIBED};
use tidings_model::time::DAY;
use tidings_model::{MessageType, Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_render::recommend::{Interests, ORDER_COMPLETED, Product, order_products};
use tidings_render::{BoughtTogether, Context, EventContext, ProfileContext};
use tidings_rules::{Condition, Span, Subscribed};
use tidings_store::{Profile, Store};

use crate::Result;
use crate::segments::Segments;
use crate::sendtime::is_engagement;

/// Sends older than this no longer count for the policies.
const SENT_WINDOW: Micros = 30 * DAY;
/// Opens and clicks are kept this long for the sends they belong to (an
/// engagement never comes before its send; the margin is for clocks).
const ENGAGED_KEPT: Micros = 90 * DAY;

/// What the runner keeps of one profile's history.
#[derive(Debug, Clone, Default)]
struct Facts {
    hard_bounced: bool,
    complained: bool,
    /// An `Unsubscribed` from all marketing (whether it still holds is the rule language's `subscribed`).
    unsubscribed: bool,
    /// Sent messages of the last 30 days: Message-ID -> newest send.
    sent: HashMap<String, Micros>,
    /// Messages opened by a person or clicked: Message-ID -> first such time.
    engaged: HashMap<String, Micros>,
    /// The person's human opens, clicks and orders (for their best hour).
    engagements: Vec<Micros>,
    interests: Interests,
    /// The products of the newest order, with its (time, log position).
    last_order: Option<((Micros, i64), Vec<Product>)>,
    /// Every event stamped at or before this is folded in.
    at: Micros,
    /// Events stamped after `at`, folded in when the clock passes them.
    pending: Vec<StoredEvent>,
}

impl Facts {
    fn new(at: Micros) -> Facts {
        Facts { at, ..Facts::default() }
    }

    /// Takes one event of the profile, in any order.
    fn take(&mut self, e: &StoredEvent) {
        if e.timestamp > self.at {
            self.pending.push(e.clone());
        } else {
            self.observe(e);
        }
    }

    fn observe(&mut self, e: &StoredEvent) {
        if e.kind != MessageType::Track {
            return;
        }
        let Some(name) = e.event.as_deref() else { return };
        let props = e.body.properties();
        let message = || props.get("message_id").and_then(Value::as_str).map(str::to_string);
        let machine = || props.get("machine") == Some(&Value::Bool(true));
        if is_engagement(Some(name), machine) {
            self.engagements.push(e.timestamp);
        }
        match name {
            EMAIL_BOUNCED if props.get("permanent") != Some(&Value::Bool(false)) => self.hard_bounced = true,
            EMAIL_COMPLAINED => self.complained = true,
            UNSUBSCRIBED if props.get("topic").is_none_or(Value::is_null) => self.unsubscribed = true,
            EMAIL_SENT if e.timestamp > self.at - SENT_WINDOW => {
                if let Some(id) = message() {
                    let t = self.sent.entry(id).or_insert(e.timestamp);
                    *t = (*t).max(e.timestamp);
                }
            }
            EMAIL_OPENED | EMAIL_CLICKED if !(name == EMAIL_OPENED && machine()) => {
                if let Some(id) = message() {
                    let t = self.engaged.entry(id).or_insert(e.timestamp);
                    *t = (*t).min(e.timestamp);
                }
            }
            ORDER_COMPLETED => {
                let at = (e.timestamp, e.seq);
                if self.last_order.as_ref().is_none_or(|(t, _)| at > *t) {
                    self.last_order = Some((at, order_products(props)));
                }
            }
            _ => {}
        }
        self.interests.observe(name, e.timestamp, e.seq, props);
    }

    /// Brings the facts to `now`: events stamped by then fold in, sends
    /// that no longer count are let go.
    fn advance(&mut self, now: Micros) {
        if now <= self.at {
            return;
        }
        self.at = now;
        if self.pending.iter().any(|e| e.timestamp <= now) {
            let (due, later): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.pending).into_iter().partition(|e| e.timestamp <= now);
            self.pending = later;
            for e in &due {
                self.observe(e);
            }
        }
        self.sent.retain(|_, t| *t > now - SENT_WINDOW);
        self.engaged.retain(|_, t| *t > now - ENGAGED_KEPT);
    }

    /// Whether an answer as of `now` needs events still waiting (letting
    /// old sends go changes no answer: every answer filters by time).
    fn behind(&self, now: Micros) -> bool {
        self.pending.iter().any(|e| e.timestamp <= now)
    }
}

/// A profile as the runner sees it.
#[derive(Clone)]
pub struct ProfileView {
    pub profile: Profile,
    facts: Facts,
    /// The highest log position taken in.
    pub seen: i64,
}

/// What [`ProfileView::follow`] made of a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// Taken in (or already in).
    Taken,
    /// It sets traits under identities the profile has: the stored profile
    /// is to be read again (the facts do not depend on traits).
    Traits,
    /// It changes who the profile is (an identity linked, a merge): the view
    /// is stale and must be read again from the store.
    Stale,
}

impl ProfileView {
    /// The profile `id` as of `now`, or `None` when it is gone (merged away).
    pub fn load(store: &dyn Store, ws: WorkspaceId, id: ProfileId, now: Micros) -> Result<Option<ProfileView>> {
        let Some(profile) = store.profile(ws, id)? else { return Ok(None) };
        let history = store.profile_history(ws, id)?;
        Ok(Some(ProfileView::new(profile, &history, now)))
    }

    /// A view from the stored profile and its history, as of `now`.
    pub fn new(profile: Profile, history: &[StoredEvent], now: Micros) -> ProfileView {
        let mut facts = Facts::new(now);
        for e in history {
            facts.take(e);
        }
        let seen = history.iter().map(|e| e.seq).max().unwrap_or(0);
        ProfileView { profile, facts, seen }
    }

    /// Takes in a log entry of this profile read after the view was made.
    pub fn follow(&mut self, e: &StoredEvent) -> Followed {
        if e.seq <= self.seen {
            return Followed::Taken;
        }
        let known = |id: &Option<String>, ids: &[String]| id.as_ref().is_none_or(|id| ids.contains(id));
        if !known(&e.user_id, &self.profile.user_ids) || !known(&e.anonymous_id, &self.profile.anonymous_ids) {
            return Followed::Stale;
        }
        match e.kind {
            MessageType::Track | MessageType::Page | MessageType::Screen => {
                self.facts.take(e);
                self.seen = e.seq;
                Followed::Taken
            }
            MessageType::Identify | MessageType::Group => {
                self.seen = e.seq;
                Followed::Traits
            }
            MessageType::Alias => Followed::Stale,
        }
    }

    /// The stored profile read again after a [`Followed::Traits`].
    pub fn set_profile(&mut self, profile: Profile) {
        self.profile = profile;
    }

    /// Brings the view to `now` (see the module docs).
    pub fn advance(&mut self, now: Micros) {
        self.facts.advance(now);
    }

    /// Whether [`ProfileView::advance`] to `now` would change anything.
    pub fn behind(&self, now: Micros) -> bool {
        self.facts.behind(now)
    }

    /// The facts as of `now`, without changing the view.
    fn facts_at(&self, now: Micros) -> std::borrow::Cow<'_, Facts> {
        if self.facts.behind(now) {
            let mut f = self.facts.clone();
            f.advance(now);
            std::borrow::Cow::Owned(f)
        } else {
            std::borrow::Cow::Borrowed(&self.facts)
        }
    }

    /// The profile's time zone: its `timezone` trait when valid, else `default`.
    pub fn time_zone(&self, default: &TimeZone) -> TimeZone {
        self.profile
            .traits
            .values
            .get("timezone")
            .and_then(Value::as_str)
            .and_then(|z| TimeZone::get(z).ok())
            .unwrap_or_else(|| default.clone())
    }

    pub fn email(&self) -> Option<&str> {
        self.profile.traits.values.get("email").and_then(Value::as_str).map(str::trim).filter(|e| !e.is_empty())
    }

    /// The times of the person's own human opens, clicks and orders at or before `now`.
    pub fn engagements(&self, now: Micros) -> Vec<Micros> {
        self.facts_at(now).engagements.iter().copied().filter(|&t| t <= now).collect()
    }

    /// What the policies need, as of `now`, for a message on `topic`.
    /// `marketing_sent` are the send times of marketing messages (from the outbox).
    pub fn recipient(
        &self,
        segments: &dyn Segments,
        now: Micros,
        marketing_sent: Vec<Micros>,
        subscribed_rule: &Condition,
        topic: Option<&str>,
    ) -> Recipient {
        let facts = self.facts_at(now);
        let mut suppressed = if facts.hard_bounced {
            Some(Suppression::HardBounce)
        } else if facts.complained {
            Some(Suppression::Complaint)
        } else {
            None
        };
        let sent_30d: Vec<&String> =
            facts.sent.iter().filter(|&(_, &t)| t > now - SENT_WINDOW && t <= now).map(|(id, _)| id).collect();
        let engaged = sent_30d.iter().filter(|id| facts.engaged.get(**id).is_some_and(|&t| t <= now)).count() as u32;
        // Whether an unsubscribe still holds (or consent was given again since)
        // is the rule language's `subscribed`; an unsubscribe only names the reason.
        let id = self.profile.id;
        let subscribed = segments.holds(id, subscribed_rule).unwrap_or(false);
        if suppressed.is_none() && facts.unsubscribed && !subscribed {
            suppressed = Some(Suppression::Unsubscribed);
        }
        // A topic opt-out is the rule language's `subscribed to "TOPIC"`, as segments see it.
        let unsubscribed_topic = topic
            .filter(|_| subscribed)
            .filter(|t| segments.holds(id, &topic_rule(t)) == Some(false))
            .map(str::to_string);
        Recipient {
            subscribed,
            suppressed,
            marketing_sent,
            engaged_30d: engaged,
            sent_30d: sent_30d.len() as u32,
            unsubscribed_topic,
            frequency: Frequency::from_trait(self.profile.traits.values.get(Frequency::TRAIT)),
        }
    }

    /// What a template sees.
    pub fn context(
        &self,
        segments: &dyn Segments,
        now: Micros,
        event: Option<EventContext>,
        bought_together: &BoughtTogether,
        with_segments: bool,
    ) -> Context {
        let (segments, stage) = if with_segments { segments.membership(self.profile.id) } else { (Vec::new(), None) };
        let facts = self.facts_at(now);
        let viewed = facts.interests.viewed_not_bought(6);
        let mut seeds: Vec<&str> = viewed.iter().map(|p| p.id.as_str()).collect();
        if let Some((_, products)) = &facts.last_order {
            seeds.extend(products.iter().map(|p| p.id.as_str()));
        }
        let together = bought_together.complements_of(&seeds, 4);
        let mut traits = self.profile.traits.values.clone();
        traits.retain(|_, v| !v.is_null());
        Context {
            profile: ProfileContext { id: Some(self.profile.id), traits, segments, stage },
            event,
            viewed,
            bought_together: together,
            incentive: None,
            links: Default::default(),
            values: Map::new(),
            now,
        }
    }
}

/// `subscribed to "TOPIC"`, as the rule language says it.
pub(crate) fn topic_rule(topic: &str) -> Condition {
    Condition::Subscribed(Subscribed { topic: Some(topic.to_string()), span: Span::default() })
}

/// Learns the co-purchases of one stored `Order Completed`.
pub(crate) fn learn_order(model: &mut BoughtTogether, e: &StoredEvent) {
    let products = order_products(e.body.properties());
    if products.len() > 1 {
        model.learn_order(&products);
    }
}

/// The event of a stored entry, for a template.
pub(crate) fn event_context(e: &StoredEvent) -> Option<EventContext> {
    Some(EventContext { name: e.event.clone()?, timestamp: e.timestamp, properties: e.body.properties().clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segments::Segments;
    use serde_json::json;
    use tidings_model::traits::Traits;

    struct Everyone;

    impl Segments for Everyone {
        fn caught_up(&self, _: i64) {}
        fn holds(&self, _: ProfileId, _: &Condition) -> Option<bool> {
            Some(true)
        }
        fn membership(&self, _: ProfileId) -> (Vec<String>, Option<String>) {
            (Vec::new(), None)
        }
    }

    fn stored(seq: i64, kind: MessageType, user: &str, event: Option<&str>, ts: Micros, props: Value) -> StoredEvent {
        StoredEvent {
            seq,
            profile: ProfileId(1),
            message_id: format!("m{seq}"),
            kind,
            event: event.map(str::to_string),
            user_id: Some(user.to_string()),
            anonymous_id: None,
            timestamp: ts,
            received_at: ts,
            body: json!({ "properties": props }).to_string().into(),
        }
    }

    fn profile() -> Profile {
        Profile {
            id: ProfileId(1),
            workspace: WorkspaceId(1),
            user_id: Some("u".into()),
            user_ids: vec!["u".into()],
            anonymous_ids: Vec::new(),
            traits: Traits::default(),
            created_at: 0,
        }
    }

    #[test]
    fn a_view_follows_events_and_refuses_what_changes_the_profile() {
        let viewed = |seq, ts, sku: &str| {
            stored(seq, MessageType::Track, "u", Some("Product Viewed"), ts, json!({ "sku": sku }))
        };
        let history = [viewed(1, 100, "a"), viewed(2, 300, "b")];
        let mut v = ProfileView::new(profile(), &history, 1_000);
        assert_eq!(v.seen, 2);
        assert_eq!(v.follow(&history[1]), Followed::Taken);
        // A late event lands as if in time: "c" was viewed before "b".
        assert_eq!(v.follow(&viewed(3, 200, "c")), Followed::Taken);
        let bt = BoughtTogether::new();
        let ids = |v: &ProfileView| -> Vec<String> {
            v.context(&Everyone, 1_000, None, &bt, false).viewed.into_iter().map(|p| p.id).collect()
        };
        assert_eq!(ids(&v), ["b", "c", "a"]);
        assert_eq!(v.seen, 3);
        assert_eq!(v.follow(&stored(4, MessageType::Identify, "u", None, 400, json!({}))), Followed::Traits);
        assert_eq!(
            v.follow(&stored(5, MessageType::Track, "someone-else", Some("X"), 400, json!({}))),
            Followed::Stale
        );
        // An event stamped after the view's time waits until the clock passes it.
        assert_eq!(v.follow(&viewed(6, 5_000, "d")), Followed::Taken);
        assert_eq!(ids(&v), ["b", "c", "a"]);
        assert_eq!(v.context(&Everyone, 5_000, None, &bt, false).viewed[0].id, "d");
    }

    #[test]
    fn policies_see_sends_engagement_and_suppression() {
        let day = DAY;
        let t = |seq, name: &str, ts, props| stored(seq, MessageType::Track, "u", Some(name), ts, props);
        let history = [
            t(1, "Email Sent", 20 * day, json!({"message_id": "old"})),
            t(2, "Email Sent", 50 * day, json!({"message_id": "m1"})),
            t(3, "Email Sent", 55 * day, json!({"message_id": "m2"})),
            t(4, "Email Opened", 56 * day, json!({"message_id": "m1", "machine": true})),
            t(5, "Email Clicked", 57 * day, json!({"message_id": "m2"})),
            t(6, "Unsubscribed", 58 * day, json!({"topic": "news"})),
        ];
        let v = ProfileView::new(profile(), &history, 60 * day);
        let rule = tidings_rules::parse_condition("subscribed").unwrap();
        let r = v.recipient(&Everyone, 60 * day, Vec::new(), &rule, None);
        assert_eq!((r.sent_30d, r.engaged_30d), (2, 1), "the machine open does not count; the old send is past");
        assert_eq!(r.suppressed, None, "a topic opt-out suppresses nothing");
        assert_eq!(v.engagements(60 * day), [57 * day]);
        let mut v = v;
        assert_eq!(v.follow(&t(7, "Email Bounced", 59 * day, json!({"permanent": false}))), Followed::Taken);
        assert_eq!(v.recipient(&Everyone, 60 * day, Vec::new(), &rule, None).suppressed, None);
        v.follow(&t(8, "Email Bounced", 59 * day, json!({})));
        assert_eq!(v.recipient(&Everyone, 60 * day, Vec::new(), &rule, None).suppressed, Some(Suppression::HardBounce));
        // Time passes: the sends leave the window.
        v.advance(90 * day);
        assert_eq!(v.recipient(&Everyone, 90 * day, Vec::new(), &rule, None).sent_30d, 0);
    }
}
