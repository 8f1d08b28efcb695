//! Set-based append: a handful of statements per batch, whatever its size.

use crate::db_err;
use postgres::{Client, Transaction};
use std::collections::{BTreeMap, HashMap, HashSet};
use tidings_model::identity::{IdentityStore, Known, resolve};
use tidings_model::traits::Traits;
use tidings_model::{Micros, ProfileId};
use tidings_store::{AppendBatch, AppendResult, Fence, Outcome, Result, StoreError};

/// Advisory-lock namespace for per-workspace append serialisation.
const APPEND_LOCK_BASE: i64 = 1 << 40;

/// `durable`: the commit waits for the server's WAL flush; otherwise it
/// returns before it (`synchronous_commit = off`, this transaction only).
/// `fence`: commit only if the fence holds (checked, with the lease rows
/// locked against a takeover, inside the transaction).
pub fn append(c: &mut Client, batches: &[AppendBatch], durable: bool, fence: Option<&Fence>) -> Result<AppendResult> {
    let mut tx = c.transaction().map_err(db_err)?;
    if !durable {
        tx.batch_execute("SET LOCAL synchronous_commit = off").map_err(db_err)?;
    }
    let mut workspaces: Vec<i64> = batches.iter().map(|b| b.workspace.0).collect();
    workspaces.sort_unstable();
    workspaces.dedup();
    // Sorted, so two nodes locking several workspaces cannot deadlock.
    for ws in workspaces {
        tx.execute("SELECT pg_advisory_xact_lock($1::bigint)", &[&(APPEND_LOCK_BASE + ws)]).map_err(db_err)?;
    }
    if let Some(f) = fence {
        check_fence(&mut tx, f)?;
    }
    let mut result = AppendResult::default();
    for batch in batches {
        append_batch(&mut tx, batch, &mut result)?;
    }
    tx.commit().map_err(db_err)?;
    Ok(result)
}

/// Fails with [`StoreError::Fenced`] unless `f.node` holds every partition
/// of `f.held` with its token and a lease unexpired at `f.now`. The rows
/// are locked `FOR SHARE` until the transaction ends, so no other node can
/// take one over between the check and the commit.
pub(crate) fn check_fence(tx: &mut Transaction<'_>, f: &Fence) -> Result<()> {
    let parts: Vec<i32> = f.held.iter().map(|&(p, _)| p as i32).collect();
    let tokens: Vec<i64> = f.held.iter().map(|&(_, t)| t).collect();
    let rows = tx
        .query(
            "SELECT l.partition_no FROM partition_leases l
             JOIN unnest($3::int[], $4::bigint[]) AS h(partition_no, token)
               ON l.partition_no = h.partition_no AND l.token = h.token
             WHERE l.workspace_id = $1 AND l.owner = $2 AND l.expires_at > $5
             FOR SHARE OF l",
            &[&f.workspace.0, &f.node, &parts, &tokens, &f.now],
        )
        .map_err(db_err)?;
    if rows.len() == f.held.len() {
        return Ok(());
    }
    let kept: Vec<u32> = rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
    Err(f.refused(&kept))
}

fn append_batch(tx: &mut Transaction<'_>, batch: &AppendBatch, result: &mut AppendResult) -> Result<()> {
    let ws = batch.workspace.0;
    let msgs = &batch.messages;
    let ids: Vec<&str> = msgs.iter().map(|m| m.message_id.as_str()).collect();
    let existing: HashSet<String> = tx
        // Driven by the batch's ids, so each is one index probe whatever the
        // planner knows: `message_id = ANY($2)` on a table not yet analyzed
        // (autovacuum off, or a fresh database) became a scan of the whole
        // workspace, 100+ ms per batch at 300k events.
        .query(
            "SELECT e.message_id FROM unnest($2::text[]) AS m(id)
             JOIN events e ON e.workspace_id = $1 AND e.message_id = m.id",
            &[&ws, &ids],
        )
        .map_err(db_err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut seen = HashSet::new();
    let fresh: Vec<usize> = (0..msgs.len())
        .filter(|&i| !existing.contains(&msgs[i].message_id) && seen.insert(&msgs[i].message_id))
        .collect();
    if fresh.is_empty() {
        result.outcomes.push(vec![Outcome::Duplicate; msgs.len()]);
        return Ok(());
    }

    let (profiles, seqs, merges, created) = {
        let mut idents = PgIds::preload(tx, ws, fresh.iter().map(|&i| &msgs[i]))?;
        // A message makes at most one new profile: ids are drawn no faster.
        idents.budget = fresh.len() as i64;
        let mut profiles = Vec::with_capacity(fresh.len());
        for &i in &fresh {
            idents.now = msgs[i].received_at;
            profiles.push(resolve(&mut idents, &msgs[i])?);
        }
        idents.flush()?;
        (profiles, idents.seqs(fresh.len())?, std::mem::take(&mut idents.merges), idents.created)
    };

    let col = |f: &dyn Fn(usize) -> Option<String>| -> Vec<Option<String>> { fresh.iter().map(|&i| f(i)).collect() };
    let pids: Vec<i64> = profiles.iter().map(|p| p.0).collect();
    let message_ids = col(&|i| Some(msgs[i].message_id.clone()));
    let types: Vec<i16> = fresh.iter().map(|&i| msgs[i].kind.code()).collect();
    let events = col(&|i| msgs[i].event.clone());
    let users = col(&|i| msgs[i].user_id.clone());
    let anons = col(&|i| msgs[i].anonymous_id.clone());
    let ts: Vec<i64> = fresh.iter().map(|&i| msgs[i].timestamp).collect();
    let received: Vec<i64> = fresh.iter().map(|&i| msgs[i].received_at).collect();
    let bodies = col(&|i| Some(msgs[i].body.clone()));
    tx.execute(
        "INSERT INTO events (seq, workspace_id, profile_id, message_id, type, event, user_id, anonymous_id,
                             ts, received_at, body)
         SELECT s, $1, p, m, t, e, u, a, ts, r, b
         FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::smallint[], $6::text[], $7::text[], $8::text[],
                     $9::bigint[], $10::bigint[], $11::text[]) AS x(s, p, m, t, e, u, a, ts, r, b)",
        &[&ws, &seqs, &pids, &message_ids, &types, &events, &users, &anons, &ts, &received, &bodies],
    )
    .map_err(db_err)?;

    for &(from, into) in &merges {
        for sql in [
            "UPDATE identities SET profile_id = $2 WHERE profile_id = $1",
            "UPDATE events SET profile_id = $2 WHERE profile_id = $1",
            "UPDATE profiles SET merged_into = $2 WHERE id = $1",
        ] {
            tx.execute(sql, &[&from, &into]).map_err(db_err)?;
        }
        let mut loaded = load_traits(tx, &[from, into])?;
        let mut target = loaded.remove(&into).unwrap_or_default();
        target.merge(&loaded.remove(&from).unwrap_or_default());
        store_traits(tx, into, &target)?;
        result.merges.push((batch.workspace, ProfileId(from), ProfileId(into)));
    }
    if !merges.is_empty() {
        let newest = seqs.iter().copied().max().unwrap_or(0);
        let (froms, intos): (Vec<i64>, Vec<i64>) = merges.iter().copied().unzip();
        tx.execute(
            "INSERT INTO profile_merges (workspace_id, seq, from_profile, into_profile)
             SELECT $1, $2, f, i FROM unnest($3::bigint[], $4::bigint[]) AS m(f, i)",
            &[&ws, &newest, &froms, &intos],
        )
        .map_err(db_err)?;
    }
    let final_profile = |mut p: i64| {
        while let Some(&(_, into)) = merges.iter().find(|(f, _)| *f == p) {
            p = into;
        }
        p
    };

    // Traits, applied per final profile in any order: apply() decides by time.
    let with_traits: Vec<(i64, usize)> = fresh
        .iter()
        .zip(&profiles)
        .filter(|&(&i, _)| msgs[i].traits.is_some())
        .map(|(&i, p)| (final_profile(p.0), i))
        .collect();
    if !with_traits.is_empty() {
        let ps: Vec<i64> = with_traits.iter().map(|(p, _)| *p).collect();
        let mut loaded = load_traits(tx, &ps)?;
        let mut changed = BTreeMap::new();
        for (p, i) in with_traits {
            let t = loaded.entry(p).or_default();
            if let Some(new) = &msgs[i].traits
                && t.apply(new, msgs[i].timestamp)
            {
                changed.insert(p, ());
            }
        }
        for (p, t) in &loaded {
            store_traits(tx, *p, t)?;
        }
        result.trait_changes.extend(changed.keys().map(|&p| (batch.workspace, ProfileId(p))));
    }

    let names: Vec<&str> = {
        let mut n: Vec<&str> = fresh.iter().filter_map(|&i| msgs[i].event.as_deref()).collect();
        n.sort_unstable();
        n.dedup();
        n
    };
    tx.execute(
        "INSERT INTO event_names (workspace_id, name) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
        &[&ws, &names],
    )
    .map_err(db_err)?;
    tx.execute(
        "UPDATE workspaces SET event_count = event_count + $2, profile_count = profile_count + $3,
                               last_seq = greatest(last_seq, $4) WHERE id = $1",
        &[&ws, &(fresh.len() as i64), &(created - merges.len() as i64), &seqs.iter().copied().max().unwrap_or(0)],
    )
    .map_err(db_err)?;

    let mut outcomes = vec![Outcome::Duplicate; msgs.len()];
    for (k, &i) in fresh.iter().enumerate() {
        outcomes[i] = Outcome::Stored { seq: seqs[k], profile: profiles[k] };
    }
    result.outcomes.push(outcomes);
    Ok(())
}

fn load_traits(tx: &mut Transaction<'_>, ids: &[i64]) -> Result<HashMap<i64, Traits>> {
    Ok(tx
        .query("SELECT p.id, p.traits FROM unnest($1::bigint[]) AS u(id) JOIN profiles p ON p.id = u.id", &[&ids])
        .map_err(db_err)?
        .iter()
        .map(|r| (r.get(0), Traits::from_json(r.get(1))))
        .collect())
}

fn store_traits(tx: &mut Transaction<'_>, id: i64, t: &Traits) -> Result<()> {
    tx.execute("UPDATE profiles SET traits = $2 WHERE id = $1", &[&id, &t.to_json()]).map_err(db_err)?;
    Ok(())
}

/// Identity state for one batch: preloaded from the database, changed in
/// memory by [`resolve`], written back by [`PgIds::flush`].
struct PgIds<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    ws: i64,
    now: Micros,
    ids: HashMap<(u8, String), i64>,
    primary: HashMap<i64, Option<String>>,
    id_pool: Vec<i64>,
    /// New profiles this batch may still make (ids are drawn at most this many at a time).
    budget: i64,
    new_profiles: Vec<(i64, Micros)>,
    touched: HashSet<(u8, String)>,
    primary_set: HashSet<i64>,
    merges: Vec<(i64, i64)>,
    created: i64,
}

impl<'a, 'b> PgIds<'a, 'b> {
    fn preload<'m>(
        tx: &'a mut Transaction<'b>,
        ws: i64,
        msgs: impl Iterator<Item = &'m tidings_model::Message>,
    ) -> Result<PgIds<'a, 'b>> {
        let mut names: Vec<&str> = Vec::new();
        for m in msgs {
            names.extend(m.user_id.as_deref());
            names.extend(m.anonymous_id.as_deref());
            names.extend(m.previous_id.as_deref());
        }
        names.sort_unstable();
        names.dedup();
        let rows = tx
            .query(
                // One probe per id and kind (user 0, anonymous 1) on the
                // primary key (workspace_id, kind, external_id).
                "SELECT i.kind, i.external_id, i.profile_id, p.user_id
                 FROM unnest($2::text[]) AS n(id)
                 JOIN identities i ON i.workspace_id = $1 AND i.kind IN (0, 1) AND i.external_id = n.id
                 JOIN profiles p ON p.id = i.profile_id",
                &[&ws, &names],
            )
            .map_err(db_err)?;
        let mut ids = HashMap::new();
        let mut primary = HashMap::new();
        for r in rows {
            let kind: i16 = r.get(0);
            let p: i64 = r.get(2);
            ids.insert((kind as u8, r.get::<_, String>(1)), p);
            primary.insert(p, r.get(3));
        }
        Ok(PgIds {
            tx,
            ws,
            now: 0,
            ids,
            primary,
            id_pool: Vec::new(),
            budget: 64,
            new_profiles: Vec::new(),
            touched: HashSet::new(),
            primary_set: HashSet::new(),
            merges: Vec::new(),
            created: 0,
        })
    }

    fn find(&self, kind: u8, ext: &str) -> Option<Known> {
        let p = *self.ids.get(&(kind, ext.to_string()))?;
        Some(Known { profile: ProfileId(p), user_id: self.primary.get(&p).cloned().flatten() })
    }

    fn link(&mut self, kind: u8, ext: &str, p: ProfileId) {
        self.ids.insert((kind, ext.to_string()), p.0);
        self.touched.insert((kind, ext.to_string()));
    }

    /// Log positions for `n` new events, in order.
    fn seqs(&mut self, n: usize) -> Result<Vec<i64>> {
        Ok(self
            .tx
            .query(
                "SELECT nextval(pg_get_serial_sequence('events', 'seq')) FROM generate_series(1, $1::bigint)",
                &[&(n as i64)],
            )
            .map_err(db_err)?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn flush(&mut self) -> Result<()> {
        let ws = self.ws;
        if !self.new_profiles.is_empty() {
            let ids: Vec<i64> = self.new_profiles.iter().map(|p| p.0).collect();
            let created: Vec<i64> = self.new_profiles.iter().map(|p| p.1).collect();
            let users: Vec<Option<String>> = ids.iter().map(|p| self.primary.get(p).cloned().flatten()).collect();
            self.tx
                .execute(
                    "INSERT INTO profiles (id, workspace_id, user_id, created_at)
                     SELECT i, $1, u, c FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS x(i, u, c)",
                    &[&ws, &ids, &users, &created],
                )
                .map_err(db_err)?;
        }
        let new: HashSet<i64> = self.new_profiles.iter().map(|p| p.0).collect();
        let updates: Vec<(i64, String)> = self
            .primary_set
            .iter()
            .filter(|p| !new.contains(p))
            .filter_map(|p| Some((*p, self.primary.get(p).cloned().flatten()?)))
            .collect();
        if !updates.is_empty() {
            let ids: Vec<i64> = updates.iter().map(|u| u.0).collect();
            let users: Vec<String> = updates.into_iter().map(|u| u.1).collect();
            self.tx
                .execute(
                    "UPDATE profiles SET user_id = x.u FROM unnest($1::bigint[], $2::text[]) AS x(i, u)
                     WHERE profiles.id = x.i AND profiles.user_id IS NULL",
                    &[&ids, &users],
                )
                .map_err(db_err)?;
        }
        if !self.touched.is_empty() {
            let mut kinds = Vec::new();
            let mut exts = Vec::new();
            let mut ps = Vec::new();
            for (kind, ext) in &self.touched {
                kinds.push(*kind as i16);
                ps.push(self.ids[&(*kind, ext.clone())]);
                exts.push(ext.clone());
            }
            self.tx
                .execute(
                    "INSERT INTO identities (workspace_id, kind, external_id, profile_id)
                     SELECT $1, k, e, p FROM unnest($2::smallint[], $3::text[], $4::bigint[]) AS x(k, e, p)
                     ON CONFLICT (workspace_id, kind, external_id) DO UPDATE SET profile_id = excluded.profile_id",
                    &[&ws, &kinds, &exts, &ps],
                )
                .map_err(db_err)?;
        }
        Ok(())
    }
}

impl IdentityStore for PgIds<'_, '_> {
    type Error = StoreError;

    fn find_user(&mut self, user_id: &str) -> Result<Option<Known>> {
        Ok(self.find(0, user_id))
    }

    fn find_anonymous(&mut self, anonymous_id: &str) -> Result<Option<Known>> {
        Ok(self.find(1, anonymous_id))
    }

    fn create_profile(&mut self, user_id: Option<&str>) -> Result<ProfileId> {
        if self.id_pool.is_empty() {
            self.id_pool = self
                .tx
                .query(
                    "SELECT nextval(pg_get_serial_sequence('profiles', 'id')) FROM generate_series(1, $1::bigint)",
                    &[&(self.budget - self.created).clamp(1, 64)],
                )
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            self.id_pool.reverse();
        }
        let p =
            self.id_pool.pop().ok_or_else(|| StoreError::Database("profile id sequence returned nothing".into()))?;
        self.primary.insert(p, user_id.map(str::to_string));
        self.new_profiles.push((p, self.now));
        self.created += 1;
        Ok(ProfileId(p))
    }

    fn link_user(&mut self, user_id: &str, profile: ProfileId) -> Result<()> {
        self.link(0, user_id, profile);
        let primary = self.primary.entry(profile.0).or_default();
        if primary.is_none() {
            *primary = Some(user_id.to_string());
            self.primary_set.insert(profile.0);
        }
        Ok(())
    }

    fn link_anonymous(&mut self, anonymous_id: &str, profile: ProfileId) -> Result<()> {
        self.link(1, anonymous_id, profile);
        Ok(())
    }

    fn merge(&mut self, from: ProfileId, into: ProfileId) -> Result<()> {
        for p in self.ids.values_mut() {
            if *p == from.0 {
                *p = into.0;
            }
        }
        self.primary.remove(&from.0);
        self.merges.push((from.0, into.0));
        Ok(())
    }
}
