//! One profile as the runner sees it: the stored profile and its history,
//! read once per decision, and what follows from them (segments, stage,
//! consent, recent engagement, recommendations, the render context).

use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use tidings_engine::{Observed, ProfileInput};
use tidings_journeys::policy::{Frequency, Recipient, Suppression};
use tidings_model::time::DAY;
use tidings_model::{MessageType, Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_render::recommend::order_products;
use tidings_render::{ActivityEvent, BoughtTogether, Context, EventContext, ProfileContext, viewed_not_bought};
use tidings_rules::{Condition, Span, Subscribed, Workspace};
use tidings_store::{Profile, Store};

use crate::Result;

/// A profile and its whole history, parsed once.
#[derive(Clone)]
pub struct ProfileView {
    pub profile: Profile,
    pub input: ProfileInput,
    /// The highest log position in `input`.
    pub seen: i64,
}

static NO_PROPERTIES: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// A message's properties (none when they are not an object).
fn props(m: &Observed) -> &Map<String, Value> {
    m.properties.as_object().unwrap_or(&NO_PROPERTIES)
}

impl ProfileView {
    /// The profile `id`, or `None` when it is gone (merged away). Event
    /// contexts are left out unless `with_context` (rules that read `context.*`).
    pub fn load(store: &dyn Store, ws: WorkspaceId, id: ProfileId, with_context: bool) -> Result<Option<ProfileView>> {
        let Some(profile) = store.profile(ws, id)? else { return Ok(None) };
        let history = store.profile_history(ws, id)?;
        Ok(Some(ProfileView::new(profile, &history, with_context)))
    }

    pub fn new(profile: Profile, history: &[StoredEvent], with_context: bool) -> ProfileView {
        let input = if with_context {
            ProfileInput::from_stored(history)
        } else {
            ProfileInput::new(history.iter().map(Observed::from_stored_without_context).collect())
        };
        let seen = history.iter().map(|e| e.seq).max().unwrap_or(0);
        ProfileView { profile, input, seen }
    }

    /// Takes in a log entry of this profile read after the view was made,
    /// when that is all it changes: an event or page view under identities
    /// the profile already has. Whether it could (if not, the view is stale:
    /// traits set, an identity linked, or a merge that moved other events in).
    pub fn follow(&mut self, e: &StoredEvent, with_context: bool) -> bool {
        if e.seq <= self.seen {
            return true;
        }
        let known = |id: &Option<String>, ids: &[String]| id.as_ref().is_none_or(|id| ids.contains(id));
        let plain = matches!(e.kind, MessageType::Track | MessageType::Page | MessageType::Screen);
        if !plain || !known(&e.user_id, &self.profile.user_ids) || !known(&e.anonymous_id, &self.profile.anonymous_ids)
        {
            return false;
        }
        let m = if with_context { Observed::from_stored(e) } else { Observed::from_stored_without_context(e) };
        // In the store's order, by time then arrival (mostly the end).
        let messages = &mut self.input.messages;
        let at = messages.partition_point(|x| (x.timestamp, x.seq) <= (m.timestamp, m.seq));
        messages.insert(at, m);
        self.seen = e.seq;
        true
    }

    /// Whether `condition` holds as of `now`.
    pub fn holds(&self, rules: &Workspace, condition: &Condition, now: Micros, tz: &TimeZone) -> bool {
        tidings_engine::reference::holds(rules, &self.input, condition, now, tz)
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

    /// What the policies need, as of `now`, for a message on `topic`.
    /// `marketing_sent` are the send times of marketing messages (from the outbox).
    pub fn recipient(
        &self,
        rules: &Workspace,
        now: Micros,
        tz: &TimeZone,
        marketing_sent: Vec<Micros>,
        subscribed_rule: &Condition,
        topic: Option<&str>,
    ) -> Recipient {
        let mut suppressed = None;
        let mut unsubscribed = false;
        let mut sent_30d = std::collections::BTreeSet::new();
        let mut engaged_30d = std::collections::BTreeSet::new();
        for m in &self.input.messages {
            let props = props(m);
            if m.timestamp > now {
                continue;
            }
            let message = props.get("message_id").and_then(Value::as_str);
            match m.event_name() {
                Some("Email Bounced") if props.get("permanent") != Some(&Value::Bool(false)) => {
                    suppressed = Some(Suppression::HardBounce);
                }
                Some("Email Complained") if suppressed.is_none() => suppressed = Some(Suppression::Complaint),
                Some("Unsubscribed") if props.get("topic").is_none_or(Value::is_null) => unsubscribed = true,
                Some("Email Sent") if m.timestamp > now - 30 * DAY => {
                    if let Some(id) = message {
                        sent_30d.insert(id.to_string());
                    }
                }
                Some("Email Opened") if props.get("machine") != Some(&Value::Bool(true)) => {
                    if let Some(id) = message {
                        engaged_30d.insert(id.to_string());
                    }
                }
                Some("Email Clicked") => {
                    if let Some(id) = message {
                        engaged_30d.insert(id.to_string());
                    }
                }
                _ => {}
            }
        }
        let engaged = engaged_30d.intersection(&sent_30d).count() as u32;
        // Whether an unsubscribe still holds (or consent was given again since)
        // is the rule language's `subscribed`; an unsubscribe only names the reason.
        let subscribed = self.holds(rules, subscribed_rule, now, tz);
        if suppressed.is_none() && unsubscribed && !subscribed {
            suppressed = Some(Suppression::Unsubscribed);
        }
        // A topic opt-out is the rule language's `subscribed to "TOPIC"`, as segments see it.
        let unsubscribed_topic = topic
            .filter(|_| subscribed)
            .filter(|t| {
                let rule = Condition::Subscribed(Subscribed { topic: Some(t.to_string()), span: Span::default() });
                !self.holds(rules, &rule, now, tz)
            })
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
        rules: &Workspace,
        now: Micros,
        tz: &TimeZone,
        event: Option<EventContext>,
        bought_together: &BoughtTogether,
        with_segments: bool,
    ) -> Context {
        // Evaluating every segment over the history is the costly part; only
        // templates that mention segments or the stage need it.
        let (segments, stage) = if with_segments {
            let evaluation = tidings_engine::reference::evaluate(rules, &self.input, now, tz);
            let segments: Vec<String> = evaluation.members().map(str::to_string).collect();
            (segments, evaluation.stages.values().flatten().next().cloned())
        } else {
            (Vec::new(), None)
        };
        let activity: Vec<ActivityEvent<'_>> = self
            .input
            .messages
            .iter()
            .filter(|m| m.timestamp <= now)
            .filter_map(|m| Some(ActivityEvent { name: m.event_name()?, timestamp: m.timestamp, properties: props(m) }))
            .collect();
        let viewed = viewed_not_bought(&activity, 6);
        let mut seeds: Vec<&str> = viewed.iter().map(|p| p.id.as_str()).collect();
        let last_order =
            activity.iter().rev().find(|e| e.name == "Order Completed").map(|e| order_products(e.properties));
        if let Some(products) = &last_order {
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

    /// The newest event named `name` at or before `now`, for a template's `event`.
    pub fn last_event(&self, name: &str, now: Micros) -> Option<EventContext> {
        self.input
            .messages
            .iter()
            .filter(|m| m.timestamp <= now && m.event_name() == Some(name))
            .max_by_key(|m| (m.timestamp, m.seq))
            .map(|m| EventContext { name: name.to_string(), timestamp: m.timestamp, properties: props(m).clone() })
    }
}

/// Learns the co-purchases of one stored `Order Completed`.
pub(crate) fn learn_order(model: &mut BoughtTogether, e: &StoredEvent) {
    let observed = Observed::from_stored(e);
    if let Value::Object(p) = &observed.properties {
        let products = order_products(p);
        if products.len() > 1 {
            model.learn_order(&products);
        }
    }
}

/// The event of a stored entry, for a template.
pub(crate) fn event_context(e: &StoredEvent) -> Option<EventContext> {
    let observed = Observed::from_stored(e);
    let properties = match observed.properties {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    Some(EventContext { name: e.event.clone()?, timestamp: e.timestamp, properties })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_model::traits::Traits;

    fn stored(seq: i64, kind: MessageType, user: &str, ts: Micros) -> StoredEvent {
        StoredEvent {
            seq,
            profile: ProfileId(1),
            message_id: format!("m{seq}"),
            kind,
            event: (kind == MessageType::Track).then(|| "Product Viewed".to_string()),
            user_id: Some(user.to_string()),
            anonymous_id: None,
            timestamp: ts,
            received_at: ts,
            body: r#"{"properties":{"sku":"a"}}"#.into(),
        }
    }

    #[test]
    fn a_view_follows_plain_events_in_store_order_and_refuses_the_rest() {
        let profile = Profile {
            id: ProfileId(1),
            workspace: WorkspaceId(1),
            user_id: Some("u".into()),
            user_ids: vec!["u".into()],
            anonymous_ids: Vec::new(),
            traits: Traits::default(),
            created_at: 0,
        };
        let history = [stored(1, MessageType::Track, "u", 100), stored(2, MessageType::Track, "u", 300)];
        let mut v = ProfileView::new(profile, &history, false);
        assert_eq!(v.seen, 2);
        // Already in the view: nothing added.
        assert!(v.follow(&history[1], false));
        assert_eq!(v.input.messages.len(), 2);
        // A late event lands in time order.
        assert!(v.follow(&stored(3, MessageType::Track, "u", 200), false));
        let order: Vec<i64> = v.input.messages.iter().map(|m| m.seq).collect();
        assert_eq!(order, [1, 3, 2]);
        assert_eq!(v.seen, 3);
        // Traits set, or an identity the profile does not have: the view is stale.
        assert!(!v.follow(&stored(4, MessageType::Identify, "u", 400), false));
        assert!(!v.follow(&stored(5, MessageType::Track, "someone-else", 400), false));
        assert_eq!(v.input.messages.len(), 3);
    }
}
