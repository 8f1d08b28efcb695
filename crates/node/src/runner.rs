//! The journey runner's thread under the wall clock: a round, then a short
//! sleep when there was nothing to do (new log entries are picked up within
//! it). Under a simulated clock there is no thread; the driver calls
//! [`crate::Node::step`].

use crate::Tenant;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tidings_model::Clock;

/// Sleep between rounds when the last one found nothing to do.
const IDLE: Duration = Duration::from_millis(100);

pub(crate) fn spawn(
    tenant: Arc<Tenant>,
    clock: Arc<dyn Clock>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name(format!("journeys-{}", tenant.workspace.0)).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let round = {
                let mut runner = tenant.runner.lock();
                let Some(automation) = runner.as_mut() else { return };
                automation.step(clock.now())
            };
            let busy = match round {
                Ok(r) => {
                    if r.enqueued + r.sent.len() + r.skipped + r.failed > 0 {
                        tracing::info!(
                            workspace = tenant.workspace.0,
                            entered = r.entered,
                            enqueued = r.enqueued,
                            sent = r.sent.len(),
                            skipped = r.skipped,
                            deferred = r.deferred,
                            failed = r.failed,
                            "automation round"
                        );
                    }
                    r.events > 0 || r.timers > 0 || !r.sent.is_empty()
                }
                Err(e) => {
                    tracing::error!(workspace = tenant.workspace.0, error = %e, "automation round failed; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                    false
                }
            };
            if !busy {
                std::thread::sleep(IDLE);
            }
        }
    })
}
