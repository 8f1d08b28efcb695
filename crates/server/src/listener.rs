//! Accepting connections so that no client can stall or starve the server.
//!
//! - A request head must arrive within `header_timeout` of a connection's
//!   first read (or of its last response): a client that opens connections
//!   and never finishes a head is dropped, and so is a keep-alive
//!   connection idle that long.
//! - Connections are counted, in all and per client address. A new one
//!   beyond either cap closes the longest-idle connection (of that client,
//!   for the per-client cap), so that a pile of idle sockets cannot keep a
//!   new request (a health check) out; when none is idle, the new one is
//!   closed at once.
//! - The cap in all stays below the number of files the process may open
//!   (raised to the hard limit at start), with a reserve for the store, so
//!   `accept` never fails for want of descriptors.
//!
//! Bodies have their own time limit (`crate::body`).

use crate::AppState;
use crate::limits::Limits;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

/// Descriptors kept for the store, logs and the engine's files.
const FILE_RESERVE: u64 = 128;

/// One open connection, as the accept loop sees it.
struct Slot {
    ip: IpAddr,
    /// Requests in progress on it.
    busy: Arc<AtomicU64>,
    /// When it last finished a response (or was accepted).
    idle_since: Arc<Mutex<Instant>>,
    close: Arc<Notify>,
    closing: Arc<AtomicBool>,
}

#[derive(Default)]
struct Table {
    slots: HashMap<u64, Slot>,
    per_ip: HashMap<IpAddr, usize>,
}

impl Table {
    /// Closes the longest-idle connection (of `ip`, when given); whether one was.
    fn evict(&mut self, ip: Option<IpAddr>) -> bool {
        let victim = self
            .slots
            .iter()
            .filter(|(_, s)| ip.is_none_or(|ip| s.ip == ip))
            .filter(|(_, s)| s.busy.load(Ordering::Relaxed) == 0 && !s.closing.load(Ordering::Relaxed))
            .min_by_key(|(_, s)| *s.idle_since.lock())
            .map(|(id, _)| *id);
        match victim.and_then(|id| self.slots.get(&id)) {
            Some(s) => {
                s.closing.store(true, Ordering::Relaxed);
                s.close.notify_one();
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: u64) {
        if let Some(s) = self.slots.remove(&id)
            && let Some(n) = self.per_ip.get_mut(&s.ip)
        {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&s.ip);
            }
        }
    }
}

/// The cap in all: the setting, or what the open-file limit allows.
fn connection_cap(limits: &Limits) -> usize {
    if limits.max_connections > 0 {
        return limits.max_connections;
    }
    let allowed = match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) => {
            // As many as the system lets this process have.
            let want = hard.min(1 << 20);
            if want > soft && rlimit::setrlimit(rlimit::Resource::NOFILE, want, hard).is_ok() { want } else { soft }
        }
        Err(_) => 1024,
    };
    allowed.saturating_sub(FILE_RESERVE).clamp(16, 100_000) as usize
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight (for at most 10 s).
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = app.limits.clone();
    let cap = connection_cap(&limits);
    let router = crate::router(app);
    let table = Arc::new(Mutex::new(Table::default()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut next_id = 0u64;
    tokio::pin!(shutdown);
    tracing::debug!(connections = cap, per_client = limits.max_connections_per_client, "accepting");
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors despite the cap (files opened elsewhere): make room and wait.
                    tracing::warn!(error = %e, "accept failed");
                    table.lock().evict(None);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let ip = remote.ip();
        {
            let mut t = table.lock();
            let mine = t.per_ip.get(&ip).copied().unwrap_or(0);
            let full = t.slots.len() >= cap;
            let over = mine >= limits.max_connections_per_client;
            let room = (!over || t.evict(Some(ip))) && (!full || t.evict(None));
            if !room {
                // Everything is busy: this one waits for nobody.
                drop(stream);
                continue;
            }
            next_id += 1;
            let slot = Slot {
                ip,
                busy: Arc::default(),
                idle_since: Arc::new(Mutex::new(Instant::now())),
                close: Arc::new(Notify::new()),
                closing: Arc::default(),
            };
            *t.per_ip.entry(ip).or_default() += 1;
            t.slots.insert(next_id, slot);
        }
        let id = next_id;
        let (busy, idle_since, close) = {
            let t = table.lock();
            let s = &t.slots[&id];
            (s.busy.clone(), s.idle_since.clone(), s.close.clone())
        };
        let router = router.clone();
        let table = table.clone();
        let mut stop = stop_rx.clone();
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let router = router.clone();
                let (busy, idle_since) = (busy.clone(), idle_since.clone());
                busy.fetch_add(1, Ordering::Relaxed);
                async move {
                    let mut request = request.map(axum::body::Body::new);
                    request.extensions_mut().insert(ConnectInfo(remote));
                    let response = router.oneshot(request).await;
                    busy.fetch_sub(1, Ordering::Relaxed);
                    *idle_since.lock() = Instant::now();
                    response
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let graceful = tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended");
                    }
                    false
                }
                () = close.notified() => true,
                _ = stop.changed() => true,
            };
            if graceful {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
            }
            table.lock().remove(id);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // The requests in flight finish (each connection closes once idle).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !table.lock().slots.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}
