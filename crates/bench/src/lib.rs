//! Shared pieces of the macro benchmarks (see `BENCHMARKS.md`).

use std::path::PathBuf;
use std::time::Duration;
use tidings_testkit::{MessageType, SimMessage, bench_events};

/// The simulated window the benchmark events fall in.
pub const START: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
pub const SPAN: i64 = 30 * 86_400_000_000;

/// `n` simulated track events (identify and page messages of the stream skipped).
pub fn track_events(seed: u64, profiles: u32, n: usize) -> Vec<SimMessage> {
    // Ask for more than needed: about a fifth of the stream is not `track`.
    let mut out: Vec<SimMessage> = bench_events(seed, profiles, (n as u64) * 3 / 2, START, SPAN)
        .filter(|m| m.kind == MessageType::Track)
        .take(n)
        .collect();
    out.truncate(n);
    assert_eq!(out.len(), n, "the simulator gave too few track events");
    out
}

/// The release `tidings` binary next to this benchmark's own binary.
pub fn tidings_binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.parent().map(|d| d.join("tidings")).filter(|p| p.exists());
    bin.ok_or_else(|| anyhow::anyhow!("build it first: cargo build --release -p tidings"))
}

/// The `q`-quantile of sorted durations.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
