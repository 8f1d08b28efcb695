//! The ingest queue: request handlers (and the node's own writers: the
//! runner, the tracking links, the scheduled predictions) hand validated
//! messages to one writer thread, which appends everything that is waiting
//! in one transaction and then answers every request in it (group commit).
//! One fsync covers many requests, so durability does not cost throughput.
//! After each commit the writer tells its observers (the live engines), so
//! they see every stored message once, in log order.

use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::Arc;
use std::time::Instant;
use tidings_model::{Message, WorkspaceId};
use tidings_store::{AppendBatch, AppendResult, Outcome, Store, StoreError};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// At most this many messages go into one transaction.
const GROUP_MAX_MESSAGES: usize = 20_000;
/// Requests waiting for the writer beyond this make new requests wait.
const QUEUE_DEPTH: usize = 1024;

/// Told about every committed append, after it is durable (the engine listens here).
pub trait AppendObserver: Send + Sync + 'static {
    fn appended(&self, batches: &[AppendBatch], result: &AppendResult);
}

/// Why an append was not stored. Nothing of the request is stored then.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IngestError {
    /// The store refused or failed the transaction.
    #[error("the event log could not store the messages: {0}")]
    Store(String),
    /// The data folder is locked by another process.
    #[error("{0}")]
    Locked(String),
    /// The writer thread is gone (the node is shutting down).
    #[error("the ingest writer has stopped")]
    Stopped,
}

impl From<IngestError> for tidings_automation::EmitError {
    fn from(e: IngestError) -> tidings_automation::EmitError {
        match e {
            IngestError::Stopped => tidings_automation::EmitError::Stopped,
            IngestError::Store(m) | IngestError::Locked(m) => {
                tidings_automation::EmitError::Store(StoreError::Database(m))
            }
        }
    }
}

struct Request {
    batch: AppendBatch,
    reply: oneshot::Sender<Result<Vec<Outcome>, IngestError>>,
}

#[derive(Clone)]
pub struct IngestQueue {
    tx: Sender<Request>,
}

impl IngestQueue {
    /// Starts the writer thread; it runs until every handle is dropped.
    pub fn start(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        observers: Vec<Arc<dyn AppendObserver>>,
    ) -> std::io::Result<IngestQueue> {
        let (tx, rx) = bounded(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("ingest-writer".into())
            .spawn(move || writer(rx, store, metrics, observers))?;
        Ok(IngestQueue { tx })
    }

    /// Appends and waits until durable.
    pub async fn append(&self, workspace: WorkspaceId, messages: Vec<Message>) -> Result<Vec<Outcome>, IngestError> {
        let (reply, rx) = oneshot::channel();
        let req = Request { batch: AppendBatch { workspace, messages }, reply };
        // The bounded queue pushes back on clients when the disk cannot keep up.
        let tx = self.tx.clone();
        let sent = match tx.try_send(req) {
            Ok(()) => Ok(()),
            Err(crossbeam_channel::TrySendError::Full(req)) => {
                tokio::task::spawn_blocking(move || tx.send(req).map_err(|_| ())).await.unwrap_or(Err(()))
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => Err(()),
        };
        if sent.is_err() {
            return Err(IngestError::Stopped);
        }
        rx.await.unwrap_or(Err(IngestError::Stopped))
    }

    /// [`IngestQueue::append`] for threads outside the async runtime.
    pub fn append_blocking(&self, workspace: WorkspaceId, messages: Vec<Message>) -> Result<Vec<Outcome>, IngestError> {
        let (reply, rx) = oneshot::channel();
        let req = Request { batch: AppendBatch { workspace, messages }, reply };
        self.tx.send(req).map_err(|_| IngestError::Stopped)?;
        rx.blocking_recv().unwrap_or(Err(IngestError::Stopped))
    }
}

/// The runner's events go through the ingest writer, like everyone's, so
/// that the segment engine sees them.
impl tidings_automation::Emitter for IngestQueue {
    fn emit(&self, workspace: WorkspaceId, messages: Vec<Message>) -> Result<(), tidings_automation::EmitError> {
        self.append_blocking(workspace, messages).map(|_| ()).map_err(Into::into)
    }
}

fn writer(
    rx: Receiver<Request>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    observers: Vec<Arc<dyn AppendObserver>>,
) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        let mut size = group[0].batch.messages.len();
        while size < GROUP_MAX_MESSAGES {
            match rx.try_recv() {
                Ok(r) => {
                    size += r.batch.messages.len();
                    group.push(r);
                }
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<_>, Vec<_>) = group.into_iter().map(|r| (r.batch, r.reply)).unzip();
        let started = Instant::now();
        let result = store.append(&batches);
        metrics.observe_commit(started.elapsed(), size);
        match result {
            Ok(result) => {
                for o in &observers {
                    o.appended(&batches, &result);
                }
                for (reply, outcomes) in replies.into_iter().zip(result.outcomes) {
                    let _ = reply.send(Ok(outcomes));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, messages = size, "append failed; nothing in this group was stored");
                let err = match e {
                    StoreError::Locked(m) => IngestError::Locked(m),
                    other => IngestError::Store(other.to_string()),
                };
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }
}
