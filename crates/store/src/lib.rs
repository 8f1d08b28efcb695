//! Storage behind traits. The engine, journeys and insights talk to a
//! [`Store`]; only the backend crates (`store-sqlite`, `store-postgres`)
//! contain SQL.
//!
//! Architecture invariant: [`Store::append`] returns only after what it
//! reports as stored is durable, so the HTTP layer may acknowledge it.
//!
//! [`conformance`] holds the one suite both backends must pass.

pub mod conformance;
pub mod learnings;
pub mod upgrade;

/// Architecture invariant: store calls block (on a disk or a socket), so
/// none runs on an async runtime's worker thread: async code calls the
/// store through `spawn_blocking` (the server's `db` helper) or from a
/// thread of its own. Every backend call checks this in debug builds, so
/// any test that walks a path breaking the rule fails on either backend,
/// not only where PostgreSQL's blocking client would panic.
#[inline]
pub fn assert_may_block() {
    #[cfg(debug_assertions)]
    may_block::check();
}

#[cfg(debug_assertions)]
mod may_block {
    use std::cell::RefCell;

    thread_local! {
        static PROBE: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
    }

    /// A thread may block when it could start a runtime of its own: the
    /// check tokio makes, and the one the PostgreSQL client trips over.
    pub fn check() {
        if tokio::runtime::Handle::try_current().is_err() {
            return; // no runtime around at all: a plain thread
        }
        let entered = PROBE.with(|probe| {
            let mut probe = probe.borrow_mut();
            let rt = probe
                .get_or_insert_with(|| tokio::runtime::Builder::new_current_thread().build().expect("a probe runtime"));
            // Only a broken rule panics here (tokio's own message is printed
            // before ours); the panic hook is left alone, it is global.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(async {}))).is_err()
        });
        assert!(
            !entered,
            "a blocking store call ran on an async worker thread: call the store through \
             spawn_blocking (the server's `db` helper) or from a thread of its own (ARCHITECTURE.md, Invariants)"
        );
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    #[test]
    #[should_panic(expected = "a blocking store call ran on an async worker thread")]
    fn a_store_call_on_an_async_worker_is_refused() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        rt.block_on(async { super::assert_may_block() });
    }

    #[test]
    fn a_store_call_through_spawn_blocking_or_on_a_plain_thread_may_block() {
        super::assert_may_block();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        rt.block_on(async { tokio::task::spawn_blocking(super::assert_may_block).await.unwrap() });
        let _inside = rt.enter();
        std::thread::spawn(super::assert_may_block).join().unwrap();
    }
}

use serde::Serialize;
use std::collections::BTreeMap;
use tidings_model::{KeyKind, Message, Micros, ProfileId, StoredEvent, WorkspaceId, traits::Traits};

/// Storage failures. Backends map their driver errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Database(String),
    /// The data folder or database is in use by another process.
    #[error("{0}")]
    Locked(String),
    /// The stored schema is newer than this binary understands.
    #[error("schema version {found} is newer than this binary's {supported}; upgrade tidings")]
    SchemaTooNew { found: i64, supported: i64 },
    /// Something asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A name or key that must be unique is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// A write under a [`Fence`] found that the node no longer holds one of
    /// its partitions with that token (another node took it over): nothing
    /// was written.
    #[error("fenced: {0}")]
    Fenced(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    pub id: i64,
    pub workspace: WorkspaceId,
    pub kind: KeyKind,
    pub label: String,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
}

/// A profile as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    pub id: ProfileId,
    pub workspace: WorkspaceId,
    /// The main user id; `None` while the profile is anonymous.
    pub user_id: Option<String>,
    pub user_ids: Vec<String>,
    pub anonymous_ids: Vec<String>,
    pub traits: Traits,
    pub created_at: Micros,
}

impl Profile {
    /// The id to show: the main user id, else the first anonymous id.
    pub fn display_id(&self) -> Option<String> {
        self.user_id.clone().or_else(|| self.anonymous_ids.first().cloned())
    }
}

/// What happened to one appended message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Newly stored at this log position, for this profile.
    Stored { seq: i64, profile: ProfileId },
    /// Its `messageId` was already stored in this workspace.
    Duplicate,
}

/// Messages of one workspace to append together.
#[derive(Debug, Clone)]
pub struct AppendBatch {
    pub workspace: WorkspaceId,
    pub messages: Vec<Message>,
}

/// The result of an append: one outcome per message, and the profiles that
/// were merged (`from` into `into`) so the engine can rebuild them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppendResult {
    pub outcomes: Vec<Vec<Outcome>>,
    pub merges: Vec<(WorkspaceId, ProfileId, ProfileId)>,
    pub trait_changes: Vec<(WorkspaceId, ProfileId)>,
}

/// An identity merge as the log records it: at log position `seq` (the
/// newest of the append that made it), `from` was folded into `into`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Merge {
    pub seq: i64,
    pub from: ProfileId,
    pub into: ProfileId,
}

/// A node's claim to act for partitions of a workspace. A write under it
/// ([`Store::append_fenced`]) commits only if, inside its transaction, the
/// node still holds every one of `held` with that token and an unexpired
/// lease at `now`: a node that lost a partition (paused past its lease,
/// say) can no longer commit effects for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub workspace: WorkspaceId,
    pub node: String,
    /// (partition, token) pairs.
    pub held: Vec<(u32, i64)>,
    pub now: Micros,
}

impl Fence {
    /// The error for a fence that found only `kept` of its partitions held.
    pub fn refused(&self, kept: &[u32]) -> StoreError {
        let lost: Vec<String> =
            self.held.iter().filter(|(p, _)| !kept.contains(p)).map(|(p, _)| p.to_string()).collect();
        StoreError::Fenced(format!(
            "node {} no longer holds partition(s) {} of workspace {}; another node took them over",
            self.node,
            lost.join(", "),
            self.workspace.0
        ))
    }
}

/// A live node as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    pub id: String,
    /// Where its API answers (`http://host:port`), when it said.
    pub address: Option<String>,
    pub seen_at: Micros,
}

/// A saved engine state and the log position it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Every event with `seq <= seq` is reflected in `data`.
    pub seq: i64,
    pub taken_at: Micros,
    pub data: Vec<u8>,
}

/// A timer to schedule: work for `key` due at `due_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTimer {
    pub workspace: WorkspaceId,
    /// Unique among the workspace's pending timers; scheduling a pending key again moves it.
    pub key: String,
    pub due_at: Micros,
    /// What to do, in the owner's format (JSON).
    pub payload: String,
    /// The person it is for: the owner of their partition fires it
    /// (`None`: workspace-wide, fired by the owner of partition 0).
    pub profile: Option<ProfileId>,
}

/// A pending timer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub id: i64,
    pub workspace: WorkspaceId,
    pub key: String,
    pub due_at: Micros,
    pub payload: String,
}

/// A message to send, as a journey step or broadcast asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutbox {
    pub workspace: WorkspaceId,
    /// Idempotency key of what asked for it (journey, profile, entry, step).
    pub key: String,
    pub profile: ProfileId,
    /// The RFC 5322 Message-ID every attempt uses.
    pub message_id: String,
    /// `marketing` or `transactional`.
    pub kind: String,
    pub template: String,
    /// What asked for it, e.g. `journey:cart_abandonment:remind`.
    pub source: String,
    /// What the renderer needs (JSON).
    pub payload: String,
    pub not_before: Micros,
}

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Sent,
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> OutboxStatus {
        match s {
            "sent" => OutboxStatus::Sent,
            "failed" => OutboxStatus::Failed,
            _ => OutboxStatus::Pending,
        }
    }
}

/// An outbox message as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub workspace: WorkspaceId,
    pub key: String,
    pub profile: ProfileId,
    pub message_id: String,
    pub kind: String,
    pub template: String,
    pub source: String,
    pub payload: String,
    pub created_at: Micros,
    pub not_before: Micros,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub sent_at: Option<Micros>,
    pub detail: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Accepted by the receiving server.
    Sent { at: Micros, detail: String },
    /// A transient failure: try again at `at`.
    Retry { at: Micros, detail: String },
    /// A permanent failure (bounce): never again.
    Failed { detail: String },
}

/// A recorded send decision ("why was this not sent?").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SendDecision {
    pub key: String,
    pub at: Micros,
    /// `send`, `defer` or `skip`.
    pub decision: String,
    pub reason: String,
}

/// A journey instance as stored: the state machine's state, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceRecord {
    pub workspace: WorkspaceId,
    pub journey: String,
    pub profile: ProfileId,
    /// 1 for the profile's first entry into the journey, then 2, ...
    pub entry: i64,
    pub entry_key: Option<String>,
    pub entered_at: Micros,
    pub done: bool,
    pub state: String,
    pub updated_at: Micros,
}

/// How many partitions a workspace's profiles fall into. Fixed: a
/// partition is the unit a node owns, and changing the count would move
/// profiles between partitions.
pub const PARTITIONS: u32 = 64;

/// The partition of a profile: a hash of its id, so that however the ids
/// fall (PostgreSQL hands them out in blocks, and a batch leaves part of its
/// block unused, so ids of one-person requests can all be 1 more than a
/// multiple of 64) the partitions stay even. Multiplying by 40503 modulo the
/// prime 65521 visits every residue for any stride the ids have, cannot
/// overflow for the 32-bit ids the engine takes, and is the same in SQL
/// ([`PARTITION_SQL`]).
pub fn partition_of(profile: ProfileId) -> u32 {
    (profile.0.rem_euclid(1 << 32) * 40_503 % 65_521 % i64::from(PARTITIONS)) as u32
}

/// [`partition_of`] in SQL, of the column `profile_id` (a NULL as 0), for
/// both backends.
pub const PARTITION_SQL: &str = "(coalesce(profile_id, 0) * 40503 % 65521 % 64)";

/// A set of partitions as one number (bit `p` for partition `p`), as the
/// claims of timers and messages take it: SQL tests a row's bit with
/// `(mask >> PARTITION_SQL) & 1`.
pub fn partition_mask(partitions: impl IntoIterator<Item = u32>) -> i64 {
    partitions.into_iter().filter(|&p| p < PARTITIONS).fold(0u64, |m, p| m | 1 << p) as i64
}

/// A node's lease on one partition of a workspace. The fencing `token`
/// grows by one each time the partition changes owner, so a node that lost
/// it (and did not notice) holds a token that no longer matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub workspace: WorkspaceId,
    pub partition: u32,
    /// `None`: released, free for any node.
    pub owner: Option<String>,
    pub token: i64,
    pub expires_at: Micros,
}

/// A change of a partition's owner, as recorded (for operators and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseChange {
    pub id: i64,
    pub workspace: WorkspaceId,
    pub partition: u32,
    /// The new owner; `None` when released.
    pub owner: Option<String>,
    pub previous: Option<String>,
    pub token: i64,
    pub at: Micros,
    /// `new` (never owned), `free` (released before), `expired` (the last
    /// owner's lease ran out) or `released` (handed back by its owner).
    pub reason: String,
}

/// What [`Store::acquire_partition`] does with a partition whose lease row
/// reads `current` (owner, token, expiry; `None` when there is no row):
/// `Some((token, reason))` to take or keep it with that token (`reason`
/// is what to record when the owner changes), `None` to leave it. Both
/// backends decide with this, inside the transaction that locks the row.
pub fn lease_decision(
    current: Option<(Option<&str>, i64, Micros)>,
    node: &str,
    now: Micros,
) -> Option<(i64, Option<&'static str>)> {
    match current {
        None => Some((1, Some("new"))),
        Some((Some(owner), token, _)) if owner == node => Some((token, None)),
        Some((None, 0, _)) => Some((1, Some("new"))),
        Some((None, token, _)) => Some((token + 1, Some("free"))),
        Some((Some(_), token, expires)) if expires <= now => Some((token + 1, Some("expired"))),
        Some(_) => None,
    }
}

/// Counts for status pages and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub events: i64,
    pub profiles: i64,
    pub last_seq: i64,
}

/// Everything the rest of Tidings needs from storage. Implementations are
/// synchronous; async callers run them on a blocking thread.
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    // Workspaces and keys.
    fn create_workspace(&self, name: &str, now: Micros) -> Result<Workspace>;
    fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>>;
    fn workspaces(&self) -> Result<Vec<Workspace>>;
    /// Stores a key by its hash (see `tidings_model::keys::hash`).
    fn add_key(&self, ws: WorkspaceId, kind: KeyKind, hash: &str, label: &str, now: Micros) -> Result<KeyRecord>;
    fn revoke_key(&self, id: i64, now: Micros) -> Result<bool>;
    fn keys(&self, ws: Option<WorkspaceId>) -> Result<Vec<KeyRecord>>;
    /// The active key with this hash.
    fn find_key(&self, hash: &str) -> Result<Option<KeyRecord>>;

    // The event log and profiles.
    /// Appends in one transaction: deduplicates by `(workspace, messageId)`,
    /// resolves identity, merges traits. Durable when it returns.
    fn append(&self, batches: &[AppendBatch]) -> Result<AppendResult>;
    /// [`Store::append`] for messages that can be derived again from the
    /// log (the segment engine's changes): committed in order after
    /// everything before them, without waiting for the disk. A crash of the
    /// machine may lose the newest such appends, but never one that a later
    /// durable commit follows (both backends write one ordered log), so
    /// nothing that acted on them durably can outlive them.
    fn append_derived(&self, batches: &[AppendBatch]) -> Result<AppendResult> {
        self.append(batches)
    }
    /// [`Store::append_derived`] under `fence`: nothing is stored, and the
    /// error is [`StoreError::Fenced`], unless the fence holds inside the
    /// same transaction.
    fn append_fenced(&self, batches: &[AppendBatch], fence: &Fence) -> Result<AppendResult>;
    /// Identity merges recorded at log positions in `(after, upto]`, in log order.
    fn merges_between(&self, ws: WorkspaceId, after: i64, upto: i64) -> Result<Vec<Merge>>;
    /// The live profile named by a user id, else by an anonymous id.
    fn find_profile(&self, ws: WorkspaceId, external_id: &str) -> Result<Option<Profile>>;
    fn profile(&self, ws: WorkspaceId, id: ProfileId) -> Result<Option<Profile>>;
    /// Live (not merged away) profile ids after `after`, ascending: for backfills.
    fn profile_ids(&self, ws: WorkspaceId, after: ProfileId, limit: usize) -> Result<Vec<ProfileId>>;
    /// A profile's events, newest first by event time; `before` continues a
    /// page from the (timestamp, seq) of the last event seen.
    fn profile_events(
        &self,
        ws: WorkspaceId,
        id: ProfileId,
        before: Option<(Micros, i64)>,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;
    /// A profile's whole history, oldest first by event time then arrival.
    fn profile_history(&self, ws: WorkspaceId, id: ProfileId) -> Result<Vec<StoredEvent>>;
    /// The histories of `ids`, each as [`Store::profile_history`] gives it,
    /// in the order of `ids`. A backend where a query costs a round trip
    /// reads them in one; the default reads them one by one.
    fn profile_histories(&self, ws: WorkspaceId, ids: &[ProfileId]) -> Result<Vec<Vec<StoredEvent>>> {
        ids.iter().map(|&id| self.profile_history(ws, id)).collect()
    }
    /// The log in arrival order, after `after_seq`.
    fn scan(&self, ws: WorkspaceId, after_seq: i64, limit: usize) -> Result<Vec<StoredEvent>>;
    /// First and latest activity time (track, page, screen; not engine events).
    fn activity_bounds(&self, ws: WorkspaceId, id: ProfileId) -> Result<Option<(Micros, Micros)>>;
    /// Distinct event names seen in the workspace (for rule checking).
    fn event_names(&self, ws: WorkspaceId) -> Result<Vec<String>>;
    fn stats(&self, ws: WorkspaceId) -> Result<StoreStats>;

    // Snapshots of derived state (the engine's), so a restart replays only what came after.
    /// Saves the snapshot `name`, replacing the previous one.
    fn save_snapshot(&self, ws: WorkspaceId, name: &str, snapshot: &Snapshot) -> Result<()>;
    fn load_snapshot(&self, ws: WorkspaceId, name: &str) -> Result<Option<Snapshot>>;

    // Durable timers. Firing is at least once: a runner claims due timers
    // for a lease, records their effects under idempotency keys, then
    // completes them; a runner that dies lets the lease run out and another
    // fires them again.
    /// Schedules timers; a key already pending in its workspace is moved to the new time and payload.
    fn schedule_timers(&self, timers: &[NewTimer]) -> Result<()>;
    /// Claims up to `limit` timers due at `now` that no live lease holds, earliest first,
    /// leasing them until `lease_until`: those of workspace `ws`, or of every
    /// workspace when `None` (each workspace's runner claims only its own).
    fn claim_due_timers(
        &self,
        ws: Option<WorkspaceId>,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        partitions: Option<i64>,
    ) -> Result<Vec<Timer>>;
    /// Deletes fired timers and schedules their follow-ups, in one transaction. A
    /// timer that was moved (scheduled again) since it was claimed stays.
    fn complete_timers(&self, fired: &[Timer], then: &[NewTimer]) -> Result<()>;
    /// Cancels a pending timer by key; whether there was one.
    fn cancel_timer(&self, ws: WorkspaceId, key: &str) -> Result<bool>;
    /// The earliest due time of any pending timer (for sleeping until then).
    fn next_timer_due(&self) -> Result<Option<Micros>>;
    /// Pending timers of a workspace.
    fn pending_timers(&self, ws: WorkspaceId) -> Result<i64>;

    // The outbox.
    /// Records messages to send; one whose key the workspace already has is
    /// not added again. Returns, per item, whether it was new.
    fn enqueue(&self, items: &[NewOutbox], now: Micros) -> Result<Vec<bool>>;
    /// Claims up to `limit` pending messages due by `now` that no live lease
    /// holds, leasing them until `lease_until` and counting the attempt: those
    /// of workspace `ws`, or of every workspace when `None`.
    fn claim_outbox(
        &self,
        ws: Option<WorkspaceId>,
        now: Micros,
        lease_until: Micros,
        limit: usize,
        partitions: Option<i64>,
    ) -> Result<Vec<OutboxRow>>;
    /// Records how an attempt ended.
    fn finish_outbox(&self, id: i64, delivery: &Delivery) -> Result<()>;
    /// A profile's messages, newest first.
    fn outbox_for_profile(&self, ws: WorkspaceId, profile: ProfileId, limit: usize) -> Result<Vec<OutboxRow>>;
    /// When marketing messages were sent to a profile since `since` (for caps).
    fn marketing_sent_since(&self, ws: WorkspaceId, profile: ProfileId, since: Micros) -> Result<Vec<Micros>>;
    /// Records a policy decision about a send.
    fn record_decision(&self, ws: WorkspaceId, profile: ProfileId, decision: &SendDecision) -> Result<()>;
    /// A profile's recent decisions, newest first.
    fn decisions_for_profile(&self, ws: WorkspaceId, profile: ProfileId, limit: usize) -> Result<Vec<SendDecision>>;

    // Journey instances.
    /// Inserts or replaces the instance (journey, profile, entry).
    fn save_instance(&self, instance: &InstanceRecord) -> Result<()>;
    /// A profile's instances of every journey, oldest entry first.
    fn instances_for_profile(&self, ws: WorkspaceId, profile: ProfileId) -> Result<Vec<InstanceRecord>>;

    // Nodes and partition leases: several nodes share one database, each
    // partition of a workspace owned by at most one live lease.
    /// Records that `node` is alive at `now`; returns the nodes seen at or
    /// after `live_since` (this one included), by id.
    /// `address` is where its API answers, for the other nodes.
    fn node_heartbeat(&self, node: &str, address: Option<&str>, now: Micros, live_since: Micros)
    -> Result<Vec<String>>;
    /// The nodes seen at or after `live_since`, by id.
    fn nodes(&self, live_since: Micros) -> Result<Vec<NodeInfo>>;
    /// Forgets `node` (a graceful stop).
    fn node_leave(&self, node: &str) -> Result<()>;
    /// Every partition of `ws` that has ever been leased, by partition.
    fn partition_leases(&self, ws: WorkspaceId) -> Result<Vec<Lease>>;
    /// Takes the partition for `node` until `until` when it is free, its
    /// lease expired by `now`, or `node` holds it already (then the lease
    /// is extended and the token kept); `None` when another node holds a
    /// live lease. A change of owner raises the token and is recorded.
    fn acquire_partition(
        &self,
        ws: WorkspaceId,
        partition: u32,
        node: &str,
        now: Micros,
        until: Micros,
    ) -> Result<Option<Lease>>;
    /// Extends the leases `node` still holds with these tokens (and that
    /// have not expired by `now`) to `until`; returns the partitions renewed.
    fn renew_partitions(
        &self,
        ws: WorkspaceId,
        node: &str,
        held: &[(u32, i64)],
        now: Micros,
        until: Micros,
    ) -> Result<Vec<u32>>;
    /// Hands partitions back at once (a graceful stop, or a share given up
    /// to a node that joined), if `node` still holds them with these tokens.
    fn release_partitions(&self, ws: WorkspaceId, node: &str, held: &[(u32, i64)], now: Micros) -> Result<()>;
    /// Changes of owner after change `after`, oldest first.
    fn lease_changes(&self, ws: WorkspaceId, after: i64) -> Result<Vec<LeaseChange>>;
    /// Notes, on each lease of `fence` the node still holds with its token
    /// (unexpired at `fence.now`), that every segment change of the
    /// partition up to log position `seq` and engine time `at` is recorded;
    /// returns how many leases were marked. A node that takes the
    /// partition over computes its memberships there as the baseline of
    /// what to record ([`Store::recorded_positions`]).
    fn mark_recorded(&self, fence: &Fence, seq: i64, at: Micros) -> Result<usize>;
    /// The last position marked recorded per partition of `ws`, as
    /// `(log position, engine time)`; partitions never marked are absent.
    fn recorded_positions(&self, ws: WorkspaceId) -> Result<BTreeMap<u32, (i64, Micros)>>;
}
