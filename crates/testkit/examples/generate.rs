//! Prints simulated shop events as NDJSON on standard output and the
//! generation speed on standard error. It is a simulation: every person,
//! product and number is made up from the seed.
//!
//! ```text
//! cargo run --release -p tidings-testkit --example generate -- PROFILES EVENTS [SEED] > events.ndjson
//! ```

use std::io::Write;
use std::sync::mpsc;
use std::thread;
use std::time::Instant;

use tidings_testkit::{DAY, DEFAULT_START, SimMessage, bench_events, write_ndjson};

const BATCH: usize = 4096;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> u64 {
        match args.get(i) {
            None => default,
            Some(a) => a.replace('_', "").parse().unwrap_or_else(|_| {
                eprintln!("usage: generate [PROFILES] [EVENTS] [SEED]  (not a number: {a})");
                std::process::exit(2)
            }),
        }
    };
    let profiles = u32::try_from(arg(0, 10_000)).unwrap_or(u32::MAX);
    let events = arg(1, 100_000);
    let seed = arg(2, 7);

    // Timing the generator is the point of this example, so it reads the
    // wall clock; the simulation itself never does.
    let started = Instant::now();
    // One thread simulates, this one writes JSON: about twice the speed of
    // doing both in turn on one core.
    let (tx, rx) = mpsc::sync_channel::<Vec<SimMessage>>(16);
    let producer = thread::spawn(move || {
        let mut batch = Vec::with_capacity(BATCH);
        for msg in bench_events(seed, profiles, events, DEFAULT_START, 30 * DAY) {
            batch.push(msg);
            if batch.len() == BATCH && tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).is_err() {
                return;
            }
        }
        let _ = tx.send(batch);
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = write_ndjson(&mut out, rx.iter().flatten());
    drop(rx);
    let _ = producer.join();
    let written = match result {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return,
        Err(e) => {
            eprintln!("generate: cannot write: {e}");
            std::process::exit(1)
        }
    };
    let _ = out.flush();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "simulated {written} events of {profiles} profiles (seed {seed}) as NDJSON in {secs:.2} s: {:.0} events/s",
        written as f64 / secs
    );
}
