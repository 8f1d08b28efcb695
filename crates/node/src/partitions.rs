//! Partitions and their leases: which of a workspace's profiles this node
//! works on when several nodes share one database.
//!
//! Each workspace's profiles fall into [`PARTITIONS`] partitions
//! ([`tidings_store::partition_of`]). A node holds a partition through a
//! lease in the store, renewed every round; the store's fencing token grows
//! with every change of owner. Every round a [`Leaser`] announces its node
//! (a heartbeat), renews what it holds, and moves toward its fair share:
//! with `N` live nodes sorted by id, the node at index `i` aims for
//! `64 / N` partitions, one more when `i < 64 % N`. A node over its share
//! releases the extra (so a joining node gets its share within a round or
//! two); a node under it takes partitions that are free or whose lease ran
//! out (so a dead node's partitions move once its lease expires). A
//! graceful stop releases everything at once.
//!
//! What a node holds is valid, in its own eyes, only until the lease it
//! last renewed would run out ([`Ownership::owns`] checks the clock): a
//! node paused past its lease (SIGSTOP, a long GC-like stall) knows on
//! waking that it holds nothing, before it does anything. The token is
//! the store's side of the same rule.

use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tidings_model::{Clock, Micros, ProfileId, WorkspaceId};
use tidings_store::{PARTITIONS, Store, StoreError, partition_of};

/// How long a lease lasts and how often it is renewed.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// This node's id, unique among the nodes sharing the database.
    pub node: String,
    /// A lease not renewed for this long is free for another node: how long
    /// a dead node's partitions wait.
    pub ttl: Duration,
    /// Time between rounds; well under `ttl` (a third of it by default).
    pub every: Duration,
    /// Where this node's API answers, for the other nodes (`http://host:port`).
    pub address: Option<String>,
}

impl LeaseSettings {
    pub fn new(node: impl Into<String>) -> LeaseSettings {
        LeaseSettings { node: node.into(), ttl: Duration::from_secs(6), every: Duration::from_secs(2), address: None }
    }
    fn ttl_micros(&self) -> Micros {
        self.ttl.as_micros() as Micros
    }
}

/// The fair share of partitions of the node at `index` among `nodes` live nodes.
pub fn fair_share(index: usize, nodes: usize) -> usize {
    let (p, n) = (PARTITIONS as usize, nodes.max(1));
    p / n + usize::from(index < p % n)
}

/// What this node holds, shared with the threads that act on partitions.
#[derive(Debug, Default)]
pub struct Ownership {
    inner: RwLock<Held>,
}

#[derive(Debug, Default)]
struct Held {
    /// (workspace, partition) → fencing token.
    tokens: BTreeMap<(WorkspaceId, u32), i64>,
    /// The holdings are good until then (the clock's time).
    valid_until: Micros,
}

impl Ownership {
    /// Whether this node may act on `profile` at `now`: it holds the
    /// profile's partition and its lease has not run out.
    pub fn owns(&self, ws: WorkspaceId, profile: ProfileId, now: Micros) -> bool {
        self.token(ws, partition_of(profile), now).is_some()
    }

    /// The fencing token of a partition held at `now`.
    pub fn token(&self, ws: WorkspaceId, partition: u32, now: Micros) -> Option<i64> {
        let held = self.inner.read();
        if now >= held.valid_until {
            return None;
        }
        held.tokens.get(&(ws, partition)).copied()
    }

    /// The partitions of `ws` held at `now`, with their tokens.
    pub fn held(&self, ws: WorkspaceId, now: Micros) -> Vec<(u32, i64)> {
        let held = self.inner.read();
        if now >= held.valid_until {
            return Vec::new();
        }
        held.tokens.range((ws, 0)..(ws, PARTITIONS)).map(|(&(_, p), &t)| (p, t)).collect()
    }
}

/// What a round did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// The live nodes, this one included.
    pub nodes: Vec<String>,
    pub acquired: Vec<(WorkspaceId, u32)>,
    pub released: Vec<(WorkspaceId, u32)>,
    /// Held before the round but not renewed: another node took them.
    pub lost: Vec<(WorkspaceId, u32)>,
}

/// Keeps one node's leases: [`Leaser::round`] by hand, or [`Leaser::spawn`].
pub struct Leaser {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: LeaseSettings,
    workspaces: Vec<WorkspaceId>,
    ownership: Arc<Ownership>,
}

impl Leaser {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: LeaseSettings,
        workspaces: Vec<WorkspaceId>,
    ) -> Leaser {
        Leaser { store, clock, settings, workspaces, ownership: Arc::default() }
    }

    pub fn ownership(&self) -> Arc<Ownership> {
        self.ownership.clone()
    }

    pub fn node(&self) -> &str {
        &self.settings.node
    }

    /// Heartbeat, renew, then move toward the fair share.
    pub fn round(&self) -> Result<Round, StoreError> {
        let node = self.settings.node.as_str();
        let ttl = self.settings.ttl_micros();
        let now = self.clock.now();
        let until = now + ttl;
        let nodes = self.store.node_heartbeat(node, self.settings.address.as_deref(), now, now - ttl)?;
        let index = nodes.iter().position(|n| n == node).unwrap_or(nodes.len());
        let share = fair_share(index, nodes.len().max(index + 1));
        let mut round = Round { nodes, ..Round::default() };
        let previous = self.ownership.inner.read().tokens.clone();
        let mut tokens = BTreeMap::new();
        for &ws in &self.workspaces {
            let held: Vec<(u32, i64)> = previous.range((ws, 0)..(ws, PARTITIONS)).map(|(&(_, p), &t)| (p, t)).collect();
            // Nothing held, nothing to renew: no write transaction per idle workspace each round.
            let renewed =
                if held.is_empty() { Vec::new() } else { self.store.renew_partitions(ws, node, &held, now, until)? };
            let mut mine: Vec<(u32, i64)> = held.iter().copied().filter(|(p, _)| renewed.contains(p)).collect();
            round.lost.extend(held.iter().filter(|(p, _)| !renewed.contains(p)).map(|&(p, _)| (ws, p)));
            if mine.len() > share {
                let extra = mine.split_off(share);
                self.store.release_partitions(ws, node, &extra, now)?;
                round.released.extend(extra.iter().map(|&(p, _)| (ws, p)));
            }
            if mine.len() < share {
                let leases = self.store.partition_leases(ws)?;
                let live = |p: u32| leases.iter().any(|l| l.partition == p && l.owner.is_some() && l.expires_at > now);
                for p in 0..PARTITIONS {
                    if mine.len() >= share {
                        break;
                    }
                    if live(p) || mine.iter().any(|&(q, _)| q == p) {
                        continue;
                    }
                    if let Some(lease) = self.store.acquire_partition(ws, p, node, now, until)? {
                        mine.push((p, lease.token));
                        round.acquired.push((ws, p));
                    }
                }
            }
            tokens.extend(mine.into_iter().map(|(p, t)| ((ws, p), t)));
        }
        for (ws, p) in &round.lost {
            tracing::warn!(node, workspace = ws.0, partition = p, "partition lost to another node");
        }
        if !round.acquired.is_empty() || !round.released.is_empty() {
            tracing::info!(
                node,
                acquired = round.acquired.len(),
                released = round.released.len(),
                held = tokens.len(),
                nodes = round.nodes.len(),
                "partition ownership changed"
            );
        }
        // Good until the leases just renewed run out, less a round's margin.
        let valid_until = until - self.settings.every.as_micros() as Micros;
        *self.ownership.inner.write() = Held { tokens, valid_until };
        Ok(round)
    }

    /// Hands every partition back and leaves (a graceful stop): the other
    /// nodes take them on their next round.
    pub fn release_all(&self) -> Result<(), StoreError> {
        let node = self.settings.node.as_str();
        let now = self.clock.now();
        let held = std::mem::take(&mut *self.ownership.inner.write());
        for &ws in &self.workspaces {
            let mine: Vec<(u32, i64)> =
                held.tokens.range((ws, 0)..(ws, PARTITIONS)).map(|(&(_, p), &t)| (p, t)).collect();
            if !mine.is_empty() {
                self.store.release_partitions(ws, node, &mine, now)?;
            }
        }
        self.store.node_leave(node)
    }

    /// Runs rounds every `every` on a thread of its own until `stop`, then
    /// releases everything.
    pub fn spawn(self, stop: Arc<AtomicBool>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("leases".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = self.round() {
                    tracing::warn!(node = %self.settings.node, error = %e, "lease round failed; trying again");
                }
                let mut slept = Duration::ZERO;
                while slept < self.settings.every && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    slept += Duration::from_millis(50);
                }
            }
            if let Err(e) = self.release_all() {
                tracing::warn!(node = %self.settings.node, error = %e, "could not hand partitions back; they free themselves when the leases run out");
            }
        })
    }
}
