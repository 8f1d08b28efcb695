//! The PostgreSQL backend, for running past one machine.
//!
//! Appends are set-based: one transaction per group of batches, a few
//! statements per batch whatever its size (duplicates looked up with
//! `= ANY`, identities preloaded, events inserted with `unnest`). Appends to
//! one workspace are serialised by a transaction-scoped advisory lock, so
//! log positions (`seq`) commit in order and a reader tailing the log never
//! skips a row, even with several `tidings` nodes writing.

mod append;

use parking_lot::Mutex;
use postgres::{Client, NoTls, Row};
use std::collections::{BTreeMap, HashMap};
use tidings_model::{KeyKind, Micros, ProfileId, StoredEvent, WorkspaceId, message::MessageType, traits::Traits};
use tidings_store::{
    AppendBatch, AppendResult, Delivery, Fence, InstanceRecord, KeyRecord, Lease, LeaseChange, Merge, NewOutbox,
    NewTimer, NodeInfo, OutboxRow, OutboxStatus, PARTITION_SQL, Profile, Result, SendDecision, Snapshot, Store,
    StoreError, StoreStats, Timer, Workspace,
};

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_snapshots.sql"),
    include_str!("../migrations/0003_timers.sql"),
    include_str!("../migrations/0004_outbox.sql"),
    include_str!("../migrations/0005_journey_instances.sql"),
    include_str!("../migrations/0006_partitions.sql"),
    include_str!("../migrations/0007_cluster.sql"),
];
const POOL_MAX: usize = 8;

pub struct PostgresStore {
    url: String,
    schema: Option<String>,
    pool: Mutex<Vec<Client>>,
    /// Drop the schema with the store (tests).
    temporary: bool,
}

pub(crate) fn db_err(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        return StoreError::Database(format!("{}: {}", db.code().code(), db.message()));
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    StoreError::Database(msg)
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL or key=value string) and applies
    /// migrations. With `schema`, everything lives in that schema (created when
    /// missing), so several stores can share one database.
    pub fn open(url: &str, schema: Option<&str>) -> Result<PostgresStore> {
        if let Some(s) = schema
            && !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Database(format!("schema name {s:?} must be letters, digits and _")));
        }
        let store = PostgresStore {
            url: url.to_string(),
            schema: schema.map(str::to_string),
            pool: Mutex::new(Vec::new()),
            temporary: false,
        };
        let mut c = store.connect()?;
        migrate(&mut c)?;
        store.pool.lock().push(c);
        Ok(store)
    }

    fn connect(&self) -> Result<Client> {
        let mut c = Client::connect(&self.url, NoTls)
            .map_err(|e| StoreError::Database(format!("cannot connect to PostgreSQL at {}: {e}", redact(&self.url))))?;
        // Every statement here is a short one by index; on a table never
        // analyzed the planner's estimates pass the JIT threshold and each
        // statement spent 5-25 ms compiling (a batch of 41 histories: 32 ms
        // with JIT, 2 ms without).
        c.batch_execute("SET jit = off").map_err(db_err)?;
        if let Some(s) = &self.schema {
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}")).map_err(db_err)?;
        }
        Ok(c)
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        tidings_store::assert_may_block();
        let c = self.pool.lock().pop();
        let mut c = match c {
            Some(c) if !c.is_closed() => c,
            _ => self.connect()?,
        };
        let out = f(&mut c);
        let mut pool = self.pool.lock();
        if pool.len() < POOL_MAX && !c.is_closed() {
            pool.push(c);
        }
        out
    }

    /// The schema version this build migrates to.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    /// A store in a new, empty schema that is dropped with the store: for tests.
    /// A store in `schema`, emptied first: whatever the schema held is
    /// dropped, and the migrations make it again (for the demo, which
    /// replaces its data on each run).
    pub fn recreate(url: &str, schema: &str) -> Result<PostgresStore> {
        let s = PostgresStore::open(url, Some(schema))?;
        s.with(|c| c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).map_err(db_err))?;
        drop(s);
        PostgresStore::open(url, Some(schema))
    }

    pub fn temporary(url: &str, schema: &str) -> Result<PostgresStore> {
        let s = PostgresStore::open(url, Some(schema))?;
        s.with(|c| c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).map_err(db_err))?;
        s.pool.lock().clear();
        let mut s = PostgresStore::open(url, Some(schema))?;
        s.temporary = true;
        Ok(s)
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let (true, Some(s)) = (self.temporary, &self.schema) {
            let sql = format!("DROP SCHEMA IF EXISTS {s} CASCADE");
            if let Err(e) = self.with(|c| c.batch_execute(&sql).map_err(db_err)) {
                tracing::warn!(schema = %s, error = %e, "could not drop temporary schema");
            }
        }
    }
}

/// Hides a password in a connection URL for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

fn migrate(c: &mut Client) -> Result<()> {
    let mut tx = c.transaction().map_err(db_err)?;
    // One migrator at a time across nodes.
    tx.execute("SELECT pg_advisory_xact_lock(7411)", &[]).map_err(db_err)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)").map_err(db_err)?;
    let current: i64 = tx
        .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])
        .map_err(db_err)?
        .and_then(|r| r.get::<_, String>(0).parse().ok())
        .unwrap_or(0);
    if current > MIGRATIONS.len() as i64 {
        return Err(StoreError::SchemaTooNew { found: current, supported: MIGRATIONS.len() as i64 });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).map_err(db_err)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&(i + 1).to_string()],
        )
        .map_err(db_err)?;
        tracing::info!(version = i + 1, "applied postgres migration");
    }
    tx.commit().map_err(db_err)
}

const EVENT_COLUMNS: &str = "seq, profile_id, message_id, type, event, user_id, anonymous_id, ts, received_at, body";

fn event_row(r: &Row) -> StoredEvent {
    StoredEvent {
        seq: r.get(0),
        profile: ProfileId(r.get(1)),
        message_id: r.get(2),
        kind: MessageType::from_code(r.get(3)).unwrap_or(MessageType::Track),
        event: r.get(4),
        user_id: r.get(5),
        anonymous_id: r.get(6),
        timestamp: r.get(7),
        received_at: r.get(8),
        body: r.get::<_, String>(9).into(),
    }
}

fn key_row(r: &Row) -> KeyRecord {
    KeyRecord {
        id: r.get(0),
        workspace: WorkspaceId(r.get(1)),
        kind: KeyKind::parse(r.get(2)).unwrap_or(KeyKind::Write),
        label: r.get(3),
        created_at: r.get(4),
        revoked_at: r.get(5),
    }
}

fn workspace_row(r: &Row) -> Workspace {
    Workspace { id: WorkspaceId(r.get(0)), name: r.get(1), created_at: r.get(2) }
}

fn load_profile(c: &mut Client, ws: WorkspaceId, id: ProfileId) -> Result<Option<Profile>> {
    let Some(row) = c
        .query_opt(
            "SELECT user_id, traits, created_at FROM profiles
             WHERE id = $1 AND workspace_id = $2 AND merged_into IS NULL",
            &[&id.0, &ws.0],
        )
        .map_err(db_err)?
    else {
        return Ok(None);
    };
    let mut user_ids = Vec::new();
    let mut anonymous_ids = Vec::new();
    for r in c
        .query("SELECT kind, external_id FROM identities WHERE profile_id = $1 ORDER BY external_id", &[&id.0])
        .map_err(db_err)?
    {
        let kind: i16 = r.get(0);
        if kind == 0 { user_ids.push(r.get(1)) } else { anonymous_ids.push(r.get(1)) }
    }
    Ok(Some(Profile {
        id,
        workspace: ws,
        user_id: row.get(0),
        user_ids,
        anonymous_ids,
        traits: Traits::from_json(row.get(1)),
        created_at: row.get(2),
    }))
}

impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn create_workspace(&self, name: &str, now: Micros) -> Result<Workspace> {
        self.with(|c| {
            let row = c
                .query_opt(
                    "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING
                     RETURNING id, name, created_at",
                    &[&name, &now],
                )
                .map_err(db_err)?;
            row.map(|r| workspace_row(&r)).ok_or_else(|| StoreError::Conflict(format!("workspace {name:?}")))
        })
    }

    fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        self.with(|c| {
            Ok(c.query_opt("SELECT id, name, created_at FROM workspaces WHERE name = $1", &[&name])
                .map_err(db_err)?
                .map(|r| workspace_row(&r)))
        })
    }

    fn workspaces(&self) -> Result<Vec<Workspace>> {
        self.with(|c| {
            Ok(c.query("SELECT id, name, created_at FROM workspaces ORDER BY id", &[])
                .map_err(db_err)?
                .iter()
                .map(workspace_row)
                .collect())
        })
    }

    fn add_key(&self, ws: WorkspaceId, kind: KeyKind, hash: &str, label: &str, now: Micros) -> Result<KeyRecord> {
        self.with(|c| {
            c.query_opt(
                "INSERT INTO api_keys (workspace_id, kind, hash, label, created_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (hash) DO NOTHING
                 RETURNING id, workspace_id, kind, label, created_at, revoked_at",
                &[&ws.0, &kind.as_str(), &hash, &label, &now],
            )
            .map_err(db_err)?
            .map(|r| key_row(&r))
            .ok_or_else(|| StoreError::Conflict("a key with this value".into()))
        })
    }

    fn revoke_key(&self, id: i64, now: Micros) -> Result<bool> {
        self.with(|c| {
            let n = c
                .execute("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &now])
                .map_err(db_err)?;
            Ok(n > 0)
        })
    }

    fn keys(&self, ws: Option<WorkspaceId>) -> Result<Vec<KeyRecord>> {
        let ws = ws.map(|w| w.0);
        self.with(|c| {
            Ok(c.query(
                "SELECT id, workspace_id, kind, label, created_at, revoked_at FROM api_keys
                 WHERE $1::bigint IS NULL OR workspace_id = $1 ORDER BY id",
                &[&ws],
            )
            .map_err(db_err)?
            .iter()
            .map(key_row)
            .collect())
        })
    }

    fn find_key(&self, hash: &str) -> Result<Option<KeyRecord>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT id, workspace_id, kind, label, created_at, revoked_at FROM api_keys
                 WHERE hash = $1 AND revoked_at IS NULL",
                &[&hash],
            )
            .map_err(db_err)?
            .map(|r| key_row(&r)))
        })
    }

    fn append(&self, batches: &[AppendBatch]) -> Result<AppendResult> {
        self.with(|c| append::append(c, batches, true, None))
    }

    fn append_derived(&self, batches: &[AppendBatch]) -> Result<AppendResult> {
        self.with(|c| append::append(c, batches, false, None))
    }

    fn append_fenced(&self, batches: &[AppendBatch], fence: &Fence) -> Result<AppendResult> {
        self.with(|c| append::append(c, batches, false, Some(fence)))
    }

    fn merges_between(&self, ws: WorkspaceId, after: i64, upto: i64) -> Result<Vec<Merge>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT seq, from_profile, into_profile FROM profile_merges
                     WHERE workspace_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
                    &[&ws.0, &after, &upto],
                )
                .map_err(db_err)?;
            Ok(rows
                .iter()
                .map(|r| Merge { seq: r.get(0), from: ProfileId(r.get(1)), into: ProfileId(r.get(2)) })
                .collect())
        })
    }

    fn find_profile(&self, ws: WorkspaceId, external_id: &str) -> Result<Option<Profile>> {
        self.with(|c| {
            let id: Option<i64> = c
                .query_opt(
                    "SELECT profile_id FROM identities WHERE workspace_id = $1 AND external_id = $2
                     ORDER BY kind LIMIT 1",
                    &[&ws.0, &external_id],
                )
                .map_err(db_err)?
                .map(|r| r.get(0));
            match id {
                Some(id) => load_profile(c, ws, ProfileId(id)),
                None => Ok(None),
            }
        })
    }

    fn profile(&self, ws: WorkspaceId, id: ProfileId) -> Result<Option<Profile>> {
        self.with(|c| load_profile(c, ws, id))
    }

    fn profile_ids(&self, ws: WorkspaceId, after: ProfileId, limit: usize) -> Result<Vec<ProfileId>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT id FROM profiles WHERE id > $1 AND workspace_id = $2 AND merged_into IS NULL
                 ORDER BY id LIMIT $3",
                &[&after.0, &ws.0, &(limit as i64)],
            )
            .map_err(db_err)?
            .iter()
            .map(|r| ProfileId(r.get(0)))
            .collect())
        })
    }

    fn profile_events(
        &self,
        ws: WorkspaceId,
        id: ProfileId,
        before: Option<(Micros, i64)>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let (bts, bseq) = before.unwrap_or((Micros::MAX, i64::MAX));
        self.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE profile_id = $1 AND workspace_id + 0 = $2 AND (ts, seq) < ($3, $4)
                     ORDER BY ts DESC, seq DESC LIMIT $5"
                ),
                &[&id.0, &ws.0, &bts, &bseq, &(limit as i64)],
            )
            .map_err(db_err)?
            .iter()
            .map(event_row)
            .collect())
        })
    }

    // Per-profile reads say `workspace_id + 0` so that the planner probes the
    // profile index alone: on a table never analyzed (autovacuum off, a fresh
    // import) it otherwise ANDs in a scan of the whole workspace's
    // `(workspace_id, message_id)` index: 127 ms instead of 0.05 ms per
    // profile at 500k events, which made building a partition crawl.
    fn profile_history(&self, ws: WorkspaceId, id: ProfileId) -> Result<Vec<StoredEvent>> {
        self.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE profile_id = $1 AND workspace_id + 0 = $2 ORDER BY ts, seq"
                ),
                &[&id.0, &ws.0],
            )
            .map_err(db_err)?
            .iter()
            .map(event_row)
            .collect())
        })
    }

    fn profile_histories(&self, ws: WorkspaceId, ids: &[ProfileId]) -> Result<Vec<Vec<StoredEvent>>> {
        let keys: Vec<i64> = ids.iter().map(|p| p.0).collect();
        let rows = self.with(|c| {
            // A lateral probe of the profile index per id, whatever the
            // statistics say (`IN (unnest)` became a scan of the whole log
            // per call on a table never analyzed: 474 s to build 100k profiles).
            let columns = EVENT_COLUMNS.split(", ").map(|c| format!("h.{c}")).collect::<Vec<_>>().join(", ");
            c.query(
                &format!(
                    "SELECT {columns} FROM unnest($1::bigint[]) WITH ORDINALITY AS k(id, n)
                     CROSS JOIN LATERAL (
                         SELECT {EVENT_COLUMNS} FROM events
                         WHERE profile_id = k.id AND workspace_id + 0 = $2 ORDER BY ts, seq) h
                     ORDER BY k.n, h.ts, h.seq"
                ),
                &[&keys, &ws.0],
            )
            .map_err(db_err)
        })?;
        let mut by_profile: HashMap<ProfileId, Vec<StoredEvent>> = HashMap::with_capacity(ids.len());
        for r in &rows {
            let e = event_row(r);
            by_profile.entry(e.profile).or_default().push(e);
        }
        Ok(ids.iter().map(|id| by_profile.remove(id).unwrap_or_default()).collect())
    }

    fn scan(&self, ws: WorkspaceId, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 AND workspace_id = $2 ORDER BY seq LIMIT $3"
                ),
                &[&after_seq, &ws.0, &(limit as i64)],
            )
            .map_err(db_err)?
            .iter()
            .map(event_row)
            .collect())
        })
    }

    fn activity_bounds(&self, ws: WorkspaceId, id: ProfileId) -> Result<Option<(Micros, Micros)>> {
        let sql = format!(
            "SELECT min(ts), max(ts) FROM events WHERE profile_id = $1 AND workspace_id + 0 = $2 AND {}",
            tidings_model::event::activity_sql()
        );
        self.with(|c| {
            let row = c.query_one(&sql, &[&id.0, &ws.0]).map_err(db_err)?;
            let (first, last): (Option<Micros>, Option<Micros>) = (row.get(0), row.get(1));
            Ok(first.zip(last))
        })
    }

    fn event_names(&self, ws: WorkspaceId) -> Result<Vec<String>> {
        self.with(|c| {
            Ok(c.query("SELECT name FROM event_names WHERE workspace_id = $1 ORDER BY name", &[&ws.0])
                .map_err(db_err)?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn stats(&self, ws: WorkspaceId) -> Result<StoreStats> {
        self.with(|c| {
            let (events, profiles, last_seq) = c
                .query_opt("SELECT event_count, profile_count, last_seq FROM workspaces WHERE id = $1", &[&ws.0])
                .map_err(db_err)?
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .unwrap_or((0, 0, 0));
            Ok(StoreStats { events, profiles, last_seq })
        })
    }

    fn save_snapshot(&self, ws: WorkspaceId, name: &str, s: &Snapshot) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO snapshots (workspace_id, name, seq, taken_at, data) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (workspace_id, name) DO UPDATE
                 SET seq = excluded.seq, taken_at = excluded.taken_at, data = excluded.data",
                &[&ws.0, &name, &s.seq, &s.taken_at, &s.data],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn schedule_timers(&self, timers: &[NewTimer]) -> Result<()> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(db_err)?;
            schedule_in(&mut tx, timers)?;
            tx.commit().map_err(db_err)
        })
    }

    fn claim_due_timers(
        &self,
        ws: Option<WorkspaceId>,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        partitions: Option<i64>,
    ) -> Result<Vec<Timer>> {
        let ws = ws.map(|w| w.0);
        self.with(|c| {
            let rows = c
                .query(
                    &format!(
                        "UPDATE timers SET leased_until = $2
                     WHERE id IN (SELECT id FROM timers WHERE due_at <= $1 AND leased_until <= $1
                                  AND ($4::BIGINT IS NULL OR workspace_id = $4)
                                  AND ($5::BIGINT IS NULL OR ($5 >> {PARTITION_SQL}::int) & 1 = 1)
                                  ORDER BY due_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                     RETURNING id, workspace_id, key, due_at, payload"
                    ),
                    &[&now, &lease_until, &(limit as i64), &ws, &partitions],
                )
                .map_err(db_err)?;
            let mut out: Vec<Timer> = rows
                .iter()
                .map(|r| Timer {
                    id: r.get(0),
                    workspace: WorkspaceId(r.get(1)),
                    key: r.get(2),
                    due_at: r.get(3),
                    payload: r.get(4),
                })
                .collect();
            out.sort_by_key(|t| (t.due_at, t.id));
            Ok(out)
        })
    }

    fn complete_timers(&self, fired: &[Timer], then: &[NewTimer]) -> Result<()> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(db_err)?;
            let ids: Vec<i64> = fired.iter().map(|t| t.id).collect();
            let due: Vec<i64> = fired.iter().map(|t| t.due_at).collect();
            tx.execute(
                "DELETE FROM timers t USING unnest($1::bigint[], $2::bigint[]) AS f(id, due_at)
                 WHERE t.id = f.id AND t.due_at = f.due_at",
                &[&ids, &due],
            )
            .map_err(db_err)?;
            schedule_in(&mut tx, then)?;
            tx.commit().map_err(db_err)
        })
    }

    fn cancel_timer(&self, ws: WorkspaceId, key: &str) -> Result<bool> {
        self.with(|c| {
            let n =
                c.execute("DELETE FROM timers WHERE workspace_id = $1 AND key = $2", &[&ws.0, &key]).map_err(db_err)?;
            Ok(n > 0)
        })
    }

    fn next_timer_due(&self) -> Result<Option<Micros>> {
        self.with(|c| Ok(c.query_one("SELECT min(due_at) FROM timers", &[]).map_err(db_err)?.get(0)))
    }

    fn pending_timers(&self, ws: WorkspaceId) -> Result<i64> {
        self.with(|c| {
            Ok(c.query_one("SELECT count(*) FROM timers WHERE workspace_id = $1", &[&ws.0]).map_err(db_err)?.get(0))
        })
    }

    fn enqueue(&self, items: &[NewOutbox], now: Micros) -> Result<Vec<bool>> {
        self.with(|c| {
            let mut tx = c.transaction().map_err(db_err)?;
            let mut out = Vec::with_capacity(items.len());
            for i in items {
                let n = tx
                    .execute(
                        "INSERT INTO outbox (workspace_id, key, profile_id, message_id, kind, template, source, payload,
                                             created_at, not_before)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (workspace_id, key) DO NOTHING",
                        &[
                            &i.workspace.0,
                            &i.key,
                            &i.profile.0,
                            &i.message_id,
                            &i.kind,
                            &i.template,
                            &i.source,
                            &i.payload,
                            &now,
                            &i.not_before,
                        ],
                    )
                    .map_err(db_err)?;
                out.push(n == 1);
            }
            tx.commit().map_err(db_err)?;
            Ok(out)
        })
    }

    fn claim_outbox(
        &self,
        ws: Option<WorkspaceId>,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        partitions: Option<i64>,
    ) -> Result<Vec<OutboxRow>> {
        let ws = ws.map(|w| w.0);
        self.with(|c| {
            let mut rows: Vec<OutboxRow> = c
                .query(
                    &format!(
                        "UPDATE outbox SET leased_until = $2, attempts = attempts + 1
                         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND not_before <= $1
                                      AND leased_until <= $1 AND ($4::BIGINT IS NULL OR workspace_id = $4)
                                      AND ($5::BIGINT IS NULL OR ($5 >> {PARTITION_SQL}::int) & 1 = 1)
                                      ORDER BY not_before, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                         RETURNING {OUTBOX_COLUMNS}"
                    ),
                    &[&now, &lease_until, &(limit as i64), &ws, &partitions],
                )
                .map_err(db_err)?
                .iter()
                .map(outbox_row)
                .collect();
            rows.sort_by_key(|r| (r.not_before, r.id));
            Ok(rows)
        })
    }

    fn finish_outbox(&self, id: i64, d: &Delivery) -> Result<()> {
        self.with(|c| {
            match d {
                Delivery::Sent { at, detail } => c.execute(
                    "UPDATE outbox SET status = 'sent', sent_at = $2, detail = $3, leased_until = 0 WHERE id = $1",
                    &[&id, at, detail],
                ),
                Delivery::Retry { at, detail } => c.execute(
                    "UPDATE outbox SET not_before = $2, detail = $3, leased_until = 0 WHERE id = $1 AND status = 'pending'",
                    &[&id, at, detail],
                ),
                Delivery::Failed { detail } => c.execute(
                    "UPDATE outbox SET status = 'failed', detail = $2, leased_until = 0 WHERE id = $1",
                    &[&id, detail],
                ),
            }
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn outbox_for_profile(&self, ws: WorkspaceId, profile: ProfileId, limit: usize) -> Result<Vec<OutboxRow>> {
        self.with(|c| {
            Ok(c.query(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE profile_id = $1 AND workspace_id + 0 = $2
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ),
                &[&profile.0, &ws.0, &(limit as i64)],
            )
            .map_err(db_err)?
            .iter()
            .map(outbox_row)
            .collect())
        })
    }

    fn marketing_sent_since(&self, ws: WorkspaceId, profile: ProfileId, since: Micros) -> Result<Vec<Micros>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT sent_at FROM outbox WHERE profile_id = $1 AND workspace_id + 0 = $2 AND status = 'sent'
                 AND kind = 'marketing' AND sent_at >= $3 ORDER BY sent_at",
                &[&profile.0, &ws.0, &since],
            )
            .map_err(db_err)?
            .iter()
            .map(|r| r.get(0))
            .collect())
        })
    }

    fn record_decision(&self, ws: WorkspaceId, profile: ProfileId, d: &SendDecision) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO send_decisions (workspace_id, profile_id, key, at, decision, reason)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&ws.0, &profile.0, &d.key, &d.at, &d.decision, &d.reason],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn decisions_for_profile(&self, ws: WorkspaceId, profile: ProfileId, limit: usize) -> Result<Vec<SendDecision>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT key, at, decision, reason FROM send_decisions WHERE profile_id = $1 AND workspace_id = $2
                 ORDER BY at DESC, id DESC LIMIT $3",
                &[&profile.0, &ws.0, &(limit as i64)],
            )
            .map_err(db_err)?
            .iter()
            .map(|r| SendDecision { key: r.get(0), at: r.get(1), decision: r.get(2), reason: r.get(3) })
            .collect())
        })
    }

    fn save_instance(&self, i: &InstanceRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO journey_instances (workspace_id, journey, profile_id, entry, entry_key, entered_at, done,
                                                state, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (workspace_id, journey, profile_id, entry) DO UPDATE
                 SET entry_key = excluded.entry_key, done = excluded.done, state = excluded.state,
                     updated_at = excluded.updated_at",
                &[
                    &i.workspace.0,
                    &i.journey,
                    &i.profile.0,
                    &i.entry,
                    &i.entry_key,
                    &i.entered_at,
                    &i.done,
                    &i.state,
                    &i.updated_at,
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn instances_for_profile(&self, ws: WorkspaceId, profile: ProfileId) -> Result<Vec<InstanceRecord>> {
        self.with(|c| {
            Ok(c.query(
                "SELECT journey, entry, entry_key, entered_at, done, state, updated_at FROM journey_instances
                 WHERE profile_id = $1 AND workspace_id = $2 ORDER BY journey, entry",
                &[&profile.0, &ws.0],
            )
            .map_err(db_err)?
            .iter()
            .map(|r| InstanceRecord {
                workspace: ws,
                journey: r.get(0),
                profile,
                entry: r.get(1),
                entry_key: r.get(2),
                entered_at: r.get(3),
                done: r.get(4),
                state: r.get(5),
                updated_at: r.get(6),
            })
            .collect())
        })
    }

    fn node_heartbeat(
        &self,
        node: &str,
        address: Option<&str>,
        now: Micros,
        live_since: Micros,
    ) -> Result<Vec<String>> {
        self.with(|c| {
            c.execute(
                "INSERT INTO nodes (node_id, started_at, seen_at, address) VALUES ($1, $2, $2, $3)
                 ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at, address = excluded.address",
                &[&node, &now, &address],
            )
            .map_err(db_err)?;
            let rows = c
                .query("SELECT node_id FROM nodes WHERE seen_at >= $1 ORDER BY node_id", &[&live_since])
                .map_err(db_err)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn nodes(&self, live_since: Micros) -> Result<Vec<NodeInfo>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT node_id, address, seen_at FROM nodes WHERE seen_at >= $1 ORDER BY node_id",
                    &[&live_since],
                )
                .map_err(db_err)?;
            Ok(rows.iter().map(|r| NodeInfo { id: r.get(0), address: r.get(1), seen_at: r.get(2) }).collect())
        })
    }

    fn node_leave(&self, node: &str) -> Result<()> {
        self.with(|c| c.execute("DELETE FROM nodes WHERE node_id = $1", &[&node]).map(|_| ()).map_err(db_err))
    }

    fn partition_leases(&self, ws: WorkspaceId) -> Result<Vec<Lease>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT partition_no, owner, token, expires_at FROM partition_leases
                     WHERE workspace_id = $1 ORDER BY partition_no",
                    &[&ws.0],
                )
                .map_err(db_err)?;
            Ok(rows
                .iter()
                .map(|r| Lease {
                    workspace: ws,
                    partition: r.get::<_, i32>(0) as u32,
                    owner: r.get(1),
                    token: r.get(2),
                    expires_at: r.get(3),
                })
                .collect())
        })
    }

    fn acquire_partition(
        &self,
        ws: WorkspaceId,
        partition: u32,
        node: &str,
        now: Micros,
        until: Micros,
    ) -> Result<Option<Lease>> {
        let part = partition as i32;
        self.with(|c| {
            let mut tx = c.transaction().map_err(db_err)?;
            // A row to lock, so two nodes taking a new partition queue on it.
            tx.execute(
                "INSERT INTO partition_leases (workspace_id, partition_no, owner, token, expires_at)
                 VALUES ($1, $2, NULL, 0, 0) ON CONFLICT DO NOTHING",
                &[&ws.0, &part],
            )
            .map_err(db_err)?;
            let row = tx
                .query_one(
                    "SELECT owner, token, expires_at FROM partition_leases
                     WHERE workspace_id = $1 AND partition_no = $2 FOR UPDATE",
                    &[&ws.0, &part],
                )
                .map_err(db_err)?;
            let (owner, token, expires): (Option<String>, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let Some((token, reason)) =
                tidings_store::lease_decision(Some((owner.as_deref(), token, expires)), node, now)
            else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE partition_leases SET owner = $3, token = $4, expires_at = $5
                 WHERE workspace_id = $1 AND partition_no = $2",
                &[&ws.0, &part, &node, &token, &until],
            )
            .map_err(db_err)?;
            if let Some(reason) = reason {
                tx.execute(
                    "INSERT INTO lease_changes (workspace_id, partition_no, owner, previous, token, at, reason)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[&ws.0, &part, &node, &owner, &token, &now, &reason],
                )
                .map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            Ok(Some(Lease { workspace: ws, partition, owner: Some(node.to_string()), token, expires_at: until }))
        })
    }

    fn renew_partitions(
        &self,
        ws: WorkspaceId,
        node: &str,
        held: &[(u32, i64)],
        now: Micros,
        until: Micros,
    ) -> Result<Vec<u32>> {
        let parts: Vec<i32> = held.iter().map(|&(p, _)| p as i32).collect();
        let tokens: Vec<i64> = held.iter().map(|&(_, t)| t).collect();
        self.with(|c| {
            let rows = c
                .query(
                    "UPDATE partition_leases l SET expires_at = $1
                     FROM unnest($4::int[], $5::bigint[]) AS h(partition_no, token)
                     WHERE l.workspace_id = $2 AND l.partition_no = h.partition_no AND l.token = h.token
                       AND l.owner = $3 AND l.expires_at > $6
                     RETURNING l.partition_no",
                    &[&until, &ws.0, &node, &parts, &tokens, &now],
                )
                .map_err(db_err)?;
            let mut renewed: Vec<u32> = rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect();
            renewed.sort_unstable();
            Ok(renewed)
        })
    }

    fn mark_recorded(&self, fence: &Fence, seq: i64, at: Micros) -> Result<usize> {
        let parts: Vec<i32> = fence.held.iter().map(|&(p, _)| p as i32).collect();
        let tokens: Vec<i64> = fence.held.iter().map(|&(_, t)| t).collect();
        self.with(|c| {
            let n = c
                .execute(
                    "UPDATE partition_leases l SET recorded_seq = $1, recorded_at = $2
                     FROM unnest($5::int[], $6::bigint[]) AS h(partition_no, token)
                     WHERE l.workspace_id = $3 AND l.partition_no = h.partition_no AND l.token = h.token
                       AND l.owner = $4 AND l.expires_at > $7",
                    &[&seq, &at, &fence.workspace.0, &fence.node, &parts, &tokens, &fence.now],
                )
                .map_err(db_err)?;
            Ok(n as usize)
        })
    }

    fn recorded_positions(&self, ws: WorkspaceId) -> Result<BTreeMap<u32, (i64, Micros)>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT partition_no, recorded_seq, recorded_at FROM partition_leases
                     WHERE workspace_id = $1 AND recorded_seq > 0",
                    &[&ws.0],
                )
                .map_err(db_err)?;
            Ok(rows.iter().map(|r| (r.get::<_, i32>(0) as u32, (r.get(1), r.get(2)))).collect())
        })
    }

    fn release_partitions(&self, ws: WorkspaceId, node: &str, held: &[(u32, i64)], now: Micros) -> Result<()> {
        let parts: Vec<i32> = held.iter().map(|&(p, _)| p as i32).collect();
        let tokens: Vec<i64> = held.iter().map(|&(_, t)| t).collect();
        self.with(|c| {
            c.execute(
                "WITH released AS (
                     UPDATE partition_leases l SET owner = NULL, expires_at = 0
                     FROM unnest($3::int[], $4::bigint[]) AS h(partition_no, token)
                     WHERE l.workspace_id = $1 AND l.partition_no = h.partition_no AND l.token = h.token
                       AND l.owner = $2
                     RETURNING l.partition_no, l.token)
                 INSERT INTO lease_changes (workspace_id, partition_no, owner, previous, token, at, reason)
                 SELECT $1, partition_no, NULL, $2, token, $5, 'released' FROM released ORDER BY partition_no",
                &[&ws.0, &node, &parts, &tokens, &now],
            )
            .map(|_| ())
            .map_err(db_err)
        })
    }

    fn lease_changes(&self, ws: WorkspaceId, after: i64) -> Result<Vec<LeaseChange>> {
        self.with(|c| {
            let rows = c
                .query(
                    "SELECT id, partition_no, owner, previous, token, at, reason FROM lease_changes
                     WHERE workspace_id = $1 AND id > $2 ORDER BY id",
                    &[&ws.0, &after],
                )
                .map_err(db_err)?;
            Ok(rows
                .iter()
                .map(|r| LeaseChange {
                    id: r.get(0),
                    workspace: ws,
                    partition: r.get::<_, i32>(1) as u32,
                    owner: r.get(2),
                    previous: r.get(3),
                    token: r.get(4),
                    at: r.get(5),
                    reason: r.get(6),
                })
                .collect())
        })
    }

    fn load_snapshot(&self, ws: WorkspaceId, name: &str) -> Result<Option<Snapshot>> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT seq, taken_at, data FROM snapshots WHERE workspace_id = $1 AND name = $2",
                &[&ws.0, &name],
            )
            .map_err(db_err)?
            .map(|r| Snapshot { seq: r.get(0), taken_at: r.get(1), data: r.get(2) }))
        })
    }
}

fn schedule_in(tx: &mut postgres::Transaction<'_>, timers: &[NewTimer]) -> Result<()> {
    if timers.is_empty() {
        return Ok(());
    }
    let ws: Vec<i64> = timers.iter().map(|t| t.workspace.0).collect();
    let keys: Vec<&str> = timers.iter().map(|t| t.key.as_str()).collect();
    let due: Vec<i64> = timers.iter().map(|t| t.due_at).collect();
    let payloads: Vec<&str> = timers.iter().map(|t| t.payload.as_str()).collect();
    let profiles: Vec<Option<i64>> = timers.iter().map(|t| t.profile.map(|p| p.0)).collect();
    // The last of duplicate keys wins, as it would one by one.
    tx.execute(
        "INSERT INTO timers (workspace_id, key, due_at, payload, profile_id)
         SELECT DISTINCT ON (w, k) w, k, d, p, f
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[])
              WITH ORDINALITY AS t(w, k, d, p, f, n)
         ORDER BY w, k, n DESC
         ON CONFLICT (workspace_id, key) DO UPDATE
         SET due_at = excluded.due_at, payload = excluded.payload, profile_id = excluded.profile_id, leased_until = 0",
        &[&ws, &keys, &due, &payloads, &profiles],
    )
    .map_err(db_err)?;
    Ok(())
}

const OUTBOX_COLUMNS: &str = "id, workspace_id, key, profile_id, message_id, kind, template, source, payload, \
                              created_at, not_before, status, attempts, sent_at, detail";

fn outbox_row(r: &postgres::Row) -> OutboxRow {
    OutboxRow {
        id: r.get(0),
        workspace: WorkspaceId(r.get(1)),
        key: r.get(2),
        profile: ProfileId(r.get(3)),
        message_id: r.get(4),
        kind: r.get(5),
        template: r.get(6),
        source: r.get(7),
        payload: r.get(8),
        created_at: r.get(9),
        not_before: r.get(10),
        status: OutboxStatus::parse(r.get(11)),
        attempts: r.get(12),
        sent_at: r.get(13),
        detail: r.get(14),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("host=h user=u"), "host=h user=u");
    }
}
