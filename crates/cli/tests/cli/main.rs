//! The `tidings` binary as a user runs it.

mod crash;
mod dashboard;
mod definitions;
mod demo;
mod import;
mod journey_crash;
mod live;
mod predictions;
mod segments;
mod serve;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tidings");
pub const WRITE_KEY: &str = "test-write-key";
pub const ADMIN_KEY: &str = "test-admin-key";

pub fn tidings(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).env("NO_COLOR", "1").output().expect("run tidings")
}

/// A child process killed when dropped, so that a failing test leaves no server behind.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free local port.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// `tidings serve` on `dir` with the test keys, once `/healthz` answers.
pub fn serve(dir: &Path, addr: SocketAddr) -> Child {
    serve_with(dir, addr, &[])
}

/// The PostgreSQL the tests use: `TIDINGS_TEST_POSTGRES` or the local server.
pub fn postgres_url() -> String {
    std::env::var("TIDINGS_TEST_POSTGRES").unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=postgres".into())
}

/// Whether PostgreSQL answers; under CI=true its absence fails the test.
pub fn postgres_available(test: &str) -> bool {
    match postgres::Client::connect(&postgres_url(), postgres::NoTls) {
        Ok(_) => true,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("PostgreSQL is required in CI: {e}"),
        Err(e) => {
            eprintln!("{test}: skipped, PostgreSQL not available ({e})");
            false
        }
    }
}

/// Drops a PostgreSQL schema (test cleanup).
pub fn drop_schema(schema: &str) {
    if let Ok(mut c) = postgres::Client::connect(&postgres_url(), postgres::NoTls) {
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}

/// `tidings serve` with extra environment variables.
pub fn serve_with(dir: &Path, addr: SocketAddr, env: &[(&str, &str)]) -> Child {
    let mut child = Command::new(BIN)
        .args(["serve", "--data", dir.to_str().unwrap(), "--listen", &addr.to_string()])
        .envs(env.iter().copied())
        .env("TIDINGS_WORKSPACE__WRITE_KEY", WRITE_KEY)
        .env("TIDINGS_WORKSPACE__ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tidings serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = tidings_testkit::http::Client::new(addr);
    loop {
        if c.get("/healthz", None).is_ok_and(|r| r.status == 200) {
            return child;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("tidings serve exited with {status}");
        }
        assert!(Instant::now() < deadline, "tidings serve did not answer /healthz within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}
