//! The embedded backend: SQLite in WAL mode, in one data folder, nothing to
//! install.
//!
//! One connection writes (SQLite has one writer anyway); appends arrive in
//! groups from the ingest queue and commit in one transaction, so a single
//! fsync covers many requests (group commit). Readers use their own
//! connections and never block the writer. The data folder is locked so two
//! processes cannot write it at once; read-only opens (`segments eval`) skip
//! the lock.

mod schema;
mod write;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use tidings_model::{KeyKind, Micros, ProfileId, StoredEvent, WorkspaceId, message::MessageType, traits::Traits};
use tidings_store::{
    AppendBatch, AppendResult, Delivery, Fence, InstanceRecord, KeyRecord, Lease, LeaseChange, Merge, NewOutbox,
    NewTimer, NodeInfo, OutboxRow, OutboxStatus, PARTITION_SQL, Profile, Result, SendDecision, Snapshot, Store,
    StoreError, StoreStats, Timer, Workspace,
};

/// How hard a commit pushes data to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on every commit: survives power loss. The default.
    Full,
    /// Survives a crash of the process (kill -9) but not of the machine.
    Process,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    /// No lock, no migrations: for reading a folder a server may be writing.
    ReadOnly,
}

pub struct SqliteStore {
    path: PathBuf,
    mode: Mode,
    durability: Durability,
    writer: Option<Mutex<write::Writer>>,
    readers: Mutex<Vec<Connection>>,
    /// Timer leases, by (due_at, id). Only this process writes the folder, so
    /// leases need not be stored: after a crash every pending timer is due
    /// again, which is what a lost lease means anyway.
    leases: Mutex<std::collections::HashMap<(Micros, i64), Micros>>,
    _checkpointer: Option<Checkpointer>,
    _lock: Option<File>,
}

/// Copies the WAL into the database in the background, so commits never
/// wait for a checkpoint (the writer's automatic checkpoints are off).
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path).map_err(db_err)?;
        let wal = path.with_extension("db-wal");
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_err)?;
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let run = |mode: &str| {
                    if let Err(e) = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |_| Ok(())) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; it will be retried");
                    }
                };
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(std::time::Duration::from_millis(CHECKPOINT_EVERY_MS))
                {
                    run("PASSIVE");
                    // Under constant writes the log may never find a moment to start over; make one.
                    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_LIMIT_BYTES) {
                        run("RESTART");
                    }
                }
                run("PASSIVE");
            })
            .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY_MS: u64 = 250;
/// A write-ahead log past this size is checkpointed with the writer waiting.
const WAL_LIMIT_BYTES: u64 = 512 << 20;

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// An append of derived messages, under `fence` when given.
    fn derived(&self, batches: &[AppendBatch], fence: Option<&Fence>) -> Result<AppendResult> {
        let mut w = self.writer()?;
        if self.durability == Durability::Process {
            return w.append(batches, fence);
        }
        // In WAL mode NORMAL commits without an fsync; the next FULL commit's
        // fsync covers this one's frames too.
        w.conn.execute_batch("PRAGMA synchronous = NORMAL").map_err(db_err)?;
        let result = w.append(batches, fence);
        w.conn.execute_batch("PRAGMA synchronous = FULL").map_err(db_err)?;
        result
    }

    /// Opens (creating when needed) the store in `dir`.
    pub fn open(dir: &Path, mode: Mode, durability: Durability) -> Result<SqliteStore> {
        let path = dir.join("tidings.db");
        let lock = match mode {
            Mode::ReadWrite => {
                let fresh = !dir.exists();
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Database(format!("cannot create data folder {}: {e}", dir.display())))?;
                if fresh {
                    private(dir, 0o700);
                }
                let f = File::create(dir.join("tidings.lock"))
                    .map_err(|e| StoreError::Database(format!("cannot create lock in {}: {e}", dir.display())))?;
                if f.try_lock().is_err() {
                    return Err(StoreError::Locked(format!(
                        "data folder {} is in use by another tidings process; stop it first, \
                         or send events through its HTTP API",
                        dir.display()
                    )));
                }
                Some(f)
            }
            Mode::ReadOnly => {
                if !path.exists() {
                    return Err(StoreError::NotFound(format!("a tidings database in {}", dir.display())));
                }
                None
            }
        };
        let writer = match mode {
            Mode::ReadWrite => {
                let mut conn = Connection::open(&path).map_err(db_err)?;
                schema::configure(&conn, durability)?;
                schema::migrate(&mut conn)?;
                // Only this process uses the folder (the lock above): a lease left
                // by a process that died holds nothing, so its messages are due now,
                // as its timers are (their leases live in memory).
                conn.execute("UPDATE outbox SET leased_until = 0 WHERE status = 'pending' AND leased_until > 0", [])
                    .map_err(db_err)?;
                // Every person's data: readable by this user only.
                for file in ["tidings.db", "tidings.db-wal", "tidings.db-shm", "tidings.lock"] {
                    private(&dir.join(file), 0o600);
                }
                Some(Mutex::new(write::Writer::new(conn)))
            }
            Mode::ReadOnly => None,
        };
        let checkpointer = match mode {
            Mode::ReadWrite => Some(Checkpointer::start(&path)?),
            Mode::ReadOnly => None,
        };
        let store = SqliteStore {
            path,
            mode,
            durability,
            writer,
            readers: Mutex::new(Vec::new()),
            leases: Mutex::new(std::collections::HashMap::new()),
            _checkpointer: checkpointer,
            _lock: lock,
        };
        if mode == Mode::ReadOnly {
            store.read(schema::check_current)?;
        }
        Ok(store)
    }

    /// The writer's `PRAGMA synchronous` (0 off, 1 normal, 2 full), for tests.
    #[doc(hidden)]
    pub fn pragma_synchronous(&self) -> Result<i64> {
        self.writer()?.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).map_err(db_err)
    }

    fn writer(&self) -> Result<parking_lot::MutexGuard<'_, write::Writer>> {
        tidings_store::assert_may_block();
        match &self.writer {
            Some(w) => Ok(w.lock()),
            None => Err(StoreError::Database("this store was opened read-only".into())),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        tidings_store::assert_may_block();
        let conn = self.readers.lock().pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let flags = match self.mode {
                    Mode::ReadWrite => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    Mode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                };
                let c = Connection::open_with_flags(&self.path, flags).map_err(db_err)?;
                c.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_err)?;
                // A page cache of their own (the default is 2 MB). No mmap: the
                // file grows under constant appends, and each read transaction
                // would remap it.
                c.execute_batch("PRAGMA cache_size = -32768;").map_err(db_err)?;
                c
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock();
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }
}

const EVENT_COLUMNS: &str = "seq, profile_id, message_id, type, event, user_id, anonymous_id, ts, received_at, body";

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.get(0)?,
        profile: ProfileId(r.get(1)?),
        message_id: r.get(2)?,
        kind: MessageType::from_code(r.get(3)?).unwrap_or(MessageType::Track),
        event: r.get(4)?,
        user_id: r.get(5)?,
        anonymous_id: r.get(6)?,
        timestamp: r.get(7)?,
        received_at: r.get(8)?,
        body: r.get::<_, String>(9)?.into(),
    })
}

fn key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let kind: String = r.get(2)?;
    Ok(KeyRecord {
        id: r.get(0)?,
        workspace: WorkspaceId(r.get(1)?),
        kind: KeyKind::parse(&kind).unwrap_or(KeyKind::Write),
        label: r.get(3)?,
        created_at: r.get(4)?,
        revoked_at: r.get(5)?,
    })
}

fn load_profile(c: &Connection, ws: WorkspaceId, id: ProfileId) -> Result<Option<Profile>> {
    let row = c
        .prepare_cached(
            "SELECT user_id, traits, created_at FROM profiles
             WHERE id = ?1 AND workspace_id = ?2 AND merged_into IS NULL",
        )
        .map_err(db_err)?
        .query_row(params![id.0, ws.0], |r| {
            Ok((r.get::<_, Option<String>>(0)?, r.get::<_, String>(1)?, r.get::<_, Micros>(2)?))
        })
        .optional()
        .map_err(db_err)?;
    let Some((user_id, traits, created_at)) = row else { return Ok(None) };
    let mut user_ids = Vec::new();
    let mut anonymous_ids = Vec::new();
    let mut stmt = c
        .prepare_cached("SELECT kind, external_id FROM identities WHERE profile_id = ?1 ORDER BY external_id")
        .map_err(db_err)?;
    let rows = stmt.query_map(params![id.0], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))).map_err(db_err)?;
    for row in rows {
        let (kind, ext) = row.map_err(db_err)?;
        if kind == 0 { user_ids.push(ext) } else { anonymous_ids.push(ext) }
    }
    Ok(Some(Profile {
        id,
        workspace: ws,
        user_id,
        user_ids,
        anonymous_ids,
        traits: Traits::from_json(&traits),
        created_at,
    }))
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn create_workspace(&self, name: &str, now: Micros) -> Result<Workspace> {
        let w = self.writer()?;
        let n = w
            .conn
            .execute("INSERT OR IGNORE INTO workspaces (name, created_at) VALUES (?1, ?2)", params![name, now])
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::Conflict(format!("workspace {name:?}")));
        }
        Ok(Workspace { id: WorkspaceId(w.conn.last_insert_rowid()), name: name.to_string(), created_at: now })
    }

    fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        self.read(|c| {
            c.query_row("SELECT id, name, created_at FROM workspaces WHERE name = ?1", params![name], |r| {
                Ok(Workspace { id: WorkspaceId(r.get(0)?), name: r.get(1)?, created_at: r.get(2)? })
            })
            .optional()
            .map_err(db_err)
        })
    }

    fn workspaces(&self) -> Result<Vec<Workspace>> {
        self.read(|c| {
            let mut stmt = c.prepare("SELECT id, name, created_at FROM workspaces ORDER BY id").map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok(Workspace { id: WorkspaceId(r.get(0)?), name: r.get(1)?, created_at: r.get(2)? }))
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn add_key(&self, ws: WorkspaceId, kind: KeyKind, hash: &str, label: &str, now: Micros) -> Result<KeyRecord> {
        let w = self.writer()?;
        let n = w
            .conn
            .execute(
                "INSERT OR IGNORE INTO api_keys (workspace_id, kind, hash, label, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ws.0, kind.as_str(), hash, label, now],
            )
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::Conflict("a key with this value".into()));
        }
        Ok(KeyRecord {
            id: w.conn.last_insert_rowid(),
            workspace: ws,
            kind,
            label: label.to_string(),
            created_at: now,
            revoked_at: None,
        })
    }

    fn revoke_key(&self, id: i64, now: Micros) -> Result<bool> {
        let w = self.writer()?;
        let n = w
            .conn
            .execute("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, now])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn keys(&self, ws: Option<WorkspaceId>) -> Result<Vec<KeyRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT id, workspace_id, kind, label, created_at, revoked_at FROM api_keys
                     WHERE ?1 IS NULL OR workspace_id = ?1 ORDER BY id",
                )
                .map_err(db_err)?;
            let rows = stmt.query_map(params![ws.map(|w| w.0)], key_row).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn find_key(&self, hash: &str) -> Result<Option<KeyRecord>> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT id, workspace_id, kind, label, created_at, revoked_at FROM api_keys
                 WHERE hash = ?1 AND revoked_at IS NULL",
            )
            .map_err(db_err)?
            .query_row(params![hash], key_row)
            .optional()
            .map_err(db_err)
        })
    }

    fn append(&self, batches: &[AppendBatch]) -> Result<AppendResult> {
        self.writer()?.append(batches, None)
    }

    fn append_derived(&self, batches: &[AppendBatch]) -> Result<AppendResult> {
        self.derived(batches, None)
    }

    fn append_fenced(&self, batches: &[AppendBatch], fence: &Fence) -> Result<AppendResult> {
        self.derived(batches, Some(fence))
    }

    fn merges_between(&self, ws: WorkspaceId, after: i64, upto: i64) -> Result<Vec<Merge>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, from_profile, into_profile FROM profile_merges
                     WHERE workspace_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![ws.0, after, upto], |r| {
                    Ok(Merge { seq: r.get(0)?, from: ProfileId(r.get(1)?), into: ProfileId(r.get(2)?) })
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn find_profile(&self, ws: WorkspaceId, external_id: &str) -> Result<Option<Profile>> {
        self.read(|c| {
            let id: Option<i64> = c
                .prepare_cached(
                    "SELECT profile_id FROM identities WHERE workspace_id = ?1 AND external_id = ?2
                     ORDER BY kind LIMIT 1",
                )
                .map_err(db_err)?
                .query_row(params![ws.0, external_id], |r| r.get(0))
                .optional()
                .map_err(db_err)?;
            match id {
                Some(id) => load_profile(c, ws, ProfileId(id)),
                None => Ok(None),
            }
        })
    }

    fn profile(&self, ws: WorkspaceId, id: ProfileId) -> Result<Option<Profile>> {
        self.read(|c| load_profile(c, ws, id))
    }

    fn profile_ids(&self, ws: WorkspaceId, after: ProfileId, limit: usize) -> Result<Vec<ProfileId>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id FROM profiles WHERE id > ?1 AND workspace_id = ?2 AND merged_into IS NULL
                     ORDER BY id LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows =
                stmt.query_map(params![after.0, ws.0, limit as i64], |r| Ok(ProfileId(r.get(0)?))).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
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
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE profile_id = ?1 AND workspace_id = ?2 AND (ts < ?3 OR (ts = ?3 AND seq < ?4))
                     ORDER BY ts DESC, seq DESC LIMIT ?5"
                ))
                .map_err(db_err)?;
            let rows = stmt.query_map(params![id.0, ws.0, bts, bseq, limit as i64], event_row).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn profile_history(&self, ws: WorkspaceId, id: ProfileId) -> Result<Vec<StoredEvent>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE profile_id = ?1 AND workspace_id = ?2 ORDER BY ts, seq"
                ))
                .map_err(db_err)?;
            let rows = stmt.query_map(params![id.0, ws.0], event_row).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn scan(&self, ws: WorkspaceId, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 AND +workspace_id = ?2 ORDER BY seq LIMIT ?3"
                ))
                .map_err(db_err)?;
            let rows = stmt.query_map(params![after_seq, ws.0, limit as i64], event_row).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn activity_bounds(&self, ws: WorkspaceId, id: ProfileId) -> Result<Option<(Micros, Micros)>> {
        let sql = format!(
            "SELECT min(ts), max(ts) FROM events WHERE profile_id = ?1 AND workspace_id = ?2 AND {}",
            tidings_model::event::activity_sql()
        );
        self.read(|c| {
            let (first, last): (Option<Micros>, Option<Micros>) = c
                .prepare_cached(&sql)
                .map_err(db_err)?
                .query_row(params![id.0, ws.0], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_err)?;
            Ok(first.zip(last))
        })
    }

    fn event_names(&self, ws: WorkspaceId) -> Result<Vec<String>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT name FROM event_names WHERE workspace_id = ?1 ORDER BY name")
                .map_err(db_err)?;
            let rows = stmt.query_map(params![ws.0], |r| r.get(0)).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn stats(&self, ws: WorkspaceId) -> Result<StoreStats> {
        self.read(|c| {
            let (events, profiles, last_seq) = c
                .query_row(
                    "SELECT event_count, profile_count, last_seq FROM workspaces WHERE id = ?1",
                    params![ws.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db_err)?
                .unwrap_or((0, 0, 0));
            Ok(StoreStats { events, profiles, last_seq })
        })
    }

    fn save_snapshot(&self, ws: WorkspaceId, name: &str, s: &Snapshot) -> Result<()> {
        let w = self.writer()?;
        w.conn
            .prepare_cached(
                "INSERT INTO snapshots (workspace_id, name, seq, taken_at, data) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (workspace_id, name) DO UPDATE
                 SET seq = excluded.seq, taken_at = excluded.taken_at, data = excluded.data",
            )
            .map_err(db_err)?
            .execute(params![ws.0, name, s.seq, s.taken_at, s.data])
            .map_err(db_err)?;
        Ok(())
    }

    fn schedule_timers(&self, timers: &[NewTimer]) -> Result<()> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        schedule_in(&tx, timers)?;
        tx.commit().map_err(db_err)
    }

    fn claim_due_timers(
        &self,
        ws: Option<WorkspaceId>,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        partitions: Option<i64>,
    ) -> Result<Vec<Timer>> {
        let mut leases = self.leases.lock();
        leases.retain(|_, until| *until > now);
        let want = limit + leases.len();
        let rows = self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT id, workspace_id, key, due_at, payload FROM timers
                     WHERE due_at <= ?1 AND (?3 IS NULL OR workspace_id = ?3)
                       AND (?4 IS NULL OR (?4 >> {PARTITION_SQL}) & 1 = 1)
                     ORDER BY due_at, id LIMIT ?2"
                ))
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![now, want as i64, ws.map(|w| w.0), partitions], |r| {
                    Ok(Timer {
                        id: r.get(0)?,
                        workspace: WorkspaceId(r.get(1)?),
                        key: r.get(2)?,
                        due_at: r.get(3)?,
                        payload: r.get(4)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })?;
        let claimed: Vec<Timer> =
            rows.into_iter().filter(|t| !leases.contains_key(&(t.due_at, t.id))).take(limit).collect();
        for t in &claimed {
            leases.insert((t.due_at, t.id), lease_until);
        }
        Ok(claimed)
    }

    fn complete_timers(&self, fired: &[Timer], then: &[NewTimer]) -> Result<()> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        {
            let mut del = tx.prepare_cached("DELETE FROM timers WHERE due_at = ?1 AND id = ?2").map_err(db_err)?;
            for t in fired {
                del.execute(params![t.due_at, t.id]).map_err(db_err)?;
            }
        }
        let mut leases = self.leases.lock();
        for t in fired {
            leases.remove(&(t.due_at, t.id));
        }
        drop(leases);
        schedule_in(&tx, then)?;
        tx.commit().map_err(db_err)
    }

    fn cancel_timer(&self, ws: WorkspaceId, key: &str) -> Result<bool> {
        let w = self.writer()?;
        let n = w
            .conn
            .prepare_cached("DELETE FROM timers WHERE workspace_id = ?1 AND key = ?2")
            .map_err(db_err)?
            .execute(params![ws.0, key])
            .map_err(db_err)?;
        Ok(n > 0)
    }

    fn next_timer_due(&self) -> Result<Option<Micros>> {
        self.read(|c| c.query_row("SELECT min(due_at) FROM timers", [], |r| r.get(0)).map_err(db_err))
    }

    fn pending_timers(&self, ws: WorkspaceId) -> Result<i64> {
        self.read(|c| {
            c.query_row("SELECT count(*) FROM timers WHERE workspace_id = ?1", params![ws.0], |r| r.get(0))
                .map_err(db_err)
        })
    }

    fn enqueue(&self, items: &[NewOutbox], now: Micros) -> Result<Vec<bool>> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let mut out = Vec::with_capacity(items.len());
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO outbox (workspace_id, key, profile_id, message_id, kind, template, source, payload,
                                         created_at, not_before)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (workspace_id, key) DO NOTHING",
                )
                .map_err(db_err)?;
            for i in items {
                let n = stmt
                    .execute(params![
                        i.workspace.0,
                        i.key,
                        i.profile.0,
                        i.message_id,
                        i.kind,
                        i.template,
                        i.source,
                        i.payload,
                        now,
                        i.not_before
                    ])
                    .map_err(db_err)?;
                out.push(n == 1);
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(out)
    }

    fn claim_outbox(
        &self,
        ws: Option<WorkspaceId>,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        partitions: Option<i64>,
    ) -> Result<Vec<OutboxRow>> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let mut rows = {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "UPDATE outbox SET leased_until = ?2, attempts = attempts + 1
                     WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND not_before <= ?1
                                  AND leased_until <= ?1 AND (?4 IS NULL OR workspace_id = ?4)
                                  AND (?5 IS NULL OR (?5 >> {PARTITION_SQL}) & 1 = 1)
                                  ORDER BY not_before, id LIMIT ?3)
                     RETURNING {OUTBOX_COLUMNS}"
                ))
                .map_err(db_err)?;
            let params = params![now, lease_until, limit as i64, ws.map(|w| w.0), partitions];
            let rows = stmt.query_map(params, outbox_row).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)?
        };
        tx.commit().map_err(db_err)?;
        rows.sort_by_key(|r| (r.not_before, r.id));
        Ok(rows)
    }

    fn finish_outbox(&self, id: i64, d: &Delivery) -> Result<()> {
        let w = self.writer()?;
        let (sql, a, b): (&str, Option<Micros>, &str) = match d {
            Delivery::Sent { at, detail } => (
                "UPDATE outbox SET status = 'sent', sent_at = ?2, detail = ?3, leased_until = 0 WHERE id = ?1",
                Some(*at),
                detail,
            ),
            Delivery::Retry { at, detail } => (
                "UPDATE outbox SET not_before = ?2, detail = ?3, leased_until = 0 WHERE id = ?1 AND status = 'pending'",
                Some(*at),
                detail,
            ),
            Delivery::Failed { detail } => (
                "UPDATE outbox SET status = 'failed', detail = ?3, leased_until = 0 WHERE id = ?1 AND ?2 IS NULL",
                None,
                detail,
            ),
        };
        w.conn.prepare_cached(sql).map_err(db_err)?.execute(params![id, a, b]).map_err(db_err)?;
        Ok(())
    }

    fn outbox_for_profile(&self, ws: WorkspaceId, profile: ProfileId, limit: usize) -> Result<Vec<OutboxRow>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE profile_id = ?1 AND workspace_id = ?2
                     ORDER BY created_at DESC, id DESC LIMIT ?3"
                ))
                .map_err(db_err)?;
            let rows = stmt.query_map(params![profile.0, ws.0, limit as i64], outbox_row).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn marketing_sent_since(&self, ws: WorkspaceId, profile: ProfileId, since: Micros) -> Result<Vec<Micros>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT sent_at FROM outbox WHERE profile_id = ?1 AND workspace_id = ?2 AND status = 'sent'
                     AND kind = 'marketing' AND sent_at >= ?3 ORDER BY sent_at",
                )
                .map_err(db_err)?;
            let rows = stmt.query_map(params![profile.0, ws.0, since], |r| r.get(0)).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn record_decision(&self, ws: WorkspaceId, profile: ProfileId, d: &SendDecision) -> Result<()> {
        let w = self.writer()?;
        w.conn
            .prepare_cached(
                "INSERT INTO send_decisions (workspace_id, profile_id, key, at, decision, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(db_err)?
            .execute(params![ws.0, profile.0, d.key, d.at, d.decision, d.reason])
            .map_err(db_err)?;
        Ok(())
    }

    fn decisions_for_profile(&self, ws: WorkspaceId, profile: ProfileId, limit: usize) -> Result<Vec<SendDecision>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT key, at, decision, reason FROM send_decisions WHERE profile_id = ?1 AND workspace_id = ?2
                     ORDER BY at DESC, id DESC LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![profile.0, ws.0, limit as i64], |r| {
                    Ok(SendDecision { key: r.get(0)?, at: r.get(1)?, decision: r.get(2)?, reason: r.get(3)? })
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn save_instance(&self, i: &InstanceRecord) -> Result<()> {
        let w = self.writer()?;
        w.conn
            .prepare_cached(
                "INSERT INTO journey_instances (workspace_id, journey, profile_id, entry, entry_key, entered_at, done,
                                                state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (workspace_id, journey, profile_id, entry) DO UPDATE
                 SET entry_key = excluded.entry_key, done = excluded.done, state = excluded.state,
                     updated_at = excluded.updated_at",
            )
            .map_err(db_err)?
            .execute(params![
                i.workspace.0,
                i.journey,
                i.profile.0,
                i.entry,
                i.entry_key,
                i.entered_at,
                i.done,
                i.state,
                i.updated_at
            ])
            .map_err(db_err)?;
        Ok(())
    }

    fn instances_for_profile(&self, ws: WorkspaceId, profile: ProfileId) -> Result<Vec<InstanceRecord>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    // `+workspace_id` keeps the planner on the profile index: the
                    // primary key would give the order but scan the whole workspace.
                    "SELECT journey, entry, entry_key, entered_at, done, state, updated_at FROM journey_instances
                     WHERE profile_id = ?1 AND +workspace_id = ?2",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![profile.0, ws.0], |r| {
                    Ok(InstanceRecord {
                        workspace: ws,
                        journey: r.get(0)?,
                        profile,
                        entry: r.get(1)?,
                        entry_key: r.get(2)?,
                        entered_at: r.get(3)?,
                        done: r.get(4)?,
                        state: r.get(5)?,
                        updated_at: r.get(6)?,
                    })
                })
                .map_err(db_err)?;
            let mut out = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)?;
            out.sort_by(|a, b| (&a.journey, a.entry).cmp(&(&b.journey, b.entry)));
            Ok(out)
        })
    }

    fn node_heartbeat(
        &self,
        node: &str,
        address: Option<&str>,
        now: Micros,
        live_since: Micros,
    ) -> Result<Vec<String>> {
        {
            let w = self.writer()?;
            w.conn
                .prepare_cached(
                    "INSERT INTO nodes (node_id, started_at, seen_at, address) VALUES (?1, ?2, ?2, ?3)
                     ON CONFLICT (node_id) DO UPDATE SET seen_at = excluded.seen_at, address = excluded.address",
                )
                .map_err(db_err)?
                .execute(params![node, now, address])
                .map_err(db_err)?;
        }
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT node_id FROM nodes WHERE seen_at >= ?1 ORDER BY node_id").map_err(db_err)?;
            let rows = stmt.query_map(params![live_since], |r| r.get(0)).map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<String>>>().map_err(db_err)
        })
    }

    fn nodes(&self, live_since: Micros) -> Result<Vec<NodeInfo>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached("SELECT node_id, address, seen_at FROM nodes WHERE seen_at >= ?1 ORDER BY node_id")
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![live_since], |r| {
                    Ok(NodeInfo { id: r.get(0)?, address: r.get(1)?, seen_at: r.get(2)? })
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn node_leave(&self, node: &str) -> Result<()> {
        let w = self.writer()?;
        w.conn.execute("DELETE FROM nodes WHERE node_id = ?1", params![node]).map_err(db_err)?;
        Ok(())
    }

    fn partition_leases(&self, ws: WorkspaceId) -> Result<Vec<Lease>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT partition_no, owner, token, expires_at FROM partition_leases
                     WHERE workspace_id = ?1 ORDER BY partition_no",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![ws.0], |r| {
                    Ok(Lease {
                        workspace: ws,
                        partition: r.get(0)?,
                        owner: r.get(1)?,
                        token: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
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
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let current: Option<(Option<String>, i64, i64)> = tx
            .query_row(
                "SELECT owner, token, expires_at FROM partition_leases WHERE workspace_id = ?1 AND partition_no = ?2",
                params![ws.0, partition],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db_err)?;
        let view = current.as_ref().map(|(o, t, e)| (o.as_deref(), *t, *e));
        let Some((token, reason)) = tidings_store::lease_decision(view, node, now) else {
            return Ok(None);
        };
        tx.execute(
            "INSERT INTO partition_leases (workspace_id, partition_no, owner, token, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (workspace_id, partition_no) DO UPDATE
             SET owner = excluded.owner, token = excluded.token, expires_at = excluded.expires_at",
            params![ws.0, partition, node, token, until],
        )
        .map_err(db_err)?;
        if let Some(reason) = reason {
            let previous = current.and_then(|(o, _, _)| o);
            tx.execute(
                "INSERT INTO lease_changes (workspace_id, partition_no, owner, previous, token, at, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![ws.0, partition, node, previous, token, now, reason],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        Ok(Some(Lease { workspace: ws, partition, owner: Some(node.to_string()), token, expires_at: until }))
    }

    fn renew_partitions(
        &self,
        ws: WorkspaceId,
        node: &str,
        held: &[(u32, i64)],
        now: Micros,
        until: Micros,
    ) -> Result<Vec<u32>> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let mut renewed = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE partition_leases SET expires_at = ?1
                     WHERE workspace_id = ?2 AND partition_no = ?3 AND owner = ?4 AND token = ?5 AND expires_at > ?6",
                )
                .map_err(db_err)?;
            for &(partition, token) in held {
                if stmt.execute(params![until, ws.0, partition, node, token, now]).map_err(db_err)? > 0 {
                    renewed.push(partition);
                }
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(renewed)
    }

    fn mark_recorded(&self, fence: &Fence, seq: i64, at: Micros) -> Result<usize> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        let mut marked = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE partition_leases SET recorded_seq = ?1, recorded_at = ?2
                     WHERE workspace_id = ?3 AND partition_no = ?4 AND owner = ?5 AND token = ?6 AND expires_at > ?7",
                )
                .map_err(db_err)?;
            for &(partition, token) in &fence.held {
                marked += stmt
                    .execute(params![seq, at, fence.workspace.0, partition, fence.node, token, fence.now])
                    .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(marked)
    }

    fn recorded_positions(&self, ws: WorkspaceId) -> Result<BTreeMap<u32, (i64, Micros)>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT partition_no, recorded_seq, recorded_at FROM partition_leases
                     WHERE workspace_id = ?1 AND recorded_seq > 0",
                )
                .map_err(db_err)?;
            let rows =
                stmt.query_map(params![ws.0], |r| Ok((r.get::<_, u32>(0)?, (r.get(1)?, r.get(2)?)))).map_err(db_err)?;
            rows.collect::<rusqlite::Result<BTreeMap<_, _>>>().map_err(db_err)
        })
    }

    fn release_partitions(&self, ws: WorkspaceId, node: &str, held: &[(u32, i64)], now: Micros) -> Result<()> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
        for &(partition, token) in held {
            let n = tx
                .execute(
                    "UPDATE partition_leases SET owner = NULL, expires_at = 0
                     WHERE workspace_id = ?1 AND partition_no = ?2 AND owner = ?3 AND token = ?4",
                    params![ws.0, partition, node, token],
                )
                .map_err(db_err)?;
            if n > 0 {
                tx.execute(
                    "INSERT INTO lease_changes (workspace_id, partition_no, owner, previous, token, at, reason)
                     VALUES (?1, ?2, NULL, ?3, ?4, ?5, 'released')",
                    params![ws.0, partition, node, token, now],
                )
                .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    fn lease_changes(&self, ws: WorkspaceId, after: i64) -> Result<Vec<LeaseChange>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, partition_no, owner, previous, token, at, reason FROM lease_changes
                     WHERE workspace_id = ?1 AND id > ?2 ORDER BY id",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map(params![ws.0, after], |r| {
                    Ok(LeaseChange {
                        id: r.get(0)?,
                        workspace: ws,
                        partition: r.get(1)?,
                        owner: r.get(2)?,
                        previous: r.get(3)?,
                        token: r.get(4)?,
                        at: r.get(5)?,
                        reason: r.get(6)?,
                    })
                })
                .map_err(db_err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
        })
    }

    fn load_snapshot(&self, ws: WorkspaceId, name: &str) -> Result<Option<Snapshot>> {
        self.read(|c| {
            c.prepare_cached("SELECT seq, taken_at, data FROM snapshots WHERE workspace_id = ?1 AND name = ?2")
                .map_err(db_err)?
                .query_row(params![ws.0, name], |r| {
                    Ok(Snapshot { seq: r.get(0)?, taken_at: r.get(1)?, data: r.get(2)? })
                })
                .optional()
                .map_err(db_err)
        })
    }
}

fn schedule_in(tx: &rusqlite::Transaction<'_>, timers: &[NewTimer]) -> Result<()> {
    if timers.is_empty() {
        return Ok(());
    }
    // Ids come from a counter in `meta`: the table is clustered by due time, not by id.
    let mut next: i64 = tx
        .query_row("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'timer_seq'", [], |r| r.get(0))
        .map_err(db_err)?;
    {
        let mut stmt = tx
            .prepare_cached(
                "INSERT INTO timers (due_at, id, workspace_id, key, payload, profile_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (workspace_id, key) DO UPDATE
                 SET due_at = excluded.due_at, id = excluded.id, payload = excluded.payload,
                     profile_id = excluded.profile_id, leased_until = 0",
            )
            .map_err(db_err)?;
        for t in timers {
            next += 1;
            stmt.execute(params![t.due_at, next, t.workspace.0, t.key, t.payload, t.profile.map(|p| p.0)])
                .map_err(db_err)?;
        }
    }
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'timer_seq'", params![next.to_string()]).map_err(db_err)?;
    Ok(())
}

const OUTBOX_COLUMNS: &str = "id, workspace_id, key, profile_id, message_id, kind, template, source, payload, \
                              created_at, not_before, status, attempts, sent_at, detail";

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok(OutboxRow {
        id: r.get(0)?,
        workspace: WorkspaceId(r.get(1)?),
        key: r.get(2)?,
        profile: ProfileId(r.get(3)?),
        message_id: r.get(4)?,
        kind: r.get(5)?,
        template: r.get(6)?,
        source: r.get(7)?,
        payload: r.get(8)?,
        created_at: r.get(9)?,
        not_before: r.get(10)?,
        status: OutboxStatus::parse(&r.get::<_, String>(11)?),
        attempts: r.get(12)?,
        sent_at: r.get(13)?,
        detail: r.get(14)?,
    })
}

/// Makes `path` readable (and writable) by its owner only, where it exists;
/// failures are logged (a file system without modes).
fn private(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists()
            && let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        {
            tracing::warn!(path = %path.display(), error = %e, "could not make a data file private");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
