//! One profile as the runner sees it: the stored profile and its history,
//! read once per decision, and what follows from them (segments, stage,
//! consent, recent engagement, recommendations, the render context).

use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use tidings_engine::{Observed, ProfileInput};
use tidings_journeys::policy::{Recipient, Suppression};
use tidings_model::time::DAY;
use tidings_model::{Micros, ProfileId, StoredEvent, WorkspaceId};
use tidings_render::recommend::order_products;
use tidings_render::{ActivityEvent, BoughtTogether, Context, EventContext, ProfileContext, viewed_not_bought};
use tidings_rules::{Condition, Workspace};
use tidings_store::{Profile, Store};

use crate::Result;

/// A profile and its whole history.
pub struct ProfileView {
    pub profile: Profile,
    pub history: Vec<StoredEvent>,
    pub input: ProfileInput,
    /// Properties of each history entry, parsed once.
    properties: Vec<Map<String, Value>>,
}

impl ProfileView {
    /// The profile `id`, or `None` when it is gone (merged away).
    pub fn load(store: &dyn Store, ws: WorkspaceId, id: ProfileId) -> Result<Option<ProfileView>> {
        let Some(profile) = store.profile(ws, id)? else { return Ok(None) };
        let history = store.profile_history(ws, id)?;
        Ok(Some(ProfileView::new(profile, history)))
    }

    pub fn new(profile: Profile, history: Vec<StoredEvent>) -> ProfileView {
        let input = ProfileInput::from_stored(&history);
        let properties = input
            .messages
            .iter()
            .map(|m| match &m.properties {
                Value::Object(o) => o.clone(),
                _ => Map::new(),
            })
            .collect();
        ProfileView { profile, history, input, properties }
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

    /// What the policies need, as of `now`. `marketing_sent` are the send
    /// times of marketing messages (from the outbox).
    pub fn recipient(
        &self,
        rules: &Workspace,
        now: Micros,
        tz: &TimeZone,
        marketing_sent: Vec<Micros>,
        subscribed_rule: &Condition,
    ) -> Recipient {
        let mut suppressed = None;
        let mut sent_30d = std::collections::BTreeSet::new();
        let mut engaged_30d = std::collections::BTreeSet::new();
        for (m, props) in self.input.messages.iter().zip(&self.properties) {
            if m.timestamp > now {
                continue;
            }
            let message = props.get("message_id").and_then(Value::as_str);
            match m.event_name() {
                Some("Email Bounced") if props.get("permanent") != Some(&Value::Bool(false)) => {
                    suppressed = Some(Suppression::HardBounce);
                }
                Some("Email Complained") if suppressed.is_none() => suppressed = Some(Suppression::Complaint),
                Some("Unsubscribed") if suppressed.is_none() && props.get("topic").is_none_or(Value::is_null) => {
                    suppressed = Some(Suppression::Unsubscribed)
                }
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
        Recipient {
            subscribed: self.holds(rules, subscribed_rule, now, tz),
            suppressed,
            marketing_sent,
            engaged_30d: engaged,
            sent_30d: sent_30d.len() as u32,
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
    ) -> Context {
        let evaluation = tidings_engine::reference::evaluate(rules, &self.input, now, tz);
        let segments: Vec<String> = evaluation.members().map(str::to_string).collect();
        let stage = evaluation.stages.values().flatten().next().cloned();
        let activity: Vec<ActivityEvent<'_>> = self
            .input
            .messages
            .iter()
            .zip(&self.properties)
            .filter(|(m, _)| m.timestamp <= now)
            .filter_map(|(m, p)| Some(ActivityEvent { name: m.event_name()?, timestamp: m.timestamp, properties: p }))
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
            .zip(&self.properties)
            .filter(|(m, _)| m.timestamp <= now && m.event_name() == Some(name))
            .max_by_key(|(m, _)| (m.timestamp, m.seq))
            .map(|(m, p)| EventContext { name: name.to_string(), timestamp: m.timestamp, properties: p.clone() })
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
