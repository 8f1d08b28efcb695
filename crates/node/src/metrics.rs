//! Counters for `/metrics`, in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the commit-latency histogram, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub unauthorized: AtomicU64,
    commits: AtomicU64,
    commit_micros: AtomicU64,
    committed_messages: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

impl Metrics {
    pub fn observe_commit(&self, took: Duration, messages: usize) {
        self.commits.fetch_add(1, Relaxed);
        self.commit_micros.fetch_add(took.as_micros() as u64, Relaxed);
        self.committed_messages.fetch_add(messages as u64, Relaxed);
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let c = |v: &AtomicU64| v.load(Relaxed);
        let _ = writeln!(s, "# HELP tidings_ingest_requests_total Ingest requests received.");
        let _ = writeln!(s, "# TYPE tidings_ingest_requests_total counter");
        let _ = writeln!(s, "tidings_ingest_requests_total {}", c(&self.requests));
        let _ = writeln!(s, "# HELP tidings_ingest_messages_total Messages by outcome.");
        let _ = writeln!(s, "# TYPE tidings_ingest_messages_total counter");
        for (label, v) in [("stored", &self.stored), ("duplicate", &self.duplicates), ("rejected", &self.rejected)] {
            let _ = writeln!(s, "tidings_ingest_messages_total{{outcome=\"{label}\"}} {}", c(v));
        }
        let _ = writeln!(s, "# HELP tidings_unauthorized_total Requests refused for a missing or wrong key.");
        let _ = writeln!(s, "# TYPE tidings_unauthorized_total counter");
        let _ = writeln!(s, "tidings_unauthorized_total {}", c(&self.unauthorized));
        let _ = writeln!(s, "# HELP tidings_commit_seconds Durable commits of the event log (group commit).");
        let _ = writeln!(s, "# TYPE tidings_commit_seconds histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(s, "tidings_commit_seconds_bucket{{le=\"{b}\"}} {}", c(&self.buckets[i]));
        }
        let _ = writeln!(s, "tidings_commit_seconds_bucket{{le=\"+Inf\"}} {}", c(&self.commits));
        let _ = writeln!(s, "tidings_commit_seconds_sum {}", c(&self.commit_micros) as f64 / 1e6);
        let _ = writeln!(s, "tidings_commit_seconds_count {}", c(&self.commits));
        let _ = writeln!(s, "# HELP tidings_committed_messages_total Messages written by commits.");
        let _ = writeln!(s, "# TYPE tidings_committed_messages_total counter");
        let _ = writeln!(s, "tidings_committed_messages_total {}", c(&self.committed_messages));
        s
    }
}
