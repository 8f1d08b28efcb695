//! `tidings import`: Segment messages from NDJSON files (plain or gzip),
//! with the same validation and idempotency as the HTTP API.
//!
//! One thread reads and validates, the calling thread appends; they overlap,
//! so the store's write speed is the limit. A line without a `messageId`
//! gets one derived from its text, so importing a file twice stores it once.

use crate::config::Config;
use crate::open::{ensure_workspace, open_store};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;
use tidings_model::message::{Envelope, parse_message};
use tidings_model::{Clock, Message, WallClock};
use tidings_store::{AppendBatch, Outcome};
use tidings_store_sqlite::Mode;

/// Messages per append (one transaction).
const CHUNK: usize = 10_000;
/// Bad lines printed in full; the rest are counted.
const MAX_REPORTED: u64 = 100;

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The data folder (created when missing).
    #[arg(long, default_value = "./tidings-data")]
    pub data: PathBuf,
    /// The workspace to import into [default: the configured default workspace].
    #[arg(long)]
    pub workspace: Option<String>,
    /// NDJSON files of Segment messages (one JSON object per line), plain or .gz.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub lines: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
}

struct Chunk {
    messages: Vec<Message>,
    lines: u64,
}

struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

fn open_lines(path: &Path, read: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic)?;
    drop(file);
    let file = Counting { inner: File::open(path)?, read };
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok(Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(file))))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}

/// The message id of a line that has none: stable, so re-imports deduplicate.
fn derived_id(line: &str) -> String {
    let digest = Sha256::digest(line.as_bytes());
    format!("imp-{}", hex::encode(&digest[..16]))
}

pub fn run(args: ImportArgs) -> Result<()> {
    for f in &args.files {
        if !f.is_file() {
            bail!("{} is not a file; give NDJSON files (plain or .gz)", f.display());
        }
    }
    crate::config::write_example(&args.data)?;
    let config = Config::load(&args.data)?;
    let store = open_store(&args.data, &config, Mode::ReadWrite)?;
    let clock = WallClock;
    let ws = match &args.workspace {
        Some(name) => crate::open::workspace(store.as_ref(), name)?,
        None => {
            let (ws, new_keys) = ensure_workspace(store.as_ref(), &config, &clock)?;
            if let Some(k) = new_keys {
                eprintln!("Created workspace {:?}; its keys are shown this once:", config.workspace_name());
                eprintln!("  write key: {}\n  admin key: {}", k.write, k.admin);
            }
            ws
        }
    };
    let total: u64 = args.files.iter().map(|f| f.metadata().map(|m| m.len()).unwrap_or(0)).sum();
    let bar = if args.quiet { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} importing [{bar:30}] {bytes}/{total_bytes} {msg} ({eta} left)")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let read = Arc::new(AtomicU64::new(0));
    let (tx, rx) = crossbeam_channel::bounded::<Chunk>(4);
    let files = args.files.clone();
    let now = clock.now();
    let reader_bar = bar.clone();
    let reader_read = read.clone();
    let reader = std::thread::Builder::new().name("import-reader".into()).spawn(move || -> Result<u64> {
        let env = Envelope { received_at: now, sent_at: None, default_type: None };
        let mut rejected = 0u64;
        for path in &files {
            let mut lines = open_lines(path, reader_read.clone())?;
            let mut buf = String::new();
            let mut line_no = 0u64;
            let mut chunk = Chunk { messages: Vec::with_capacity(CHUNK), lines: 0 };
            loop {
                buf.clear();
                let n = lines.read_line(&mut buf).with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                chunk.lines += 1;
                let text = buf.trim_end_matches(['\n', '\r']);
                if text.trim().is_empty() {
                    continue;
                }
                let mut new_id = || derived_id(text);
                match parse_message(text, &env, &mut new_id) {
                    Ok(m) => chunk.messages.push(m),
                    Err(e) => {
                        rejected += 1;
                        if rejected <= MAX_REPORTED {
                            reader_bar
                                .suspend(|| eprintln!("{}:{line_no}: {} ({}); skipped", path.display(), e, e.code()));
                        }
                    }
                }
                if chunk.messages.len() >= CHUNK {
                    let full = std::mem::replace(&mut chunk, Chunk { messages: Vec::with_capacity(CHUNK), lines: 0 });
                    if tx.send(full).is_err() {
                        return Ok(rejected);
                    }
                }
            }
            if chunk.lines > 0 && tx.send(chunk).is_err() {
                return Ok(rejected);
            }
        }
        Ok(rejected)
    })?;
    let mut sum = Summary::default();
    for chunk in rx {
        sum.lines += chunk.lines;
        if !chunk.messages.is_empty() {
            let result = store.append(&[AppendBatch { workspace: ws, messages: chunk.messages }])?;
            for o in result.outcomes.iter().flatten() {
                match o {
                    Outcome::Stored { .. } => sum.stored += 1,
                    Outcome::Duplicate => sum.duplicates += 1,
                }
            }
        }
        bar.set_position(read.load(Relaxed));
        let rate = sum.lines as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("{} lines, {:.0}/s", sum.lines, rate));
    }
    sum.rejected = reader.join().map_err(|_| anyhow::anyhow!("the import reader thread panicked"))??;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    if sum.rejected > MAX_REPORTED {
        eprintln!("... and {} more bad lines (only the first {MAX_REPORTED} are shown)", sum.rejected - MAX_REPORTED);
    }
    println!(
        "imported {} lines in {:.1}s ({:.0} lines/s): {} stored, {} duplicates, {} rejected",
        sum.lines,
        secs,
        sum.lines as f64 / secs.max(1e-9),
        sum.stored,
        sum.duplicates,
        sum.rejected
    );
    Ok(())
}
