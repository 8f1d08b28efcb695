//! The storage conformance suite on PostgreSQL. Each case runs in a schema of
//! its own. Set TIDINGS_TEST_POSTGRES to point elsewhere; without a server the
//! cases are reported ignored, with the reason, except under CI (CI=true),
//! where they fail. `harness = false`: see `tidings_testkit::services`.

use std::sync::atomic::{AtomicU32, Ordering};
use tidings_store::Store;
use tidings_store_postgres::PostgresStore;
use tidings_testkit::services::{self, Harness, Need};

static N: AtomicU32 = AtomicU32::new(0);

fn fresh() -> Box<dyn Store> {
    let url = services::postgres_url();
    let schema = format!("conf_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
    match PostgresStore::temporary(&url, &schema) {
        Ok(s) => Box::new(s),
        Err(e) => panic!("PostgreSQL is required: {e}"),
    }
}

fn main() -> std::process::ExitCode {
    let mut tests = Harness::from_args();
    for &(name, case) in tidings_store::conformance::CASES {
        tests.add(name, Need::Postgres, move || case(&*fresh()));
    }
    tests.run()
}
