//! The storage conformance suite on PostgreSQL. Each case runs in a schema of
//! its own. Set TIDINGS_TEST_POSTGRES to point elsewhere; without a server the
//! cases say they were skipped, except under CI (CI=true), where they fail.

use std::sync::atomic::{AtomicU32, Ordering};
use tidings_store::Store;
use tidings_store_postgres::PostgresStore;

static N: AtomicU32 = AtomicU32::new(0);

fn fresh() -> Option<Box<dyn Store>> {
    let url = std::env::var("TIDINGS_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=postgres".into());
    let schema = format!("conf_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    match PostgresStore::temporary(&url, &schema) {
        Ok(s) => Some(Box::new(s)),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("PostgreSQL is required in CI: {e}"),
        Err(e) => {
            eprintln!("PostgreSQL not available ({e})");
            None
        }
    }
}

tidings_store::conformance_tests!(fresh());
