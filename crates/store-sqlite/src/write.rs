//! The write path: append with deduplication, identity resolution and trait
//! merging, all in one transaction per group of batches.

use crate::db_err;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::{HashMap, HashSet};
use tidings_model::identity::{IdentityStore, Known, resolve};
use tidings_model::traits::Traits;
use tidings_model::{Micros, ProfileId};
use tidings_store::{AppendBatch, AppendResult, Fence, Outcome, Result, StoreError};

/// Past this many cached ids the cache starts over; it is only a shortcut.
const CACHE_LIMIT: usize = 4_000_000;

#[derive(Default)]
struct Caches {
    /// (workspace, kind) → external id → profile. kind 0 user, 1 anonymous.
    ids: HashMap<(i64, u8), HashMap<String, i64>>,
    /// profile → its main user id.
    primary: HashMap<i64, Option<String>>,
    names: HashSet<(i64, String)>,
    entries: usize,
}

impl Caches {
    fn get(&self, ws: i64, kind: u8, ext: &str) -> Option<i64> {
        self.ids.get(&(ws, kind))?.get(ext).copied()
    }
    fn put(&mut self, ws: i64, kind: u8, ext: &str, p: i64) {
        if self.entries > CACHE_LIMIT {
            *self = Caches::default();
        }
        if self.ids.entry((ws, kind)).or_default().insert(ext.to_string(), p).is_none() {
            self.entries += 1;
        }
    }
}

pub struct Writer {
    pub conn: Connection,
    cache: Caches,
}

impl Writer {
    pub fn new(conn: Connection) -> Writer {
        Writer { conn, cache: Caches::default() }
    }

    /// `fence`: commit only if it holds (checked inside the transaction).
    pub fn append(&mut self, batches: &[AppendBatch], fence: Option<&Fence>) -> Result<AppendResult> {
        let Writer { conn, cache } = self;
        let result = append_in(conn, cache, batches, fence);
        if result.is_err() {
            // The transaction rolled back; what the cache learned in it may be false.
            *cache = Caches::default();
        }
        result
    }
}

fn append_in(
    conn: &mut Connection,
    cache: &mut Caches,
    batches: &[AppendBatch],
    fence: Option<&Fence>,
) -> Result<AppendResult> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_err)?;
    if let Some(f) = fence {
        check_fence(&tx, f)?;
    }
    let mut result = AppendResult::default();
    for batch in batches {
        let ws = batch.workspace.0;
        let mut ids = Ids { tx: &tx, cache: &mut *cache, ws, now: 0, created: 0, merges: Vec::new() };
        let mut outcomes = Vec::with_capacity(batch.messages.len());
        let mut stored = 0i64;
        let mut last_seq = 0i64;
        {
            let mut exists = tx
                .prepare_cached("SELECT 1 FROM events WHERE workspace_id = ?1 AND message_id = ?2")
                .map_err(db_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (workspace_id, profile_id, message_id, type, event, user_id, anonymous_id,
                                         ts, received_at, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(db_err)?;
            for m in &batch.messages {
                if exists.exists(params![ws, m.message_id]).map_err(db_err)? {
                    outcomes.push(Outcome::Duplicate);
                    continue;
                }
                ids.now = m.received_at;
                let profile = resolve(&mut ids, m)?;
                insert
                    .execute(params![
                        ws,
                        profile.0,
                        m.message_id,
                        m.kind.code(),
                        m.event,
                        m.user_id,
                        m.anonymous_id,
                        m.timestamp,
                        m.received_at,
                        m.body
                    ])
                    .map_err(db_err)?;
                let seq = tx.last_insert_rowid();
                last_seq = seq;
                stored += 1;
                outcomes.push(Outcome::Stored { seq, profile });
                if let Some(t) = &m.traits
                    && apply_traits(&tx, profile, t, m.timestamp)?
                {
                    result.trait_changes.push((batch.workspace, profile));
                }
                if let Some(name) = &m.event
                    && !ids.cache.names.contains(&(ws, name.clone()))
                {
                    tx.prepare_cached("INSERT OR IGNORE INTO event_names (workspace_id, name) VALUES (?1, ?2)")
                        .map_err(db_err)?
                        .execute(params![ws, name])
                        .map_err(db_err)?;
                    ids.cache.names.insert((ws, name.clone()));
                }
            }
        }
        for &(from, into) in &ids.merges {
            tx.prepare_cached(
                "INSERT INTO profile_merges (workspace_id, seq, from_profile, into_profile) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(db_err)?
            .execute(params![ws, last_seq, from, into])
            .map_err(db_err)?;
        }
        let profiles_delta = ids.created - ids.merges.len() as i64;
        result.merges.extend(ids.merges.iter().map(|&(f, i)| (batch.workspace, ProfileId(f), ProfileId(i))));
        tx.prepare_cached(
            "UPDATE workspaces SET event_count = event_count + ?2, profile_count = profile_count + ?3,
                                   last_seq = max(last_seq, ?4) WHERE id = ?1",
        )
        .map_err(db_err)?
        .execute(params![ws, stored, profiles_delta, last_seq])
        .map_err(db_err)?;
        result.outcomes.push(outcomes);
    }
    tx.commit().map_err(db_err)?;
    Ok(result)
}

/// Fails with [`StoreError::Fenced`] unless `f.node` holds every partition
/// of `f.held` with its token and a lease unexpired at `f.now` (the
/// immediate transaction keeps other writers out until it ends).
fn check_fence(tx: &Transaction<'_>, f: &Fence) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "SELECT 1 FROM partition_leases WHERE workspace_id = ?1 AND partition_no = ?2 AND token = ?3
             AND owner = ?4 AND expires_at > ?5",
        )
        .map_err(db_err)?;
    let mut kept = Vec::new();
    for &(p, t) in &f.held {
        if stmt.exists(params![f.workspace.0, p, t, f.node, f.now]).map_err(db_err)? {
            kept.push(p);
        }
    }
    if kept.len() == f.held.len() { Ok(()) } else { Err(f.refused(&kept)) }
}

fn load_traits(tx: &Transaction<'_>, profile: i64) -> Result<Traits> {
    let json: String = tx
        .prepare_cached("SELECT traits FROM profiles WHERE id = ?1")
        .map_err(db_err)?
        .query_row(params![profile], |r| r.get(0))
        .map_err(db_err)?;
    Ok(Traits::from_json(&json))
}

fn store_traits(tx: &Transaction<'_>, profile: i64, t: &Traits) -> Result<()> {
    tx.prepare_cached("UPDATE profiles SET traits = ?2 WHERE id = ?1")
        .map_err(db_err)?
        .execute(params![profile, t.to_json()])
        .map_err(db_err)?;
    Ok(())
}

fn apply_traits(
    tx: &Transaction<'_>,
    profile: ProfileId,
    new: &serde_json::Map<String, serde_json::Value>,
    at: Micros,
) -> Result<bool> {
    let mut t = load_traits(tx, profile.0)?;
    let changed = t.apply(new, at);
    store_traits(tx, profile.0, &t)?;
    Ok(changed)
}

struct Ids<'a, 't> {
    tx: &'a Transaction<'t>,
    cache: &'a mut Caches,
    ws: i64,
    now: Micros,
    created: i64,
    merges: Vec<(i64, i64)>,
}

impl Ids<'_, '_> {
    fn find(&mut self, kind: u8, ext: &str) -> Result<Option<Known>> {
        let p = match self.cache.get(self.ws, kind, ext) {
            Some(p) => Some(p),
            None => {
                let p: Option<i64> = self
                    .tx
                    .prepare_cached(
                        "SELECT profile_id FROM identities WHERE workspace_id = ?1 AND kind = ?2 AND external_id = ?3",
                    )
                    .map_err(db_err)?
                    .query_row(params![self.ws, kind, ext], |r| r.get(0))
                    .optional()
                    .map_err(db_err)?;
                if let Some(p) = p {
                    self.cache.put(self.ws, kind, ext, p);
                }
                p
            }
        };
        match p {
            None => Ok(None),
            Some(p) => Ok(Some(Known { profile: ProfileId(p), user_id: self.primary(p)? })),
        }
    }

    fn primary(&mut self, p: i64) -> Result<Option<String>> {
        if let Some(u) = self.cache.primary.get(&p) {
            return Ok(u.clone());
        }
        let u: Option<String> = self
            .tx
            .prepare_cached("SELECT user_id FROM profiles WHERE id = ?1")
            .map_err(db_err)?
            .query_row(params![p], |r| r.get(0))
            .map_err(db_err)?;
        self.cache.primary.insert(p, u.clone());
        Ok(u)
    }

    fn link(&mut self, kind: u8, ext: &str, p: ProfileId) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO identities (workspace_id, kind, external_id, profile_id) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (workspace_id, kind, external_id) DO UPDATE SET profile_id = excluded.profile_id",
            )
            .map_err(db_err)?
            .execute(params![self.ws, kind, ext, p.0])
            .map_err(db_err)?;
        self.cache.put(self.ws, kind, ext, p.0);
        Ok(())
    }
}

impl IdentityStore for Ids<'_, '_> {
    type Error = StoreError;

    fn find_user(&mut self, user_id: &str) -> Result<Option<Known>> {
        self.find(0, user_id)
    }

    fn find_anonymous(&mut self, anonymous_id: &str) -> Result<Option<Known>> {
        self.find(1, anonymous_id)
    }

    fn create_profile(&mut self, user_id: Option<&str>) -> Result<ProfileId> {
        self.tx
            .prepare_cached("INSERT INTO profiles (workspace_id, user_id, created_at) VALUES (?1, ?2, ?3)")
            .map_err(db_err)?
            .execute(params![self.ws, user_id, self.now])
            .map_err(db_err)?;
        let p = self.tx.last_insert_rowid();
        self.cache.primary.insert(p, user_id.map(str::to_string));
        self.created += 1;
        Ok(ProfileId(p))
    }

    fn link_user(&mut self, user_id: &str, profile: ProfileId) -> Result<()> {
        self.link(0, user_id, profile)?;
        if self.primary(profile.0)?.is_none() {
            self.tx
                .prepare_cached("UPDATE profiles SET user_id = ?2 WHERE id = ?1")
                .map_err(db_err)?
                .execute(params![profile.0, user_id])
                .map_err(db_err)?;
            self.cache.primary.insert(profile.0, Some(user_id.to_string()));
        }
        Ok(())
    }

    fn link_anonymous(&mut self, anonymous_id: &str, profile: ProfileId) -> Result<()> {
        self.link(1, anonymous_id, profile)
    }

    fn merge(&mut self, from: ProfileId, into: ProfileId) -> Result<()> {
        let moved: Vec<(u8, String)> = {
            let mut stmt = self
                .tx
                .prepare_cached("SELECT kind, external_id FROM identities WHERE profile_id = ?1")
                .map_err(db_err)?;
            let rows = stmt.query_map(params![from.0], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db_err)?;
            rows.collect::<rusqlite::Result<_>>().map_err(db_err)?
        };
        for (kind, ext) in &moved {
            self.cache.put(self.ws, *kind, ext, into.0);
        }
        for sql in [
            "UPDATE identities SET profile_id = ?2 WHERE profile_id = ?1",
            "UPDATE events SET profile_id = ?2 WHERE profile_id = ?1",
            "UPDATE profiles SET merged_into = ?2 WHERE id = ?1",
        ] {
            self.tx.prepare_cached(sql).map_err(db_err)?.execute(params![from.0, into.0]).map_err(db_err)?;
        }
        let mut target = load_traits(self.tx, into.0)?;
        target.merge(&load_traits(self.tx, from.0)?);
        store_traits(self.tx, into.0, &target)?;
        self.cache.primary.remove(&from.0);
        self.merges.push((from.0, into.0));
        Ok(())
    }
}
