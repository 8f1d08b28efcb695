//! Partition leases among several nodes sharing one store: every partition
//! owned by exactly one node once they settle, a fair share each; a node
//! that joins gets its share, one that stops hands over at once, one that
//! dies (or is paused past its lease) loses its partitions to the others
//! and, on waking, holds nothing and can renew nothing. On SQLite here
//! (several leasers in one process share the store); the same store calls
//! pass the conformance suite on PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tidings_model::{Clock, ProfileId, SimClock, WorkspaceId};
use tidings_node::partitions::{LeaseSettings, Leaser, fair_share};
use tidings_store::{PARTITIONS, Store};
use tidings_store_sqlite::{Durability, Mode, SqliteStore};

const T0: i64 = 1_767_225_600_000_000;
const SEC: i64 = 1_000_000;

struct Cluster {
    store: Arc<dyn Store>,
    clock: SimClock,
    ws: Vec<WorkspaceId>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn new() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path(), Mode::ReadWrite, Durability::Process).unwrap());
        let ws = vec![store.create_workspace("a", T0).unwrap().id, store.create_workspace("b", T0).unwrap().id];
        Cluster { store, clock: SimClock::new(T0), ws, _dir: dir }
    }

    fn node(&self, name: &str) -> Leaser {
        // The defaults: leases of 6 s renewed every 2 s, which `rounds` steps through.
        let settings = LeaseSettings::new(name);
        assert_eq!((settings.ttl, settings.every), (Duration::from_secs(6), Duration::from_secs(2)));
        Leaser::new(self.store.clone(), Arc::new(self.clock.clone()), settings, self.ws.clone())
    }

    /// Rounds of every running node, two seconds apart.
    fn rounds(&self, nodes: &[&Leaser], n: usize) {
        for _ in 0..n {
            for node in nodes {
                node.round().unwrap();
            }
            self.clock.advance_by(2 * SEC);
        }
    }

    /// Owner of every partition of every workspace, as the nodes see it now.
    fn owners(&self, nodes: &[&Leaser]) -> BTreeMap<(WorkspaceId, u32), Vec<String>> {
        let now = self.clock.now();
        let mut owners: BTreeMap<(WorkspaceId, u32), Vec<String>> = BTreeMap::new();
        for node in nodes {
            for &ws in &self.ws {
                for (p, _) in node.ownership().held(ws, now) {
                    owners.entry((ws, p)).or_default().push(node.node().to_string());
                }
            }
        }
        owners
    }

    /// Every partition has exactly one owner, and each node its fair share.
    fn settled(&self, nodes: &[&Leaser]) {
        let owners = self.owners(nodes);
        assert_eq!(owners.len(), self.ws.len() * PARTITIONS as usize, "every partition owned: {owners:?}");
        assert!(owners.values().all(|o| o.len() == 1), "one owner each: {owners:?}");
        let mut names: Vec<&str> = nodes.iter().map(|n| n.node()).collect();
        names.sort_unstable();
        for (i, name) in names.iter().enumerate() {
            for &ws in &self.ws {
                let held = owners.iter().filter(|((w, _), o)| *w == ws && o[0] == *name).count();
                assert_eq!(held, fair_share(i, names.len()), "{name} in workspace {ws:?}");
            }
        }
    }
}

#[test]
fn fair_shares_add_up() {
    for n in 1..=10 {
        assert_eq!((0..n).map(|i| fair_share(i, n)).sum::<usize>(), PARTITIONS as usize);
    }
    assert_eq!((fair_share(0, 3), fair_share(1, 3), fair_share(2, 3)), (22, 21, 21));
}

#[test]
fn three_nodes_share_the_partitions_and_a_fourth_gets_its_share() {
    let c = Cluster::new();
    let (a, b, d) = (c.node("node-a"), c.node("node-b"), c.node("node-c"));
    c.rounds(&[&a, &b, &d], 4);
    c.settled(&[&a, &b, &d]);
    let e = c.node("node-d");
    c.rounds(&[&a, &b, &d, &e], 4);
    c.settled(&[&a, &b, &d, &e]);
    // Every change is in the record, the fencing tokens rising with each.
    let changes = c.store.lease_changes(c.ws[0], 0).unwrap();
    assert!(changes.iter().any(|ch| ch.owner.as_deref() == Some("node-d")));
    assert!(changes.iter().any(|ch| ch.reason == "released"), "the three gave up partitions to the fourth");
    let mut last: BTreeMap<u32, i64> = BTreeMap::new();
    for ch in &changes {
        let before = last.insert(ch.partition, ch.token).unwrap_or(0);
        assert!(ch.token >= before, "{ch:?}");
    }
}

#[test]
fn a_graceful_stop_hands_over_in_one_round() {
    let c = Cluster::new();
    let (a, b, d) = (c.node("node-a"), c.node("node-b"), c.node("node-c"));
    c.rounds(&[&a, &b, &d], 4);
    d.release_all().unwrap();
    c.rounds(&[&a, &b], 1);
    c.settled(&[&a, &b]);
}

#[test]
fn a_dead_or_paused_node_loses_its_partitions_and_knows_it() {
    let c = Cluster::new();
    let (a, b, d) = (c.node("node-a"), c.node("node-b"), c.node("node-c"));
    c.rounds(&[&a, &b, &d], 4);
    let held_by_c = d.ownership().held(c.ws[0], c.clock.now());
    assert_eq!(held_by_c.len(), 21);
    let profile = (1..).map(ProfileId).find(|&p| tidings_store::partition_of(p) == held_by_c[0].0).unwrap();
    assert!(d.ownership().owns(c.ws[0], profile, c.clock.now()));
    // node-c stops answering (killed, or paused); the others go on.
    c.rounds(&[&a, &b], 1);
    assert!(!a.ownership().owns(c.ws[0], profile, c.clock.now()), "not before node-c's lease runs out");
    c.rounds(&[&a, &b], 4);
    c.settled(&[&a, &b]);
    // Woken, node-c holds nothing before its next round, and that round
    // renews nothing: it takes no partition another node holds.
    assert!(!d.ownership().owns(c.ws[0], profile, c.clock.now()));
    assert!(d.ownership().held(c.ws[0], c.clock.now()).is_empty());
    let round = d.round().unwrap();
    assert_eq!(round.lost.len(), 2 * 21, "{round:?}");
    assert!(round.acquired.is_empty(), "every partition is held by a live lease: {round:?}");
    // With node-c back among the living, the three settle again.
    c.rounds(&[&a, &b, &d], 4);
    c.settled(&[&a, &b, &d]);
}
