//! Identity resolution: which profile a message belongs to, and when two
//! profiles become one.
//!
//! Rules (Segment's model): a `userId` names a person; an `anonymousId` names a
//! device or browser before sign-up. An `identify` carrying both, or an `alias`
//! from a previous id to a user id, joins the anonymous history to the known
//! profile, so that browsing before sign-up counts for the user. An anonymous
//! id already joined to a *different* user is not moved: shared devices must
//! not merge two people.
//!
//! The algorithm is written once here against [`IdentityStore`]; each storage
//! backend supplies the lookups and writes inside its own transaction.

use crate::ids::ProfileId;
use crate::message::{Message, MessageType};

/// A profile found by one of its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub profile: ProfileId,
    /// The profile's user id, `None` while it is anonymous.
    pub user_id: Option<String>,
}

/// What identity resolution needs from storage.
pub trait IdentityStore {
    type Error;
    fn find_user(&mut self, user_id: &str) -> Result<Option<Known>, Self::Error>;
    fn find_anonymous(&mut self, anonymous_id: &str) -> Result<Option<Known>, Self::Error>;
    fn create_profile(&mut self, user_id: Option<&str>) -> Result<ProfileId, Self::Error>;
    /// Makes `user_id` name `profile`, and makes it the profile's user id when it has none.
    fn link_user(&mut self, user_id: &str, profile: ProfileId) -> Result<(), Self::Error>;
    fn link_anonymous(&mut self, anonymous_id: &str, profile: ProfileId) -> Result<(), Self::Error>;
    /// Moves everything of `from` (ids, events, traits) into `into`; `from` is gone after.
    fn merge(&mut self, from: ProfileId, into: ProfileId) -> Result<(), Self::Error>;
}

/// Finds or creates the profile for `m`, joining profiles where the message says so.
pub fn resolve<S: IdentityStore>(s: &mut S, m: &Message) -> Result<ProfileId, S::Error> {
    if m.kind == MessageType::Alias
        && let (Some(prev), Some(user)) = (m.previous_id.as_deref(), m.user_id.as_deref())
    {
        return alias(s, prev, user);
    }
    match (m.user_id.as_deref(), m.anonymous_id.as_deref()) {
        (Some(user), None) => user_only(s, user),
        (None, Some(anon)) => match s.find_anonymous(anon)? {
            Some(k) => Ok(k.profile),
            None => {
                let p = s.create_profile(None)?;
                s.link_anonymous(anon, p)?;
                Ok(p)
            }
        },
        (Some(user), Some(anon)) => join(s, user, anon),
        // Validation guarantees an id; an empty profile is still better than a panic.
        (None, None) => s.create_profile(None),
    }
}

fn user_only<S: IdentityStore>(s: &mut S, user: &str) -> Result<ProfileId, S::Error> {
    match s.find_user(user)? {
        Some(k) => Ok(k.profile),
        None => {
            let p = s.create_profile(Some(user))?;
            s.link_user(user, p)?;
            Ok(p)
        }
    }
}

fn join<S: IdentityStore>(s: &mut S, user: &str, anon: &str) -> Result<ProfileId, S::Error> {
    let by_user = s.find_user(user)?;
    let by_anon = s.find_anonymous(anon)?;
    match (by_user, by_anon) {
        (Some(u), Some(a)) if u.profile == a.profile => Ok(u.profile),
        (Some(u), Some(a)) if a.user_id.is_none() => {
            s.merge(a.profile, u.profile)?;
            Ok(u.profile)
        }
        // The device already belongs to someone else: leave it there.
        (Some(u), Some(_)) => Ok(u.profile),
        (Some(u), None) => {
            s.link_anonymous(anon, u.profile)?;
            Ok(u.profile)
        }
        (None, Some(a)) if a.user_id.is_none() => {
            s.link_user(user, a.profile)?;
            Ok(a.profile)
        }
        (None, Some(_)) => user_only(s, user),
        (None, None) => {
            let p = s.create_profile(Some(user))?;
            s.link_user(user, p)?;
            s.link_anonymous(anon, p)?;
            Ok(p)
        }
    }
}

fn alias<S: IdentityStore>(s: &mut S, prev: &str, user: &str) -> Result<ProfileId, S::Error> {
    let previous = match s.find_user(prev)? {
        Some(k) => Some(k),
        None => s.find_anonymous(prev)?,
    };
    let Some(previous) = previous else {
        // Nothing known under the old id yet: remember it as this user's.
        let p = user_only(s, user)?;
        s.link_anonymous(prev, p)?;
        return Ok(p);
    };
    match s.find_user(user)? {
        Some(u) if u.profile == previous.profile => Ok(u.profile),
        Some(u) => {
            s.merge(previous.profile, u.profile)?;
            Ok(u.profile)
        }
        None => {
            s.link_user(user, previous.profile)?;
            Ok(previous.profile)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::message::{Envelope, parse_message};
    use std::collections::HashMap;

    /// An in-memory identity store: the model the storage backends must match.
    #[derive(Default)]
    pub struct Memory {
        pub users: HashMap<String, ProfileId>,
        pub anons: HashMap<String, ProfileId>,
        pub primary: HashMap<ProfileId, Option<String>>,
        pub merged: Vec<(ProfileId, ProfileId)>,
        next: i64,
    }

    impl IdentityStore for Memory {
        type Error = ();
        fn find_user(&mut self, u: &str) -> Result<Option<Known>, ()> {
            Ok(self.users.get(u).map(|&p| Known { profile: p, user_id: self.primary[&p].clone() }))
        }
        fn find_anonymous(&mut self, a: &str) -> Result<Option<Known>, ()> {
            Ok(self.anons.get(a).map(|&p| Known { profile: p, user_id: self.primary[&p].clone() }))
        }
        fn create_profile(&mut self, u: Option<&str>) -> Result<ProfileId, ()> {
            self.next += 1;
            let p = ProfileId(self.next);
            self.primary.insert(p, u.map(str::to_string));
            Ok(p)
        }
        fn link_user(&mut self, u: &str, p: ProfileId) -> Result<(), ()> {
            self.users.insert(u.to_string(), p);
            let primary = self.primary.get_mut(&p).unwrap();
            if primary.is_none() {
                *primary = Some(u.to_string());
            }
            Ok(())
        }
        fn link_anonymous(&mut self, a: &str, p: ProfileId) -> Result<(), ()> {
            self.anons.insert(a.to_string(), p);
            Ok(())
        }
        fn merge(&mut self, from: ProfileId, into: ProfileId) -> Result<(), ()> {
            for p in self.users.values_mut().chain(self.anons.values_mut()) {
                if *p == from {
                    *p = into;
                }
            }
            self.primary.remove(&from);
            self.merged.push((from, into));
            Ok(())
        }
    }

    fn msg(json: &str) -> Message {
        let env = Envelope { received_at: 0, sent_at: None, default_type: None };
        parse_message(json, &env, &mut || "id".into()).unwrap()
    }

    #[test]
    fn anonymous_history_joins_on_identify() {
        let mut s = Memory::default();
        let a = resolve(&mut s, &msg(r#"{"type":"track","anonymousId":"a1","event":"X"}"#)).unwrap();
        let u = resolve(&mut s, &msg(r#"{"type":"track","userId":"u1","event":"X"}"#)).unwrap();
        assert_ne!(a, u);
        let j = resolve(&mut s, &msg(r#"{"type":"identify","userId":"u1","anonymousId":"a1"}"#)).unwrap();
        assert_eq!(j, u);
        assert_eq!(s.merged, vec![(a, u)]);
        assert_eq!(resolve(&mut s, &msg(r#"{"type":"page","anonymousId":"a1"}"#)).unwrap(), u);
    }

    #[test]
    fn anonymous_profile_becomes_the_user() {
        let mut s = Memory::default();
        let a = resolve(&mut s, &msg(r#"{"type":"track","anonymousId":"a1","event":"X"}"#)).unwrap();
        let j = resolve(&mut s, &msg(r#"{"type":"identify","userId":"u1","anonymousId":"a1"}"#)).unwrap();
        assert_eq!(a, j);
        assert!(s.merged.is_empty());
        assert_eq!(resolve(&mut s, &msg(r#"{"type":"track","userId":"u1","event":"X"}"#)).unwrap(), a);
    }

    #[test]
    fn shared_device_does_not_merge_two_people() {
        let mut s = Memory::default();
        let u1 = resolve(&mut s, &msg(r#"{"type":"identify","userId":"u1","anonymousId":"a1"}"#)).unwrap();
        let u2 = resolve(&mut s, &msg(r#"{"type":"identify","userId":"u2","anonymousId":"a1"}"#)).unwrap();
        assert_ne!(u1, u2);
        assert!(s.merged.is_empty());
    }

    #[test]
    fn alias_joins_previous_id() {
        let mut s = Memory::default();
        let old = resolve(&mut s, &msg(r#"{"type":"track","userId":"old","event":"X"}"#)).unwrap();
        let new = resolve(&mut s, &msg(r#"{"type":"track","userId":"new","event":"X"}"#)).unwrap();
        let p = resolve(&mut s, &msg(r#"{"type":"alias","userId":"new","previousId":"old"}"#)).unwrap();
        assert_eq!(p, new);
        assert_eq!(s.merged, vec![(old, new)]);
        assert_eq!(resolve(&mut s, &msg(r#"{"type":"track","userId":"old","event":"X"}"#)).unwrap(), new);
        // An alias to an id never seen links it ahead of time.
        let q = resolve(&mut s, &msg(r#"{"type":"alias","userId":"later","previousId":"anon9"}"#)).unwrap();
        assert_eq!(resolve(&mut s, &msg(r#"{"type":"page","anonymousId":"anon9"}"#)).unwrap(), q);
    }
}
