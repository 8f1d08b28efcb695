//! The `tidings` binary with the services its users run it with: PostgreSQL,
//! a real SMTP server (python3 with aiosmtpd), Chromium. `harness = false`:
//! a test whose service is missing is reported ignored, with the reason, or
//! fails under CI=true (see `tidings_testkit::services`).

mod cluster;
mod crash;
mod dashboard;
mod demo_postgres;
mod journey_crash;
mod serve_playbook;

#[path = "../common/mod.rs"]
mod common;
pub use common::*;

use tidings_testkit::services::{Harness, Need, postgres_url};

fn main() -> std::process::ExitCode {
    let mut tests = Harness::from_args();
    tests.add(
        "cluster::three_nodes_keep_segments_exact_through_kills_a_join_and_a_pause",
        Need::All(&[Need::Postgres, Need::Python(journey_crash::PYTHON_MODULES)]),
        cluster::three_nodes_keep_segments_exact_through_kills_a_join_and_a_pause,
    );
    tests.add(
        "crash::acknowledged_events_survive_kill_9_exactly_once_on_sqlite",
        Need::Nothing,
        crash::acknowledged_events_survive_kill_9_exactly_once_on_sqlite,
    );
    tests.add(
        "crash::acknowledged_events_survive_kill_9_exactly_once_on_postgres",
        Need::Postgres,
        crash::acknowledged_events_survive_kill_9_exactly_once_on_postgres,
    );
    tests.add(
        "serve_playbook::the_starter_playbook_serves_on_sqlite",
        Need::Nothing,
        serve_playbook::the_starter_playbook_serves_on_sqlite,
    );
    tests.add(
        "serve_playbook::the_starter_playbook_serves_on_postgres",
        Need::Postgres,
        serve_playbook::the_starter_playbook_serves_on_postgres,
    );
    tests.add(
        "demo_postgres::the_demo_reports_the_same_on_postgres_as_on_sqlite",
        Need::Postgres,
        demo_postgres::the_demo_reports_the_same_on_postgres_as_on_sqlite,
    );
    tests.add(
        "dashboard::a_browser_draws_every_chart_from_the_admin_api",
        Need::Chromium,
        dashboard::a_browser_draws_every_chart_from_the_admin_api,
    );
    tests.add(
        "journey_crash::a_journey_killed_five_times_sends_each_message_once_but_the_in_flight_one",
        Need::Python(journey_crash::PYTHON_MODULES),
        journey_crash::a_journey_killed_five_times_sends_each_message_once_but_the_in_flight_one,
    );
    tests.add(
        "journey_crash::on_postgres_a_journey_killed_five_times_sends_each_message_once_but_the_in_flight_one",
        Need::All(&[Need::Postgres, Need::Python(journey_crash::PYTHON_MODULES)]),
        journey_crash::on_postgres_a_journey_killed_five_times_sends_each_message_once_but_the_in_flight_one,
    );
    tests.run()
}

/// Drops a PostgreSQL schema (test cleanup).
pub fn drop_schema(schema: &str) {
    if let Ok(mut c) = postgres::Client::connect(&postgres_url(), postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}
